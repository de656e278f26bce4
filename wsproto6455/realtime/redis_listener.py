"""The supervised pub/sub listener of one Redis node.

One task owns one connection. It never dies on a connection error: it drops
the connection, waits a full-jitter backoff (a random delay in
``[0, min(cap, base * 2**failures)]``, so that many servers reconnecting after
one Redis restart spread out), reconnects and resubscribes every wanted
channel. Liveness: a PING every ``ping_interval``; no byte from Redis for two
intervals drops the connection, so a silent network loss is noticed too.
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
from typing import Awaitable, Callable, Dict, List, Optional, Set

from .resp import ProtocolViolation, RedisReplyError, RespParser, encode_command

logger = logging.getLogger("wsproto6455.realtime.redis")

CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
CLOSED = "closed"


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


def full_jitter(failures: int, base: float, cap: float) -> float:
    return random.uniform(0.0, min(cap, base * (2 ** min(failures, 30))))


class Listener:
    """Subscribes to a set of channels on one node and hands messages over.

    ``on_message(channel, payload)`` runs on the event loop for each message;
    ``on_moved()`` is called when the node answers MOVED (cluster resharding).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        on_message: Callable[[bytes, bytes], None],
        *,
        sharded: bool = False,
        backoff_base: float = 0.05,
        backoff_cap: float = 2.0,
        ping_interval: float = 1.0,
        connect_timeout: float = 1.0,
        on_moved: Optional[Callable[[], None]] = None,
        on_reconnect: Optional[Callable[[], Awaitable[None]]] = None,
    ) -> None:
        self.endpoint = endpoint
        self._on_message = on_message
        self._on_moved = on_moved
        self._on_reconnect = on_reconnect
        self._subscribe_cmd = "SSUBSCRIBE" if sharded else "SUBSCRIBE"
        self._unsubscribe_cmd = "SUNSUBSCRIBE" if sharded else "UNSUBSCRIBE"
        self._message_kind = b"smessage" if sharded else b"message"
        self._confirm_kind = b"ssubscribe" if sharded else b"subscribe"
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._ping_interval = ping_interval
        self._connect_timeout = connect_timeout
        #: The channels wanted: the source of truth, replayed on every reconnect.
        self.channels: Set[bytes] = set()
        self._waiters: Dict[bytes, List["asyncio.Future[None]"]] = {}
        self._writer: Optional[asyncio.StreamWriter] = None
        self._task: Optional["asyncio.Task[None]"] = None
        self.state = CONNECTING
        self.reconnects = 0
        self.messages = 0
        self.bytes_received = 0
        self.last_error: Optional[str] = None
        self._connected = asyncio.Event()

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

    async def close(self) -> None:
        self.state = CLOSED
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._fail_waiters(BrokerUnavailable("broker closed"))

    # -- subscriptions -----------------------------------------------------

    async def subscribe(self, channel: bytes, timeout: float) -> None:
        """Wanted from now on; returns once Redis confirmed it. While Redis is
        down it stays wanted (the reconnect subscribes it) and this raises
        ``BrokerUnavailable`` after ``timeout``."""
        self.channels.add(channel)
        waiter: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, []).append(waiter)
        self._send(self._subscribe_cmd, channel)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except asyncio.TimeoutError:
            raise BrokerUnavailable(
                f"subscription to {channel!r} not confirmed by {self.endpoint.name} within {timeout}s "
                f"({self.state}); it stays wanted and is made on reconnect") from None
        finally:
            waiters = self._waiters.get(channel)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[channel]

    def unsubscribe(self, channel: bytes) -> None:
        self.channels.discard(channel)
        self._send(self._unsubscribe_cmd, channel)

    def _send(self, *command: "str | bytes") -> None:
        # Only on a live session; otherwise the reconnect replays ``channels``.
        if self._writer is not None and self.state == CONNECTED:
            self._writer.write(encode_command(*command))

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
            except Exception as exc:  # a bug must not end the listener silently
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("redis listener %s: unexpected error", self.endpoint.name)
            finally:
                self._writer = None
                self._connected.clear()
            if established:
                failures = 0
            if self.state == CONNECTED:
                logger.warning("redis listener %s: connection lost (%s); reconnecting",
                               self.endpoint.name, self.last_error)
            self.state = RECONNECTING
            self.reconnects += 1
            await asyncio.sleep(full_jitter(failures, self._backoff_base, self._backoff_cap))
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
                writer.write(encode_command(*auth))
                reply = await asyncio.wait_for(self._read_one(reader, parser), self._connect_timeout)
                if isinstance(reply, RedisReplyError):
                    raise reply
            if self.channels:
                writer.write(encode_command(self._subscribe_cmd, *self.channels))
            if self.state == RECONNECTING and self._on_reconnect is not None:
                await self._on_reconnect()  # e.g. drop the command pool's dead connections
            self._writer = writer
            was = self.state
            self.state = CONNECTED
            self._connected.set()
            if was == RECONNECTING:
                logger.warning("redis listener %s: reconnected, %d channels resubscribed",
                               endpoint.name, len(self.channels))
            await self._pump(reader, writer, parser)
            return True
        finally:
            writer.close()

    async def _read_one(self, reader: asyncio.StreamReader, parser: RespParser) -> object:
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
        last_read = time.monotonic()
        interval = self._ping_interval
        ping = encode_command("PING")
        while True:
            waited_from = time.monotonic()
            try:
                data = await asyncio.wait_for(reader.read(262144), interval)
            except asyncio.TimeoutError:
                # Cancelling StreamReader.read loses no bytes (they stay buffered).
                now = time.monotonic()
                if now - waited_from > 1.5 * interval:
                    # The event loop was busy elsewhere (a burst of closes, a
                    # long broadcast): Redis' answer may be waiting unread.
                    # Not Redis' silence: start counting again.
                    last_read = now
                elif now - last_read > 2 * interval:
                    raise asyncio.TimeoutError(f"no reply from Redis for {2 * interval}s") from None
                writer.write(ping)
                continue
            if not data:
                raise EOFError("connection closed by Redis")
            last_read = time.monotonic()
            self.bytes_received += len(data)
            parser.feed(data)
            while True:
                complete, reply = parser.pop()
                if not complete:
                    break
                self._dispatch(reply)
            # Delivering a large read can take a while (the Hub broadcasts
            # synchronously): the silence is counted from when we can listen again.
            last_read = time.monotonic()

    def _dispatch(self, reply: object) -> None:
        if isinstance(reply, list) and len(reply) >= 3 and isinstance(reply[0], bytes):
            kind, channel = reply[0], reply[1]
            if kind == self._message_kind:
                if channel in self.channels and isinstance(reply[2], bytes):
                    self.messages += 1
                    self._on_message(channel, reply[2])
            elif kind == self._confirm_kind and isinstance(channel, bytes):
                for waiter in self._waiters.pop(channel, []):
                    if not waiter.done():
                        waiter.set_result(None)
        elif isinstance(reply, RedisReplyError):
            message = str(reply)
            if message.startswith("MOVED") and self._on_moved is not None:
                self._on_moved()
            logger.warning("redis listener %s: %s", self.endpoint.name, message)

    def _fail_waiters(self, exc: Exception) -> None:
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
        self._waiters.clear()
