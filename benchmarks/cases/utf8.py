"""UTF-8 validation of one whole message, ASCII and mixed, at each size."""

from __future__ import annotations

import codecs
import functools
from typing import Any, Callable

from ..harness import Result, run_rows
from ..payloads import ascii_text, mixed_text
from . import Context
from .kernels import PURE, SPEEDUPS, load, rows, speedups


def _validator(cls: Any) -> Callable[[bytes], Callable[[], object]]:
    """Ours: validate a whole message, then reset for the next one (as the
    reader reuses one validator per connection)."""

    def build(data: bytes) -> Callable[[], object]:
        validator = cls()
        validate, reset = validator.validate, validator.reset

        def call() -> bool:
            ok = bool(validate(data, True))
            reset()
            return ok

        assert call() is True, "valid UTF-8 refused"
        return call

    return build


def _incremental(data: bytes) -> Callable[[], object]:
    # wsproto decodes text through one incremental decoder per message.
    decoder = codecs.getincrementaldecoder("utf-8")()
    call = functools.partial(decoder.decode, data, True)
    call()
    return call


def _decode(data: bytes) -> Callable[[], object]:
    # websockets and aiohttp validate by decoding the whole message.
    call = functools.partial(data.decode, "utf-8")
    call()
    return call


def _wsaccel(data: bytes) -> Callable[[], object]:
    validator: Any = load("wsaccel.utf8validator", "Utf8Validator")

    def call() -> Any:
        return validator().validate(data)  # (valid, ends on a code point, ...)

    assert call()[0], "valid UTF-8 refused"
    return call


def run(ctx: Context) -> list[Result]:
    columns = {
        SPEEDUPS: lambda data: _validator(speedups("Utf8Validator"))(data),
        PURE: lambda data: _validator(load("wsproto6455._utf8_py", "Utf8Validator"))(data),
        "wsproto": _incremental,
        "bytes.decode": _decode,
        "wsaccel": _wsaccel,
    }
    results = []
    for case, text in (("ASCII", ascii_text), ("mixed", mixed_text)):
        payload = lambda size: text(size).encode()  # noqa: E731
        results += run_rows(rows("utf8", case, columns, payload), ctx.mode)
    return results
