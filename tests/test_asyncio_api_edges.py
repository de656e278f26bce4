"""Small API edges: close_code is always a plain int, addresses are typed
tuples, and help() on the public classes documents every public method."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from tests.test_asyncio_support import HOST, async_test, wait_until
from wsproto6455.asyncio import (
    ClientConnection,
    ConnectionClosed,
    Headers,
    Server,
    ServerConnection,
    WebSocket,
    connect,
    serve,
)
from wsproto6455.frames import CloseReason


def assert_plain_int(value: Any, expected: int) -> None:
    assert type(value) is int and value == expected, (type(value), value)


@async_test()
async def test_close_code_is_a_plain_int_however_the_connection_ended() -> None:
    server_side: list[ServerConnection] = []

    async def hold(ws: ServerConnection) -> None:
        server_side.append(ws)
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            assert_plain_int(exc.code, ws.close_code or 0)

    async with serve(hold, HOST, 0) as server:
        url = f"ws://{HOST}:{server.port}/"
        # 1. A closing handshake (code from a close frame).
        async with connect(url) as ws:
            assert ws.close_code is None
        assert_plain_int(ws.close_code, 1000)
        await wait_until(lambda: len(server_side) == 1 and server_side[0].closed)
        assert_plain_int(server_side[0].close_code, 1000)

        # 2. A protocol violation: the core's fault code (1002), both ends.
        ws = await connect(url)
        assert ws._transport is not None
        ws._transport.write(b"\x8f\x80\x00\x00\x00\x00")  # reserved opcode 0xF, masked
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert_plain_int(info.value.code, 1002)
        await ws.wait_closed()
        assert_plain_int(ws.close_code, 1002)
        await wait_until(lambda: len(server_side) == 2 and server_side[1].closed)
        assert_plain_int(server_side[1].close_code, 1002)

        # 3. No closing handshake: 1006, which the core reports as a CloseReason member.
        ws = await connect(url)
        await wait_until(lambda: len(server_side) == 3)
        assert ws._transport is not None
        ws._transport.abort()
        await server_side[2].wait_closed()
        assert_plain_int(server_side[2].close_code, CloseReason.ABNORMAL_CLOSURE)
        assert_plain_int(ws.close_code, 1006)


@async_test()
async def test_keepalive_timeout_close_code_is_a_plain_int() -> None:
    async def silent(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(silent, HOST, 0, ping_interval=None, close_timeout=0.5) as server:
        ws = await connect(f"ws://{HOST}:{server.port}/", ping_interval=0.05, ping_timeout=0.05)
        assert ws._transport is not None
        server_ws = next(iter(server.connections))
        assert server_ws._transport is not None
        server_ws._transport.pause_reading()  # the server stops answering pings
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert_plain_int(ws.close_code, 1011)


@async_test()
async def test_addresses_are_host_port_tuples_and_outlive_the_connection() -> None:
    seen: list[Any] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append((ws.local_address, ws.remote_address))

    async with serve(handler, HOST, 0) as server:
        port = server.port
        async with connect(f"ws://{HOST}:{port}/") as ws:
            await wait_until(lambda: bool(seen))
            local, remote = ws.local_address, ws.remote_address
    assert local is not None and remote is not None
    assert isinstance(local[0], str) and isinstance(local[1], int)
    assert remote == (HOST, port)
    assert seen == [(remote, local)]  # each end's view mirrors the other's
    assert (ws.local_address, ws.remote_address) == (local, remote)  # still there once closed


@pytest.mark.parametrize("cls", [WebSocket, ServerConnection, ClientConnection, Server, Headers, serve, connect])
def test_every_public_method_and_property_has_a_docstring(cls: type) -> None:
    undocumented = []
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") and name not in ("__aiter__", "__anext__", "__await__", "__init__"):
            continue
        if not (callable(member) or isinstance(member, property)):
            continue
        if name == "__init__" and cls not in (serve, connect):
            continue
        if not inspect.getdoc(member) and not (name == "__init__" and inspect.getdoc(cls)):
            undocumented.append(name)
    assert undocumented == []


def test_help_shows_protocol_callbacks_as_such() -> None:
    import pydoc

    text = pydoc.render_doc(ServerConnection, renderer=pydoc.plaintext)
    for callback in ("connection_made", "data_received", "eof_received", "connection_lost",
                     "pause_writing", "resume_writing", "get_buffer", "buffer_updated"):
        section = text.split(f"{callback}(self", 1)[1].split("\n |  \n", 1)[0]
        assert "asyncio callback" in section and "not for applications" in section, callback
