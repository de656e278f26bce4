"""The public connection object: the opening handshake, then a :class:`Connection`."""

from __future__ import annotations

from typing import Iterator, Optional, Union

from ._keywords import keyword_options
from .connection import DEFAULT_MAX_MESSAGE_SIZE, Connection
from .events import Event
from .handshake import DEFAULT_MAX_HEADER_SIZE, Handshake
from .state import ConnectionState, ConnectionType
from .typing import Headers


class WSConnection:
    """The local end of a WebSocket connection, from the opening handshake on.

    Options (keyword only, all optional): ``max_message_size`` (default
    1 MiB, None for unbounded), ``max_frame_size``, ``max_header_size``
    (default 16 KiB), ``fragment_size``, ``whole_messages``: see
    :class:`~wsproto6455.connection.Connection`. An unknown option raises
    :class:`TypeError` with a hint (e.g. websockets' ``max_size``).
    """

    @keyword_options("WSConnection()")
    def __init__(
        self,
        connection_type: ConnectionType,
        *,
        max_message_size: Optional[int] = DEFAULT_MAX_MESSAGE_SIZE,
        max_frame_size: Optional[int] = None,
        max_header_size: Optional[int] = DEFAULT_MAX_HEADER_SIZE,
        fragment_size: Optional[int] = None,
        whole_messages: bool = False,
    ) -> None:
        self.client = connection_type is ConnectionType.CLIENT
        self.handshake = Handshake(
            connection_type,
            max_message_size=max_message_size,
            max_frame_size=max_frame_size,
            max_header_size=max_header_size,
            fragment_size=fragment_size,
            whole_messages=whole_messages,
        )
        self.connection: Optional[Connection] = None
        # The connection once the handshake's events are all taken: from
        # then on events() is the connection's.
        self._open: Optional[Connection] = None

    @property
    def state(self) -> ConnectionState:
        if self.connection is None:
            return self.handshake.state
        return self.connection.state

    def initiate_upgrade_connection(self, headers: Headers, path: Union[bytes, str]) -> None:
        """Server: take a request that another HTTP layer parsed; a Request event follows."""
        self.handshake.initiate_upgrade_connection(headers, path)

    def send(self, event: Event, *, compress: Optional[bool] = None) -> bytes:
        """The bytes to send for ``event``."""
        if self.connection is not None:
            return self.connection.send(event, compress=compress)
        data = self.handshake.send(event)
        self.connection = self.handshake.connection
        if self.connection is not None and not self.handshake.has_events:
            self._go_direct(self.connection)
        return data

    def receive_data(self, data: Optional[bytes]) -> None:
        """Feed bytes received from the peer; None when the stream has ended."""
        if self.connection is not None:
            self.connection.receive_data(data)
            return
        self.handshake.receive_data(data)
        self.connection = self.handshake.connection

    def events(self) -> Iterator[Event]:
        """The events that the received bytes make, in order."""
        connection = self._open
        if connection is not None:
            return connection.events()
        connection = self.connection
        if connection is not None and not self.handshake.has_events:
            # After the handshake: the connection's own iterator, saving a
            # generator hop per event.
            self._go_direct(connection)
            return connection.events()
        return self._handshake_then_connection_events()

    def _go_direct(self, connection: Connection) -> None:
        """The handshake is over and its events are taken: from now on the
        connection's own ``receive_data`` and ``events`` answer, a call
        fewer for each read (unless a subclass has its own)."""
        self._open = connection
        cls = type(self)
        if cls.receive_data is WSConnection.receive_data and cls.events is WSConnection.events:
            self.receive_data = connection.receive_data  # type: ignore[method-assign]
            self.events = connection.events  # type: ignore[method-assign]

    def _handshake_then_connection_events(self) -> Iterator[Event]:
        yield from self.handshake.events()
        if self.connection is not None:
            yield from self.connection.events()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} client={self.client} state={self.state.name}>"
