"""``wsproto.handshake``: the handshake class and extension negotiation helpers.

``H11Handshake`` is wsproto6455's own handshake (same constructor, ``state``,
``connection``, ``send``, ``receive_data``, ``events`` and
``initiate_upgrade_connection``); it parses HTTP itself instead of with h11.

The two negotiation helpers keep wsproto's shapes (lists of ``"name; params"``
strings in, a header value or extension list out) over wsproto6455's
RFC 7230 grammar and first-acceptable-offer rule.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from wsproto6455 import http as _http
from wsproto6455.errors import RemoteProtocolError
from wsproto6455.events import RejectConnection
from wsproto6455.extensions.base import Extension
from wsproto6455.handshake import WEBSOCKET_VERSION
from wsproto6455.handshake import Handshake as H11Handshake
from wsproto6455.handshake import finalize_client_extensions, negotiate_server_extensions

__all__ = [
    "H11Handshake",
    "WEBSOCKET_UPGRADE",
    "WEBSOCKET_VERSION",
    "client_extensions_handshake",
    "server_extensions_handshake",
]

#: RFC 6455 §4.2.1: the value of the Upgrade header.
WEBSOCKET_UPGRADE = b"websocket"


def _parse(items: Iterable[str]) -> list[_http.ExtensionItem]:
    """Reparse wsproto-style pieces with the strict grammar; a piece that is
    not a valid extension offer is ignored, as an unknown one would be."""
    parsed: list[_http.ExtensionItem] = []
    for item in items:
        try:
            parsed.extend(_http.parse_extension_list([item.encode("latin-1")]))
        except (_http.HTTPError, UnicodeEncodeError):
            continue
    return parsed


def server_extensions_handshake(
    requested: Iterable[str], supported: Sequence[Extension]
) -> Optional[bytes]:
    """Server: accept what we can of the client's offers.

    ``requested`` holds the offers (``"permessage-deflate; client_max_window_bits"``),
    ``supported`` the extension objects, which are enabled as a side effect.
    Returns the ``Sec-WebSocket-Extensions`` response value, or None when
    nothing was accepted.
    """
    accepted = negotiate_server_extensions(_parse(requested), supported)
    if not accepted:
        return None
    return ", ".join(accepted.values()).encode("ascii")


def client_extensions_handshake(
    accepted: Iterable[str], supported: Sequence[Extension]
) -> list[Extension]:
    """Client: finalize the extensions the server accepted.

    Raises :class:`RemoteProtocolError` if the server accepted one we did
    not offer (or offered parameters the extension refuses).
    """
    try:
        items = _http.parse_extension_list([a.encode("latin-1") for a in accepted])
    except (_http.HTTPError, UnicodeEncodeError) as exc:
        raise RemoteProtocolError(str(exc), event_hint=RejectConnection()) from None
    return finalize_client_extensions(items, supported)
