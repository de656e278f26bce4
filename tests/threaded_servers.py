"""asyncio servers in a background thread, for tests whose client blocks (sync client, CLI)."""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager
from typing import Any, Awaitable, Callable, Iterator, TypeVar

T = TypeVar("T")


@contextmanager
def background_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a daemon thread until the block exits."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-server-loop", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def call(loop: asyncio.AbstractEventLoop, coro: Awaitable[T], timeout: float = 30) -> T:
    """Run ``coro`` on ``loop`` (in its thread) and return its result."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)  # type: ignore[arg-type]


@contextmanager
def serving(make: Callable[[], Any]) -> Iterator[Any]:
    """Enter the async context manager ``make()`` (a ``serve(...)`` call, ours or
    websockets') on a background loop; yield the server; exit it at the end.

    ``make`` is called inside the loop, as some servers need a running loop.
    """
    with background_loop() as loop:
        manager: list[Any] = []

        async def enter() -> Any:
            manager.append(make())
            return await manager[0].__aenter__()

        server = call(loop, enter())
        try:
            yield server
        finally:
            call(loop, manager[0].__aexit__(None, None, None))


def port_of(server: Any) -> int:
    """The port of a server started by ours or websockets' ``serve``."""
    return int(list(server.sockets)[0].getsockname()[1])
