"""Parsing of ``ws://`` and ``wss://`` URIs (RFC 6455 §3)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .exceptions import InvalidURI


@dataclass(frozen=True)
class WebSocketURI:
    """The parts of a WebSocket URI that the opening handshake needs."""

    secure: bool
    host: str
    port: int
    resource_name: str

    @property
    def host_header(self) -> str:
        """The ``Host`` header: the port is omitted when it is the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == (443 if self.secure else 80):
            return host
        return f"{host}:{self.port}"


def parse_uri(uri: str) -> WebSocketURI:
    """Split a WebSocket URI; raise :class:`InvalidURI` for anything else."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise InvalidURI(f"{uri!r}: {exc}") from None
    if parts.scheme not in ("ws", "wss"):
        raise InvalidURI(f"{uri!r} is not a ws:// or wss:// URI")
    # RFC 6455 §3: fragment identifiers MUST NOT be used with WebSocket URIs.
    if parts.fragment:
        raise InvalidURI(f"{uri!r} has a fragment")
    if not parts.hostname:
        raise InvalidURI(f"{uri!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidURI(f"{uri!r}: user information is not supported")
    secure = parts.scheme == "wss"
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    return WebSocketURI(
        secure=secure,
        host=parts.hostname,
        port=port if port is not None else (443 if secure else 80),
        resource_name=resource,
    )
