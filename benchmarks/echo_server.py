"""An echo server on one library, for the end-to-end case (run as a subprocess).

``python -m benchmarks.echo_server NAME`` listens on 127.0.0.1 (a free port),
prints the port (or ``unavailable: why``) on one line, and echoes every
message until its standard input closes. Each server is the library's
plain, documented way to write an echo server, with its default options.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
from typing import Any, Awaitable, Callable

HOST = "127.0.0.1"


def _listening_socket() -> socket.socket:
    # Created with proto=IPPROTO_TCP (socket.socket() leaves 0): asyncio sets
    # TCP_NODELAY on accepted sockets only then, as it does for host/port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((HOST, 0))
    sock.listen(128)
    return sock


async def _echo_messages(ws: Any) -> None:
    # websockets-style connection objects (websockets, wsproto6455.asyncio).
    async for message in ws:
        await ws.send(message)


async def ours() -> int:
    from wsproto6455.asyncio import serve

    server = await serve(_echo_messages, HOST, 0)
    return int(server.port)


async def websockets() -> int:
    from websockets.asyncio.server import serve

    sock = _listening_socket()
    await serve(_echo_messages, sock=sock)
    return int(sock.getsockname()[1])


async def aiohttp() -> int:
    from aiohttp import WSMsgType, web

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/{path:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = _listening_socket()
    await web.SockSite(runner, sock).start()
    return int(sock.getsockname()[1])


async def picows() -> int:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    class Echo(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
                transport.send(frame.msg_type, frame.get_payload_as_bytes())
            elif frame.msg_type is WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    sock = _listening_socket()
    await ws_create_server(lambda request: Echo(), sock=sock)
    return int(sock.getsockname()[1])


SERVERS: dict[str, Callable[[], Awaitable[int]]] = {
    "wsproto6455": ours,
    "websockets": websockets,
    "aiohttp": aiohttp,
    "picows": picows,
}


def _exit_when_stdin_closes() -> None:
    sys.stdin.read()
    os._exit(0)


def main() -> None:
    loop = asyncio.new_event_loop()
    try:
        port = loop.run_until_complete(SERVERS[sys.argv[1]]())
    except Exception as exc:  # noqa: BLE001 - the parent reports it as a note
        print(f"unavailable: {type(exc).__name__}: {exc}", flush=True)
        return
    print(port, flush=True)
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    loop.run_forever()


if __name__ == "__main__":
    main()
