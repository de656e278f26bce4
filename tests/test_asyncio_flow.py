"""Flow control: a slow reader makes the sender wait instead of growing
memory, and a slow consumer pauses reading from the socket."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Optional

from websockets.asyncio.client import connect as ws_connect

from tests.test_asyncio_support import HOST, async_test, wait_until
from wsproto6455.asyncio import ConnectionClosed, ServerConnection, connect, serve

CHUNK = 64 << 10          # message size in these tests
COUNT = 200               # 12.5 MiB in all: several times what the kernel buffers here
WRITE_LIMIT = 32 << 10


async def open_small_window_socket(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP client with a small receive buffer, so the kernel holds little for us."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
    return await asyncio.open_connection(sock=sock)


def upgrade_request(port: int) -> bytes:
    return (f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode()


class Sender:
    """A handler that sends COUNT messages and counts how many ``send`` returned."""

    def __init__(self) -> None:
        self.sent = 0
        self.ws: Optional[ServerConnection] = None
        self.error: Optional[BaseException] = None
        self.max_buffered = 0

    async def __call__(self, ws: ServerConnection) -> None:
        self.ws = ws
        transport: Any = ws._transport
        payload = b"\x00" * CHUNK
        try:
            for _ in range(COUNT):
                await ws.send(payload)
                self.sent += 1
                self.max_buffered = max(self.max_buffered, transport.get_write_buffer_size())
        except ConnectionClosed as exc:
            self.error = exc


async def wait_stalled(sender: Sender) -> int:
    """Wait until the sender is blocked in send(); return how many it sent."""
    await wait_until(lambda: sender.ws is not None and sender.ws._write_paused)
    count = sender.sent
    await asyncio.sleep(0.2)
    assert sender.sent == count, "send() kept returning while the peer read nothing"
    return count


@async_test(timeout=30)
async def test_slow_reader_makes_send_wait() -> None:
    sender = Sender()
    async with serve(sender, HOST, 0, compression=None, write_limit=WRITE_LIMIT) as server:
        reader, writer = await open_small_window_socket(server.port)
        writer.write(upgrade_request(server.port))
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        stalled_at = await wait_stalled(sender)
        assert stalled_at < COUNT
        # What the library holds in memory stays within the high-water mark
        # plus the one message that crossed it.
        assert sender.max_buffered <= WRITE_LIMIT + CHUNK + 16
        # Reading resumes the sender; every byte arrives.
        frame = 10 + CHUNK  # header with a 64-bit length + payload
        data = await reader.readexactly(COUNT * frame + 4)
        # The handler returned after its last send: a close frame (1000) follows.
        assert data[-4:] == b"\x88\x02\x03\xe8"
        writer.write(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # our answer, zero mask
        assert await reader.read() == b""  # and the server closes TCP
        assert sender.sent == COUNT and sender.error is None
        writer.close()


@async_test(timeout=30)
async def test_websockets_client_that_reads_slowly() -> None:
    sender = Sender()
    async with serve(sender, HOST, 0, compression=None, write_limit=WRITE_LIMIT) as server:
        async with ws_connect(f"ws://{HOST}:{server.port}/", compression=None,
                              max_queue=4, max_size=CHUNK) as peer:
            stalled_at = await wait_stalled(sender)
            assert stalled_at < COUNT
            assert sender.max_buffered <= WRITE_LIMIT + CHUNK + 16
            for _ in range(COUNT):
                assert len(await peer.recv()) == CHUNK
        await wait_until(lambda: not server.connections)
    assert sender.sent == COUNT


@async_test(timeout=30)
async def test_unread_messages_pause_reading() -> None:
    go = asyncio.Event()
    received: list[int] = []
    state: dict[str, Any] = {}

    async def handler(ws: ServerConnection) -> None:
        state["ws"] = ws
        await go.wait()
        for _ in range(COUNT):
            message = await ws.recv()
            assert isinstance(message, bytes)
            received.append(message[0])
        state["reading again"] = ws._transport.is_reading()  # type: ignore[union-attr]

    async with serve(handler, HOST, 0, compression=None, max_queue=4) as server:
        async with connect(f"ws://{HOST}:{server.port}/", compression=None,
                           write_limit=WRITE_LIMIT) as ws:
            async def produce() -> None:
                for n in range(COUNT):
                    await ws.send(bytes([n % 256]) * CHUNK)

            producer = asyncio.ensure_future(produce())
            await wait_until(lambda: "ws" in state and state["ws"]._read_pauses)
            server_ws = state["ws"]
            assert not server_ws._transport.is_reading()
            # The client ends up waiting too: back-pressure reaches the producer.
            await wait_until(lambda: ws._write_paused)
            assert not producer.done()
            # Queued: max_queue; the rest of what the reads carried waits in the core.
            assert len(server_ws._messages) == 4
            go.set()
            await producer
            await wait_until(lambda: len(received) == COUNT)
            assert state["reading again"]
    assert received == [n % 256 for n in range(COUNT)]


@async_test(timeout=30)
async def test_close_gets_through_while_reading_is_paused() -> None:
    state: dict[str, Any] = {}

    async def handler(ws: ServerConnection) -> None:
        state["ws"] = ws
        await ws.wait_closed()  # never reads

    async with serve(handler, HOST, 0, compression=None, max_queue=2) as server:
        async with connect(f"ws://{HOST}:{server.port}/", compression=None) as ws:
            for _ in range(10):
                await ws.send(b"x" * CHUNK)
            await wait_until(lambda: "ws" in state and state["ws"]._read_pauses)
            # The server closes while it has not drained its queue: the
            # client's answer must still be read.
            await asyncio.wait_for(state["ws"].close(4002), 5)
            assert state["ws"].close_code == 4002
        assert ws.close_code == 4002


@async_test(timeout=30)
async def test_keepalive_spares_a_healthy_peer_while_the_application_is_slow() -> None:
    # Issue 11, defect 3: the client answers every ping, but its pongs wait
    # unread behind messages while the handler is busy and reading is paused.
    state: dict[str, Any] = {}
    received: list[bytes] = []

    async def handler(ws: ServerConnection) -> None:
        state["ws"] = ws
        await asyncio.sleep(1.5)  # busy: several ping intervals and timeouts
        for _ in range(10):
            received.append(await ws.recv())  # type: ignore[arg-type]

    async with serve(handler, HOST, 0, compression=None, max_queue=2,
                     ping_interval=0.2, ping_timeout=0.5) as server:
        async with connect(f"ws://{HOST}:{server.port}/", compression=None,
                           ping_interval=None) as ws:
            for n in range(10):
                await ws.send(bytes([n]) * 1000)
            await ws.wait_closed()  # the handler returns: the server closes
        assert ws.close_code == 1000
    server_ws = state["ws"]
    assert server_ws.close_code == 1000, server_ws.close_reason
    assert server_ws.latency > 0  # a keepalive ping was sent and answered
    assert received == [bytes([n]) * 1000 for n in range(10)]
