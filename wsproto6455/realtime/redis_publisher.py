"""The broker's publish connection to one Redis node: pipelined, in order.

Each publish is written to the socket the moment it is made, and its reply is
matched by position (Redis answers a connection's commands in order), so there
is no queue to wake and no batch to wait for: a publish costs one RESP encode
and one ``write``. Order: publishes made in a given order are written, hence
applied and delivered by Redis, in that order.

Bounds: at most ``max_pending`` replies outstanding; past that, and whenever
the connection is not up, ``send`` raises ``BrokerUnavailable`` at once. When
the connection is lost, every outstanding publish fails with
``BrokerUnavailable`` (it may or may not have reached Redis: at most once).

The scripts given are loaded on every connection (``SCRIPT LOAD``), so
``EVALSHA`` never meets an unknown script after Redis restarts; if an
operator flushes the scripts meanwhile, the connection is dropped and the
reconnect loads them again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from typing import Callable, Deque, Optional, Sequence

from .redis_connection import (BrokerUnavailable, CONNECTED, Endpoint, SupervisedConnection, logger,
                               moved_to)
from .resp import RedisReplyError, Reply, RespParser, encode_command

_PING = encode_command("PING")


def script_sha(source: str) -> str:
    """The name ``EVALSHA`` knows a script by (SHA-1 of its text, as Redis computes it)."""
    return hashlib.sha1(source.encode()).hexdigest()


class Publisher(SupervisedConnection):
    """``send(command)`` writes a publish (any command whose success reply
    carries nothing we need) and returns a future: ``None`` once Redis
    accepted it, ``BrokerUnavailable`` if Redis refused it or the connection
    was lost first. ``on_moved(node)`` runs when a cluster node answers MOVED,
    with the node the reply names as the slot's owner."""

    role = "publisher"

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        db: int = 0,
        scripts: Sequence[str] = (),
        max_pending: int = 10_000,
        backoff_base: float = 0.05,
        backoff_cap: float = 2.0,
        ping_interval: float = 1.0,
        connect_timeout: float = 1.0,
        on_moved: Optional[Callable[[Endpoint], None]] = None,
    ) -> None:
        super().__init__(endpoint, backoff_base=backoff_base, backoff_cap=backoff_cap,
                         ping_interval=ping_interval, connect_timeout=connect_timeout)
        self._db = db
        self._on_moved = on_moved
        self._scripts = {script_sha(source): source for source in scripts}
        self.max_pending = max_pending
        # One entry per command in flight, in the order written; None for our PINGs.
        self._replies: Deque[Optional["asyncio.Future[None]"]] = deque()
        self.accepted = 0
        self.refused = 0  # error replies (MOVED, OOM, a failing script...)
        self.lost = 0  # in flight when the connection was lost

    @property
    def pending(self) -> int:
        return len(self._replies)

    def send(self, command: bytes) -> "asyncio.Future[None]":
        """Writes ``command`` now (raises ``BrokerUnavailable`` at once if it
        cannot); the future completes when Redis answered."""
        writer = self._writer
        if writer is None or self.state != CONNECTED:
            raise BrokerUnavailable(f"Redis {self.endpoint.name} is {self.state}")
        if len(self._replies) >= self.max_pending:
            raise BrokerUnavailable(f"{self.max_pending} publishes already waiting for "
                                    f"Redis {self.endpoint.name}")
        accepted: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
        writer.write(command)
        self._replies.append(accepted)
        return accepted

    async def close(self) -> None:
        await super().close()
        self._fail_pending(BrokerUnavailable("broker closed"))

    # -- the connection's hooks --------------------------------------------

    async def _prepare(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       parser: RespParser) -> None:
        if self._db:
            await self._command(reader, writer, parser, "SELECT", self._db)
        for sha, source in self._scripts.items():
            loaded = await self._command(reader, writer, parser, "SCRIPT", "LOAD", source)
            if loaded != sha.encode():
                raise RedisReplyError(f"SCRIPT LOAD named the script {loaded!r}, expected {sha}")

    def _ping(self, writer: asyncio.StreamWriter) -> None:
        writer.write(_PING)
        self._replies.append(None)

    def _on_reply(self, reply: Reply) -> None:
        if not self._replies:
            raise RedisReplyError(f"a reply nobody asked for: {reply!r}")  # drops the connection
        waiter = self._replies.popleft()
        if not isinstance(reply, RedisReplyError):
            if waiter is not None:
                self.accepted += 1
                if not waiter.done():
                    waiter.set_result(None)
            return
        self.refused += 1
        message = str(reply)
        if message.startswith("MOVED") and self._on_moved is not None:
            self._on_moved(moved_to(message, self.endpoint))
        elif message.startswith("NOSCRIPT") and self._writer is not None:
            # The scripts were flushed: reconnect, which loads them again.
            logger.warning("redis publisher %s: scripts flushed; reconnecting", self.endpoint.name)
            self._writer.transport.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(BrokerUnavailable(
                f"publish refused by Redis {self.endpoint.name}: {message}"))

    def _on_session_end(self) -> None:
        self._fail_pending(BrokerUnavailable(
            f"connection to Redis {self.endpoint.name} lost; the publish may or may not have "
            "been delivered"))

    def _fail_pending(self, exc: BaseException) -> None:
        replies, self._replies = self._replies, deque()
        for waiter in replies:
            if waiter is not None:
                self.lost += 1
                if not waiter.done():
                    waiter.set_exception(exc)
