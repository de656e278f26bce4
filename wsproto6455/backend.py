"""The active kernels: compiled if available, else pure Python.

``apply_mask(data, key) -> bytes``, ``Utf8Validator``, ``scan_messages``,
``Scanner`` and ``drain`` (the reader's fast path) and ``server_frame`` (the
writer's) come from the compiled extension ``wsproto6455._speedups`` when it
was built, otherwise from ``_mask_py``, ``_utf8_py``, ``_scan_py`` and
``_frame_py``; both backends behave identically (the tests check it
differentially). ``SPEEDUPS`` says which one is active.
``ReadShortcut`` (the base class of ``Connection`` whose ``receive_data`` and
``events`` are one C call each for what the scanner takes alone) exists only
compiled: it saves calls, not work, so the pure backend is None there and
``Connection`` takes the general route.
Setting ``WSPROTO6455_NO_SPEEDUPS=1`` in the environment before the first
import forces the pure-Python path.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional

SPEEDUPS: bool

if TYPE_CHECKING:
    # One static type for both backends: the compiled ones follow the same
    # signatures (see _speedups.pyi).
    from ._frame_py import server_frame as server_frame
    from ._mask_py import apply_mask as apply_mask
    from ._scan_py import Scanner as Scanner
    from ._scan_py import drain as drain
    from ._scan_py import scan_messages as scan_messages
    from ._utf8_py import Utf8Validator as Utf8Validator
    from ._speedups import ReadShortcut as _ReadShortcut

    ReadShortcut: Optional[type[_ReadShortcut]]
else:

    def _load():
        if os.environ.get("WSPROTO6455_NO_SPEEDUPS", "") in ("", "0"):
            try:
                from . import _speedups
            except ImportError:
                pass
            else:
                return (True, _speedups.apply_mask, _speedups.Utf8Validator,
                        _speedups.scan_messages, _speedups.Scanner, _speedups.drain,
                        _speedups.server_frame, _speedups.ReadShortcut)
        from ._frame_py import server_frame
        from ._mask_py import apply_mask
        from ._scan_py import Scanner, drain, scan_messages
        from ._utf8_py import Utf8Validator

        return False, apply_mask, Utf8Validator, scan_messages, Scanner, drain, server_frame, None

    (SPEEDUPS, apply_mask, Utf8Validator, scan_messages, Scanner, drain, server_frame,
     ReadShortcut) = _load()
    del _load

__all__ = ["SPEEDUPS", "ReadShortcut", "Scanner", "Utf8Validator", "apply_mask", "drain", "scan_messages",
           "server_frame"]
