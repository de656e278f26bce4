"""Server side: the opening handshake, one handler task per connection, and
the :class:`Server` that tracks connections so that closing it leaves no
task or socket behind."""

from __future__ import annotations

import asyncio
import inspect
import ssl as ssl_module
import sys
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Generator,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

from .. import ConnectionType, __version__
from ..errors import LocalProtocolError, RemoteProtocolError
from ..events import AcceptConnection, Event, RejectConnection, RejectData, Request
from .exceptions import ConnectionClosed
from .headers import HeadersLike, to_headers
from .._keywords import keyword_options
from .logs import LoggerLike, server_logger
from .metrics import ServerMetrics
from .options import Compression, DeflateOptions, Settings, SlowConsumer
from .protocol import CONNECTING, HANDSHAKE, OPEN, WebSocket


#: ``(status, headers, body)``: an HTTP response that rejects the handshake.
HTTPResponse = Tuple[int, HeadersLike, bytes]
Handler = Callable[["ServerConnection"], Awaitable[None]]
ProcessRequest = Callable[
    ["ServerConnection", Request],
    Union[Optional[HTTPResponse], Awaitable[Optional[HTTPResponse]]],
]
#: ``route(server, target) -> (status, headers, body)``: answers a plain
#: HTTP GET (not a WebSocket handshake) for one path, e.g. ``/healthz``.
HTTPRoute = Callable[["Server", str], HTTPResponse]

DEFAULT_SERVER_HEADER = (
    f"wsproto6455/{__version__} Python/{sys.version_info[0]}.{sys.version_info[1]}"
)


class ServerConnection(WebSocket):
    """The server end of a connection, handed to the handler."""

    is_server = True
    default_logger = server_logger

    def __init__(self, server: "Server") -> None:
        super().__init__(server.settings.new_core(ConnectionType.SERVER), server.settings)
        self._server = server
        self._task: Optional[asyncio.Task[None]] = None
        self._was_open = False
        #: Set by an authentication hook (e.g. ``realtime.jwt_auth``): the
        #: verified claims of the client's token.
        self.claims: Optional[Dict[str, Any]] = None

    @property
    def server(self) -> "Server":
        """The :class:`Server` this connection belongs to."""
        return self._server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._server._register(self)
        if self._settings.open_timeout is not None:
            self._timer = self._loop.call_later(self._settings.open_timeout, self._abort)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        super().connection_lost(exc)
        self._server._unregister(self)

    # -- opening handshake

    def _handshake_event(self, event: Event) -> None:
        if type(event) is Request and self._task is None and self._transport is not None:
            self.request = event
            # Hold the peer's bytes until we have answered: a client has no
            # reason to send before the 101, and we must not buffer for it.
            self._pause_reading(HANDSHAKE)
            self._task = self._server._spawn(self._run())

    def _handshake_failed(self, exc: RemoteProtocolError) -> None:
        if exc.request_line is not None and self.state is CONNECTING and self._server.http_routes:
            method, target = exc.request_line
            route = self._server.http_routes.get(target.split(b"?", 1)[0].decode("latin-1"))
            if method == b"GET" and route is not None:
                # Plain HTTP next to the WebSocket paths: answer and close.
                self._respond(*route(self._server, target.decode("latin-1")))
                return
        self._logger.debug("invalid opening handshake from %s: %s", self.remote_address, exc)
        hint = exc.event_hint
        if self.state is CONNECTING and isinstance(hint, RejectConnection):
            self._server.stats.rejected[hint.status_code] += 1
            try:
                data = self._core.send(hint)
                if hint.has_body:
                    data += self._core.send(RejectData(data=b"", body_finished=True))
                self._write(data)
            except LocalProtocolError:  # pragma: no cover - nothing sensible to send
                pass
        self._close_transport()

    async def _run(self) -> None:
        """The connection's only task: answer the handshake, run the handler, close."""
        try:
            if not await self._answer_handshake():
                return
        except Exception:
            self._logger.exception("opening handshake failed")
            if self.state is CONNECTING:
                self._reject(500, [], b"")
            return
        code, reason = 1000, ""
        try:
            await self._server.handler(self)
        except ConnectionClosed:
            pass  # the connection ended under the handler: not its fault
        except asyncio.CancelledError:
            self._abort()
            raise
        except Exception:
            self._logger.exception("connection handler failed")
            code, reason = 1011, "internal error"
        await self.close(code, reason)

    async def _answer_handshake(self) -> bool:
        request = self.request
        assert request is not None and self._transport is not None
        server = self._server
        if server.process_request is not None:
            response = server.process_request(self, request)
            if inspect.isawaitable(response):
                response = await response
            if self._lost:
                return False
            if response is not None:
                status, reject_headers, body = response
                self._reject(status, reject_headers, body)
                return False
        if self._lost:
            return False
        accept = AcceptConnection(
            subprotocol=server.select_subprotocol(request.subprotocols),
            extensions=self._settings.new_extensions(),
            extra_headers=list(server.extra_headers),
        )
        self._write(self._core.send(accept))
        self.subprotocol = accept.subprotocol
        self.response_headers = accept.extra_headers
        self._opened()
        self._was_open = True
        server.stats.connections_opened += 1
        self._resume_reading(HANDSHAKE)
        self._process_events()  # frames that arrived with the request
        return True

    def _reject(self, status: int, headers: HeadersLike, body: bytes) -> None:
        self._logger.info("connection rejected: peer %s, path %s, status %d",
                          self.remote_address, self.path, status)
        self._server.stats.rejected[status] += 1
        self._respond(status, headers, body)

    def _respond(self, status: int, headers: HeadersLike, body: bytes) -> None:
        """Answer with a plain HTTP response instead of the 101, and close."""
        head = to_headers(headers)
        if body:
            head.append((b"content-length", str(len(body)).encode()))
        data = self._core.send(RejectConnection(status_code=status, headers=head, has_body=bool(body)))
        if body:
            data += self._core.send(RejectData(data=body, body_finished=True))
        self._write(data)
        self._close_transport()

    def _shutdown(self) -> None:
        """The server is closing: say 1001 (going away), or drop a half-open handshake."""
        if self.state is OPEN:
            self._start_close(1001, "server shutting down")
        elif self.state is CONNECTING:
            self._abort()


class Server:
    """A listening WebSocket server; ``connections`` holds the open ones."""

    def __init__(
        self,
        handler: Handler,
        settings: Settings,
        *,
        subprotocols: Optional[Sequence[str]] = None,
        extra_headers: Optional[HeadersLike] = None,
        process_request: Optional[ProcessRequest] = None,
        server_header: Optional[str] = DEFAULT_SERVER_HEADER,
        http_routes: Optional[Mapping[str, HTTPRoute]] = None,
    ) -> None:
        self.handler = handler
        #: Paths answered as plain HTTP GETs (see :data:`HTTPRoute`).
        self.http_routes: Dict[str, HTTPRoute] = dict(http_routes or {})
        #: Counters; :meth:`metrics` takes a snapshot.
        self.stats = ServerMetrics()
        self.settings = settings
        self.subprotocols = list(subprotocols or [])
        self.process_request = process_request
        self.extra_headers: List[Tuple[bytes, bytes]] = to_headers(extra_headers or [])
        if server_header:
            self.extra_headers.append((b"server", server_header.encode()))
        #: The connections whose TCP socket is still open.
        self.connections: Set[ServerConnection] = set()
        self._tasks: Set[asyncio.Task[None]] = set()
        self._server: Optional[asyncio.base_events.Server] = None
        self._stopped: Optional[asyncio.Future[None]] = None
        self._closing = False

    async def start(self, host: Optional[str], port: Optional[int], **kwargs: Any) -> None:
        loop = asyncio.get_running_loop()
        self._stopped = loop.create_future()
        self._server = await loop.create_server(lambda: ServerConnection(self), host, port, **kwargs)

    @property
    def sockets(self) -> Tuple[Any, ...]:
        return tuple(self._server.sockets) if self._server is not None else ()

    @property
    def port(self) -> int:
        """The port of the first listening socket (handy with ``port=0``)."""
        return int(self.sockets[0].getsockname()[1])

    def is_serving(self) -> bool:
        """True while listening and not closing."""
        return self._server is not None and not self._closing and self._server.is_serving()

    def metrics(self) -> Dict[str, Any]:
        """A snapshot of the counters: connections (open, opened, closed by
        code), messages and bytes in and out, broadcast recipients and drops,
        rejections, rate-limit and auth events, keepalive round-trip times."""
        return self.stats.snapshot(self.connections)

    def select_subprotocol(self, offered: Iterable[str]) -> Optional[str]:
        """The client's most preferred subprotocol that we support, if any."""
        for name in offered:
            if name in self.subprotocols:
                return name
        return None

    def close(self) -> None:
        """Stop listening and close every connection with 1001."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn._shutdown()
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until every connection is closed and every handler returned.

        Handlers still running ``close_timeout`` after their connection
        closed are cancelled, so that nothing outlives the server.
        """
        closing = [conn._closed for conn in self.connections]
        if closing:
            await asyncio.wait(closing)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.settings.close_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._server is not None:
            await self._server.wait_closed()

    async def serve_forever(self) -> None:
        """Wait until :meth:`close` is called."""
        assert self._stopped is not None
        await asyncio.shield(self._stopped)

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    # -- bookkeeping for ServerConnection

    def _register(self, conn: ServerConnection) -> None:
        self.connections.add(conn)
        if self._closing:
            conn._shutdown()  # accepted just before close(): don't let it in

    def _unregister(self, conn: ServerConnection) -> None:
        self.connections.discard(conn)
        if conn._was_open:
            self.stats.retire(conn)
            self.stats.closed[conn.close_code or 1006] += 1

    def _spawn(self, coro: Awaitable[None]) -> "asyncio.Task[None]":
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


class serve:
    """Serve WebSocket connections: ``handler(ws)`` runs once per connection.

    ``async with serve(handler, "127.0.0.1", 8765) as server: ...`` serves
    until the block exits (then closes every connection with 1001);
    ``server = await serve(...)`` leaves closing to the caller.

    :param ssl: an :class:`ssl.SSLContext` to serve ``wss://``.
    :param subprotocols: those we support, picked in the client's order of
        preference.
    :param extra_headers: added to the 101 response.
    :param process_request: ``(ws, request) -> None | (status, headers,
        body)``, may be async: return a response to reject the handshake.
    :param server_header: the ``Server`` header of responses (None: none).
    :param max_message_size: bound on a received message in bytes, after
        decompression; over it the peer gets 1009 (None: unbounded).
    :param max_frame_size: bound on a received frame's payload (None: only
        the message bound applies).
    :param max_header_size: bound on the opening handshake's head (431 over it).
    :param fragment_size: cut outgoing messages into frames of at most this
        many bytes (None: one frame per message).
    :param compression: ``"deflate"`` accepts permessage-deflate; None turns
        it off.
    :param deflate_options: :class:`~wsproto6455.extensions.PerMessageDeflate`
        keyword arguments (see :class:`DeflateOptions`).
    :param ping_interval: seconds between keepalive pings (None: no pings).
    :param ping_timeout: no pong this many seconds after a keepalive ping
        closes the connection with 1011 (None: wait forever).
    :param open_timeout: drop a connection whose TLS and opening handshake
        take longer (None: no limit).
    :param close_timeout: how long the closing handshake may take before
        TCP is dropped (None: no limit).
    :param max_queue: unread messages at which reading from the socket
        pauses (None: never pause).
    :param write_limit: the transport's high-water mark in bytes: ``send``
        waits above it.
    :param logger: a :class:`logging.Logger` or ``LoggerAdapter`` for the
        connections (default: ``wsproto6455.server``; see ``docs/ASYNCIO.md``).

    An unknown option raises :class:`TypeError` naming ``serve()``, with
    our name for an option of websockets or aiohttp (``max_size=``...).
    :param http_routes: ``{path: route(server, target) -> (status, headers,
        body)}``: plain HTTP GETs (not handshakes) answered on those paths,
        next to the WebSocket endpoints (e.g. ``/metrics``, ``/healthz``).
    :param outgoing_budget: bytes that may wait in a connection's write
        buffer for :func:`broadcast` (which never waits); past it the
        ``slow_consumer`` policy applies.
    :param slow_consumer: ``"drop"`` (skip the message for that connection,
        counted) or ``"close"`` (close it with ``slow_consumer_code``).
    :param slow_consumer_code: 1013 (try again later) or 1008.
    """

    @keyword_options("serve()")
    def __init__(
        self,
        handler: Handler,
        host: Optional[str] = None,
        port: Optional[int] = None,
        *,
        ssl: Optional[ssl_module.SSLContext] = None,
        subprotocols: Optional[Sequence[str]] = None,
        extra_headers: Optional[HeadersLike] = None,
        process_request: Optional[ProcessRequest] = None,
        server_header: Optional[str] = DEFAULT_SERVER_HEADER,
        # -- Settings: limits
        max_message_size: Optional[int] = 1 << 20,
        max_frame_size: Optional[int] = None,
        max_header_size: Optional[int] = 16 << 10,
        fragment_size: Optional[int] = None,
        # -- Settings: compression
        compression: Optional[Compression] = "deflate",
        deflate_options: Optional[DeflateOptions] = None,
        # -- Settings: timers, in seconds
        ping_interval: Optional[float] = 20.0,
        ping_timeout: Optional[float] = 20.0,
        open_timeout: Optional[float] = 10.0,
        close_timeout: Optional[float] = 10.0,
        # -- Settings: flow control
        max_queue: Optional[int] = 16,
        write_limit: int = 32 << 10,
        # -- Settings: logging
        logger: Optional[LoggerLike] = None,
        # -- Settings: broadcast to slow consumers (see docs/REALTIME.md)
        outgoing_budget: int = 1 << 20,
        slow_consumer: SlowConsumer = "drop",
        slow_consumer_code: int = 1013,
        # -- plain HTTP next to the WebSocket paths
        http_routes: Optional[Mapping[str, HTTPRoute]] = None,
    ) -> None:
        self._server = Server(
            handler,
            Settings.pick(locals()),
            subprotocols=subprotocols,
            extra_headers=extra_headers,
            process_request=process_request,
            server_header=server_header,
            http_routes=http_routes,
        )
        self._host = host
        self._port = port
        self._ssl = ssl

    async def _start(self) -> Server:
        kwargs: dict[str, Any] = {"ssl": self._ssl}
        if self._ssl is not None and self._server.settings.open_timeout is not None:
            # The TLS handshake comes before connection_made: bound it too.
            kwargs["ssl_handshake_timeout"] = self._server.settings.open_timeout
        await self._server.start(self._host, self._port, **kwargs)
        return self._server

    def __await__(self) -> Generator[Any, None, Server]:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        return await self._start()

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        await self._server.wait_closed()
