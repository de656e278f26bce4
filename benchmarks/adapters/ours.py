"""wsproto6455, driven through the same event API as wsproto."""

from __future__ import annotations

from typing import Any

from ..harness import Unsupported
from .base import LEAN_MEM_LEVEL, LIMIT, lean_deflate_kwargs
from .eventapi import EventApiPeer


def speedups_active() -> bool:
    import wsproto6455.backend

    return bool(wsproto6455.backend.SPEEDUPS)


def column() -> str:
    """The column this process fills: the backend it imported."""
    return "wsproto6455 (speedups)" if speedups_active() else "wsproto6455 (pure)"


def peer() -> EventApiPeer:
    lean: dict[str, Any] = {**lean_deflate_kwargs(), "memory_level": LEAN_MEM_LEVEL}
    try:
        return EventApiPeer(column(), "wsproto6455", {"max_message_size": LIMIT}, lean)
    except AttributeError as exc:  # the package is there, the core not yet
        raise Unsupported(f"wsproto6455 core not importable ({exc})") from exc
