"""``wsproto.utilities``: errors and the small HTTP helpers frameworks import.

The errors are wsproto6455's classes (one hierarchy, so ``except`` clauses
written against either name catch the same exceptions). The helpers keep
wsproto's exact input/output shapes because frameworks feed their results
into each other (hypercorn: ``split_comma_header`` ->
``server_extensions_handshake``).
"""

from __future__ import annotations

from typing import Iterable

from wsproto6455.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from wsproto6455.handshake import ACCEPT_GUID, generate_nonce
from wsproto6455.handshake import accept_token as _accept_token

__all__ = [
    "ACCEPT_GUID",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "generate_accept_token",
    "generate_nonce",
    "normed_header_dict",
    "split_comma_header",
]


def generate_accept_token(token: bytes) -> bytes:
    """RFC 6455 §4.2.2: the ``Sec-WebSocket-Accept`` value for a key."""
    return _accept_token(token)


def normed_header_dict(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """Header name -> values joined with ``", "`` (names are not re-cased,
    as in wsproto: callers pass lower-cased names)."""
    joined: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        joined.setdefault(name, []).append(value)
    return {name: b", ".join(values) for name, values in joined.items()}


def split_comma_header(value: bytes) -> list[str]:
    """Split a comma-separated header value into stripped ASCII strings.

    Deliberately naive (a comma inside a quoted extension parameter splits
    too), as wsproto's is: frameworks pass the pieces back to
    :func:`~wsproto.handshake.server_extensions_handshake`, which reparses
    each piece with the strict grammar.
    """
    return [piece.decode("ascii").strip() for piece in value.split(b",")]
