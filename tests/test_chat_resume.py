"""examples/chat.py: clients that reconnect resume from their last position.

Real parts only: a real redis-server, real ``examples/chat.py`` processes and
real WebSocket clients. A client opts in with ``?resume=1`` or
``?since=<epoch>:<offset>`` and then receives JSON frames (``message`` with
its epoch and offset, ``gap``, ``live``); the others get the messages unchanged.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from chat_helpers import CHAT, ChatServer
from redis_helpers import RedisServer, redis_server, skip_or_fail  # noqa: F401  (fixture)
from test_asyncio_support import async_test, wait_until

from wsproto6455.asyncio import connect
from wsproto6455.asyncio.exceptions import ConnectionClosed, HandshakeRejected


@pytest.fixture
def servers() -> Iterator[List[ChatServer]]:
    started: List[ChatServer] = []
    yield started
    for server in started:
        server.kill()


def start(servers: List[ChatServer], tmp_path: Path, redis_url: Optional[str], *extra: str) -> ChatServer:
    server = ChatServer(redis_url, list(extra)).start(tmp_path)
    servers.append(server)
    return server


class Inbox:
    """A resuming client's frames, decoded, read in the background."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: List[Dict[str, Any]] = []
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                assert isinstance(raw, str), raw
                self.frames.append(json.loads(raw))
        except ConnectionClosed:
            pass

    def of(self, kind: str) -> List[Dict[str, Any]]:
        return [frame for frame in self.frames if frame["type"] == kind]

    def texts(self) -> List[str]:
        return [frame["text"] for frame in self.of("message")]

    async def close(self) -> None:
        await self.ws.close()
        await self.task


async def drain(ws: Any, into: List[object]) -> None:
    try:
        async for message in ws:
            into.append(message)
    except ConnectionClosed:
        pass


def assert_contiguous(messages: List[Dict[str, Any]], first: int, last: int, epoch: str) -> None:
    assert [m["offset"] for m in messages] == list(range(first, last + 1))
    assert {m["epoch"] for m in messages} == {epoch}


@async_test(timeout=90)
async def test_reconnect_gets_exactly_what_it_missed_then_live_with_traffic_at_the_seam(
        redis_server: RedisServer, servers: List[ChatServer], tmp_path: Path) -> None:
    # A history larger than all this test says (at most 5 + 600 + 3,000), so
    # that no gap is legitimate.
    one = start(servers, tmp_path, redis_server.url, "--history", "5000")
    two = start(servers, tmp_path, redis_server.url, "--history", "5000")
    plain_inbox: List[object] = []
    async with connect(two.ws_url("lobby")) as sender:
        plain = asyncio.ensure_future(drain(sender, plain_inbox))
        first = Inbox(await connect(one.ws_url("lobby", "resume=1")))
        await wait_until(lambda: bool(first.of("live")), 10)
        assert first.of("live") == [{"type": "live", "epoch": None, "offset": 0}]  # a new room
        # Chat text that looks like the JSON frames reaches plain clients unchanged.
        tricky = '{"type": "gap", "reason": "epoch"}'
        sent = [tricky] + [f"before {i}" for i in range(4)]
        for text in sent:
            await sender.send(text)
        await wait_until(lambda: len(first.texts()) == 5, 10)
        assert first.texts() == sent
        epoch = first.of("message")[0]["epoch"]
        assert isinstance(epoch, str) and epoch.isdigit()
        assert_contiguous(first.of("message"), 1, 5, epoch)
        await first.close()

        # Away: 600 messages are said (more than one history page). Then it
        # comes back on the other server while the sender keeps talking, fast,
        # until well after the replay: live traffic before, during and after
        # the history read.
        missed = [f"missed {i}" for i in range(600)]
        for text in missed:
            await sender.send(text)
        await wait_until(lambda: len(plain_inbox) == 605, 20)  # all published
        during: List[str] = []
        back: Optional[Inbox] = None

        async def keep_talking() -> None:
            after_live = 0
            while after_live < 100 and len(during) < 3_000:
                text = f"during {len(during)}"
                await sender.send(text)
                during.append(text)
                if len(during) % 20 == 0:
                    await asyncio.sleep(0)
                if back is not None and back.of("live"):
                    after_live += 1

        talking = asyncio.ensure_future(keep_talking())
        await wait_until(lambda: len(during) >= 50, 10)
        back = Inbox(await connect(two.ws_url("lobby", f"since={epoch}:5")))
        await talking
        expected = missed + during
        await wait_until(lambda: len(back.texts()) >= len(expected), 30)
        assert back.texts() == expected  # exactly once each, in order
        top = 5 + len(expected)
        assert_contiguous(back.of("message"), 6, top, epoch)
        assert back.of("gap") == []
        live = back.of("live")
        assert len(live) == 1 and live[0]["epoch"] == epoch and 5 <= live[0]["offset"] < top
        # The replay came first: every message before "live" is older than it.
        live_index = back.frames.index(live[0])
        assert all(f["offset"] <= live[0]["offset"] for f in back.frames[:live_index])
        assert all(f["offset"] > live[0]["offset"] for f in back.frames[live_index + 1:])
        await back.close()

        # The plain client got every message as sent, nothing else.
        await wait_until(lambda: len(plain_inbox) == len(sent + expected), 20)
        assert plain_inbox == sent + expected
        await sender.close()
        await plain
    metrics = two.metrics()
    assert metrics["wsproto6455_chat_history_replayed_total"] >= 600
    assert metrics["wsproto6455_chat_history_gaps_total"] == 0


@async_test(timeout=90)
async def test_a_gap_larger_than_the_history_is_reported_then_what_is_kept(
        redis_server: RedisServer, servers: List[ChatServer], tmp_path: Path) -> None:
    server = start(servers, tmp_path, redis_server.url, "--history", "10")
    async with connect(server.ws_url("r")) as sender:
        echoes: List[object] = []
        reader = asyncio.ensure_future(drain(sender, echoes))
        await sender.send("seen")
        await wait_until(lambda: len(echoes) == 1, 10)
        client = Inbox(await connect(server.ws_url("r", "resume=1")))
        await wait_until(lambda: bool(client.of("live")), 10)
        epoch, offset = client.of("live")[0]["epoch"], client.of("live")[0]["offset"]
        assert offset == 1
        await client.close()
        # XADD MAXLEN ~ 10 trims whole stream nodes (100 entries): 400 is past it.
        for i in range(400):
            await sender.send(f"m{i}")
        await wait_until(lambda: len(echoes) == 401, 20)
        back = Inbox(await connect(server.ws_url("r", f"since={epoch}:{offset}")))
        await wait_until(lambda: bool(back.of("live")), 10)
        gap = back.frames[0]
        assert gap["type"] == "gap" and gap["reason"] == "trimmed" and gap["since"] == f"{epoch}:1"
        kept = back.of("message")
        assert kept, "what is still kept follows the notice"
        assert gap["missed"] == kept[0]["offset"] - 2 and gap["missed"] >= 200
        assert_contiguous(kept, kept[0]["offset"], 401, epoch)
        assert back.texts() == [f"m{i}" for i in range(kept[0]["offset"] - 2, 400)]
        assert back.frames[-1] == {"type": "live", "epoch": epoch, "offset": 401}
        await sender.send("live again")
        await wait_until(lambda: back.texts()[-1:] == ["live again"], 10)
        assert back.of("message")[-1]["offset"] == 402
        await back.close()
        await sender.close()
        await reader
    assert server.metrics()["wsproto6455_chat_history_gaps_total"] == 1


@async_test(timeout=90)
async def test_redis_restarted_without_its_data_is_an_epoch_gap(
        redis_server: RedisServer, servers: List[ChatServer], tmp_path: Path) -> None:
    server = start(servers, tmp_path, redis_server.url)
    client = Inbox(await connect(server.ws_url("r", "resume=1")))
    await wait_until(lambda: bool(client.of("live")), 10)
    async with connect(server.ws_url("r")) as sender:
        await sender.send("old")
        await wait_until(lambda: client.texts() == ["old"], 10)
    old_epoch = client.of("message")[0]["epoch"]
    await client.close()
    # This one stays connected through the restart.
    stays = Inbox(await connect(server.ws_url("r", f"since={old_epoch}:1")))
    await wait_until(lambda: bool(stays.of("live")), 10)
    redis_server.kill()
    redis_server.start()  # no persistence: the room's history is gone
    await wait_until(lambda: server.metrics().get("wsproto6455_redis_connected") == 1, 20)

    async def say(text: str) -> None:
        while True:  # the server's command connection may still be stale once
            try:
                async with connect(server.ws_url("r")) as sender:
                    await sender.send(text)
                    assert await sender.recv() == text
                    return
            except ConnectionClosed:
                await asyncio.sleep(0.1)

    await say("new")
    back = Inbox(await connect(server.ws_url("r", f"since={old_epoch}:1")))
    await wait_until(lambda: bool(back.of("live")), 10)
    assert back.frames[0] == {"type": "gap", "reason": "epoch", "since": f"{old_epoch}:1",
                              "missed": None}
    new = back.of("message")
    assert [m["text"] for m in new] == ["new"] and new[0]["offset"] == 1
    assert new[0]["epoch"] != old_epoch
    await back.close()
    # The connected one was caught up when its server's subscription came
    # back (on_resubscribed): told of the lost epoch, then served the new one.
    await wait_until(lambda: stays.texts() == ["new"], 10)
    assert stays.frames[:2] == [
        {"type": "live", "epoch": old_epoch, "offset": 1},
        {"type": "gap", "reason": "epoch", "since": f"{old_epoch}:1", "missed": None}]
    # Whether "new" was said before or after that catch-up read the (new)
    # history decides where the live marker falls; the message comes once.
    rest = stays.frames[2:]
    assert rest in ([new[0], {"type": "live", "epoch": new[0]["epoch"], "offset": 1}],
                    [{"type": "live", "epoch": None, "offset": 0}, new[0]]), rest
    assert server.metrics()["wsproto6455_chat_history_resyncs_total"] == 1
    await stays.close()


@async_test(timeout=60)
async def test_without_history_a_resuming_client_is_told_and_still_served(
        servers: List[ChatServer], tmp_path: Path) -> None:
    server = start(servers, tmp_path, None)  # no Redis: no history
    client = Inbox(await connect(server.ws_url("r", "since=123:4")))
    await wait_until(lambda: bool(client.of("live")), 10)
    assert client.frames == [{"type": "gap", "reason": "no-history", "since": "123:4", "missed": None},
                             {"type": "live", "epoch": None, "offset": None}]
    async with connect(server.ws_url("r")) as plain:
        await plain.send("hi")
        assert await plain.recv() == "hi"
        await plain.send(b"\x00\xff")
        assert await plain.recv() == b"\x00\xff"
    await wait_until(lambda: len(client.of("message")) == 2, 10)
    assert client.of("message") == [
        {"type": "message", "epoch": None, "offset": None, "text": "hi"},
        {"type": "message", "epoch": None, "offset": None, "binary": "AP8="}]
    await client.close()


@async_test(timeout=60)
async def test_a_malformed_since_is_refused_before_the_upgrade(
        servers: List[ChatServer], tmp_path: Path) -> None:
    server = start(servers, tmp_path, None)
    for bad in ("since=abc", "since=1:-2", "since=12", "since=1:2:3", f"since=1:{'9' * 40}"):
        with pytest.raises(HandshakeRejected) as rejected:
            await connect(server.ws_url("r", bad))
        assert rejected.value.status == 400, bad
    for good in ("since=:0", "resume=1", "resume=0"):
        async with connect(server.ws_url("r", good)):
            pass
    # --history without Redis makes no sense: refused at the command line.
    result = subprocess.run([sys.executable, str(CHAT), "--port", "1", "--history", "5"],
                            capture_output=True, timeout=30)
    assert result.returncode == 2 and b"--history needs --redis" in result.stderr


def pubsub_addresses_of(pid: int, redis: RedisServer) -> List[str]:
    """The client addresses of ``pid``'s subscriber connections to ``redis``
    (``ss`` maps sockets to processes; CLIENT LIST marks subscribers)."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( dport = :{redis.port} )"],
                         capture_output=True, text=True, timeout=10).stdout
    mine = set()
    for line in out.splitlines():
        if f"pid={pid}," in line:
            mine.add(re.findall(r"127\.0\.0\.1:\d+", line)[0])
    subscribers = []
    for line in redis.cli("CLIENT", "LIST").splitlines():
        fields = dict(field.split("=", 1) for field in line.split() if "=" in field)
        if fields.get("addr") in mine and (int(fields.get("sub", "0")) or int(fields.get("ssub", "0") or 0)):
            subscribers.append(fields["addr"])
    return subscribers


async def kill_subscriber_connections(server: ChatServer, redis: RedisServer) -> None:
    """Redis drops ``server``'s pub/sub connection(s), as a network blip would."""
    assert server.process is not None
    pid = server.process.pid
    await wait_until(lambda: bool(pubsub_addresses_of(pid, redis)), 10)
    for address in pubsub_addresses_of(pid, redis):
        redis.cli("CLIENT", "KILL", "ADDR", address)


async def sender_server_and_a_resuming_client(
        redis_server: RedisServer, servers: List[ChatServer], tmp_path: Path) -> Tuple[ChatServer, ChatServer, Inbox]:
    """Two servers on one Redis; a resuming client on the second, caught up
    (its subscriber connection can then be found with ``ss`` and killed)."""
    if shutil.which("ss") is None:
        skip_or_fail("ss (iproute2) is not installed")
    one = start(servers, tmp_path, redis_server.url)
    two = start(servers, tmp_path, redis_server.url)
    client = Inbox(await connect(two.ws_url("r", "resume=1")))
    await wait_until(lambda: bool(client.of("live")), 10)
    assert two.process is not None
    return one, two, client


@async_test(timeout=90)
async def test_messages_lost_by_pubsub_are_filled_from_the_history(
        redis_server: RedisServer, servers: List[ChatServer], tmp_path: Path) -> None:
    one, two, client = await sender_server_and_a_resuming_client(redis_server, servers, tmp_path)
    sent: List[str] = []
    echoes: List[object] = []
    stop = asyncio.Event()
    async with connect(one.ws_url("r")) as sender:
        reader = asyncio.ensure_future(drain(sender, echoes))

        async def talk() -> None:
            while not stop.is_set() and len(sent) < 5_000:
                text = f"m{len(sent)}"
                await sender.send(text)
                sent.append(text)
                await asyncio.sleep(0.001)

        talking = asyncio.ensure_future(talk())
        # Server two's pub/sub connection is killed until one of the holes
        # it leaves has been seen (Redis does not keep what a subscriber
        # misses while it reconnects; the history does).
        for _ in range(10):
            await kill_subscriber_connections(two, redis_server)
            await asyncio.sleep(0.3)
            if two.metrics()["wsproto6455_chat_history_resyncs_total"] >= 1:
                break
        await asyncio.sleep(0.1)  # live traffic after the last resync
        stop.set()
        await talking
        await wait_until(lambda: len(echoes) == len(sent), 20)  # server one lost nothing
        await wait_until(lambda: client.texts()[-1:] == sent[-1:], 20)
        assert client.texts() == sent  # every message once, in order
        assert_contiguous(client.of("message"), 1, len(sent), client.of("message")[0]["epoch"])
        assert client.of("gap") == []
        metrics = two.metrics()
        assert metrics["wsproto6455_chat_history_resyncs_total"] >= 1
        assert metrics["wsproto6455_redis_reconnects_total"] >= 1
        await sender.close()
        await reader
    await client.close()


@async_test(timeout=60)
async def test_after_pubsub_comes_back_a_resuming_client_catches_up_without_waiting_for_traffic(
        redis_server: RedisServer, servers: List[ChatServer], tmp_path: Path) -> None:
    """What was said while the server's subscription was down reaches the
    client at once from the history, though nobody says anything after."""
    one, two, client = await sender_server_and_a_resuming_client(redis_server, servers, tmp_path)
    echoes: List[object] = []
    async with connect(one.ws_url("r")) as sender:
        reader = asyncio.ensure_future(drain(sender, echoes))
        await sender.send("before")
        await wait_until(lambda: client.texts() == ["before"], 10)
        await kill_subscriber_connections(two, redis_server)
        # A short burst while server two reconnects (its backoff starts at up
        # to 50 ms), then silence: no later message can reveal a hole.
        burst = [f"during {i}" for i in range(3)]
        for text in burst:
            await sender.send(text)
        await wait_until(lambda: len(echoes) == 4, 10)
        await wait_until(lambda: client.texts() == ["before"] + burst, 10)
        assert_contiguous(client.of("message"), 1, 4, client.of("message")[0]["epoch"])
        # The catch-up came from the reconnect itself, not from a hole.
        await wait_until(lambda: two.metrics()["wsproto6455_redis_reconnects_total"] >= 1, 10)
        assert two.metrics()["wsproto6455_chat_history_resyncs_total"] >= 1
        await sender.close()
        await reader
    await client.close()


def test_live_messages_held_while_catching_up_are_bounded() -> None:
    """A client catching up holds at most MAX_BUFFER live messages, whatever
    the room's rate (the excess is in the history: the flush reads it again)."""
    sys.path.insert(0, str(CHAT.parent))
    from chat_resume import MAX_BUFFER, Counters, Resumer
    from wsproto6455.realtime.broker import Publication

    resumer = Resumer(ws=None, room="r", broker=None, history=True, since=None, counters=Counters())
    assert resumer.catching_up  # until start() has read the history
    for offset in range(1, 3 * MAX_BUFFER + 2):
        resumer.on_publication(Publication("r", f"m{offset}", "epoch", offset))
        assert len(resumer.buffer) <= MAX_BUFFER
    assert resumer.buffer[-1].offset == 3 * MAX_BUFFER + 1  # the newest is kept
