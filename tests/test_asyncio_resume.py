"""recv() resumes its handler inside the read callback (ResumingWaiter).

A message that arrives while a handler waits in recv() is handed over in
the same loop iteration: one poll of the selector per request/response,
as callback APIs get. Everything a coroutine can observe stays asyncio's:
its context, cancellation, timeouts, the one-receiver rule, exceptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import socket
from typing import Any, AsyncIterator, Callable

import pytest

from tests.test_asyncio_support import HOST, async_test, wait_until
from tests.threaded_servers import background_loop, call
from wsproto6455 import ConnectionType, WSConnection
from wsproto6455.asyncio import ConnectionClosed, ServerConnection, connect, serve
from wsproto6455.asyncio.waiter import ResumingWaiter
from wsproto6455.events import AcceptConnection, Request, TextMessage

ROUND_TRIPS = 200


class BlockingPeer:
    """A client on a plain blocking socket, driving our own sans-IO core."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.core = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(self.core.send(Request(host=HOST, target="/")))
        assert isinstance(self._next_event(), AcceptConnection)

    def _next_event(self) -> Any:
        while True:
            for event in self.core.events():
                return event
            self.core.receive_data(self.sock.recv(65536))

    def echo(self, text: str) -> str:
        self.sock.sendall(self.core.send(TextMessage(text)))
        event = self._next_event()
        assert isinstance(event, TextMessage)
        return str(event.data)

    def close(self) -> None:
        self.sock.close()


def count_polls(loop: asyncio.AbstractEventLoop) -> Callable[[], int]:
    """Count the selector polls of ``loop`` (one per loop iteration)."""
    selector = loop._selector  # type: ignore[attr-defined]
    polls = [0]
    select = selector.select

    def counted(timeout: Any = None) -> Any:
        polls[0] += 1
        return select(timeout)

    selector.select = counted
    return lambda: polls[0]


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


def test_a_round_trip_costs_the_server_one_loop_iteration() -> None:
    with background_loop() as loop:
        server = call(loop, _start_echo_server())
        peer = BlockingPeer(server.port)
        try:
            peer.echo("warm up")
            polls = call(loop, _install_counter(loop))
            before = polls()
            for n in range(ROUND_TRIPS):
                assert peer.echo(f"message {n}") == f"message {n}"
            # A plain future would resume the handler one iteration after
            # the read: two polls per round trip. A few spare for timers.
            assert polls() - before <= ROUND_TRIPS + 5
        finally:
            peer.close()
            call(loop, _close(server))  # on the loop's thread: asyncio's Server is not thread-safe


@contextlib.asynccontextmanager
async def echo_client() -> AsyncIterator[Any]:
    """A client of our echo server (both ours, on this loop)."""
    async with serve(echo, HOST, 0) as server:
        async with connect(f"ws://{HOST}:{server.port}/") as ws:
            yield ws


async def _start_echo_server() -> Any:
    return await serve(echo, HOST, 0, ping_interval=None)


async def _close(server: Any) -> None:
    server.close()
    await server.wait_closed()


async def _install_counter(loop: asyncio.AbstractEventLoop) -> Callable[[], int]:
    return count_polls(loop)


@async_test()
async def test_the_handler_keeps_its_own_context_when_resumed() -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")
    seen: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        request_id.set(ws.path)
        async for message in ws:
            seen.append(f"{request_id.get()} {message}")
            await ws.send(message)

    async with serve(handler, HOST, 0) as server:
        async with connect(f"ws://{HOST}:{server.port}/a") as a, \
                connect(f"ws://{HOST}:{server.port}/b") as b:
            for ws in (a, b, a):
                await ws.send("hi")
                assert await ws.recv() == "hi"
    assert seen == ["/a hi", "/b hi", "/a hi"]
    assert request_id.get() == "unset"  # nothing leaked into the loop's context


@async_test()
async def test_a_cancelled_recv_leaves_the_next_message_for_the_next_recv() -> None:
    async with echo_client() as ws:
        waiting = asyncio.ensure_future(ws.recv())
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await ws.send("after the cancel")
        assert await ws.recv() == "after the cancel"


@async_test()
async def test_a_timed_out_recv_leaves_the_next_message_for_the_next_recv() -> None:
    async with echo_client() as ws:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.05)
        await ws.send("after the timeout")
        assert await asyncio.wait_for(ws.recv(), 5) == "after the timeout"


@async_test()
async def test_a_second_receiver_is_refused_and_the_first_still_gets_the_message() -> None:
    async with echo_client() as ws:
        first = asyncio.ensure_future(ws.recv())
        await asyncio.sleep(0.01)
        with pytest.raises(RuntimeError, match="already waiting"):
            await ws.recv()
        await ws.send("for the first")
        assert await asyncio.wait_for(first, 5) == "for the first"


@async_test()
async def test_iteration_ends_on_a_close_that_arrives_while_waiting() -> None:
    received: list[Any] = []
    done = asyncio.Event()

    async def collect(ws: ServerConnection) -> None:
        received.extend([message async for message in ws])
        done.set()

    async with serve(collect, HOST, 0) as server:
        async with connect(f"ws://{HOST}:{server.port}/") as ws:
            await ws.send("one")
            await ws.send("two")
        await asyncio.wait_for(done.wait(), 5)
    assert received == ["one", "two"]


@async_test(expected_errors=())
async def test_a_handler_that_fails_after_its_resume_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    async def fail_on_boom(ws: ServerConnection) -> None:
        async for message in ws:
            if message == "boom":
                raise ValueError("boom")
            await ws.send(message)

    async with serve(fail_on_boom, HOST, 0) as server:
        url = f"ws://{HOST}:{server.port}/"
        async with connect(url) as ws:
            await ws.send("boom")
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.code == 1011
        async with connect(url) as ws:  # the server goes on serving
            await ws.send("fine")
            assert await ws.recv() == "fine"
    assert any("boom" in str(record.exc_info) for record in caplog.records if record.exc_info)


# -- the waiter itself, on a real loop ----------------------------------------

async def blocked_task(waiter: ResumingWaiter, steps: list[str]) -> "asyncio.Future[None]":
    """A task blocked on ``waiter``; it appends "resumed" to ``steps`` when resumed."""
    async def wait() -> None:
        await waiter
        steps.append("resumed")

    task = asyncio.ensure_future(wait())
    await asyncio.sleep(0)  # the task is now blocked on the waiter
    return task


@async_test()
async def test_resume_outside_any_task_runs_the_waiting_step_at_once() -> None:
    loop = asyncio.get_running_loop()
    waiter = ResumingWaiter(loop=loop)
    steps: list[str] = []
    task = await blocked_task(waiter, steps)
    resumed_at_once: list[bool] = []
    # A loop callback, like the transport's read callback: no task running.
    loop.call_soon(lambda: (waiter.resume(), resumed_at_once.append(steps == ["resumed"])))
    await task
    assert resumed_at_once == [True]


@async_test()
async def test_resume_inside_another_task_goes_through_the_loop() -> None:
    waiter = ResumingWaiter(loop=asyncio.get_running_loop())
    steps: list[str] = []
    task = await blocked_task(waiter, steps)
    waiter.resume()  # inside this test's task: asyncio cannot enter another one here
    assert steps == []
    await task
    assert steps == ["resumed"]


@async_test()
async def test_cancel_and_set_result_resume_through_the_loop() -> None:
    loop = asyncio.get_running_loop()
    for settle in ("cancel", "set_result", "set_exception"):
        waiter = ResumingWaiter(loop=loop)
        steps: list[str] = []
        task = await blocked_task(waiter, steps)
        if settle == "cancel":
            assert waiter.cancel()
            assert not waiter.cancel()  # already done
        elif settle == "set_result":
            waiter.set_result(None)
        else:
            waiter.set_exception(LookupError("gone"))
        assert not task.done()
        if settle == "cancel":
            with pytest.raises(asyncio.CancelledError):
                await task
        elif settle == "set_result":
            await task
            assert steps == ["resumed"]
        else:
            with pytest.raises(LookupError):
                await task
        waiter.resume()  # a done waiter ignores resume()


@async_test()
async def test_other_done_callbacks_run_as_on_a_plain_future() -> None:
    loop = asyncio.get_running_loop()
    waiter = ResumingWaiter(loop=loop)
    calls: list[str] = []

    def first(_: Any) -> None:
        calls.append("first")

    def second(_: Any) -> None:
        calls.append("second")

    waiter.add_done_callback(first)   # kept for resume()
    waiter.add_done_callback(second)  # the future's own list
    assert waiter.remove_done_callback(first) == 1
    waiter.add_done_callback(first)
    at_resume: list[list[str]] = []
    loop.call_soon(lambda: (waiter.resume(), at_resume.append(list(calls))))
    await wait_until(lambda: calls == ["first", "second"])
    assert at_resume == [["first"]]  # the kept one at once, the other through the loop
    waiter.add_done_callback(second)  # on a done future: scheduled, as asyncio does
    await wait_until(lambda: calls == ["first", "second", "second"])
