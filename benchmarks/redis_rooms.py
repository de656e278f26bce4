"""Rooms across server processes through Redis: latency, throughput, routing.

    python -m benchmarks.redis_rooms            # ~1 minute
    python -m benchmarks.redis_rooms --quick    # ~20 s, smaller counts
    python -m benchmarks.redis_rooms --markdown benchmarks/RESULTS.md

Everything is real and on loopback: one redis-server started here, three
``examples/chat.py --redis`` server processes, WebSocket clients in this
process (wsproto6455.asyncio). Figures:

1. Delivery latency at 1,000 msg/s: one sender on server 1, a receiver on
   each of servers 1, 2 and 3; a message carries its send time
   (``time.perf_counter_ns``, one clock for every process on Linux).
   The floor, measured in the same run: Redis alone, a PUBLISH at the same
   rate to a subscriber connection (no WebSocket, no server). The servers
   run with ``--history 0`` (pub/sub alone); one more row runs the chat as
   it ships, with history (a Lua script per publish).
2. Deliveries per second with 3,000 clients over the 3 servers, one room,
   senders publishing as fast as the servers deliver (64 unechoed each).
3. Each server's bytes from Redis against the rooms it hosts (100 rooms, all
   publishing; the servers host 1, 10 and 100 of them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the process helpers the tests use

from chat_helpers import ChatServer  # noqa: E402
from redis_helpers import start_server, stop_server  # noqa: E402

from wsproto6455.asyncio import connect  # noqa: E402

from .cpu_share import CpuShare  # noqa: E402


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def paced(count: int, rate: float, send: Any) -> None:
    """Calls ``await send(i)`` ``count`` times at ``rate`` per second (no drift)."""
    start = time.perf_counter()
    for i in range(count):
        target = start + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(i)


class RawPublisher(asyncio.Protocol):
    """PUBLISH written straight to the socket, replies ignored: Redis' own
    cost, nothing of a client library's."""

    transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport


async def redis_floor(redis_url: str, count: int, rate: float) -> List[float]:
    """PUBLISH -> subscriber latency through Redis alone, in ms."""
    from urllib.parse import urlsplit
    from wsproto6455.realtime.redis_listener import Endpoint, Listener
    from wsproto6455.realtime.resp import encode_command
    parts = urlsplit(redis_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    latencies: List[float] = []

    def on_message(channel: bytes, payload: bytes) -> None:
        latencies.append((time.perf_counter_ns() - int(payload)) / 1e6)

    listener = Listener(Endpoint(host, port), on_message)
    listener.start()
    await listener.wait_connected(5)
    await listener.subscribe(b"floor", 5)
    transport, _ = await asyncio.get_running_loop().create_connection(RawPublisher, host, port)

    async def send(_: int) -> None:
        transport.write(encode_command("PUBLISH", "floor", str(time.perf_counter_ns())))

    await paced(count, rate, send)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(latencies) < count:
        await asyncio.sleep(0.05)
    await listener.close()
    transport.close()
    return latencies


async def end_to_end(servers: List[ChatServer], count: int, rate: float) -> Dict[int, List[float]]:
    """Sender on servers[0]; one receiver per server; latencies in ms per server.

    The clients are ``LatencyClient``s (a handshake and frames by hand), not
    the library's client: the clients of a real deployment run elsewhere, and
    here they share the two CPUs with Redis and the three servers."""
    latencies: Dict[int, List[float]] = {i: [] for i in range(len(servers))}
    receivers = [await raw_client(server.port, "latency", LatencyClient, latencies[i])
                 for i, server in enumerate(servers)]
    echoes: List[float] = []  # the sender is a member too: it reads its own messages
    sender = await raw_client(servers[0].port, "latency", LatencyClient, echoes)
    await asyncio.sleep(0.5)  # subscriptions live on every server
    assert [len(v) for v in latencies.values()] == [0] * len(servers)

    async def send(_: int) -> None:
        sender.send_text(b"%d" % time.perf_counter_ns())

    await paced(count, rate, send)
    deadline = time.monotonic() + 30  # what is late still counts, with its latency
    while time.monotonic() < deadline and min(len(v) for v in latencies.values()) < count:
        await asyncio.sleep(0.05)
    for client in receivers + [sender]:
        client.transport.abort()
    return latencies


#: Every delivery in the throughput run: a 2-byte header and 16 bytes of text.
FRAME = 18


class CountingClient(asyncio.Protocol):
    """A receiving client as cheap as possible: the handshake by hand, then it
    only counts bytes (every delivery is one 18-byte frame: 2 bytes of header,
    16 of text), so the benchmark process is not what limits the servers."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.opened: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
        self.head = b""
        self.bytes = 0
        self.transport: Any = None
        self.lost = False
        self._progress: Optional["asyncio.Future[None]"] = None

    async def progress(self) -> None:
        """Returns after the next bytes arrive (or a second without any)."""
        self._progress = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(self._progress, 1.0)
        except asyncio.TimeoutError:
            pass

    def wake(self) -> None:
        if self._progress is not None and not self._progress.done():
            self._progress.set_result(None)

    def send_text(self, text: bytes) -> None:
        """A text frame masked with a zero key (the payload goes as is)."""
        assert len(text) < 126
        self.transport.write(bytes((0x81, 0x80 | len(text))) + b"\0\0\0\0" + text)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.opened.done():
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(RuntimeError(self.head[:80].decode("latin-1")))
                return
            self.opened.set_result(None)
            data = self.head[end + 4:]
        self.received(data)

    def received(self, data: bytes) -> None:
        self.bytes += len(data)
        self.wake()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.lost = True
        self.wake()
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))


class LatencyClient(CountingClient):
    """Reads the frames too (the servers send small unfragmented text frames,
    a 2-byte header each) and records the latency of each from the
    ``perf_counter_ns`` it carries; sends text frames masked with a zero key."""

    def __init__(self, request: bytes, latencies: List[float]) -> None:
        super().__init__(request)
        self.latencies = latencies
        self.partial = b""

    def received(self, data: bytes) -> None:
        buffer, at = self.partial + data, 0
        while len(buffer) - at >= 2:
            length = buffer[at + 1] & 0x7F
            assert buffer[at] == 0x81 and length < 126, "not a small text frame"
            if len(buffer) - at < 2 + length:
                break
            sent = int(buffer[at + 2: at + 2 + length])
            self.latencies.append((time.perf_counter_ns() - sent) / 1e6)
            at += 2 + length
        self.partial = buffer[at:]


async def raw_client(port: int, room: str, kind: Any = None, *args: Any) -> Any:
    request = (f"GET /rooms/{room} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    factory = kind or CountingClient
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: factory(request, *args), "127.0.0.1", port)
    await asyncio.wait_for(client.opened, 30)
    return client


async def throughput(servers: List[ChatServer], clients: int, seconds: float,
                     senders: int) -> Tuple[float, int, int, int]:
    """``clients`` in one room spread over the servers; ``senders`` more
    members publish 16-byte messages, a window of them in flight. Returns
    (deliveries/s, deliveries, messages sent)."""
    crowd = []
    for i in range(clients):
        crowd.append(await raw_client(servers[i % len(servers)].port, "crowd"))
    talkers = [await raw_client(servers[i % len(servers)].port, "crowd") for i in range(senders)]
    stop = False
    sent = 0
    # Each sender is a member too and keeps at most ``window`` of its messages
    # not yet echoed back by its own server: the senders go as fast as the
    # servers deliver, instead of as fast as Redis accepts (which would only
    # fill Redis' output buffers until it cuts the lagging subscribers).
    window = 64

    async def send(talker: CountingClient) -> None:
        nonlocal sent
        mine = 0
        while not stop and not talker.lost:
            while mine - talker.bytes // FRAME >= window and not stop and not talker.lost:
                await talker.progress()
            talker.send_text(b"x" * 16)
            mine += 1
            sent += 1
            await asyncio.sleep(0)  # let the other senders run

    await asyncio.sleep(1.0)  # every server subscribed
    start_bytes = sum(c.bytes for c in crowd)
    started = time.perf_counter()
    writers = [asyncio.ensure_future(send(talker)) for talker in talkers]
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    delivered = (sum(c.bytes for c in crowd) - start_bytes) // FRAME
    stop = True
    for talker in talkers:
        talker.wake()
    await asyncio.gather(*writers)
    # A sender closed by its server (1013: the broker refused while Redis cut a
    # lagging subscriber) shows as a lost connection.
    refused = sum(1 for talker in talkers if talker.lost)
    for client in crowd + talkers:
        client.transport.abort()
    return delivered / elapsed, delivered, sent, refused


async def routing(servers: List[ChatServer], rooms: int, per_room: int,
                  hosted: Sequence[int]) -> List[Tuple[int, float]]:
    """servers[k] hosts rooms 0..hosted[k]-1; every room gets ``per_room``
    messages. Returns (rooms hosted, bytes from Redis) per server."""
    conns = []
    for server, count in zip(servers, hosted):
        for room in range(count):
            conns.append(await connect(server.ws_url(f"room-{room}")))
    # A publisher connection per room, on the server that hosts every room.
    before = [server.metrics()["wsproto6455_redis_received_bytes_total"] for server in servers]
    publishers = [await connect(servers[-1].ws_url(f"room-{room}")) for room in range(rooms)]
    await asyncio.sleep(0.5)
    before = [server.metrics()["wsproto6455_redis_received_bytes_total"] for server in servers]
    counted = [server.metrics()["wsproto6455_redis_received_total"] for server in servers]
    for i in range(per_room):
        for ws in publishers:
            await ws.send(f"message {i} " + "x" * 40)
    # Wait until every server has read every message of its rooms (a loaded
    # machine may take a while), then read the byte counters.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = [server.metrics()["wsproto6455_redis_received_total"] - counted[k]
               for k, server in enumerate(servers)]
        if all(n >= count * per_room for n, count in zip(got, hosted)):
            break
        await asyncio.sleep(0.2)
    after = [server.metrics()["wsproto6455_redis_received_bytes_total"] for server in servers]
    for ws in conns + publishers:
        ws.transport.abort() if getattr(ws, "transport", None) else None
    return [(count, after[k] - before[k]) for k, count in enumerate(hosted)]


def row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


async def run(args: argparse.Namespace) -> str:
    share = CpuShare()
    redis = start_server()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-redis-rooms-"))
    # --history 0: pub/sub alone, as the recorded figures (the chat keeps
    # 1000 messages per room by default, one XADD more per publish).
    servers = [ChatServer(redis.url, ["--history", "0"]).start(log_dir) for _ in range(3)]
    count = 2000 if args.quick else 10000
    out: List[str] = []
    try:
        floor = await redis_floor(redis.url, count, args.rate)
        e2e = await end_to_end(servers, count, args.rate)
        all_e2e = [v for values in e2e.values() for v in values]
        clients = 600 if args.quick else 3000
        reconnects_before = [s.metrics()["wsproto6455_redis_reconnects_total"] for s in servers]
        tput, delivered, sent, refused = await throughput(servers, clients, 3.0 if args.quick else 8.0,
                                                 senders=3)
        reconnects = [s.metrics()["wsproto6455_redis_reconnects_total"] - before
                      for s, before in zip(servers, reconnects_before)]
        hosted = (1, 10, 100)
        routed = await routing(servers, 100, 5 if args.quick else 20, hosted)
        # The chat as it ships: history on (one Lua script per publish: XADD, PUBLISH).
        for server in servers:
            server.stop()
        servers = [ChatServer(redis.url).start(log_dir) for _ in range(3)]
        with_history = [v for values in (await end_to_end(servers, count, args.rate)).values()
                        for v in values]

        import redis as redis_py
        out.append("## Rooms across processes through Redis (issue 14)\n")
        out.append(f"- machine: {os.cpu_count()} CPUs, {platform.platform()}; CPython "
                   f"{platform.python_version()}; redis-server "
                   f"{redis.cli('info', 'server').split('redis_version:')[1].split()[0]}, "
                   f"redis-py {redis_py.__version__}")
        out.append(f"- command: `python -m benchmarks.redis_rooms{' --quick' if args.quick else ''}`; "
                   "one redis-server and three `examples/chat.py --redis` processes on loopback, "
                   "clients in the benchmark process; shared machine: read ratios, not absolutes.\n")
        out.append(f"- load average (1 min) when the run ended: {os.getloadavg()[0]:.1f} on "
                   f"{os.cpu_count()} CPUs (other processes included); {share.describe()}.\n")
        out.append(f"### Delivery latency at {args.rate:,.0f} msg/s ({count:,} messages)\n")
        out.append(row(["path", "deliveries", "p50 ms", "p99 ms", "max ms"]))
        out.append(row(["---"] * 5))
        out.append(row(["Redis alone: PUBLISH -> subscriber (the floor)", len(floor),
                        f"{percentile(floor, .5):.3f}", f"{percentile(floor, .99):.3f}",
                        f"{max(floor):.3f}"]))
        for i, values in e2e.items():
            out.append(row([f"client -> server 1 -> Redis -> server {i + 1} -> client", len(values),
                            f"{percentile(values, .5):.3f}", f"{percentile(values, .99):.3f}",
                            f"{max(values):.3f}"]))
        out.append(row(["end to end, all three servers", len(all_e2e),
                        f"{percentile(all_e2e, .5):.3f}", f"{percentile(all_e2e, .99):.3f}",
                        f"{max(all_e2e):.3f}"]))
        out.append(row(["end to end, all three servers, with history (the chat's default "
                        "`--history 1000`)", len(with_history),
                        f"{percentile(with_history, .5):.3f}", f"{percentile(with_history, .99):.3f}",
                        f"{max(with_history):.3f}"]))
        out.append(f"\n### Deliveries per second, {clients:,} clients over 3 servers, one room\n")
        out.append(f"3 senders (one per server) published {sent:,} messages in the window; "
                   f"the {clients:,} receiving clients got {delivered:,} frames: "
                   f"**{tput:,.0f} deliveries/s** (each message crosses Redis once and is "
                   "encoded once per server; receivers count bytes, so this process is not the "
                   "bottleneck; a slow receiver's excess is dropped by the broadcast byte budget "
                   "and counted). During the window the servers' pub/sub connections were "
                   f"re-established {sum(reconnects):.0f} times (Redis cuts a subscriber whose "
                   f"output buffer passes its limit) and {refused} of the 3 senders were closed "
                   "with 1013 while their server reconnected.\n")
        out.append("### Bytes each server reads from Redis against the rooms it hosts\n")
        out.append("100 rooms publish the same number of messages; a server subscribes only "
                   "to the rooms with a local member.\n")
        out.append(row(["server", "rooms hosted", "bytes from Redis", "per hosted room"]))
        out.append(row(["---"] * 4))
        for k, (rooms, nbytes) in enumerate(routed):
            out.append(row([k + 1, rooms, f"{nbytes:,.0f}", f"{nbytes / rooms:,.0f}"]))
        out.append("\nOne channel for every room (python-socketio's AsyncRedisManager) would "
                   f"cost every server the 100-room figure ({routed[-1][1]:,.0f} bytes).")
    finally:
        for server in servers:
            server.stop()
        stop_server(redis)
    return "\n".join(out) + "\n"


#: RESULTS.md keeps this section between these markers (``--markdown``
#: replaces it in place; ``python -m benchmarks --markdown`` keeps it).
BEGIN = "<!-- redis_rooms:begin -->"
END = "<!-- redis_rooms:end -->"


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n{section}{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--markdown", metavar="PATH", help="write the section into this file "
                        "(benchmarks/RESULTS.md), replacing the previous one")
    args = parser.parse_args(list(argv) or None)
    section = asyncio.run(run(args))
    print(section)
    if args.markdown:
        write_section(Path(args.markdown), section)


if __name__ == "__main__":
    main(sys.argv[1:])
