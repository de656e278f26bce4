"""broadcast(): encode once, never wait, respect each connection's byte budget.

Real sockets throughout: our server, and clients from our library,
websockets (another implementation of permessage-deflate) and raw sockets.
"""

from __future__ import annotations

import asyncio
import socket
import zlib
from typing import Any, List

import pytest
import websockets

from wsproto6455.asyncio import ServerConnection, Settings, broadcast, connect, serve
from wsproto6455.asyncio.broadcast import OWN, PLAIN, send_to_all
from wsproto6455.extensions import PerMessageDeflate

from tests.test_asyncio_support import HOST, async_test, wait_until


class Room:
    """A server whose handler parks every connection in ``self.conns``."""

    def __init__(self) -> None:
        self.conns: List[ServerConnection] = []

    async def handler(self, ws: ServerConnection) -> None:
        self.conns.append(ws)
        await ws.wait_closed()


async def recv_n(ws: Any, n: int) -> List[Any]:
    return [await ws.recv() for _ in range(n)]


@async_test()
async def test_plain_broadcast_reaches_every_client_in_order() -> None:
    room = Room()
    async with serve(room.handler, HOST, 0, compression=None) as server:
        clients = [await connect(f"ws://{HOST}:{server.port}/", compression=None) for _ in range(5)]
        await wait_until(lambda: len(room.conns) == 5)
        broadcast(room.conns, "hello")
        broadcast(room.conns, b"\x00\x01")
        broadcast(room.conns, bytearray(b"ba"))
        broadcast(room.conns, memoryview(b"mv"))
        broadcast(room.conns, "é" * 200)  # 16-bit length, UTF-8
        broadcast(room.conns, "é".encode(), text=True)  # websockets' text= option
        broadcast(room.conns, "bin", text=False)
        with pytest.raises(UnicodeDecodeError):
            broadcast(room.conns, b"\xff", text=True)
        for client in clients:
            assert await recv_n(client, 7) == ["hello", b"\x00\x01", b"ba", b"mv", "é" * 200, "é", b"bin"]
        assert all(ws._broadcast_kind is PLAIN for ws in room.conns)
        assert sum(ws.messages_out for ws in room.conns) == 35
        for client in clients:
            await client.close()


@async_test()
async def test_broadcast_rejects_other_types_and_skips_closed_connections() -> None:
    room = Room()
    async with serve(room.handler, HOST, 0) as server:
        a = await connect(f"ws://{HOST}:{server.port}/")
        b = await connect(f"ws://{HOST}:{server.port}/")
        await wait_until(lambda: len(room.conns) == 2)
        with pytest.raises(TypeError):
            broadcast(room.conns, 42)  # type: ignore[arg-type]
        await b.close()
        await wait_until(lambda: sum(ws.closed for ws in room.conns) == 1)
        assert send_to_all(room.conns, "x") == (1, 0)
        assert await a.recv() == "x"
        await a.close()


@async_test()
async def test_deflate_without_context_takeover_compresses_once_per_parameter_set() -> None:
    """The server imposes server_no_context_takeover (RFC 7692 §7.1.1.1):
    one compression serves every client, ours and websockets' alike."""
    room = Room()
    calls: List[int] = []
    original = PerMessageDeflate.compress_message

    def counting(self: PerMessageDeflate, data: bytes) -> bytes:
        calls.append(len(data))
        return original(self, data)

    options = {"server_no_context_takeover": True}
    async with serve(room.handler, HOST, 0, deflate_options=options) as server:
        url = f"ws://{HOST}:{server.port}/"
        ours = [await connect(url) for _ in range(3)]  # do not ask for it
        theirs = [await websockets.connect(url) for _ in range(3)]
        small = await connect(url, deflate_options={"server_max_window_bits": 10})
        await wait_until(lambda: len(room.conns) == 7)
        for ws in room.conns:
            agreed = ws.extensions[0].agreed  # type: ignore[attr-defined]
            assert agreed.server_no_context_takeover
        PerMessageDeflate.compress_message = counting  # type: ignore[method-assign]
        try:
            message = "a realtime message, compressible " * 20
            for _ in range(3):
                broadcast(room.conns, message)
        finally:
            PerMessageDeflate.compress_message = original  # type: ignore[method-assign]
        # two parameter sets (15-bit and 10-bit windows), three broadcasts
        assert len(calls) == 6
        for client in ours + [small]:
            assert await recv_n(client, 3) == [message] * 3
        for client in theirs:
            assert [await client.recv() for _ in range(3)] == [message] * 3
        # the wire carried compressed frames: far fewer bytes than the text
        assert all(ws.bytes_out < 3 * len(message) // 2 for ws in room.conns)
        for client in ours + [small]:
            await client.close()
        for client in theirs:
            await client.close()


@async_test()
async def test_deflate_with_context_takeover_uses_each_connections_compressor() -> None:
    room = Room()
    async with serve(room.handler, HOST, 0) as server:
        url = f"ws://{HOST}:{server.port}/"
        clients = [await connect(url), await websockets.connect(url)]
        await wait_until(lambda: len(room.conns) == 2)
        message = "context takeover makes the second copy tiny " * 10
        for _ in range(3):
            broadcast(room.conns, message)
        assert all(ws._broadcast_kind is OWN for ws in room.conns)
        assert await recv_n(clients[0], 3) == [message] * 3
        assert [await clients[1].recv() for _ in range(3)] == [message] * 3
        # the connection's own compressor, with its context: interleaving
        # send() and broadcast keeps the stream valid
        await room.conns[0].send("after")
        assert await clients[0].recv() == "after"
        for client in clients:
            await client.close()


@async_test()
async def test_threshold_sends_small_messages_uncompressed() -> None:
    room = Room()
    options = {"server_no_context_takeover": True, "threshold": 100}
    async with serve(room.handler, HOST, 0, deflate_options=options) as server:
        client = await connect(f"ws://{HOST}:{server.port}/")
        await wait_until(lambda: len(room.conns) == 1)
        broadcast(room.conns, "tiny")
        assert await client.recv() == "tiny"
        assert room.conns[0].bytes_out == 2 + 4  # a plain frame: header and payload
        await client.close()


def test_shared_compression_matches_the_connections_own() -> None:
    """compress_message() is what encode() produces without context takeover."""
    server = PerMessageDeflate(server_no_context_takeover=True)
    server.accept("")
    assert server.shared_encoding_key() is not None
    for data in (b"", b"x", b"hello " * 1000, bytes(range(256)) * 10):
        assert server.begin_outbound(len(data), None)
        assert server.compress_message(data) == server.encode(data, True)
        inflater = zlib.decompressobj(-15)
        assert inflater.decompress(server.compress_message(data) + b"\x00\x00\xff\xff") == data
    takeover = PerMessageDeflate()
    takeover.accept("")
    assert takeover.shared_encoding_key() is None


def test_server_no_context_takeover_costs_ratio_only_across_messages() -> None:
    """What the server option costs: each message compressed alone. Similar
    messages compress much better with context (the dictionary carries
    over); this measures both so the docs quote a tested direction."""
    messages = [f'{{"user": "u{i}", "text": "hello there, room", "seq": {i}}}'.encode()
                for i in range(200)]
    alone = PerMessageDeflate(server_no_context_takeover=True)
    alone.accept("")
    shared = PerMessageDeflate()
    shared.accept("")
    size_alone = size_shared = 0
    for data in messages:
        alone.begin_outbound(len(data), None)
        size_alone += len(alone.encode(data, True))
        shared.begin_outbound(len(data), None)
        size_shared += len(shared.encode(data, True))
    raw = sum(map(len, messages))
    assert size_shared < size_alone < raw


@async_test()
async def test_client_connections_are_masked_per_frame() -> None:
    received: List[Any] = []

    async def reader(ws: ServerConnection) -> None:
        received.append(await ws.recv())

    async with serve(reader, HOST, 0) as server:
        clients = [await connect(f"ws://{HOST}:{server.port}/") for _ in range(2)]
        broadcast(clients, "from a client")
        assert all(c._broadcast_kind is OWN for c in clients)
        await wait_until(lambda: len(received) == 2)
        assert received == ["from a client"] * 2
        for client in clients:
            await client.close()


def stalled_client(port: int) -> socket.socket:
    """A client with a tiny receive buffer that never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((HOST, port))
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    return sock


@async_test()
async def test_over_budget_messages_are_dropped_and_counted() -> None:
    room = Room()
    async with serve(room.handler, HOST, 0, compression=None, outgoing_budget=64 << 10,
                     close_timeout=0.5) as server:
        sock = await asyncio.to_thread(stalled_client, server.port)
        await wait_until(lambda: len(room.conns) == 1)
        ws = room.conns[0]
        payload = b"x" * 16384  # 16 MiB in all: more than the kernel's buffers hold
        sent = dropped = 0
        for _ in range(1000):
            s, d = send_to_all(room.conns, payload)
            sent, dropped = sent + s, dropped + d
            await asyncio.sleep(0)
        assert dropped > 0 and sent + dropped == 1000
        assert ws.broadcast_drops == dropped
        assert ws._transport is not None
        assert ws._transport.get_write_buffer_size() <= 64 << 10
        assert ws.state == "OPEN"  # drop policy: still open
        sock.close()


@async_test()
async def test_close_policy_closes_a_slow_consumer_with_its_code() -> None:
    room = Room()
    async with serve(room.handler, HOST, 0, compression=None, outgoing_budget=64 << 10,
                     slow_consumer="close", slow_consumer_code=1008, close_timeout=0.5) as server:
        sock = await asyncio.to_thread(stalled_client, server.port)
        await wait_until(lambda: len(room.conns) == 1)
        ws = room.conns[0]
        for _ in range(1000):
            broadcast(room.conns, b"y" * 16384)
            if ws.state != "OPEN":
                break
            await asyncio.sleep(0)
        assert ws.state != "OPEN"
        await ws.wait_closed()  # aborted after close_timeout: the peer never reads
        assert ws.close_code == 1008
        sock.close()


def test_settings_validate_the_slow_consumer_options() -> None:
    with pytest.raises(ValueError):
        Settings(slow_consumer="wait")
    with pytest.raises(ValueError):
        Settings(slow_consumer_code=1000)
    with pytest.raises(ValueError):
        Settings(outgoing_budget=-1)
    assert Settings().outgoing_budget == 1 << 20
