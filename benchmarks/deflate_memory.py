"""Memory per connection with permessage-deflate, and compression ratios.

``python -m benchmarks.deflate_memory [--clients 1000] [--echoes 10]``

Part 1, memory: each server runs in a subprocess of its own, with its
library's default options (``serve(echo, host, port)``), unless the row says
otherwise. Raw clients in this process open ``--clients`` connections with a
browser's offer (``Sec-WebSocket-Extensions: permessage-deflate;
client_max_window_bits``), then each sends ``--echoes`` compressed JSON
messages (15-bit window, context takeover, as a browser does) and waits for
their echoes. The figure is the growth of the server's resident set size
(VmRSS) from before the first connection to after the last echo, divided by
the number of connections, all connections still open.

Part 2, compression ratio: the same JSON corpus (chat-like events, 100 to 400
bytes each, deterministic) sent by a server through one connection with
context takeover, for each setting; ratio = wire payload bytes / message bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import resource
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any, Callable, Optional

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
BROWSER_OFFER = b"permessage-deflate; client_max_window_bits"


# -- the corpus -------------------------------------------------------------------

def corpus(count: int = 2000, seed: int = 6455) -> list[str]:
    """Chat-like JSON events: what a realtime server typically sends."""
    rng = random.Random(seed)
    users = [f"user{n:04d}" for n in range(200)]
    rooms = ["lobby", "general", "random", "support", "dev", "ops", "sales", "music"]
    words = ("the a to of and in is it you that he was for on are with as I his they be at one have "
             "this from or had by hot word but what some we can out other were all there when up use "
             "your how said an each she which do their time if will way about many then them write "
             "would like so these her long make thing see him two has look more day could go come "
             "deploy build server client socket message latency ok thanks merged ticket").split()
    events = []
    for n in range(count):
        kind = rng.choice(["message", "message", "message", "presence", "typing", "reaction"])
        event: dict[str, Any] = {"type": kind, "room": rng.choice(rooms), "user": rng.choice(users),
                                 "ts": 1_700_000_000_000 + n * rng.randint(5, 900), "id": f"{n:08x}"}
        if kind == "message":
            event["text"] = " ".join(rng.choice(words) for _ in range(rng.randint(5, 50)))
            event["mentions"] = rng.sample(users, rng.randint(0, 3))
        elif kind == "presence":
            event["status"] = rng.choice(["online", "away", "offline"])
        elif kind == "reaction":
            event["emoji"] = rng.choice(["+1", "heart", "tada", "eyes"])
            event["target"] = f"{rng.randint(0, n + 1):08x}"
        events.append(json.dumps(event, separators=(",", ":")))
    return events


# -- servers (subprocess side) -------------------------------------------------------

async def _echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


SERVERS: dict[str, str] = {
    "wsproto6455 serve() (lean default)": "ours",
    "wsproto6455 serve(deflate_options={}) (RFC defaults)": "ours-rfc",
    "wsproto6455 serve(compression=None)": "ours-off",
    "websockets serve()": "websockets",
    "websockets serve(compression=None)": "websockets-off",
}


async def _serve(kind: str) -> None:
    if kind.startswith("ours"):
        from wsproto6455.asyncio import serve

        options: dict[str, Any] = {"ours": {}, "ours-rfc": {"deflate_options": {}},
                                   "ours-off": {"compression": None}}[kind]
        server: Any = await serve(_echo, HOST, 0, ping_interval=None, **options)
        port = server.port
    else:
        from websockets.asyncio.server import serve as ws_serve

        compression = None if kind == "websockets-off" else "deflate"
        server = await ws_serve(_echo, HOST, 0, ping_interval=None, compression=compression)
        port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    os._exit(0)  # measured: no need to wait for a graceful shutdown of 1,000 connections


# -- raw browser-like clients (this process) ---------------------------------------------

def _frame(payload: bytes, opcode: int = 0x1, rsv1: bool = True) -> bytes:
    mask = os.urandom(4)
    head = bytes([0x80 | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


class BrowserClient:
    """Offers deflate as browsers do; compresses with a 15-bit window and
    context takeover; counts the echoed frames (never inflates them)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.deflate = True

    @classmethod
    async def open(cls, port: int) -> "BrowserClient":
        reader, writer = await asyncio.open_connection(HOST, port)
        key = base64.b64encode(os.urandom(16))
        writer.write(b"GET / HTTP/1.1\r\nHost: " + f"{HOST}:{port}".encode() + b"\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Extensions: " + BROWSER_OFFER + b"\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode("latin-1"))
        client = cls(reader, writer)
        client.deflate = b"permessage-deflate" in head.lower()
        return client

    async def echo(self, text: str) -> None:
        data = text.encode()
        if self.deflate:
            payload = self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
            self.writer.write(_frame(payload[:-4]))
        else:
            self.writer.write(_frame(data, rsv1=False))
        head = await self.reader.readexactly(2)
        n = head[1] & 0x7F
        if n == 126:
            n = int.from_bytes(await self.reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await self.reader.readexactly(8), "big")
        await self.reader.readexactly(n)

    def close(self) -> None:
        self.writer.transport.abort()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def measure(kind: str, clients: int, echoes: int, messages: list[str]) -> float:
    """KiB of server RSS per open connection after the echoes."""
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.deflate_memory", "--serve", kind],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        warm = await BrowserClient.open(port)  # imports and first-use allocations happen now
        await warm.echo(messages[0])
        await asyncio.sleep(0.2)
        before = _rss_kib(proc.pid)
        opened: list[BrowserClient] = []
        for start in range(0, clients, 100):  # 100 handshakes at a time
            opened += await asyncio.gather(*(BrowserClient.open(port) for _ in range(start, min(clients, start + 100))))
        for round_ in range(echoes):
            await asyncio.gather(*(c.echo(messages[(i * echoes + round_) % len(messages)])
                                   for i, c in enumerate(opened)))
        await asyncio.sleep(0.2)
        after = _rss_kib(proc.pid)
        if not all(c.deflate for c in opened) and "off" not in kind:
            raise RuntimeError(f"{kind}: deflate not negotiated")
        for c in opened + [warm]:
            c.close()
        return (after - before) / clients
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=30)


# -- compression ratios ------------------------------------------------------------------

def _ours_ratio(messages: list[str], options: Optional[dict[str, Any]]) -> float:
    from wsproto6455 import ConnectionType, WSConnection
    from wsproto6455.asyncio.options import server_deflate_options
    from wsproto6455.events import AcceptConnection, Request, TextMessage
    from wsproto6455.extensions import PerMessageDeflate

    client = WSConnection(ConnectionType.CLIENT, max_message_size=None)
    server = WSConnection(ConnectionType.SERVER, max_message_size=None)
    ext = PerMessageDeflate(**(server_deflate_options() if options is None else options))
    server.receive_data(client.send(Request(host="x", target="/", extensions=[PerMessageDeflate()])))
    list(server.events())
    client.receive_data(server.send(AcceptConnection(extensions=[ext])))
    list(client.events())
    raw = wire = 0
    for text in messages:
        frame = server.send(TextMessage(text))
        raw += len(text.encode())
        wire += len(frame) - (2 if len(frame) - 2 < 126 else 4)  # payload only
    return wire / raw


def _websockets_ratio(messages: list[str]) -> float:
    from websockets.extensions.permessage_deflate import enable_server_permessage_deflate
    from websockets.frames import Frame, Opcode

    factory = enable_server_permessage_deflate(None)[0]
    _, ext = factory.process_request_params([("client_max_window_bits", None)], [])  # type: ignore[attr-defined]
    raw = wire = 0
    for text in messages:
        data = text.encode()
        frame = ext.encode(Frame(Opcode.TEXT, data))
        raw += len(data)
        wire += len(frame.data)
    return float(wire / raw)


def ratios(messages: list[str]) -> dict[str, float]:
    return {
        "wsproto6455 serve() lean default (12/12 bits, memLevel 5)": _ours_ratio(messages, None),
        "wsproto6455 RFC defaults (15/15 bits, memLevel 8)": _ours_ratio(messages, {}),
        "websockets serve() (12/12 bits, memLevel 5)": _websockets_ratio(messages),
        "without context takeover (each message alone, 15 bits)": _ours_ratio(
            messages, {"server_no_context_takeover": True}),
    }


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.deflate_memory", description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--echoes", type=int, default=10)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.serve))
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.clients + 256)), hard))
    messages = corpus()
    import websockets
    import zlib as _z

    print(f"Python {sys.version.split()[0]}, zlib {_z.ZLIB_RUNTIME_VERSION}, websockets {websockets.__version__}; "
          f"{args.clients} clients offering '{BROWSER_OFFER.decode()}', {args.echoes} echoes each "
          f"(JSON messages of {min(map(len, messages))}-{max(map(len, messages))} bytes)")
    results = {}
    for label, kind in SERVERS.items():
        results[label] = asyncio.run(measure(kind, args.clients, args.echoes, messages))
    print("\n| server | RSS per connection |\n|---|---:|")
    for label, kib in results.items():
        print(f"| {label} | {kib:.1f} KiB |")
    print(f"\nCompression ratio (wire payload / message bytes, lower is better), {len(messages)} JSON messages, "
          f"{sum(len(m) for m in messages)} bytes, one connection with context takeover:\n")
    print("| server setting | ratio |\n|---|---:|")
    for label, ratio in ratios(messages).items():
        print(f"| {label} | {ratio:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
