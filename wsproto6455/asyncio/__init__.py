"""asyncio integration of the wsproto6455 sans-IO core.

``serve(handler, host, port)`` and ``connect(uri)`` give :class:`WebSocket`
objects with ``send``, ``recv``, ``async for``, ``ping`` and ``close``.
See ``docs/ASYNCIO.md``.
"""

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
from .options import DeflateOptions, Settings
from .protocol import WebSocket
from .server import Server, ServerConnection, serve

__all__ = [
    "broadcast",
    "ClientConnection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "DeflateOptions",
    "HandshakeRejected",
    "InvalidHandshake",
    "InvalidURI",
    "Server",
    "ServerConnection",
    "Settings",
    "WebSocket",
    "WebSocketError",
    "connect",
    "serve",
]
