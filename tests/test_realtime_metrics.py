"""Server metrics: the snapshot, /metrics (Prometheus text) and /healthz
answered by the WebSocket server itself, over real sockets."""

from __future__ import annotations

import asyncio
import re
from typing import Dict, List, Tuple

from wsproto6455.asyncio import ServerConnection, broadcast, connect, serve
from wsproto6455.asyncio.metrics import health_route, prometheus_route

from tests.test_asyncio_support import HOST, async_test, wait_until

ROUTES = {"/metrics": prometheus_route, "/healthz": health_route}


async def http_get(port: int, target: str, method: str = "GET") -> Tuple[int, Dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(f"{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = await reader.read()  # the server closes after answering
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def parse_prometheus(text: str) -> Dict[str, float]:
    """Strict enough: every sample line is ``name{labels} value``, every
    family has HELP and TYPE first."""
    samples: Dict[str, float] = {}
    typed = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("# HELP "):
            continue
        match = re.fullmatch(r'([a-z0-9_]+)(\{[a-z]+="[^"]*"\})? ([0-9.e+-]+)', line)
        assert match, line
        assert match.group(1) in typed, line
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


@async_test()
async def test_snapshot_counts_connections_messages_and_closes() -> None:
    conns: List[ServerConnection] = []

    async def echo(ws: ServerConnection) -> None:
        conns.append(ws)
        async for message in ws:
            await ws.send(message)

    async with serve(echo, HOST, 0, http_routes=ROUTES, compression=None) as server:
        url = f"ws://{HOST}:{server.port}/"
        a = await connect(url, compression=None)
        b = await connect(url, compression=None)
        for i in range(10):
            await a.send(f"m{i}")
            assert await a.recv() == f"m{i}"
        await wait_until(lambda: len(conns) == 2)
        broadcast(conns, "all")
        assert await a.recv() == "all" and await b.recv() == "all"
        snap = server.metrics()
        assert snap["connections_open"] == 2 and snap["connections_opened"] == 2
        assert snap["messages_in"] == 10 and snap["messages_out"] == 12
        assert snap["broadcast_sent"] == 2 and snap["broadcast_drops"] == 0
        assert snap["bytes_out"] == 10 * 4 + 2 * 5
        assert snap["bytes_in"] > 10 * 8  # masked frames, plus the handshakes
        await a.close(4000)
        await b.close()
        await wait_until(lambda: server.metrics()["connections_open"] == 0)
        snap = server.metrics()
        assert snap["connections_closed"] == {4000: 1, 1000: 1}
        # counts of closed connections are kept
        assert snap["messages_in"] == 10 and snap["messages_out"] == 12

        status, headers, body = await http_get(server.port, "/metrics")
        assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = parse_prometheus(body.decode())
        assert samples["wsproto6455_connections_opened_total"] == 2
        assert samples['wsproto6455_connections_closed_total{code="4000"}'] == 1
        assert samples["wsproto6455_messages_in_total"] == 10
        assert samples["wsproto6455_connections_open"] == 0


@async_test()
async def test_plain_http_routes_beside_websocket_paths() -> None:
    async def idle(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(idle, HOST, 0, http_routes=ROUTES) as server:
        status, headers, body = await http_get(server.port, "/healthz")
        assert (status, headers["content-type"], body) == (200, "text/plain", b"ok\n")
        status, _, body = await http_get(server.port, "/healthz?probe=1")
        assert (status, body) == (200, b"ok\n")
        status, _, _ = await http_get(server.port, "/elsewhere")
        assert status == 426  # not a route: the handshake's own answer
        status, _, _ = await http_get(server.port, "/metrics", method="POST")
        assert status == 405
        # the WebSocket still works on any path, /metrics included
        async with connect(f"ws://{HOST}:{server.port}/metrics") as ws:
            assert ws.subprotocol is None
        assert server.metrics()["handshakes_rejected"] == {426: 1, 405: 1}
        server.close()
        assert health_route(server, "/healthz")[0] == 503
        await server.wait_closed()
