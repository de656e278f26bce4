"""Rooms: :class:`Hub` keeps which connections are in which room and
publishes to a room through :func:`~wsproto6455.asyncio.broadcast` (one
encoding per message, no waiting on slow members).

With ``broker=None`` everything is local to this process. With a broker
(see :mod:`.broker`), ``publish`` hands the message to the broker and every
server, this one included, delivers it to its local members when the broker
hands it back, so there is one delivery path. The Hub subscribes the broker
to a room when its first local member joins and unsubscribes when the last
one leaves (reference counted), so a server receives only the rooms it has
members in.
"""

from __future__ import annotations

import asyncio
import logging
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    FrozenSet,
    Generator,
    Optional,
    Set,
    Union,
)

from ..asyncio.broadcast import send_to_all
from ..asyncio.protocol import WebSocket
from .broker import Broker, Payload, Publication

logger = logging.getLogger("wsproto6455.realtime")

#: ``callback(room, ws)``: presence hooks, called synchronously on join and leave.
PresenceCallback = Callable[[str, WebSocket], None]
#: ``callback(publication)``: a member's own delivery (see ``Hub.join``).
PublicationCallback = Callable[[Publication], None]
Message = Union[str, bytes, bytearray, memoryview]


class _Done:
    """An already-completed awaitable (join/leave without broker work)."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


_DONE = _Done()


class Hub:
    """Rooms of connections, on one server or (with a broker) on many.

    ``hub.join(room, ws)`` and ``hub.leave(room, ws)`` are synchronous; a
    connection leaves all its rooms when it closes. ``await
    hub.publish(room, message)`` sends to every member (the sender too, if
    it is one). ``on_join(room, ws)`` / ``on_leave(room, ws)`` report
    presence changes on this server.

    A member joined with ``on_publication`` receives the room's messages as
    :class:`Publication` objects (with the broker's epoch and offset) through
    that callback instead of the broadcast, e.g. to add its position or to
    hold messages while it catches up on history.

    Memory: one set entry per (room, member) pair in each direction; a room
    with no member is forgotten at once.
    """

    def __init__(
        self,
        broker: Optional[Broker] = None,
        *,
        on_join: Optional[PresenceCallback] = None,
        on_leave: Optional[PresenceCallback] = None,
    ) -> None:
        self.broker = broker
        self.on_join = on_join
        self.on_leave = on_leave
        self._members: Dict[str, Set[WebSocket]] = {}
        self._rooms: Dict[WebSocket, Set[str]] = {}
        # Members with their own delivery, per room (a subset of _members).
        self._callbacks: Dict[str, Dict[WebSocket, PublicationCallback]] = {}
        # The last broker operation (subscribe or unsubscribe) per room:
        # each waits for the previous one, so they reach the broker in order.
        self._ops: Dict[str, "asyncio.Future[None]"] = {}
        self._started = False
        #: Counters: messages published, recipients written to, recipients
        #: dropped or closed for being slow, broker operations that failed.
        self.published = 0
        self.delivered = 0
        self.dropped = 0
        self.broker_failures = 0

    # -- lifecycle

    async def start(self) -> None:
        """Start the broker (connect, spawn its listener). Needed with a broker."""
        if self._started:
            return
        self._started = True
        if self.broker is not None:
            await self.broker.start(self._deliver)

    async def close(self) -> None:
        """Wait for pending subscription changes, then close the broker."""
        pending = list(self._ops.values())
        if pending:
            await asyncio.wait(pending)
        if self.broker is not None and self._started:
            await self.broker.close()
        self._started = False

    async def __aenter__(self) -> "Hub":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- membership

    def join(self, room: str, ws: WebSocket, *,
             on_publication: Optional[PublicationCallback] = None) -> Awaitable[None]:
        """Put ``ws`` in ``room``. Returns an awaitable that completes when
        the broker's subscription to the room is live (awaiting it is
        optional; it raises if the subscription failed, which is also logged
        and counted in ``broker_failures``).

        With ``on_publication``, ``ws`` gets no broadcast in this room: each
        message is handed to ``on_publication(publication)`` instead,
        synchronously, in the order of delivery (it must not block; it
        writes to ``ws`` itself). Joining again replaces the callback."""
        if not isinstance(room, str):
            raise TypeError(f"room must be str, not {type(room).__name__}")
        if on_publication is not None and not callable(on_publication):
            raise TypeError("on_publication must be callable")
        rooms = self._rooms.get(ws)
        if rooms is None:
            if ws.closed:
                return _DONE  # too late: it would never leave
            rooms = self._rooms[ws] = set()
            # Leave every room once TCP is closed. One callback per
            # connection, removed when it leaves its last room.
            ws._closed.add_done_callback(self._closed_callback(ws))
        elif room in rooms:
            self._set_callback(room, ws, on_publication)
            return self._live(room)
        rooms.add(room)
        self._set_callback(room, ws, on_publication)
        members = self._members.get(room)
        first = members is None
        if members is None:
            members = self._members[room] = set()
        members.add(ws)
        if self.on_join is not None:
            self.on_join(room, ws)
        if first and self.broker is not None:
            return self._broker_op(room, self.broker.subscribe)
        return self._live(room)

    def leave(self, room: str, ws: WebSocket) -> Awaitable[None]:
        """Take ``ws`` out of ``room`` (nothing happens if it is not in it).
        Returns an awaitable that completes when the broker has unsubscribed
        (if this was the last local member)."""
        rooms = self._rooms.get(ws)
        if rooms is None or room not in rooms:
            return _DONE
        rooms.discard(room)
        if not rooms:
            del self._rooms[ws]
            ws._closed.remove_done_callback(self._closed_callback(ws))
        return self._remove_member(room, ws)

    def leave_all(self, ws: WebSocket) -> None:
        """Take ``ws`` out of every room (done for you when it closes)."""
        rooms = self._rooms.pop(ws, None)
        if rooms is None:
            return
        ws._closed.remove_done_callback(self._closed_callback(ws))
        for room in rooms:
            self._remove_member(room, ws)

    def members(self, room: str) -> FrozenSet[WebSocket]:
        """The local members of ``room`` (a snapshot)."""
        return frozenset(self._members.get(room, ()))

    def rooms(self, ws: Optional[WebSocket] = None) -> FrozenSet[str]:
        """The rooms ``ws`` is in; without ``ws``, every room with a local member."""
        if ws is None:
            return frozenset(self._members)
        return frozenset(self._rooms.get(ws, ()))

    # -- publishing

    def publish(self, room: str, message: Message) -> "asyncio.Future[None]":
        """Send ``message`` (``str``: text; bytes-like: binary) to every
        member of ``room``: locally through broadcast, or through the broker
        to every server with members in it.

        Without a broker the members have it when this returns. With one, the
        message is handed to the broker now (RedisBroker writes it to Redis
        before returning, so messages published in a given order keep it,
        with no task per message). The future completes when the broker
        accepted the message; it need not be awaited. A broker that cannot
        take it raises at once."""
        if type(message) is not str and type(message) is not bytes:
            if not isinstance(message, (bytes, bytearray, memoryview)):
                raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")
            message = bytes(message)
        self.published += 1
        if self.broker is None:
            self._deliver_local(room, message)
            delivered: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
            delivered.set_result(None)
            return delivered
        # A future already (RedisBroker); an ``async def`` broker's coroutine becomes a task.
        return asyncio.ensure_future(self.broker.publish(room, message))

    def _deliver(self, publication: Publication) -> None:
        """The broker's callback: deliver to the local members."""
        self._deliver_local(publication.room, publication.data, publication)

    def _deliver_local(self, room: str, data: Payload,
                       publication: Optional[Publication] = None) -> None:
        members = self._members.get(room)
        if not members:
            return
        callbacks = self._callbacks.get(room)
        if callbacks is None:  # the common case: one broadcast
            sent, dropped = send_to_all(members, data)
        else:
            sent, dropped = send_to_all([ws for ws in members if ws not in callbacks], data)
            if publication is None:
                publication = Publication(room, data)
            for callback in list(callbacks.values()):
                try:
                    callback(publication)
                except Exception:  # one member's bug must not stop the others' delivery
                    logger.exception("on_publication callback failed in room %r", room)
        self.delivered += sent
        self.dropped += dropped

    # -- internals

    def _closed_callback(self, ws: WebSocket) -> Callable[["asyncio.Future[None]"], None]:
        # Equal for equal ws (a functools.partial-like bound method would
        # not compare equal), so remove_done_callback finds it.
        return _LeaveOnClose(self, ws)

    def _set_callback(self, room: str, ws: WebSocket,
                      on_publication: Optional[PublicationCallback]) -> None:
        if on_publication is not None:
            self._callbacks.setdefault(room, {})[ws] = on_publication
        else:
            self._drop_callback(room, ws)

    def _drop_callback(self, room: str, ws: WebSocket) -> None:
        callbacks = self._callbacks.get(room)
        if callbacks is not None:
            callbacks.pop(ws, None)
            if not callbacks:
                del self._callbacks[room]

    def _remove_member(self, room: str, ws: WebSocket) -> Awaitable[None]:
        members = self._members.get(room)
        if members is None or ws not in members:
            return _DONE
        members.discard(ws)
        self._drop_callback(room, ws)
        if self.on_leave is not None:
            self.on_leave(room, ws)
        if members:
            return _DONE
        del self._members[room]
        if self.broker is not None:
            return self._broker_op(room, self.broker.unsubscribe)
        return _DONE

    def _live(self, room: str) -> Awaitable[None]:
        """The pending subscription of ``room``, or done."""
        op = self._ops.get(room)
        return _DONE if op is None else _follow(op)

    def _broker_op(self, room: str, operation: Callable[[str], Awaitable[None]]) -> "asyncio.Future[None]":
        previous = self._ops.get(room)
        loop = asyncio.get_running_loop()
        result: asyncio.Future[None] = loop.create_future()
        self._ops[room] = result
        task = loop.create_task(self._run_op(room, operation, previous, result))
        task.add_done_callback(_ignore)
        return _follow(result)

    async def _run_op(
        self,
        room: str,
        operation: Callable[[str], Awaitable[None]],
        previous: Optional["asyncio.Future[None]"],
        result: "asyncio.Future[None]",
    ) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])
            await operation(room)
        except Exception as exc:
            self.broker_failures += 1
            logger.warning("broker %s(%r) failed: %r", getattr(operation, "__name__", "op"), room, exc)
            if not result.done():
                result.set_exception(exc)
                result.exception()  # mark it retrieved: followers report it
        else:
            if not result.done():
                result.set_result(None)
        finally:
            if self._ops.get(room) is result:
                del self._ops[room]


class _LeaveOnClose:
    """``future.add_done_callback`` target: ``hub.leave_all(ws)``."""

    __slots__ = ("hub", "ws")

    def __init__(self, hub: Hub, ws: WebSocket) -> None:
        self.hub = hub
        self.ws = ws

    def __call__(self, _: "asyncio.Future[None]") -> None:
        self.hub.leave_all(self.ws)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _LeaveOnClose) and other.hub is self.hub and other.ws is self.ws

    def __hash__(self) -> int:
        return hash((id(self.hub), id(self.ws)))


def _follow(source: "asyncio.Future[None]") -> "asyncio.Future[None]":
    """A future with ``source``'s outcome, for one caller: cancelling it
    leaves ``source`` alone, and a failure nobody awaits is not logged."""
    follower: asyncio.Future[None] = source.get_loop().create_future()

    def copy(_: "asyncio.Future[None]") -> None:
        if follower.done():
            return
        exc = source.exception() if not source.cancelled() else None
        if exc is not None:
            follower.set_exception(exc)
            follower.exception()
        else:
            follower.set_result(None)

    source.add_done_callback(copy)
    return follower


def _ignore(task: "asyncio.Task[None]") -> None:
    if not task.cancelled():
        task.exception()
