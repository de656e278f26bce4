"""The realtime layer: rooms, broadcast, slow consumers, rate limits, JWT
at the handshake and metrics, on :mod:`wsproto6455.asyncio`.

Optional dependencies (PyJWT for :func:`jwt_auth`, redis for the Redis
broker) are imported only when used. See ``docs/REALTIME.md``.
"""

from typing import Any

from ..asyncio.broadcast import broadcast
from ..asyncio.metrics import ServerMetrics, health_route, prometheus_route, prometheus_text
from .auth import jwt_auth
from .broker import Broker, Deliver, Payload, Publication
from .hooks import chain
from .hub import Hub
from .ratelimit import GCRA, ConnectionLimit, IPLimit

__all__ = [
    "GCRA",
    "Broker",
    "ConnectionLimit",
    "IPLimit",
    "Deliver",
    "Hub",
    "Payload",
    "Publication",
    "RedisBroker",
    "ServerMetrics",
    "broadcast",
    "chain",
    "health_route",
    "jwt_auth",
    "prometheus_route",
    "prometheus_text",
]


def __getattr__(name: str) -> Any:
    # RedisBroker needs the optional redis package (wsproto6455[redis]): it is
    # imported on first use, so the realtime layer works without it.
    if name == "RedisBroker":
        from .redis_broker import RedisBroker
        return RedisBroker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
