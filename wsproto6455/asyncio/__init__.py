"""asyncio integration of the wsproto6455 sans-IO core.

``serve(handler, host, port)`` and ``connect(uri)`` give :class:`WebSocket`
objects with ``send``, ``recv``, ``async for``, ``ping`` and ``close``.
See ``docs/ASYNCIO.md``.
"""

from ..headers import Headers
from .broadcast import broadcast
from .client import ClientConnection, connect
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeRejected,
    InvalidHandshake,
    InvalidURI,
    WebSocketError,
)
from .headers import get_header
from .options import DeflateOptions, Settings
from .protocol import Address, WebSocket
from .server import Server, ServerConnection, serve

__all__ = [
    "Address",
    "broadcast",
    "ClientConnection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "DeflateOptions",
    "HandshakeRejected",
    "Headers",
    "InvalidHandshake",
    "InvalidURI",
    "Server",
    "ServerConnection",
    "Settings",
    "WebSocket",
    "WebSocketError",
    "connect",
    "get_header",
    "serve",
]
