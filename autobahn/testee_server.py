"""Autobahn testee, server role: an echo server on the sans-IO core.

    python autobahn/testee_server.py --port 9001 [--host 127.0.0.1]

With ``--port 0`` the OS picks a free port. The first line on stdout is always
``listening on HOST:PORT`` (run.py reads it to know where and when to connect).
"""

from __future__ import annotations

import argparse
import asyncio

from echo import EchoProtocol
from wsproto6455 import ConnectionType


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: EchoProtocol(ConnectionType.SERVER), host, port
    )
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    print(f"listening on {bound_host}:{bound_port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
