"""Exceptions raised by the asyncio integration: shared with the sync client."""

from ..io_common.exceptions import (
    OK_CODES,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeRejected,
    InvalidHandshake,
    InvalidURI,
    WebSocketError,
    closed_error,
)

__all__ = [
    "OK_CODES",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "HandshakeRejected",
    "InvalidHandshake",
    "InvalidURI",
    "WebSocketError",
    "closed_error",
]
