"""wsproto: the event vocabulary we keep (and the pure-Python baseline)."""

from __future__ import annotations

from .base import lean_deflate_kwargs
from .eventapi import EventApiPeer


def peer() -> EventApiPeer:
    # wsproto has no message-size limit to set.
    return EventApiPeer("wsproto", "wsproto", {}, lean_deflate_kwargs())
