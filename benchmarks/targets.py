"""The performance targets of issues 2, 3, 4, 6 and 15, checked against a run.

An absolute goal (messages per second) was set on these machines next to a
peer's figure measured then; since absolute figures move with the load of a
shared machine, each such goal is also restated as a ratio to that peer,
measured in the same run: that ratio is what decides "met".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .harness import Result
from .payloads import KIB, MIB, size_label

SPEEDUPS = "wsproto6455 (speedups)"
SPEEDUPS_WHOLE = "wsproto6455 (speedups, whole)"
PURE = "wsproto6455 (pure)"
CHUNKS = "fed in 4 KiB chunks"
WHOLE = "fed whole"


@dataclass(frozen=True)
class Target:
    issue: int
    family: str
    case: str
    size: int
    column: str
    peer: str
    ratio: float  # goal, as a multiple of ``peer`` in the same run
    absolute: Optional[float] = None  # the goal as stated, in the row's unit

    def label(self) -> str:
        size = f" {size_label(self.size)}" if self.family != "handshake" else ""
        return f"{self.family} {self.case}{size}, {self.column}"


def _absolute(issue: int, family: str, case: str, size: int, column: str, goal: float,
              peer: str, peer_then: float) -> Target:
    """A goal stated in msg/s while ``peer`` did ``peer_then`` msg/s."""
    return Target(issue, family, case, size, column, peer, goal / peer_then, goal)


TARGETS = [
    _absolute(2, "parse", CHUNKS, 16, PURE, 600e3, "websockets", 398e3),
    Target(2, "parse", CHUNKS, 64 * KIB, PURE, "websockets", 0.0, 12e3),  # absolute only
    _absolute(2, "serialize", "server to client", 16, PURE, 1.0e6, "websockets", 945e3),
    # websockets anchors every restated goal: the issues quote its figure for
    # each, and its sans-IO API leaves little room to drive it differently
    # (aiohttp's reader can be: here each message is taken with read()).
    _absolute(6, "parse", CHUNKS, 16, SPEEDUPS, 1.5e6, "websockets", 398e3),
    _absolute(6, "serialize", "server to client", 16, SPEEDUPS, 1.5e6, "websockets", 945e3),
    _absolute(6, "echo", "round trips", 16, SPEEDUPS, 33e3, "websockets", 25.6e3),
    _absolute(6, "echo", "pipelined", 16, SPEEDUPS, 120e3, "websockets", 58.7e3),
    Target(3, "deflate-parse", CHUNKS, 16, SPEEDUPS, "websockets", 1.5),
    Target(3, "deflate-parse", "fed whole", 64 * KIB, SPEEDUPS, "zlib alone", 0.9),
    Target(3, "deflate-parse", "fed whole", MIB, SPEEDUPS, "zlib alone", 0.9),
    Target(4, "masking", "mask", 16, SPEEDUPS, "websockets", 0.8),
    *[Target(4, "masking", "mask", size, SPEEDUPS, "websockets", 1.0) for size in (KIB, 64 * KIB, MIB)],
    Target(4, "utf8", "mixed", 64 * KIB, SPEEDUPS, "bytes.decode", 1.0),
    Target(4, "utf8", "ASCII", 64 * KIB, SPEEDUPS, "bytes.decode", 0.5),
    # Issue 15: the figures that trailed the best peer, each at least level with it.
    *[Target(15, "parse", CHUNKS, size, column, "aiohttp", 1.0)
      for size in (KIB, 64 * KIB, MIB) for column in (SPEEDUPS, SPEEDUPS_WHOLE)],
    *[Target(15, "deflate-parse", case, size, SPEEDUPS, "aiohttp", 1.0)
      for size in (16, KIB) for case in (WHOLE, CHUNKS)],
    Target(15, "echo", "round trips", 16, SPEEDUPS, "picows", 1.0),
    *[Target(15, "masking", "mask", size, SPEEDUPS, "websockets", 1.0) for size in (64 * KIB, MIB)],
]

HEADER = ["issue", "figure", "measured", "goal", "vs peer (same run)", "met"]


def _find(results: list[Result], family: str, case: str, size: int, column: str) -> Optional[Result]:
    for res in results:
        if (res.family, res.case, res.size, res.column) == (family, case, size, column) and res.value:
            return res
    return None


def rows(results: list[Result], pure_peers: list[Result]) -> list[list[str]]:
    """One line per target whose figures this run has. The pure backend's
    figures are compared with the peers measured in its own process."""
    lines = []
    for t in TARGETS:
        ours = _find(results, t.family, t.case, t.size, t.column)
        if ours is None or ours.value is None:
            continue
        value = ours.value
        peers = pure_peers if t.column == PURE and pure_peers else results
        peer = _find(peers, t.family, t.case, t.size, t.peer)
        goal = f"≥ {t.absolute:,.0f} {ours.unit}" if t.absolute else f"≥ {t.ratio:.2f}× {t.peer}"
        if t.ratio and peer and peer.value:
            versus = f"{value / peer.value:.2f}× {t.peer} (goal {t.ratio:.2f}×)"
            met = value / peer.value >= t.ratio
        else:
            versus = "–"
            met = t.absolute is not None and value >= t.absolute
        measured = f"{value:,.0f} {ours.unit}" if value >= 100 else f"{value:.3g} {ours.unit}"
        lines.append([str(t.issue), t.label(), measured, goal, versus, "yes" if met else "no"])
    return lines
