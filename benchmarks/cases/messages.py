"""Shared shape of the connection-level cases: one cell per peer."""

from __future__ import annotations

from typing import Callable, Iterator, Mapping

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
         sizes: tuple[int, ...] = SIZES, extra: Mapping[str, ReferenceBuilder] | None = None,
         variants: bool = False) -> Iterator[Row]:
    """One row per size: a cell per peer (and per variant setting if asked),
    plus ``extra`` reference columns (e.g. raw zlib), which the pure-backend
    subprocess leaves out."""
    references = {} if ctx.pure_child else (extra or {})
    peers = [peer for peer in ctx.peers if variants or not peer.variant]
    for size in sizes:
        row = Row(family, case, size, unit)
        for peer in peers:
            row.add(peer.column, lambda: build(peer, size))
        for column, reference in references.items():
            row.add(column, lambda: reference(size))
        yield row


def run_cases(ctx: Context, family: str, cases: Mapping[str, CellBuilder],
              extra: Mapping[str, ReferenceBuilder] | None = None, unit: str = "msg/s",
              sizes: tuple[int, ...] = SIZES, variants: bool = False) -> list[Result]:
    """Measure several cases of one family (all in the same unit)."""
    return [
        result
        for case, build in cases.items()
        for result in run_rows(rows(ctx, family, case, unit, build, sizes, extra, variants), ctx.mode)
    ]
