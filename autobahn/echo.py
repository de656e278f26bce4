"""The echo peer shared by both testees: a minimal asyncio.Protocol over the sans-IO core.

It deliberately avoids ``wsproto6455.asyncio`` so that the Autobahn verdicts
measure the core alone. Everything protocol-related is the core's decision;
this module only moves bytes, echoes complete messages, answers pings and
completes the closing handshake, as the core's contract asks of an embedder.
"""

from __future__ import annotations

import asyncio
from typing import Optional, Union

import wsproto6455
from wsproto6455 import ConnectionState, ConnectionType, WSConnection
from wsproto6455.errors import RemoteProtocolError
from wsproto6455.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto6455.extensions import PerMessageDeflate

#: The name the reports show: the ``Server`` header and the ``agent`` parameter.
AGENT = f"wsproto6455/{wsproto6455.__version__}"

#: Cases 9.1.6 and 9.2.6 send 16 MiB messages; leave headroom above that.
MAX_MESSAGE_SIZE = 32 << 20

#: A client waits this long for the server to drop TCP after the close
#: handshake (RFC 6455 §7.1.1: the server closes first) before it does.
CLIENT_CLOSE_GRACE = 5.0


def new_connection(role: ConnectionType) -> WSConnection:
    """A core connection with limits that let every Autobahn case through."""
    return WSConnection(role, max_message_size=MAX_MESSAGE_SIZE, whole_messages=True)


class EchoProtocol(asyncio.Protocol):
    """Echoes every complete message back; answers pings; completes the close.

    Server role: accepts the opening handshake (permessage-deflate when
    offered). Client role: sends ``request`` as soon as TCP is up.
    """

    def __init__(self, role: ConnectionType, request: Optional[Request] = None) -> None:
        self.ws = new_connection(role)
        self.role = role
        self.request = request
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Optional[asyncio.Transport] = None
        self.error: Optional[BaseException] = None
        self._pieces: list[Union[str, bytes]] = []

    # -- hooks -----------------------------------------------------------

    def on_message(self, data: Union[str, bytes]) -> bytes:
        """A complete message arrived: the bytes to answer with (its echo)."""
        reply = TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
        return self.ws.send(reply)

    def accept(self, request: Request) -> Event:
        """Server: the answer to an opening handshake."""
        # The core enables the extension only if the client offered it.
        return AcceptConnection(
            extensions=[PerMessageDeflate()],
            extra_headers=[(b"server", AGENT.encode())],
        )

    # -- asyncio.Protocol ------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.request is not None:
            transport.write(self.ws.send(self.request))

    def data_received(self, data: bytes) -> None:
        self._feed(data)

    def eof_received(self) -> Optional[bool]:
        self._feed(None)
        return False  # let asyncio close the transport

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if not self.done.done():
            self.done.set_result(None)

    # Back-pressure: stop reading while the peer is not reading our echoes,
    # so a fast sender cannot grow our write buffer without bound.
    def pause_writing(self) -> None:
        assert self.transport is not None
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        assert self.transport is not None
        self.transport.resume_reading()

    # -- the core --------------------------------------------------------

    def _feed(self, data: Optional[bytes]) -> None:
        assert self.transport is not None
        if self.ws.state is ConnectionState.CLOSED:
            return  # nothing after the close handshake is interpreted
        out: list[bytes] = []
        try:
            self.ws.receive_data(data)
            for event in self.ws.events():
                out.append(self._handle(event))
        except RemoteProtocolError as exc:  # a broken opening handshake
            self.error = exc
            self.transport.abort()
            return
        if out:
            self.transport.write(b"".join(out))
        if self.ws.state in (ConnectionState.CLOSED, ConnectionState.REJECTING):
            self._finish()

    def _handle(self, event: Event) -> bytes:
        if isinstance(event, Message):
            # whole_messages=True gives one piece per message; joining pieces
            # keeps the echo right with per-frame delivery too.
            self._pieces.append(event.data)
            if not event.message_finished:
                return b""
            pieces, self._pieces = self._pieces, []
            data = pieces[0] if len(pieces) == 1 else pieces[0][:0].join(pieces)  # type: ignore[arg-type]
            return self.on_message(data)
        if isinstance(event, Ping):
            return self.ws.send(event.response())
        if isinstance(event, CloseConnection):
            # REMOTE_CLOSING: the peer's close frame or its protocol violation
            # (code 1002/1007/1009): answering completes or fails the connection.
            if self.ws.state is ConnectionState.REMOTE_CLOSING:
                return self.ws.send(event.response())
            return b""
        if isinstance(event, Request):
            return self.ws.send(self.accept(event))
        if isinstance(event, RejectConnection):
            self.error = ConnectionError(f"handshake rejected: {event.status_code}")
        return b""  # AcceptConnection, Pong, RejectData: nothing to answer

    def _finish(self) -> None:
        assert self.transport is not None
        if self.role is ConnectionType.SERVER or self.ws.state is ConnectionState.REJECTING:
            self.transport.close()  # flushes our close frame, then FIN
        else:
            # Leave the drop to the server; abort if it never comes.
            loop = asyncio.get_running_loop()
            loop.call_later(CLIENT_CLOSE_GRACE, self.transport.abort)
