"""Rate limits over real sockets. Clocks are frozen where counts must be
exact: the tests assert counts, never elapsed times."""

from __future__ import annotations

import asyncio
from typing import Dict, List

import pytest

from wsproto6455.asyncio import ConnectionClosed, HandshakeRejected, ServerConnection, connect, serve
from wsproto6455.asyncio.headers import get_header
from wsproto6455.realtime import GCRA, ConnectionLimit, IPLimit, chain

from tests.test_asyncio_support import HOST, async_test, wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_gcra_allows_the_burst_then_the_rate() -> None:
    bucket = GCRA(rate=10, burst=3)
    assert [bucket.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after(0.0) == pytest.approx(0.1)
    assert bucket.allow(0.1) and not bucket.allow(0.1)
    assert not bucket.allow(0.2, cost=5)  # more than the burst: never
    assert bucket.idle(0.5) and not bucket.idle(0.1)
    with pytest.raises(ValueError):
        GCRA(rate=0, burst=1)
    with pytest.raises(ValueError):
        GCRA(rate=1, burst=0.5)


class Counting:
    """A handler that counts the messages it receives, per path, and echoes
    them (except to /flood, whose client does not read)."""

    def __init__(self) -> None:
        self.received: Dict[str, int] = {}
        self.conns: List[ServerConnection] = []

    async def handler(self, ws: ServerConnection) -> None:
        self.conns.append(ws)
        self.received.setdefault(ws.path, 0)
        async for message in ws:
            self.received[ws.path] += 1
            if ws.path != "/flood":
                await ws.send(message)


@async_test()
async def test_flooding_client_is_closed_1008_and_never_slows_the_others() -> None:
    clock = Clock()  # frozen: exactly the burst passes
    limit = ConnectionLimit(messages_per_second=100, message_burst=60, clock=clock)
    app = Counting()
    async with serve(app.handler, HOST, 0, process_request=limit.process_request) as server:
        url = f"ws://{HOST}:{server.port}"
        flooder = await connect(url + "/flood")
        others = [await connect(f"{url}/calm{i}") for i in range(3)]

        async def flood() -> None:
            try:
                for i in range(5000):
                    await flooder.send(f"flood {i}")
            except ConnectionClosed:
                pass

        async def calm(ws: object, n: int) -> int:
            done = 0
            for i in range(n):
                await ws.send(f"calm {i}")  # type: ignore[attr-defined]
                assert await ws.recv() == f"calm {i}"  # type: ignore[attr-defined]
                done += 1
            return done

        flooding = asyncio.ensure_future(flood())
        results = await asyncio.gather(*(calm(ws, 50) for ws in others))
        await flooding
        assert results == [50, 50, 50]  # every calm client completed every round trip
        await flooder.wait_closed()
        assert flooder.close_code == 1008
        assert app.received["/flood"] == 60  # the burst, not one more
        assert server.metrics()["rate_limit_closes"] == 1
        for ws in others:
            await ws.close()


@async_test()
async def test_drop_action_discards_over_limit_messages_and_refills() -> None:
    clock = Clock()
    # binary fractions (interval 0.25 s): the arithmetic is exact
    limit = ConnectionLimit(messages_per_second=4, message_burst=3, action="drop", clock=clock)
    app = Counting()
    async with serve(app.handler, HOST, 0, process_request=limit.process_request) as server:
        ws = await connect(f"ws://{HOST}:{server.port}/d")
        for i in range(10):
            await ws.send(f"m{i}")
        assert [await ws.recv() for _ in range(3)] == ["m0", "m1", "m2"]
        clock.now += 0.5  # two more units
        for i in range(10, 15):
            await ws.send(f"m{i}")
        assert [await ws.recv() for _ in range(2)] == ["m10", "m11"]
        await ws.send("ping")  # over the limit still: dropped
        await wait_until(lambda: server.metrics()["rate_limit_drops"] == 7 + 3 + 1)
        clock.now += 10
        await ws.send("pong")
        assert await ws.recv() == "pong"
        assert app.received["/d"] == 6
        assert server.metrics()["rate_limit_drops"] == 7 + 3 + 1
        await ws.close()


@async_test()
async def test_byte_limit_counts_wire_bytes() -> None:
    clock = Clock()
    # 100-byte messages from a client: 2 header + 4 mask + 100 = 106 bytes each
    limit = ConnectionLimit(bytes_per_second=1024, byte_burst=320, action="drop", clock=clock)
    app = Counting()
    async with serve(app.handler, HOST, 0, process_request=limit.process_request,
                     compression=None) as server:
        ws = await connect(f"ws://{HOST}:{server.port}/b", compression=None)
        for i in range(5):
            await ws.send(bytes([i]) * 100)
            await asyncio.sleep(0.01)  # one read per message
        assert [(await ws.recv())[0] for _ in range(3)] == [0, 1, 2]
        await ws.close()
        assert app.received["/b"] == 3


def test_connection_limit_validates() -> None:
    with pytest.raises(ValueError):
        ConnectionLimit()
    with pytest.raises(ValueError):
        ConnectionLimit(messages_per_second=1, action="ignore")
    with pytest.raises(ValueError):
        ConnectionLimit(messages_per_second=-1)
    with pytest.raises(ValueError):
        IPLimit()
    with pytest.raises(ValueError):
        IPLimit(max_connections=0)


@async_test()
async def test_per_ip_concurrent_connections_answered_429_before_upgrade() -> None:
    limit = IPLimit(max_connections=2)
    app = Counting()
    async with serve(app.handler, HOST, 0, process_request=limit.process_request) as server:
        url = f"ws://{HOST}:{server.port}/"
        a = await connect(url)
        b = await connect(url)
        with pytest.raises(HandshakeRejected) as rejected:
            await connect(url)
        assert rejected.value.status == 429
        assert get_header(rejected.value.headers, "retry-after") == "1"
        assert limit.connections(HOST) == 2
        await a.close()
        await wait_until(lambda: limit.connections(HOST) == 1)
        c = await connect(url)
        await b.close()
        await c.close()
        await wait_until(lambda: len(limit) == 0)  # nothing kept for an idle IP
        assert server.metrics()["ip_limit_rejections"] == 1
        assert server.metrics()["handshakes_rejected"] == {429: 1}
        assert len(app.conns) == 3  # the refused one never reached the handler


@async_test(timeout=30)
async def test_per_ip_handshake_rate_and_bounded_memory() -> None:
    clock = Clock()
    limit = IPLimit(handshakes_per_second=1, handshake_burst=3, clock=clock,
                    key=lambda ws: get_header(ws.request_headers, "x-client") or "?")
    app = Counting()
    async with serve(app.handler, HOST, 0, process_request=limit.process_request) as server:
        url = f"ws://{HOST}:{server.port}/"
        for _ in range(3):
            async with connect(url, extra_headers={"x-client": "a"}):
                pass
        with pytest.raises(HandshakeRejected) as rejected:
            await connect(url, extra_headers={"x-client": "a"})
        assert rejected.value.status == 429
        assert int(get_header(rejected.value.headers, "retry-after") or 0) >= 1
        async with connect(url, extra_headers={"x-client": "b"}):  # another client: fine
            pass
        clock.now += 1.0
        async with connect(url, extra_headers={"x-client": "a"}):  # refilled by one
            pass
        # many distinct clients come and go: their records are swept
        for i in range(150):
            async with connect(url, extra_headers={"x-client": f"c{i}"}):
                pass
        clock.now += 60
        for i in range(70):
            async with connect(url, extra_headers={"x-client": "z"}):
                clock.now += 1
        assert len(limit) < 80


@async_test()
async def test_chain_runs_hooks_in_order_until_one_refuses() -> None:
    calls: List[str] = []

    def first(ws: ServerConnection, request: object) -> None:
        calls.append("first")

    async def refuse(ws: ServerConnection, request: object) -> tuple[int, list[tuple[str, str]], bytes]:
        calls.append("refuse")
        return 418, [], b"teapot"

    def never(ws: ServerConnection, request: object) -> None:
        calls.append("never")

    app = Counting()
    async with serve(app.handler, HOST, 0, process_request=chain(first, refuse, never)) as server:
        with pytest.raises(HandshakeRejected) as rejected:
            await connect(f"ws://{HOST}:{server.port}/")
        assert rejected.value.status == 418 and rejected.value.body == b"teapot"
    assert calls == ["first", "refuse"]
