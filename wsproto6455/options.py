"""The values of a connection's keyword options, checked.

Unknown names are refused by ``_keywords``; the values are checked here when
the connection (or its handshake) is built, in plain Python, so a wrong
value is a clear ``TypeError`` or ``ValueError`` at the call that passed
it, the same with both backends: never a failure later inside ``events()``
(the compiled scanner takes its limit as a C integer) nor a value that one
backend accepts and the other refuses.
"""

from __future__ import annotations

import operator
from typing import Any, Optional


def size_option(name: str, value: Any, minimum: int) -> Optional[int]:
    """A size limit: None (no limit) or an integer of at least ``minimum``.

    ``bool`` is refused although it is an ``int`` (``True`` is no size), and so
    are floats (``1e6``) and strings; integer-like objects (``operator.index``)
    are accepted and returned as ``int``.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer or None, not a bool")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer or None, not {type(value).__name__}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum} (or None), not {number}")
    return number


def flag_option(name: str, value: Any) -> bool:
    """A switch: True or False, nothing that merely looks true."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {type(value).__name__}")
    return value
