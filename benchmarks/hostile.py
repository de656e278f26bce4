"""``python -m benchmarks.hostile``: hostile peers against a server with its
default options; per attack, the server's peak memory per connection and
what happened. Idle memory per connection comes from the same run.

Each (library, attack) pair gets a fresh server process (``--serve``), so
its peak resident memory (``VmHWM``) belongs to that attack alone. The
attackers (``benchmarks/attacks.py``) are raw TCP clients in threads of
this process, several connections per attack; the idle clients live in a
subprocess of their own. Peak memory per connection is
``(VmHWM after the attack - VmRSS before it) / connections``.

Libraries: wsproto6455 (``wsproto6455.asyncio.serve``) and websockets
(``websockets.asyncio.server.serve``), both with their defaults except where
an attack's row says otherwise (timers shortened so the run stays short).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .attacks import (
    FRAGMENTED_START,
    Attacker,
    Slowloris,
    deflate_flood,
    fragment_flood,
    ping_flood,
    raise_fd_limit,
)

ROOT = Path(__file__).resolve().parents[1]
KIB = 1 << 10
MIB = 1 << 20
LIBRARIES = ("wsproto6455", "websockets")


# -- the server process --------------------------------------------------------

def _status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in bytes."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) * KIB
    return fields


async def _handler_for(kind: str, library: str) -> Callable[[Any], Any]:
    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async def hold(ws: Any) -> None:  # never reads
        await ws.wait_closed()

    async def sender(ws: Any) -> None:  # sends until the connection closes
        payload = bytes(64 * KIB)
        try:
            while True:
                await ws.send(payload)
        except Exception:  # noqa: BLE001 - the connection closed under it
            pass

    return {"echo": echo, "hold": hold, "sender": sender}[kind]


async def _serve(library: str, handler_kind: str, options: dict[str, Any]) -> None:
    raise_fd_limit()
    handler = await _handler_for(handler_kind, library)
    if library == "wsproto6455":
        from wsproto6455.asyncio import serve
    else:
        from websockets.asyncio.server import serve  # type: ignore[assignment]
    loop = asyncio.get_running_loop()
    async with serve(handler, "127.0.0.1", 0, **options) as server:
        port = server.sockets[0].getsockname()[1] if library == "websockets" else server.port
        print(json.dumps({"port": port, **_status()}), flush=True)
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line or line.strip() == b"quit":
                break
            connections: Any = server.connections
            queued = [len(ws._messages) if library == "wsproto6455" else len(ws.recv_messages.frames)
                      for ws in connections]
            print(json.dumps({"connections": len(server.connections), "queued": queued, **_status()}),
                  flush=True)


class ServerProcess:
    """A server in a subprocess; ``status()`` asks for its memory figures."""

    def __init__(self, library: str, handler: str, options: dict[str, Any]) -> None:
        # Its log (asyncio's and the library's warnings) goes to a file: the
        # lines are counted, not shown.
        self.log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.hostile", "--serve", library, handler, json.dumps(options)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        first = self._read()
        self.port: int = first["port"]
        self.started = first

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("server process died")
        result: dict[str, Any] = json.loads(line)
        return result

    def status(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("status\n")
        self.proc.stdin.flush()
        return self._read()

    def stop(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_lines(self) -> int:
        """Lines the server logged (e.g. a warning per write after a failed one)."""
        self.log.seek(0)
        return sum(1 for _ in self.log)


# -- the attacks ------------------------------------------------------------------

@dataclass
class Figure:
    library: str
    attack: str
    connections: int
    peak_kib_per_connection: float
    outcome: str
    options: dict[str, Any] = field(default_factory=dict)


def _wait(threads: Sequence[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def _closed_by_server(attackers: Sequence[Attacker], timeout: float) -> int:
    """How many of the attackers' connections the server has closed (reads
    what is left on each socket until EOF or ``timeout``)."""
    import socket

    closed = 0
    deadline = time.monotonic() + timeout
    for attacker in attackers:
        sock = attacker.sock
        if sock is None:
            continue
        try:
            while True:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                if not sock.recv(1 << 16):
                    closed += 1
                    break
        except (socket.timeout, OSError):
            if attacker.dropped:
                closed += 1
    return closed


def _flood(server: ServerProcess, count: int, chunk: bytes, total: int, *, prefix: bytes = b"",
           deflate: bool = False, stall: float = 1.0) -> list[Attacker]:
    attackers = [Attacker(server.port, chunk, total, prefix=prefix, deflate=deflate, stall=stall)
                 for _ in range(count)]
    for attacker in attackers:
        attacker.start()
    _wait(attackers, 120)
    return attackers


def _sent(attackers: Sequence[Attacker]) -> str:
    return f"{sum(a.sent for a in attackers) / len(attackers) / MIB:.1f} MiB sent per connection"


def attack_ping_flood(server: ServerProcess, count: int, scale: int) -> str:
    attackers = _flood(server, count, ping_flood(), 16 * MIB)
    pushed = sum(a.pushed_back for a in attackers)
    for attacker in attackers:
        attacker.close()
    return f"{_sent(attackers)}; TCP pushed back on {pushed}/{count}"


def attack_deflate_flood(server: ServerProcess, count: int, scale: int) -> str:
    flood = deflate_flood(MIB - 1, 200 // scale)  # 1 MiB of zeros: ~1 KB on the wire
    attackers = _flood(server, count, flood, len(flood), deflate=True)
    time.sleep(0.5)  # let the server do whatever it does with the bytes
    queued = server.status()["queued"]
    for attacker in attackers:
        attacker.close()
    return (f"{200 // scale} messages of 1 MiB ({len(flood) // KIB} KiB on the wire) to a handler "
            f"that does not read; queued per connection: {queued}")


def attack_empty_fragments(server: ServerProcess, count: int, scale: int) -> str:
    attackers = _flood(server, count, fragment_flood(b""), 4 * MIB // scale, prefix=FRAGMENTED_START,
                       stall=30)
    closed = _closed_by_server(attackers, 2)
    for attacker in attackers:
        attacker.close()
    return f"{_sent(attackers)} of empty fragments of one message; closed by the server: {closed}/{count}"


def attack_one_byte_fragments(server: ServerProcess, count: int, scale: int) -> str:
    attackers = _flood(server, count, fragment_flood(b"x"), 16 * MIB, prefix=FRAGMENTED_START, stall=30)
    closed = _closed_by_server(attackers, 5)
    for attacker in attackers:
        attacker.close()
    return f"{_sent(attackers)} of 1-byte fragments; closed by the server: {closed}/{count}"


def attack_slowloris(server: ServerProcess, count: int, scale: int) -> str:
    started = time.monotonic()
    slow = Slowloris(server.port, count, 0.5)
    slow.start()
    slow.join(120)
    return (f"a byte every 0.5 s: {slow.dropped}/{count} dropped before the request ended, "
            f"after {time.monotonic() - started:.1f} s")


def attack_vanished(server: ServerProcess, count: int, scale: int) -> str:
    started = time.monotonic()
    attackers = _flood(server, count, b"", 0)
    closed = _closed_by_server(attackers, 30)
    for attacker in attackers:
        attacker.close()
    return f"{closed}/{count} closed by the server after {time.monotonic() - started:.1f} s"


def attack_never_reads(server: ServerProcess, count: int, scale: int) -> str:
    attackers = _flood(server, count, b"", 0)
    time.sleep(1.0)  # the handlers send until they wait
    for attacker in attackers:
        attacker.close()
    return "handlers send 64 KiB messages; the peer reads nothing"


@dataclass(frozen=True)
class Attack:
    name: str
    handler: str
    run: Callable[[ServerProcess, int, int], str]
    # option overrides per library (timers shortened to keep the run short)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


ATTACKS = [
    Attack("ping flood (peer never reads)", "hold", attack_ping_flood),
    Attack("deflate flood 1000:1 (handler does not read)", "hold", attack_deflate_flood),
    Attack("empty-fragment flood", "echo", attack_empty_fragments),
    Attack("1-byte-fragment flood", "echo", attack_one_byte_fragments),
    Attack("slowloris handshake", "echo", attack_slowloris,
           {"wsproto6455": {"open_timeout": 2}, "websockets": {"open_timeout": 2}}),
    Attack("peer vanishes (no FIN)", "hold", attack_vanished,
           {"wsproto6455": {"ping_interval": 1, "ping_timeout": 1, "close_timeout": 1},
            "websockets": {"ping_interval": 1, "ping_timeout": 1, "close_timeout": 1}}),
    Attack("peer never reads, handler sends", "sender", attack_never_reads),
]


def measure(library: str, attack: Attack, count: int, scale: int) -> Figure:
    options = attack.options.get(library, {})
    server = ServerProcess(library, attack.handler, options)
    try:
        before = server.status()
        outcome = attack.run(server, count, scale)
        after = server.status()
    finally:
        server.stop()
    logged = server.log_lines()
    if logged:
        outcome += f"; {logged} lines logged"
    peak = (after["VmHWM"] - before["VmRSS"]) / count / KIB
    return Figure(library, attack.name, count, peak, outcome, options)


def measure_idle(library: str, count: int, echoes: int) -> Figure:
    """RSS growth of a server per idle connection, after ``echoes`` echoes each, no deflate."""
    options: dict[str, Any] = {"compression": None}
    server = ServerProcess(library, "echo", options)
    try:
        before = server.status()
        clients = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.attacks", "idle", str(server.port), str(count), str(echoes)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert clients.stdout is not None and clients.stdin is not None
        ready = clients.stdout.readline().strip()
        after = server.status()
        clients.stdin.close()
        clients.wait(60)
    finally:
        server.stop()
    if ready != "ready":
        raise RuntimeError(f"idle clients failed ({library})")
    per = (after["VmRSS"] - before["VmRSS"]) / count / KIB
    return Figure(library, f"idle, {echoes} echoes, no deflate", count, per,
                  f"{after['connections']} open", options)


def _table(figures: list[Figure]) -> str:
    lines = ["| attack | library | connections | peak KiB/conn | outcome |", "|---|---|---|---|---|"]
    for f in figures:
        lines.append(f"| {f.attack} | {f.library} | {f.connections} | "
                     f"{f.peak_kib_per_connection:.1f} | {f.outcome} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hostile", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer connections, smaller floods")
    parser.add_argument("--connections", type=int, help="connections per attack (default 10; quick: 4)")
    parser.add_argument("--idle", type=int, help="idle connections (default 2000; quick: 500)")
    parser.add_argument("--only", nargs="+", metavar="LIBRARY", choices=LIBRARIES, default=list(LIBRARIES))
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    parser.add_argument("--serve", nargs=3, metavar=("LIBRARY", "HANDLER", "OPTIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        library, handler, options = args.serve
        asyncio.run(_serve(library, handler, json.loads(options)))
        return 0
    count = args.connections or (4 if args.quick else 10)
    idle = args.idle or (500 if args.quick else 2000)
    scale = 4 if args.quick else 1
    figures: list[Figure] = []
    for attack in ATTACKS:
        for library in args.only:
            figure = measure(library, attack, count, scale)
            print(f"{library:12} {attack.name:45} {figure.peak_kib_per_connection:9.1f} KiB/conn  {figure.outcome}",
                  flush=True)
            figures.append(figure)
    for library in args.only:
        figure = measure_idle(library, idle, 10)
        print(f"{library:12} {figure.attack:45} {figure.peak_kib_per_connection:9.1f} KiB/conn  {figure.outcome}",
              flush=True)
        figures.append(figure)
    print()
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(_table(figures))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(f) for f in figures], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
