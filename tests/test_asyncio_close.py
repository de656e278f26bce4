"""Closing: codes and reasons from either side, who closes TCP (RFC 6455
§7.1.1), timeouts on peers that don't play along, handler return / error /
server shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import pytest
import websockets
import wsproto.events as wev
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

from tests.test_asyncio_support import HOST, RawClient, RawServer, async_test, wait_until
from wsproto6455.asyncio import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    ServerConnection,
    connect,
    serve,
)
from wsproto6455.errors import LocalProtocolError


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


@async_test()
async def test_client_close_code_and_reason_reach_the_handler() -> None:
    outcome: dict[str, Any] = {}

    async def handler(ws: ServerConnection) -> None:
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        outcome.update(code=info.value.code, reason=info.value.reason)

    async with serve(handler, HOST, 0) as server:
        async with connect(f"ws://{HOST}:{server.port}/") as ws:
            await ws.close(4000, "bye now")
            # The server echoed the code (RFC 6455 §5.5.1), so both sides agree.
            assert (ws.close_code, ws.close_reason) == (4000, "bye now")
            with pytest.raises(ConnectionClosedError):
                await ws.send("too late")
        await wait_until(lambda: not server.connections and "code" in outcome)
    assert outcome == {"code": 4000, "reason": "bye now"}


async def close_4001(ws: ServerConnection) -> None:
    await ws.close(4001, "go away")


@async_test()
async def test_server_close_with_code_seen_by_our_client() -> None:
    async with serve(close_4001, HOST, 0) as server:
        async with connect(f"ws://{HOST}:{server.port}/") as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert (info.value.code, info.value.reason) == (4001, "go away")
            await ws.wait_closed()
        assert (ws.close_code, ws.close_reason) == (4001, "go away")


@async_test()
async def test_server_close_with_code_seen_by_websockets() -> None:
    async with serve(close_4001, HOST, 0) as server:
        async with ws_connect(f"ws://{HOST}:{server.port}/") as ws:
            with pytest.raises(websockets.ConnectionClosedError):
                await ws.recv()
            assert (ws.close_code, ws.close_reason) == (4001, "go away")


@async_test()
async def test_server_close_with_code_seen_by_aiohttp() -> None:
    async with serve(close_4001, HOST, 0) as server:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"ws://{HOST}:{server.port}/") as ws:
                msg = await ws.receive()
                assert msg.type == aiohttp.WSMsgType.CLOSE
                assert (msg.data, msg.extra) == (4001, "go away")


@async_test()
async def test_handler_return_closes_with_1000() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("last words")

    async with serve(handler, HOST, 0) as server:
        async with connect(f"ws://{HOST}:{server.port}/") as ws:
            assert [m async for m in ws] == ["last words"]  # iteration ends cleanly on 1000
            assert ws.close_code == 1000
        async with ws_connect(f"ws://{HOST}:{server.port}/") as peer:
            assert await peer.recv() == "last words"
            with pytest.raises(websockets.ConnectionClosedOK):
                await peer.recv()
            assert peer.close_code == 1000


@async_test()
async def test_handler_exception_is_logged_and_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR, logger="wsproto6455.server"):
        async with serve(handler, HOST, 0) as server:
            async with ws_connect(f"ws://{HOST}:{server.port}/") as peer:
                await peer.send("trigger")
                with pytest.raises(websockets.ConnectionClosedError):
                    await peer.recv()
                assert peer.close_code == 1011
            async with connect(f"ws://{HOST}:{server.port}/") as ws:
                await ws.send("trigger")
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.code == 1011
    failures = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], ValueError)]
    assert len(failures) == 2


@async_test()
async def test_peer_going_away_is_not_logged_as_a_handler_error(caplog: pytest.LogCaptureFixture) -> None:
    done = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()  # raises ConnectionClosed: the handler lets it propagate
        finally:
            done.set()

    with caplog.at_level(logging.ERROR, logger="wsproto6455.server"):
        async with serve(handler, HOST, 0) as server:
            raw = await RawClient.connect(server.port)
            raw.abort()
            await asyncio.wait_for(done.wait(), 5)
            await wait_until(lambda: not server.connections)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@async_test()
async def test_server_shutdown_closes_connections_with_1001() -> None:
    handler_saw: list[int] = []

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except ConnectionClosedOK as exc:
            handler_saw.append(exc.code)

    server = await serve(handler, HOST, 0)
    clients = [await connect(f"ws://{HOST}:{server.port}/") for _ in range(3)]
    await wait_until(lambda: len(server.connections) == 3)
    start = time.monotonic()
    server.close()
    await server.wait_closed()
    assert time.monotonic() - start < 2
    for ws in clients:
        await ws.wait_closed()
        assert (ws.close_code, ws.close_reason) == (1001, "server shutting down")
    assert handler_saw == [1001, 1001, 1001]
    assert not server.connections


@async_test()
async def test_server_closes_tcp_first_after_client_close() -> None:
    async with serve(echo, HOST, 0) as server:
        raw = await RawClient.connect(server.port)
        raw.send(wev.CloseConnection(code=1000, reason="done"))
        event = await raw.next_event()
        assert isinstance(event, wev.CloseConnection) and event.code == 1000
        # We have not closed our side: the server must close TCP on its own.
        assert await asyncio.wait_for(raw.read_eof(), 2) == b""
        await raw.close()
        await wait_until(lambda: not server.connections)


@async_test()
async def test_server_closes_tcp_first_after_its_own_close() -> None:
    async with serve(close_4001, HOST, 0) as server:
        raw = await RawClient.connect(server.port)
        event = await raw.next_event()
        assert isinstance(event, wev.CloseConnection) and event.code == 4001
        raw.send(event.response())
        assert await asyncio.wait_for(raw.read_eof(), 2) == b""
        await raw.close()
        await wait_until(lambda: not server.connections)


@async_test()
async def test_our_client_closes_quickly_against_websockets() -> None:
    async with ws_serve(lambda ws: ws.wait_closed(), HOST, 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://{HOST}:{port}/", close_timeout=5) as ws:
            start = time.monotonic()
            await ws.close()
            # websockets closes TCP as soon as the handshake completes: no timeout wait.
            assert time.monotonic() - start < 1
            assert ws.close_code == 1000


@async_test()
async def test_client_closes_tcp_when_server_does_not() -> None:
    async with RawServer() as raw_server:
        ws = await connect(raw_server.uri, close_timeout=0.2)
        peer = await raw_server.connected.get()
        start = time.monotonic()
        closing = asyncio.ensure_future(ws.close(1000))
        event = await peer.next_event()
        assert isinstance(event, wev.CloseConnection)
        peer.send(event.response())  # answer, but keep TCP open
        await closing
        assert 0.15 < time.monotonic() - start < 2
        assert ws.close_code == 1000
        assert await asyncio.wait_for(peer.read_eof(), 2) == b""


@async_test()
async def test_close_gives_up_when_peer_never_answers() -> None:
    async with RawServer() as raw_server:
        ws = await connect(raw_server.uri, close_timeout=0.2)
        await raw_server.connected.get()  # a peer that reads nothing and answers nothing
        start = time.monotonic()
        await ws.close()
        assert time.monotonic() - start < 2
        assert ws.closed and ws.close_code == 1006


@async_test()
async def test_protocol_violation_closes_with_1002() -> None:
    outcome: list[int] = []

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except ConnectionClosedError as exc:
            outcome.append(exc.code)

    async with serve(handler, HOST, 0) as server:
        raw = await RawClient.connect(server.port)
        raw.send_raw(b"\x81\x02hi")  # an unmasked frame from a client (RFC 6455 §5.1)
        event = await raw.next_event()
        assert isinstance(event, wev.CloseConnection) and event.code == 1002
        assert await asyncio.wait_for(raw.read_eof(), 2) == b""
        await raw.close()
        await wait_until(lambda: outcome == [1002] and not server.connections)


@async_test()
async def test_close_frame_without_code_is_a_normal_end() -> None:
    async with RawServer() as raw_server:
        ws = await connect(raw_server.uri)
        peer = await raw_server.connected.get()
        peer.send_raw(b"\x88\x00")  # close frame without a status code
        assert [m async for m in ws] == []  # ConnectionClosedOK ends iteration
        assert ws.close_code == 1005
        event = await peer.next_event()
        assert isinstance(event, wev.CloseConnection) and event.code == 1005
        await peer.close()
        await ws.wait_closed()


@async_test()
async def test_close_is_idempotent_and_refuses_bad_codes() -> None:
    async with serve(echo, HOST, 0) as server:
        async with connect(f"ws://{HOST}:{server.port}/") as ws:
            with pytest.raises(LocalProtocolError):
                await ws.close(1006)  # reserved, never on the wire
            await ws.send("still open")
            assert await ws.recv() == "still open"
            await asyncio.gather(ws.close(), ws.close())
            await ws.close()
            assert ws.close_code == 1000
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            with pytest.raises(ConnectionClosed):
                await ws.ping()


@async_test()
async def test_burst_of_messages_then_close_arrives_in_order() -> None:
    # Frames written in one loop iteration are coalesced: the close frame
    # must still come after every message, and nothing may be lost.
    async def handler(ws: ServerConnection) -> None:
        for n in range(1000):
            await ws.send(f"{n}")
        await ws.close(4000, "after the burst")

    async with serve(handler, HOST, 0) as server:
        async with connect(f"ws://{HOST}:{server.port}/") as ws:
            got = []
            with pytest.raises(ConnectionClosedError) as info:
                while True:
                    got.append(await ws.recv())
        assert got == [f"{n}" for n in range(1000)]
        assert (info.value.code, info.value.reason) == (4000, "after the burst")
        async with ws_connect(f"ws://{HOST}:{server.port}/") as peer:
            got = []
            with pytest.raises(websockets.ConnectionClosedError):
                while True:
                    got.append(await peer.recv())
            assert got == [f"{n}" for n in range(1000)]
            assert peer.close_code == 4000
