"""Hostile, slow and many peers against the real asyncio server, over real
loopback sockets. Every test asserts a bound (memory, count, state), never a
duration: timeouts here are short only so that the suite stays quick.

Attackers are raw TCP clients in a thread of their own (see ``Attacker``):
they send prebuilt bytes, so the memory traced in this process during an
attack is the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import tracemalloc
import zlib
from typing import Any, Iterator, Optional

from tests.test_asyncio_support import HOST, async_test, wait_until
from wsproto6455.asyncio import ServerConnection, serve
from wsproto6455.asyncio.protocol import READ_SIZE

KIB = 1 << 10
MIB = 1 << 20
WRITE_LIMIT = 32 * KIB  # the default
ZERO_MASK = b"\x00\x00\x00\x00"  # a valid masking key that leaves the payload as is
# zlib's state at the default 15-bit window and memLevel 8 (measured: 39 and 262 KiB)
INFLATE = 48 * KIB
DEFLATE = 272 * KIB


def upgrade_request(port: int, deflate: bool = False) -> bytes:
    offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
    return (f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\n{offer}\r\n").encode()


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """A masked (zero key) client frame."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    length = len(payload)
    if length < 126:
        header = bytes([first, 0x80 | length])
    elif length < 1 << 16:
        header = bytes([first, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([first, 0x80 | 127]) + length.to_bytes(8, "big")
    return header + ZERO_MASK + payload


def deflated(data: bytes) -> bytes:
    """``data`` as the payload of a compressed message (RFC 7692 §7.2.1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


class Attacker(threading.Thread):
    """A raw client in a thread: opening handshake, then ``chunk`` sent over
    and over until ``total`` bytes are out or the server stops taking them
    (a send blocked for ``stall`` seconds: TCP pushed back). Never reads
    after the handshake; its receive buffer is small, so the kernel holds
    little of what the server sends to it."""

    def __init__(self, port: int, chunk: bytes, total: int, *, deflate: bool = False,
                 stall: float = 0.3) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.chunk = chunk
        self.total = total
        self.deflate = deflate
        self.stall = stall
        self.sent = 0
        self.pushed_back = False
        self.head = b""
        self.error: Optional[BaseException] = None
        self.sock: Optional[socket.socket] = None

    def run(self) -> None:
        try:
            sock = self.sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * KIB)
            sock.settimeout(10)
            sock.connect((HOST, self.port))
            sock.sendall(upgrade_request(self.port, self.deflate))
            while b"\r\n\r\n" not in self.head:
                data = sock.recv(4096)
                if not data:
                    break
                self.head += data
            sock.settimeout(self.stall)
            view = memoryview(self.chunk)
            while self.sent < self.total:
                try:
                    sock.sendall(view)
                except socket.timeout:
                    self.pushed_back = True
                    return
                self.sent += len(view)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


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
        self.ws = ws
        await ws.wait_closed()


# -- defect 1: ping flood ----------------------------------------------------

@async_test(timeout=60)
async def test_ping_flood_from_a_peer_that_never_reads_is_bounded() -> None:
    # 8 MiB of 125-byte pings; the peer reads none of the pongs.
    ping = client_frame(0x9, b"p" * 125)
    chunk = ping * (64 * KIB // len(ping))
    holder = Holder(sndbuf=64 * KIB)
    async with serve(holder, HOST, 0, close_timeout=0.5) as server:
        with traced() as memory:
            attacker = Attacker(server.port, chunk, 8 * MIB)
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
    message = client_frame(0x2, deflated(bytes(size)), rsv1=True)
    assert len(message) * 1000 < size * 1.1
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
            attacker = Attacker(server.port, message * count, len(message) * count, deflate=True)
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
    return ((max_queue + 1) * max_message_size + 3 * READ_SIZE + 2 * write_limit + deflate
            + 64 * KIB)  # + the connection's own objects
