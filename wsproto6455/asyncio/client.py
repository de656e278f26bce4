"""Client side: the opening handshake and :func:`connect`."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import sys
from typing import Any, AsyncIterator, Generator, Optional, Sequence

from .. import ConnectionType, __version__
from ..errors import RemoteProtocolError
from ..events import AcceptConnection, Event, RejectConnection, RejectData, Request
from ..headers import Headers
from .exceptions import HandshakeRejected, InvalidHandshake, WebSocketError
from .headers import HeadersLike, to_headers
from .._keywords import keyword_options
from .logs import LoggerLike, client_logger
from .options import Compression, DeflateOptions, Settings
from .protocol import WebSocket
from .reconnect import Backoff, Reconnecting
from .uri import parse_uri

DEFAULT_USER_AGENT = (
    f"wsproto6455/{__version__} Python/{sys.version_info[0]}.{sys.version_info[1]}"
)

#: A rejection's body is kept for the exception, up to this size.
MAX_REJECT_BODY = 64 << 10


class ClientConnection(WebSocket):
    """The client end of a connection, returned by :func:`connect`."""

    def __init__(self, request: Request, settings: Settings) -> None:
        super().__init__(settings.new_core(ConnectionType.CLIENT), settings)
        self.request = request
        self._handshake: asyncio.Future[None] = self._loop.create_future()
        self._rejection: Optional[RejectConnection] = None
        self._reject_body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.request is not None
        self._write(self._core.send(self.request))

    def connection_lost(self, exc: Optional[Exception]) -> None:
        super().connection_lost(exc)
        if self._rejection is not None:
            self._handshake_done(self._rejected())
        else:
            error = InvalidHandshake("connection closed during the opening handshake")
            error.closed_early = True
            error.__cause__ = exc
            self._handshake_done(error)

    def _handshake_event(self, event: Event) -> None:
        if type(event) is AcceptConnection:
            self.subprotocol = event.subprotocol
            self.response_headers = Headers(event.extra_headers)
            self._opened()
            self._handshake_done(None)
        elif type(event) is RejectConnection:
            self._rejection = event
            if not event.has_body:
                self._handshake_done(self._rejected())
                self._close_transport()
        elif type(event) is RejectData:
            room = MAX_REJECT_BODY - len(self._reject_body)
            self._reject_body += event.data[:room]
            if event.body_finished:
                self._handshake_done(self._rejected())
                self._close_transport()
            elif len(event.data) > room:
                # Enough to report; don't read (or wait for) the rest.
                self._handshake_done(self._rejected())
                self._abort()

    def _handshake_failed(self, exc: RemoteProtocolError) -> None:
        self._handshake_done(InvalidHandshake(str(exc)))
        self._abort()

    def _rejected(self) -> HandshakeRejected:
        assert self._rejection is not None
        return HandshakeRejected(
            self._rejection.status_code, list(self._rejection.headers), bytes(self._reject_body))

    def _handshake_done(self, error: Optional[WebSocketError]) -> None:
        if self._handshake.done():
            return
        if error is None:
            self._handshake.set_result(None)
        else:
            self._handshake.set_exception(error)
            # connect() may have given up already (open_timeout): don't log it as lost.
            self._handshake.exception()


class connect:
    """Open a client connection to a ``ws://`` or ``wss://`` URI.

    Use ``async with connect(uri) as ws: ...`` (closes on exit) or
    ``ws = await connect(uri)``.

    :param origin: the ``Origin`` header.
    :param subprotocols: offered, in order of preference.
    :param extra_headers: added to the opening handshake request.
    :param ssl: an :class:`ssl.SSLContext` for ``wss://`` (default: the
        system's trust store).
    :param server_hostname: the name TLS checks the certificate against
        (default: the URI's host).
    :param user_agent_header: the ``User-Agent`` header (None: none).
    :param open_timeout: bound on TCP connect, TLS and opening handshake
        together; raises :class:`TimeoutError` (None: no limit).

    The other options are :func:`~wsproto6455.asyncio.serve`'s (limits,
    compression, keepalive, flow control, ``logger``), with the same
    defaults; the default logger is ``wsproto6455.client``.

    ``async for ws in connect(uri): ...`` connects again after each loss,
    with exponential backoff and full jitter between attempts:
    ``backoff_base``, ``backoff_cap`` and ``backoff_factor`` shape the
    delays, which start again once a connection stayed open
    ``backoff_reset_after`` seconds; ``max_retries`` (None: no limit) failed
    attempts in a row raise the last error. Network errors, timeouts, 5xx
    and 429 are retried; other rejections are raised at once. Each failed
    attempt is logged (INFO). See ``docs/ASYNCIO.md``.

    A non-101 answer raises :class:`HandshakeRejected` (status, headers, body);
    any other handshake failure raises :class:`InvalidHandshake`; an unknown
    option raises :class:`TypeError` naming ``connect()``, with our name for
    an option of websockets or aiohttp (``additional_headers=``...).
    """

    @keyword_options("connect()")
    def __init__(
        self,
        uri: str,
        *,
        origin: Optional[str] = None,
        subprotocols: Optional[Sequence[str]] = None,
        extra_headers: Optional[HeadersLike] = None,
        ssl: Optional[ssl_module.SSLContext] = None,
        server_hostname: Optional[str] = None,
        user_agent_header: Optional[str] = DEFAULT_USER_AGENT,
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
        # -- reconnection (``async for ws in connect(...)``), in seconds
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        backoff_factor: float = 2.0,
        backoff_reset_after: float = 10.0,
        max_retries: Optional[int] = None,
    ) -> None:
        self._uri_string = uri
        self._uri = parse_uri(uri)
        self._backoff = Backoff(backoff_base, backoff_cap, backoff_factor, backoff_reset_after, max_retries)
        self._settings = Settings.pick(locals())
        if self._uri.secure:
            self._ssl: Optional[ssl_module.SSLContext] = ssl or ssl_module.create_default_context()
        elif ssl is not None:
            raise ValueError("ssl= needs a wss:// URI")
        else:
            self._ssl = None
        self._server_hostname = server_hostname
        self._headers = to_headers(extra_headers or [])
        if origin is not None:
            self._headers.append((b"origin", origin.encode("latin-1")))
        if user_agent_header:
            self._headers.append((b"user-agent", user_agent_header.encode("latin-1")))
        self._subprotocols = list(subprotocols or [])
        self._ws: Optional[ClientConnection] = None

    async def _open(self) -> ClientConnection:
        uri = self._uri
        settings = self._settings
        request = Request(
            host=uri.host_header,
            target=uri.resource_name,
            extensions=settings.new_extensions(client=True),
            extra_headers=list(self._headers),
            subprotocols=list(self._subprotocols),
        )
        loop = asyncio.get_running_loop()
        server_hostname = None
        if self._ssl is not None:
            server_hostname = self._server_hostname or uri.host

        async def establish() -> ClientConnection:
            transport, ws = await loop.create_connection(
                lambda: ClientConnection(request, settings),
                uri.host, uri.port, ssl=self._ssl, server_hostname=server_hostname)
            try:
                await ws._handshake
            except BaseException:
                transport.abort()
                raise
            return ws

        if settings.open_timeout is None:
            return await establish()
        try:
            return await asyncio.wait_for(establish(), settings.open_timeout)
        except asyncio.TimeoutError:
            # The builtin TimeoutError on every version (a distinct class before 3.11).
            raise TimeoutError(f"opening handshake not done within {settings.open_timeout} s") from None

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        """``ws = await connect(uri)``: one connection (no retries)."""
        return self._open().__await__()

    def __aiter__(self) -> AsyncIterator[ClientConnection]:
        """A new connection after each loss (see :mod:`.reconnect`)."""
        return Reconnecting(self, self._backoff, self._settings.logger or client_logger)

    async def __aenter__(self) -> ClientConnection:
        self._ws = await self._open()
        return self._ws

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._ws is not None
        await self._ws.close()

