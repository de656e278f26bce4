"""Text messages out: server to client (unmasked) and client to server
(masked with a fresh random key per frame, as RFC 6455 §5.3 requires)."""

from __future__ import annotations

import itertools
import zlib

from ..adapters import Deflate, Peer
from ..harness import Cell, Result
from ..payloads import texts
from . import Context
from .messages import ZLIB, CellBuilder, run_cases

def _sender(deflate: Deflate, client: bool) -> CellBuilder:
    def build(peer: Peer, size: int) -> Cell:
        conn = peer.open_client(deflate) if client else peer.open_server(deflate)
        next_text = itertools.cycle(texts(size)).__next__
        send = conn.send

        def call() -> object:
            return send(next_text())

        out = call()
        assert out, "nothing serialized"
        return Cell(peer.column, call, nbytes=size)

    return build


def _zlib_alone(size: int) -> Cell:
    """The floor for deflate: compressing the same messages with zlib's
    defaults and nothing else (no framing, no masking)."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    compress, flush = compressor.compress, compressor.flush
    next_body = itertools.cycle([text.encode() for text in texts(size)]).__next__

    def call() -> bytes:
        return compress(next_body()) + flush(zlib.Z_SYNC_FLUSH)

    call()
    return Cell(ZLIB, call, nbytes=size)


def cases(deflate: Deflate) -> dict[str, CellBuilder]:
    return {"server to client": _sender(deflate, False), "client to server (masked)": _sender(deflate, True)}


def _run(ctx: Context, family: str, deflate: Deflate) -> list[Result]:
    return run_cases(ctx, family, cases(deflate), extra={ZLIB: _zlib_alone} if deflate else None)


def run_plain(ctx: Context) -> list[Result]:
    return _run(ctx, "serialize", None)


def run_deflate(ctx: Context) -> list[Result]:
    return _run(ctx, "deflate-serialize", "default")
