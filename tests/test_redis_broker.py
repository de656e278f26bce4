"""RedisBroker against a real redis-server (and a real 3-node cluster).

Two brokers in one process stand for two servers here (each has its own
connections to Redis); tests/test_redis_processes.py runs real server processes.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, List, Tuple

import pytest

from redis_helpers import (  # noqa: F401  (fixtures)
    RedisCluster, RedisServer, redis_cluster, redis_server,
)
from test_asyncio_support import async_test, wait_until

from wsproto6455.realtime.broker import Publication
from wsproto6455.realtime.redis_broker import RedisBroker
from wsproto6455.realtime.redis_broker import BrokerUnavailable, HistoryGap
from wsproto6455.realtime.redis_codec import room_keys


class Inbox:
    """The Hub's side of the contract: collects what the broker delivers."""

    def __init__(self) -> None:
        self.received: List[Publication] = []

    def __call__(self, publication: Publication) -> None:
        self.received.append(publication)

    def data(self, room: str) -> list:
        return [p.data for p in self.received if p.room == room]


async def started(url: str, **options: object) -> Tuple[RedisBroker, Inbox]:
    broker = RedisBroker(url, **options)  # type: ignore[arg-type]
    inbox = Inbox()
    await broker.start(inbox)
    return broker, inbox


def numsub(server: RedisServer, channel: bytes) -> int:
    return int(server.cli("pubsub", "numsub", channel.decode()).split()[1])


@async_test(timeout=20)
async def test_text_and_binary_reach_every_subscribed_server_unchanged(redis_server: RedisServer) -> None:
    a, inbox_a = await started(redis_server.url)
    b, inbox_b = await started(redis_server.url)
    try:
        await a.subscribe("lobby")
        await b.subscribe("lobby")
        await a.publish("lobby", "héllo ✓")
        await b.publish("lobby", b"\x00\xffbinary")
        await a.publish("lobby", "")
        for inbox in (inbox_a, inbox_b):
            await wait_until(lambda: len(inbox.received) == 3)
            assert inbox.data("lobby") == ["héllo ✓", b"\x00\xffbinary", ""]
            assert [type(d) for d in inbox.data("lobby")] == [str, bytes, str]
            assert all(p.epoch is None and p.offset is None for p in inbox.received)
        assert a.stats()["published"] == 2 and b.stats()["published"] == 1
    finally:
        await a.close()
        await b.close()


@async_test(timeout=20)
async def test_a_server_receives_only_the_rooms_it_subscribed(redis_server: RedisServer) -> None:
    a, inbox_a = await started(redis_server.url)
    b, inbox_b = await started(redis_server.url)
    try:
        await a.subscribe("one")
        await a.subscribe("two")
        await b.subscribe("two")
        assert numsub(redis_server, room_keys("ws:", "one").channel) == 1
        assert numsub(redis_server, room_keys("ws:", "two").channel) == 2
        a_before, b_before = a.stats()["received_bytes"], b.stats()["received_bytes"]
        for i in range(20):
            await a.publish("one", f"one-{i}")
        await a.publish("two", "two-0")
        await wait_until(lambda: len(inbox_b.received) == 1 and len(inbox_a.received) == 21)
        assert inbox_b.data("two") == ["two-0"]
        # b pays for the one message of its room only, a for all 21.
        b_bytes = b.stats()["received_bytes"] - b_before
        a_bytes = a.stats()["received_bytes"] - a_before
        assert 0 < b_bytes < 60 and a_bytes > 15 * b_bytes

        await a.unsubscribe("one")
        await wait_until(lambda: numsub(redis_server, room_keys("ws:", "one").channel) == 0)
        await a.publish("one", "nobody")
        await a.publish("two", "two-1")
        await wait_until(lambda: inbox_a.data("two") == ["two-0", "two-1"])
        assert "nobody" not in inbox_a.data("one")
    finally:
        await a.close()
        await b.close()


@async_test(timeout=20)
async def test_order_per_sender_is_kept_even_for_concurrent_publishes(redis_server: RedisServer) -> None:
    a, inbox_a = await started(redis_server.url, max_pending=2000)
    b, inbox_b = await started(redis_server.url)
    try:
        await a.subscribe("r")
        await b.subscribe("r")
        # Fired without awaiting each: written in call order, so applied in order.
        tasks = [asyncio.ensure_future(a.publish("r", str(i))) for i in range(1000)]
        await asyncio.gather(*tasks)
        expected = [str(i) for i in range(1000)]
        for inbox in (inbox_a, inbox_b):
            await wait_until(lambda: len(inbox.received) == 1000)
            assert inbox.data("r") == expected
    finally:
        await a.close()
        await b.close()


@async_test(timeout=20)
async def test_history_resumes_from_an_offset_and_reports_gaps(redis_server: RedisServer) -> None:
    # Small stream nodes so that the approximate MAXLEN trims at this scale.
    redis_server.cli("config", "set", "stream-node-max-entries", "5")
    a, inbox = await started(redis_server.url, history=10)
    try:
        await a.subscribe("h")
        for i in range(1, 6):
            await a.publish("h", f"m{i}")
        await wait_until(lambda: len(inbox.received) == 5)
        epoch = inbox.received[0].epoch
        assert epoch and [p.offset for p in inbox.received] == [1, 2, 3, 4, 5]
        assert {p.epoch for p in inbox.received} == {epoch}

        resumed = await a.history("h", since=(epoch, 2))
        assert [(p.offset, p.data) for p in resumed.publications] == [(3, "m3"), (4, "m4"), (5, "m5")]
        assert resumed.offset == 5 and resumed.epoch == epoch
        assert (await a.history("h", since=(epoch, 5))).publications == []
        await a.publish("h", b"\x01bin")
        assert (await a.history("h", since=(epoch, 5))).publications[0].data == b"\x01bin"

        for i in range(7, 60):
            await a.publish("h", f"m{i}")
        with pytest.raises(HistoryGap) as gap:
            await a.history("h", since=(epoch, 2))
        kept = gap.value.history.publications
        assert kept and kept[0].offset > 3 and kept[-1].offset == 59
        assert 10 <= len(kept) < 59  # capped near 10, never more than asked + a node

        # Redis loses everything (a restart without persistence): a new epoch.
        redis_server.cli("flushall")
        await a.publish("h", "after")
        with pytest.raises(HistoryGap, match="epoch changed") as changed:
            await a.history("h", since=(epoch, 59))
        assert changed.value.history.epoch != epoch
        assert [p.data for p in changed.value.history.publications] == ["after"]
    finally:
        await a.close()


@async_test(timeout=30)
async def test_redis_killed_and_restarted_messages_flow_again(redis_server: RedisServer) -> None:
    a, inbox_a = await started(redis_server.url, backoff_cap=0.5, ping_interval=0.5, max_pending=100)
    b, inbox_b = await started(redis_server.url, backoff_cap=0.5, ping_interval=0.5)
    try:
        await a.subscribe("r")
        await b.subscribe("r")
        await a.publish("r", "before")
        await wait_until(lambda: inbox_b.data("r") == ["before"])

        redis_server.kill()
        await wait_until(lambda: a.state == "reconnecting" and b.state == "reconnecting")
        errors = 0
        for i in range(200):  # publishes while down: a clear error each, nothing queued
            try:
                await a.publish("r", f"lost-{i}")
            except BrokerUnavailable:
                errors += 1
        assert errors == 200 and a.stats()["pending_publishes"] == 0
        assert a.stats()["publish_errors"] >= 200

        redis_server.start()  # same port, empty: the listeners must resubscribe
        await wait_until(lambda: a.state == "connected" and b.state == "connected", timeout=10)
        await wait_until(lambda: numsub(redis_server, room_keys("ws:", "r").channel) == 2, timeout=10)
        await a.publish("r", "after")
        await wait_until(lambda: inbox_b.data("r") == ["before", "after"])
        assert inbox_a.data("r") == ["before", "after"]
        assert a.stats()["reconnects"] >= 1 and b.stats()["reconnects"] >= 1
    finally:
        await a.close()
        await b.close()


@async_test(timeout=30)
async def test_subscribe_while_down_raises_and_is_made_on_reconnect(redis_server: RedisServer) -> None:
    a, inbox = await started(redis_server.url, backoff_cap=0.3, subscribe_timeout=0.3)
    try:
        redis_server.kill()
        await wait_until(lambda: a.state == "reconnecting")
        with pytest.raises(BrokerUnavailable, match="stays wanted"):
            await a.subscribe("late")
        redis_server.start()
        await wait_until(lambda: numsub(redis_server, room_keys("ws:", "late").channel) == 1, timeout=10)
        # The publish connection follows the listener at once (no backoff of its own left).
        await wait_until(lambda: a.state == "connected", timeout=2)
        await a.publish("late", "hi")
        await wait_until(lambda: inbox.data("late") == ["hi"])
    finally:
        await a.close()


@async_test(timeout=20)
async def test_presence_is_cluster_wide_and_a_dead_servers_members_expire(redis_server: RedisServer) -> None:
    a, _ = await started(redis_server.url, presence_ttl=0.9)
    b, _ = await started(redis_server.url, presence_ttl=0.9)
    try:
        await a.presence_join("room", "alice", "Alice")
        await b.presence_join("room", "bob", "Bob")
        await b.presence_join("room", "carol")
        assert await a.presence("room") == {"alice": "Alice", "bob": "Bob", "carol": ""}
        await b.presence_leave("room", "carol")
        assert await a.presence("room") == {"alice": "Alice", "bob": "Bob"}
        # Well past the ttl, b's refreshes keep bob present.
        await asyncio.sleep(1.5)
        assert await a.presence("room") == {"alice": "Alice", "bob": "Bob"}
        await b.close()  # b stops refreshing, as a dead server would
        await asyncio.sleep(1.2)
        assert await a.presence("room") == {"alice": "Alice"}
    finally:
        await a.close()
        await b.close()


@async_test(timeout=10)
async def test_misuse_is_refused_clearly(redis_server: RedisServer) -> None:
    with pytest.raises(ValueError):
        RedisBroker(redis_server.url, prefix="a{b")
    with pytest.raises(ValueError):
        RedisBroker("http://127.0.0.1:1/")
    a, _ = await started(redis_server.url)
    try:
        with pytest.raises(TypeError):
            await a.publish("r", 42)  # type: ignore[arg-type]
        with pytest.raises(RuntimeError, match="history is off"):
            await a.history("r")
        with pytest.raises(RuntimeError):
            await a.start(lambda p: None)
    finally:
        await a.close()
    with pytest.raises(BrokerUnavailable):
        await a.publish("r", "closed")


@async_test(timeout=30)
async def test_cluster_uses_sharded_pubsub_on_the_rooms_node(redis_cluster: RedisCluster) -> None:
    a, inbox_a = await started(redis_cluster.url, cluster=True, history=50)
    b, inbox_b = await started("redis+cluster://" + redis_cluster.startup_nodes[1], history=50)
    try:
        assert a.cluster and b.cluster and a.stats()["nodes"] == 3
        rooms = [f"room-{i}" for i in range(12)]
        for room in rooms:
            await a.subscribe(room)
            await b.subscribe(room)
        nodes_used = {a._shard_for(room).endpoint.name for room in rooms}
        assert len(nodes_used) >= 2  # the rooms are spread over the cluster
        for room in rooms:
            await a.publish(room, f"{room}:text")
            await b.publish(room, f"{room}:bin".encode())
        for inbox in (inbox_a, inbox_b):
            await wait_until(lambda: len(inbox.received) == 2 * len(rooms), timeout=10)
            for room in rooms:
                assert inbox.data(room) == [f"{room}:text", f"{room}:bin".encode()]
        # Sharded channels, counted on the node that owns each room's slot only.
        for room in rooms:
            owner = a._shard_for(room).endpoint.port
            node = next(n for n in redis_cluster.nodes if n.port == owner)
            channel = room_keys("ws:", room).channel.decode()
            assert node.cli("pubsub", "shardnumsub", channel).split()[1] == "2"
            assert node.cli("pubsub", "numsub", channel).split()[1] == "0"
        history = await b.history("room-3", since=None)
        assert [p.data for p in history.publications] == ["room-3:text", b"room-3:bin"]
    finally:
        await a.close()
        await b.close()


@async_test(timeout=20)
async def test_a_slow_delivery_is_not_taken_for_a_dead_redis(redis_server: RedisServer) -> None:
    """The Hub broadcasts synchronously; a long delivery must not make the
    liveness check drop a healthy connection (and lose what follows)."""
    import time as clock
    broker = RedisBroker(redis_server.url, ping_interval=0.2)
    got: List[Publication] = []

    def slow(publication: Publication) -> None:
        got.append(publication)
        if publication.data == "slow":
            clock.sleep(0.7)  # over 2 ping intervals, the loop blocked

    await broker.start(slow)
    try:
        await broker.subscribe("r")
        await broker.publish("r", "slow")
        await wait_until(lambda: len(got) == 1)
        await asyncio.sleep(0.5)  # more than 2 intervals of quiet after the slow delivery
        await broker.publish("r", "next")
        await wait_until(lambda: len(got) == 2)
        assert broker.stats()["reconnects"] == 0
    finally:
        await broker.close()


@async_test(timeout=20)
async def test_a_blocked_event_loop_is_not_taken_for_a_dead_redis(redis_server: RedisServer) -> None:
    """Anything else that holds the loop (a burst of closes...) past two ping
    intervals must not drop a healthy connection either."""
    import time as clock
    broker, inbox = await started(redis_server.url, ping_interval=0.2)
    try:
        await broker.subscribe("r")
        for _ in range(3):
            await asyncio.sleep(0.25)  # a PING goes out...
            clock.sleep(0.7)           # ...and the loop is held while the PONG arrives
        await broker.publish("r", "alive")
        await wait_until(lambda: inbox.data("r") == ["alive"])
        assert broker.stats()["reconnects"] == 0
    finally:
        await broker.close()


@async_test(timeout=20)
async def test_a_silent_redis_is_detected_by_the_pings(redis_server: RedisServer) -> None:
    """SIGSTOP: the TCP connection stays up but Redis answers nothing."""
    import signal
    broker, _ = await started(redis_server.url, ping_interval=0.2, backoff_cap=0.2)
    try:
        assert redis_server.process is not None
        redis_server.process.send_signal(signal.SIGSTOP)
        try:
            await wait_until(lambda: broker.state == "reconnecting", timeout=5)
        finally:
            redis_server.process.send_signal(signal.SIGCONT)
        await wait_until(lambda: broker.state == "connected", timeout=10)
        assert broker.stats()["reconnects"] >= 1
    finally:
        await broker.close()


@async_test(timeout=20)
async def test_idle_connections_are_kept_alive_by_the_pings(redis_server: RedisServer) -> None:
    """Nothing published, nothing received: both connections (pub/sub and
    publish) ping and stay up, tick after tick."""
    broker, inbox = await started(redis_server.url, ping_interval=0.05)
    try:
        await broker.subscribe("r")
        await asyncio.sleep(2.0)  # 40 ticks of silence
        assert broker.stats()["reconnects"] == 0
        await broker.publish("r", "still here")
        await wait_until(lambda: inbox.data("r") == ["still here"])
    finally:
        await broker.close()


def hand_over(room: str, told: List[RedisServer], target: RedisServer) -> None:
    """Gives the (empty) slot of ``room``'s channel to ``target``, telling the
    nodes ``told`` in that order (the new owner first, as resharding does);
    the others learn it by gossip."""
    from redis.crc import key_slot
    slot = key_slot(room_keys("ws:", room).channel)
    target_id = target.cli("cluster", "myid").strip()
    for node in told:
        assert node.cli("cluster", "setslot", str(slot), "node", target_id).strip() == "OK"


def node_serving(cluster: RedisCluster, broker: RedisBroker, room: str) -> RedisServer:
    port = broker._shard_for(room).endpoint.port
    return next(node for node in cluster.nodes if node.port == port)


@async_test(timeout=40)
async def test_a_room_whose_slot_moves_follows_it_to_the_new_node(redis_cluster: RedisCluster) -> None:
    """Resharding: the old node unsubscribes the room's sharded channel and
    answers MOVED to publishes; both brokers re-read the slots and go on with
    the new owner, the one that never publishes included."""
    a, inbox_a = await started(redis_cluster.url, cluster=True)
    b, inbox_b = await started(redis_cluster.url, cluster=True)
    try:
        await a.subscribe("moving")
        await b.subscribe("moving")
        await b.publish("moving", "before")
        await wait_until(lambda: inbox_a.data("moving") == ["before"])
        channel = room_keys("ws:", "moving").channel
        source = node_serving(redis_cluster, a, "moving")
        target = next(n for n in redis_cluster.nodes if n is not source)
        hand_over("moving", [target, source] + [n for n in redis_cluster.nodes if n not in (target, source)],
                  target)

        def owner_is_target() -> bool:
            return all(broker._shard_for("moving").endpoint.port == target.port for broker in (a, b))

        # a never publishes: the old node's unsubscribe push alone must move it.
        await wait_until(owner_is_target, timeout=15)
        await wait_until(lambda: target.cli("pubsub", "shardnumsub", channel.decode()).split()[1] == "2",
                         timeout=15)
        # A publish already on its way to the old node may be refused (MOVED): at most once.
        for attempt in range(50):
            try:
                await b.publish("moving", "after")
                break
            except BrokerUnavailable:
                await asyncio.sleep(0.1)
        for inbox in (inbox_a, inbox_b):
            await wait_until(lambda: inbox.data("moving") == ["before", "after"], timeout=10)
        assert source.cli("pubsub", "shardnumsub", channel.decode()).split()[1] == "0"
    finally:
        await a.close()
        await b.close()


@async_test(timeout=40)
async def test_a_moved_room_is_found_while_a_third_node_still_has_the_old_slot_table(
        redis_cluster: RedisCluster) -> None:
    """The slot is handed over on its old and new owner only; the third node,
    the one the broker would ask first, learns it by gossip a while later.
    The broker asks the nodes that know first: the old owner that dropped the
    room, the new owner its MOVED reply names. (Asking the first known node
    found the old owner again and stayed there: CI saw it once.)"""
    a, inbox = await started(redis_cluster.url, cluster=True)
    try:
        first_asked = next(iter(a._shards.values())).endpoint.port
        room = next(f"late-gossip-{i}" for i in range(1000)
                    if node_serving(redis_cluster, a, f"late-gossip-{i}").port != first_asked)
        await a.subscribe(room)
        source = node_serving(redis_cluster, a, room)
        target = next(n for n in redis_cluster.nodes if n.port not in (source.port, first_asked))
        hand_over(room, [target, source], target)
        await wait_until(lambda: a._shard_for(room).endpoint.port == target.port, timeout=5)
        channel = room_keys("ws:", room).channel.decode()
        await wait_until(lambda: target.cli("pubsub", "shardnumsub", channel).split()[1] == "1", timeout=5)
        await a.publish(room, "after")
        await wait_until(lambda: inbox.data(room) == ["after"], timeout=5)
    finally:
        await a.close()


@async_test(timeout=40)
async def test_when_one_connection_is_back_the_other_follows_at_once(redis_server: RedisServer) -> None:
    """The listener and the publisher back off on their own; the first that
    gets through wakes the other instead of letting it sleep out its delay."""
    import time as clock
    a, _ = await started(redis_server.url, backoff_base=3.0, backoff_cap=3.0)
    try:
        redis_server.kill()
        await wait_until(lambda: a.state == "reconnecting")
        await asyncio.sleep(0.5)  # both are now in a backoff of up to 3 s
        redis_server.start()
        shard = next(iter(a._shards.values()))
        connections = (shard.listener, shard.publisher)
        await wait_until(lambda: any(c.state == "connected" for c in connections), timeout=15)
        first_back = clock.monotonic()
        await wait_until(lambda: all(c.state == "connected" for c in connections), timeout=15)
        assert clock.monotonic() - first_back < 0.5
    finally:
        await a.close()


@async_test(timeout=30)
async def test_publishes_waiting_for_redis_are_bounded_by_max_pending(redis_server: RedisServer) -> None:
    """Redis stopped (SIGSTOP: the connection stays up, no reply comes):
    max_pending publishes wait, the next one is refused at once."""
    import signal
    broker, inbox = await started(redis_server.url, max_pending=50, ping_interval=5.0)
    try:
        await broker.subscribe("r")
        assert redis_server.process is not None
        redis_server.process.send_signal(signal.SIGSTOP)
        try:
            waiting = [broker.publish("r", f"m{i}") for i in range(50)]
            assert broker.stats()["pending_publishes"] == 50
            with pytest.raises(BrokerUnavailable, match="50 publishes already waiting"):
                broker.publish("r", "one too many")
            assert not any(future.done() for future in waiting)
        finally:
            redis_server.process.send_signal(signal.SIGCONT)
        await asyncio.gather(*waiting)
        assert broker.stats()["pending_publishes"] == 0
        await wait_until(lambda: inbox.data("r") == [f"m{i}" for i in range(50)])
    finally:
        await broker.close()
