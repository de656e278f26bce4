"""Per-server counters: a snapshot API and the Prometheus text format.

Cheap on the data path by construction: each connection counts its own
messages and bytes in plain integer attributes (one addition per read and
per message); :class:`ServerMetrics` adds them up only when a snapshot is
taken, and folds a connection's counts into its totals when it closes.
Rare events (handshakes, closes, rejections, rate-limit actions) are
counted here directly.

The Prometheus text exposition format (version 0.0.4) is written here, a
few lines of stdlib code, rather than with prometheus-client: its registry
is process-global while these metrics are per server (two servers in one
process must not mix), and the core packages stay dependency-free.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Tuple

if TYPE_CHECKING:
    from .protocol import WebSocket

#: Counters every connection keeps, summed per server.
CONNECTION_COUNTERS = ("messages_in", "messages_out", "bytes_in", "bytes_out",
                       "broadcast_sent", "broadcast_drops")
#: Events counted per server (incremented with ``server.stats.count(name)``).
EVENTS = ("rate_limit_closes", "rate_limit_drops", "auth_rejections", "ip_limit_rejections",
          "slow_consumer_closes")


class ServerMetrics:
    """What a :class:`~wsproto6455.asyncio.Server` counts."""

    def __init__(self) -> None:
        self.connections_opened = 0
        #: Closed connections (that had opened) by close code.
        self.closed: Counter[int] = Counter()
        #: Handshakes answered with an HTTP error, by status.
        self.rejected: Counter[int] = Counter()
        self.events: Counter[str] = Counter({name: 0 for name in EVENTS})
        # the counters of connections already closed
        self._retired: Dict[str, int] = {name: 0 for name in CONNECTION_COUNTERS}

    def count(self, event: str, n: int = 1) -> None:
        """Count an event (one of :data:`EVENTS`, or a name of your own)."""
        self.events[event] += n

    def retire(self, ws: "WebSocket") -> None:
        """``ws`` closed: keep its counts in the totals."""
        retired = self._retired
        for name in CONNECTION_COUNTERS:
            retired[name] += getattr(ws, name)

    def snapshot(self, open_connections: Iterable["WebSocket"]) -> Dict[str, Any]:
        """A plain dict of every figure; ``open_connections`` are those whose
        TCP connection is still open (``connections_open`` counts those in
        state OPEN)."""
        totals = dict(self._retired)
        open_count = 0
        rtts: List[float] = []
        for ws in open_connections:  # TCP still open: counts not retired yet
            for name in CONNECTION_COUNTERS:
                totals[name] += getattr(ws, name)
            if ws.state != "OPEN":
                continue
            open_count += 1
            if ws.latency:
                rtts.append(ws.latency)
        return {
            "connections_open": open_count,
            "connections_opened": self.connections_opened,
            "connections_closed": dict(self.closed),
            "handshakes_rejected": dict(self.rejected),
            **totals,
            **dict(self.events),
            "ping_rtt": {
                "count": len(rtts),
                "mean": sum(rtts) / len(rtts) if rtts else 0.0,
                "max": max(rtts, default=0.0),
            },
        }


_HELP: Dict[str, Tuple[str, str]] = {
    "connections_open": ("gauge", "WebSocket connections open now"),
    "connections_opened": ("counter", "WebSocket connections opened (handshake completed)"),
    "messages_in": ("counter", "messages received"),
    "messages_out": ("counter", "messages sent (send and broadcast)"),
    "bytes_in": ("counter", "bytes read from the sockets"),
    "bytes_out": ("counter", "bytes of data frames written"),
    "broadcast_sent": ("counter", "broadcast recipients written to"),
    "broadcast_drops": ("counter", "broadcast recipients skipped or closed over their byte budget"),
    "rate_limit_closes": ("counter", "connections closed for exceeding their rate limit"),
    "rate_limit_drops": ("counter", "messages dropped for exceeding a rate limit"),
    "auth_rejections": ("counter", "handshakes refused by authentication"),
    "ip_limit_rejections": ("counter", "handshakes refused with 429 by a per-IP limit"),
    "slow_consumer_closes": ("counter", "connections closed for exceeding their byte budget"),
}


def prometheus_text(snapshot: Dict[str, Any], prefix: str = "wsproto6455") -> str:
    """Render a :meth:`ServerMetrics.snapshot` in the Prometheus text format."""
    lines: List[str] = []

    def family(name: str, kind: str, help_text: str) -> str:
        metric = f"{prefix}_{name}" + ("_total" if kind == "counter" else "")
        lines.append(f"# HELP {metric} {help_text}")
        lines.append(f"# TYPE {metric} {kind}")
        return metric

    for name, (kind, help_text) in _HELP.items():
        if name in snapshot:
            metric = family(name, kind, help_text)
            lines.append(f"{metric} {snapshot[name]}")
    metric = family("connections_closed", "counter", "connections closed, by close code")
    for code, n in sorted(snapshot["connections_closed"].items()):
        lines.append(f'{metric}{{code="{code}"}} {n}')
    metric = family("handshakes_rejected", "counter", "handshakes answered with an HTTP error, by status")
    for status, n in sorted(snapshot["handshakes_rejected"].items()):
        lines.append(f'{metric}{{status="{status}"}} {n}')
    rtt = snapshot["ping_rtt"]
    metric = family("ping_rtt_seconds", "gauge", "last keepalive round-trip time over open connections")
    lines.append(f'{metric}{{stat="mean"}} {rtt["mean"]:.6f}')
    lines.append(f'{metric}{{stat="max"}} {rtt["max"]:.6f}')
    lines.append(f'{metric}{{stat="count"}} {rtt["count"]}')
    return "\n".join(lines) + "\n"


def prometheus_route(server: Any, target: str) -> Tuple[int, List[Tuple[str, str]], bytes]:
    """An ``http_routes`` entry: the server's metrics in the Prometheus text format."""
    body = prometheus_text(server.metrics()).encode()
    return 200, [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body


def health_route(server: Any, target: str) -> Tuple[int, List[Tuple[str, str]], bytes]:
    """An ``http_routes`` entry: 200 while the server accepts connections, else 503."""
    if server.is_serving():
        return 200, [("Content-Type", "text/plain")], b"ok\n"
    return 503, [("Content-Type", "text/plain")], b"closing\n"
