"""``server_frame``: the writer's kernel for a server's whole messages.

Both backends (``_frame_py`` and the compiled ``_speedups``) must build the
same bytes, which the independent parser in ``frame_helpers`` reads back as
one final, unmasked frame (RFC 6455 §5.2) with the minimal length encoding.
"""

from __future__ import annotations

from typing import Callable, Union

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frame_helpers import BINARY, TEXT, parse_frames
from speedups_helpers import compiled
from wsproto6455 import _frame_py

Payload = Union[str, bytes, bytearray, memoryview]
ServerFrame = Callable[[Payload], bytes]


def _compiled() -> ServerFrame:
    fn: ServerFrame = compiled("server_frame")
    return fn


@pytest.fixture(params=["pure", "compiled"])
def server_frame(request: pytest.FixtureRequest) -> ServerFrame:
    return _frame_py.server_frame if request.param == "pure" else _compiled()


def _header_size(n: int) -> int:
    return 2 if n < 126 else 4 if n < 65536 else 10


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_lengths_use_the_minimal_encoding(server_frame: ServerFrame, size: int) -> None:
    """RFC 6455 §5.2: 7-bit length up to 125, 16-bit up to 65535, else 64-bit."""
    data = bytes(range(256)) * (size // 256 + 1)
    out = server_frame(data[:size])
    assert len(out) == _header_size(size) + size
    (frame,) = parse_frames(out)
    assert (frame.fin, frame.rsv, frame.opcode, frame.mask) == (True, 0, BINARY, None)
    assert frame.payload == data[:size]


@pytest.mark.parametrize("text", ["", "ascii only", "héllo wörld", "日本語" * 50, "😀" * 40000])
def test_text_is_utf8(server_frame: ServerFrame, text: str) -> None:
    (frame,) = parse_frames(server_frame(text))
    assert (frame.fin, frame.opcode) == (True, TEXT)
    assert frame.payload == text.encode("utf-8")


def test_non_ascii_text_is_left_as_it_was(server_frame: ServerFrame) -> None:
    """The caller's string is not changed (nor given a cached UTF-8 copy)."""
    text = "ünïcödé " * 1000
    before = text.__sizeof__()
    server_frame(text)
    assert text.__sizeof__() == before


def test_lone_surrogate_is_refused(server_frame: ServerFrame) -> None:
    """A str that is not encodable as UTF-8 cannot become a text frame."""
    with pytest.raises(UnicodeEncodeError):
        server_frame("a\ud800b")


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_bytes_like_are_binary(server_frame: ServerFrame, kind: Callable[[bytes], Payload]) -> None:
    (frame,) = parse_frames(server_frame(kind(b"\x00\xffpayload")))
    assert (frame.opcode, frame.payload) == (BINARY, b"\x00\xffpayload")


def test_non_contiguous_view_in_logical_order(server_frame: ServerFrame) -> None:
    view = memoryview(bytes(range(20)))[::2]
    (frame,) = parse_frames(server_frame(view))
    assert frame.payload == bytes(range(0, 20, 2))


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_backends_agree(data: Union[str, bytes]) -> None:
    assert _frame_py.server_frame(data) == _compiled()(data)
