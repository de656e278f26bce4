"""Handshake hooks and headers: select_subprotocol, process_response, the
subprotocol policy, and request/response headers as a case-insensitive
mapping, against real clients (ours and websockets')."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import pytest
import websockets
from websockets.asyncio.client import connect as ws_connect

from tests.test_asyncio_support import HOST, async_test
from wsproto6455.asyncio import (
    HandshakeRejected,
    Headers,
    ServerConnection,
    connect,
    get_header,
    serve,
)
from wsproto6455.events import AcceptConnection, Request


async def report(ws: ServerConnection) -> None:
    await ws.send(repr(ws.subprotocol))


# -- Headers ------------------------------------------------------------------

def test_headers_is_a_case_insensitive_str_mapping_over_the_raw_pairs() -> None:
    raw = [(b"Host", b"example.com"), (b"X-Multi", b"a"), (b"x-multi", b"b"), (b"X-Caf\xe9", b"cr\xe8me")]
    headers = Headers(raw)
    assert headers["host"] == headers["HOST"] == "example.com"
    assert headers["x-multi"] == "a, b" and headers.get_all("X-MULTI") == ["a", "b"]
    assert headers["x-caf\xe9"] == "cr\xe8me"  # ISO-8859-1, as on the wire
    assert list(headers) == ["host", "x-multi", "x-caf\xe9"] and len(headers) == 3
    assert "Host" in headers and "nope" not in headers and 42 not in headers
    assert headers.get("nope") is None and headers.get_all("nope") == []
    with pytest.raises(KeyError):
        headers["nope"]
    assert headers.raw is raw and headers == raw and headers == Headers(list(raw))
    assert dict(headers.items())["x-multi"] == "a, b"
    assert get_header(raw, "X-MULTI") == "a" and get_header(headers, "X-MULTI") == "a"


@async_test()
async def test_request_and_response_headers_on_both_ends() -> None:
    seen: dict[str, Any] = {}

    async def handler(ws: ServerConnection) -> None:
        headers = ws.request_headers
        seen.update(token=headers["x-token"], multi=headers.get_all("X-Multi"),
                    agent=headers["User-Agent"], same=ws.request_headers is headers,
                    raw=(b"x-token", b"abc") in [(k.lower(), v) for k, v in headers.raw])
        await ws.send("ok")

    async with serve(handler, HOST, 0, extra_headers={"X-Server": "yes"}) as server:
        async with connect(f"ws://{HOST}:{server.port}/", user_agent_header="agent/1",
                           extra_headers=[("X-Token", "abc"), ("X-Multi", "1"), ("X-Multi", "2")]) as ws:
            assert await ws.recv() == "ok"
            assert isinstance(ws.response_headers, Headers)
            assert ws.response_headers["X-SERVER"] == "yes"
            assert ws.request_headers["x-token"] == "abc"  # the client's own request
    assert seen == dict(token="abc", multi=["1", "2"], agent="agent/1", same=True, raw=True)


# -- select_subprotocol ----------------------------------------------------------------

@async_test()
async def test_select_subprotocol_hook_chooses() -> None:
    calls: list[tuple[str, list[str]]] = []

    def by_server_preference(ws: ServerConnection, offered: Sequence[str]) -> Optional[str]:
        calls.append((ws.request_headers["x-app"], list(offered)))
        for name in ("v3", "v2", "v1"):
            if name in offered:
                return name
        return None

    async with serve(report, HOST, 0, subprotocols=["v1"], select_subprotocol=by_server_preference) as server:
        url = f"ws://{HOST}:{server.port}/"
        async with connect(url, subprotocols=["v1", "v2"], extra_headers={"X-App": "a"}) as ws:
            assert ws.subprotocol == "v2" and await ws.recv() == "'v2'"
        # The hook may accept without a subprotocol: no 400 then.
        async with connect(url, subprotocols=["other"], extra_headers={"X-App": "b"}) as ws:
            assert ws.subprotocol is None and await ws.recv() == "None"
        async with ws_connect(url, subprotocols=["v3"], additional_headers={"X-App": "c"}) as peer:  # type: ignore[list-item]
            assert peer.subprotocol == "v3"
    assert calls == [("a", ["v1", "v2"]), ("b", ["other"]), ("c", ["v3"])]


@async_test()
async def test_a_hook_choosing_what_was_not_offered_is_a_500() -> None:
    async with serve(report, HOST, 0, select_subprotocol=lambda ws, offered: "never-offered") as server:
        with pytest.raises(HandshakeRejected) as info:
            await connect(f"ws://{HOST}:{server.port}/", subprotocols=["x"])
    assert info.value.status == 500


@async_test()
async def test_default_policy_only_unsupported_offers_get_400() -> None:
    async with serve(report, HOST, 0, subprotocols=["chat", "superchat"]) as server:
        url = f"ws://{HOST}:{server.port}/"
        with pytest.raises(HandshakeRejected) as info:
            await connect(url, subprotocols=["mqtt", "soap"])
        assert info.value.status == 400
        assert info.value.body == b"unsupported subprotocol: offered mqtt, soap; supported: chat, superchat\n"
        assert get_header(info.value.headers, "content-type") == "text/plain; charset=utf-8"
        async with connect(url, subprotocols=["soap", "superchat", "chat"]) as ws:
            assert ws.subprotocol == "superchat"  # the client's preference among ours
        async with connect(url) as ws:  # offering none: accepted without one
            assert ws.subprotocol is None
    async with serve(report, HOST, 0) as server:  # a server without subprotocols ignores offers
        async with connect(f"ws://{HOST}:{server.port}/", subprotocols=["mqtt"]) as ws:
            assert ws.subprotocol is None and await ws.recv() == "None"


# -- process_response ---------------------------------------------------------------------

@async_test()
async def test_process_response_modifies_replaces_or_rejects() -> None:
    seen: list[tuple[str, Optional[str]]] = []

    async def hook(ws: ServerConnection, request: Request, response: AcceptConnection) -> Any:
        seen.append((request.target, response.subprotocol))
        if request.target == "/add":
            response.extra_headers.append((b"X-Added", b"1"))
            return None
        if request.target == "/replace":
            return dataclasses.replace(response, subprotocol=None,
                                       extra_headers=[(b"X-Replaced", b"yes")])
        if request.target == "/reject":
            return 401, [("WWW-Authenticate", "Bearer")], b"token expired\n"
        return None

    async with serve(report, HOST, 0, subprotocols=["chat"], process_response=hook,
                     server_header=None) as server:
        url = f"ws://{HOST}:{server.port}"
        async with connect(f"{url}/add", subprotocols=["chat"]) as ws:
            assert ws.response_headers["x-added"] == "1" and ws.subprotocol == "chat"
        async with connect(f"{url}/replace", subprotocols=["chat"]) as ws:
            assert ws.response_headers.raw == [(b"x-replaced", b"yes")]
            assert ws.subprotocol is None and await ws.recv() == "None"
        with pytest.raises(HandshakeRejected) as info:
            await connect(f"{url}/reject")
        assert (info.value.status, info.value.body) == (401, b"token expired\n")
        assert get_header(info.value.headers, "www-authenticate") == "Bearer"
        with pytest.raises(websockets.InvalidStatus):
            await ws_connect(f"{url}/reject")
    assert seen[:3] == [("/add", "chat"), ("/replace", "chat"), ("/reject", None)]
