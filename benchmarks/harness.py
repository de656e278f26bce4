"""Timing: calibrated loops, interleaved repeats with the order rotated, medians.

A *row* is one question (e.g. "parse 16 B messages fed whole") answered by
several *cells*, one per implementation. All cells of a row are timed in
the same rounds, each round starting with a different cell, so that drift
on a shared, noisy machine hits every implementation alike.
"""

from __future__ import annotations

import gc
import itertools
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Optional


@dataclass(frozen=True)
class Mode:
    """How hard to measure."""

    name: str
    repeats: int  # rounds per row; the median is reported
    repeat_time: float  # seconds each cell runs per round
    row_time: float = 0.0  # rows whose rounds are slower get fewer rounds (at least 3)
    calibrate: bool = True  # False: one call per round (smoke mode)

    def rounds(self, round_time: float) -> int:
        if self.repeats * round_time <= self.row_time:
            return self.repeats
        return min(self.repeats, max(3, int(self.row_time / round_time)))


MODES = {
    "smoke": Mode("smoke", repeats=1, repeat_time=0.0, calibrate=False),
    # Many short rounds rather than a few long ones: on a shared machine a
    # burst of load then spoils a few samples, which the median discards.
    # Rows of large messages (one call outlasts a round) get fewer rounds.
    "quick": Mode("quick", repeats=5, repeat_time=0.008, row_time=0.3),
    "full": Mode("full", repeats=9, repeat_time=0.06, row_time=6.0),
}


@dataclass
class Cell:
    """One implementation's answer to a row: ``fn()`` does ``units`` units
    of work (messages, calls) covering ``nbytes`` payload bytes."""

    column: str
    fn: Callable[[], object]
    units: float = 1
    nbytes: int = 0


@dataclass
class Row:
    family: str
    case: str
    size: int  # payload size in bytes, 0 when it does not apply
    unit: str  # what ``units`` counts, per second: "msg/s", "calls/s"
    cells: list[Cell] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # column -> why

    def add(self, column: str, build: Callable[[], Cell]) -> None:
        """Build a cell, or record why this column cannot answer the row.

        Building a cell runs it once (see the case modules), so a broken
        adapter becomes a note in the table instead of a crashed run."""
        try:
            self.cells.append(build())
        except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
            self.skipped[column] = note_for(exc)


@dataclass
class Result:
    """One figure of the report (also the JSON record)."""

    family: str
    case: str
    size: int
    column: str
    unit: str
    value: Optional[float] = None  # units per second (or bytes, see ``lower_is_better``)
    mb_per_s: Optional[float] = None  # payload megabytes (10**6) per second
    best: Optional[float] = None  # the fastest round's figure: steadier than the median under load
    lower_is_better: bool = False
    ratio: Optional[float] = None  # filled by :func:`add_ratios`
    repeats: int = 0
    note: Optional[str] = None  # why there is no value

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


#: Columns that are floors, not competitors (zlib doing only the compression):
#: their ratio is to the best library and may exceed 1.
REFERENCES = {"zlib alone"}


class Unsupported(Exception):
    """The library offers no way to run this case; the message says why."""


def note_for(exc: BaseException) -> str:
    if isinstance(exc, (Unsupported, ImportError)):
        return str(exc)
    return f"error: {type(exc).__name__}: {exc}"


def _time_loops(fn: Callable[[], object], loops: int) -> float:
    # The collector is off while timing (as timeit does): a collection that
    # lands in one cell but not another would only add noise.
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in itertools.repeat(None, loops):
            fn()
        return time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()


def calibrate(fn: Callable[[], object], target: float) -> tuple[int, float]:
    """Loops needed for one round of ``fn`` to last about ``target`` seconds,
    and how long a round will then take."""
    loops = 1
    while True:
        elapsed = _time_loops(fn, loops)
        # Extrapolate only from a run long enough for the clock to be trusted.
        if elapsed >= min(target, 0.005) or loops >= 1 << 24:
            per_call = elapsed / loops
            loops = max(1, math.ceil(target / per_call)) if per_call > 0 else loops
            return loops, loops * per_call
        loops *= 4


def measure_row(row: Row, mode: Mode) -> list[Result]:
    """Time every cell of ``row``; skipped columns become noted results."""
    calibrated = [calibrate(c.fn, mode.repeat_time) if mode.calibrate else (1, 0.0) for c in row.cells]
    loops = [n for n, _ in calibrated]
    rounds = mode.rounds(sum(t for _, t in calibrated))
    samples: list[list[float]] = [[] for _ in row.cells]
    n = len(row.cells)
    for r in range(rounds):
        for i in [(r + k) % n for k in range(n)]:  # rotate the starting cell
            samples[i].append(_time_loops(row.cells[i].fn, loops[i]) / loops[i])
    results = []
    for cell, times in zip(row.cells, samples):
        per_call = statistics.median(times)
        results.append(
            Result(
                row.family, row.case, row.size, cell.column, row.unit,
                value=cell.units / per_call,
                best=cell.units / min(times),
                mb_per_s=cell.nbytes / per_call / 1e6 if cell.nbytes else None,
                repeats=rounds,
            )
        )
    results += skipped_results(row.family, row.case, row.size, row.unit, row.skipped)
    return results


def skipped_results(
    family: str, case: str, size: int, unit: str, skipped: dict[str, str]
) -> list[Result]:
    return [Result(family, case, size, column, unit, note=note) for column, note in skipped.items()]


def run_rows(rows: Iterable[Row], mode: Mode) -> list[Result]:
    return [result for row in rows for result in measure_row(row, mode)]


def add_ratios(results: list[Result]) -> None:
    """Ratio of each figure to the best library of its row (fastest, or
    smallest when lower is better). Done after merging results from several
    processes."""
    rows: dict[tuple[str, str, int], list[Result]] = {}
    for res in results:
        if res.value is not None and res.ratio is None:  # not ratioed in another process
            rows.setdefault((res.family, res.case, res.size), []).append(res)
    for members in rows.values():
        pick = min if members[0].lower_is_better else max
        contenders = [r.value for r in members if r.value and r.column not in REFERENCES]
        best = pick(contenders) if contenders else None
        for res in members:
            res.ratio = res.value / best if best and res.value else None
