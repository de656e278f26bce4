"""Hub: rooms over real connections; broker subscriptions reference counted."""

from __future__ import annotations

import asyncio
import gc
from typing import Any, Dict, List, Optional, Set, Tuple

import pytest

from wsproto6455.asyncio import ServerConnection, connect, serve
from wsproto6455.realtime import Hub, Payload, Publication
from wsproto6455.realtime.broker import Broker, Deliver

from tests.test_asyncio_support import HOST, async_test, wait_until


class MemoryBroker:
    """A broker within one process, shared by several Hubs (several
    "servers"): a faithful implementation of the protocol, which also
    records what the Hub asked of it."""

    def __init__(self, network: Optional[Dict[str, Set["MemoryBroker"]]] = None) -> None:
        self.network = network if network is not None else {}
        self.deliver: Optional[Deliver] = None
        self.calls: List[Tuple[str, str]] = []
        self.fail_subscribe = False

    async def start(self, deliver: Deliver) -> None:
        self.deliver = deliver

    async def subscribe(self, room: str) -> None:
        await asyncio.sleep(0.001)  # a round trip
        self.calls.append(("subscribe", room))
        if self.fail_subscribe:
            raise ConnectionError("broker down")
        self.network.setdefault(room, set()).add(self)

    async def unsubscribe(self, room: str) -> None:
        await asyncio.sleep(0.001)
        self.calls.append(("unsubscribe", room))
        subscribers = self.network.get(room, set())
        subscribers.discard(self)
        if not subscribers:
            self.network.pop(room, None)

    async def publish(self, room: str, data: Payload) -> None:
        for broker in list(self.network.get(room, ())):
            assert broker.deliver is not None
            broker.deliver(Publication(room, data))

    async def close(self) -> None:
        self.deliver = None


def _check_protocol(broker: Broker) -> None:
    """mypy: MemoryBroker satisfies the Broker protocol."""


_check_protocol(MemoryBroker())


class Lobby:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.conns: List[ServerConnection] = []

    async def handler(self, ws: ServerConnection) -> None:
        self.conns.append(ws)
        room = ws.path.strip("/") or "lobby"
        await self.hub.join(room, ws)
        async for message in ws:
            await self.hub.publish(room, message)


@async_test()
async def test_rooms_publish_to_members_only_sender_included() -> None:
    events: List[Tuple[str, str]] = []
    hub = Hub(on_join=lambda room, ws: events.append(("join", room)),
              on_leave=lambda room, ws: events.append(("leave", room)))
    lobby = Lobby(hub)
    async with serve(lobby.handler, HOST, 0) as server:
        a1 = await connect(f"ws://{HOST}:{server.port}/a")
        a2 = await connect(f"ws://{HOST}:{server.port}/a")
        b1 = await connect(f"ws://{HOST}:{server.port}/b")
        await wait_until(lambda: len(hub.members("a")) == 2 and len(hub.members("b")) == 1)
        assert hub.rooms() == {"a", "b"}
        await a1.send("hi a")
        assert await a1.recv() == "hi a"  # the sender is a member
        assert await a2.recv() == "hi a"
        await b1.send(b"hi b")
        assert await b1.recv() == b"hi b"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(a2.recv(), 0.1)  # b's message stayed in b
        ws_a1 = next(ws for ws in lobby.conns if ws.path == "/a")
        assert hub.rooms(ws_a1) == {"a"}
        hub.join("b", ws_a1)
        assert hub.rooms(ws_a1) == {"a", "b"}
        await hub.publish("b", "to b")
        assert await a1.recv() == "to b" and await b1.recv() == "to b"
        hub.leave("b", ws_a1)
        hub.leave("b", ws_a1)  # not a member: nothing happens
        assert hub.members("b") == {next(ws for ws in lobby.conns if ws.path == "/b")}
        for client in (a1, a2, b1):
            await client.close()
        await wait_until(lambda: not hub.rooms())
    assert events.count(("join", "a")) == 2 and events.count(("leave", "a")) == 2
    assert events.count(("join", "b")) == 2 and events.count(("leave", "b")) == 2
    assert hub.published == 3 and hub.delivered == 5


@async_test(timeout=30)
async def test_connections_coming_and_going_leave_nothing_behind() -> None:
    broker = MemoryBroker()
    async with Hub(broker) as hub:
        lobby = Lobby(hub)
        async with serve(lobby.handler, HOST, 0, compression=None) as server:
            for wave in range(5):
                clients = [await connect(f"ws://{HOST}:{server.port}/r{i % 7}", compression=None)
                           for i in range(30)]
                await wait_until(lambda: sum(len(hub.members(f"r{i}")) for i in range(7)) == 30)
                await clients[0].send(f"wave {wave}")
                assert await clients[0].recv() == f"wave {wave}"
                # half close cleanly, half vanish without a closing handshake
                for i, client in enumerate(clients):
                    if i % 2:
                        await client.close()
                    else:
                        assert client._transport is not None
                        client._transport.abort()
                await wait_until(lambda: not hub.rooms() and not hub._rooms)
                await wait_until(lambda: not hub._ops)
        assert not broker.network  # every subscription was dropped
        subscribes = [room for op, room in broker.calls if op == "subscribe"]
        unsubscribes = [room for op, room in broker.calls if op == "unsubscribe"]
        assert sorted(subscribes) == sorted(unsubscribes)
        assert len(subscribes) == 5 * 7  # once per room per wave: reference counted
    gc.collect()
    lobby.conns.clear()


@async_test()
async def test_two_servers_share_rooms_through_a_broker() -> None:
    network: Dict[str, Set[MemoryBroker]] = {}
    async with Hub(MemoryBroker(network)) as hub1, Hub(MemoryBroker(network)) as hub2:
        async with serve(Lobby(hub1).handler, HOST, 0) as s1, serve(Lobby(hub2).handler, HOST, 0) as s2:
            c1 = await connect(f"ws://{HOST}:{s1.port}/room")
            c2 = await connect(f"ws://{HOST}:{s2.port}/room")
            other = await connect(f"ws://{HOST}:{s2.port}/other")
            await wait_until(lambda: set(network) == {"room", "other"} and len(network["room"]) == 2)
            await c1.send("across")
            assert await c1.recv() == "across"
            assert await c2.recv() == "across"
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(other.recv(), 0.1)
            for client in (c1, c2, other):
                await client.close()
            await wait_until(lambda: not network)


@async_test()
async def test_join_resolves_when_subscribed_and_reports_failure_once() -> None:
    broker = MemoryBroker()
    async with Hub(broker) as hub:
        conns: List[ServerConnection] = []

        async def park(ws: ServerConnection) -> None:
            conns.append(ws)
            await ws.wait_closed()

        async with serve(park, HOST, 0) as server:
            clients = [await connect(f"ws://{HOST}:{server.port}/") for _ in range(2)]
            await wait_until(lambda: len(conns) == 2)
            first = hub.join("x", conns[0])
            second = hub.join("x", conns[1])  # rides on the same subscription
            await first
            await second
            assert broker.calls == [("subscribe", "x")]
            broker.fail_subscribe = True
            failing = hub.join("y", conns[0])
            hub.join("z", conns[0])  # fails too, never awaited: must not be logged as lost
            with pytest.raises(ConnectionError):
                await failing
            await wait_until(lambda: hub.broker_failures == 2)
            # join, leave, join again quickly: the broker sees them in order
            broker.fail_subscribe = False
            hub.join("q", conns[0])
            hub.leave("q", conns[0])
            await hub.join("q", conns[0])
            assert [c for c in broker.calls if c[1] == "q"] == [
                ("subscribe", "q"), ("unsubscribe", "q"), ("subscribe", "q")]
            for client in clients:
                await client.close()


@async_test()
async def test_join_validates_and_ignores_closed_connections() -> None:
    hub = Hub()
    conns: List[ServerConnection] = []

    async def park(ws: ServerConnection) -> None:
        conns.append(ws)
        await ws.wait_closed()

    async with serve(park, HOST, 0) as server:
        client = await connect(f"ws://{HOST}:{server.port}/")
        await wait_until(lambda: len(conns) == 1)
        with pytest.raises(TypeError):
            hub.join(1, conns[0])  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await hub.publish("r", 1)  # type: ignore[arg-type]
        await client.close()
        await conns[0].wait_closed()
        await hub.join("r", conns[0])
        assert not hub.rooms() and not hub.members("r")


def test_hub_members_are_snapshots() -> None:
    hub = Hub()
    members: Any = hub.members("nobody")
    assert members == frozenset() and hub.rooms() == frozenset()


@async_test()
async def test_a_member_with_its_own_delivery_gets_publications_not_broadcasts() -> None:
    network: Dict[str, Set[MemoryBroker]] = {}
    seen: List[Publication] = []

    class Tagged:
        """Members of /tagged-<room> get ``[offset] text`` through on_publication."""

        def __init__(self, hub: Hub) -> None:
            self.hub = hub

        async def handler(self, ws: ServerConnection) -> None:
            path = ws.path.strip("/")
            if path.startswith("tagged-"):
                room = path[len("tagged-"):]

                def deliver(publication: Publication) -> None:
                    seen.append(publication)
                    if publication.data == "boom":
                        raise RuntimeError("a member's bug")
                    asyncio.ensure_future(ws.send(f"[{publication.room}] {publication.data!s}"))

                await self.hub.join(room, ws, on_publication=deliver)
            else:
                room = path
                await self.hub.join(room, ws)
            async for message in ws:
                await self.hub.publish(room, message)

    for broker in (MemoryBroker(network), None):
        seen.clear()
        async with Hub(broker) as hub:
            async with serve(Tagged(hub).handler, HOST, 0) as server:
                plain = await connect(f"ws://{HOST}:{server.port}/r")
                tagged = await connect(f"ws://{HOST}:{server.port}/tagged-r")
                await wait_until(lambda: len(hub.members("r")) == 2 and not hub._ops)
                await plain.send("hello")
                assert await plain.recv() == "hello"  # the broadcast, unchanged
                assert await tagged.recv() == "[r] hello"  # only the callback's frame
                await plain.send("boom")  # the callback raises: logged, others still served
                assert await plain.recv() == "boom"
                await tagged.send("after")
                assert await plain.recv() == "after"
                assert await tagged.recv() == "[r] after"
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(tagged.recv(), 0.1)
                assert [p.data for p in seen] == ["hello", "boom", "after"]
                assert all(isinstance(p, Publication) and p.room == "r" for p in seen)
                assert hub.delivered == 3  # broadcasts only
                await tagged.close()
                await wait_until(lambda: len(hub.members("r")) == 1)
                assert not hub._callbacks  # forgotten with the member
                await plain.send("alone")
                assert await plain.recv() == "alone"
                assert len(seen) == 3
                await plain.close()
                await wait_until(lambda: not hub.rooms())


def test_on_publication_must_be_callable() -> None:
    hub = Hub()
    with pytest.raises(TypeError):
        hub.join("r", object(), on_publication="not callable")  # type: ignore[arg-type]
