"""Opening handshake (RFC 6455 §4), one new connection per call.

Server: parse a browser's request, build the 101. Client: build a request,
then validate the 101 (the response is computed from the request's key by
one shared helper, whose small cost is in every column alike).
"""

from __future__ import annotations

import functools

from .. import wire
from ..adapters import Deflate, Peer
from ..harness import Cell, Result
from . import Context
from .messages import CellBuilder, run_cases


def _server(peer: Peer, size: int) -> Cell:
    call = functools.partial(peer.accept, wire.request())
    assert call().startswith(b"HTTP/1.1 101"), "no 101"
    return Cell(peer.column, call)


def _client(peer: Peer, size: int) -> Cell:
    peer.connect()
    return Cell(peer.column, peer.connect)


def cases(deflate: Deflate = None) -> dict[str, CellBuilder]:
    return {"server: parse request, build 101": _server, "client: build request, check 101": _client}


def run(ctx: Context) -> list[Result]:
    return run_cases(ctx, "handshake", cases(), unit="handshakes/s", sizes=(0,))
