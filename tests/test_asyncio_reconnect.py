"""``async for ws in connect(uri)``: a new connection after each loss, with
full-jitter backoff, against real servers that stop, restart, refuse,
reject, stall or hang up."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl

import pytest

from tests.port_helpers import free_port
from tests.test_asyncio_support import HOST, async_test, wait_until
from wsproto6455.asyncio import (
    ConnectionClosed,
    HandshakeRejected,
    InvalidHandshake,
    ServerConnection,
    connect,
    serve,
)
from wsproto6455.asyncio.reconnect import Backoff, retry_after, retryable
from wsproto6455.events import Request

FAST = dict(backoff_base=0.01, backoff_cap=0.05)


def client_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "wsproto6455.client"]


# -- backoff ------------------------------------------------------------------

def test_ceilings_grow_by_factor_up_to_cap_without_overflow() -> None:
    backoff = Backoff(base=1.0, cap=10.0, factor=2.0)
    assert [backoff.ceiling(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.ceiling(100_000) == 10.0
    assert Backoff(base=0.5, cap=0.5, factor=1.0).ceiling(50) == 0.5


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    backoff = Backoff(base=1.0, cap=8.0, factor=2.0)
    rng = random.Random(6455)
    delays = [backoff.delay(3, rng) for _ in range(500)]
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert min(delays) < 0.5 and max(delays) > 7.5  # full jitter, not "equal jitter"


@pytest.mark.parametrize("options", [
    dict(backoff_base=0), dict(backoff_base=2, backoff_cap=1), dict(backoff_factor=0.5),
    dict(backoff_reset_after=-1), dict(max_retries=-1),
])
def test_bad_backoff_options_are_refused_at_once(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        connect("ws://127.0.0.1/", **options)  # type: ignore[arg-type]


def test_what_is_retried() -> None:
    closed = InvalidHandshake("connection closed during the opening handshake")
    closed.closed_early = True
    assert retryable(ConnectionRefusedError()) and retryable(ConnectionResetError())
    assert retryable(TimeoutError()) and retryable(asyncio.TimeoutError())
    assert retryable(closed)
    for status in (500, 502, 503, 429):
        assert retryable(HandshakeRejected(status, []))
    for status in (400, 401, 403, 404, 426):
        assert not retryable(HandshakeRejected(status, []))
    assert not retryable(InvalidHandshake("wrong Sec-WebSocket-Accept"))
    assert not retryable(ssl.SSLCertVerificationError("certificate verify failed"))
    assert not retryable(ValueError())
    assert retry_after(HandshakeRejected(503, [(b"Retry-After", b"7")])) == 7.0
    assert retry_after(HandshakeRejected(429, [(b"retry-after", b"Wed, 21 Oct 2015 07:28:00 GMT")])) is None
    assert retry_after(HandshakeRejected(500, [(b"Retry-After", b"7")])) is None


# -- against real servers ---------------------------------------------------------

@async_test(timeout=30)
async def test_reconnects_after_the_server_restarts_on_the_same_port(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wsproto6455.client")
    generation = 1

    async def greet(ws: ServerConnection) -> None:
        await ws.send(f"hello from server {generation}")
        await ws.wait_closed()

    server = await serve(greet, HOST, 0)
    port = server.port
    received: list[str] = []
    opened = 0

    async def client() -> None:
        nonlocal opened
        async for ws in connect(f"ws://{HOST}:{port}/", backoff_reset_after=60, **FAST):
            opened += 1
            try:
                async for message in ws:
                    received.append(str(message))
                    if len(received) == 2:
                        break
            except ConnectionClosed:
                pass
            if len(received) == 2:
                await ws.close()
                break

    task = asyncio.ensure_future(client())
    await wait_until(lambda: len(received) == 1)
    server.close()
    await server.wait_closed()
    # Down: refused attempts, each logged, until the server is back.
    await wait_until(lambda: sum("ConnectionRefusedError" in line for line in client_lines(caplog)) >= 3)
    generation = 2
    server = await serve(greet, HOST, port)
    await asyncio.wait_for(task, 10)
    server.close()
    await server.wait_closed()

    assert received == ["hello from server 1", "hello from server 2"]
    assert opened == 2
    lines = client_lines(caplog)
    lost = [line for line in lines if "lost after" in line]
    assert len(lost) == 1 and "reconnecting in" in lost[0]  # up less than backoff_reset_after
    refused = [line for line in lines if "ConnectionRefusedError" in line]
    assert refused[0].startswith(f"connect to ws://{HOST}:{port}/ failed: ConnectionRefusedError")
    assert "attempt 1, retrying in" in refused[0] and "attempt 3, retrying in" in refused[2]


@async_test()
async def test_max_retries_then_the_last_error_is_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wsproto6455.client")
    port = free_port()
    with pytest.raises(ConnectionRefusedError):
        async for ws in connect(f"ws://{HOST}:{port}/", max_retries=2, **FAST):
            raise AssertionError("nothing listens there")
    lines = client_lines(caplog)
    assert len(lines) == 3
    assert "attempt 1, retrying" in lines[0] and "attempt 2, retrying" in lines[1]
    assert lines[2].endswith("giving up after 3 attempts")


@async_test()
async def test_a_4xx_rejection_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wsproto6455.client")
    calls = 0

    def forbid(ws: ServerConnection, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        nonlocal calls
        calls += 1
        return 403, [], b"no"

    async with serve(lambda ws: ws.wait_closed(), HOST, 0, process_request=forbid) as server:
        with pytest.raises(HandshakeRejected) as info:
            async for ws in connect(f"ws://{HOST}:{server.port}/", **FAST):
                raise AssertionError("rejected")
    assert info.value.status == 403 and calls == 1
    assert client_lines(caplog)[-1].endswith("not retried")


@async_test()
async def test_5xx_and_429_are_retried_honouring_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wsproto6455.client")
    answers: list[tuple[int, list[tuple[str, str]], bytes] | None] = [
        (503, [("Retry-After", "0")], b""), (429, [], b"slow down"), (500, [], b""), None,
    ]

    def flaky(ws: ServerConnection, request: Request) -> tuple[int, list[tuple[str, str]], bytes] | None:
        return answers.pop(0)

    async def greet(ws: ServerConnection) -> None:
        await ws.send("in")

    async with serve(greet, HOST, 0, process_request=flaky) as server:
        async for ws in connect(f"ws://{HOST}:{server.port}/", **FAST):
            assert await ws.recv() == "in"
            await ws.close()
            break
    assert answers == []
    lines = client_lines(caplog)
    assert [line.split("failed: ")[1].split(";")[0] for line in lines if "failed: " in line] == [
        "HandshakeRejected: server rejected the WebSocket handshake: HTTP 503",
        "HandshakeRejected: server rejected the WebSocket handshake: HTTP 429",
        "HandshakeRejected: server rejected the WebSocket handshake: HTTP 500",
    ]


@async_test(timeout=20)
async def test_timeouts_and_hang_ups_during_the_handshake_are_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wsproto6455.client")
    loop = asyncio.get_running_loop()
    transports: list[asyncio.BaseTransport] = []

    class Silent(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transports.append(transport)  # accepts, never answers

    class HangUp(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transport.close()

    silent = await loop.create_server(Silent, HOST, 0)
    hang_up = await loop.create_server(HangUp, HOST, 0)
    try:
        with pytest.raises(TimeoutError):
            async for ws in connect(f"ws://{HOST}:{silent.sockets[0].getsockname()[1]}/",
                                    open_timeout=0.2, max_retries=1, **FAST):
                raise AssertionError("never opens")
        with pytest.raises(InvalidHandshake) as info:
            async for ws in connect(f"ws://{HOST}:{hang_up.sockets[0].getsockname()[1]}/",
                                    max_retries=2, **FAST):
                raise AssertionError("never opens")
        assert info.value.closed_early
    finally:
        for transport in transports:
            transport.close()
        silent.close()
        hang_up.close()
        await silent.wait_closed()
        await hang_up.wait_closed()
    lines = client_lines(caplog)
    assert sum("TimeoutError" in line for line in lines) == 2
    assert sum("InvalidHandshake" in line for line in lines) == 3


@async_test()
async def test_a_connection_that_stayed_up_resets_the_backoff(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wsproto6455.client")

    async def greet_and_leave(ws: ServerConnection) -> None:
        await ws.send("hi")  # returning closes with 1000

    async with serve(greet_and_leave, HOST, 0) as server:
        # A huge backoff that never applies: every connection counts as
        # having stayed up (reset_after=0), so reconnection is immediate.
        seen = 0
        async for ws in connect(f"ws://{HOST}:{server.port}/", backoff_base=1000, backoff_cap=1000,
                                backoff_reset_after=0):
            assert await ws.recv() == "hi"
            seen += 1
            if seen == 3:
                await ws.close()
                break
    lost = [line for line in client_lines(caplog) if "lost after" in line]
    assert len(lost) == 2 and all(line.endswith("; reconnecting") for line in lost)
