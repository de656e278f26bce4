"""Rate limits: per connection (inbound messages and bytes per second) and
per client IP (concurrent connections, handshakes per second).

Every limit is a GCRA (generic cell rate algorithm), the token bucket
written as one number: the theoretical arrival time ``tat`` of the next
unit. A cost is allowed when, after adding it, ``tat`` is at most ``burst``
units ahead of now. O(1) time, one float of state per limit, no timers.

Per connection the check runs in the connection's receive path on every
message, before the message is queued: over the limit, the connection is
closed with 1008 (policy violation) or the message is dropped. A flooding
client therefore costs the server the parsing of its messages and nothing
else; with ``action="close"`` it is gone after its burst.

Per IP the check runs in ``process_request``, before any upgrade: over a
limit the client gets ``429 Too Many Requests`` with ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, Optional, Tuple

from ..asyncio.protocol import Data
from ..asyncio.server import HTTPResponse, ServerConnection
from ..events import Request

_CLOSE_POLICY_VIOLATION = 1008


class GCRA:
    """``rate`` units per second with bursts of up to ``burst`` units."""

    __slots__ = ("interval", "tolerance", "tat")

    def __init__(self, rate: float, burst: float) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        if not burst >= 1:
            raise ValueError("burst must be at least 1")
        self.interval = 1.0 / rate
        self.tolerance = burst * self.interval
        self.tat = 0.0

    def allow(self, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` units if the limit allows it (else take nothing)."""
        tat = self.tat if self.tat > now else now
        new_tat = tat + cost * self.interval
        if new_tat - now > self.tolerance:
            return False
        self.tat = new_tat
        return True

    def retry_after(self, now: float, cost: float = 1.0) -> float:
        """Seconds until ``cost`` units would be allowed."""
        tat = self.tat if self.tat > now else now
        return max(0.0, tat + cost * self.interval - self.tolerance - now)

    def idle(self, now: float) -> bool:
        """True once the bucket is full again (its state can be forgotten)."""
        return self.tat <= now


class ConnectionLimit:
    """Inbound limits for each connection it is attached to.

    ``messages_per_second`` with bursts of ``message_burst`` messages;
    ``bytes_per_second`` with bursts of ``byte_burst`` bytes (counted on the
    wire, as read from the socket: frame headers included; the burst must
    be at least your largest message, or that message can never pass).
    ``action``: ``"close"`` (1008) or ``"drop"`` (the message is discarded;
    the connection stays open).
    """

    def __init__(
        self,
        *,
        messages_per_second: Optional[float] = None,
        message_burst: Optional[float] = None,
        bytes_per_second: Optional[float] = None,
        byte_burst: Optional[float] = None,
        action: str = "close",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if action not in ("close", "drop"):
            raise ValueError(f"action must be 'close' or 'drop', not {action!r}")
        if messages_per_second is None and bytes_per_second is None:
            raise ValueError("give messages_per_second, bytes_per_second or both")
        self.messages_per_second = messages_per_second
        self.message_burst = message_burst if message_burst is not None else messages_per_second
        self.bytes_per_second = bytes_per_second
        self.byte_burst = byte_burst if byte_burst is not None else bytes_per_second
        self.action = action
        self.clock = clock
        self._make_buckets()  # validate now, not per connection

    def _make_buckets(self) -> Tuple[Optional[GCRA], Optional[GCRA]]:
        messages = (GCRA(self.messages_per_second, self.message_burst or 1)
                    if self.messages_per_second is not None else None)
        volume = (GCRA(self.bytes_per_second, self.byte_burst or 1)
                  if self.bytes_per_second is not None else None)
        return messages, volume

    def attach(self, ws: ServerConnection) -> None:
        """Check every message ``ws`` receives from now on."""
        messages, volume = self._make_buckets()
        clock = self.clock
        close = self.action == "close"
        stats = ws.server.stats
        seen = ws.bytes_in  # bytes already charged (the handshake is free)

        def check(data: Data) -> bool:
            nonlocal seen
            now = clock()
            if volume is not None:
                # The bytes read since the last check: every frame is paid for.
                cost = ws.bytes_in - seen
                if cost and not volume.allow(now, cost):
                    return refuse()
                seen = ws.bytes_in
            if messages is not None and not messages.allow(now):
                return refuse()
            return True

        def refuse() -> bool:
            nonlocal seen
            seen = ws.bytes_in
            if close:
                if ws.state == "OPEN":
                    stats.count("rate_limit_closes")
                    ws._start_close(_CLOSE_POLICY_VIOLATION, "rate limit exceeded")
            else:
                stats.count("rate_limit_drops")
            return False

        ws._inbound_check = check

    def process_request(self, ws: ServerConnection, request: Request) -> Optional[HTTPResponse]:
        """A ``process_request`` that attaches the limit and accepts."""
        self.attach(ws)
        return None


class _PerIP:
    __slots__ = ("open", "handshakes")

    def __init__(self, handshakes: Optional[GCRA]) -> None:
        self.open = 0
        self.handshakes = handshakes


class IPLimit:
    """Per client IP: at most ``max_connections`` open at once, and
    ``handshakes_per_second`` with bursts of ``handshake_burst``. Over
    either, the handshake is answered ``429`` with ``Retry-After`` (whole
    seconds, at least 1) before any upgrade.

    Use :meth:`process_request` as (or in) the server's ``process_request``.
    Memory: one small record per IP with an open connection or a bucket not
    yet refilled; idle records are swept as handshakes arrive.
    ``key(ws)`` picks the client identity (default: the peer's IP; behind a
    proxy, derive it from a header you trust).
    """

    def __init__(
        self,
        *,
        max_connections: Optional[int] = None,
        handshakes_per_second: Optional[float] = None,
        handshake_burst: Optional[float] = None,
        key: Optional[Callable[[ServerConnection], str]] = None,
        clock: Callable[[], float] = time.monotonic,
        retry_after: int = 1,
    ) -> None:
        if max_connections is not None and max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if max_connections is None and handshakes_per_second is None:
            raise ValueError("give max_connections, handshakes_per_second or both")
        self.max_connections = max_connections
        self.handshakes_per_second = handshakes_per_second
        self.handshake_burst = (handshake_burst if handshake_burst is not None
                                else handshakes_per_second)
        if handshakes_per_second is not None:
            GCRA(handshakes_per_second, self.handshake_burst or 1)  # validate
        self.key = key or _peer_ip
        self.clock = clock
        self.retry_after = retry_after
        self._clients: Dict[str, _PerIP] = {}
        self._since_sweep = 0

    def process_request(self, ws: ServerConnection, request: Request) -> Optional[HTTPResponse]:
        now = self.clock()
        self._sweep(now)
        ip = self.key(ws)
        client = self._clients.get(ip)
        if client is None:
            bucket = (GCRA(self.handshakes_per_second, self.handshake_burst or 1)
                      if self.handshakes_per_second is not None else None)
            client = self._clients[ip] = _PerIP(bucket)
        if client.handshakes is not None and not client.handshakes.allow(now):
            return self._too_many(ws, client.handshakes.retry_after(now))
        if self.max_connections is not None and client.open >= self.max_connections:
            return self._too_many(ws, float(self.retry_after))
        client.open += 1
        ws._closed.add_done_callback(lambda _: self._closed(ip))
        return None

    def connections(self, ip: str) -> int:
        """Connections of ``ip`` counted as open."""
        client = self._clients.get(ip)
        return client.open if client is not None else 0

    def __len__(self) -> int:
        """IPs with a record (for memory checks)."""
        return len(self._clients)

    def _closed(self, ip: str) -> None:
        client = self._clients.get(ip)
        if client is not None:
            client.open -= 1
            if client.open == 0 and (client.handshakes is None or client.handshakes.idle(self.clock())):
                del self._clients[ip]

    def _too_many(self, ws: ServerConnection, wait: float) -> HTTPResponse:
        ws.server.stats.count("ip_limit_rejections")
        seconds = max(1, math.ceil(wait))
        return 429, [("Retry-After", str(seconds)), ("Content-Type", "text/plain")], b"Too Many Requests\n"

    def _sweep(self, now: float) -> None:
        """Forget idle IPs, a little at a time (amortized O(1) per handshake)."""
        self._since_sweep += 1
        if self._since_sweep < 64 or self._since_sweep < len(self._clients):
            return
        self._since_sweep = 0
        for ip in [ip for ip, c in self._clients.items()
                   if c.open == 0 and (c.handshakes is None or c.handshakes.idle(now))]:
            del self._clients[ip]


def _peer_ip(ws: ServerConnection) -> str:
    address: Any = ws.remote_address
    return str(address[0]) if address else ""
