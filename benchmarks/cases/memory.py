"""Bytes held per open, idle server connection, measured with tracemalloc.

Each connection completes the handshake and exchanges one message each way
(so that lazily created deflate contexts exist, as on any used connection),
then only the library's own connection object is kept.
"""

from __future__ import annotations

import gc
import tracemalloc

from .. import wire
from ..adapters import Deflate, Peer
from ..harness import Result, Unsupported, note_for
from ..payloads import ascii_text
from . import Context

SETTINGS: dict[str, Deflate] = {"no deflate": None, "deflate, default": "default", "deflate, lean": "lean"}
_CONNECTIONS = {"smoke": 3, "quick": 50, "full": 400}
_TEXT = ascii_text(64)


def bytes_per_connection(peer: Peer, deflate: Deflate, count: int) -> float:
    if not peer.sans_io:
        raise Unsupported("no connection object of its own (reader and writer only)")
    probe = peer.open_server(deflate)
    frame = wire.client_stream([_TEXT.encode()], deflate_window=probe.client_window if deflate else None)

    def open_one() -> object:
        conn = peer.open_server(deflate)
        assert conn.feed is not None and conn.feed([frame]) == 1, "message not received"
        conn.send(_TEXT)
        return conn.keep

    open_one()  # warm caches so that they are not charged to the connections
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [open_one() for _ in range(count)]
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return (after - before) / count


def run(ctx: Context) -> list[Result]:
    count = _CONNECTIONS[ctx.mode.name]
    results = []
    for case, deflate in SETTINGS.items():
        for peer in (p for p in ctx.peers if not p.variant):
            result = Result("memory", case, 0, peer.column, "bytes/conn", lower_is_better=True)
            try:
                result.value = bytes_per_connection(peer, deflate, count)
                result.repeats = 1
            except Exception as exc:  # noqa: BLE001 - reported in the table
                result.note = note_for(exc)
            results.append(result)
    return results
