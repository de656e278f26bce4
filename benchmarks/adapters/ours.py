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


def peer(whole_messages: bool = False) -> EventApiPeer:
    lean: dict[str, Any] = {**lean_deflate_kwargs(), "memory_level": LEAN_MEM_LEVEL}
    options: dict[str, Any] = {"max_message_size": LIMIT}
    name = column()
    if whole_messages:
        options["whole_messages"] = True
        name = name.replace(")", ", whole)")
    try:
        result = EventApiPeer(name, "wsproto6455", options, lean)
    except AttributeError as exc:  # the package is there, the core not yet
        raise Unsupported(f"wsproto6455 core not importable ({exc})") from exc
    result.variant = whole_messages
    return result


def whole_peer() -> EventApiPeer:
    """Our option beyond wsproto: one event per message, as websockets and
    aiohttp deliver them (the default is wsproto's frame-by-frame)."""
    return peer(whole_messages=True)
