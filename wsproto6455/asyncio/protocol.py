"""The connection object: an asyncio protocol driving the sans-IO core.

Data path, kept lean on purpose: the transport reads into a shared buffer,
``data_received`` feeds the core, whole messages go to a deque, and a single
future wakes the one coroutine waiting in :meth:`WebSocket.recv`;
:meth:`WebSocket.send` hands frames to the transport (coalescing those of
one loop iteration, see ``_write``). No task is created per message, and
timers (open, close, keepalive) are loop timer handles, not tasks.

Roles differ only in the opening handshake and in who closes TCP, so the
server and client modules subclass :class:`WebSocket` for those.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, Union

from .. import Connection, ConnectionState, WSConnection
from ..errors import LocalProtocolError, RemoteProtocolError
from ..events import (
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    Request,
    TextMessage,
)
from ..extensions import Extension
from ..headers import Headers
from .exceptions import ConnectionClosed, ConnectionClosedOK, closed_error
from .logs import LoggedCore, LoggerLike, client_logger, describe_close, describe_extension
from .options import Settings
from .waiter import ResumingWaiter

Data = Union[str, bytes]
#: A socket address as asyncio reports it: ``(host, port)`` for IPv4,
#: ``(host, port, flowinfo, scope_id)`` for IPv6.
Address = Union[Tuple[str, int], Tuple[str, int, int, int]]
#: What send() accepts: text, or any bytes-like object for binary.
Outgoing = Union[str, bytes, bytearray, memoryview]

#: Our own view of the connection's life, coarser than the core's states.
CONNECTING, OPEN, CLOSING, CLOSED = "CONNECTING", "OPEN", "CLOSING", "CLOSED"

#: ``CloseConnection`` code that the core reports for EOF; never on the wire.
ABNORMAL = 1006

#: What :meth:`WebSocket._write_broadcast` reports, for broadcast's counts.
SENT, DROPPED, CLOSED_SLOW, SKIPPED = 0, 1, 2, 3

# Why reading from the socket is paused (bits of WebSocket._read_pauses): one
# place decides, so that the reasons never undo each other.
#: The application has max_queue unread messages; the core keeps the rest.
QUEUE_FULL = 1
#: The transport's write buffer is over write_limit: the peer does not read
#: what we send (e.g. our pongs to its ping flood), so we stop reading it too.
WRITE_FULL = 2
#: The server is deciding on the opening handshake.
HANDSHAKE = 4

#: Bytes read from the socket at most per read (asyncio's own default).
READ_SIZE = 256 * 1024
_thread_local = threading.local()


def _read_buffer() -> memoryview:
    """The read buffer shared by the connections of this thread.

    Sharing is safe because the transport fills it and calls
    ``buffer_updated`` at once, which copies the bytes out, all within one
    callback of this thread's event loop. It spares each read the 256 KiB
    allocation that plain ``data_received`` protocols cost (big enough for
    the C allocator to mmap and unmap it every time) without a buffer per
    connection.
    """
    buffer: Optional[memoryview] = getattr(_thread_local, "buffer", None)
    if buffer is None:
        buffer = _thread_local.buffer = memoryview(bytearray(READ_SIZE))
    return buffer


class WebSocket(asyncio.BufferedProtocol):
    """A WebSocket connection (both roles).

    Use :meth:`send`, :meth:`recv` (or ``async for message in ws``),
    :meth:`ping` and :meth:`close`. Instances are created by
    :func:`~wsproto6455.asyncio.serve` and :func:`~wsproto6455.asyncio.connect`.
    """

    #: True for the server role, which closes TCP first (RFC 6455 §7.1.1).
    is_server = False
    #: The role's logger, unless ``logger=`` was given.
    default_logger: LoggerLike = client_logger

    def __init__(self, core: WSConnection, settings: Settings) -> None:
        # First the fields a broadcast reads or writes for each recipient:
        # an instance keeps its attributes in assignment order, so these
        # share two cache lines instead of five (at thousands of connections
        # a broadcast meets most of them cold).
        self._transport: Optional[asyncio.Transport] = None
        self.state = CONNECTING
        self._broadcast_kind: Any = None  # how it encodes a shared message (broadcast.py)
        self._write_paused = False
        self._corked = False
        self._out_size = 0
        self._budget_unpaused = settings.outgoing_budget - settings.write_limit
        self.messages_out = 0
        self.bytes_out = 0  # bytes of the data frames written (send and broadcast)
        self.broadcast_sent = 0
        self._core = core
        # What the data path talks to: the WSConnection during the opening
        # handshake, then its post-handshake Connection directly (one layer
        # less per call; same API), wrapped only if DEBUG logging is on.
        self._proto: Union[WSConnection, Connection, LoggedCore] = core
        self._settings = settings
        self._logger: LoggerLike = settings.logger or self.default_logger
        self._loop = asyncio.get_running_loop()
        self._read_view = _read_buffer()
        #: The opening handshake request (received by a server, sent by a client).
        self.request: Optional[Request] = None
        #: Headers of the 101 response (sent by a server, received by a
        #: client) besides the WebSocket fields: a case-insensitive mapping,
        #: ``.raw`` for the byte pairs.
        self.response_headers = Headers()
        self._request_headers = Headers()
        #: The negotiated subprotocol, if any.
        self.subprotocol: Optional[str] = None
        # receive side
        self._messages: Deque[Data] = deque()
        self._recv_waiter: Optional[ResumingWaiter] = None
        self._max_queue = settings.max_queue or sys.maxsize
        self._resume_at = (settings.max_queue or 0) // 4
        self._read_pauses = 0  # QUEUE_FULL | WRITE_FULL | HANDSHAKE
        # send side (_write_paused, _corked, _out_size: above)
        # Frames written while corked wait in _out for the end of the loop
        # iteration (see _write).
        self._out: List[bytes] = []
        self._write_limit = settings.write_limit
        self._unanswered_writes = 0  # frames written since the last recv()
        self._drain_waiters: Deque[asyncio.Future[None]] = deque()
        # The latest ping not answered while writing is paused (RFC 6455
        # §5.5.3: only the most recent one needs a pong).
        self._pong_due: Optional[bytes] = None
        # pings we sent, in order: payload -> (waiter, time sent)
        self._pings: Dict[bytes, Tuple[asyncio.Future[float], float]] = {}
        # closing
        self._close_sent: Optional[CloseConnection] = None
        self._close_rcvd: Optional[CloseConnection] = None
        self._fail_code: Optional[CloseConnection] = None
        self._closed_by: Optional[str] = None  # for the log: "us" or "the peer"
        self._opened_at: Optional[float] = None  # loop time of the opening handshake's end
        self._lost = False
        self._closed: asyncio.Future[None] = self._loop.create_future()
        # timers: one for the open or close deadline, two for keepalive
        self._timer: Optional[asyncio.TimerHandle] = None
        self._ka_next: Optional[asyncio.TimerHandle] = None
        self._ka_deadline: Optional[asyncio.TimerHandle] = None
        self._ka_ping: Optional[asyncio.Future[float]] = None  # awaiting its pong
        #: Round-trip time of the last keepalive ping, in seconds.
        self.latency = 0.0
        # counters, summed per server by Server.metrics(): plain attributes,
        # one addition each on the data path
        # (messages_out, bytes_out, broadcast_sent: above)
        self.messages_in = 0
        self.bytes_in = 0   # bytes read from the socket (every frame and the handshake)
        self.broadcast_drops = 0
        # broadcast: the byte budget and what to do past it
        self._budget = settings.outgoing_budget
        #: Hook on each received message (see realtime.ratelimit): returns
        #: False to drop it; may close the connection.
        self._inbound_check: Optional[Callable[[Data], bool]] = None

    # ------------------------------------------------------------------
    # public API

    @property
    def path(self) -> str:
        """The request target (path and query) of the opening handshake."""
        return self.request.target if self.request is not None else ""

    @property
    def request_headers(self) -> Headers:
        """Headers of the opening handshake request: a case-insensitive
        ``str`` mapping (``ws.request_headers["user-agent"]``), with
        ``.raw`` for the byte pairs as the core reports them and
        ``get_all(name)`` for a repeated field."""
        request = self.request
        if request is None:
            return Headers()
        if self._request_headers.raw is not request.extra_headers:
            self._request_headers = Headers(request.extra_headers)
        return self._request_headers

    @property
    def extensions(self) -> List[Extension]:
        """The extensions negotiated in the opening handshake (e.g. permessage-deflate)."""
        connection = self._core.connection
        return list(connection.extensions) if connection is not None else []

    @property
    def local_address(self) -> Optional[Address]:
        """Our end's address (see :data:`Address`); None before the
        connection is made. Kept after it closes."""
        address: Optional[Address] = self._transport.get_extra_info("sockname") if self._transport else None
        return address

    @property
    def remote_address(self) -> Optional[Address]:
        """The peer's address (see :data:`Address`); None before the
        connection is made. Kept after it closes."""
        address: Optional[Address] = self._transport.get_extra_info("peername") if self._transport else None
        return address

    @property
    def close_code(self) -> Optional[int]:
        """None while open. Then: the code of the close frame received; else
        the code we failed the connection with (e.g. 1011 on keepalive
        timeout); else 1006 (closed without a closing handshake). Always a
        plain ``int`` (compare with ``CloseReason`` members freely: they are
        ``IntEnum``)."""
        final = self._final_close()
        return int(final.code) if final is not None else None

    @property
    def close_reason(self) -> Optional[str]:
        """None while open; then the reason that goes with :attr:`close_code`
        (``""`` if none)."""
        final = self._final_close()
        return (final.reason or "") if final is not None else None

    @property
    def closed(self) -> bool:
        """True once the TCP connection is closed."""
        return self._lost

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed."""
        await asyncio.shield(self._closed)

    async def recv(self) -> Data:
        """The next message: ``str`` for text, ``bytes`` for binary.

        Raises :class:`ConnectionClosed` once the peer can send no more and
        every message received before has been returned.
        """
        self._unanswered_writes = 0
        messages = self._messages
        while not messages:
            waiter = self._wait_for_message()
            try:
                await waiter
            finally:
                self._recv_waiter = None
        message = messages.popleft()
        if self._read_pauses and len(messages) <= self._resume_at:
            self._resume_reading(QUEUE_FULL)  # a no-op unless the queue held reading back
        return message

    def __aiter__(self) -> "WebSocket":
        """``async for message in ws``: each message until a normal close."""
        return self

    async def __anext__(self) -> Data:
        """The next message, as :meth:`recv`; the iteration ends on a normal
        close (1000, 1001, 1005) and raises :class:`ConnectionClosedError`
        on any other."""
        # recv(), repeated here: awaiting recv() costs a second coroutine per
        # message, and a helper for these lines a call (2.5% more
        # instructions per pipelined echo message, callgrind).
        self._unanswered_writes = 0
        messages = self._messages
        while not messages:
            try:
                waiter = self._wait_for_message()
            except ConnectionClosedOK:
                raise StopAsyncIteration from None
            try:
                await waiter
            finally:
                self._recv_waiter = None
        message = messages.popleft()
        if self._read_pauses and len(messages) <= self._resume_at:
            self._resume_reading(QUEUE_FULL)
        return message

    def _wait_for_message(self) -> ResumingWaiter:
        """The future recv() awaits while its queue is empty; the caller
        clears ``_recv_waiter`` when it is done waiting. (A future, not a
        coroutine: one frame less on each resumption of the handler.)"""
        if self._close_rcvd is not None or self._lost or self.state is CONNECTING:
            raise self._closed_exception()
        if self._recv_waiter is not None:
            raise RuntimeError("another coroutine is already waiting in recv()")
        waiter = self._recv_waiter = ResumingWaiter(loop=self._loop)
        return waiter

    async def send(self, message: Outgoing, *, compress: Optional[bool] = None) -> None:
        """Send a text (``str``) or binary (bytes-like) message.

        Waits while the transport's write buffer is above its high-water
        mark, so a slow reader slows the sender instead of growing memory.
        ``compress=False`` sends this message uncompressed when
        permessage-deflate is on (e.g. data that is already compressed).
        """
        if self._write_paused:
            await self._drain()
        if self.state is not OPEN:
            raise self._closed_exception()
        if type(message) is str:
            event: Event = TextMessage(message)
        elif type(message) is bytes:
            event = BytesMessage(message)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            event = BytesMessage(bytes(message))
        else:
            raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")
        if compress is None:
            data = self._proto.send(event)
        else:
            data = self._proto.send(event, compress=compress)
        self.messages_out += 1
        self.bytes_out += len(data)
        # _write(), inlined: this is the per-message path, and the call cost
        # 4% more instructions per pipelined echo message (callgrind).
        if self._corked:
            self._out.append(data)
            self._out_size += len(data)
            if self._out_size >= self._write_limit:
                self._flush()
        else:
            self._write(data)
        if self._write_paused:
            await self._drain()

    async def ping(self, data: Union[str, bytes, None] = None) -> "asyncio.Future[float]":
        """Send a ping; return a future that resolves, with the round-trip
        time in seconds, when the matching pong arrives.

        ``data=None`` picks a random 4-byte payload. A pong also settles the
        pings sent before it (a peer may answer only the latest ping, RFC
        6455 §5.5.3). The future fails with :class:`ConnectionClosed` if the
        connection closes first; it need not be awaited.
        """
        if self.state is not OPEN:
            raise self._closed_exception()
        if data is None:
            payload = os.urandom(4)
            while payload in self._pings:
                payload = os.urandom(4)
        else:
            payload = data.encode() if isinstance(data, str) else bytes(data)
            if payload in self._pings:
                raise ValueError("a ping with this payload is already waiting for its pong")
        frame = self._proto.send(Ping(payload=payload))  # refuses over 125 bytes
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._pings[payload] = (waiter, self._loop.time())
        self._write(frame)
        if self._write_paused:
            await self._drain()
        return waiter

    async def pong(self, data: Union[str, bytes] = b"") -> None:
        """Send an unsolicited pong (a heartbeat that needs no answer)."""
        if self.state is not OPEN:
            raise self._closed_exception()
        payload = data.encode() if isinstance(data, str) else bytes(data)
        self._write(self._proto.send(Pong(payload=payload)))
        if self._write_paused:
            await self._drain()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start (or join) the closing handshake and wait until TCP is closed.

        Waits at most about ``close_timeout`` for the peer's answer, then
        drops the connection.
        """
        if self.state is OPEN:
            self._start_close(code, reason)
        elif self.state is CONNECTING and self._transport is not None:
            self._transport.abort()
        await asyncio.shield(self._closed)

    # ------------------------------------------------------------------
    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """asyncio callback (called by the transport; not for applications): the TCP (or TLS) connection is up."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        limit = self._settings.write_limit
        transport.set_write_buffer_limits(high=limit, low=limit // 4)

    def get_buffer(self, sizehint: int) -> memoryview:
        """asyncio callback (called by the transport; not for applications): the buffer the next read goes into."""
        return self._read_view

    def buffer_updated(self, nbytes: int) -> None:
        """asyncio callback (called by the transport; not for applications): ``nbytes`` were read into the buffer."""
        self.bytes_in += nbytes
        self.data_received(self._read_view[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        """asyncio callback (called by the transport; not for applications): bytes from the peer, for the core."""
        if self._close_rcvd is not None:
            return  # RFC 6455 §5.5.1: nothing after a close frame is interpreted
        try:
            self._proto.receive_data(data)
        except RemoteProtocolError as exc:
            self._handshake_failed(exc)
            return
        except LocalProtocolError:
            return  # the core is closed (e.g. a rejected handshake): input means nothing
        if not self._read_pauses & QUEUE_FULL:  # else it waits in the core, unparsed
            self._process_events()

    def eof_received(self) -> Optional[bool]:
        """asyncio callback (called by the transport; not for applications): the peer will send nothing more."""
        if self.state is CONNECTING:
            try:
                self._proto.receive_data(None)
            except RemoteProtocolError as exc:
                self._handshake_failed(exc)
                return None
            self._process_events()
        elif self._close_rcvd is None:
            # The peer stopped sending without a close frame: the core
            # reports CloseConnection(1006).
            self._proto.receive_data(None)
            self._process_events()
        return None  # let the transport close itself

    def connection_lost(self, exc: Optional[Exception]) -> None:
        """asyncio callback (called by the transport; not for applications): the connection is closed; wakes every waiter."""
        self._lost = True
        self.state = CLOSED
        if self._opened_at is not None and self._logger.isEnabledFor(logging.INFO):
            self._log_closed()
        self._out.clear()
        for handle in (self._timer, self._ka_next, self._ka_deadline):
            if handle is not None:
                handle.cancel()
        self._timer = self._ka_next = self._ka_deadline = None
        self._wake_receiver()
        self._wake_senders()
        self._fail_pings()
        if not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        """asyncio callback (called by the transport; not for applications): the write buffer is over ``write_limit``: ``send`` waits."""
        self._write_paused = True
        self._pause_reading(WRITE_FULL)

    def resume_writing(self) -> None:
        """asyncio callback (called by the transport; not for applications): the write buffer drained: ``send`` goes on."""
        self._write_paused = False
        if self._pong_due is not None:
            payload, self._pong_due = self._pong_due, None
            if self.state is OPEN:
                self._write(self._proto.send(Pong(payload=payload)))
        self._resume_reading(WRITE_FULL)
        self._wake_senders()

    # ------------------------------------------------------------------
    # events from the core

    def _process_events(self) -> None:
        messages = self._messages
        queued = len(messages)
        received = False
        check = self._inbound_check
        try:
            for event in self._proto.events():
                cls = type(event)
                if cls is TextMessage or cls is BytesMessage:
                    # After our close frame the application said it is done:
                    # drop data rather than queue it without bound.
                    if self._close_sent is None and (check is None or check(event.data)):  # type: ignore[attr-defined]
                        messages.append(event.data)  # type: ignore[attr-defined]
                        received = True
                        if len(messages) >= self._max_queue:
                            # Take no more from the core: the rest waits there,
                            # unparsed (still compressed), until recv() drains
                            # the queue; TCP pushes back on the peer.
                            self._pause_reading(QUEUE_FULL)
                            break
                elif cls is Ping:
                    # (Not after a failed write: the transport is closing,
                    # and each write would only log a warning.)
                    if self.state is OPEN and not self._transport.is_closing():  # type: ignore[union-attr]
                        if self._write_paused:
                            self._pong_due = event.payload  # type: ignore[attr-defined]
                        else:
                            self._write(self._proto.send(event.response()))  # type: ignore[attr-defined]
                elif cls is Pong:
                    self._pong_received(event.payload)  # type: ignore[attr-defined]
                elif cls is CloseConnection:
                    self._close_received(event)  # type: ignore[arg-type]
                else:
                    self._handshake_event(event)
        except RemoteProtocolError as exc:
            self._handshake_failed(exc)
            return
        if received:
            self.messages_in += len(messages) - queued
            if len(messages) - queued > 1 and not self._corked:
                # A burst: the handler will answer it in one step. Uncork
                # after that step, at the end of this loop iteration.
                self._cork()
            waiter = self._recv_waiter
            if waiter is not None:
                # Last: the handler's step may run inside this call (see
                # ResumingWaiter), and it finds this connection settled.
                waiter.resume()

    def _close_received(self, event: CloseConnection) -> None:
        self._close_rcvd = event
        if self._closed_by is None and event.code != ABNORMAL:
            self._closed_by = "the peer"
        self.state = CLOSING
        self._stop_keepalive()
        if self._proto.state is ConnectionState.REMOTE_CLOSING:
            # The peer closed first, or broke the protocol: answer with the
            # code the core hands us, which completes the closing handshake.
            answer = event.response()
            self._close_sent = answer
            try:
                self._write(self._proto.send(answer))
            except LocalProtocolError:  # pragma: no cover - core refused; just drop TCP
                pass
        self._wake_receiver()
        self._fail_pings()
        if event.code == ABNORMAL or self.is_server:
            # EOF, or the server's duty: close TCP first (RFC 6455 §7.1.1).
            self._close_transport()
        else:
            # Client: give the server close_timeout to close TCP, then do it.
            self._arm_timer(self._close_transport)

    def _handshake_event(self, event: Event) -> None:
        """Role-specific: the opening handshake's events."""
        raise NotImplementedError

    def _handshake_failed(self, exc: RemoteProtocolError) -> None:
        """Role-specific: the core refused the peer's handshake."""
        raise NotImplementedError

    # ------------------------------------------------------------------
    # helpers for the roles

    def _opened(self) -> None:
        """The opening handshake succeeded: messages may flow."""
        connection = self._core.connection
        assert connection is not None
        self._proto = connection
        self.state = OPEN
        self._opened_at = self._loop.time()
        logger = self._logger
        if logger.isEnabledFor(logging.DEBUG):  # asked once per connection
            self._proto = LoggedCore(connection, logger)
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "connection open: peer %s, path %s, subprotocol %s, extensions %s",
                _address(self.remote_address), self.path, self.subprotocol,
                ", ".join(describe_extension(e) for e in connection.extensions) or None,
            )
        self._cancel_timer()
        if self._settings.ping_interval is not None:
            self._ka_next = self._loop.call_later(self._settings.ping_interval, self._keepalive)

    def _write(self, data: bytes) -> None:
        """Write a frame, or hold it while corked.

        Corking coalesces the frames of a burst into one ``transport.write``
        (one send() system call) at the end of the loop iteration. It is
        engaged only where a burst is likely, because the ``call_soon`` that
        ends it costs request/response traffic an extra loop iteration (an
        extra epoll_wait per message): when one read delivered several
        messages (the handler will answer them in one go, see
        ``_process_events``), and when a second frame is written with no
        ``recv()`` in between (a pipelining producer: the frames after it
        wait). At most
        ``write_limit`` bytes wait; then they are flushed on the spot, so
        flow control still sees them.
        """
        if self._corked:
            self._out.append(data)
            self._out_size += len(data)
            if self._out_size >= self._write_limit:
                self._flush()
        elif self._transport is not None and not self._lost:
            self._transport.write(data)
            self._unanswered_writes += 1
            if self._unanswered_writes > 1:
                self._cork()

    def _write_broadcast(self, frame: Optional[bytes], message: Data) -> int:
        """Broadcast's only way in: write one prebuilt ``frame`` (or, when
        None, ``message`` encoded by this connection's own core, for
        compression with context takeover or a client's masking).

        Never waits. Skips a connection that is not OPEN. Keeps the bytes
        waiting in the transport (and the cork) under ``outgoing_budget``:
        past it the ``slow_consumer`` policy drops this message or closes
        the connection. The check comes before encoding, so a dropped
        message never advances a compressor's context.
        """
        transport = self._transport
        if self.state is not OPEN or transport is None:
            return SKIPPED
        size = len(frame) if frame is not None else len(message)
        # While writing is not paused the transport holds at most write_limit
        # bytes, so only a paused transport, or a budget within write_limit of
        # what is corked, needs the exact (and slower) count.
        if ((self._write_paused or self._out_size + size > self._budget_unpaused)
                and transport.get_write_buffer_size() + self._out_size + size > self._budget):
            self.broadcast_drops += 1
            if self._settings.slow_consumer == "close":
                self._fail(self._settings.slow_consumer_code, "slow consumer")
                return CLOSED_SLOW
            return DROPPED
        if frame is None:
            if isinstance(message, str):
                frame = self._proto.send(TextMessage(message))
            else:
                frame = self._proto.send(BytesMessage(message))
        self.messages_out += 1
        self.bytes_out += len(frame)
        self.broadcast_sent += 1
        if self._corked:
            self._out.append(frame)
            self._out_size += len(frame)
            if self._out_size >= self._write_limit:
                self._flush()
        else:
            transport.write(frame)
        return SENT

    def _cork(self) -> None:
        self._corked = True
        self._loop.call_soon(self._uncork)

    def _flush(self) -> None:
        out = self._out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            self._out_size = 0
            if self._transport is not None and not self._lost:
                self._transport.write(data)

    def _uncork(self) -> None:
        self._corked = False
        self._unanswered_writes = 0
        self._flush()

    def _start_close(self, code: int, reason: str) -> None:
        """Send our close frame; wait close_timeout for the peer's answer."""
        event = CloseConnection(code=code, reason=reason)
        data = self._proto.send(event)  # raises LocalProtocolError for a bad code
        self._close_sent = event
        if self._closed_by is None:
            self._closed_by = "us"
        self.state = CLOSING
        self._stop_keepalive()
        self._write(data)
        self._arm_timer(self._abort)
        # The peer's answer must get through: read again, whatever held
        # reading back (no pause holds from now on; messages are dropped,
        # pings no longer answered), starting with what the core holds.
        paused, self._read_pauses = self._read_pauses, 0
        if paused & QUEUE_FULL:
            self._process_events()
        if paused and self._transport is not None and not self._lost:
            self._transport.resume_reading()

    def _fail(self, code: int, reason: str) -> None:
        """Close without waiting for the peer (it stopped responding)."""
        if self.state is OPEN:
            if self._closed_by is None:
                self._closed_by = "us"
            self._fail_code = CloseConnection(code=code, reason=reason)
            self._close_sent = self._fail_code
            self.state = CLOSING
            self._stop_keepalive()
            self._write(self._proto.send(self._fail_code))
        self._close_transport()

    def _close_transport(self) -> None:
        """Close TCP gracefully (flushing), but never wait more than close_timeout."""
        if self._transport is None or self._lost:
            return
        self._flush()
        if not self._transport.is_closing():
            self._transport.close()
        self._arm_timer(self._abort)

    def _abort(self) -> None:
        if self._transport is not None and not self._lost:
            self._transport.abort()

    def _arm_timer(self, callback: Any) -> None:
        self._cancel_timer()
        timeout = self._settings.close_timeout
        if timeout is None:
            return
        self._timer = self._loop.call_later(timeout, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _final_close(self) -> Optional[CloseConnection]:
        if self._close_rcvd is not None and self._close_rcvd.code != ABNORMAL:
            return self._close_rcvd
        if self._fail_code is not None:
            return self._fail_code
        if self._close_rcvd is not None or self._lost:
            return CloseConnection(code=ABNORMAL, reason="")
        return None

    def _log_closed(self) -> None:
        final = self._final_close()
        assert final is not None and self._opened_at is not None
        if final.code == ABNORMAL:
            who = "nobody: the connection was lost without a closing handshake"
        else:
            who = self._closed_by or "the peer"
        self._logger.info(
            "connection closed: peer %s, code %s, closed by %s, open %.3f s",
            _address(self.remote_address), describe_close(int(final.code), final.reason), who,
            self._loop.time() - self._opened_at,
        )

    def _closed_exception(self) -> ConnectionClosed:
        final = self._final_close()
        if final is None:
            # Closing handshake in progress: report what we know so far.
            final = self._close_sent or CloseConnection(code=ABNORMAL, reason="")
        return closed_error(int(final.code), final.reason or "")

    # -- receive side

    def _wake_receiver(self) -> None:
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _pause_reading(self, reason: int) -> None:
        """Stop reading from the socket for ``reason`` (see QUEUE_FULL...)."""
        if self._close_sent is not None:
            return  # closing: the peer's answer must get through
        paused = self._read_pauses
        self._read_pauses = paused | reason
        if reason == QUEUE_FULL:
            # Our application is slow, not the peer: a pong waiting behind
            # unread data must not count against it (see _keepalive).
            self._suspend_keepalive()
        if not paused and self._transport is not None and not self._lost:
            self._transport.pause_reading()

    def _resume_reading(self, reason: int) -> None:
        """``reason`` no longer holds; read again if nothing else holds reading.

        For QUEUE_FULL (recv() drained the queue to a quarter), first take
        the messages the core holds (no new byte needs to arrive for them)."""
        if not self._read_pauses & reason:
            return
        self._read_pauses &= ~reason
        if reason == QUEUE_FULL:
            # First what the core received and we did not take: it may be
            # enough to fill the queue again (no new byte needs to arrive).
            self._process_events()
            if self._read_pauses & QUEUE_FULL:
                return
            self._resume_keepalive()
        if not self._read_pauses and self._transport is not None and not self._lost:
            self._transport.resume_reading()

    # -- send side

    async def _drain(self) -> None:
        while self._write_paused and not self._lost:
            waiter = self._loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter
        if self._lost:
            raise self._closed_exception()

    def _wake_senders(self) -> None:
        waiters = self._drain_waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    # -- pings

    def _pong_received(self, payload: bytes) -> None:
        if payload not in self._pings:
            return  # unsolicited pong: a heartbeat, nothing to do
        now = self._loop.time()
        # Dicts keep insertion order: settle every ping up to this one.
        while self._pings:
            key, (waiter, sent) = next(iter(self._pings.items()))
            del self._pings[key]
            if not waiter.done():
                waiter.set_result(now - sent)
            if key == payload:
                break

    def _fail_pings(self) -> None:
        if not self._pings:
            return
        exc = self._closed_exception()
        for waiter, _ in self._pings.values():
            if not waiter.done():
                waiter.set_exception(exc)
                # Awaiting a ping's future is optional: mark the exception as
                # retrieved so asyncio does not log it as lost.
                waiter.exception()
        self._pings.clear()

    def _keepalive(self) -> None:
        """Timer: send a keepalive ping and expect its pong within ping_timeout."""
        self._ka_next = None
        if self.state is not OPEN:
            return
        payload = os.urandom(4)
        while payload in self._pings:
            payload = os.urandom(4)
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._pings[payload] = (waiter, self._loop.time())
        waiter.add_done_callback(self._keepalive_pong)
        self._ka_ping = waiter
        self._write(self._proto.send(Ping(payload=payload)))
        self._resume_keepalive()

    def _resume_keepalive(self) -> None:
        """Start the pong deadline of the keepalive ping in flight, if any.

        It runs only while we read: while our application holds reading back
        (QUEUE_FULL) the pong may wait unread behind the messages, and a
        healthy peer must not be dropped because we are slow. (While the
        peer does not read what we send, WRITE_FULL, the deadline runs: that
        peer is slow or gone.)"""
        timeout = self._settings.ping_timeout
        ping = self._ka_ping
        if (timeout is not None and ping is not None and not ping.done()
                and self._ka_deadline is None and not self._read_pauses & QUEUE_FULL):
            self._ka_deadline = self._loop.call_later(timeout, self._keepalive_expired)

    def _suspend_keepalive(self) -> None:
        if self._ka_deadline is not None:
            self._ka_deadline.cancel()
            self._ka_deadline = None

    def _keepalive_pong(self, waiter: "asyncio.Future[float]") -> None:
        if self._ka_ping is waiter:
            self._ka_ping = None
        if waiter.cancelled() or waiter.exception() is not None:
            return
        self.latency = waiter.result()
        if self._ka_deadline is not None:
            self._ka_deadline.cancel()
            self._ka_deadline = None
        interval = self._settings.ping_interval
        if self.state is OPEN and interval is not None:
            self._ka_next = self._loop.call_later(max(0.0, interval - self.latency), self._keepalive)

    def _keepalive_expired(self) -> None:
        self._ka_deadline = None
        self._logger.info("keepalive ping timeout: failing the connection with 1011")
        self._fail(1011, "keepalive ping timeout")

    def _stop_keepalive(self) -> None:
        for handle in (self._ka_next, self._ka_deadline):
            if handle is not None:
                handle.cancel()
        self._ka_next = self._ka_deadline = None
        self._ka_ping = None


def _address(address: Any) -> str:
    """``host:port`` ([host]:port for IPv6), or what the transport says."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)
