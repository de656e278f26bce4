"""Hostile clients for a WebSocket server on loopback: raw TCP, no library.

Used by ``benchmarks/hostile.py`` (figures) and ``tests/test_asyncio_hostile.py``
(bounds). Each attacker runs in a thread of its own, or in a subprocess for
the many-connections case, and sends prebuilt bytes: in the server's process
the attack allocates next to nothing, so the memory traced there during an
attack is the server's.

``python -m benchmarks.attacks idle PORT COUNT [ECHOES]`` opens COUNT
connections (a subprocess: its sockets do not count against the server's
file descriptors), sends ECHOES 16-byte messages on each and reads the
answers, prints ``ready``, then holds them (answering pings, as a live
client does) until its stdin closes.
"""

from __future__ import annotations

import asyncio
import resource
import selectors
import socket
import sys
import threading
import time
import zlib
from typing import Optional

HOST = "127.0.0.1"
KIB = 1 << 10
ZERO_MASK = b"\x00\x00\x00\x00"  # a valid masking key that leaves the payload as is


def upgrade_request(port: int, deflate: bool = False) -> bytes:
    offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
    return (f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\n{offer}\r\n").encode()


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """A masked client frame (zero key: the payload is sent as is)."""
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


def raise_fd_limit() -> int:
    """Raise this process's soft limit on open files to the hard one; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# -- attack streams: the bytes a client sends after its handshake -----------

def ping_flood() -> bytes:
    """125-byte pings, nonstop (the peer never reads the pongs)."""
    ping = client_frame(0x9, b"p" * 125)
    return ping * (64 * KIB // len(ping))


def deflate_flood(size: int, count: int) -> bytes:
    """``count`` compressed messages of ``size`` zero bytes (about 1000:1)."""
    return client_frame(0x2, deflated(bytes(size)), rsv1=True) * count


def fragment_flood(fragment: bytes) -> bytes:
    """Continuation frames of ``fragment`` (empty or 1 byte), for a message
    begun by ``FRAGMENTED_START``; never finished."""
    frame = client_frame(0x0, fragment, fin=False)
    return frame * (64 * KIB // len(frame))


#: The first frame of a binary message whose fragments follow.
FRAGMENTED_START = client_frame(0x2, b"", fin=False)


class Attacker(threading.Thread):
    """A raw client in a thread: opening handshake, ``prefix``, then
    ``chunk`` over and over until ``total`` bytes are out, the server stops
    taking them (a send blocked for ``stall`` seconds: TCP pushed back) or
    drops the connection. Never reads after the handshake; its socket
    buffers are small, so the kernels hold little of what either side sends."""

    def __init__(self, port: int, chunk: bytes, total: int, *, prefix: bytes = b"",
                 deflate: bool = False, stall: float = 0.3, sndbuf: int = 64 * KIB) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.chunk = chunk
        self.prefix = prefix
        self.total = total
        self.deflate = deflate
        self.stall = stall
        self.sndbuf = sndbuf
        self.sent = 0
        self.pushed_back = False  # a send blocked: the server stopped reading
        self.dropped = False  # the server closed or reset the connection
        self.head = b""
        self.error: Optional[BaseException] = None
        self.sock: Optional[socket.socket] = None

    def run(self) -> None:
        try:
            sock = self.sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * KIB)
            # Small, so that what the kernels hold does not hide whether the
            # server still reads.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
            sock.settimeout(10)
            sock.connect((HOST, self.port))
            sock.sendall(upgrade_request(self.port, self.deflate))
            while b"\r\n\r\n" not in self.head:
                data = sock.recv(4096)
                if not data:
                    break
                self.head += data
            sock.settimeout(self.stall)
            if self.prefix:
                sock.sendall(self.prefix)
            view = memoryview(self.chunk)
            while self.sent < self.total:
                sock.sendall(view)
                self.sent += len(view)
        except socket.timeout:
            self.pushed_back = True
        except ConnectionError:
            self.dropped = True
        except BaseException as exc:  # reported by the caller
            self.error = exc

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


class Slowloris(threading.Thread):
    """``count`` connections that send their opening handshake one byte per
    ``interval`` seconds. ``dropped``: how many the server closed before
    their request was complete; ``completed``: how many got it all out."""

    def __init__(self, port: int, count: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.count = count
        self.interval = interval
        self.dropped = 0
        self.completed = 0
        self.connected = 0
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        request = upgrade_request(self.port)
        selector = selectors.DefaultSelector()
        sent: dict[socket.socket, int] = {}
        try:
            for _ in range(self.count):
                sock = socket.create_connection((HOST, self.port))
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
                sent[sock] = 0
            self.connected = len(sent)
            while sent:
                deadline = time.monotonic() + self.interval
                while (left := deadline - time.monotonic()) > 0:
                    for key, _ in selector.select(left):
                        sock = key.fileobj  # type: ignore[assignment]
                        try:
                            data = sock.recv(4096)
                        except ConnectionError:
                            data = b""
                        if not data:  # the server gave up on us
                            self.dropped += 1
                            self._forget(selector, sent, sock)
                for sock in list(sent):
                    try:
                        sock.send(request[sent[sock]:sent[sock] + 1])
                    except ConnectionError:
                        self.dropped += 1
                        self._forget(selector, sent, sock)
                        continue
                    sent[sock] += 1
                    if sent[sock] == len(request):
                        self.completed += 1
                        self._forget(selector, sent, sock)
        except BaseException as exc:  # reported by the caller
            self.error = exc
        finally:
            for sock in list(sent):
                self._forget(selector, sent, sock)
            selector.close()

    @staticmethod
    def _forget(selector: selectors.BaseSelector, sent: dict[socket.socket, int],
                sock: socket.socket) -> None:
        selector.unregister(sock)
        del sent[sock]
        sock.close()


# -- many idle connections (run in a subprocess) -----------------------------

async def open_idle(port: int, count: int, echoes: int, concurrency: int = 64
                    ) -> tuple[list[socket.socket], list["asyncio.Task[None]"]]:
    """``count`` connections through the handshake (at most ``concurrency``
    handshakes at a time: the listen backlog is small), each with ``echoes``
    16-byte messages answered, then answering pings (``answer_pings``) from
    that moment on; return their sockets and those tasks."""
    loop = asyncio.get_running_loop()
    request = upgrade_request(port)
    message = client_frame(0x1, b"x" * 16)
    answer = bytes([0x81, 16]) + b"x" * 16
    socks: list[socket.socket] = []
    tasks: list[asyncio.Task[None]] = []
    gate = asyncio.Semaphore(concurrency)

    async def read_exactly(sock: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = await loop.sock_recv(sock, n - len(data))
            if not chunk:
                raise ConnectionError("closed by the server")
            data += chunk
        return data

    async def one() -> None:
        async with gate:
            sock = socket.socket()
            sock.setblocking(False)
            await loop.sock_connect(sock, (HOST, port))
            await loop.sock_sendall(sock, request)
            head = b""
            while b"\r\n\r\n" not in head:  # the server sends nothing more before we do
                head += await read_exactly(sock, 1) + await loop.sock_recv(sock, 4096)
            if not head.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(f"handshake refused: {head[:40]!r}")
            for _ in range(echoes):
                await loop.sock_sendall(sock, message)
                if await read_exactly(sock, len(answer)) != answer:
                    raise ConnectionError("wrong echo")
            socks.append(sock)
            # From now on: idle, but alive (keepalive may ping while the
            # other connections are still opening).
            tasks.append(asyncio.ensure_future(answer_pings(sock)))

    await asyncio.gather(*(one() for _ in range(count)))
    return socks, tasks


async def answer_pings(sock: socket.socket) -> None:
    """Stay idle, but answer the server's keepalive pings, as a live client
    does; return when the server closes the connection."""
    loop = asyncio.get_running_loop()
    buffer = b""
    while True:
        try:
            data = await loop.sock_recv(sock, 4096)
        except OSError:
            return
        if not data:
            return
        buffer += data
        # Server frames are unmasked; control frames are short (2-byte header).
        while len(buffer) >= 2 and len(buffer) >= 2 + (buffer[1] & 0x7F):
            length = buffer[1] & 0x7F
            opcode, payload = buffer[0] & 0x0F, buffer[2:2 + length]
            buffer = buffer[2 + length:]
            if opcode == 0x9:
                await loop.sock_sendall(sock, client_frame(0xA, payload))
            elif opcode == 0x8:
                return


async def _hold_idle(port: int, count: int, echoes: int) -> None:
    socks, tasks = await open_idle(port, count, echoes)
    print("ready", flush=True)
    # Hold the connections until the parent closes our stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for sock in socks:
        sock.close()


def _idle_main(port: int, count: int, echoes: int) -> None:
    raise_fd_limit()
    asyncio.run(_hold_idle(port, count, echoes))


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] != "idle":
        raise SystemExit(__doc__)
    _idle_main(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0)
