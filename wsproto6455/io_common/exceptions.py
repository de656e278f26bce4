"""Exceptions raised by the I/O layers (asyncio and sync)."""

from __future__ import annotations

from typing import Optional

from ..typing import Headers


class WebSocketError(Exception):
    """Base class of the exceptions raised by :mod:`wsproto6455.asyncio` and :mod:`wsproto6455.sync`."""


class ConnectionClosed(WebSocketError):
    """The connection is closed (or closing): no more messages can be exchanged.

    ``code`` and ``reason`` are those of :attr:`WebSocket.close_code` and
    :attr:`WebSocket.close_reason` when the exception was raised.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = int(code)  # a plain int, never a CloseReason member
        self.reason = reason
        super().__init__(f"connection closed: {code} {reason}".rstrip())


#: Codes of a normal end: normal closure, going away, and a close frame without a code.
OK_CODES = frozenset({1000, 1001, 1005})


class ConnectionClosedOK(ConnectionClosed):
    """Closed with 1000 (normal closure), 1001 (going away) or 1005 (no code given)."""


class ConnectionClosedError(ConnectionClosed):
    """Closed with any other code, or without a closing handshake (1006)."""


def closed_error(code: int, reason: str) -> ConnectionClosed:
    """The exception that matches a close code."""
    if code in OK_CODES:
        return ConnectionClosedOK(code, reason)
    return ConnectionClosedError(code, reason)


class InvalidURI(WebSocketError, ValueError):
    """The URI is not a ``ws://`` or ``wss://`` URI."""


class InvalidHandshake(WebSocketError):
    """The opening handshake failed (client side)."""

    #: True when the connection closed before the server answered (worth
    #: retrying: the server may be restarting).
    closed_early = False


class HandshakeRejected(InvalidHandshake):
    """The server answered the opening handshake with an HTTP response
    other than 101: ``status``, ``headers`` and ``body`` carry it."""

    def __init__(self, status: int, headers: Headers, body: bytes = b"",
                 reason: Optional[str] = None) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        super().__init__(reason or f"server rejected the WebSocket handshake: HTTP {status}")
