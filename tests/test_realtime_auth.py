"""jwt_auth: tokens checked before the 101, over real sockets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from typing import Any, Dict, List

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from wsproto6455.asyncio import HandshakeRejected, ServerConnection, connect, serve
from wsproto6455.asyncio.headers import get_header
from wsproto6455.realtime import jwt_auth

from tests.test_asyncio_support import HOST, async_test

SECRET = "a secret of thirty-two bytes or more, for HS256"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: Dict[str, Any], claims: Dict[str, Any], hmac_key: bytes = b"") -> str:
    """A token built by hand, as an attacker would."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest() if hmac_key else b""
    return signing_input + "." + b64url(signature)


class Claims:
    def __init__(self) -> None:
        self.seen: List[Any] = []

    async def handler(self, ws: ServerConnection) -> None:
        self.seen.append(ws.claims)
        await ws.wait_closed()


async def status_of(url: str, **kwargs: Any) -> int:
    try:
        async with connect(url, **kwargs):
            return 101
    except HandshakeRejected as exc:
        return exc.status


@async_test()
async def test_hs256_token_from_query_or_header_gives_claims() -> None:
    app = Claims()
    auth = jwt_auth(SECRET, algorithms=["HS256"], audience="chat", issuer="me")
    good = jwt.encode({"sub": "ann", "aud": "chat", "iss": "me", "exp": time.time() + 60},
                      SECRET, algorithm="HS256")
    async with serve(app.handler, HOST, 0, process_request=auth) as server:
        url = f"ws://{HOST}:{server.port}/"
        assert await status_of(f"{url}?token={good}") == 101
        assert await status_of(url, extra_headers={"Authorization": f"Bearer {good}"}) == 101
        assert [claims["sub"] for claims in app.seen] == ["ann", "ann"]

        with pytest.raises(HandshakeRejected) as missing:
            await connect(url)
        assert missing.value.status == 401
        assert get_header(missing.value.headers, "www-authenticate") == 'Bearer realm="websocket"'

        def token(**overrides: Any) -> str:
            claims = {"sub": "ann", "aud": "chat", "iss": "me", "exp": time.time() + 60, **overrides}
            return jwt.encode(claims, SECRET, algorithm="HS256")

        refused = [
            token(exp=time.time() - 10),                  # expired
            token(aud="other"),                           # wrong audience
            token(iss="someone"),                         # wrong issuer
            token(nbf=time.time() + 60),                  # not yet valid
            jwt.encode({"sub": "ann", "aud": "chat", "iss": "me"}, "another secret, also of 32 bytes or more",
                       algorithm="HS256"),                # wrong signature
            forge({"alg": "none", "typ": "JWT"}, {"sub": "ann", "aud": "chat", "iss": "me"}),
            "not.a.token",
        ]
        for bad in refused:
            assert await status_of(f"{url}?token={bad}") == 403, bad
        assert await status_of(url, extra_headers={"Authorization": "Basic abc"}) == 401
        assert server.metrics()["auth_rejections"] == 1 + len(refused) + 1
        assert len(app.seen) == 2


@async_test()
async def test_rs256_and_algorithm_confusion() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    # Building the hook refuses the confusable configurations outright.
    for algorithms in (["HS256"], ["RS256", "HS256"], ["none"], ["RS256", "none"], []):
        with pytest.raises(ValueError):
            jwt_auth(public_pem, algorithms=algorithms)
    with pytest.raises(ValueError):
        jwt_auth(public_pem.decode(), algorithms=["HS256"])
    app = Claims()
    auth = jwt_auth(public_pem, algorithms=["RS256"])
    async with serve(app.handler, HOST, 0, process_request=auth) as server:
        url = f"ws://{HOST}:{server.port}/"
        good = jwt.encode({"sub": "bob"}, private, algorithm="RS256")
        assert await status_of(f"{url}?token={good}") == 101
        # The classic attack: an HS256 token signed with the public key's text.
        confused = forge({"alg": "HS256", "typ": "JWT"}, {"sub": "mallory"}, hmac_key=public_pem)
        assert await status_of(f"{url}?token={confused}") == 403
        unsigned = forge({"alg": "none", "typ": "JWT"}, {"sub": "mallory"})
        assert await status_of(f"{url}?token={unsigned}") == 403
        assert [claims["sub"] for claims in app.seen] == ["bob"]


@async_test(timeout=15)
async def test_close_on_expiry_closes_with_1008() -> None:
    app = Claims()
    auth = jwt_auth(SECRET, algorithms=["HS256"], close_on_expiry=True)
    async with serve(app.handler, HOST, 0, process_request=auth) as server:
        token = jwt.encode({"sub": "ann", "exp": int(time.time()) + 2}, SECRET, algorithm="HS256")
        lasting = jwt.encode({"sub": "bob", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
        ws = await connect(f"ws://{HOST}:{server.port}/?token={token}")
        other = await connect(f"ws://{HOST}:{server.port}/?token={lasting}")
        await ws.wait_closed()
        assert ws.close_code == 1008 and ws.close_reason == "token expired"
        assert other.close_code is None  # its token is still valid
        await other.close()


def test_importing_realtime_does_not_import_jwt() -> None:
    code = ("import sys, wsproto6455.realtime, wsproto6455.realtime.auth; "
            "assert 'jwt' not in sys.modules, 'jwt imported'; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
