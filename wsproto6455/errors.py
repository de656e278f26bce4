"""Exceptions of the public API, and the internal fault that fails a connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .events import Event


class ProtocolError(Exception):
    """Base class of the errors this library raises."""


class LocalProtocolError(ProtocolError):
    """The local program asked for something the protocol or the state forbids."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the opening handshake.

    ``event_hint`` is the rejection to send to the peer (a server's
    :class:`~wsproto6455.events.RejectConnection`), or None when there is
    nothing to send (e.g. a client facing a bad response).
    """

    def __init__(self, message: str, event_hint: Optional["Event"] = None) -> None:
        self.event_hint = event_hint
        #: Server: ``(method, target)`` of a well-formed HTTP request refused
        #: as an opening handshake, so an embedder may serve it as plain
        #: HTTP (e.g. a health check); None otherwise.
        self.request_line: Optional[tuple[bytes, bytes]] = None
        super().__init__(message)


class ProtocolFault(Exception):
    """Internal: the peer broke the protocol after the handshake.

    Raised by the frame, message and extension layers; the connection turns
    it into a :class:`~wsproto6455.events.CloseConnection` with ``code``
    and stops interpreting input.
    """

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")
