"""One supervised connection to one Redis node: the life the broker's
pub/sub listener and its publisher share (stdlib only).

A task owns the connection. It never dies on a connection error: it drops
the connection, waits a full-jitter backoff (a random delay in
``[0, min(cap, base * 2**failures)]``, so that many servers reconnecting after
one Redis restart spread out), and connects again. Liveness: a timer ticks
every ``ping_interval`` and sends a PING if Redis has been quiet; no byte from
Redis for two intervals drops the connection, so a silent network loss is noticed too. The check runs on a
timer, not as a timeout around each read: a read wrapped in ``wait_for`` costs
a task and a loop turn per message, which is most of a publish's latency.
Only unexpected exceptions are logged with a traceback; every state change is
logged once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from dataclasses import dataclass
from typing import Callable, Optional

from .resp import ProtocolViolation, RedisReplyError, Reply, RespParser, encode_command

logger = logging.getLogger("wsproto6455.realtime.redis")

CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
CLOSED = "closed"

READ_SIZE = 262_144


class BrokerUnavailable(ConnectionError):
    """Redis cannot take this request now (down, reconnecting, or the bounded
    publish queue is full). Nothing was queued for later."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    username: Optional[str] = None
    password: Optional[str] = None
    tls: Optional[ssl.SSLContext] = None

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


def moved_to(message: str, asked: Endpoint) -> Endpoint:
    """The node a ``MOVED <slot> <host>:<port>`` reply names, with ``asked``'s
    credentials: it owns the slot now, so its slot table is current. An empty
    host means ``asked``'s host; an unreadable reply names ``asked`` itself."""
    parts = message.split()
    if len(parts) >= 3:
        host, _, port = parts[2].rpartition(":")
        if port.isdigit():
            return Endpoint(host or asked.host, int(port), asked.username, asked.password, asked.tls)
    return asked


def full_jitter(failures: int, base: float, cap: float) -> float:
    return random.uniform(0.0, min(cap, base * (2 ** min(failures, 30))))


async def cancel_and_wait(task: "Optional[asyncio.Task[None]]") -> None:
    """Cancels ``task`` (if any) and returns once it has ended."""
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


class SupervisedConnection:
    """Subclasses say what a connection is for: ``_prepare`` (commands sent
    before it counts as connected), ``_on_reply`` (each reply after that),
    ``_ping`` and ``_on_session_end``."""

    #: How the logs name this kind of connection.
    role = "connection"

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        backoff_base: float = 0.05,
        backoff_cap: float = 2.0,
        ping_interval: float = 1.0,
        connect_timeout: float = 1.0,
    ) -> None:
        self.endpoint = endpoint
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._ping_interval = ping_interval
        self._connect_timeout = connect_timeout
        self._writer: Optional[asyncio.StreamWriter] = None
        self._task: Optional["asyncio.Task[None]"] = None
        self._connected = asyncio.Event()
        self._retry_now = asyncio.Event()
        self._last_read = 0.0
        self._watchdog: Optional[asyncio.TimerHandle] = None
        self._silence: Optional[str] = None
        #: Called when a lost connection is back (the broker wakes the node's other one).
        self.on_back: Optional[Callable[[], None]] = None
        self.state = CONNECTING
        self.reconnects = 0
        self.bytes_received = 0
        self.last_error: Optional[str] = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._supervise())

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def retry_now(self) -> None:
        """Cut the backoff short: the node is known to be back (its other
        connection just got through)."""
        if self.state != CONNECTED:
            self._retry_now.set()

    async def close(self) -> None:
        self.state = CLOSED
        task, self._task = self._task, None
        await cancel_and_wait(task)

    # -- what subclasses define ---------------------------------------------

    async def _prepare(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       parser: RespParser) -> None:
        """Runs on each new connection before it counts as connected."""

    def _on_reply(self, reply: Reply) -> None:
        raise NotImplementedError

    def _ping(self, writer: asyncio.StreamWriter) -> None:
        writer.write(encode_command("PING"))

    def _on_session_end(self) -> None:
        """The connection is gone (its replies will never come)."""

    async def _on_reconnected(self) -> None:
        """Runs when a connection is up again after a loss."""
        if self.on_back is not None:
            self.on_back()

    # -- the supervised loop ----------------------------------------------

    async def _supervise(self) -> None:
        failures = 0
        while True:
            established = False
            try:
                established = await self._session()
            except asyncio.CancelledError:
                raise
            except (OSError, EOFError, asyncio.TimeoutError, ProtocolViolation, RedisReplyError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a bug must not end the supervision silently
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("redis %s %s: unexpected error", self.role, self.endpoint.name)
            finally:
                self._writer = None
                self._connected.clear()
                self._on_session_end()
            if established:
                failures = 0
            if self.state == CONNECTED:
                logger.warning("redis %s %s: connection lost (%s); reconnecting",
                               self.role, self.endpoint.name, self.last_error)
            self.state = RECONNECTING
            self.reconnects += 1
            self._retry_now.clear()
            try:
                await asyncio.wait_for(self._retry_now.wait(),
                                       full_jitter(failures, self._backoff_base, self._backoff_cap))
            except asyncio.TimeoutError:
                pass
            failures += 1

    async def _session(self) -> bool:
        """One connection's life; returns or raises when it ends."""
        endpoint = self.endpoint
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(endpoint.host, endpoint.port, ssl=endpoint.tls),
            self._connect_timeout)
        try:
            parser = RespParser()
            if endpoint.password is not None:
                auth = ("AUTH", endpoint.username, endpoint.password) if endpoint.username \
                    else ("AUTH", endpoint.password)
                await self._command(reader, writer, parser, *auth)
            await self._prepare(reader, writer, parser)
            if self.state == RECONNECTING:
                await self._on_reconnected()
            self._writer = writer
            was = self.state
            self.state = CONNECTED
            self._connected.set()
            if was == RECONNECTING:
                logger.warning("redis %s %s: reconnected", self.role, endpoint.name)
            await self._pump(reader, writer, parser)
            return True
        finally:
            writer.close()

    async def _command(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       parser: RespParser, *command: "str | bytes | int") -> Reply:
        """One command and its reply, during ``_prepare`` (an error reply raises)."""
        writer.write(encode_command(*command))
        reply = await asyncio.wait_for(self._read_one(reader, parser), self._connect_timeout)
        if isinstance(reply, RedisReplyError):
            raise reply
        return reply

    async def _read_one(self, reader: asyncio.StreamReader, parser: RespParser) -> Reply:
        while True:
            complete, reply = parser.pop()
            if complete:
                return reply
            data = await reader.read(65536)
            if not data:
                raise EOFError("connection closed by Redis")
            parser.feed(data)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    parser: RespParser) -> None:
        loop = asyncio.get_running_loop()
        self._last_read = time.monotonic()
        self._silence = None
        self._watch_from(writer, loop.time() + self._ping_interval)
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    if self._silence is not None:
                        raise asyncio.TimeoutError(self._silence)
                    raise EOFError("connection closed by Redis")
                self.bytes_received += len(data)
                parser.feed(data)
                while True:
                    complete, reply = parser.pop()
                    if not complete:
                        break
                    self._on_reply(reply)
                # Handling a large read can take a while (the Hub broadcasts
                # synchronously): silence counts from when we listen again.
                self._last_read = time.monotonic()
        finally:
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None

    def _watch(self, writer: asyncio.StreamWriter, due: float) -> None:
        """The liveness timer: a PING after a quiet interval, the connection
        dropped after two."""
        loop = asyncio.get_running_loop()
        interval = self._ping_interval
        now = time.monotonic()
        if loop.time() - due > 0.5 * interval:
            # The loop was held elsewhere (a burst of closes, a long broadcast):
            # Redis' answer may be waiting unread. Not Redis' silence.
            self._last_read = now
        elif now - self._last_read > 2 * interval:
            self._silence = f"no reply from Redis for {2 * interval}s"
            writer.transport.abort()
            return
        if now - self._last_read >= 0.5 * interval:
            # Half an interval, not one: a timer may fire a hair early, and a
            # PING skipped here would let the next tick find two silent intervals.
            self._ping(writer)
        self._watch_from(writer, loop.time() + interval)

    def _watch_from(self, writer: asyncio.StreamWriter, due: float) -> None:
        self._watchdog = asyncio.get_running_loop().call_at(due, self._watch, writer, due)
