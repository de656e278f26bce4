"""Slow consumers over real sockets: 45 healthy clients and 5 stalled ones
(tiny receive buffers, never reading) in a separate process, 1 KiB
broadcasts. Healthy clients get every byte, in order; the server's memory
stays bounded by the byte budgets."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path
from typing import List

import pytest

from wsproto6455.asyncio import ServerConnection, broadcast, serve
from wsproto6455.backend import server_frame

from tests.test_asyncio_support import HOST, async_test, wait_until

ROOT = Path(__file__).resolve().parents[1]
HEALTHY, STALLED, SIZE = 45, 5, 1024


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")  # pragma: no cover


def message(i: int) -> bytes:
    return f"{i:010d}".encode() * (SIZE // 10) + b"-" * (SIZE % 10)


def backlog(ws: ServerConnection) -> int:
    transport = ws._transport
    return transport.get_write_buffer_size() if transport is not None else 0


async def run_scenario(count: int, **options: object) -> None:
    conns: List[ServerConnection] = []

    async def park(ws: ServerConnection) -> None:
        conns.append(ws)
        await ws.wait_closed()

    expected = hashlib.sha256()
    # no keepalive: the healthy clients count the exact bytes of the broadcasts
    async with serve(park, HOST, 0, compression=None, close_timeout=1, ping_interval=None,
                     **options) as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.broadcast_clients", "--port", str(server.port),
            "--healthy", str(HEALTHY), "--stalled", str(STALLED),
            "--expect", str(count * len(server_frame(message(0)))),
            cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        try:
            assert proc.stdout is not None
            assert await asyncio.wait_for(proc.stdout.readline(), 60) == b"ready\n"
            await wait_until(lambda: len(conns) == HEALTHY + STALLED, timeout=30)
            before = peak = rss_bytes()
            for i in range(count):
                data = message(i)
                expected.update(server_frame(data))
                broadcast(conns, data)
                if i % 32 == 31:
                    # A producer paced by the majority: wait while one of
                    # the 45 least backlogged connections holds over 256 KiB.
                    while sorted(map(backlog, conns))[HEALTHY - 1] > 256 << 10:
                        await asyncio.sleep(0.001)
                if i % 1000 == 999:
                    peak = max(peak, rss_bytes())
            peak = max(peak, rss_bytes())
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            received = json.loads(line)
            growth = peak - before
            # Five stalled clients cost at most their byte budget each (1 MiB
            # by default) plus allocator slack: far below the 32 MiB bound.
            assert growth <= 32 << 20, f"server memory grew by {growth / 2**20:.1f} MiB"
            frame_size = len(server_frame(message(0)))
            assert received["bytes"] == [count * frame_size] * HEALTHY
            assert received["sha256"] == [expected.hexdigest()] * HEALTHY  # all, in order
            slow = [ws for ws in conns if ws.broadcast_drops]
            assert len(slow) == STALLED
            assert all(ws.broadcast_sent == count for ws in conns if ws not in slow)
            metrics = server.metrics()
            assert metrics["broadcast_drops"] == sum(ws.broadcast_drops for ws in slow)
            if options.get("slow_consumer") == "close":
                await wait_until(lambda: all(ws.closed for ws in slow), timeout=10)
                assert {ws.close_code for ws in slow} == {options.get("slow_consumer_code", 1013)}
                assert server.metrics()["slow_consumer_closes"] == STALLED
                assert all(ws.broadcast_drops == 1 for ws in slow)
            else:
                assert all(ws.state == "OPEN" for ws in slow)  # dropped, not closed
                assert all(backlog(ws) <= 1 << 20 for ws in slow)  # the default budget
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            await proc.wait()


@async_test(timeout=300)
async def test_drop_policy_20000_broadcasts_healthy_get_everything_memory_bounded() -> None:
    await run_scenario(20_000)


@pytest.mark.parametrize("code", [1013, 1008])
def test_close_policy_closes_only_the_stalled(code: int) -> None:
    @async_test(timeout=300)
    async def scenario() -> None:
        await run_scenario(4_000, slow_consumer="close", slow_consumer_code=code)

    scenario()
