"""A blocking WebSocket connection over a socket, on the sans-IO core.

One background thread reads: it feeds the core, answers pings, queues whole
messages, settles ping waiters and completes the closing handshake, so
pings are answered even while the program is not in :meth:`recv`. The
calling threads write. Locks: ``_write_lock`` orders frames on the wire
(compression with context takeover depends on that order) and is taken
before ``_core_lock``, which guards the core itself; the reader never
holds ``_core_lock`` while it blocks.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque
from typing import Any, Iterator, Optional, Union

from .. import ConnectionState, WSConnection
from ..events import BytesMessage, CloseConnection, Event, Ping, Pong, TextMessage
from ..events import Pong as PongEvent
from ..io_common.exceptions import ConnectionClosed, ConnectionClosedOK, closed_error
from ..typing import Headers

Data = Union[str, bytes]

#: Bytes asked of the socket per read.
READ_SIZE = 65536


class PongWaiter:
    """What :meth:`ClientConnection.ping` returns: wait for the answering pong."""

    def __init__(self, connection: "ClientConnection") -> None:
        self._connection = connection
        self._done = threading.Event()
        self.received = False

    def wait(self, timeout: Optional[float] = None) -> bool:
        """True once the pong came; False after ``timeout`` seconds without it.

        Raises :class:`ConnectionClosed` if the connection closed first.
        """
        self._done.wait(timeout)
        if self.received:
            return True
        if self._done.is_set():
            raise self._connection._closed_error()
        return False

    def _settle(self, received: bool) -> None:
        self.received = received
        self._done.set()


class ClientConnection:
    """The client end of an open connection; made by :func:`~wsproto6455.sync.connect`.

    Attributes: ``subprotocol``, ``extensions`` (negotiated), ``request``
    (the core's ``Request``), ``response_headers``, ``local_address``,
    ``remote_address``, ``close_code`` and ``close_reason`` (``None`` while
    open; then the code of the close frame received, else the code we failed
    the connection with, else 1006).
    """

    def __init__(
        self,
        sock: socket.socket,
        core: WSConnection,
        *,
        request: Any,
        subprotocol: Optional[str],
        response_headers: Headers,
        pending: list[Event],
        max_queue: Optional[int],
        close_timeout: Optional[float],
        ping_interval: Optional[float],
        ping_timeout: Optional[float],
    ) -> None:
        self._sock = sock
        self._core = core
        self.request = request
        self.subprotocol = subprotocol
        self.response_headers = response_headers
        assert core.connection is not None
        self.extensions = list(core.connection.extensions)
        self.local_address: Any = sock.getsockname()
        self.remote_address: Any = sock.getpeername()
        self.close_code: Optional[int] = None
        self.close_reason: Optional[str] = None
        self._max_queue = max_queue
        self._close_timeout = close_timeout
        self._write_lock = threading.Lock()
        self._core_lock = threading.Lock()
        # Guards the message queue, the ping waiters and the closing flags.
        self._cond = threading.Condition()
        self._messages: deque[Data] = deque()
        self._pings: dict[bytes, tuple[PongWaiter, float]] = {}
        self._closing = False                 # we sent our close frame
        self._closed = threading.Event()      # TCP is closed; close_code is set
        self._close_timer: Optional[threading.Timer] = None
        self._pending_pong: Optional[PongEvent] = None
        #: Round-trip time of the last ping answered, in seconds.
        self.latency = 0.0
        # Events that came with the 101 are handled by the reader, first.
        self._reader = threading.Thread(target=self._read_loop, args=(pending,),
                                        name="wsproto6455-sync-reader", daemon=True)
        self._reader.start()
        self._keepalive: Optional[threading.Thread] = None
        if ping_interval is not None:
            self._keepalive = threading.Thread(
                target=self._keepalive_loop, args=(ping_interval, ping_timeout),
                name="wsproto6455-sync-keepalive", daemon=True)
            self._keepalive.start()

    # -- the application's side ------------------------------------------

    def send(self, message: Data, *, compress: Optional[bool] = None) -> None:
        """Send a text (``str``) or binary (``bytes``-like) message.

        Raises :class:`ConnectionClosed` once the closing handshake started.
        """
        if isinstance(message, str):
            event: Event = TextMessage(message)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            event = BytesMessage(bytes(message))
        else:
            raise TypeError(f"send() takes str or bytes, not {type(message).__name__}")
        self._send_event(event, compress)

    def recv(self, timeout: Optional[float] = None) -> Data:
        """The next message: ``str`` for text, ``bytes`` for binary.

        Waits at most ``timeout`` seconds (``None``: as long as it takes) and
        raises :class:`TimeoutError` then. Messages already received are
        returned even after the peer closed; then :class:`ConnectionClosed`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._messages:
                if self.close_code is not None:     # no message can come any more
                    raise self._closed_error()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"no message within {timeout} s")
                self._cond.wait(remaining)
            message = self._messages.popleft()
            self._cond.notify_all()           # the reader may wait for room
            return message

    def __iter__(self) -> Iterator[Data]:
        """The messages until the connection closes; a normal closure ends the loop."""
        while True:
            try:
                yield self.recv()
            except ConnectionClosedOK:
                return

    def ping(self, data: Optional[bytes] = None) -> PongWaiter:
        """Send a ping; ``ping().wait(timeout)`` is True once its pong arrived.

        The payload is 4 random bytes unless given; a pong settles every
        earlier ping too; :attr:`latency` is then the round-trip time.
        """
        payload = os.urandom(4) if data is None else bytes(data)
        waiter = PongWaiter(self)
        with self._cond:
            if payload in self._pings:
                raise ValueError("a ping with this payload is already waiting for its pong")
            self._pings[payload] = (waiter, time.monotonic())
        try:
            self._send_event(Ping(payload), None)
        except BaseException:
            with self._cond:
                self._pings.pop(payload, None)
            raise
        return waiter

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start (or join) the closing handshake and wait until TCP is closed.

        The server is expected to close TCP after answering our close frame
        (RFC 6455 §7.1.1); after ``close_timeout`` we close it ourselves.
        Calling it again, or after the peer closed, only waits.
        """
        with self._write_lock:
            with self._core_lock:
                if self._core.state is ConnectionState.OPEN:
                    data: Optional[bytes] = self._core.send(CloseConnection(code, reason))
                else:
                    data = None
            if data is not None:
                with self._cond:
                    self._closing = True
                    self._cond.notify_all()   # a reader waiting for queue room drops instead
                self._sendall(data)
        if not self._closed.wait(self._close_timeout):
            self._abort()
            self._closed.wait()
        self._reader.join()

    def __enter__(self) -> "ClientConnection":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Wait until the connection is closed (by either side); False after ``timeout``."""
        return self._closed.wait(timeout)

    @property
    def closed(self) -> bool:
        """True once the connection is closed (no more messages can be received)."""
        return self._closed.is_set()

    # -- writing ------------------------------------------------------------

    def _send_event(self, event: Event, compress: Optional[bool]) -> None:
        with self._write_lock:
            with self._core_lock:
                if self._core.state is not ConnectionState.OPEN:
                    raise self._closed_error()
                data = self._core.send(event, compress=compress)
            self._sendall(data)
            self._send_pending_pong()
        self._flush_pending_pong()

    def _answer_ping(self, ping: Ping) -> None:
        """The reader answers a ping, without ever waiting for a writer.

        A writer blocked in ``sendall`` (the peer is not reading) must not
        stop the reader: the peer may be waiting for us to read before it
        reads again. So the pong is left for the writer to send when the write
        lock is busy (RFC 6455 §5.5.3: answering the most recent ping is enough).
        """
        with self._cond:
            self._pending_pong = ping.response()
        self._flush_pending_pong()

    def _flush_pending_pong(self) -> None:
        if self._pending_pong is not None and self._write_lock.acquire(blocking=False):
            try:
                self._send_pending_pong()
            finally:
                self._write_lock.release()

    def _send_pending_pong(self) -> None:
        """With the write lock held: send the pong waiting, if any."""
        with self._cond:
            pong, self._pending_pong = self._pending_pong, None
        if pong is None:
            return
        with self._core_lock:
            if self._core.state is not ConnectionState.OPEN:
                return
            data = self._core.send(pong)
        try:
            self._sock.sendall(data)
        except OSError:
            self._abort()                   # the reader reports the loss

    def _sendall(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError:
            # The reader sees the same failure as EOF and settles close_code
            # (unless this is the reader itself, answering a ping).
            self._abort()
            if threading.current_thread() is not self._reader:
                self._closed.wait()
            raise self._closed_error() from None

    def _closed_error(self) -> ConnectionClosed:
        code = self.close_code if self.close_code is not None else 1006
        return closed_error(code, self.close_reason or "")

    def _abort(self) -> None:
        """Wake the reader with EOF: shut the socket down in both directions."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- the reader thread -------------------------------------------------

    def _read_loop(self, pending: list[Event]) -> None:
        try:
            for event in pending:
                self._handle(event)
            while True:
                try:
                    data = self._sock.recv(READ_SIZE)
                except OSError:
                    data = b""
                with self._core_lock:
                    if self._core.state is ConnectionState.CLOSED:
                        # After the closing handshake the server closes TCP
                        # first; anything it still sends is discarded.
                        events: list[Event] = []
                    else:
                        self._core.receive_data(data or None)
                        events = list(self._core.events())
                for event in events:
                    self._handle(event)
                if not data:
                    return
        finally:
            self._finish()

    def _handle(self, event: Event) -> None:
        cls = type(event)
        if cls is TextMessage or cls is BytesMessage:
            self._queue(event.data)  # type: ignore[attr-defined]
        elif cls is Ping:
            assert isinstance(event, Ping)
            self._answer_ping(event)
        elif cls is Pong:
            assert isinstance(event, Pong)
            self._settle_pings(event.payload)
        elif cls is CloseConnection:
            assert isinstance(event, CloseConnection)
            self._closing_handshake(event)

    def _queue(self, data: Data) -> None:
        with self._cond:
            # Read flow control: at max_queue unread messages, stop reading
            # (TCP pushes back on the peer) until the application catches up.
            full = self._max_queue is not None and len(self._messages) >= self._max_queue
            while full and not self._closing:
                self._cond.wait()
                full = self._max_queue is not None and len(self._messages) >= self._max_queue
            if full:
                # We sent our close frame: never wait for the application
                # (that would stall the closing handshake); what does not fit is dropped.
                return
            self._messages.append(data)
            self._cond.notify_all()

    def _settle_pings(self, payload: bytes) -> None:
        with self._cond:
            if payload not in self._pings:
                return                      # unsolicited pong
            self.latency = time.monotonic() - self._pings[payload][1]
            for key in list(self._pings):   # a pong settles its ping and every earlier one
                self._pings.pop(key)[0]._settle(True)
                if key == payload:
                    break

    def _closing_handshake(self, event: CloseConnection) -> None:
        code = int(event.code)
        with self._cond:
            if self.close_code is None:
                self.close_code = code
                self.close_reason = event.reason or ""
            self._cond.notify_all()
        with self._write_lock:
            with self._core_lock:
                answer = (self._core.send(event.response())
                          if self._core.state is ConnectionState.REMOTE_CLOSING else None)
            if answer is not None:
                try:
                    self._sock.sendall(answer)
                except OSError:
                    pass
        if code == 1006:
            return
        # The server closes TCP now; if it never does, close_timeout applies.
        if self._close_timeout is not None and self._close_timer is None:
            self._close_timer = threading.Timer(self._close_timeout, self._abort)
            self._close_timer.daemon = True
            self._close_timer.start()

    def _finish(self) -> None:
        with self._cond:
            if self.close_code is None:
                self.close_code = 1006
                self.close_reason = ""
            self._closed.set()
            self._cond.notify_all()
            for waiter, _ in self._pings.values():
                waiter._settle(False)     # their wait() raises ConnectionClosed
            self._pings.clear()
        if self._close_timer is not None:
            self._close_timer.cancel()
        try:
            self._sock.close()
        except OSError:
            pass

    # -- keepalive ---------------------------------------------------------

    def _keepalive_loop(self, interval: float, timeout: Optional[float]) -> None:
        while not self._closed.wait(interval):
            try:
                pong = self.ping()
            except ConnectionClosed:
                return
            if timeout is not None and not pong.wait(timeout) and not self._closed.is_set():
                # No pong in time: RFC 6455 §7.1.7 fail the connection (1011 as websockets).
                with self._cond:
                    if self.close_code is None:
                        self.close_code = 1011
                        self.close_reason = "keepalive ping timeout"
                try:
                    self._send_event(CloseConnection(1011, "keepalive ping timeout"), None)
                except ConnectionClosed:
                    pass
                self._abort()
                return

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} {state} {self.remote_address!r}>"
