"""The compiled backend for the tests that check both backends' kernels.

Without the extension the compiled leg of a test is skipped, unless
``WSPROTO6455_REQUIRE_SPEEDUPS=1`` is set (as in CI), which turns the skip
into a failure so that a broken build cannot go unnoticed.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any, List, Optional

import pytest

MISSING = "wsproto6455._speedups is not built (python setup.py build_ext --inplace)"


def _import() -> Optional[ModuleType]:
    try:
        return importlib.import_module("wsproto6455._speedups")
    except ImportError:
        return None


SPEEDUPS_MODULE = _import()


def speedups_required() -> bool:
    return os.environ.get("WSPROTO6455_REQUIRE_SPEEDUPS", "") not in ("", "0")


def require_compiled() -> ModuleType:
    """The compiled module; skip without it, or fail if CI requires it."""
    if SPEEDUPS_MODULE is not None:
        return SPEEDUPS_MODULE
    if speedups_required():
        pytest.fail(f"WSPROTO6455_REQUIRE_SPEEDUPS is set but {MISSING}")
    pytest.skip(MISSING)


def available_compiled() -> List[ModuleType]:
    """[compiled] if built; [] otherwise (a failure if CI requires it)."""
    if SPEEDUPS_MODULE is None and speedups_required():
        pytest.fail(f"WSPROTO6455_REQUIRE_SPEEDUPS is set but {MISSING}")
    return [] if SPEEDUPS_MODULE is None else [SPEEDUPS_MODULE]


def compiled(name: str) -> Any:
    """A kernel of the compiled module (see :func:`require_compiled`); a
    module built from older sources that lacks it is a failure."""
    module = require_compiled()
    if not hasattr(module, name):
        pytest.fail(f"wsproto6455._speedups is stale: no {name} (rebuild it)")
    return getattr(module, name)
