"""End-to-end echo over loopback: one common client, a server per library,
each in its own subprocess (so the server is what differs).

The client writes pre-built masked 16-byte text frames and counts the
echoed frames; it never parses more than frame headers. Round trips: one
message in flight, on a socket of its own that the client spins on (see
:class:`BlockingClient`), so the server's latency is most of what is
measured. Pipelined: up to ``WINDOW`` messages in flight, from a raw
asyncio protocol.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from .. import wire
from ..adapters import ours
from ..harness import Result, note_for
from ..payloads import ascii_text
from . import Context

HOST = "127.0.0.1"
SIZE = 16
FRAME = wire.frame(ascii_text(SIZE).encode(), mask=b"\x5a\x13\xc4\x7e")
WINDOW = 256  # pipelined: messages in flight at most
MAX_MESSAGES = 1_000_000  # per measurement, whatever the time budget
TIMEOUT = 10.0  # seconds for any single wait: a stuck server becomes a note
PONG_MASK = b"\x00\x00\x00\x00"
OP_PONG = 0xA
_DURATION = {"smoke": 0.0, "quick": 0.2, "full": 1.5}  # seconds per measurement
_ROUNDS = {"smoke": 1, "quick": 3, "full": 5}  # long measurements: fewer rounds than the micro cases
_NO_SPEEDUPS = {"WSPROTO6455_NO_SPEEDUPS": "1"}

# column -> (server in benchmarks.echo_server, extra environment)
SERVERS = {
    "wsproto6455 (speedups)": ("wsproto6455", {}),
    "wsproto6455 (pure)": ("wsproto6455", _NO_SPEEDUPS),
    "websockets": ("websockets", {}),
    "aiohttp": ("aiohttp", {}),
    "picows": ("picows", {}),
}


def _take_frames(buffer: bytearray) -> tuple[int, list[bytes]]:
    """Remove the complete frames at the front of ``buffer``: count the data
    frames, and return the payloads of the pings (keepalive) to answer."""
    pos, end, count, pings = 0, len(buffer), 0, []
    while end - pos >= 2:
        length, head = buffer[pos + 1] & 0x7F, 2
        if length == 126:
            length, head = int.from_bytes(buffer[pos + 2 : pos + 4], "big"), 4
        elif length == 127:
            length, head = int.from_bytes(buffer[pos + 2 : pos + 10], "big"), 10
        if end - pos < head + length:
            break
        opcode = buffer[pos] & 0x0F
        if opcode < 0x8:
            count += 1
        elif opcode == 0x9:
            pings.append(bytes(buffer[pos + head : pos + head + length]))
        pos += head + length
    del buffer[:pos]
    return count, pings


class EchoClient(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.frames = 0  # echoed frames received so far
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._want = 0
        self._waiter: Optional[asyncio.Future[None]] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        # picows refuses a Connection token list (HTTP 400): send the bare token.
        self.transport.write(wire.request(connection="Upgrade"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.opened.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[:12])
            del self.buffer[: end + 4]
            if status != b"HTTP/1.1 101":
                self.opened.set_exception(ConnectionError(f"handshake refused: {status!r}"))
                return
            self.opened.set_result(None)
        frames, pings = _take_frames(self.buffer)
        for payload in pings:  # servers close connections that ignore their pings
            self.transport.write(wire.frame(payload, mask=PONG_MASK, opcode=OP_PONG))
        self.frames += frames
        if self._waiter is not None and self.frames >= self._want:
            self._waiter.set_result(None)
            self._waiter = None

    def connection_lost(self, exc: Optional[Exception]) -> None:
        error = exc or ConnectionError("server closed the connection")
        for future in (self.opened, self._waiter):
            if future is not None and not future.done():
                future.set_exception(error)

    async def until(self, frames: int) -> None:
        """Wait until ``frames`` echoed frames have arrived in all."""
        if self.frames < frames:
            self._want = frames
            self._waiter = asyncio.get_running_loop().create_future()
            await asyncio.wait_for(self._waiter, TIMEOUT)


class BlockingClient:
    """The round-trip client: its own socket, no event loop in the way.

    While measuring it spins on a non-blocking socket instead of sleeping
    in ``recv``: on these virtual machines a sleeping vCPU takes tens of
    microseconds to wake up, which would be most of each round trip and
    vary with whatever else the host runs. Spinning keeps the client's side
    of the round trip at a few system calls, the same for every server.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.sock.sendall(wire.request(connection="Upgrade"))
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        end = self.buffer.find(b"\r\n\r\n")
        status = bytes(self.buffer[:12])
        del self.buffer[: end + 4]
        if status != b"HTTP/1.1 101":
            raise ConnectionError(f"handshake refused: {status!r}")

    def _read(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buffer += data

    def _spin_read(self, give_up: float) -> None:
        """Read what has arrived, spinning until something has."""
        recv = self.sock.recv
        while True:
            try:
                data = recv(65536)
            except BlockingIOError:
                if time.perf_counter() > give_up:
                    raise TimeoutError("no echo") from None
                continue
            if not data:
                raise ConnectionError("server closed the connection")
            self.buffer += data
            return

    def round_trips(self, duration: float) -> float:
        sock, buffer, sent = self.sock, self.buffer, 0
        sock.setblocking(False)
        try:
            start = time.perf_counter()
            deadline = start + duration
            while True:
                sock.send(FRAME)  # 22 bytes into an empty socket buffer: never partial
                sent += 1
                echoed, give_up = 0, time.perf_counter() + TIMEOUT
                while not echoed:
                    self._spin_read(give_up)
                    echoed, pings = _take_frames(buffer)
                    for payload in pings:  # servers close connections that ignore their pings
                        sock.sendall(wire.frame(payload, mask=PONG_MASK, opcode=OP_PONG))
                if time.perf_counter() >= deadline or sent >= MAX_MESSAGES:
                    return sent / (time.perf_counter() - start)
        finally:
            sock.settimeout(TIMEOUT)

    def answer_pings(self) -> None:
        """Answer the keepalive pings that came while the client was idle:
        the servers are measured in rotation, and a connection can sit idle
        for longer than websockets' 20-second ping timeout."""
        self.sock.setblocking(False)
        try:
            while True:
                try:
                    data = self.sock.recv(65536)
                except BlockingIOError:
                    break
                if not data:
                    raise ConnectionError("server closed the connection")
                self.buffer += data
            _, pings = _take_frames(self.buffer)
            for payload in pings:
                self.sock.sendall(wire.frame(payload, mask=PONG_MASK, opcode=OP_PONG))
        finally:
            self.sock.settimeout(TIMEOUT)

    def close(self) -> None:
        self.sock.close()


async def pipelined(client: EchoClient, duration: float) -> float:
    write, base, half = client.transport.write, client.frames, WINDOW // 2
    batch = FRAME * half
    start = time.perf_counter()
    deadline = start + duration
    write(FRAME * WINDOW)
    sent = WINDOW
    while time.perf_counter() < deadline and sent < MAX_MESSAGES:
        await client.until(base + sent - half)  # refill when half have come back
        write(batch)
        sent += half
    await client.until(base + sent)
    return sent / (time.perf_counter() - start)


class _Server:
    """One echo server subprocess; ``port`` or ``note`` after :meth:`start`."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        root = str(Path(__file__).resolve().parents[2])
        environment = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.echo_server", name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=root, env=environment, text=True,
        )
        self.port: Optional[int] = None
        self.note: Optional[str] = None

    def wait_ready(self) -> None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        line = self.proc.stdout.readline().strip() if ready else "unavailable: no answer"
        if line.isdigit():
            self.port = int(line)
        else:
            self.note = line.removeprefix("unavailable: ") or "server exited"

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()  # the server exits when its stdin closes
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _columns() -> dict[str, str]:
    """Columns that cannot run here, with the reason."""
    try:
        active = ours.speedups_active()
    except ImportError as exc:
        return {column: note_for(exc) for column in SERVERS if column.startswith("wsproto6455")}
    return {} if active else {"wsproto6455 (speedups)": "speedups not built"}


Samples = dict[str, dict[str, list[float]]]  # column -> case -> rates


Clients = dict[str, tuple[EchoClient, BlockingClient]]  # column -> (pipelined, round trips)


async def _warm_up(client: EchoClient, blocking: BlockingClient) -> None:
    await asyncio.wait_for(client.opened, TIMEOUT)
    for _ in range(50):
        client.transport.write(FRAME)
        await client.until(client.frames + 1)
    blocking.round_trips(0.0)


def _answer_idle_pings(clients: Clients, notes: dict[str, str]) -> None:
    for column, (_, blocking) in clients.items():
        if column not in notes:
            try:
                blocking.answer_pings()
            except OSError as exc:
                notes[column] = note_for(exc)


async def _measure(clients: Clients, repeats: int, duration: float, notes: dict[str, str]) -> Samples:
    """Interleaved rounds over the servers, each round starting elsewhere;
    a server that fails leaves the rounds with a note."""
    samples: Samples = {column: {"round trips": [], "pipelined": []} for column in clients}
    order = list(clients)
    for r in range(repeats + 1):  # round 0 warms up
        for column in order[r % len(order) :] + order[: r % len(order)]:
            if column in notes:
                continue
            _answer_idle_pings(clients, notes)
            client, blocking = clients[column]
            try:
                if r == 0:
                    await _warm_up(client, blocking)
                    continue
                # Blocking on purpose: nothing else runs in this loop meanwhile.
                samples[column]["round trips"].append(blocking.round_trips(duration))
                samples[column]["pipelined"].append(await pipelined(client, duration))
            except (OSError, asyncio.TimeoutError) as exc:
                notes[column] = note_for(exc)
    return {column: rates for column, rates in samples.items() if column not in notes}


async def _connect(servers: dict[str, _Server], notes: dict[str, str]) -> Clients:
    loop = asyncio.get_running_loop()
    clients = {}
    for column, server in servers.items():
        server.wait_ready()
        if server.port is None:
            notes[column] = server.note or "unavailable"
            continue
        try:
            _, client = await loop.create_connection(EchoClient, HOST, server.port)
            clients[column] = (client, BlockingClient(server.port))
        except OSError as exc:
            notes[column] = note_for(exc)
    return clients


def run(ctx: Context) -> list[Result]:
    notes = _columns()
    servers = {c: _Server(*spec) for c, spec in SERVERS.items() if c not in notes}
    loop = asyncio.new_event_loop()
    clients: Clients = {}
    try:
        clients = loop.run_until_complete(_connect(servers, notes))
        samples = loop.run_until_complete(_measure(clients, _ROUNDS[ctx.mode.name], _DURATION[ctx.mode.name], notes))
    finally:
        for client, blocking in clients.values():
            client.transport.close()
            blocking.close()
        for server in servers.values():
            server.stop()
        loop.close()
    results = []
    for case, unit in (("round trips", "round trips/s"), ("pipelined", "msg/s")):
        results += [Result("echo", case, SIZE, column, unit, value=statistics.median(rates[case]),
                           best=max(rates[case]), repeats=len(rates[case])) for column, rates in samples.items()]
        results += [Result("echo", case, SIZE, column, unit, note=note) for column, note in notes.items()]
    return results
