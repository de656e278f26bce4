"""Reconnection: ``async for ws in connect(uri)`` yields a new connection
after each loss.

Delays follow exponential backoff with full jitter: before retry ``n``
(0-based) the client sleeps a uniformly random time in ``[0, min(cap, base
* factor ** n)]``, so that clients cut off together do not come back
together. The sequence starts again once a connection has stayed open
``reset_after`` seconds; a connection that is lost sooner counts as a
failure (a server that accepts and drops at once is not hammered).

What is retried: refused or reset connections and other network errors
(``OSError``, except a TLS certificate that does not verify), timeouts
(``open_timeout``), a connection closed during the opening handshake, and
rejections with status 5xx or 429 (``Retry-After`` in seconds is honoured,
up to ``cap``). Any other rejection (4xx) or handshake failure is raised at
once. With ``max_retries`` set, the last error is raised after that many
retries in a row without a connection opening.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, AsyncIterator, Optional

from .exceptions import HandshakeRejected, InvalidHandshake
from .headers import get_header
from .logs import LoggerLike

if TYPE_CHECKING:
    from .client import ClientConnection, connect


@dataclass(frozen=True)
class Backoff:
    """How :class:`Reconnecting` waits between attempts (seconds)."""

    base: float = 1.0
    cap: float = 60.0
    factor: float = 2.0
    reset_after: float = 10.0
    max_retries: Optional[int] = None

    def __post_init__(self) -> None:
        if not self.base > 0:
            raise ValueError("backoff_base must be positive")
        if not self.cap >= self.base:
            raise ValueError("backoff_cap must be at least backoff_base")
        if not self.factor >= 1:
            raise ValueError("backoff_factor must be at least 1")
        if not self.reset_after >= 0:
            raise ValueError("backoff_reset_after must not be negative")
        if self.max_retries is not None and self.max_retries < 0:
            raise ValueError("max_retries must not be negative (or None)")

    def ceiling(self, retry: int) -> float:
        """The upper bound of the delay before retry ``retry`` (0-based)."""
        bound = self.base
        for _ in range(retry):  # no float overflow, however long the outage
            bound *= self.factor
            if bound >= self.cap:
                return self.cap
        return min(bound, self.cap)

    def delay(self, retry: int, rng: random.Random) -> float:
        """Full jitter: uniform in ``[0, ceiling(retry)]``."""
        return rng.uniform(0.0, self.ceiling(retry))


def retryable(exc: BaseException) -> bool:
    """Whether a failed attempt is worth retrying (see the module docstring)."""
    if isinstance(exc, HandshakeRejected):
        return exc.status >= 500 or exc.status == 429
    if isinstance(exc, InvalidHandshake):
        return exc.closed_early
    if isinstance(exc, ssl.CertificateError):
        return False  # retrying will not make the certificate valid
    return isinstance(exc, (OSError, asyncio.TimeoutError, TimeoutError))


def retry_after(exc: BaseException) -> Optional[float]:
    """A 429's or 503's ``Retry-After`` in seconds, if given as a number."""
    if not isinstance(exc, HandshakeRejected) or exc.status not in (429, 503):
        return None
    value = get_header(exc.headers, "retry-after")
    if value is None or not value.strip().isdigit():
        return None  # an HTTP date: the backoff applies
    return float(value.strip())


class Reconnecting:
    """The iterator of ``async for ws in connect(uri)``.

    Each step closes the previous connection (the loop body is done with it),
    waits if needed, and connects, retrying as the module docstring says.
    Breaking out of the loop leaves the current connection open: close it.
    """

    def __init__(self, connector: "connect", backoff: Backoff, logger: LoggerLike) -> None:
        self._connector = connector
        self._backoff = backoff
        self._logger = logger
        self._random = random.Random()
        self._retry = 0  # position in the backoff sequence
        self._ws: Optional[ClientConnection] = None
        self._opened_at = 0.0

    def __aiter__(self) -> AsyncIterator["ClientConnection"]:
        return self

    async def __anext__(self) -> "ClientConnection":
        loop = asyncio.get_running_loop()
        uri = self._connector._uri_string
        if self._ws is not None:
            ws, self._ws = self._ws, None
            await ws.close()
            lived = loop.time() - self._opened_at
            if lived >= self._backoff.reset_after:
                self._retry = 0
                self._logger.info("connection to %s lost after %.1f s; reconnecting", uri, lived)
            else:
                delay = self._next_delay(None)
                self._logger.info("connection to %s lost after %.1f s; reconnecting in %.2f s",
                                  uri, lived, delay)
                await asyncio.sleep(delay)
        failures = 0
        while True:
            try:
                ws = await self._connector._open()
            except Exception as exc:
                failures += 1
                limit = self._backoff.max_retries
                if not retryable(exc) or (limit is not None and failures > limit):
                    why = "not retried" if not retryable(exc) else f"giving up after {failures} attempts"
                    self._logger.info("connect to %s failed: %s; %s", uri, _describe(exc), why)
                    raise
                delay = self._next_delay(exc)
                self._logger.info("connect to %s failed: %s; attempt %d, retrying in %.2f s",
                                  uri, _describe(exc), failures, delay)
                await asyncio.sleep(delay)
                continue
            self._ws = ws
            self._opened_at = loop.time()
            return ws

    def _next_delay(self, exc: Optional[BaseException]) -> float:
        delay = self._backoff.delay(self._retry, self._random)
        self._retry += 1
        asked = retry_after(exc) if exc is not None else None
        if asked is not None:
            delay = min(max(delay, asked), self._backoff.cap)
        return delay


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
