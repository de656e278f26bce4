"""Broadcast benchmarks: ``python -m benchmarks.broadcast [--quick] [--markdown benchmarks/RESULTS.md]``.

1. **CPU time per recipient** of one broadcast to N loopback connections
   (N = 1,000, 2,000, 5,000; 200 B and 2 KiB text; plain and
   permessage-deflate), for three ways of doing it in the same process:

   * *floor*: one prebuilt frame written to each transport
     (``transport.write``), the least any broadcast can cost;
   * *wsproto6455*: ``wsproto6455.asyncio.broadcast`` (with deflate, the
     server imposes ``server_no_context_takeover``, so it compresses once);
   * *websockets*: ``websockets.asyncio.server.broadcast`` (with deflate,
     its default: context takeover, one compression per connection).

   Clients are raw sockets in a separate process that read and discard, so
   the server's writes go straight to the kernel. CPU time is
   ``time.process_time()`` (user + system, so the ``send`` system calls
   count) around the synchronous call. Rounds of the three are interleaved,
   the median of the rounds is reported.

2. **Slow consumers**: 45 healthy and 5 stalled clients (4 KiB receive
   buffer, never reading), 20,000 broadcasts of 1 KiB paced by the healthy
   majority; growth of the server process's RSS, each library in a fresh
   subprocess.

Results go to stdout and, with ``--markdown``, into RESULTS.md between the
``<!-- realtime:begin -->`` and ``<!-- realtime:end -->`` markers (the rest
of the file is left alone).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .cpu_share import CpuShare

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- realtime:begin -->", "<!-- realtime:end -->"
SIZES = {"200 B": 200, "2 KiB": 2048}


def text_of(size: int) -> str:
    # JSON-like chat text: compresses as real messages do, not as zeros.
    base = '{"room": "lobby", "user": "u%05d", "text": "hello everyone, how is it going?"}'
    out = ""
    i = 0
    while len(out) < size:
        out += base % i
        i += 1
    return out[:size]


async def start_clients(port: int, count: int, deflate: bool, stalled: int = 0,
                        expect: int = 0) -> asyncio.subprocess.Process:
    args = [sys.executable, "-m", "benchmarks.broadcast_clients", "--port", str(port),
            "--healthy", str(count), "--stalled", str(stalled)]
    if deflate:
        args.append("--deflate")
    if expect:
        args += ["--expect", str(expect)]
    proc = await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 300)
    assert line == b"ready\n", line
    return proc


async def stop_clients(proc: asyncio.subprocess.Process) -> None:
    # communicate(b""): stdin closed (the clients' signal to stop; without
    # input asyncio leaves it open), stdout read to its end, the exit
    # awaited; so the pipes are closed before the loop is (else their
    # transport complains when collected).
    try:
        await asyncio.wait_for(proc.communicate(b""), 30)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.communicate()


async def settle(transports: Sequence[Any]) -> None:
    """Let the clients read everything (write buffers empty)."""
    for _ in range(2000):
        if not any(t.get_write_buffer_size() for t in transports):
            break
        await asyncio.sleep(0.002)
    await asyncio.sleep(0.005)


def cpu_of(call: Any) -> float:
    start = time.process_time()
    call()
    return time.process_time() - start


class ClientsLost(RuntimeError):
    """A client process ended before its connections were all open."""


async def measure_cpu(n: int, deflate: bool, rounds: int, per_round: int) -> Dict[Tuple[str, str], Dict[str, float]]:
    """Per-recipient CPU time (µs) for each size and each way, at ``n`` connections."""
    import websockets
    from websockets.asyncio.server import broadcast as ws_broadcast, serve as ws_serve

    from wsproto6455.asyncio import broadcast, serve
    from wsproto6455.asyncio.broadcast import _compressed_frame
    from wsproto6455.backend import server_frame

    ours: List[Any] = []
    theirs: List[Any] = []

    async def park_ours(ws: Any) -> None:
        ours.append(ws)
        await ws.wait_closed()

    async def park_theirs(ws: Any) -> None:
        theirs.append(ws)
        await ws.wait_closed()

    options: Dict[str, Any] = {"ping_interval": None, "max_queue": None}
    if deflate:
        options["deflate_options"] = {"server_no_context_takeover": True}
    else:
        options["compression"] = None
    results: Dict[Tuple[str, str], Dict[str, float]] = {}
    async with serve(park_ours, "127.0.0.1", 0, **options) as server, \
            ws_serve(park_theirs, "127.0.0.1", 0, ping_interval=None,
                     compression="deflate" if deflate else None, max_size=None) as ws_server:
        ws_port = ws_server.sockets[0].getsockname()[1]  # type: ignore[index]
        clients = [await start_clients(server.port, n, deflate),
                   await start_clients(ws_port, n, deflate)]
        try:
            deadline = time.monotonic() + 120
            while len(ours) < n or len(theirs) < n:
                if time.monotonic() > deadline or any(c.returncode is not None for c in clients):
                    raise ClientsLost(f"{len(ours)} and {len(theirs)} of {n} connections open")
                await asyncio.sleep(0.01)
            our_transports = [ws._transport for ws in ours]
            their_transports = [ws.transport for ws in theirs]
            for size_name, size in SIZES.items():
                message = text_of(size)
                frame = (_compressed_frame(ours[0], message) if deflate else server_frame(message))
                ways = {
                    "floor": lambda: [t.write(frame) for t in our_transports],
                    "wsproto6455": lambda: broadcast(ours, message),
                    "websockets": lambda: ws_broadcast(theirs, message),
                }
                samples: Dict[str, List[float]] = {way: [] for way in ways}
                # warm up every way once
                for way, call in ways.items():
                    call()
                    await settle(our_transports + their_transports)
                for _ in range(rounds):
                    for way, call in ways.items():
                        total = 0.0
                        for _ in range(per_round):
                            total += cpu_of(call)
                            await settle(our_transports if way != "websockets" else their_transports)
                        samples[way].append(total / per_round / n * 1e6)
                row = {way: statistics.median(values) for way, values in samples.items()}
                row["own work"] = own_work(ours, our_transports, message, frame, rounds * per_round)
                results[(size_name, "deflate" if deflate else "plain")] = row
        finally:
            for proc in clients:
                await stop_clients(proc)
    del websockets
    return results


def own_work(ours: List[Any], transports: List[Any], message: str, frame: bytes, rounds: int) -> float:
    """Our broadcast's own work per recipient (µs), the writes excluded:
    with every transport's ``write`` replaced by a C list append, ours minus
    the floor. The system calls that dominate (and scatter) the CPU times
    above are out of it, so this is the Python the call adds."""
    from wsproto6455.asyncio import broadcast

    sink: List[bytes] = []
    for transport in transports:
        transport.write = sink.append
    try:
        ways = {"floor": lambda: [t.write(frame) for t in transports],
                "wsproto6455": lambda: broadcast(ours, message)}
        samples: Dict[str, List[float]] = {way: [] for way in ways}
        for _ in range(max(rounds, 5)):
            for way, call in ways.items():
                started = time.perf_counter()
                call()
                samples[way].append((time.perf_counter() - started) / len(transports) * 1e6)
                sink.clear()
    finally:
        for transport in transports:
            del transport.write
    return statistics.median(samples["wsproto6455"]) - statistics.median(samples["floor"])


# -- slow consumers -----------------------------------------------------------

def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def slow_consumers(lib: str, count: int) -> Dict[str, Any]:
    """One library's slow-consumer run (in a fresh process: RSS is ours alone)."""
    conns: List[Any] = []

    async def park(ws: Any) -> None:
        conns.append(ws)
        await ws.wait_closed()

    payloads = [(f"{i:010d}".encode() * 103)[:1024] for i in range(count)]
    if lib == "wsproto6455":
        from wsproto6455.asyncio import broadcast, serve
        server_cm: Any = serve(park, "127.0.0.1", 0, compression=None, ping_interval=None)

        def backlog(ws: Any) -> int:
            return ws._transport.get_write_buffer_size() if ws._transport else 0
    else:
        from websockets.asyncio.server import broadcast, serve as ws_serve
        server_cm = ws_serve(park, "127.0.0.1", 0, compression=None, ping_interval=None)

        def backlog(ws: Any) -> int:
            return ws.transport.get_write_buffer_size()
    async with server_cm as server:
        port = server.sockets[0].getsockname()[1]
        proc = await start_clients(port, 45, False, stalled=5, expect=count * 1028)
        try:
            while len(conns) < 50:
                await asyncio.sleep(0.01)
            before = peak = rss()
            start = time.process_time()
            for i, data in enumerate(payloads):
                broadcast(conns, data)
                if i % 32 == 31:
                    while sorted(map(backlog, conns))[44] > 256 << 10:
                        await asyncio.sleep(0.001)
                if i % 500 == 499:
                    peak = max(peak, rss())
            cpu = time.process_time() - start
            peak = max(peak, rss())
            assert proc.stdout is not None
            received = json.loads(await asyncio.wait_for(proc.stdout.readline(), 300))
            stalled_backlog = sorted(map(backlog, conns))[45:]
        finally:
            await stop_clients(proc)
    complete = sum(1 for b in received["bytes"] if b == count * 1028)
    return {"growth": peak - before, "healthy_complete": complete, "cpu": cpu,
            "stalled_backlog": stalled_backlog}


# -- report -----------------------------------------------------------------------

def fmt_us(value: float) -> str:
    return f"{value:.2f} µs"


def render(cpu: Dict[int, Dict[Tuple[str, str], Dict[str, float]]], slow: Dict[str, Dict[str, Any]],
           command: str, cpu_share: str) -> str:
    import websockets

    import wsproto6455
    lines = [
        BEGIN,
        "## Realtime: broadcast and slow consumers",
        "",
        f"- machine: {os.cpu_count()} CPUs, {platform.platform()}; CPython {platform.python_version()}; "
        f"wsproto6455 {wsproto6455.__version__} (speedups: {wsproto6455.SPEEDUPS}), websockets {websockets.__version__}",
        f"- command: `{command}`; produced by `benchmarks/broadcast.py` (see its docstring for the method)",
        f"- {cpu_share}",
        "",
        "CPU time (user + system) per recipient of one broadcast over loopback, median of interleaved "
        "rounds; ratios to the floor (one prebuilt frame written to each transport) and to websockets' "
        "`broadcast` in the same run. With deflate, our server imposes `server_no_context_takeover` and "
        "compresses once; websockets compresses once per connection (its default, context takeover). "
        "*Own work*: our call's cost per recipient over the floor's with the writes excluded (each "
        "transport's `write` replaced by a list append), wall time, median; the system calls, which "
        "dominate and scatter the CPU times, are out of it.",
        "",
        "| connections | size | mode | floor | wsproto6455 | websockets | ours / floor | ours / websockets "
        "| own work |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n, table in sorted(cpu.items()):
        for (size, mode), row in table.items():
            own = f"{row['own work'] * 1000:.0f} ns" if "own work" in row else "–"
            lines.append(
                f"| {n:,} | {size} | {mode} | {fmt_us(row['floor'])} | {fmt_us(row['wsproto6455'])} | "
                f"{fmt_us(row['websockets'])} | {row['wsproto6455'] / row['floor']:.2f} | "
                f"{row['wsproto6455'] / row['websockets']:.2f} | {own} |")
    if slow:
        lines += [
            "",
            "Slow consumers: 45 healthy + 5 stalled clients (4 KiB receive buffer, never reading), "
            "broadcasts of 1 KiB paced by the healthy majority; growth of the server process's RSS "
            "(each library in a fresh process).",
            "",
            "| library | broadcasts | RSS growth | healthy clients that got every byte | bytes waiting for the 5 stalled | CPU |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for lib, row in slow.items():
            waiting = sum(row["stalled_backlog"])
            lines.append(f"| {lib} | {row['count']:,} | {row['growth'] / 2**20:.1f} MiB | "
                         f"{row['healthy_complete']}/45 | {waiting / 2**20:.1f} MiB | {row['cpu']:.1f} s |")
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.broadcast")
    parser.add_argument("--quick", action="store_true", help="1,000 connections, fewer rounds")
    parser.add_argument("--connections", type=int, nargs="*", help="default: 1000 2000 5000")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--no-slow", action="store_true", help="skip the slow-consumer runs")
    parser.add_argument("--slow-count", type=int, default=20_000)
    parser.add_argument("--markdown", metavar="PATH", help="update the realtime section of this file")
    parser.add_argument("--slow-one", choices=["wsproto6455", "websockets"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.slow_one:
        result = asyncio.run(slow_consumers(args.slow_one, args.slow_count))
        print(json.dumps(result))
        return 0
    share = CpuShare()
    counts = args.connections or ([1000] if args.quick else [1000, 2000, 5000])
    rounds = 2 if args.quick else args.rounds
    cpu: Dict[int, Dict[Tuple[str, str], Dict[str, float]]] = {}
    for n in counts:
        cpu[n] = {}
        for deflate in (False, True):
            for attempt in range(3):
                try:
                    cpu[n].update(asyncio.run(asyncio.wait_for(
                        measure_cpu(n, deflate, rounds, per_round=5), 900)))
                    break
                except (ClientsLost, asyncio.TimeoutError) as exc:
                    # Seen twice on a shared VM, never understood: a client
                    # process ends (its stdin closed) right after its handshakes.
                    print(f"{n} connections, deflate={deflate}: clients lost ({exc}); again",
                          file=sys.stderr, flush=True)
            for (size, mode), row in cpu[n].items():
                if mode == ("deflate" if deflate else "plain"):
                    print(f"{n:>5} {size:>6} {mode:>7}: " + "  ".join(
                        f"{way} {value:6.2f} µs" for way, value in row.items()), flush=True)
    slow: Dict[str, Dict[str, Any]] = {}
    if not args.no_slow:
        for lib in ("wsproto6455", "websockets"):
            out = subprocess.run([sys.executable, "-m", "benchmarks.broadcast", "--slow-one", lib,
                                  "--slow-count", str(args.slow_count)],
                                 cwd=ROOT, capture_output=True, text=True, timeout=1800)
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                continue
            slow[lib] = {**json.loads(out.stdout.strip().splitlines()[-1]), "count": args.slow_count}
            row = slow[lib]
            print(f"slow consumers, {lib}: RSS +{row['growth'] / 2**20:.1f} MiB, "
                  f"{row['healthy_complete']}/45 healthy complete, CPU {row['cpu']:.1f} s", flush=True)
    section = render(cpu, slow, "python -m benchmarks.broadcast " + " ".join(argv or sys.argv[1:]),
                     share.describe())
    print(section)
    if args.markdown:
        write_section(Path(args.markdown), section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
