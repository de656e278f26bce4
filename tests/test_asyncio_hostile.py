"""Hostile, slow and many peers against the real asyncio server, over real
loopback sockets. Every test asserts a bound (memory, count, state), never a
duration: timeouts here are short only so that the suite stays quick.

Attackers (``benchmarks/attacks.py``, also used for the figures of
``benchmarks/hostile.py``) are raw TCP clients in a thread of their own or
a subprocess: they send prebuilt bytes, so the memory traced in this
process during an attack is the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import resource
import socket
import sys
import tracemalloc
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from benchmarks.attacks import (
    FRAGMENTED_START,
    Attacker,
    Slowloris,
    client_frame,
    deflate_flood,
    fragment_flood,
    ping_flood,
    raise_fd_limit,
)
from tests.test_asyncio_support import HOST, async_test, wait_until
from wsproto6455.asyncio import ConnectionClosed, ServerConnection, serve
from wsproto6455.asyncio.protocol import READ_SIZE

ROOT = Path(__file__).resolve().parents[1]
KIB = 1 << 10
MIB = 1 << 20
WRITE_LIMIT = 32 * KIB  # the default
# zlib's state at the default 15-bit window and memLevel 8 (measured: 39 and 262 KiB)
INFLATE = 48 * KIB
DEFLATE = 272 * KIB


async def finished(attacker: Attacker, timeout: float = 20.0) -> None:
    await wait_until(lambda: not attacker.is_alive(), timeout)
    assert attacker.error is None, attacker.error
    assert attacker.head.startswith(b"HTTP/1.1 101"), attacker.head


@contextlib.contextmanager
def traced() -> Iterator[dict[str, int]]:
    """Trace Python allocations (zlib's and asyncio's buffers included);
    ``result["peak"]``: the most held at once above the level at entry."""
    result: dict[str, int] = {}
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        yield result
        result["peak"] = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


class Holder:
    """A handler that never reads; keeps its connection for the test."""

    def __init__(self, sndbuf: Optional[int] = None) -> None:
        self.ws: Optional[ServerConnection] = None
        self.sndbuf = sndbuf

    async def __call__(self, ws: ServerConnection) -> None:
        if self.sndbuf is not None:
            # Small kernel buffers make the point with less traffic.
            sock: Any = ws._transport.get_extra_info("socket")  # type: ignore[union-attr]
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.sndbuf)
        self.ws = ws
        await ws.wait_closed()


# -- defect 1: ping flood ----------------------------------------------------

@async_test(timeout=60)
async def test_ping_flood_from_a_peer_that_never_reads_is_bounded() -> None:
    # 8 MiB of 125-byte pings; the peer reads none of the pongs.
    holder = Holder(sndbuf=64 * KIB)
    async with serve(holder, HOST, 0, close_timeout=0.5) as server:
        with traced() as memory:
            attacker = Attacker(server.port, ping_flood(), 8 * MIB)
            attacker.start()
            await finished(attacker)
            assert holder.ws is not None
            buffered = holder.ws._transport.get_write_buffer_size()  # type: ignore[union-attr]
        attacker.close()
    # TCP pushed back on the attacker: the server stopped reading.
    assert attacker.pushed_back and attacker.sent < 8 * MIB
    # The pongs waiting in the server: the high-water mark, plus at most one
    # corked batch (itself flushed at write_limit) that crossed it.
    assert buffered <= 2 * WRITE_LIMIT + 127
    # All the server held at once: within the bound of docs/ASYNCIO.md (no
    # message was queued).
    assert memory["peak"] < memory_bound(0, 0), memory


# -- defect 2: decompression past max_queue ------------------------------------

@async_test(timeout=60)
async def test_deflate_flood_to_a_handler_that_does_not_read_is_bounded() -> None:
    # 100 messages of 256 KiB of zeros, about 260 bytes each on the wire
    # (1000:1): one read carries them all.
    size, count, max_queue = 256 * KIB, 100, 4
    flood = deflate_flood(size, count)
    assert len(flood) * 1000 < size * count * 1.1
    go = asyncio.Event()
    received: list[int] = []
    state: dict[str, Any] = {}

    async def handler(ws: ServerConnection) -> None:
        state["ws"] = ws
        await go.wait()
        for _ in range(count):
            data = await ws.recv()
            assert data == bytes(size)
            received.append(len(data))

    async with serve(handler, HOST, 0, max_queue=max_queue, max_message_size=size,
                     close_timeout=0.5) as server:
        with traced() as memory:
            attacker = Attacker(server.port, flood, len(flood), deflate=True)
            attacker.start()
            await finished(attacker)
            await wait_until(lambda: "ws" in state and len(state["ws"]._messages) >= max_queue)
            await asyncio.sleep(0.2)  # whatever else the server would do with the bytes
            queued = len(state["ws"]._messages)
        # The rest waits, still compressed; the handler gets every message,
        # although no byte arrives after these.
        go.set()
        await wait_until(lambda: len(received) == count)
        attacker.close()
    assert queued == max_queue
    assert memory["peak"] < memory_bound(max_queue, size), memory


def memory_bound(max_queue: int, max_message_size: int, write_limit: int = WRITE_LIMIT,
                 deflate: int = INFLATE + DEFLATE) -> int:
    """docs/ASYNCIO.md: what one connection may hold at most, in bytes."""
    return ((max_queue + 2) * max_message_size + 3 * READ_SIZE + 2 * write_limit + deflate
            + 64 * KIB  # the scanner's inflate budget
            + 64 * KIB)  # + the connection's own objects


# -- floods of empty and 1-byte fragments ------------------------------------

@async_test(timeout=60)
async def test_flood_of_empty_fragments_is_bounded() -> None:
    # One message that goes on and on: 128 KiB of empty continuation frames
    # (6 bytes each on the wire, about 22,000 of them: tracemalloc makes
    # each one slow), then its last frame.
    state: dict[str, Any] = {}
    received: list[bytes] = []

    async def handler(ws: ServerConnection) -> None:
        state["ws"] = ws
        async for message in ws:
            received.append(message)  # type: ignore[arg-type]

    async with serve(handler, HOST, 0, close_timeout=0.5) as server:
        with traced() as memory:
            attacker = Attacker(server.port, fragment_flood(b""), 128 * KIB,
                                prefix=FRAGMENTED_START, stall=5)
            attacker.start()
            await finished(attacker)
            assert attacker.sent >= 128 * KIB  # legal: nothing refused
            sock: Any = attacker.sock
            sock.settimeout(5)
            sock.sendall(client_frame(0x0, b"end"))  # the last fragment
            await wait_until(lambda: bool(received), 30)
            open_ = state["ws"].state
        attacker.close()
    assert received == [b"end"] and open_ == "OPEN"
    # Nothing per fragment is kept (22,000 of the smallest object would
    # break it): the bound of a connection with an empty queue.
    assert memory["peak"] < memory_bound(0, 0), memory


@async_test(timeout=60)
async def test_flood_of_one_byte_fragments_ends_at_max_message_size() -> None:
    # 1-byte continuation frames (7 bytes each) beyond max_message_size: 1009.
    limit = 16 * KIB
    state: dict[str, Any] = {}

    async def handler(ws: ServerConnection) -> None:
        state["ws"] = ws
        async for _ in ws:
            pass

    async with serve(handler, HOST, 0, max_message_size=limit, close_timeout=0.5) as server:
        with traced() as memory:
            attacker = Attacker(server.port, fragment_flood(b"x"), 4 * MIB,
                                prefix=FRAGMENTED_START)
            attacker.start()
            await finished(attacker)
            await wait_until(lambda: state["ws"].closed, 30)
        attacker.close()
    assert state["ws"].close_code == 1009
    # It stopped the peer, well before 4 MiB were out (the rest was refused).
    assert attacker.dropped or attacker.pushed_back
    assert attacker.sent < 4 * MIB
    assert memory["peak"] < memory_bound(0, limit), memory


# -- slowloris -----------------------------------------------------------------

@async_test(timeout=60)
async def test_slowloris_handshake_ends_at_open_timeout() -> None:
    # 50 clients send their opening handshake a byte every 0.1 s (about 17 s
    # for the whole request): open_timeout=0.5 drops each, the handler never runs.
    calls: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        calls.append(ws)

    async with serve(handler, HOST, 0, open_timeout=0.5) as server:
        slow = Slowloris(server.port, 50, 0.1)
        slow.start()
        await wait_until(lambda: not slow.is_alive(), 30)
        assert not server.connections
    assert slow.error is None, slow.error
    assert slow.connected == 50 and slow.dropped == 50 and slow.completed == 0
    assert not calls


# -- a peer that vanishes ------------------------------------------------------

@async_test(timeout=60)
async def test_peer_that_vanishes_without_fin_is_dropped_by_keepalive() -> None:
    # After the handshake the peer neither reads nor answers (a frozen
    # process, or a machine gone without closing TCP): no pong, so the
    # keepalive fails the connection with 1011 and close_timeout ends TCP.
    holder = Holder()
    async with serve(holder, HOST, 0, ping_interval=0.2, ping_timeout=0.3,
                     close_timeout=0.3) as server:
        attacker = Attacker(server.port, b"", 0)
        attacker.start()
        await finished(attacker)
        await wait_until(lambda: holder.ws is not None and holder.ws.closed, 20)
        assert not server.connections
    attacker.close()
    assert holder.ws is not None and holder.ws.close_code == 1011


@async_test(timeout=60)
async def test_client_that_never_reads_while_the_handler_sends() -> None:
    # send() waits at write_limit; closing the server still ends the
    # connection after close_timeout although the peer reads nothing.
    size = 64 * KIB
    state: dict[str, Any] = {"sent": 0, "buffered": 0}

    async def handler(ws: ServerConnection) -> None:
        state["ws"] = ws
        transport: Any = ws._transport
        try:
            while True:
                await ws.send(bytes(size))
                state["sent"] += 1
                state["buffered"] = max(state["buffered"], transport.get_write_buffer_size())
        except ConnectionClosed as exc:
            state["error"] = exc

    async with serve(handler, HOST, 0, compression=None, ping_interval=None,
                     close_timeout=0.3) as server:
        attacker = Attacker(server.port, b"", 0)
        attacker.start()
        await finished(attacker)
        await wait_until(lambda: "ws" in state and state["ws"]._write_paused)
        stalled_at = state["sent"]
        await asyncio.sleep(0.2)
        assert state["sent"] == stalled_at  # send() waits
    # Leaving serve() closed the server: its close frame could not be
    # delivered, and close_timeout dropped the connection.
    attacker.close()
    assert state["ws"].closed
    assert isinstance(state.get("error"), ConnectionClosed)
    assert state["buffered"] <= 2 * WRITE_LIMIT + size + 14
    # What the kernels hold (the attacker's receive buffer is small)
    # bounds how many messages went out.
    assert stalled_at * size < 16 * MIB


# -- many idle connections -----------------------------------------------------

def rss() -> int:
    """This process's resident memory, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


@async_test(timeout=180)
async def test_ten_thousand_idle_connections() -> None:
    count = 10_000
    hard = raise_fd_limit()  # the server's sockets; the clients live in a subprocess
    if hard < count + 1000:
        message = f"RLIMIT_NOFILE hard limit {hard}: too low for {count} connections"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    handlers: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        handlers.append(ws)
        await ws.wait_closed()

    async with serve(handler, HOST, 0) as server:
        gc.collect()
        before = rss()
        clients = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.attacks", "idle", str(server.port), str(count),
            cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert clients.stdin is not None and clients.stdout is not None
        try:
            assert await clients.stdout.readline() == b"ready\n"
            await wait_until(lambda: len(handlers) == count, 60)
            gc.collect()
            per_connection = (rss() - before) / count
            assert len(server.connections) == count
            assert all(ws.state == "OPEN" for ws in handlers)
        finally:
            clients.stdin.close()
            await clients.wait()
        # Every client went away (EOF): every connection is closed and gone.
        await wait_until(lambda: not server.connections, 60)
    assert clients.returncode == 0
    assert all(ws.closed for ws in handlers)
    # Server memory per idle connection (the issue measured 15.6 KiB with
    # 10 echoes): handler task, protocol, transport, socket, core.
    assert per_connection < 32 * KIB, per_connection / KIB
