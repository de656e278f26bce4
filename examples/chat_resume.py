"""Resuming chat clients for examples/chat.py: positions, history replay, gap notices.

A client opts in with the query parameter ``resume=1`` (no position yet) or
``since=<epoch>:<offset>`` (the position of the last message it saw). Only
then is every frame it receives a JSON object (text frame), one of:

    {"type": "message", "epoch": "E", "offset": 42, "text": "alice: hi"}
        ("binary": "<base64>" instead of "text" for a binary message;
         epoch and offset are null when the server keeps no history)
    {"type": "gap", "reason": "trimmed" | "epoch" | "no-history",
     "since": "E:42", "missed": 1200}
        (messages after ``since`` are lost for this client: more were sent
         than the history keeps, the room's history was lost (Redis restarted
         or the room expired: a new epoch), or this server keeps no history;
         "missed" is null when unknown; what is still kept follows)
    {"type": "live", "epoch": "E", "offset": 1242}
        (replay done: the client is at this position, live messages follow)

A client that did not opt in gets every chat message as it was sent, as before.

The seam between history and live traffic: the connection joins the room
first (the Redis subscription is live), buffers what arrives, reads the
history after its position, sends it, then sends the buffered messages whose
offset is past the last one sent; a message that would leave a hole (lost by
pub/sub while Redis reconnected, or dropped because the client was too slow)
starts the same catch-up again from the last position sent. Every message
reaches the client once, in offset order, or the client gets a "gap".
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from wsproto6455.asyncio.broadcast import send_to_all
from wsproto6455.asyncio.exceptions import ConnectionClosed
from wsproto6455.realtime import Publication

PAGE_SIZE = 500      # messages per history read
MAX_BUFFER = 5_000   # live messages held per connection while it catches up
logger = logging.getLogger("chat")
_SINCE = re.compile(r"([0-9]{1,32})?:([0-9]{1,18})")


@dataclass(frozen=True)
class Position:
    """Where a client is in a room: the epoch (None: the room had no history
    yet) and the offset of the last message it has."""

    epoch: Optional[str]
    offset: int

    def __str__(self) -> str:
        return f"{self.epoch or ''}:{self.offset}"


def parse_resume(target: str) -> Tuple[bool, Optional[Position]]:
    """``(opted in, since)`` from the request target; ValueError for a bad ``since``."""
    query = parse_qs(urlsplit(target).query, keep_blank_values=True)
    since = query.get("since")
    if since:
        match = _SINCE.fullmatch(since[-1])
        if match is None:
            raise ValueError("since must be <epoch>:<offset> (digits; the epoch may be empty)")
        return True, Position(match.group(1), int(match.group(2)))
    return query.get("resume", [""])[-1] not in ("", "0"), None


@dataclass
class Counters:
    replayed: int = 0   # history messages sent to resuming clients
    gaps: int = 0       # gap notices sent
    resyncs: int = 0    # catch-ups started by a hole in live traffic


_last_frame: Tuple[Optional[Publication], str] = (None, "")


def message_frame(publication: Publication) -> str:
    """The JSON of a publication, built once per publication for all members."""
    global _last_frame
    if _last_frame[0] is publication:
        return _last_frame[1]
    body: Dict[str, Any] = {"type": "message", "epoch": publication.epoch, "offset": publication.offset}
    if isinstance(publication.data, str):
        body["text"] = publication.data
    else:
        body["binary"] = base64.b64encode(publication.data).decode()
    frame = json.dumps(body, ensure_ascii=False)
    _last_frame = (publication, frame)
    return frame


class Resumer:
    """One opted-in connection in one room. Create it, ``hub.join(room, ws,
    on_publication=resumer.on_publication)``, then ``start()``; ``stop()``
    when the connection ends."""

    def __init__(self, ws: Any, room: str, broker: Any, history: bool,
                 since: Optional[Position], counters: Counters) -> None:
        self.ws = ws
        self.room = room
        self.broker = broker
        self.history = history
        self.since = since
        self.counters = counters
        self.position: Optional[Position] = since
        self.catching_up = True  # buffer until start() has read the history
        self.buffer: Deque[Publication] = deque()
        self.task: Optional["asyncio.Task[None]"] = None
        self.stopped = False

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._catch_up(initial=True))

    def stop(self) -> None:
        self.stopped = True  # the Hub may still call on_publication until the socket is closed
        if self.task is not None:
            self.task.cancel()

    def resync(self) -> None:
        """This server's subscription was lost and is back: what was said
        meanwhile reached Redis' history but not us. Catch up from the last
        position sent (the live messages are held meanwhile, as at the start)."""
        if self.stopped or self.catching_up or not self.history:
            return
        self.counters.resyncs += 1
        self.catching_up = True
        self.task = asyncio.ensure_future(self._catch_up(initial=False))

    # -- live traffic (the Hub's callback: synchronous, never waits)

    def on_publication(self, publication: Publication) -> None:
        if self.stopped:
            return
        if self.catching_up:
            if len(self.buffer) >= MAX_BUFFER:
                # Everything buffered is in the history too: drop it and let
                # the flush find the hole and read the history again.
                self.buffer.clear()
            self.buffer.append(publication)
            return
        if publication.epoch is None or publication.offset is None:  # no history: no positions
            send_to_all([self.ws], message_frame(publication))
            return
        step = self._step(publication)
        if step == "duplicate":
            return
        if step == "next":
            _, dropped = send_to_all([self.ws], message_frame(publication))
            if not dropped:
                self.position = Position(publication.epoch, publication.offset)
                return
        # A hole (pub/sub lost messages, the epoch changed, or the client was
        # too slow for this one): catch up from the last position sent.
        self.counters.resyncs += 1
        self.catching_up = True
        self.buffer.append(publication)
        self.task = asyncio.ensure_future(self._catch_up(initial=False))

    def _step(self, publication: Publication) -> str:
        """'next', 'duplicate' or 'hole', relative to the position sent."""
        position = self.position
        assert publication.offset is not None
        if position is None:
            return "next"
        if publication.epoch == position.epoch:
            if publication.offset <= position.offset:
                return "duplicate"
            return "next" if publication.offset == position.offset + 1 else "hole"
        if position.epoch is None and position.offset == 0 and publication.offset == 1:
            return "next"  # the room's first message
        return "hole"

    # -- catching up

    async def _catch_up(self, initial: bool) -> None:
        try:
            if not self.history:
                if initial and self.since is not None:
                    await self._gap("no-history", self.since, None)
                self.position = None
            elif initial and self.since is None:
                # Fresh client: no replay, only the room's position now.
                now = await self.broker.history(self.room, limit=1)
                self.position = Position(now.epoch, now.offset if now.epoch is not None else 0)
            else:
                await self._replay()
            await self._flush()
        except (ConnectionClosed, asyncio.CancelledError):
            pass
        except ConnectionError:  # Redis unreachable: the page reconnects later
            await self.ws.close(1013, "history unavailable, try again later")
        except Exception:
            logger.exception("catching up in room %r failed", self.room)
            await self.ws.close(1011, "internal error")

    async def _replay(self) -> None:
        """Sends what the history holds after ``self.position``, page by page;
        a gap notice first when some of it is lost."""
        from wsproto6455.realtime.redis_broker import HistoryGap

        while True:
            start = self.position or Position(None, 0)
            since = (start.epoch, start.offset) if start.epoch is not None else None
            try:
                page = await self.broker.history(self.room, since=since, limit=PAGE_SIZE)
            except HistoryGap as gap:
                page = gap.history
                if page.epoch != start.epoch:
                    await self._gap("epoch", start, None)
                else:
                    await self._gap("trimmed", start, _first(page) - start.offset - 1)
            else:
                if start.epoch is None and page.epoch is not None and _first(page) != 1:
                    # No epoch known yet: the room's messages from the first one.
                    await self._gap("trimmed", start, _first(page) - 1)
            for publication in page.publications:
                await self.ws.send(message_frame(publication))
                self.counters.replayed += 1
                assert publication.offset is not None
                self.position = Position(publication.epoch, publication.offset)
            if len(page.publications) < PAGE_SIZE:
                # The read is atomic: its last message is the room's top.
                if not page.publications:
                    self.position = Position(page.epoch, page.offset if page.epoch is not None else 0)
                return

    async def _flush(self) -> None:
        """Sends the buffered live messages past the position, then goes live.
        A hole in them means a new history read."""
        stuck: Optional[Publication] = None
        announced = False
        while True:
            while self.buffer:
                publication = self.buffer[0]
                if publication.epoch is None or publication.offset is None:
                    self.buffer.popleft()
                    await self.ws.send(message_frame(publication))
                    continue
                step = self._step(publication)
                if step == "hole":
                    break
                self.buffer.popleft()
                if step == "next":
                    await self.ws.send(message_frame(publication))
                    self.position = Position(publication.epoch, publication.offset)
            if self.buffer:
                if self.buffer[0] is stuck:
                    # The history read right after it does not have it: a
                    # message of an epoch that is gone. Later ones will tell.
                    self.buffer.popleft()
                    continue
                stuck = self.buffer[0]
                await self._replay()  # a hole: the history has it (or says gap)
                continue
            if not announced:
                position = self.position
                await self.ws.send(json.dumps({
                    "type": "live", "epoch": position.epoch if position else None,
                    "offset": position.offset if position else None}))
                announced = True
                continue  # messages may have arrived meanwhile
            # Nothing buffered and no await since the check: live from here.
            self.catching_up = False
            return

    async def _gap(self, reason: str, since: Position, missed: Optional[int]) -> None:
        self.counters.gaps += 1
        await self.ws.send(json.dumps({"type": "gap", "reason": reason, "since": str(since),
                                       "missed": missed}))


def _first(page: Any) -> int:
    """The first offset a history read returned (after the top if none)."""
    if page.publications and page.publications[0].offset is not None:
        return int(page.publications[0].offset)
    return int(page.offset) + 1
