"""examples/chat.py, the showcase: its contract, with real server processes.

Every server here is its own process (``python examples/chat.py --port P
--redis URL``) on one real redis-server; the faults are real too: SIGKILL of
redis-server and of a server process in the middle of the traffic.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import AsyncIterator, Dict, Iterator, List

import pytest

from chat_helpers import ChatServer, hs256_token, http_get
from redis_helpers import RedisServer, redis_server  # noqa: F401  (fixture)
from test_asyncio_support import async_test, wait_until

from wsproto6455.asyncio import connect
from wsproto6455.asyncio.exceptions import ConnectionClosed, HandshakeRejected


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[List[ChatServer]]:
    """Chat servers started by the test are appended here; all are stopped after."""
    started: List[ChatServer] = []
    yield started
    for server in started:
        server.kill()


def start(servers: List[ChatServer], tmp_path: Path, redis_url: "str | None", *extra: str) -> ChatServer:
    server = ChatServer(redis_url, list(extra)).start(tmp_path)
    servers.append(server)
    return server


async def collect(ws: object, into: List[object]) -> None:
    try:
        async for message in ws:  # type: ignore[attr-defined]
            into.append(message)
    except ConnectionClosed:
        pass


def test_plain_http_routes(servers: List[ChatServer], tmp_path: Path) -> None:
    server = start(servers, tmp_path, None)
    status, headers, body = http_get(server.port, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"<html" in body and b"WebSocket" in body and b'id="status"' in body
    status, _, body = http_get(server.port, "/healthz")
    assert status == 200 and b'"redis": "none"' in body
    metrics = server.metrics()
    assert "wsproto6455_chat_rooms" in metrics
    assert any(name.startswith("wsproto6455_connections") for name in metrics)


@async_test(timeout=60)
async def test_two_servers_one_redis_every_member_gets_every_message_in_order(
        redis_server: RedisServer, servers: List[ChatServer], tmp_path: Path) -> None:
    one = start(servers, tmp_path, redis_server.url)
    two = start(servers, tmp_path, redis_server.url)
    got: Dict[str, List[object]] = {"a": [], "b": [], "c": []}
    async with connect(one.ws_url("lobby")) as a, connect(two.ws_url("lobby")) as b, \
            connect(two.ws_url("other")) as c:
        readers = [asyncio.ensure_future(collect(ws, got[name])) for name, ws in
                   (("a", a), ("b", b), ("c", c))]
        await wait_until(lambda: one.metrics().get("wsproto6455_redis_subscribed_rooms") == 1
                         and two.metrics().get("wsproto6455_redis_subscribed_rooms") == 2, 10)
        sent_a = [f"a{i} é✓" for i in range(200)]
        sent_b = [f"b{i}" for i in range(200)]

        async def send_all(ws: object, messages: List[str]) -> None:
            for message in messages:
                await ws.send(message)  # type: ignore[attr-defined]

        await asyncio.gather(send_all(a, sent_a), send_all(b, sent_b))
        await wait_until(lambda: len(got["a"]) == 400 and len(got["b"]) == 400, 20)
        for name in ("a", "b"):  # the sender included, unchanged, in order per sender
            assert [m for m in got[name] if str(m).startswith("a")] == sent_a
            assert [m for m in got[name] if str(m).startswith("b")] == sent_b
        assert got["c"] == []  # another room
        for ws in (a, b, c):
            await ws.close()
        await asyncio.gather(*readers)


@async_test(timeout=60)
async def test_jwt_none_401_bad_403_good_accepted(servers: List[ChatServer], tmp_path: Path) -> None:
    secret = "s3cret"
    server = start(servers, tmp_path, None, "--jwt-secret", secret)
    with pytest.raises(HandshakeRejected) as none:
        await connect(server.ws_url("r"))
    assert none.value.status == 401
    for bad in (hs256_token("wrong", {"sub": "x"}), "not-a-token",
                hs256_token(secret, {"sub": "x", "exp": int(time.time()) - 60})):
        with pytest.raises(HandshakeRejected) as rejected:
            await connect(server.ws_url("r", f"token={bad}"))
        assert rejected.value.status == 403
    good = hs256_token(secret, {"sub": "alice", "exp": int(time.time()) + 60})
    async with connect(server.ws_url("r", f"token={good}")) as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
    async with connect(server.ws_url("r"), extra_headers=[("Authorization", f"Bearer {good}")]) as ws:
        await ws.send("by header")
        assert await ws.recv() == "by header"
    # The page itself and the probes stay public.
    assert http_get(server.port, "/")[0] == 200 and http_get(server.port, "/healthz")[0] == 200


@async_test(timeout=60)
async def test_rate_limit_closes_a_flooding_connection(servers: List[ChatServer], tmp_path: Path) -> None:
    server = start(servers, tmp_path, None, "--rate", "5", "--burst", "5")
    async with connect(server.ws_url("r")) as ws:
        with pytest.raises(ConnectionClosed):
            for i in range(100):
                await ws.send(f"flood {i}")
                await asyncio.sleep(0.001)
            await ws.recv()
            while True:
                await ws.recv()
        assert ws.close_code == 1008
    assert server.metrics()["wsproto6455_rate_limit_closes_total"] == 1


@async_test(timeout=90)
async def test_redis_killed_mid_traffic_and_restarted(
        redis_server: RedisServer, servers: List[ChatServer], tmp_path: Path) -> None:
    one = start(servers, tmp_path, redis_server.url)
    two = start(servers, tmp_path, redis_server.url)
    received: List[object] = []
    async with connect(two.ws_url("r")) as listener:
        reader = asyncio.ensure_future(collect(listener, received))
        await wait_until(lambda: two.metrics().get("wsproto6455_redis_subscribed_rooms") == 1, 10)
        rss_before = one.rss_bytes()
        closes = 0
        sent = 0
        killed_at = None
        deadline = time.monotonic() + 30
        # A sender on server one keeps talking while Redis is killed and restarted.
        while time.monotonic() < deadline:
            try:
                async with connect(one.ws_url("r")) as sender:
                    # The sender is a member too: read its echoes (flow control
                    # would otherwise stop reading, close frame included).
                    drain = asyncio.ensure_future(collect(sender, []))
                    while time.monotonic() < deadline:
                        await sender.send(f"m{sent}")
                        sent += 1
                        await asyncio.sleep(0.002)
                        if sent == 200 and killed_at is None:
                            redis_server.kill()
                            killed_at = time.monotonic()
                        if killed_at and redis_server.process is None and time.monotonic() - killed_at > 1.5:
                            assert one.alive and two.alive  # no crash while Redis is gone
                            assert http_get(one.port, "/healthz")[0] == 503
                            redis_server.start()
                        if redis_server.process is not None and killed_at and \
                                any(str(m).startswith("m") and int(str(m)[1:]) > 200 for m in received):
                            deadline = 0  # flowing again
                    await sender.close()
                    await drain
            except ConnectionClosed as closed:
                await drain
                assert closed.code == 1013, closed
                closes += 1
                await asyncio.sleep(0.05)
            except (HandshakeRejected, OSError):
                await asyncio.sleep(0.05)
        assert redis_server.process is not None, "Redis was never restarted"
        after = [int(str(m)[1:]) for m in received if int(str(m)[1:]) > 200]
        assert after, f"no message flowed after Redis came back; sender closes={closes}"
        numbers = [int(str(m)[1:]) for m in received]
        assert numbers == sorted(numbers)  # order per sender kept across the outage
        assert closes >= 1  # publishing while down told the sender (1013), nothing queued
        for server in (one, two):
            metrics = server.metrics()
            assert metrics["wsproto6455_redis_reconnects_total"] >= 1
            # Each connection (pub/sub, publish) reconnects on its own backoff: within seconds.
            await wait_until(lambda: server.metrics()["wsproto6455_redis_connected"] == 1, 10)
            assert metrics["wsproto6455_redis_pending_publishes"] <= 10_000  # max_pending
            await wait_until(lambda: server.metrics()["wsproto6455_redis_pending_publishes"] == 0, 10)
        assert one.rss_bytes() - rss_before < 30 * 1024 * 1024
        await listener.close()
        await reader


@async_test(timeout=90)
async def test_one_of_three_servers_killed_mid_traffic_the_others_go_on(
        redis_server: RedisServer, servers: List[ChatServer], tmp_path: Path) -> None:
    trio = [start(servers, tmp_path, redis_server.url, "--presence-ttl", "1.5") for _ in range(3)]
    inboxes: List[List[object]] = [[], [], []]
    clients = [await connect(server.ws_url("r")) for server in trio]
    readers = [asyncio.ensure_future(collect(ws, inbox)) for ws, inbox in zip(clients, inboxes)]
    from wsproto6455.realtime import RedisBroker
    observer = RedisBroker(redis_server.url)
    await observer.start(lambda p: None)
    try:
        await wait_until(lambda: all(s.metrics().get("wsproto6455_redis_subscribed_rooms") == 1
                                     for s in trio), 10)
        presence = await observer.presence("r")
        assert len(presence) == 3  # one member per server, seen cluster-wide
        for i in range(100):
            await clients[0].send(f"x{i}")
            if i == 50:
                trio[1].kill()  # SIGKILL: no unsubscribe, no presence_leave
        await wait_until(lambda: len(inboxes[2]) == 100 and len(inboxes[0]) == 100, 20)
        assert inboxes[2] == [f"x{i}" for i in range(100)]
        assert inboxes[0] == inboxes[2]
        await readers[1]  # its client saw the connection die
        assert clients[1].close_code in (1006, None) or clients[1].closed
        # The dead server's member expires within the presence ttl (1.5 s).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(await observer.presence("r")) != 2:
            await asyncio.sleep(0.2)
        assert len(await observer.presence("r")) == 2
        assert trio[0].alive and trio[2].alive
        await clients[2].send("still here")
        await wait_until(lambda: inboxes[0][-1:] == ["still here"], 10)
    finally:
        await observer.close()
        for ws in clients:
            await ws.close()
        await asyncio.gather(*readers)
