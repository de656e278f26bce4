"""Blocking client: the opening handshake over a socket, then a :class:`ClientConnection`."""

from __future__ import annotations

import socket
import ssl as ssl_module
import sys
import time
from typing import Any, Mapping, Optional, Sequence

from .. import ConnectionType, WSConnection, __version__
from .._keywords import keyword_options
from ..errors import RemoteProtocolError
from ..events import AcceptConnection, Event, RejectConnection, RejectData, Request
from ..extensions import Extension, PerMessageDeflate
from ..io_common.exceptions import HandshakeRejected, InvalidHandshake
from ..io_common.headers import HeadersLike, to_headers
from ..io_common.uri import parse_uri
from .connection import READ_SIZE, ClientConnection

DEFAULT_USER_AGENT = (
    f"wsproto6455/{__version__} Python/{sys.version_info[0]}.{sys.version_info[1]} (sync)"
)

#: A rejection's body is kept for the exception, up to this size.
MAX_REJECT_BODY = 64 << 10


@keyword_options("wsproto6455.sync.connect()")
def connect(
    uri: str,
    *,
    origin: Optional[str] = None,
    subprotocols: Optional[Sequence[str]] = None,
    extra_headers: Optional[HeadersLike] = None,
    ssl: Optional[ssl_module.SSLContext] = None,
    server_hostname: Optional[str] = None,
    user_agent_header: Optional[str] = DEFAULT_USER_AGENT,
    compression: Optional[str] = "deflate",
    deflate_options: Optional[Mapping[str, Any]] = None,
    max_message_size: Optional[int] = 1 << 20,
    max_frame_size: Optional[int] = None,
    max_header_size: Optional[int] = 16 << 10,
    fragment_size: Optional[int] = None,
    open_timeout: Optional[float] = 10.0,
    close_timeout: Optional[float] = 10.0,
    ping_interval: Optional[float] = None,
    ping_timeout: Optional[float] = 20.0,
    max_queue: Optional[int] = 16,
) -> ClientConnection:
    """Open a blocking client connection to a ``ws://`` or ``wss://`` URI.

    Use ``with connect(uri) as ws:`` (closes on exit) or ``ws = connect(uri)``
    then ``ws.close()``. The options are those of
    :func:`wsproto6455.asyncio.connect`, with the same defaults, except:

    :param ping_interval: seconds between keepalive pings (a thread sends
        them); ``None`` (the default): no keepalive. Pings from the server
        are always answered.
    :param ping_timeout: with ``ping_interval``, no pong within this many
        seconds fails the connection with 1011.
    :param max_queue: unread messages held before reading from the socket
        pauses (``None``: unbounded).

    ``compression="deflate"`` (the default) offers permessage-deflate with
    ``PerMessageDeflate(**deflate_options)``; ``None`` offers nothing.
    ``open_timeout`` bounds TCP connect, TLS and the opening handshake
    together (:class:`TimeoutError`). A non-101 answer raises
    :class:`HandshakeRejected`; another handshake failure
    :class:`InvalidHandshake`.
    """
    target = parse_uri(uri)
    if compression not in ("deflate", None):
        raise ValueError(f"compression must be 'deflate' or None, not {compression!r}")
    if deflate_options and compression is None:
        raise ValueError("deflate_options given but compression is None")
    for name, value in (("open_timeout", open_timeout), ("close_timeout", close_timeout),
                        ("ping_interval", ping_interval), ("ping_timeout", ping_timeout)):
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive (or None)")
    if max_queue is not None and max_queue < 1:
        raise ValueError("max_queue must be at least 1 (or None)")
    if target.secure:
        context: Optional[ssl_module.SSLContext] = ssl or ssl_module.create_default_context()
    elif ssl is not None:
        raise ValueError("ssl= needs a wss:// URI")
    else:
        context = None
    extensions: list[Extension] = (
        [PerMessageDeflate(**dict(deflate_options or {}))] if compression else [])
    headers = to_headers(extra_headers or [])
    if origin is not None:
        headers.append((b"origin", origin.encode("latin-1")))
    if user_agent_header:
        headers.append((b"user-agent", user_agent_header.encode("latin-1")))
    request = Request(host=target.host_header, target=target.resource_name,
                      extensions=extensions, extra_headers=headers,
                      subprotocols=list(subprotocols or []))
    core = WSConnection(ConnectionType.CLIENT, max_message_size=max_message_size,
                        max_frame_size=max_frame_size, max_header_size=max_header_size,
                        fragment_size=fragment_size, whole_messages=True)

    deadline = None if open_timeout is None else time.monotonic() + open_timeout
    try:
        sock = socket.create_connection((target.host, target.port), timeout=open_timeout)
    except socket.timeout:
        raise TimeoutError(f"TCP connection not made within {open_timeout} s") from None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:
            _settimeout(sock, deadline)
            sock = context.wrap_socket(sock, server_hostname=server_hostname or target.host)
        accept, pending = _handshake(sock, core, request, deadline)
        sock.settimeout(None)                  # from now on the reader thread blocks
    except BaseException as exc:
        sock.close()
        if isinstance(exc, socket.timeout):
            raise TimeoutError(f"opening handshake not done within {open_timeout} s") from None
        raise
    return ClientConnection(
        sock, core, request=request, subprotocol=accept.subprotocol,
        response_headers=list(accept.extra_headers), pending=pending, max_queue=max_queue,
        close_timeout=close_timeout, ping_interval=ping_interval, ping_timeout=ping_timeout)


def _settimeout(sock: socket.socket, deadline: Optional[float]) -> None:
    if deadline is None:
        sock.settimeout(None)
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise socket.timeout()
    sock.settimeout(remaining)


def _handshake(sock: socket.socket, core: WSConnection, request: Request,
               deadline: Optional[float]) -> tuple[AcceptConnection, list[Event]]:
    """Send the request, read until the answer; return it and the events after it."""
    _settimeout(sock, deadline)
    sock.sendall(core.send(request))
    rejection: Optional[RejectConnection] = None
    body = bytearray()
    while True:
        _settimeout(sock, deadline)
        data = sock.recv(READ_SIZE)
        try:
            core.receive_data(data or None)
            events = list(core.events())
        except RemoteProtocolError as exc:
            raise InvalidHandshake(str(exc)) from None
        for index, event in enumerate(events):
            if isinstance(event, AcceptConnection):
                return event, events[index + 1:]
            if isinstance(event, RejectConnection):
                rejection = event
                if not event.has_body:
                    raise HandshakeRejected(event.status_code, list(event.headers))
            elif isinstance(event, RejectData) and rejection is not None:
                body += event.data[: MAX_REJECT_BODY - len(body)]
                if event.body_finished or len(body) >= MAX_REJECT_BODY:
                    raise HandshakeRejected(rejection.status_code, list(rejection.headers),
                                            bytes(body))
        if not data:
            if rejection is not None:
                raise HandshakeRejected(rejection.status_code, list(rejection.headers), bytes(body))
            error = InvalidHandshake("connection closed during the opening handshake")
            error.closed_early = True
            raise error
