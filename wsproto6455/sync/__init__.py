"""A blocking WebSocket client for scripts and tests, on the sans-IO core.

``with connect("ws://host/path") as ws: ws.send("hi"); print(ws.recv(timeout=5))``.
Stdlib only (socket, ssl, threading): a background thread per connection
reads, answers pings and completes the closing handshake. See the README.
"""

from ..io_common.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeRejected,
    InvalidHandshake,
    InvalidURI,
    WebSocketError,
)
from .client import connect
from .connection import ClientConnection, PongWaiter

__all__ = [
    "ClientConnection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "HandshakeRejected",
    "InvalidHandshake",
    "InvalidURI",
    "PongWaiter",
    "WebSocketError",
    "connect",
]
