"""Logging against a real server and client: a logger per role, INFO when a
connection opens and closes, DEBUG per frame, nothing (and no wrapper on
the data path) when logging is off."""

from __future__ import annotations

import logging
from typing import Iterator

import pytest

from tests.test_asyncio_support import HOST, async_test, wait_until
from wsproto6455.asyncio import ServerConnection, connect, serve
from wsproto6455.asyncio.logs import SHOWN, LoggedCore
from wsproto6455.connection import Connection


def messages(caplog: pytest.LogCaptureFixture, name: str, level: int = logging.DEBUG) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == name and r.levelno == level]


@pytest.fixture
def quiet() -> Iterator[None]:
    """Logging as an application that configured nothing leaves it."""
    for name in ("wsproto6455.server", "wsproto6455.client"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
    yield


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


@async_test()
async def test_info_on_open_and_close_with_who_closed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wsproto6455")
    async with serve(echo, HOST, 0, subprotocols=["chat"]) as server:
        port = server.port
        async with connect(f"ws://{HOST}:{port}/room?id=7", subprotocols=["chat"]) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            client_port = ws.local_address[1]
            await ws.close(4001, "bye")
        await wait_until(lambda: not server.connections)
    server_info = messages(caplog, "wsproto6455.server", logging.INFO)
    client_info = messages(caplog, "wsproto6455.client", logging.INFO)
    extension = ("permessage-deflate (server_no_context_takeover=False, client_no_context_takeover=False, "
                 "server_max_window_bits=12, client_max_window_bits=12)")
    assert server_info[0] == (f"connection open: peer {HOST}:{client_port}, path /room?id=7, "
                              f"subprotocol chat, extensions {extension}")
    assert server_info[1].startswith(f"connection closed: peer {HOST}:{client_port}, "
                                     "code 4001 (private use) 'bye', closed by the peer, open ")
    assert client_info[0] == (f"connection open: peer {HOST}:{port}, path /room?id=7, "
                              f"subprotocol chat, extensions {extension}")
    assert client_info[1].startswith(f"connection closed: peer {HOST}:{port}, "
                                     "code 4001 (private use) 'bye', closed by us, open ")
    assert len(server_info) == len(client_info) == 2
    # INFO only: the data path is not wrapped.
    assert not messages(caplog, "wsproto6455.server") and not messages(caplog, "wsproto6455.client")


@async_test()
async def test_server_closing_first_and_a_lost_connection(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wsproto6455")

    async def bye(ws: ServerConnection) -> None:
        await ws.close(1001, "going")

    async with serve(bye, HOST, 0, compression=None) as server:
        async with connect(f"ws://{HOST}:{server.port}/", compression=None) as ws:
            await ws.wait_closed()
        async with connect(f"ws://{HOST}:{server.port}/", compression=None) as ws:
            pass
    assert "code 1001 (GOING_AWAY) 'going', closed by us" in messages(caplog, "wsproto6455.server", logging.INFO)[1]
    assert "code 1001 (GOING_AWAY) 'going', closed by the peer" in messages(caplog, "wsproto6455.client", logging.INFO)[1]
    assert "extensions None" in messages(caplog, "wsproto6455.server", logging.INFO)[0]

    caplog.clear()
    opened: list[ServerConnection] = []

    async def hold(ws: ServerConnection) -> None:
        opened.append(ws)
        await ws.wait_closed()

    async with serve(hold, HOST, 0) as server:
        ws = await connect(f"ws://{HOST}:{server.port}/")
        await wait_until(lambda: bool(opened))
        assert ws._transport is not None
        ws._transport.abort()  # no closing handshake
        await opened[0].wait_closed()
    assert ("code 1006 (ABNORMAL_CLOSURE) '', closed by nobody: the connection was lost without a closing "
            "handshake") in messages(caplog, "wsproto6455.server", logging.INFO)[1]


@async_test()
async def test_debug_logs_each_frame_with_opcode_length_and_cut_payload(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wsproto6455.server")
    long_text = "x" * 200
    async with serve(echo, HOST, 0) as server:
        async with connect(f"ws://{HOST}:{server.port}/") as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(bytes(range(5)))
            assert await ws.recv() == bytes(range(5))
            await ws.send(long_text)
            assert await ws.recv() == long_text
            await ws.send("é")
            assert await ws.recv() == "é"
            await (await ws.ping(b"pi"))
            assert type(ws._proto) is Connection  # the client's logger is not at DEBUG
        await wait_until(lambda: not server.connections)
    lines = messages(caplog, "wsproto6455.server")
    cut = repr("x" * SHOWN) + "..."
    assert [line for line in lines if "TEXT" in line or "BINARY" in line or "PING" in line
            or "PONG" in line or "CLOSE" in line] == [
        "< TEXT 'hello' [5 bytes]", "> TEXT 'hello' [5 bytes]",
        "< BINARY 00 01 02 03 04 [5 bytes]", "> BINARY 00 01 02 03 04 [5 bytes]",
        f"< TEXT {cut} [200 bytes]", f"> TEXT {cut} [200 bytes]",
        "< TEXT 'é' [2 bytes]", "> TEXT 'é' [2 bytes]",
        "< PING 70 69 [2 bytes]", "> PONG 70 69 [2 bytes]",
        "< CLOSE 1000 (NORMAL_CLOSURE) ''", "> CLOSE 1000 (NORMAL_CLOSURE) ''",
    ]
    assert not messages(caplog, "wsproto6455.client")


@async_test()
async def test_nothing_logged_and_nothing_wrapped_when_logging_is_off(
    caplog: pytest.LogCaptureFixture, quiet: None
) -> None:
    seen: list[object] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append(ws._proto)
        await echo(ws)

    async with serve(handler, HOST, 0) as server:
        async with connect(f"ws://{HOST}:{server.port}/") as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            assert type(ws._proto) is Connection
    assert type(seen[0]) is Connection
    assert not [r for r in caplog.records if r.name.startswith("wsproto6455")]


@async_test()
async def test_logger_option_and_rejections(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="app")
    app_logger = logging.getLogger("app.ws")
    adapter = logging.LoggerAdapter(logging.getLogger("app.client"), {"tenant": "t1"})

    def reject_private(ws: ServerConnection, request: object) -> object:
        return (403, [], b"no") if ws.path == "/private" else None

    async with serve(echo, HOST, 0, logger=app_logger, process_request=reject_private) as server:
        async with connect(f"ws://{HOST}:{server.port}/", logger=adapter) as ws:
            assert isinstance(ws._proto, LoggedCore)
            await ws.send("hi")
            assert await ws.recv() == "hi"
        with pytest.raises(Exception):
            await connect(f"ws://{HOST}:{server.port}/private")
    server_lines = [r.getMessage() for r in caplog.records if r.name == "app.ws"]
    client_lines = [r.getMessage() for r in caplog.records if r.name == "app.client"]
    assert "< TEXT 'hi' [2 bytes]" in server_lines and "> TEXT 'hi' [2 bytes]" in client_lines
    assert any(line.startswith("connection rejected: peer") and line.endswith("path /private, status 403")
               for line in server_lines)
    assert not [r for r in caplog.records if r.name.startswith("wsproto6455")]
