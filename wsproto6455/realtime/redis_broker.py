"""RedisBroker: rooms shared by many server processes through Redis.

Routing: a channel per room (``prefix{room}``); a server subscribes only to the
rooms with local members (the Hub calls ``subscribe`` on 0->1 and
``unsubscribe`` on 1->0), so its Redis traffic follows the rooms it hosts. On
Redis Cluster (``cluster=True`` or a ``redis+cluster://`` URL) rooms use
sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7.0+): a room's messages stay on
the node that owns its slot, one listener per node.

Delivery: at most once. A publish crosses Redis once (one PUBLISH, whatever the
number of members) and reaches the servers subscribed at that moment; a server
whose listener is reconnecting misses what is published meanwhile. Each node
has one publish connection; a publish is written to it at once and its reply
matched in order (``redis_publisher``), so one sender's messages to one room
keep their order on every server. With
``history=N`` each room also keeps its last ~N messages in a capped stream, with
an epoch and an offset, for clients that resume (``history()``); a gap is
reported by ``HistoryGap``, never skipped.

Bounds: at most ``max_pending`` publishes wait for their reply per node; past
that, or when the room's node is not connected, ``publish`` raises
``BrokerUnavailable`` at once (nothing is buffered for later). The listener and
the publisher are supervised (see ``redis_connection``).

Publishing and pub/sub speak RESP directly (``resp``); redis-py (>= 5),
imported here only so the package works without it, runs the other commands
(history reads, presence, CLUSTER SLOTS).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, cast
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import RedisError

from .broker import Deliver, Payload, Publication
from .redis_codec import MalformedEnvelope, RoomKeys, decode, encode, room_keys, room_of_channel
from .redis_connection import CONNECTED, BrokerUnavailable, Endpoint, cancel_and_wait
from .redis_listener import Listener
from .redis_publisher import Publisher, script_sha
from .resp import encode_command
from .redis_scripts import (HISTORY, PRESENCE_READ, PRESENCE_REFRESH, PRESENCE_REMOVE,
                            PUBLISH_WITH_HISTORY)

logger = logging.getLogger("wsproto6455.realtime.redis")

_PUBLISH_SHA = script_sha(PUBLISH_WITH_HISTORY)

__all__ = ["RedisBroker", "BrokerUnavailable", "History", "HistoryGap"]


_METRICS = (
    ("connected", "gauge", "1 when every Redis node's pub/sub listener is connected"),
    ("reconnects", "counter", "connections to Redis (pub/sub and publish) lost and re-attempted"),
    ("published", "counter", "messages accepted by Redis"),
    ("publish_errors", "counter", "publishes refused with BrokerUnavailable (never queued)"),
    ("pending_publishes", "gauge", "publishes waiting for Redis (bounded by max_pending)"),
    ("received", "counter", "messages received from Redis for the subscribed rooms"),
    ("received_bytes", "counter", "bytes read from Redis by the pub/sub listeners"),
    ("delivered", "counter", "publications handed to the Hub"),
    ("malformed", "counter", "messages on our channels that we did not write (ignored)"),
    ("subscribed_rooms", "gauge", "rooms subscribed on Redis (rooms with a local member)"),
    ("presence_errors", "counter", "presence refreshes that failed"),
    ("nodes", "gauge", "Redis nodes listened to (1, or the cluster's masters)"),
)


@dataclass(frozen=True)
class History:
    """A room's retained messages after a position, and the room's position now."""

    publications: List[Publication]
    epoch: Optional[str]
    offset: int  # the room's latest offset (0: nothing published in this epoch)


class HistoryGap(Exception):
    """Resuming from ``since`` is impossible: the epoch changed (Redis lost the
    room's data) or messages after ``since`` were trimmed from the history.
    ``history`` holds what is still available, to start over from."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


@dataclass
class _Shard:
    """One Redis node: its command client, its publisher and its pub/sub listener."""

    endpoint: Endpoint
    client: "aioredis.Redis"
    publisher: Publisher
    listener: Listener
    scripts: Dict[str, Any] = field(default_factory=dict)

    @property
    def connected(self) -> bool:
        return self.listener.state == CONNECTED and self.publisher.state == CONNECTED


class RedisBroker:
    """A :class:`~wsproto6455.realtime.broker.Broker` on Redis (see the module doc)."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "ws:",
        cluster: Optional[bool] = None,
        history: int = 0,
        history_ttl: float = 300.0,
        presence_ttl: float = 30.0,
        max_pending: int = 10_000,
        subscribe_timeout: float = 5.0,
        command_timeout: float = 2.0,
        connect_timeout: float = 1.0,
        ping_interval: float = 1.0,
        backoff_base: float = 0.05,
        backoff_cap: float = 2.0,
    ) -> None:
        if "{" in prefix or "}" in prefix:
            raise ValueError("the key prefix must not contain braces (they delimit the room's hash tag)")
        if history < 0 or max_pending < 1 or presence_ttl <= 0:
            raise ValueError("history >= 0, max_pending >= 1, presence_ttl > 0")
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "redis+cluster", "rediss+cluster"):
            raise ValueError(f"unsupported Redis URL scheme {parts.scheme!r}")
        self.cluster = parts.scheme.endswith("+cluster") if cluster is None else cluster
        tls = ssl.create_default_context() if parts.scheme.startswith("rediss") else None
        self._seed = Endpoint(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )
        path = parts.path.strip("/")
        self._db = int(path) if path and not self.cluster else 0
        self.prefix = prefix
        self._prefix_bytes = prefix.encode()
        self.history_size = history
        self.history_ttl = history_ttl
        self.presence_ttl = presence_ttl
        self.max_pending = max_pending
        self.subscribe_timeout = subscribe_timeout
        self._command_timeout = command_timeout
        self._connect_timeout = connect_timeout
        self._ping_interval = ping_interval
        self._backoff = (backoff_base, backoff_cap)
        self._publish_cmd = "SPUBLISH" if self.cluster else "PUBLISH"
        self._history_args = (str(history).encode(), str(int(history_ttl * 1000)).encode(),
                              self._publish_cmd.encode())

        self._deliver: Optional[Deliver] = None
        self._shards: Dict[str, _Shard] = {}
        self._slots: List[Tuple[int, int, str]] = []  # (first, last, shard name)
        self._room_shard: Dict[str, str] = {}  # subscribed rooms -> shard name
        self._presence_task: Optional["asyncio.Task[None]"] = None
        self._topology_task: Optional["asyncio.Task[None]"] = None
        self._topology_stale = False
        #: Nodes whose slot table knows of the latest resharding: read first.
        self._informed_nodes: Dict[str, Endpoint] = {}
        self._local_presence: Dict[str, Dict[str, str]] = {}
        #: ``callback(rooms)``, called when the pub/sub connection that serves
        #: ``rooms`` is back after a loss: what was published to them
        #: meanwhile did not reach this server (at most once), but is in the
        #: history, for clients that resume (``examples/chat.py`` catches its
        #: resuming clients up at once instead of at the room's next message).
        self.on_resubscribed: Optional[Callable[[List[str]], None]] = None
        self._started = False
        self._closed = False
        # counters (see stats())
        self.publish_errors = 0
        self.delivered = 0
        self.malformed = 0
        self.presence_errors = 0

    # -- Broker protocol ---------------------------------------------------

    async def start(self, deliver: Deliver) -> None:
        if self._started:
            raise RuntimeError("RedisBroker.start() called twice")
        self._started = True
        self._deliver = deliver
        if self.cluster:
            await self._load_topology()
        else:
            self._add_shard(self._seed)
        self._presence_task = asyncio.get_running_loop().create_task(self._presence_loop())
        # Not fatal: a server may start while Redis is down; the listeners retry.
        await asyncio.gather(*(connection.wait_connected(self._connect_timeout * 2)
                               for shard in self._shards.values()
                               for connection in (shard.listener, shard.publisher)))

    async def subscribe(self, room: str) -> None:
        shard = self._shard_for(room)
        self._room_shard[room] = shard.endpoint.name
        await shard.listener.subscribe(room_keys(self.prefix, room).channel, self.subscribe_timeout)

    async def unsubscribe(self, room: str) -> None:
        name = self._room_shard.pop(room, None)
        shard = self._shards.get(name) if name is not None else None
        if shard is not None:
            shard.listener.unsubscribe(room_keys(self.prefix, room).channel)

    def publish(self, room: str, data: Payload) -> "asyncio.Future[None]":
        """Writes the message to Redis before returning; the future completes
        once Redis accepted it.

        Raises ``BrokerUnavailable`` at once when the room's node is not
        connected or ``max_pending`` publishes already wait for it (the caller
        decides: tell the client, drop, retry); the future fails with it if
        Redis refused the message or the connection was lost before Redis
        answered. ``TypeError`` for a payload that is neither str nor bytes."""
        envelope = encode(data)
        try:
            if self._closed or not self._started:
                raise BrokerUnavailable("broker closed" if self._closed else "broker not started")
            shard = self._shard_for(room)
            if not shard.connected:
                raise BrokerUnavailable(f"Redis {shard.endpoint.name} is {self.state}")
            return shard.publisher.send(self._publish_command(room, envelope))
        except BrokerUnavailable:
            self.publish_errors += 1
            raise

    def _publish_command(self, room: str, envelope: bytes) -> bytes:
        keys = room_keys(self.prefix, room)
        if self.history_size <= 0:
            return encode_command(self._publish_cmd, keys.channel, envelope)
        size, ttl_ms, publish_cmd = self._history_args
        return encode_command("EVALSHA", _PUBLISH_SHA, 2, keys.stream, keys.meta,
                              keys.channel, envelope, size, ttl_ms, publish_cmd)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in (self._presence_task, self._topology_task):
            await cancel_and_wait(task)
        for shard in self._shards.values():
            await shard.publisher.close()
            await shard.listener.close()
            await shard.client.aclose() if hasattr(shard.client, "aclose") else await shard.client.close()

    # -- history -----------------------------------------------------------

    async def history(self, room: str, since: Optional[Tuple[str, int]] = None,
                      limit: int = 1000) -> History:
        """Messages kept for ``room`` after ``since`` (``(epoch, offset)`` of the
        last message a client saw; ``None``: everything kept), at most ``limit``.

        Raises ``HistoryGap`` when resuming from ``since`` would skip messages."""
        if self.history_size <= 0:
            raise RuntimeError("history is off: RedisBroker(history=N) keeps the last ~N messages per room")
        result = await self._read_history(room, since[1] + 1 if since is not None else 1, limit)
        if since is not None:
            since_epoch, since_offset = since
            if result.epoch != since_epoch:
                # The client's offsets are void: what is kept of the new epoch, from its start.
                result = await self._read_history(room, 1, limit)
                raise HistoryGap(f"room {room!r}: epoch changed ({since_epoch} -> {result.epoch}); "
                                 "the client's offsets are void", result)
            publications = result.publications
            if result.offset > since_offset and (not publications or publications[0].offset != since_offset + 1):
                raise HistoryGap(f"room {room!r}: messages after offset {since_offset} are no longer "
                                 "kept", result)
        return result

    async def _read_history(self, room: str, first: int, limit: int) -> History:
        keys = room_keys(self.prefix, room)
        epoch_raw, top, flat = await self._run_script(
            self._shard_for(room), "history", HISTORY, [keys.stream, keys.meta], [max(first, 1), limit])
        epoch = epoch_raw.decode() if isinstance(epoch_raw, bytes) else None
        publications = []
        for i in range(0, len(flat), 2):
            data, _, _ = decode(flat[i + 1])
            publications.append(Publication(room, data, epoch, int(flat[i])))
        return History(publications, epoch, int(top))

    # -- presence ----------------------------------------------------------

    async def presence_join(self, room: str, member: str, info: str = "") -> None:
        """``member`` (unique cluster-wide, e.g. a user or connection id) is in
        ``room`` on this server; refreshed every ``presence_ttl / 3`` until
        ``presence_leave``. If this server dies, it expires after ``presence_ttl``."""
        self._local_presence.setdefault(room, {})[member] = info
        await self._refresh_room(room, {member: info})

    async def presence_leave(self, room: str, member: str) -> None:
        members = self._local_presence.get(room)
        if members is not None:
            members.pop(member, None)
            if not members:
                del self._local_presence[room]
        keys = room_keys(self.prefix, room)
        await self._run_script(self._shard_for(room), "presence_remove", PRESENCE_REMOVE,
                               [keys.presence, keys.presence_info], [member])

    async def presence(self, room: str) -> Dict[str, str]:
        """Every member of ``room`` on every server, with its info."""
        keys = room_keys(self.prefix, room)
        flat = await self._run_script(self._shard_for(room), "presence_read", PRESENCE_READ,
                                      [keys.presence, keys.presence_info], [])
        return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}

    # -- observability -----------------------------------------------------

    @property
    def state(self) -> str:
        """``connected`` when every node's listener is, else the worst state."""
        states = {connection.state for shard in self._shards.values()
                  for connection in (shard.listener, shard.publisher)}
        if not states:
            return "closed" if self._closed else "connecting"
        for state in ("closed", "reconnecting", "connecting"):
            if state in states:
                return state
        return CONNECTED

    def stats(self) -> Dict[str, float]:
        listeners = [shard.listener for shard in self._shards.values()]
        return {
            "connected": 1.0 if self.state == CONNECTED else 0.0,
            "reconnects": float(sum(shard.listener.reconnects + shard.publisher.reconnects
                                    for shard in self._shards.values())),
            "published": float(sum(shard.publisher.accepted for shard in self._shards.values())),
            "publish_errors": float(self.publish_errors + sum(
                shard.publisher.refused + shard.publisher.lost for shard in self._shards.values())),
            "pending_publishes": float(sum(shard.publisher.pending for shard in self._shards.values())),
            "received": float(sum(listener.messages for listener in listeners)),
            "received_bytes": float(sum(listener.bytes_received for listener in listeners)),
            "delivered": float(self.delivered),
            "malformed": float(self.malformed),
            "subscribed_rooms": float(len(self._room_shard)),
            "presence_errors": float(self.presence_errors),
            "nodes": float(len(listeners)),
        }

    def prometheus_text(self, prefix: str = "wsproto6455_redis") -> str:
        """The broker's state and counters in the Prometheus text format."""
        stats = self.stats()
        lines: List[str] = []
        for key, kind, help_text in _METRICS:
            name = f"{prefix}_{key}" + ("_total" if kind == "counter" else "")
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {stats[key]:g}"]
        name = f"{prefix}_node_connected"
        lines += [f"# HELP {name} 1 when the pub/sub and publish connections to this Redis node are up",
                  f"# TYPE {name} gauge"]
        for shard in self._shards.values():
            connected = 1 if shard.connected else 0
            lines.append(f'{name}{{node="{shard.endpoint.name}"}} {connected}')
        return "\n".join(lines) + "\n"

    # -- internals ---------------------------------------------------------

    def _client(self, endpoint: Endpoint) -> "aioredis.Redis":
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        return aioredis.Redis(
            host=endpoint.host, port=endpoint.port, db=self._db,
            username=endpoint.username, password=endpoint.password,
            ssl=endpoint.tls is not None,
            socket_timeout=self._command_timeout, socket_connect_timeout=self._connect_timeout,
            # No silent retries: a retried PUBLISH could be delivered twice.
            retry=Retry(NoBackoff(), 0),
        )

    def _add_shard(self, endpoint: Endpoint) -> _Shard:
        listener = Listener(
            endpoint, self._on_message, sharded=self.cluster,
            backoff_base=self._backoff[0], backoff_cap=self._backoff[1],
            ping_interval=self._ping_interval, connect_timeout=self._connect_timeout,
            on_moved=self._schedule_topology_refresh,
            on_reconnect=lambda: self._listener_back(endpoint.name),
        )
        publisher = Publisher(
            endpoint, db=self._db, scripts=[PUBLISH_WITH_HISTORY] if self.history_size > 0 else [],
            max_pending=self.max_pending, on_moved=self._schedule_topology_refresh,
            backoff_base=self._backoff[0], backoff_cap=self._backoff[1],
            ping_interval=self._ping_interval, connect_timeout=self._connect_timeout,
        )
        # When one of the node's connections gets through, the other need not
        # wait out its backoff.
        listener.on_back = publisher.retry_now
        publisher.on_back = listener.retry_now
        shard = _Shard(endpoint, self._client(endpoint), publisher, listener)
        self._shards[endpoint.name] = shard
        publisher.start()
        listener.start()
        return shard

    async def _listener_back(self, name: str) -> None:
        """A node's pub/sub connection is back, its rooms resubscribed.

        The pooled command connections are dead sockets after a restart:
        dropped, so the next history read or presence refresh does not fail
        on one. Then ``on_resubscribed`` learns which rooms may have missed
        messages meanwhile."""
        shard = self._shards.get(name)
        if shard is not None:
            await shard.client.connection_pool.disconnect()
        if self.on_resubscribed is not None:
            rooms = [room for room, node in self._room_shard.items() if node == name]
            try:
                self.on_resubscribed(rooms)
            except Exception:
                logger.exception("on_resubscribed callback failed")

    def _shard_for(self, room: str) -> _Shard:
        if not self.cluster:
            return next(iter(self._shards.values())) if self._shards else self._unstarted()
        slot = key_slot(room_keys(self.prefix, room).channel)
        for first, last, name in self._slots:
            if first <= slot <= last:
                return self._shards[name]
        raise BrokerUnavailable(f"no Redis Cluster node serves slot {slot}")

    def _unstarted(self) -> _Shard:
        raise BrokerUnavailable("broker not started")

    async def _load_topology(self, informed: Sequence[Endpoint] = ()) -> None:
        """CLUSTER SLOTS from any known node, ``informed`` ones first (a node
        not yet told of a resharding answers with the old owner); a listener
        per master."""
        candidates: Dict[str, Endpoint] = {}  # by name, first mention first
        for endpoint in [*informed, *(shard.endpoint for shard in self._shards.values()), self._seed]:
            candidates.setdefault(endpoint.name, endpoint)
        last_error: Optional[BaseException] = None
        for endpoint in candidates.values():
            client = self._client(endpoint)
            try:
                slots = await cast(Any, client).execute_command("CLUSTER SLOTS")
            except (RedisError, OSError) as exc:
                last_error = exc
                continue
            finally:
                await client.aclose() if hasattr(client, "aclose") else await client.close()
            table: List[Tuple[int, int, str]] = []
            for entry in slots:
                first, last, master = int(entry[0]), int(entry[1]), entry[2]
                host = master[0].decode() if isinstance(master[0], bytes) else str(master[0])
                node = Endpoint(host or endpoint.host, int(master[1]), self._seed.username,
                                self._seed.password, self._seed.tls)
                if node.name not in self._shards:
                    self._add_shard(node)
                table.append((first, last, node.name))
            self._slots = sorted(table)
            self._reassign_rooms()
            return
        raise BrokerUnavailable(f"no Redis Cluster node answered CLUSTER SLOTS: {last_error}")

    def _reassign_rooms(self) -> None:
        for room, name in list(self._room_shard.items()):
            shard = self._shard_for(room)
            if shard.endpoint.name != name:
                channel = room_keys(self.prefix, room).channel
                self._shards[name].listener.unsubscribe(channel)
                self._room_shard[room] = shard.endpoint.name
                shard.listener.move_in(channel)

    def _schedule_topology_refresh(self, informed: Endpoint) -> None:
        # A MOVED during a refresh may mean that refresh read a node not yet
        # updated: it asks for one more, never for a parallel one.
        self._topology_stale = True
        self._informed_nodes.setdefault(informed.name, informed)
        if self._topology_task is None or self._topology_task.done():
            self._topology_task = asyncio.get_running_loop().create_task(self._refresh_topology())

    async def _refresh_topology(self) -> None:
        while self._topology_stale:
            self._topology_stale = False
            informed, self._informed_nodes = self._informed_nodes, {}
            try:
                await self._load_topology(list(informed.values()))
            except Exception as exc:
                logger.warning("redis cluster topology refresh failed: %s", exc)
            await asyncio.sleep(0.1)  # at most ten CLUSTER SLOTS a second

    def _on_message(self, channel: bytes, raw: bytes) -> None:
        try:
            room = room_of_channel(self._prefix_bytes, channel)
            data, epoch, offset = decode(raw)
        except (MalformedEnvelope, UnicodeDecodeError):
            self.malformed += 1
            return
        if self._deliver is not None:
            self.delivered += 1
            try:
                self._deliver(Publication(room, data, epoch, offset))
            except Exception:
                logger.exception("deliver callback failed for room %r", room)

    def _script(self, shard: _Shard, name: str, source: str) -> Any:
        script = shard.scripts.get(name)
        if script is None:
            script = shard.scripts[name] = shard.client.register_script(source)
        return script

    async def _run_script(self, shard: _Shard, name: str, source: str,
                          keys: Sequence[bytes], args: Sequence[Any]) -> Any:
        try:
            return await self._script(shard, name, source)(keys=list(keys), args=list(args))
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            raise BrokerUnavailable(f"Redis {shard.endpoint.name}: {exc}") from exc

    async def _refresh_room(self, room: str, members: Dict[str, str]) -> None:
        keys = room_keys(self.prefix, room)
        args: List[Any] = [int(self.presence_ttl * 1000)]
        for member, info in members.items():
            args += [member, info]
        await self._run_script(self._shard_for(room), "presence_refresh", PRESENCE_REFRESH,
                               [keys.presence, keys.presence_info], args)

    async def _presence_loop(self) -> None:
        """Refreshes this server's members every ttl/3: two refreshes may fail
        (Redis restarting) before a live member expires."""
        while True:
            await asyncio.sleep(self.presence_ttl / 3)
            for room, members in list(self._local_presence.items()):
                if not members:
                    continue
                try:
                    await self._refresh_room(room, dict(members))
                except BrokerUnavailable as exc:
                    self.presence_errors += 1
                    logger.debug("presence refresh of %r failed: %s", room, exc)
                except Exception:
                    self.presence_errors += 1
                    logger.exception("presence refresh of %r failed", room)
