"""Echo of every message shape, with and without permessage-deflate, between
our asyncio integration and real peers: ourselves, websockets and aiohttp,
each as client and as server."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncGenerator, Callable, Optional, Union

import aiohttp
import pytest
import websockets
from aiohttp import web
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

from tests.test_asyncio_support import HOST, aiohttp_app, async_test, wait_until
from wsproto6455.asyncio import ServerConnection, connect, serve

MiB = 1 << 20
MESSAGES: list[Union[str, bytes]] = [
    "",
    b"",
    "hello",
    "h\u00e9llo w\u00f6rld \u2713 \U0001f600",
    bytes(range(256)),
    "x" * 70_000,                      # 64-bit length field
    bytes(range(256)) * 4096,          # 1 MiB binary: the default limit, inclusive
    "\u00e9" * (MiB // 2),              # 1 MiB of two-byte UTF-8
]
COMPRESSION = pytest.mark.parametrize("compression", ["deflate", None])


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


def negotiated(ws: Any) -> list[str]:
    return [ext.name for ext in ws.extensions]


# -- our server, every client ------------------------------------------------

async def send_and_receive_each(ws: Any) -> list[Union[str, bytes]]:
    """Send MESSAGES one at a time, each answered before the next (websockets-style API)."""
    received = []
    for message in MESSAGES:
        await ws.send(message)
        received.append(await ws.recv())
    return received


async def exchange_ours(port: int, compression: Optional[str]) -> list[Union[str, bytes]]:
    async with connect(f"ws://{HOST}:{port}/", compression=compression) as ws:
        assert negotiated(ws) == (["permessage-deflate"] if compression else [])
        received = await send_and_receive_each(ws)
    assert ws.close_code == 1000
    return received


async def exchange_websockets(port: int, compression: Optional[str]) -> list[Union[str, bytes]]:
    async with ws_connect(f"ws://{HOST}:{port}/", compression=compression, max_size=MiB) as ws:
        assert ws.response is not None
        header = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert ("permessage-deflate" in header) == (compression is not None)
        received = await send_and_receive_each(ws)
    assert ws.close_code == 1000
    return received


async def exchange_aiohttp(port: int, compression: Optional[str]) -> list[Union[str, bytes]]:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"ws://{HOST}:{port}/", compress=15 if compression else 0,
                                      max_msg_size=2 * MiB, autoclose=True) as ws:
            assert bool(ws.compress) == (compression is not None)
            received: list[Union[str, bytes]] = []
            for message in MESSAGES:
                if isinstance(message, str):
                    await ws.send_str(message)
                else:
                    await ws.send_bytes(message)
                reply = await ws.receive()
                assert reply.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY), reply
                received.append(reply.data)
            await ws.close()
            assert ws.close_code == 1000
    return received


CLIENTS: dict[str, Callable[[int, Optional[str]], Any]] = {
    "ours": exchange_ours,
    "websockets": exchange_websockets,
    "aiohttp": exchange_aiohttp,
}


@COMPRESSION
@pytest.mark.parametrize("client", sorted(CLIENTS))
@async_test(timeout=30)
async def test_our_server_echoes_every_message(client: str, compression: Optional[str]) -> None:
    seen: list[list[str]] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append(negotiated(ws))
        await echo(ws)

    async with serve(handler, HOST, 0, compression=compression) as server:
        received = await CLIENTS[client](server.port, compression)
        await asyncio.wait_for(wait_empty(server), 5)
    assert received == MESSAGES
    assert [type(m) for m in received] == [type(m) for m in MESSAGES]
    assert seen == [["permessage-deflate"] if compression else []]


async def wait_empty(server: Any) -> None:
    while server.connections:
        await asyncio.sleep(0.005)


# -- our client, every server ------------------------------------------------

async def websockets_server(compression: Optional[str]) -> AsyncGenerator[int, None]:
    async def handler(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async with ws_serve(handler, HOST, 0, compression=compression, max_size=MiB) as server:
        yield server.sockets[0].getsockname()[1]


async def aiohttp_server(compression: Optional[str]) -> AsyncGenerator[int, None]:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=compression is not None, max_msg_size=2 * MiB)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    async with aiohttp_app(handler) as port:
        yield port


async def our_server(compression: Optional[str]) -> AsyncGenerator[int, None]:
    async with serve(echo, HOST, 0, compression=compression) as server:
        yield server.port


SERVERS = {"ours": our_server, "websockets": websockets_server, "aiohttp": aiohttp_server}


@COMPRESSION
@pytest.mark.parametrize("server", sorted(SERVERS))
@async_test(timeout=30)
async def test_our_client_against_every_server(server: str, compression: Optional[str]) -> None:
    servers = SERVERS[server](compression)
    port = await servers.__anext__()
    try:
        received = await exchange_ours(port, compression)
    finally:
        await servers.aclose()
    assert received == MESSAGES


# -- the other entry points --------------------------------------------------

@async_test()
async def test_awaitable_forms_and_async_iteration() -> None:
    server = await serve(echo, HOST, 0, compression=None)
    try:
        ws = await connect(f"ws://{HOST}:{server.port}/path?q=1")
        for n in range(5):
            await ws.send(f"message {n}")
        await wait_until(lambda: len(ws._messages) == 5)
        await ws.close()  # messages received before close() stay readable
        got = [message async for message in ws]
        assert got == [f"message {n}" for n in range(5)]
        assert ws.closed and ws.close_code == 1000 and ws.close_reason == ""
    finally:
        server.close()
        await server.wait_closed()


@async_test()
async def test_path_headers_and_subprotocol_reach_the_handler() -> None:
    seen: dict[str, Any] = {}

    async def handler(ws: ServerConnection) -> None:
        seen.update(path=ws.path, subprotocol=ws.subprotocol,
                    headers={k.lower(): v for k, v in ws.request_headers.raw})
        await ws.send(ws.subprotocol or "")

    async with serve(handler, HOST, 0, subprotocols=["chat.v1", "chat.v2"],
                     extra_headers={"X-Server": "yes"}) as server:
        async with connect(f"ws://{HOST}:{server.port}/room/7?user=a",
                           subprotocols=["chat.v2", "chat.v1"], origin="https://example.org",
                           extra_headers=[("X-Token", "abc")]) as ws:
            assert await ws.recv() == "chat.v2"   # the client's preference wins
            assert ws.subprotocol == "chat.v2"
            assert (b"x-server", b"yes") in [(k.lower(), v) for k, v in ws.response_headers.raw]
            assert ws.response_headers["x-server"] == "yes"
    assert seen["path"] == "/room/7?user=a"
    assert seen["subprotocol"] == "chat.v2"
    assert seen["headers"][b"origin"] == b"https://example.org"
    assert seen["headers"][b"x-token"] == b"abc"


@async_test()
async def test_only_unsupported_subprotocols_get_400_as_with_websockets() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(repr(ws.subprotocol))

    async with serve(handler, HOST, 0, subprotocols=["a"]) as server:
        with pytest.raises(websockets.InvalidStatus) as info:
            await ws_connect(f"ws://{HOST}:{server.port}/", subprotocols=["b"])  # type: ignore[list-item]
        assert info.value.response.status_code == 400
        assert b"unsupported subprotocol: offered b; supported: a" in info.value.response.body
        async with ws_connect(f"ws://{HOST}:{server.port}/") as ws:  # offering none is fine
            assert await ws.recv() == "None"
            assert ws.subprotocol is None


@async_test()
async def test_send_refuses_other_types() -> None:
    async with serve(echo, HOST, 0) as server:
        async with connect(f"ws://{HOST}:{server.port}/") as ws:
            with pytest.raises(TypeError):
                await ws.send(42)  # type: ignore[arg-type]
            await ws.send(bytearray(b"ba"))
            await ws.send(memoryview(b"mv"))
            assert [await ws.recv(), await ws.recv()] == [b"ba", b"mv"]


@async_test()
async def test_fragmented_messages_and_limits_pass_through() -> None:
    # fragment_size makes our client send many frames per message; the
    # server reassembles them; max_message_size bounds what it accepts.
    async with serve(echo, HOST, 0, max_message_size=1000, compression=None) as server:
        async with connect(f"ws://{HOST}:{server.port}/", fragment_size=7, compression=None) as ws:
            await ws.send("y" * 1000)
            assert await ws.recv() == "y" * 1000
            await ws.send("z" * 1001)
            with pytest.raises(Exception) as info:
                await ws.recv()
    assert getattr(info.value, "code", None) == 1009
    assert ws.close_code == 1009


@async_test()
async def test_per_message_compression_opt_out() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("a" * 100, compress=False)
        await ws.send("a" * 100)
        await ws.wait_closed()

    async with serve(handler, HOST, 0) as server:
        reader, writer = await asyncio.open_connection(HOST, server.port)
        writer.write(f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"permessage-deflate" in head.lower()
        plain = await reader.readexactly(2 + 100)
        assert plain[0] == 0x81 and plain[2:] == b"a" * 100  # FIN, text, RSV1 clear
        first, length = await reader.readexactly(2)
        assert first == 0xC1 and length < 100  # FIN, RSV1 (compressed), text
        await reader.readexactly(length)
        writer.close()
        await wait_until(lambda: not server.connections)


@pytest.mark.parametrize("server", sorted(SERVERS))
@async_test(timeout=30)
async def test_pipelined_messages_arrive_complete_and_in_order(server: str) -> None:
    # A producer that never waits for replies: its frames are coalesced into
    # few writes; every echo must still come back, in order.
    servers = SERVERS[server](None)
    port = await servers.__anext__()
    try:
        async with connect(f"ws://{HOST}:{port}/", compression=None) as ws:
            count = 3000

            async def produce() -> None:
                for n in range(count):
                    await ws.send(f"{n}" if n % 2 else f"{n}".encode())

            producer = asyncio.ensure_future(produce())
            got = [await ws.recv() for _ in range(count)]
            await producer
        assert got == [f"{n}" if n % 2 else f"{n}".encode() for n in range(count)]
    finally:
        await servers.aclose()
