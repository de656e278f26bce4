"""The active masking and UTF-8 kernels: compiled if available, else pure Python.

``WSPROTO6455_NO_SPEEDUPS=1`` in the environment forces the pure-Python path.
"""

from __future__ import annotations

import os

from ._mask_py import apply_mask as _py_apply_mask
from ._utf8_py import Utf8Validator as _PyUtf8Validator

SPEEDUPS = False
apply_mask = _py_apply_mask
Utf8Validator = _PyUtf8Validator

if os.environ.get("WSPROTO6455_NO_SPEEDUPS", "") in ("", "0"):
    try:
        from . import _speedups  # type: ignore[attr-defined]
    except ImportError:
        pass
    else:
        apply_mask = _speedups.apply_mask
        Utf8Validator = _speedups.Utf8Validator
        SPEEDUPS = True

__all__ = ["SPEEDUPS", "Utf8Validator", "apply_mask"]
