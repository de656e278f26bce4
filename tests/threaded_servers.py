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


class SansIOServer:
    """A one-connection echo server on the sans-IO core, in a thread, recording every event.

    It answers pings and completes the closing handshake, so tests can see
    what a client sent (pings, close codes) that asyncio servers do not expose.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        import socket

        self.listener = socket.create_server((host, 0))
        self.port = int(self.listener.getsockname()[1])
        self.events: list[Any] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sansio-server", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from wsproto6455 import ConnectionState, ConnectionType, WSConnection
        from wsproto6455.events import (AcceptConnection, BytesMessage, CloseConnection, Ping,
                                        Request, TextMessage)

        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        with sock:
            ws = WSConnection(ConnectionType.SERVER, whole_messages=True)
            while ws.state is not ConnectionState.CLOSED:
                data = sock.recv(65536)
                ws.receive_data(data or None)
                for event in ws.events():
                    self.events.append(event)
                    if isinstance(event, Request):
                        sock.sendall(ws.send(AcceptConnection()))
                    elif isinstance(event, (TextMessage, BytesMessage)):
                        sock.sendall(ws.send(event))
                    elif isinstance(event, Ping):
                        sock.sendall(ws.send(event.response()))
                    elif isinstance(event, CloseConnection) and ws.state is ConnectionState.REMOTE_CLOSING:
                        sock.sendall(ws.send(event.response()))
        self.done.set()

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)
