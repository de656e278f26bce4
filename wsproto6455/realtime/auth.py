"""JWT authentication at the handshake, before the 101.

``jwt_auth(key, algorithms=[...])`` returns a ``process_request``. PyJWT
(``pip install wsproto6455[jwt]``; ``[jwt,crypto]`` adds RSA/EC via
``cryptography``) is imported when ``jwt_auth`` is called, never by
importing :mod:`wsproto6455.realtime`.

Refusals: no token: 401 with ``WWW-Authenticate: Bearer``; a token that is
malformed, wrongly signed, expired, not yet valid, of the wrong audience or
issuer, or signed with an algorithm not in ``algorithms``: 403. ``alg:
none`` is refused by construction (``"none"`` may not be listed), and so is
algorithm confusion: an HMAC algorithm listed beside a public key, whose
text an attacker could use as the HMAC secret, is a ``ValueError`` when the
hook is built (PyJWT refuses it too when verifying).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Dict, Optional, Sequence
from urllib.parse import parse_qs, urlsplit

from ..asyncio.headers import get_header
from ..asyncio.server import HTTPResponse, ProcessRequest, ServerConnection
from ..events import Request

logger = logging.getLogger("wsproto6455.realtime")

_CLOSE_POLICY_VIOLATION = 1008
_HMAC = ("HS256", "HS384", "HS512")
_PUBLIC_KEY_MARKERS = (b"-----BEGIN", b"ssh-rsa", b"ssh-ed25519", b"ecdsa-sha2-")


def jwt_auth(
    key: Any,
    *,
    algorithms: Sequence[str],
    audience: Optional[str] = None,
    issuer: Optional[str] = None,
    leeway: float = 0,
    query_param: str = "token",
    close_on_expiry: bool = False,
    realm: str = "websocket",
) -> ProcessRequest:
    """A ``process_request`` that admits only clients with a valid JWT.

    The token is read from the ``token`` query parameter (browsers cannot
    set headers on a WebSocket) or from ``Authorization: Bearer <token>``.
    On success the verified claims are ``ws.claims``. ``close_on_expiry``
    closes the connection with 1008 when the token's ``exp`` passes
    (plus ``leeway``).
    """
    import jwt  # the optional dependency, only now

    algorithms = list(algorithms)
    if not algorithms:
        raise ValueError("algorithms must name at least one algorithm")
    if any(alg.lower() == "none" for alg in algorithms):
        raise ValueError("the 'none' algorithm is never accepted")
    if any(alg in _HMAC for alg in algorithms) and _looks_public(key):
        raise ValueError("an HMAC algorithm with a public key allows forged tokens "
                         "(algorithm confusion): list only asymmetric algorithms")
    if any(alg in _HMAC for alg in algorithms) and not all(alg in _HMAC for alg in algorithms):
        raise ValueError("HMAC and public-key algorithms cannot share one key")
    decoder = jwt.PyJWT()
    unauthorized: HTTPResponse = (
        401,
        [("WWW-Authenticate", f'Bearer realm="{realm}"'), ("Content-Type", "text/plain")],
        b"missing token\n",
    )

    def process_request(ws: ServerConnection, request: Request) -> Optional[HTTPResponse]:
        token = _token_of(request, query_param)
        if token is None:
            ws.server.stats.count("auth_rejections")
            return unauthorized
        try:
            claims: Dict[str, Any] = decoder.decode(
                token, key, algorithms=algorithms, audience=audience, issuer=issuer, leeway=leeway,
            )
        except jwt.PyJWTError as exc:
            ws.server.stats.count("auth_rejections")
            logger.info("refused a token from %s: %s", ws.remote_address, exc)
            return (
                403,
                [("WWW-Authenticate", f'Bearer realm="{realm}", error="invalid_token"'),
                 ("Content-Type", "text/plain")],
                b"invalid token\n",
            )
        ws.claims = claims
        if close_on_expiry and isinstance(claims.get("exp"), (int, float)):
            _close_at(ws, float(claims["exp"]) + leeway)
        return None

    return process_request


def _token_of(request: Request, query_param: str) -> Optional[str]:
    query = urlsplit(request.target).query
    if query:
        values = parse_qs(query).get(query_param)
        if values and values[0]:
            return values[0]
    header = get_header(request.extra_headers, "authorization")
    if header is not None:
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None


def _close_at(ws: ServerConnection, expiry: float) -> None:
    """Close ``ws`` with 1008 once the wall clock passes ``expiry``."""
    loop = asyncio.get_running_loop()
    delay = max(0.0, expiry - time.time())

    def expire() -> None:
        if ws.state == "OPEN":
            ws._start_close(_CLOSE_POLICY_VIOLATION, "token expired")
        elif ws.state == "CONNECTING":
            ws._abort()

    handle = loop.call_later(delay, expire)
    ws._closed.add_done_callback(lambda _: handle.cancel())


def _looks_public(key: Any) -> bool:
    if isinstance(key, str):
        key = key.encode("utf-8", "replace")
    if isinstance(key, (bytes, bytearray)):
        stripped = bytes(key).lstrip()
        return any(stripped.startswith(marker) for marker in _PUBLIC_KEY_MARKERS)
    return True  # a key object (RSA, EC, ...): never an HMAC secret

