"""The opening handshake: rejections carry status, headers and body; bad
requests and bad responses fail cleanly; options are checked."""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any, Optional

import aiohttp
import pytest
import websockets
from aiohttp import web
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

from tests.test_asyncio_support import HOST, RawServer, aiohttp_app, async_test, wait_until
from wsproto6455.asyncio import (
    HandshakeRejected,
    InvalidHandshake,
    InvalidURI,
    ServerConnection,
    connect,
    serve,
)
from wsproto6455.asyncio.headers import get_header
from wsproto6455.events import Request


async def never_called(ws: ServerConnection) -> None:
    raise AssertionError("the handler must not run for a rejected handshake")


def forbid(ws: ServerConnection, request: Request) -> Optional[tuple[int, Any, bytes]]:
    if request.target.startswith("/private"):
        return 403, [("X-Why", "private")], b"go away\n"
    return None


async def forbid_async(ws: ServerConnection, request: Request) -> Optional[tuple[int, Any, bytes]]:
    await asyncio.sleep(0)
    return forbid(ws, request)


@pytest.mark.parametrize("process_request", [forbid, forbid_async])
@async_test()
async def test_process_request_rejects_our_client(process_request: Any) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(ws.path)

    async with serve(handler, HOST, 0, process_request=process_request) as server:
        with pytest.raises(HandshakeRejected) as info:
            await connect(f"ws://{HOST}:{server.port}/private/x")
        assert info.value.status == 403
        assert info.value.body == b"go away\n"
        assert get_header(info.value.headers, "x-why") == "private"
        async with connect(f"ws://{HOST}:{server.port}/public") as ws:
            assert await ws.recv() == "/public"
        await wait_until(lambda: not server.connections)


@async_test()
async def test_process_request_rejects_websockets_client() -> None:
    async with serve(never_called, HOST, 0, process_request=forbid) as server:
        with pytest.raises(websockets.InvalidStatus) as info:
            async with ws_connect(f"ws://{HOST}:{server.port}/private"):
                pass
        assert info.value.response.status_code == 403
        assert info.value.response.body == b"go away\n"


@async_test()
async def test_rejection_by_aiohttp_server() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=401, text="who are you?", headers={"WWW-Authenticate": "Basic"})

    async with aiohttp_app(handler) as port:
        with pytest.raises(HandshakeRejected) as info:
            await connect(f"ws://{HOST}:{port}/")
        assert info.value.status == 401
        assert info.value.body == b"who are you?"
        assert get_header(info.value.headers, "www-authenticate") == "Basic"


@async_test()
async def test_rejection_by_websockets_server() -> None:
    def process_request(connection: Any, request: Any) -> Any:
        return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "try later\n")

    async with ws_serve(lambda ws: ws.wait_closed(), HOST, 0, process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(HandshakeRejected) as info:
            async with connect(f"ws://{HOST}:{port}/"):
                pass
        assert (info.value.status, info.value.body) == (503, b"try later\n")


@async_test()
async def test_plain_http_request_gets_426_and_no_handler() -> None:
    async with serve(never_called, HOST, 0) as server:
        reader, writer = await asyncio.open_connection(HOST, server.port)
        writer.write(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        response = await asyncio.wait_for(reader.read(), 5)  # the server closes after answering
        assert response.startswith(b"HTTP/1.1 426")
        writer.close()
        await wait_until(lambda: not server.connections)


@async_test()
async def test_aiohttp_client_sees_a_rejection() -> None:
    async with serve(never_called, HOST, 0, process_request=forbid) as server:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await session.ws_connect(f"ws://{HOST}:{server.port}/private")
            assert info.value.status == 403


@async_test()
async def test_failing_process_request_answers_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken(ws: ServerConnection, request: Request) -> None:
        raise KeyError("oops")

    with caplog.at_level(logging.ERROR, logger="wsproto6455.server"):
        async with serve(never_called, HOST, 0, process_request=broken) as server:
            with pytest.raises(HandshakeRejected) as info:
                await connect(f"ws://{HOST}:{server.port}/")
            assert info.value.status == 500
    assert any(r.exc_info and isinstance(r.exc_info[1], KeyError) for r in caplog.records)


@async_test()
async def test_wrong_accept_key_is_refused() -> None:
    bad = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n")
    async with RawServer(handshake=lambda request: bad) as raw_server:
        with pytest.raises(InvalidHandshake, match="Accept"):
            await connect(raw_server.uri)


@async_test()
async def test_unoffered_subprotocol_is_refused() -> None:
    def answer(request: bytes) -> bytes:
        return RawServer.accept(request)[:-2] + b"Sec-WebSocket-Protocol: surprise\r\n\r\n"

    async with RawServer(handshake=answer) as raw_server:
        with pytest.raises(InvalidHandshake, match="subprotocol"):
            await connect(raw_server.uri, subprotocols=["expected"])


@async_test()
async def test_connection_refused() -> None:
    server = await asyncio.start_server(lambda r, w: None, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(OSError):
        await connect(f"ws://{HOST}:{port}/")


def test_option_errors() -> None:
    async def main() -> None:
        with pytest.raises(InvalidURI):
            connect("http://example.com/")
        with pytest.raises(ValueError):
            connect("ws://example.com/", ssl=__import__("ssl").create_default_context())
        with pytest.raises(TypeError):
            connect("ws://example.com/", no_such_option=1)
        with pytest.raises(ValueError):
            connect("ws://example.com/", compression="brotli")
        with pytest.raises(ValueError):
            serve(never_called, HOST, 0, deflate_options={"client_max_window_bits": 3})
        with pytest.raises(ValueError):
            serve(never_called, HOST, 0, max_queue=0)

    asyncio.run(main())


@async_test()
async def test_huge_rejection_body_is_cut() -> None:
    def reject(ws: ServerConnection, request: Request) -> tuple[int, Any, bytes]:
        return 400, [], b"x" * (1 << 20)

    async with serve(never_called, HOST, 0, process_request=reject) as server:
        with pytest.raises(HandshakeRejected) as info:
            await connect(f"ws://{HOST}:{server.port}/")
        assert info.value.status == 400
        assert info.value.body == b"x" * (64 << 10)
        await wait_until(lambda: not server.connections)


@async_test()
async def test_rejection_body_delimited_by_close() -> None:
    # No Content-Length: the body runs until the server closes (RFC 7230 §3.3.3).
    async with RawServer(handshake=lambda request: None) as raw_server:
        async def answer() -> None:
            while not raw_server.writers:
                await asyncio.sleep(0.005)
            writer = raw_server.writers[0]
            writer.write(b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\nnot you")
            await writer.drain()
            writer.close()

        task = asyncio.ensure_future(answer())
        with pytest.raises(HandshakeRejected) as info:
            await connect(raw_server.uri)
        await task
    assert (info.value.status, info.value.body) == (403, b"not you")


@async_test()
async def test_frames_sent_with_the_request_are_not_lost() -> None:
    # A client that does not wait for the 101 (RFC 6455 says it should):
    # the frame that came in the same packet as the request still counts.
    async def echo(ws: ServerConnection) -> None:
        await ws.send(await ws.recv())

    async with serve(echo, HOST, 0, compression=None) as server:
        reader, writer = await asyncio.open_connection(HOST, server.port)
        writer.write(f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n".encode()
                     + b"\x81\x82\x00\x00\x00\x00hi")  # masked "hi", zero mask
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        assert await reader.readexactly(4) == b"\x81\x02hi"
        writer.close()
        await wait_until(lambda: not server.connections)
