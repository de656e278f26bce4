"""Shared shape of the connection-level cases: one cell per peer."""

from __future__ import annotations

from typing import Callable, Iterator

from ..adapters import Peer
from ..harness import Cell, Result, Row, run_rows
from ..payloads import SIZES
from . import Context

#: The reference column of the deflate cases: zlib doing the same work alone.
ZLIB = "zlib alone"

# Builds the cell of one peer for one size.
CellBuilder = Callable[[Peer, int], Cell]
# Builds a reference column's cell (no peer: e.g. zlib alone) for one size.
ReferenceBuilder = Callable[[int], Cell]


def rows(ctx: Context, family: str, case: str, unit: str, build: CellBuilder,
         sizes: tuple[int, ...] = SIZES, extra: dict[str, ReferenceBuilder] | None = None) -> Iterator[Row]:
    """One row per size: a cell per peer, plus ``extra`` reference columns
    (e.g. raw zlib), which the pure-backend subprocess leaves out."""
    references = {} if ctx.pure_child else (extra or {})
    for size in sizes:
        row = Row(family, case, size, unit)
        for peer in ctx.peers:
            row.add(peer.column, lambda: build(peer, size))
        for column, reference in references.items():
            row.add(column, lambda: reference(size))
        yield row


def run_cases(ctx: Context, family: str, cases: dict[str, CellBuilder],
              extra: dict[str, ReferenceBuilder] | None = None, unit: str = "msg/s",
              sizes: tuple[int, ...] = SIZES) -> list[Result]:
    """Measure several cases of one family (all in the same unit)."""
    return [
        result
        for case, build in cases.items()
        for result in run_rows(rows(ctx, family, case, unit, build, sizes, extra), ctx.mode)
    ]
