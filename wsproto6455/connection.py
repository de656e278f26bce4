"""The post-handshake WebSocket connection, usable on its own.

Servers that did the HTTP upgrade themselves, and WebSocket over HTTP/2
(RFC 8441), create a :class:`Connection` directly; :class:`WSConnection`
creates one when its opening handshake completes.

What the sans-IO layer cannot do is the embedder's job: answer pings (send
``Ping.response()``), answer a close (send ``CloseConnection.response()``),
close the TCP connection once the closing handshake is done (the server
first, RFC 6455 §7.1.1), and time out a peer that never closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional, Sequence

from ._keywords import keyword_options
from .backend import ReadShortcut, Scanner
from .errors import LocalProtocolError, ProtocolFault
from .events import BytesMessage, CloseConnection, Event, Message, Ping, Pong, TextMessage
from .extensions.base import Extension
from .frames import CloseReason, Opcode, close_payload
from .options import flag_option, size_option
from .reader import Reader
from .state import ConnectionState, ConnectionType, Trigger, advance
from .writer import Writer

if TYPE_CHECKING:
    from ._speedups import ReadShortcut as _ReadingBase
else:
    # Compiled backend: a base class whose C receive_data and events answer
    # for what the scanner takes alone (see _speedups.ReadShortcut).
    _ReadingBase = object if ReadShortcut is None else ReadShortcut

#: Default bound on a received message (after decompression), in bytes.
DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024

_OPEN = ConnectionState.OPEN
_CLOSED = ConnectionState.CLOSED


def _own_copy(data: object) -> bytes:
    """Received data that is not ``bytes``, copied now: the reader keeps it
    until ``events()``, and the caller may reuse its buffer (a bytearray, a
    memoryview of a read buffer) as soon as ``receive_data`` returns, as
    wsproto, which copies, allows. ``bytes(5)`` would be five NUL bytes:
    anything without the buffer protocol is a TypeError."""
    try:
        return memoryview(data).tobytes()  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"receive_data takes bytes-like data or None, not {type(data).__name__!r}") from None


class Connection(_ReadingBase):
    """A WebSocket connection after the opening handshake.

    :param connection_type: our role.
    :param extensions: the negotiated, enabled extensions.
    :param trailing_data: bytes received after the handshake, not yet processed.
    :param max_message_size: bound on a received message in bytes, after
        decompression (None: unbounded). Over it the peer gets 1009.
    :param max_frame_size: bound on a received frame's payload (None: only the
        message bound applies).
    :param fragment_size: cut outgoing messages into frames of at most this
        many payload bytes (None: one frame per ``send``).
    :param whole_messages: deliver each message as one event instead of
        piece by piece as its bytes arrive (wsproto's behaviour, the default).
    """

    @keyword_options("Connection()")
    def __init__(
        self,
        connection_type: ConnectionType,
        extensions: Optional[Sequence[Extension]] = None,
        trailing_data: bytes = b"",
        *,
        max_message_size: Optional[int] = DEFAULT_MAX_MESSAGE_SIZE,
        max_frame_size: Optional[int] = None,
        fragment_size: Optional[int] = None,
        whole_messages: bool = False,
    ) -> None:
        # Checked here, in Python, the same for both backends (see options.py).
        max_message_size = size_option("max_message_size", max_message_size, 0)
        max_frame_size = size_option("max_frame_size", max_frame_size, 0)
        fragment_size = size_option("fragment_size", fragment_size, 1)
        whole_messages = flag_option("whole_messages", whole_messages)
        self.role = connection_type
        self.client = connection_type is ConnectionType.CLIENT
        self.extensions = list(extensions or [])
        self._state = _OPEN
        self._eof = False
        self._reader = Reader(self.client, self.extensions, max_message_size,
                              max_frame_size, whole_messages)
        self._writer = Writer(self.client, self.extensions, fragment_size)
        if (ReadShortcut is not None and type(self._reader.scanner) is Scanner
                and not self._overrides_reading()):
            # Compiled backend: receive_data and events answer in C for what
            # the scanner takes alone, and call the methods below for the rest.
            self._use_shortcut(self._reader.scanner, self._reader, _OPEN)
        if trailing_data:
            self.receive_data(trailing_data)  # copied if not bytes, as any received data

    def _overrides_reading(self) -> bool:
        """A subclass's own receive_data or events must not be bypassed."""
        cls = type(self)
        return cls.receive_data is not Connection.receive_data or cls.events is not Connection.events

    @property
    def state(self) -> ConnectionState:
        return self._state

    def send(self, event: Event, *, compress: Optional[bool] = None) -> bytes:
        """The bytes for ``event``; LocalProtocolError if the state forbids it.

        ``compress`` overrides the compression extension's choice for one
        message (False: send it uncompressed).
        """
        cls = type(event)
        if (cls is TextMessage or cls is BytesMessage) and self._state is _OPEN:
            # The per-message path, ahead of the general checks below.
            return self._writer.data(event.data, event.message_finished, compress)  # type: ignore[attr-defined]
        if isinstance(event, Message):
            if self._state is not _OPEN:
                raise LocalProtocolError(f"cannot send a message in state {self._state.name}")
            return self._writer.data(event.data, event.message_finished, compress)
        if isinstance(event, Ping) or isinstance(event, Pong):
            if self._state is not _OPEN:
                raise LocalProtocolError(f"cannot send {type(event).__name__} in state {self._state.name}")
            opcode = Opcode.PING if isinstance(event, Ping) else Opcode.PONG
            return self._writer.control(opcode, event.payload)
        if isinstance(event, CloseConnection):
            payload = close_payload(event.code, event.reason)
            self._state = advance(self.role, self._state, Trigger.SEND_CLOSE)
            return self._writer.control(Opcode.CLOSE, payload)
        raise LocalProtocolError(f"cannot send {type(event).__name__} in state {self._state.name}")

    def receive_data(self, data: Optional[bytes]) -> None:
        """Feed bytes from the peer; None when the stream has ended."""
        if data is None:
            # RFC 6455 §7.1.5: 1006 when no close frame came (nor a violation,
            # which is reported as a close of its own).
            if self._state is _OPEN or self._state is ConnectionState.LOCAL_CLOSING:
                self._eof = True
            if ReadShortcut is not None:
                self._shortcut_open = False  # the 1006 close is the general path's
            self._state = advance(self.role, self._state, Trigger.RECV_EOF)
        elif self._state is _OPEN or self._state is ConnectionState.LOCAL_CLOSING:
            if type(data) is not bytes:
                data = _own_copy(data)
            self._reader.feed(data)
        elif self._state is _CLOSED:
            raise LocalProtocolError("connection already closed")
        # REMOTE_CLOSING: the peer's close came; nothing after it is interpreted.

    def events(self) -> Iterator[Event]:
        """The events for the bytes received so far."""
        if not self._eof:
            # Data messages only (no state to change): the reader's fast route.
            batch = self._reader.batch()
            if batch is not None:
                return batch
        return self._events()

    # The general methods, under these names too: the compiled base class
    # calls them for what its own receive_data and events leave.
    _general_receive_data = receive_data
    _general_events = events
    if ReadShortcut is not None and not TYPE_CHECKING:
        del receive_data, events  # the base class's C methods answer first

    def _events(self) -> Iterator[Event]:
        try:
            for event in self._reader.events():
                if type(event) is CloseConnection:
                    self._eof = False
                    if self._state is not _CLOSED:
                        self._state = advance(self.role, self._state, Trigger.RECV_CLOSE)
                yield event
        except ProtocolFault as fault:
            if self._state is not _CLOSED:
                self._state = advance(self.role, self._state, Trigger.RECV_FAULT)
            self._eof = False
            yield CloseConnection(fault.code, fault.reason)
        if self._eof:
            # RFC 6455 §7.1.5: no close frame was received; the code is 1006.
            self._eof = False
            self._reader.finish()
            yield CloseConnection(CloseReason.ABNORMAL_CLOSURE)
