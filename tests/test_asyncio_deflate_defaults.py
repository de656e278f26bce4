"""Lean permessage-deflate defaults in serve() and connect() (websockets'
serve() settings), RFC defaults on request and in the sans-IO class."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Optional

import pytest
from websockets.asyncio.client import connect as ws_connect

from tests.test_asyncio_support import HOST, RawServer, async_test
from wsproto6455.asyncio import ServerConnection, connect, serve
from wsproto6455.asyncio.options import client_deflate_options, server_deflate_options
from wsproto6455.extensions import PerMessageDeflate

BROWSER_OFFER = b"permessage-deflate; client_max_window_bits"


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def answer_to(port: int, offer: bytes) -> Optional[bytes]:
    """The server's Sec-WebSocket-Extensions answer to a browser-like request."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) + b"\r\n"
                 b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: " + offer + b"\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    await writer.wait_closed()
    assert head.startswith(b"HTTP/1.1 101")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"sec-websocket-extensions":
            return value.strip()
    return None


@async_test()
async def test_serve_answers_a_browser_offer_with_12_bit_windows() -> None:
    seen: list[PerMessageDeflate] = []

    async def keep(ws: ServerConnection) -> None:
        seen.append(ws.extensions[0])  # type: ignore[arg-type]

    async with serve(keep, HOST, 0) as server:
        answer = await answer_to(server.port, BROWSER_OFFER)
    assert answer == b"permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    assert seen[0].memory_level == 5


@async_test()
async def test_rfc_defaults_on_request_and_in_the_sans_io_class() -> None:
    async with serve(echo, HOST, 0, deflate_options={}) as server:
        assert await answer_to(server.port, BROWSER_OFFER) == b"permessage-deflate"
    sans_io = PerMessageDeflate()
    assert (sans_io.server_max_window_bits, sans_io.client_max_window_bits, sans_io.memory_level) == (None, None, 8)
    assert server_deflate_options() == {"server_max_window_bits": 12, "client_max_window_bits": 12, "memory_level": 5}
    assert client_deflate_options() == {"memory_level": 5}


@async_test()
async def test_connect_uses_memlevel_5_and_lean_ends_interoperate() -> None:
    offers: list[bytes] = []

    def capture(request: bytes) -> bytes:
        offers.append(request)
        return RawServer.accept(request)

    async with RawServer(handshake=capture) as raw:
        ws = await connect(f"ws://{HOST}:{raw.server.sockets[0].getsockname()[1]}/",  # type: ignore[union-attr]
                           close_timeout=0.1)
        await ws.close()  # the raw server never answers: dropped after close_timeout
    assert b"permessage-deflate; client_max_window_bits" in offers[0]

    text = "lean " * 50_000
    async with serve(echo, HOST, 0) as server:
        async with connect(f"ws://{HOST}:{server.port}/") as ws:
            assert ws.extensions[0].memory_level == 5  # type: ignore[attr-defined]
            await ws.send(text)
            assert await ws.recv() == text
        async with ws_connect(f"ws://{HOST}:{server.port}/", max_size=None) as peer:
            await peer.send(text)
            assert await peer.recv() == text
            assert "server_max_window_bits=12" in peer.response.headers["Sec-WebSocket-Extensions"]


def test_the_memory_and_ratio_script_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import deflate_memory

    assert deflate_memory.corpus(50) == deflate_memory.corpus(50)  # deterministic
    assert deflate_memory.main(["--clients", "3", "--echoes", "2"]) == 0
    out = capsys.readouterr().out
    for label in deflate_memory.SERVERS:
        assert f"| {label} |" in out
    ratios = deflate_memory.ratios(deflate_memory.corpus(300))
    lean, rfc = list(ratios.values())[:2]
    assert 0 < rfc < lean < 1  # a smaller window compresses less, and both compress
