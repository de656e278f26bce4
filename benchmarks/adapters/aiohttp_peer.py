"""aiohttp: its WebSocket reader (compiled or pure) and writer, fed directly.

aiohttp has no sans-IO connection: the reader and writer are what its
server runs under ``WebSocketResponse``; the handshake lives in aiohttp.web.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any, Coroutine, Sequence

from aiohttp._websocket.models import WSMsgType
from aiohttp._websocket.writer import WEBSOCKET_MAX_SYNC_CHUNK_SIZE, WebSocketWriter

from ..harness import Unsupported
from .base import LIMIT, Conn, Deflate, Peer

_READ_LIMIT = 2**16  # aiohttp.web's WebSocketDataQueue limit
_WBITS = 15  # aiohttp's default compress=15 (its response caps no window)


class _Protocol:
    """The bits of aiohttp's BaseProtocol the reader queue and writer touch."""

    _reading_paused = False
    _paused = False

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        self._reading_paused = False


class _Transport:
    """Collects written bytes (one write per frame, as aiohttp does)."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.write = self.out.append

    def is_closing(self) -> bool:
        return False


def _run_now(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that completes without waiting (no event loop needed)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("coroutine suspended")


_loop: asyncio.AbstractEventLoop | None = None


def _run_in_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    # Large compressed frames go through an executor task in aiohttp's
    # writer: that needs a running loop.
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(coro)


class AiohttpPeer(Peer):
    distribution = "aiohttp"
    sans_io = False

    def __init__(self, column: str, reader_module: str, writes: bool):
        self.column = column
        self.reader = importlib.import_module(reader_module)
        self.writes = writes  # the writer is pure Python either way: one column for it

    def _writer(self, deflate: Deflate, mask: bool) -> Any:
        if not self.writes:
            raise Unsupported("same (pure-Python) writer as the aiohttp column")
        transport = _Transport()
        writer = WebSocketWriter(_Protocol(), transport, use_mask=mask, compress=_WBITS if deflate else 0)  # type: ignore[arg-type]
        send_frame, out = writer.send_frame, transport.out

        def send(text: str) -> list[bytes]:
            data = text.encode()  # aiohttp's send_str encodes, as here
            run = _run_in_loop if deflate and len(data) > WEBSOCKET_MAX_SYNC_CHUNK_SIZE else _run_now
            run(send_frame(data, WSMsgType.TEXT))
            frames = out[:]
            out.clear()
            return frames

        return send

    def open_server(self, deflate: Deflate) -> Conn:
        queue = self.reader.WebSocketDataQueue(_Protocol(), _READ_LIMIT, loop=None)
        parser = self.reader.WebSocketReader(queue, LIMIT, compress=bool(deflate), decode_text=True)
        feed_data, pending = parser.feed_data, queue._buffer

        def feed(chunks: Sequence[bytes]) -> int:
            finished = 0
            for chunk in chunks:
                feed_data(chunk)
                while pending:  # what ``await ws.receive()`` runs per message
                    _run_now(queue.read())
                    finished += 1
            return finished

        try:
            send = self._writer(deflate, mask=False)
        except Unsupported as exc:
            send = _unsupported(exc)
        return Conn((parser, queue), send, feed, _WBITS)

    def open_client(self, deflate: Deflate) -> Conn:
        return Conn(None, self._writer(deflate, mask=True))


def _unsupported(exc: Unsupported) -> Any:
    def send(text: str) -> None:
        raise exc

    return send


def compiled_peer() -> AiohttpPeer:
    import aiohttp._websocket.reader_c  # type: ignore[import-not-found]  # noqa: F401 - ImportError: not compiled

    return AiohttpPeer("aiohttp", "aiohttp._websocket.reader_c", writes=True)


def pure_peer() -> AiohttpPeer:
    return AiohttpPeer("aiohttp (py)", "aiohttp._websocket.reader_py", writes=False)
