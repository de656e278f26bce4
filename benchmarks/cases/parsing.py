"""Server side: masked client text frames in, message events out.

Each library runs what a server built on it runs per read: feed the bytes,
then take every message event (and, for websockets, decode the text, which
its sans-IO core leaves to the I/O layer). The stream is fed whole, or in
4 KiB pieces cut without regard to frame boundaries, like socket reads.
"""

from __future__ import annotations

import functools
import zlib
from typing import Optional

from .. import wire
from ..adapters import Deflate, Peer
from ..harness import Cell, Result
from ..payloads import KIB, texts
from . import Context
from .messages import ZLIB, CellBuilder, run_cases

_STREAM_BYTES = 256 * KIB  # messages per call: about this much payload...
_MAX_MESSAGES = 1000  # ...but no more messages than this


def messages(size: int) -> list[bytes]:
    count = max(1, min(_MAX_MESSAGES, _STREAM_BYTES // size))
    bodies = texts(size)
    return [bodies[i % len(bodies)].encode() for i in range(count)]


@functools.lru_cache(maxsize=8)
def _stream(size: int, deflate_window: Optional[int]) -> bytes:
    """The client's bytes, built once per size and window for every peer."""
    return wire.client_stream(messages(size), deflate_window=deflate_window)


def _feeder(deflate: Deflate, chunked: bool) -> CellBuilder:
    def build(peer: Peer, size: int) -> Cell:
        bodies = messages(size)
        conn = peer.open_server(deflate)
        assert conn.feed is not None
        stream = _stream(size, conn.client_window if deflate else None)
        call = functools.partial(conn.feed, wire.chunks(stream) if chunked else [stream])
        for _ in range(2):  # twice: the replayed stream must parse too
            got = call()
            assert got == len(bodies), f"{got} messages parsed out of {len(bodies)}"
        return Cell(peer.column, call, units=len(bodies), nbytes=size * len(bodies))

    return build


def _zlib_alone(size: int) -> Cell:
    """The floor for deflate: inflating the same payloads with nothing else."""
    bodies = messages(size)
    compressed = [data + wire.DEFLATE_TAIL for data in wire.deflated(bodies)]
    decompress = zlib.decompressobj(-15).decompress

    def call() -> list[bytes]:
        return [decompress(data) for data in compressed]

    assert call() == bodies and call() == bodies, "zlib round trip failed"
    return Cell(ZLIB, call, units=len(bodies), nbytes=size * len(bodies))


def cases(deflate: Deflate) -> dict[str, CellBuilder]:
    return {"fed whole": _feeder(deflate, False), "fed in 4 KiB chunks": _feeder(deflate, True)}


def _run(ctx: Context, family: str, deflate: Deflate) -> list[Result]:
    extra = {ZLIB: _zlib_alone} if deflate else None
    return run_cases(ctx, family, cases(deflate), extra=extra, variants=True)


def run_plain(ctx: Context) -> list[Result]:
    return _run(ctx, "parse", None)


def run_deflate(ctx: Context) -> list[Result]:
    return _run(ctx, "deflate-parse", "default")
