"""Masking kernels (RFC 6455 §5.3) at each size, checked against the RFC."""

from __future__ import annotations

import functools
from typing import Any, Callable

from .. import wire
from ..harness import Result, run_rows
from . import Context
from .kernels import PURE, SPEEDUPS, load, rows, speedups

KEY = b"\x37\xfa\x21\x3d"


def _returning(kernel: Any) -> Callable[[bytes], Callable[[], object]]:
    """A kernel ``f(data, key) -> masked``: check it once, then time it."""

    def build(data: bytes) -> Callable[[], object]:
        call = functools.partial(kernel, data, KEY)
        assert bytes(call()) == wire.xor_mask(data, KEY), "wrong mask output"
        return call

    return build


def _in_place(kernel: Any) -> Callable[[bytes], Callable[[], object]]:
    """aiohttp's kernels mask a bytearray in place; each call flips it back."""

    def build(data: bytes) -> Callable[[], object]:
        buffer = bytearray(data)
        call = functools.partial(kernel, KEY, buffer)
        call()
        assert buffer == wire.xor_mask(data, KEY), "wrong mask output"
        call()
        return call

    return build


def _wsproto(data: bytes) -> Callable[[], object]:
    # wsproto builds one masker per frame: that is its per-frame cost.
    masker = load("wsproto.frame_protocol", "XorMaskerSimple")
    return _returning(lambda d, k: masker(k).process(d))(data)  # type: ignore[operator]


def run(ctx: Context) -> list[Result]:
    columns = {
        SPEEDUPS: lambda data: _returning(speedups("apply_mask"))(data),
        PURE: lambda data: _returning(load("wsproto6455._mask_py", "apply_mask"))(data),
        "wsproto": _wsproto,
        "websockets": lambda data: _returning(load("websockets.speedups", "apply_mask"))(data),
        "aiohttp": lambda data: _in_place(load("aiohttp._websocket.mask", "_websocket_mask_cython"))(data),
        "aiohttp (py)": lambda data: _in_place(load("aiohttp._websocket.helpers", "_websocket_mask_python"))(data),
    }
    payload = lambda size: wire.xor_mask(b"\x00" * size, b"abcd")  # noqa: E731 - any bytes do
    return run_rows(rows("masking", "mask", columns, payload), ctx.mode)
