"""Autobahn testee, client role: the client-testee protocol against a fuzzing server.

    python autobahn/testee_client.py ws://127.0.0.1:9001 [--agent NAME]

1. ``/getCaseCount``: one text message with the number of selected cases.
2. ``/runCase?case=N&agent=A`` for N = 1..count (``--concurrency`` at once):
   echo everything, complete the close, go on after a failing case.
3. ``/updateReports?agent=A``: the server writes its reports (kosoku drops
   this connection without a close frame: that is not an error).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Optional, TypeVar, Union
from urllib.parse import quote, urlsplit

from echo import AGENT, EchoProtocol
from wsproto6455 import ConnectionType
from wsproto6455.events import Request
from wsproto6455.extensions import PerMessageDeflate

#: Upper bound for one connection; the fuzzing server's own case timeouts are
#: shorter, so this only fires if the server stops answering altogether.
CONNECTION_TIMEOUT = 300.0


class CaseCountProtocol(EchoProtocol):
    """Keeps the one message of ``/getCaseCount`` instead of echoing it."""

    count: Optional[int] = None  # set by the one message

    def on_message(self, data: Union[str, bytes]) -> bytes:
        self.count = int(data)
        return b""


def offer() -> PerMessageDeflate:
    # client_no_context_takeover and client_max_window_bits in the offer let
    # the fuzzing server negotiate cases 13.2-13.6 (UNIMPLEMENTED otherwise).
    return PerMessageDeflate(client_no_context_takeover=True, client_max_window_bits=15)


P = TypeVar("P", bound=EchoProtocol)


async def open_ws(url: str, target: str, factory: type[P]) -> P:
    """Run one WebSocket connection to ``url`` + ``target`` until TCP closes."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = Request(host=f"{host}:{port}", target=target, extensions=[offer()])
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: factory(ConnectionType.CLIENT, request), host, port
    )
    try:
        await asyncio.wait_for(asyncio.shield(protocol.done), CONNECTION_TIMEOUT)
    except asyncio.TimeoutError:
        assert protocol.transport is not None
        protocol.transport.abort()
        await protocol.done
    return protocol


async def run(url: str, agent: str, concurrency: int = 1) -> int:
    counter = await open_ws(url, "/getCaseCount", CaseCountProtocol)
    count = counter.count
    if count is None:
        print(f"no case count from {url}: {counter.error}", file=sys.stderr)
        return 1
    name = quote(agent, safe="")
    cases = iter(range(1, count + 1))

    async def worker() -> None:
        # Each worker takes the next case when its last one is over, so at
        # most ``concurrency`` cases run at once (each on its own connection).
        for case in cases:
            try:
                protocol = await open_ws(url, f"/runCase?case={case}&agent={name}", EchoProtocol)
            except OSError as exc:  # go on: the report shows the case as failed
                print(f"case {case}: {exc!r}", file=sys.stderr)
                continue
            if protocol.error is not None:
                print(f"case {case}: {protocol.error!r}", file=sys.stderr)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await open_ws(url, f"/updateReports?agent={name}", EchoProtocol)
    print(f"ran {count} cases", flush=True)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the fuzzing server, e.g. ws://127.0.0.1:9001")
    parser.add_argument("--agent", default=AGENT, help="name in the reports")
    parser.add_argument("--concurrency", type=int, default=1, help="cases at once")
    args = parser.parse_args()
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    sys.exit(asyncio.run(run(args.url.rstrip("/"), args.agent, args.concurrency)))


if __name__ == "__main__":
    main()
