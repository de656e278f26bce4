"""The supervised pub/sub listener of one Redis node.

The connection's life (backoff, liveness, logging) is ``redis_connection``'s;
this module adds the subscriptions: the set of wanted channels is the source
of truth, replayed on every reconnect, and each message on one of them is
handed over as it is parsed.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Dict, List, Optional, Set

from .redis_connection import (CLOSED, CONNECTED, CONNECTING, RECONNECTING, BrokerUnavailable,
                               Endpoint, SupervisedConnection, full_jitter, logger, moved_to)
from .resp import RedisReplyError, Reply, RespParser, encode_command

__all__ = ["Listener", "BrokerUnavailable", "Endpoint", "full_jitter",
           "CONNECTING", "CONNECTED", "RECONNECTING", "CLOSED"]


class Listener(SupervisedConnection):
    """Subscribes to a set of channels on one node and hands messages over.

    ``on_message(channel, payload)`` runs on the event loop for each message;
    ``on_moved(node)`` is called when the cluster was resharded under a
    channel, with a node whose slot table knows it: the one a MOVED reply
    names, or this node when it dropped the channel of a slot it gave away;
    ``on_reconnect()`` is awaited when a lost connection is back.
    """

    role = "listener"

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
        on_moved: Optional[Callable[[Endpoint], None]] = None,
        on_reconnect: Optional[Callable[[], Awaitable[None]]] = None,
    ) -> None:
        super().__init__(endpoint, backoff_base=backoff_base, backoff_cap=backoff_cap,
                         ping_interval=ping_interval, connect_timeout=connect_timeout)
        self._on_message = on_message
        self._on_moved = on_moved
        self._on_reconnect = on_reconnect
        self._subscribe_cmd = "SSUBSCRIBE" if sharded else "SUBSCRIBE"
        self._unsubscribe_cmd = "SUNSUBSCRIBE" if sharded else "UNSUBSCRIBE"
        self._message_kind = b"smessage" if sharded else b"message"
        self._confirm_kind = b"ssubscribe" if sharded else b"subscribe"
        self._dropped_kind = b"sunsubscribe" if sharded else b"unsubscribe"
        #: The channels wanted: the source of truth, replayed on every reconnect.
        self.channels: Set[bytes] = set()
        self._waiters: Dict[bytes, List["asyncio.Future[None]"]] = {}
        self.messages = 0

    async def close(self) -> None:
        await super().close()
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

    def move_in(self, channel: bytes) -> None:
        """Wanted from now on, without waiting for the confirmation (a room
        that moved to this node when the cluster was resharded)."""
        self.channels.add(channel)
        self._send(self._subscribe_cmd, channel)

    def _send(self, *command: "str | bytes") -> None:
        # Only on a live session; otherwise the reconnect replays ``channels``.
        if self._writer is not None and self.state == CONNECTED:
            self._writer.write(encode_command(*command))

    # -- the connection's hooks --------------------------------------------

    async def _prepare(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       parser: RespParser) -> None:
        if self.channels:
            # The confirmations arrive as replies once connected (they wake the waiters).
            writer.write(encode_command(self._subscribe_cmd, *self.channels))

    async def _on_reconnected(self) -> None:
        await super()._on_reconnected()
        if self._on_reconnect is not None:
            await self._on_reconnect()  # e.g. drop the command pool's dead connections
        logger.info("redis listener %s: %d channels resubscribed",
                    self.endpoint.name, len(self.channels))

    def _on_reply(self, reply: Reply) -> None:
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
            elif kind == self._dropped_kind and channel in self.channels:
                # Not ours (we forget a channel before unsubscribing): a cluster
                # node drops the sharded subscriptions of a slot it gave away.
                # Ask again: the node answers MOVED if so. Its own slot table
                # already knows the new owner; a third node's may not yet.
                logger.info("redis listener %s: %r unsubscribed by the node (slot moved?)",
                            self.endpoint.name, channel)
                self._send(self._subscribe_cmd, channel)
                if self._on_moved is not None:
                    self._on_moved(self.endpoint)
        elif isinstance(reply, RedisReplyError):
            message = str(reply)
            if message.startswith("MOVED") and self._on_moved is not None:
                self._on_moved(moved_to(message, self.endpoint))
            logger.warning("redis listener %s: %s", self.endpoint.name, message)

    def _fail_waiters(self, exc: Exception) -> None:
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
        self._waiters.clear()
