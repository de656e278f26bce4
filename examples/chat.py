#!/usr/bin/env python3
"""Chat rooms over WebSocket, on one server or on many sharing one Redis.

    python examples/chat.py --port 8001 --redis redis://127.0.0.1:6379/0
    python examples/chat.py --port 8002 --redis redis://127.0.0.1:6379/0

Open http://127.0.0.1:8001/ and http://127.0.0.1:8002/, join the same room:
each sees the other's messages.

- ``GET /``: the chat page; ``GET /healthz``: 200 (503 while Redis is
  unreachable); ``GET /metrics``: Prometheus text (connections, messages,
  broadcast drops, rate limits, the Redis broker's state and counters).
- WebSocket ``/rooms/<room>``: every message a client sends reaches every
  member of the room on every server sharing the Redis, the sender included,
  unchanged, in order per sender (at most once: see docs/REDIS.md).
- ``--jwt-secret S``: an HS256 token is required, as the query parameter
  ``token`` or ``Authorization: Bearer``; none is answered 401, a bad one 403.
- ``--rate N --burst B``: at most N messages per second per connection
  (bursts of B); beyond that the connection is closed with 1008.
  ``--max-connections-per-ip N``, ``--handshakes-per-second H``: beyond them
  a handshake is answered 429 before the upgrade.
- While Redis is down a message cannot be published: its sender's connection
  is closed with 1013 (try again later) and the page reconnects with backoff.
- ``--history N`` (default 1000 with ``--redis``, 0 turns it off): Redis keeps
  the last ~N messages of each room (for ``--history-ttl`` seconds after the
  last one), each with an epoch and an offset, so a client that reconnects
  gets what it missed. Positions are only sent to clients that ask: with
  ``?resume=1`` (no position yet) or ``?since=<epoch>:<offset>``, every frame
  is a JSON object, ``{"type": "message", "epoch", "offset", "text"}``,
  ``{"type": "gap", "reason", "since", "missed"}`` when messages after
  ``since`` are lost, and ``{"type": "live", "epoch", "offset"}`` once the
  replay is done (see chat_resume.py). Without them a client gets every
  message unchanged, as above. The page opts in and resumes by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
from pathlib import Path
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Sequence, Set, Tuple
from urllib.parse import unquote, urlsplit

from wsproto6455.asyncio import serve
from wsproto6455.asyncio.exceptions import ConnectionClosed
from wsproto6455.realtime import ConnectionLimit, Hub, IPLimit, chain, jwt_auth, prometheus_text

from chat_resume import Counters, Resumer, parse_resume

PAGE = Path(__file__).with_name("chat.html").read_bytes()
ROOMS = "/rooms/"
WINDOW = 64  # publishes in flight per connection
HTTPResponse = Tuple[int, List[Tuple[bytes, bytes]], bytes]
logger = logging.getLogger("chat")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--redis", metavar="URL", default=None,
                        help="share rooms with every server on this Redis "
                             "(redis://, rediss://, redis+cluster:// for Redis Cluster)")
    parser.add_argument("--jwt-secret", metavar="S", default=None,
                        help="require an HS256 token (query 'token' or Authorization: Bearer)")
    parser.add_argument("--rate", type=float, default=None, metavar="N",
                        help="messages per second per connection (default: unlimited)")
    parser.add_argument("--burst", type=int, default=20, metavar="B",
                        help="messages a connection may send at once within --rate")
    parser.add_argument("--max-connections-per-ip", type=int, default=None, metavar="N",
                        help="open connections per client IP (over it: 429)")
    parser.add_argument("--handshakes-per-second", type=float, default=None, metavar="H",
                        help="handshakes per second per client IP (over it: 429)")
    parser.add_argument("--presence-ttl", type=float, default=30.0, metavar="SECONDS",
                        help="a crashed server's members leave the presence lists after this")
    parser.add_argument("--history", type=int, default=None, metavar="N",
                        help="keep the last ~N messages per room in Redis for clients that "
                             "resume (default: 1000 with --redis; 0: off)")
    parser.add_argument("--history-ttl", type=float, default=3600.0, metavar="SECONDS",
                        help="a room's history is forgotten this long after its last message")
    args = parser.parse_args(argv)
    if args.history is None:
        args.history = 1000 if args.redis else 0
    if args.history < 0:
        parser.error("--history must not be negative")
    if args.history and not args.redis:
        parser.error("--history needs --redis (the history is kept in Redis)")
    if args.history_ttl <= 0:
        parser.error("--history-ttl must be positive")
    return args


def room_of(target: str) -> Optional[str]:
    path = urlsplit(target).path
    if not path.startswith(ROOMS):
        return None
    room = unquote(path[len(ROOMS):])
    if not room or "/" in room or room.startswith("}") or len(room) > 200:
        return None
    return room


class Chat:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.broker: Any = None
        if args.redis:
            from wsproto6455.realtime import RedisBroker
            self.broker = RedisBroker(args.redis, presence_ttl=args.presence_ttl,
                                      history=args.history, history_ttl=args.history_ttl)
        self.hub = Hub(self.broker)
        # Resuming connections per room: caught up at once when this server's
        # subscription comes back after a loss (what was said meanwhile is
        # only in the history), not at the room's next message.
        self.resumers: Dict[str, Set[Resumer]] = {}
        if self.broker is not None:
            self.broker.on_resubscribed = self.resync
        self.server_id = f"{socket.gethostname()}:{os.getpid()}"
        self.unavailable_closes = 0
        self.resume_counters = Counters()
        # Handshake hooks, cheap refusals first: the path, the per-IP limits
        # (429), the token (401/403), then the per-connection message rate.
        hooks: List[Any] = [self.check_path]
        if args.max_connections_per_ip or args.handshakes_per_second:
            hooks.append(IPLimit(max_connections=args.max_connections_per_ip,
                                 handshakes_per_second=args.handshakes_per_second).process_request)
        if args.jwt_secret:
            hooks.append(jwt_auth(args.jwt_secret, algorithms=["HS256"]))
        if args.rate:
            hooks.append(ConnectionLimit(messages_per_second=args.rate, message_burst=args.burst,
                                         action="close").process_request)
        self.process_request = chain(*hooks)

    # -- WebSocket

    @staticmethod
    def check_path(ws: Any, request: Any) -> Any:
        if room_of(request.target) is None:
            return 404, [(b"content-type", b"text/plain")], b"no such room path: use /rooms/<room>\n"
        try:
            parse_resume(request.target)
        except ValueError as exc:
            return 400, [(b"content-type", b"text/plain")], f"{exc}\n".encode()
        return None

    async def handler(self, ws: Any) -> None:
        room = room_of(ws.request.target)
        assert room is not None
        # A client that asked for positions gets its messages through a
        # Resumer (JSON with epoch and offset, history replay), the others
        # through the Hub's broadcast, unchanged.
        wants_positions, since = parse_resume(ws.request.target)
        resumer: Optional[Resumer] = None
        if wants_positions:
            resumer = Resumer(ws, room, self.broker, self.args.history > 0, since,
                              self.resume_counters)
        try:
            # Joined first, so that nothing published from here on escapes
            # the Resumer: it buffers live messages while it reads the history.
            await self.hub.join(room, ws, on_publication=resumer.on_publication if resumer else None)
        except Exception as exc:  # the broker could not subscribe: say so, client retries
            logger.warning("join %r failed: %s", room, exc)
            self.unavailable_closes += 1
            await ws.close(1013, "rooms unavailable, try again later")
            return
        if resumer is not None:
            resumer.start()
            self.resumers.setdefault(room, set()).add(resumer)
        member = f"{self.server_id}:{id(ws)}"
        await self._presence("presence_join", room, member)
        # Publishes in flight for this connection: up to WINDOW at once, so a
        # sender is not held to one Redis round trip per message. Order is
        # kept: hub.publish hands each message to Redis before it returns.
        inflight: Deque["asyncio.Future[None]"] = deque()
        try:
            async for message in ws:  # over --rate, the limit closes the connection (1008)
                inflight.append(self.hub.publish(room, message))
                while inflight and (inflight[0].done() or len(inflight) >= WINDOW):
                    await inflight.popleft()
            while inflight:
                await inflight.popleft()
        except ConnectionClosed:
            pass
        except ConnectionError as exc:  # BrokerUnavailable: nothing was queued
            logger.info("publish to %r failed: %s", room, exc)
            self.unavailable_closes += 1
            await ws.close(1013, "rooms unavailable, try again later")
        finally:
            if resumer is not None:
                resumer.stop()
                resumers = self.resumers.get(room)
                if resumers is not None:
                    resumers.discard(resumer)
                    if not resumers:
                        del self.resumers[room]
            for task in inflight:  # their outcome no longer matters to anyone
                task.add_done_callback(_retrieve)
            await self._presence("presence_leave", room, member)

    def resync(self, rooms: List[str]) -> None:
        """The broker's ``on_resubscribed``."""
        for room in rooms:
            for resumer in list(self.resumers.get(room, ())):
                resumer.resync()

    async def _presence(self, method: str, room: str, member: str) -> None:
        if self.broker is None:
            return
        try:
            await getattr(self.broker, method)(room, member)
        except ConnectionError:  # Redis down: presence catches up on the next refresh
            pass

    # -- plain HTTP

    def page(self, server: Any, target: str) -> HTTPResponse:
        return 200, [(b"content-type", b"text/html; charset=utf-8"),
                     (b"cache-control", b"no-store")], PAGE

    def healthz(self, server: Any, target: str) -> HTTPResponse:
        redis_state = self.broker.state if self.broker is not None else "none"
        healthy = self.broker is None or redis_state == "connected"
        body = json.dumps({"status": "ok" if healthy else "degraded", "redis": redis_state,
                           "connections": len(server.connections)}).encode() + b"\n"
        return 200 if healthy else 503, [(b"content-type", b"application/json")], body

    def metrics(self, server: Any, target: str) -> HTTPResponse:
        text = prometheus_text(server.metrics())
        text += _family("wsproto6455_chat_rooms", "gauge", "rooms with a member on this server",
                        len(self.hub.rooms()))
        text += _family("wsproto6455_chat_unavailable_closes_total", "counter",
                        "connections closed with 1013 because Redis was unavailable",
                        self.unavailable_closes)
        counters = self.resume_counters
        text += _family("wsproto6455_chat_history_replayed_total", "counter",
                        "history messages sent to clients that resumed", counters.replayed)
        text += _family("wsproto6455_chat_history_gaps_total", "counter",
                        "gap notices sent (messages a resuming client can no longer get)",
                        counters.gaps)
        text += _family("wsproto6455_chat_history_resyncs_total", "counter",
                        "catch-ups from the history after a hole in live traffic", counters.resyncs)
        if self.broker is not None:
            text += self.broker.prometheus_text()
        return 200, [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")], text.encode()

    # -- run

    async def run(self) -> None:
        await self.hub.start()
        routes = {"/": self.page, "/healthz": self.healthz, "/metrics": self.metrics}
        stop = asyncio.get_running_loop().create_future()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, _resolve, stop)
        try:
            async with serve(self.handler, self.args.host, self.args.port,
                             process_request=self.process_request, http_routes=routes) as server:
                logger.info("chat on http://%s:%d/ (redis: %s)", self.args.host, server.port,
                            self.args.redis or "none, rooms are local")
                await stop
        finally:
            await self.hub.close()


def _resolve(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)


def _retrieve(task: "asyncio.Future[None]") -> None:
    if not task.cancelled():
        task.exception()


def _family(name: str, kind: str, help_text: str, value: float) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n{name} {value}\n"


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        asyncio.run(Chat(args).run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
