"""One adapter per library; :func:`load` imports those that are installed."""

from __future__ import annotations

import importlib
from typing import Callable

from ..harness import note_for
from .base import Conn, Deflate, Peer

# (column, "module:factory"), in the column order of the report. The
# wsproto6455 column is named after the backend this process imported.
_FACTORIES = [
    ("wsproto6455", "ours:peer"),
    ("wsproto6455 whole", "ours:whole_peer"),
    ("wsproto", "wsproto_peer:peer"),
    ("websockets", "websockets_peer:peer"),
    ("aiohttp", "aiohttp_peer:compiled_peer"),
    ("aiohttp (py)", "aiohttp_peer:pure_peer"),
]


def _factory(spec: str) -> Callable[[], Peer]:
    module, name = spec.split(":")
    factory: Callable[[], Peer] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return factory


def load() -> tuple[list[Peer], dict[str, str]]:
    """The peers available here, and a note for each one that is not."""
    peers: list[Peer] = []
    missing: dict[str, str] = {}
    for column, spec in _FACTORIES:
        try:
            peers.append(_factory(spec)())
        except Exception as exc:  # noqa: BLE001 - not installed or broken: a note
            missing[column] = note_for(exc)
    return peers, missing


__all__ = ["Conn", "Deflate", "Peer", "load"]
