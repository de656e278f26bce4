"""Shared shape of the kernel cases: one callable per column, per size."""

from __future__ import annotations

import importlib
from typing import Callable, Iterator, Mapping

from ..harness import Cell, Row, Unsupported
from ..payloads import SIZES

SPEEDUPS = "wsproto6455 (speedups)"
PURE = "wsproto6455 (pure)"


def load(module: str, name: str) -> object:
    """``module.name``, or Unsupported saying what is missing."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise Unsupported(f"{module} not available ({exc})") from exc


def speedups(name: str) -> object:
    """A kernel of the compiled backend (importable next to the pure one)."""
    return load("wsproto6455._speedups", name)


def rows(
    family: str, case: str, columns: Mapping[str, Callable[[bytes], Callable[[], object]]],
    payload: Callable[[int], bytes],
) -> Iterator[Row]:
    """Rows of ``case`` at every size; each column's builder gets the payload
    and returns the call to time (it may run it once to check the result)."""
    for size in SIZES:
        data = payload(size)
        row = Row(family, case, size, "MB/s")
        for column, build in columns.items():
            row.add(column, lambda: Cell(column, build(data), units=len(data) / 1e6))
        yield row

