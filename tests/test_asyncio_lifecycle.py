"""Peers that vanish, stall or never answer: nothing may leak (every test
checks that no task is left and the server's connection set empties), and
timers (open timeout, keepalive) end what the peer won't."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Union

import aiohttp
import pytest
import wsproto.events as wev
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

from tests.test_asyncio_support import (
    HOST, RawClient, RawServer, async_test, silent_connection_lifetime, wait_until,
)
from wsproto6455.asyncio import (
    ConnectionClosed,
    ConnectionClosedError,
    InvalidHandshake,
    ServerConnection,
    connect,
    serve,
)
from wsproto6455.errors import LocalProtocolError


class Recorder:
    """A handler that waits for one message and records how recv() ended."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.finished = asyncio.Event()
        self.error: Any = None
        self.ws: Any = None

    async def __call__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.started.set()
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            self.error = exc
        finally:
            self.finished.set()


@pytest.mark.parametrize("how", ["fin", "rst"])
@async_test()
async def test_peer_vanishes_mid_message(how: str) -> None:
    recorder = Recorder()
    async with serve(recorder, HOST, 0) as server:
        raw = await RawClient.connect(server.port)
        await recorder.started.wait()
        # Header of a 1000-byte masked binary frame, then 10 bytes of it.
        raw.send_raw(b"\x82\xfe\x03\xe8" + b"\x00" * 4 + b"x" * 10)
        await raw.writer.drain()
        if how == "rst":
            raw.abort()
        else:
            await raw.close()
        await asyncio.wait_for(recorder.finished.wait(), 5)
        await wait_until(lambda: not server.connections)
    assert isinstance(recorder.error, ConnectionClosedError)
    assert recorder.error.code == 1006
    assert recorder.ws.close_code == 1006 and recorder.ws.closed


@async_test()
async def test_peer_vanishes_while_server_is_blocked_sending() -> None:
    outcome: dict[str, Any] = {}

    async def handler(ws: ServerConnection) -> None:
        outcome["ws"] = ws
        try:
            while True:
                await ws.send(b"x" * 65536)
        except ConnectionClosed as exc:
            outcome["error"] = exc

    async with serve(handler, HOST, 0, compression=None) as server:
        raw = await RawClient.connect(server.port)   # never reads
        await wait_until(lambda: "ws" in outcome and outcome["ws"]._write_paused)
        raw.abort()
        await wait_until(lambda: "error" in outcome and not server.connections)
    assert outcome["error"].code == 1006


@async_test()
async def test_peer_vanishes_during_the_handshake() -> None:
    calls: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        calls.append(ws)

    async with serve(handler, HOST, 0) as server:
        reader, writer = await asyncio.open_connection(HOST, server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # half a request
        await wait_until(lambda: len(server.connections) == 1)
        writer.close()
        await wait_until(lambda: not server.connections)
    assert calls == []


@async_test()
async def test_server_open_timeout_drops_silent_connections() -> None:
    async with serve(lambda ws: ws.wait_closed(), HOST, 0, open_timeout=0.2) as server:
        assert 0.15 < await silent_connection_lifetime(server.port, 3) < 2
        await wait_until(lambda: not server.connections)


@async_test()
async def test_client_open_timeout() -> None:
    async with RawServer(handshake=lambda request: None) as raw_server:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            await connect(raw_server.uri, open_timeout=0.2)
        assert time.monotonic() - start < 2


@async_test()
async def test_server_hangs_up_during_handshake() -> None:
    async with RawServer(handshake=lambda request: b"") as raw_server:
        async def hang_up() -> None:
            # Wait for the request, then close the socket without answering.
            while not raw_server.writers:
                await asyncio.sleep(0.005)
            raw_server.writers[0].close()
        task = asyncio.ensure_future(hang_up())
        with pytest.raises(InvalidHandshake):
            await connect(raw_server.uri)
        await task


# -- keepalive ---------------------------------------------------------------

@async_test()
async def test_server_keepalive_fails_a_peer_that_never_pongs() -> None:
    recorder = Recorder()
    async with serve(recorder, HOST, 0, ping_interval=0.05, ping_timeout=0.1) as server:
        raw = await RawClient.connect(server.port)  # reads, never answers pings
        start = time.monotonic()
        event = await raw.next_event()
        assert isinstance(event, wev.Ping)
        event = await raw.next_event()
        assert isinstance(event, wev.CloseConnection) and event.code == 1011
        await asyncio.wait_for(recorder.finished.wait(), 2)
        assert time.monotonic() - start < 1
        assert isinstance(recorder.error, ConnectionClosedError) and recorder.error.code == 1011
        assert recorder.ws.close_code == 1011
        assert recorder.ws.close_reason == "keepalive ping timeout"
        assert await asyncio.wait_for(raw.read_eof(), 2) == b""
        await raw.close()
        await wait_until(lambda: not server.connections)


@async_test()
async def test_client_keepalive_fails_a_server_that_never_pongs() -> None:
    async with RawServer() as raw_server:
        ws = await connect(raw_server.uri, ping_interval=0.05, ping_timeout=0.1)
        start = time.monotonic()
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        assert info.value.code == 1011
        assert time.monotonic() - start < 1
        await ws.wait_closed()
        assert ws.close_code == 1011


@async_test()
async def test_keepalive_keeps_a_responsive_peer() -> None:
    async with serve(lambda ws: ws.wait_closed(), HOST, 0, ping_interval=0.02, ping_timeout=0.5) as server:
        async with ws_connect(f"ws://{HOST}:{server.port}/") as peer:
            await wait_until(lambda: any(c.latency > 0 for c in server.connections))
            await asyncio.sleep(0.15)  # several intervals
            (conn,) = server.connections
            assert not conn.closed and conn.close_code is None
            assert 0 < conn.latency < 0.5
            await peer.ping()  # still open from the peer's side too


# -- ping/pong ---------------------------------------------------------------

@async_test()
async def test_ping_resolves_on_pong_from_websockets() -> None:
    async with ws_serve(lambda ws: ws.wait_closed(), HOST, 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://{HOST}:{port}/") as ws:
            latency = await (await ws.ping())
            assert 0 <= latency < 1
            assert await (await ws.ping("text payload")) >= 0
            waiter = await ws.ping(b"same")
            with pytest.raises(ValueError):
                await ws.ping(b"same")  # which pong would answer which?
            await waiter
            with pytest.raises(LocalProtocolError):
                await ws.ping(b"x" * 126)  # control frames carry at most 125 bytes
            assert await (await ws.ping(b"x" * 125)) >= 0


@async_test()
async def test_server_ping_resolves_on_pong_from_aiohttp() -> None:
    latencies: list[float] = []

    async def handler(ws: ServerConnection) -> None:
        latencies.append(await (await ws.ping(b"hello")))
        await ws.send("pinged")

    async with serve(handler, HOST, 0) as server:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"ws://{HOST}:{server.port}/") as ws:
                msg = await ws.receive()
                assert msg.data == "pinged"
    assert len(latencies) == 1 and latencies[0] >= 0


@async_test()
async def test_a_pong_settles_earlier_pings() -> None:
    async with RawServer() as raw_server:
        ws = await connect(raw_server.uri)
        peer = await raw_server.connected.get()
        first = await ws.ping(b"1")
        second = await ws.ping(b"2")
        for _ in range(2):
            assert isinstance(await peer.next_event(), wev.Ping)
        peer.send(wev.Pong(payload=b"2"))  # answer only the latest
        assert await asyncio.wait_for(first, 2) >= 0
        assert await asyncio.wait_for(second, 2) >= 0
        await peer.close()
        await ws.wait_closed()


@async_test()
async def test_unanswered_ping_fails_when_the_connection_closes() -> None:
    async with RawServer() as raw_server:
        ws = await connect(raw_server.uri)
        peer = await raw_server.connected.get()
        waiter = await ws.ping()
        unawaited = await ws.ping()  # nobody reads this one: no "never retrieved" noise
        peer.abort()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(waiter, 2)
        assert unawaited.done()
        await ws.wait_closed()


# -- misuse ------------------------------------------------------------------

@async_test()
async def test_concurrent_recv_is_refused_and_recv_can_be_cancelled() -> None:
    async with RawServer() as raw_server:
        ws = await connect(raw_server.uri)
        peer = await raw_server.connected.get()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.05)
        first = asyncio.ensure_future(ws.recv())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError):
            await ws.recv()
        peer.send(wev.TextMessage(data="hi"))
        assert await first == "hi"
        await peer.close()
        await ws.wait_closed()


@async_test()
async def test_server_exit_cancels_handlers_that_ignore_the_close() -> None:
    cancelled = asyncio.Event()

    async def stubborn(ws: ServerConnection) -> None:
        try:
            await asyncio.sleep(100)  # never looks at the connection
        except asyncio.CancelledError:
            cancelled.set()
            raise

    start = time.monotonic()
    async with serve(stubborn, HOST, 0, close_timeout=0.2) as server:
        ws = await connect(f"ws://{HOST}:{server.port}/")
        await wait_until(lambda: len(server.connections) == 1)
    assert cancelled.is_set()
    assert time.monotonic() - start < 2
    await ws.wait_closed()
    assert ws.close_code == 1001


@async_test(timeout=20)
async def test_many_concurrent_clients() -> None:
    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async def client(port: int, n: int) -> list[Union[str, bytes]]:
        async with connect(f"ws://{HOST}:{port}/") as ws:
            replies = []
            for i in range(20):
                await ws.send(f"{n}:{i}")
                replies.append(await ws.recv())
            return replies

    async with serve(echo, HOST, 0) as server:
        results = await asyncio.gather(*(client(server.port, n) for n in range(50)))
        await wait_until(lambda: not server.connections)
    assert results == [[f"{n}:{i}" for i in range(20)] for n in range(50)]


@async_test()
async def test_unsolicited_pong_and_addresses() -> None:
    async with RawServer() as raw_server:
        ws = await connect(raw_server.uri)
        peer = await raw_server.connected.get()
        await ws.pong(b"heartbeat")
        event = await peer.next_event()
        assert isinstance(event, wev.Pong) and event.payload == b"heartbeat"
        assert ws.remote_address[:2] == (HOST, raw_server.port)
        assert ws.local_address[0] == HOST
        # An unsolicited pong from the peer is ignored.
        peer.send(wev.Pong(payload=b"whatever"))
        peer.send(wev.TextMessage(data="still here"))
        assert await ws.recv() == "still here"
        await peer.close()
        await ws.wait_closed()


@async_test()
async def test_serve_forever_returns_when_closed() -> None:
    server = await serve(lambda ws: ws.wait_closed(), HOST, 0)
    forever = asyncio.ensure_future(server.serve_forever())
    ws = await connect(f"ws://{HOST}:{server.port}/")
    await asyncio.sleep(0)
    assert not forever.done()
    server.close()
    await asyncio.wait_for(forever, 2)
    await server.wait_closed()
    await ws.wait_closed()
    assert ws.close_code == 1001


@async_test()
async def test_server_vanishes_mid_message() -> None:
    async with RawServer() as raw_server:
        ws = await connect(raw_server.uri)
        peer = await raw_server.connected.get()
        peer.send_raw(b"\x82\x7e\x10\x00" + b"y" * 100)  # 4096-byte frame, 100 bytes of it
        await peer.writer.drain()
        peer.abort()
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        assert info.value.code == 1006
        await ws.wait_closed()
        assert ws.close_code == 1006
