"""The reader's fast path: ``scan_messages`` (RFC 6455 §5.2, §5.3, §8.1).

``scan_messages(buf, pos, mask_bit, limit, out)`` turns a run of *simple*
frames (FIN set, no RSV bits, text or binary, the expected mask bit, a
payload within ``limit`` and wholly in ``buf``, valid UTF-8 for text) into
whole-message events appended to ``out``, stops without raising at the
first frame that is anything else, and returns the offset after the last
frame it took. Both backends are checked: the pure ``_scan_py`` and the
compiled ``_speedups`` (skipped when not built, unless
``WSPROTO6455_REQUIRE_SPEEDUPS=1``, which turns the skip into a failure).

Sections:

1. unit tests of every stop condition and of what is taken, both backends;
2. a differential test: compiled, pure and an independent reference written
   here from the contract, on random streams;
3. reader equivalence: a ``Connection`` gives the same events and state with
   the scanner as with a scanner that takes nothing (the general path alone);
4. early stop: events scanned but not yet yielded survive a caller that
   stops iterating ``events()``.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from wsproto6455 import reader as reader_module
from wsproto6455 import Connection, ConnectionState, ConnectionType, _scan_py
from wsproto6455.events import (BytesMessage, CloseConnection, Event, Message, Ping, Pong,
                                TextMessage)

from speedups_helpers import available_compiled, compiled
from frame_helpers import (BINARY, CLOSE, CONT, PING, PONG, RFC_MASK, ROLE_IDS, ROLES, RSV1,
                           RSV2, RSV3, SERVER, TEXT, ZERO_MASK, close_payload, collected,
                           connection, feed, frame_from, merge_messages, message_frames,
                           split_at, unconsumed, wrongly_masked_from, xor_mask)

# The contract's five arguments; the reader may pass more (an optional
# ``inflate`` hook), which the stand-ins below accept and forward.
Scan = Callable[..., int]

BIG = sys.maxsize  # "no limit", as the reader passes it
MASK_BITS = [0x80, 0]  # 0x80: we are a server, frames must be masked
MASK_IDS = ["masked", "unmasked"]
mask_param = pytest.mark.parametrize("mask_bit", MASK_BITS, ids=MASK_IDS)
KEY = b"\x9b\x01\xff\x5a"  # no zero byte: masking is visible in every position


# --------------------------------------------------------------------------
# Backends (the skip/fail rule of tests/test_backend.py, copied)
# --------------------------------------------------------------------------


def _compiled_scan() -> Scan:
    """The compiled scanner; skip without it, or fail if CI requires it."""
    fn: Scan = compiled("scan_messages")
    return fn


def both_scanners() -> List[Scan]:
    """Pure, plus compiled when built (a failure if CI requires it)."""
    return [_scan_py.scan_messages, *(m.scan_messages for m in available_compiled())]


@pytest.fixture(params=["pure", "compiled"])
def scan(request: pytest.FixtureRequest) -> Scan:
    if request.param == "pure":
        return _scan_py.scan_messages
    return _compiled_scan()


def take_nothing(buf: bytes, pos: int, mask_bit: int, limit: int, out: List[Event],
                 *more: object) -> int:
    """A scanner that never takes a frame: the reader's general path alone."""
    return pos


class FunctionScanner:
    """The reader's ``Scanner`` interface on a ``scan_messages``-like function:
    whole frames only, so a frame still arriving is left to the general path."""

    busy = False
    held = 0

    def __init__(self, fn: Scan, mask_bit: int, limit: int, whole: bool,
                 inflate: Optional[Callable[[bytes], bytes]] = None) -> None:
        self.fn, self.mask_bit, self.limit, self.inflate = fn, mask_bit, limit, inflate

    def scan(self, buf: bytes, pos: int, out: List[Event]) -> int:
        return self.fn(buf, pos, self.mask_bit, self.limit, out, self.inflate)

    def reset(self) -> None:
        pass


def use_scan(scanner: Union[Scan, type]) -> Any:
    """Make ``scanner`` the reader's fast path: a ``Scanner`` class, or a
    ``scan_messages``-like function (then wrapped in a FunctionScanner)."""
    factory = scanner if isinstance(scanner, type) else functools.partial(FunctionScanner, scanner)
    return mock.patch.object(reader_module, "Scanner", factory)


def both_scanner_classes() -> List[type]:
    """The Scanner classes: pure, plus compiled when built."""
    return [_scan_py.Scanner, *(m.Scanner for m in available_compiled())]


class Spy:
    """Wraps a scanner and records how many events each call took."""

    def __init__(self, scanner: Scan) -> None:
        self.scanner = scanner
        self.taken: List[int] = []

    def __call__(self, buf: bytes, pos: int, mask_bit: int, limit: int, out: List[Event],
                 *more: object) -> int:
        before = len(out)
        try:
            return self.scanner(buf, pos, mask_bit, limit, out, *more)
        finally:  # also when the inflate hook raises after taking frames
            self.taken.append(len(out) - before)


# --------------------------------------------------------------------------
# Frame building and the independent reference
# --------------------------------------------------------------------------


def raw_frame(first: int, payload: bytes = b"", *, key: Optional[bytes] = None,
              width: Optional[int] = None, length: Optional[int] = None) -> bytes:
    """A frame with first byte ``first``; the length goes in the 7-, 16- or
    64-bit field (``width``; default the shortest), ``length`` overrides it;
    masked with ``key`` if given."""
    n = len(payload) if length is None else length
    if width is None:
        width = 7 if n < 126 else 16 if n < 65536 else 64
    mask = 0x80 if key is not None else 0
    if width == 7:
        head = bytes([first, mask | n])
    elif width == 16:
        head = bytes([first, mask | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, mask | 127]) + n.to_bytes(8, "big")
    return head + payload if key is None else head + key + xor_mask(payload, key)


def simple(first: int, payload: bytes, mask_bit: int, key: bytes = KEY,
           width: Optional[int] = None) -> bytes:
    """A frame masked as ``mask_bit`` requires."""
    return raw_frame(first, payload, key=key if mask_bit else None, width=width)


def wrong_way(first: int, payload: bytes, mask_bit: int) -> bytes:
    """A frame masked the other way (RFC 6455 §5.1 violation)."""
    return raw_frame(first, payload, key=None if mask_bit else KEY)


def message(first: int, payload: bytes) -> Event:
    """The event a simple frame with this first byte and payload makes."""
    return TextMessage(payload.decode("utf-8")) if first == 0x81 else BytesMessage(payload)


_CHARS = ["a", "é", "€", "😀", "ß", "中", "\U0010ffff", "\x7f"]


def text_of_size(n: int, start: int = 0) -> bytes:
    """Valid UTF-8 of exactly ``n`` bytes, mostly multi-byte characters."""
    out = bytearray()
    i = start
    while True:
        char = _CHARS[i % len(_CHARS)].encode()
        i += 1
        if len(out) + len(char) > n:
            break
        out += char
    return bytes(out + b"a" * (n - len(out)))


def reference_scan(buf: bytes, pos: int, mask_bit: int, limit: int) -> Tuple[int, List[Event]]:
    """The contract, field by field (RFC 6455 §5.2), independent of both backends."""
    events: List[Event] = []
    while True:
        head = buf[pos:pos + 2]
        if len(head) < 2:
            break
        fin, rsv, opcode = head[0] >> 7, (head[0] >> 4) & 0x7, head[0] & 0xF
        masked, code = head[1] >> 7, head[1] & 0x7F
        width = 2 if code == 126 else 8 if code == 127 else 0
        extended = buf[pos + 2:pos + 2 + width]
        if len(extended) < width:
            break
        length = int.from_bytes(extended, "big") if width else code
        if length >= 1 << 63:  # "the most significant bit MUST be 0"
            break
        if not (fin and not rsv and opcode in (TEXT, BINARY)):
            break
        if masked != (1 if mask_bit == 0x80 else 0) or length > limit:
            break
        key_at = pos + 2 + width
        body = key_at + 4 * masked
        if body + length > len(buf):
            break
        payload = buf[body:body + length]
        if masked:
            payload = xor_mask(payload, buf[key_at:body])
        if opcode == TEXT:
            try:
                events.append(TextMessage(payload.decode("utf-8", "strict"), True, True))
            except UnicodeDecodeError:
                break
        else:
            events.append(BytesMessage(payload, True, True))
        pos = body + length
    return pos, events


def describe(events: Sequence[object]) -> List[Tuple[object, ...]]:
    """Everything that must match: exact types, data and both flags."""
    return [(type(e), type(e.data), e.data, e.frame_finished, e.message_finished)
            if isinstance(e, Message) else (type(e), e) for e in events]


def run(scan: Scan, buf: bytes, pos: int = 0, mask_bit: int = 0x80,
        limit: int = BIG) -> Tuple[int, List[Event]]:
    out: List[Event] = []
    end = scan(buf, pos, mask_bit, limit, out)
    return end, out


def assert_takes(scan: Scan, buf: bytes, expected: Sequence[Event], *, pos: int = 0,
                 end: Optional[int] = None, mask_bit: int = 0x80, limit: int = BIG) -> None:
    """``scan`` takes ``expected`` and stops at ``end`` (default: all of ``buf``)."""
    got_end, got = run(scan, buf, pos, mask_bit, limit)
    assert got_end == (len(buf) if end is None else end)
    assert describe(got) == describe(expected)
    assert reference_scan(buf, pos, mask_bit, limit) == (got_end, list(expected))


def assert_stops(scan: Scan, stopper: bytes, mask_bit: int, limit: int = BIG) -> None:
    """``stopper`` is not taken, alone, after a good frame, or after junk at ``pos``."""
    assert run(scan, stopper, 0, mask_bit, limit) == (0, [])
    good = simple(0x81, b"", mask_bit)  # empty: taken under any limit
    assert_takes(scan, good + stopper, [TextMessage("")], end=len(good),
                 mask_bit=mask_bit, limit=limit)
    junk = b"\x00\x00\x00"
    assert run(scan, junk + stopper, len(junk), mask_bit, limit) == (len(junk), [])
    # The frame after the stopper is never reached.
    assert run(scan, stopper + good, 0, mask_bit, limit) == (0, [])


# --------------------------------------------------------------------------
# 1. Unit tests, both backends
# --------------------------------------------------------------------------


@mask_param
class TestTaken:
    """Simple frames become whole-message events (frame_finished=message_finished=True)."""

    @pytest.mark.parametrize("first", [0x81, 0x82], ids=["text", "binary"])
    @pytest.mark.parametrize("payload", [b"Hello", "κόσμε 😀".encode(), b"x" * 125])
    def test_one_frame(self, scan: Scan, mask_bit: int, first: int, payload: bytes) -> None:
        assert_takes(scan, simple(first, payload, mask_bit), [message(first, payload)],
                     mask_bit=mask_bit)

    def test_rfc_examples(self, scan: Scan, mask_bit: int) -> None:
        """RFC 6455 §5.7: the single-frame "Hello" examples, unmasked and masked."""
        if mask_bit:
            data = bytes.fromhex("8185") + RFC_MASK + bytes.fromhex("7f9f4d5158")
        else:
            data = bytes.fromhex("810548656c6c6f")
        assert_takes(scan, data, [TextMessage("Hello")], mask_bit=mask_bit)

    @pytest.mark.parametrize("first", [0x81, 0x82], ids=["text", "binary"])
    def test_empty_payloads(self, scan: Scan, mask_bit: int, first: int) -> None:
        data = simple(first, b"", mask_bit) * 3
        assert_takes(scan, data, [message(first, b"")] * 3, mask_bit=mask_bit)

    @pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536])
    @pytest.mark.parametrize("first", [0x81, 0x82], ids=["text", "binary"])
    def test_length_encodings(self, scan: Scan, mask_bit: int, first: int, size: int) -> None:
        """§5.2: 7-bit up to 125, 16-bit up to 65535, 64-bit beyond."""
        payload = text_of_size(size)
        data = simple(first, payload, mask_bit)
        assert len(data) - size == (2 if size < 126 else 4 if size < 65536 else 10) + mask_bit // 32
        assert_takes(scan, data, [message(first, payload)], mask_bit=mask_bit)

    @pytest.mark.parametrize("width", [16, 64])
    @pytest.mark.parametrize("size", [0, 5, 125])
    def test_longer_length_fields_than_needed(self, scan: Scan, mask_bit: int, width: int,
                                              size: int) -> None:
        """The contract takes any of the three encodings, not only the shortest."""
        payload = text_of_size(size)
        data = simple(0x81, payload, mask_bit, width=width)
        assert_takes(scan, data + data, [message(0x81, payload)] * 2, mask_bit=mask_bit)

    @pytest.mark.parametrize("size", [2046, 2047, 2048, 2049, 2050, 4096])
    def test_text_around_the_stack_buffer(self, scan: Scan, mask_bit: int, size: int) -> None:
        """Compiled: masked text up to 2048 bytes is unmasked on the stack, above on the heap."""
        for start in range(4):
            payload = text_of_size(size, start)
            assert_takes(scan, simple(0x81, payload, mask_bit), [message(0x81, payload)],
                         mask_bit=mask_bit)

    @pytest.mark.parametrize("char", ["é", "€", "😀"])
    @pytest.mark.parametrize("boundary", [2048, 2049])
    def test_code_point_straddling_2048(self, scan: Scan, mask_bit: int, char: str,
                                        boundary: int) -> None:
        encoded = char.encode()
        for before in range(1, len(encoded)):  # the code point spans the boundary
            for tail in (0, 1, 7):
                payload = b"a" * (boundary - before) + encoded + b"b" * tail
                for key in (KEY, RFC_MASK, ZERO_MASK):
                    data = simple(0x81, payload, mask_bit, key=key)
                    assert_takes(scan, data, [message(0x81, payload)], mask_bit=mask_bit)
                # Cut inside the code point: invalid, not taken.
                cut = payload[:boundary - before + 1]
                assert run(scan, simple(0x81, cut, mask_bit), 0, mask_bit) == (0, [])

    def test_masking_key_phase(self, scan: Scan, mask_bit: int) -> None:
        """§5.3: octet i is XORed with key octet i MOD 4, for every length."""
        for size in range(0, 41):
            payload = bytes((7 * i + 3) & 0xFF for i in range(size))
            assert_takes(scan, simple(0x82, payload, mask_bit), [BytesMessage(payload)],
                         mask_bit=mask_bit)
            text = text_of_size(size, size)
            assert_takes(scan, simple(0x81, text, mask_bit), [message(0x81, text)],
                         mask_bit=mask_bit)

    def test_run_of_frames(self, scan: Scan, mask_bit: int) -> None:
        payloads = [(0x81, b"one"), (0x82, b"\x00\xff"), (0x81, b""), (0x82, bytes(300)),
                    (0x81, text_of_size(3000)), (0x82, b"")]
        data = b"".join(simple(f, p, mask_bit) for f, p in payloads)
        assert_takes(scan, data, [message(f, p) for f, p in payloads], mask_bit=mask_bit)

    def test_nonzero_start(self, scan: Scan, mask_bit: int) -> None:
        """Scanning starts at ``pos``: what lies before it is never looked at."""
        prefix = b"\xff\x00" + simple(0x81, b"skipped", mask_bit)
        data = prefix + simple(0x82, b"x", mask_bit) + simple(0x81, b"y", mask_bit)
        assert_takes(scan, data, [BytesMessage(b"x"), TextMessage("y")], pos=len(prefix),
                     mask_bit=mask_bit)
        inner = len(prefix) - len(simple(0x81, b"skipped", mask_bit))
        assert_takes(scan, data, [TextMessage("skipped"), BytesMessage(b"x"), TextMessage("y")],
                     pos=inner, mask_bit=mask_bit)

    @pytest.mark.parametrize("extra", [0, 1, 2, 100])
    def test_start_at_or_past_the_end(self, scan: Scan, mask_bit: int, extra: int) -> None:
        data = simple(0x81, b"abc", mask_bit)
        assert run(scan, data, len(data) + extra, mask_bit) == (len(data) + extra, [])
        assert run(scan, b"", extra, mask_bit) == (extra, [])

    def test_existing_items_in_out_are_kept(self, scan: Scan, mask_bit: int) -> None:
        """Events are appended to the caller's list, in place."""
        before: List[Event] = [Ping(b"a"), TextMessage("b", True, False)]
        out = list(before)
        data = simple(0x81, b"c", mask_bit) + simple(0x82, b"d", mask_bit)
        assert scan(data, 0, mask_bit, BIG, out) == len(data)
        assert out[0] is before[0] and out[1] is before[1]
        assert describe(out) == describe([*before, TextMessage("c"), BytesMessage(b"d")])
        # Nothing taken: the list is left alone.
        assert scan(b"\x88\x00", 0, mask_bit, BIG, out) == 0
        assert len(out) == 4

    @pytest.mark.parametrize("size", [1, 2, 125, 126, 65535, 65536])
    @pytest.mark.parametrize("first", [0x81, 0x82], ids=["text", "binary"])
    def test_limit_is_inclusive(self, scan: Scan, mask_bit: int, first: int, size: int) -> None:
        """A payload of exactly ``limit`` bytes is taken; one byte more is not."""
        payload = text_of_size(size)
        data = simple(first, payload, mask_bit)
        assert_takes(scan, data, [message(first, payload)], mask_bit=mask_bit, limit=size)
        assert_stops(scan, data, mask_bit, limit=size - 1)

    def test_limit_zero_takes_only_empty_payloads(self, scan: Scan, mask_bit: int) -> None:
        data = simple(0x81, b"", mask_bit) + simple(0x82, b"", mask_bit)
        stop = simple(0x82, b"x", mask_bit)
        assert_takes(scan, data + stop + data, [TextMessage(""), BytesMessage(b"")],
                     end=len(data), mask_bit=mask_bit, limit=0)

    def test_limit_applies_to_each_frame(self, scan: Scan, mask_bit: int) -> None:
        sizes = [5, 3, 5, 6, 1]
        data = b"".join(simple(0x82, bytes(n), mask_bit) for n in sizes)
        end = sum(len(simple(0x82, bytes(n), mask_bit)) for n in sizes[:3])
        assert_takes(scan, data, [BytesMessage(bytes(n)) for n in sizes[:3]], end=end,
                     mask_bit=mask_bit, limit=5)


# Opcode and header bits that stop the scan (the general path handles them).
STOP_FIRST_BYTES = (
    [pytest.param(0x80 | op, id=f"control-{op:#x}") for op in (CLOSE, PING, PONG)]
    + [pytest.param(0x80 | CONT, id="continuation-fin"), pytest.param(CONT, id="continuation")]
    + [pytest.param(op, id=f"no-fin-{op:#x}") for op in (TEXT, BINARY)]
    + [pytest.param(0x80 | rsv | op, id=f"rsv{rsv:#x}-{op:#x}")
       for rsv in (RSV1, RSV2, RSV3, RSV1 | RSV2 | RSV3) for op in (TEXT, BINARY)]
    + [pytest.param(0x80 | op, id=f"reserved-{op:#x}")
       for op in (0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF)]
    + [pytest.param(0x80 | RSV1 | PING, id="rsv1-ping"), pytest.param(0x00, id="zero"),
       pytest.param(0xFF, id="all-ones")]
)

# Payloads that are not UTF-8 (RFC 3629; RFC 6455 §8.1); the id says why.
INVALID_UTF8 = [
    pytest.param(b"\xed\xa0\x80", id="lone-surrogate-D800"),
    pytest.param(b"a\xed\xbf\xbfb", id="lone-surrogate-DFFF"),
    pytest.param(b"\xed\xa0\xbd\xed\xb8\x80", id="surrogate-pair-cesu-8"),
    pytest.param(b"ok\xe2\x82", id="truncated-3-byte"),
    pytest.param(b"\xf0\x9f\x98", id="truncated-4-byte"),
    pytest.param(b"\xc2", id="truncated-2-byte"),
    pytest.param(b"\xc0\x80", id="overlong-nul"),
    pytest.param(b"\xe0\x80\xaf", id="overlong-3-byte"),
    pytest.param(b"\xf0\x8f\xbf\xbf", id="overlong-4-byte"),
    pytest.param(b"\xf4\x90\x80\x80", id="above-10FFFF"),
    pytest.param(b"\xf5\x80\x80\x80", id="lead-F5"),
    pytest.param(b"\x80", id="lone-continuation"),
    pytest.param(b"\xff\xfe", id="ff-fe"),
    pytest.param(b"\xc2A", id="interrupted"),
    pytest.param(b"a" * 2047 + b"\xed\xa0\x80", id="surrogate-straddling-2048"),
    pytest.param(b"a" * 2048 + b"\xe2\x82", id="truncated-at-2050"),
    pytest.param(b"a" * 5000 + b"\xc0\xaf" + b"a" * 100, id="heap-overlong"),
    pytest.param("é".encode() * 1100 + b"\xf4\x90\x80\x80", id="heap-above-10FFFF"),
]


@mask_param
class TestStops:
    """The scan stops, without raising, at the first frame it does not take."""

    @pytest.mark.parametrize("first", STOP_FIRST_BYTES)
    def test_first_byte(self, scan: Scan, mask_bit: int, first: int) -> None:
        for payload in (b"", b"xy"):
            assert_stops(scan, simple(first, payload, mask_bit), mask_bit)

    @pytest.mark.parametrize("first", [0x81, 0x82], ids=["text", "binary"])
    @pytest.mark.parametrize("size", [0, 3, 126, 65536])
    def test_wrong_mask_bit(self, scan: Scan, mask_bit: int, first: int, size: int) -> None:
        """§5.1: a server takes only masked frames, a client only unmasked ones."""
        assert_stops(scan, wrong_way(first, text_of_size(size), mask_bit), mask_bit)

    @pytest.mark.parametrize("payload", INVALID_UTF8)
    def test_invalid_utf8(self, scan: Scan, mask_bit: int, payload: bytes) -> None:
        """§8.1: text must be valid UTF-8; the same bytes as binary are taken."""
        with pytest.raises(UnicodeDecodeError):
            payload.decode("utf-8")
        for key in (KEY, ZERO_MASK):
            assert_stops(scan, simple(0x81, payload, mask_bit, key=key), mask_bit)
            data = simple(0x82, payload, mask_bit, key=key)
            assert_takes(scan, data, [BytesMessage(payload)], mask_bit=mask_bit)

    @pytest.mark.parametrize("field", [
        pytest.param(b"\x80" + bytes(7), id="2**63"),
        pytest.param(b"\x80" + bytes(6) + b"\x05", id="2**63+5"),
        pytest.param(b"\xff" * 8, id="all-ones"),
    ])
    @pytest.mark.parametrize("first", [0x81, 0x82], ids=["text", "binary"])
    def test_64_bit_length_with_top_bit_set(self, scan: Scan, mask_bit: int, field: bytes,
                                            first: int) -> None:
        """§5.2: "the most significant bit MUST be 0" (the general path faults on it)."""
        header = bytes([first, mask_bit | 127]) + field
        for tail in (b"", KEY, KEY + bytes(64)):
            assert_stops(scan, header + tail, mask_bit)

    @pytest.mark.parametrize("length", [1 << 62, (1 << 63) - 1, 65536 * 3])
    def test_64_bit_length_beyond_the_buffer(self, scan: Scan, mask_bit: int,
                                             length: int) -> None:
        """A length within the limit but past the end of ``buf`` is not taken
        (and nothing is allocated for it)."""
        header = bytes([0x82, mask_bit | 127]) + length.to_bytes(8, "big")
        assert_stops(scan, header + (KEY if mask_bit else b"") + bytes(100), mask_bit)

    @pytest.mark.parametrize("frame_bytes", [
        pytest.param((0x81, b"Hello", None), id="text"),
        pytest.param((0x82, b"\x00\x01\x02", None), id="binary"),
        pytest.param((0x82, b"", None), id="empty"),
        pytest.param((0x81, "é€😀".encode(), None), id="multibyte"),
        pytest.param((0x81, text_of_size(130), 16), id="16-bit"),
        pytest.param((0x82, b"abcdef", 64), id="64-bit"),
        pytest.param((0x81, text_of_size(125), None), id="125"),
    ])
    def test_truncated_at_every_offset(self, scan: Scan, mask_bit: int,
                                       frame_bytes: Tuple[int, bytes, Optional[int]]) -> None:
        """A frame is taken only when its header, key and payload are all in ``buf``."""
        first, payload, width = frame_bytes
        data = simple(first, payload, mask_bit, width=width)
        good = simple(0x82, b"g", mask_bit)
        for cut in range(len(data)):
            assert run(scan, data[:cut], 0, mask_bit) == (0, [])
            assert_takes(scan, good + data[:cut], [BytesMessage(b"g")], end=len(good),
                         mask_bit=mask_bit)
        assert_takes(scan, good + data, [BytesMessage(b"g"), message(first, payload)],
                     mask_bit=mask_bit)

    @pytest.mark.parametrize("size", [65535, 65536])
    def test_truncated_large_frames(self, scan: Scan, mask_bit: int, size: int) -> None:
        for first in (0x81, 0x82):
            data = simple(first, text_of_size(size), mask_bit)
            cuts = [*range(16), size // 2, 2048, 2049, *range(len(data) - 5, len(data))]
            for cut in cuts:
                assert run(scan, data[:cut], 0, mask_bit) == (0, [])


# --------------------------------------------------------------------------
# 2. Differential: compiled == pure == reference on random streams
# --------------------------------------------------------------------------

EDGE_BYTES = [b"\xed\xa0\x80", b"\xed\x9f\xbf", b"\xc0\x80", b"\xc2", b"\xe2\x82",
              b"\xf0\x9f\x98", b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\x80", b"\xff",
              "😀".encode(), "€".encode(), b"a" * 9]

keys = st.binary(min_size=4, max_size=4)
widths = st.sampled_from([None, None, None, 16, 64])


@st.composite
def payloads(draw: st.DrawFn, text: bool) -> bytes:
    """Small payloads mostly, sometimes around the 125/126 and 2048/2049 edges."""
    size = draw(st.one_of(st.none(), st.none(),
                          st.sampled_from([0, 125, 126, 2047, 2048, 2049, 2050])))
    if size is not None:
        data = text_of_size(size, draw(st.integers(0, 7)))
        if not text:
            return data
        # Maybe spoil one spot (a surrogate or truncated sequence near the edge).
        if draw(st.booleans()) or size == 0:
            return data
        spot = draw(st.integers(0, size))
        return data[:spot] + draw(st.sampled_from(EDGE_BYTES)) + data[spot:]
    if text:
        if draw(st.integers(0, 3)):
            return draw(st.text(max_size=30)).encode()
        return b"".join(draw(st.lists(st.sampled_from(EDGE_BYTES), max_size=4)))
    return draw(st.binary(max_size=60))


@st.composite
def segments(draw: st.DrawFn, mask_bit: int) -> bytes:
    """A simple frame (often), one masked the wrong way, any other frame, or junk."""
    kind = draw(st.sampled_from(["simple"] * 6 + ["wrong-mask", "other", "junk"]))
    if kind == "junk":
        return draw(st.binary(max_size=12))
    if kind == "other":
        first = draw(st.integers(0, 255))
        key = draw(st.one_of(st.none(), keys))
        return raw_frame(first, draw(st.binary(max_size=20)), key=key, width=draw(widths))
    first = draw(st.sampled_from([0x81, 0x82]))
    payload = draw(payloads(first == 0x81))
    masked = bool(mask_bit) if kind == "simple" else not mask_bit
    return raw_frame(first, payload, key=draw(keys) if masked else None, width=draw(widths))


@st.composite
def scan_inputs(draw: st.DrawFn) -> Tuple[bytes, int, int, int]:
    """(buf, pos, mask_bit, limit): a mix of frames and junk, maybe cut short."""
    mask_bit = draw(st.sampled_from(MASK_BITS))
    parts = draw(st.lists(segments(mask_bit), min_size=1, max_size=8))
    bounds = [0]
    for part in parts:
        bounds.append(bounds[-1] + len(part))
    buf = b"".join(parts)
    if draw(st.integers(0, 3)) == 0:
        buf = buf[:draw(st.integers(0, len(buf)))]
    if draw(st.integers(0, 3)):
        pos = draw(st.sampled_from(bounds[:-1]))  # where a part starts (maybe past a cut)
    else:
        pos = draw(st.integers(0, len(buf) + 2))
    if draw(st.integers(0, 2)):
        limit = BIG
    else:
        limit = draw(st.one_of(st.integers(0, 130),
                               st.sampled_from([0, 125, 126, 2047, 2048, 2049, 65535])))
    return buf, pos, mask_bit, limit


@settings(max_examples=600, deadline=None)
@given(case=scan_inputs())
def test_backends_agree_with_reference(case: Tuple[bytes, int, int, int]) -> None:
    """Same offset and same events (types, data, flags) from every implementation;
    items already in ``out`` stay first and untouched."""
    buf, pos, mask_bit, limit = case
    expected_end, expected = reference_scan(buf, pos, mask_bit, limit)
    event(f"frames taken: {min(len(expected), 3)}{'+' if len(expected) >= 3 else ''}")
    sentinel = Pong(b"kept")
    for scan in both_scanners():
        out: List[Event] = [sentinel]
        end = scan(buf, pos, mask_bit, limit, out)
        assert out[0] is sentinel
        assert end == expected_end, scan
        assert describe(out[1:]) == describe(expected), scan


# --------------------------------------------------------------------------
# 3. The reader gives the same results with and without the fast path
# --------------------------------------------------------------------------


@st.composite
def simple_messages(draw: st.DrawFn, role: ConnectionType) -> bytes:
    """An unfragmented text or binary frame as the peer of ``role`` sends it."""
    if draw(st.booleans()):
        opcode, payload = TEXT, draw(st.text(max_size=40)).encode()
    else:
        opcode = BINARY
        payload = draw(st.one_of(st.binary(max_size=40), st.binary(min_size=120, max_size=400)))
    return frame_from(role, opcode, payload, mask=draw(keys))


def bad_frames(role: ConnectionType) -> st.SearchStrategy[bytes]:
    """Frames the general path must refuse (1002, 1007, or 1009 under a small limit)."""
    mask_bit = 0x80 if role is SERVER else 0
    return st.sampled_from([
        frame_from(role, 0x3, b"x"),  # reserved opcodes
        frame_from(role, 0xB, b""),
        frame_from(role, TEXT, b"ok\xed\xa0\x80"),  # lone surrogate
        frame_from(role, TEXT, b"ok\xe2\x82"),  # truncated code point
        frame_from(role, TEXT, b"\xe2", fin=False) + frame_from(role, CONT, b"A"),
        wrongly_masked_from(role, TEXT, b"hi"),
        wrongly_masked_from(role, BINARY, b""),
        frame_from(role, TEXT, b"x", rsv=RSV1),
        frame_from(role, BINARY, b"x", rsv=RSV3),
        frame_from(role, CONT, b"x"),
        frame_from(role, TEXT, b"a", fin=False) + frame_from(role, TEXT, b"b"),
        frame_from(role, PING, bytes(126)),
        frame_from(role, BINARY, bytes(500)),  # oversize under a small limit
        frame_from(role, TEXT, b"b" * 301),
        bytes([0x82, mask_bit | 127, 0x80]) + bytes(7),
    ])


@dataclass
class ReaderCase:
    role: ConnectionType
    options: dict[str, object]
    chunks: List[bytes]
    eof: bool


@st.composite
def reader_cases(draw: st.DrawFn) -> ReaderCase:
    role = draw(st.sampled_from(ROLES))
    parts = draw(st.lists(st.one_of(
        simple_messages(role),
        simple_messages(role),
        message_frames(role, 300).map(lambda made: made[0]),  # fragmented, with pings
        st.builds(lambda p: frame_from(role, PING, p), st.binary(max_size=10)),
        st.builds(lambda p: frame_from(role, PONG, p), st.binary(max_size=10)),
    ), min_size=1, max_size=10))
    if draw(st.integers(0, 2)) == 0:
        parts.insert(draw(st.integers(0, len(parts))), draw(bad_frames(role)))
    if draw(st.integers(0, 4)) == 0:
        parts.append(frame_from(role, CLOSE, close_payload(1000, b"bye")))
    data = b"".join(parts)
    if draw(st.integers(0, 5)) == 0:  # the last frame cut short
        data = data[:len(data) - draw(st.integers(1, 12))]
    options: dict[str, object] = {
        "whole_messages": draw(st.booleans()),
        "max_message_size": draw(st.sampled_from([1024 * 1024, 1024 * 1024, None, 300, 16, 0])),
        "max_frame_size": draw(st.sampled_from([None, None, None, 200, 8])),
    }
    # One read a third of the time, so that long runs reach the scanner whole.
    cuts = [] if draw(st.integers(0, 2)) == 0 else draw(st.lists(st.integers(0, len(data)),
                                                                max_size=6))
    return ReaderCase(role, options, split_at(data, cuts), draw(st.booleans()))


Outcome = Tuple[List[object], ConnectionState, int, int]


def run_connection(case: ReaderCase, scanner: Union[Scan, type]) -> Outcome:
    """Feed the chunks (then EOF if asked) with ``scanner`` as the reader's fast path."""
    results: List[object] = []
    with use_scan(scanner):
        conn = connection(case.role, **case.options)
        for chunk in [*case.chunks, *([None] if case.eof else [])]:
            try:
                results.append(describe(feed(conn, chunk)))
            except Exception as exc:  # compared too: both runs must raise alike
                results.append((type(exc), str(exc)))
                break
    return results, conn.state, unconsumed(conn), collected(conn)


@settings(max_examples=400, deadline=None)
@given(case=reader_cases())
def test_reader_same_with_and_without_fast_path(case: ReaderCase) -> None:
    """Events per read (types, data, flags, close codes) and the final state
    are the same whether the scanner takes the simple frames or the general
    path reads them frame by frame."""
    expected = run_connection(case, take_nothing)
    for scanner in both_scanners():
        spy = Spy(scanner)
        assert run_connection(case, spy) == expected, scanner
    for scanner_class in both_scanner_classes():
        assert run_connection(case, scanner_class) == expected, scanner_class
    event(f"events scanned: {min(sum(spy.taken), 3)}{'+' if sum(spy.taken) >= 3 else ''}")


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
@pytest.mark.parametrize("whole", [False, True], ids=["pieces", "whole"])
def test_reader_uses_the_scanner_between_messages(scan: Scan, role: ConnectionType,
                                                  whole: bool) -> None:
    """A run of simple frames is taken in one scan; a fragmented message is not
    scanned (its continuation would be a stopper anyway), and scanning resumes after it."""
    run1 = b"".join(frame_from(role, TEXT, str(i).encode(), mask=KEY) for i in range(3))
    fragmented = frame_from(role, BINARY, b"ab", fin=False) + frame_from(role, CONT, b"cd")
    run2 = frame_from(role, BINARY, b"z", mask=RFC_MASK) * 2
    spy = Spy(scan)
    with use_scan(spy):
        conn = connection(role, whole_messages=whole)
        events = feed(conn, run1 + fragmented + run2)
    pieces = ([BytesMessage(b"abcd")] if whole
              else [BytesMessage(b"ab", True, False), BytesMessage(b"cd", True, True)])
    assert describe(events) == describe(
        [TextMessage("0"), TextMessage("1"), TextMessage("2"), *pieces,
         BytesMessage(b"z"), BytesMessage(b"z")])
    assert spy.taken[0] == 3 and 2 in spy.taken
    assert sum(spy.taken) == 5


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
@pytest.mark.parametrize("whole", [False, True], ids=["pieces", "whole"])
@pytest.mark.parametrize("between", [b"", b"ping"], ids=["direct", "after-ping"])
def test_no_scan_inside_a_fragmented_message(scan: Scan, role: ConnectionType, whole: bool,
                                             between: bytes) -> None:
    """§5.4: a new data frame while a fragmented message is under way is a
    protocol error (1002), even one the scanner would take between messages."""
    data = frame_from(role, TEXT, b"a", fin=False)
    if between:
        data += frame_from(role, PING, between)
    data += frame_from(role, TEXT, b"b", mask=KEY) + frame_from(role, BINARY, b"c", mask=KEY)
    with use_scan(scan):
        conn = connection(role, whole_messages=whole)
        events = feed(conn, data)
    expected: List[Event] = [] if whole else [TextMessage("a", True, False)]
    if between:
        expected.append(Ping(between))
    assert describe(events[:-1]) == describe(expected)
    assert isinstance(events[-1], CloseConnection) and events[-1].code == 1002
    assert conn.state is ConnectionState.REMOTE_CLOSING


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
@pytest.mark.parametrize("first, payload, code", [
    pytest.param(0x81, b"ok\xed\xa0\x80", 1007, id="surrogate"),  # §8.1
    pytest.param(0x81, b"\xf0\x9f\x98", 1007, id="truncated-code-point"),
    pytest.param(0x83, b"x", 1002, id="reserved-opcode"),  # §5.2
    pytest.param(0xC1, b"x", 1002, id="rsv1-without-extension"),
    pytest.param(0x80, b"x", 1002, id="continuation-outside-message"),  # §5.4
])
def test_violation_after_a_scanned_run(scan: Scan, role: ConnectionType, first: int,
                                       payload: bytes, code: int) -> None:
    """Frames the scanner leaves are still judged by the general path: the run
    before comes out, then exactly one close with the RFC's code, nothing after."""
    mask_bit = 0x80 if role is SERVER else 0
    data = (simple(0x81, b"fine", mask_bit) + simple(0x82, b"too", mask_bit)
            + simple(first, payload, mask_bit) + simple(0x81, b"never", mask_bit))
    with use_scan(scan):
        conn = connection(role)
        events = feed(conn, data)
    assert describe(events[:2]) == describe([TextMessage("fine"), BytesMessage(b"too")])
    assert len(events) == 3
    assert isinstance(events[2], CloseConnection) and events[2].code == code
    assert conn.state is ConnectionState.REMOTE_CLOSING


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
def test_limit_left_to_the_general_path(scan: Scan, role: ConnectionType) -> None:
    """A frame over max_message_size / max_frame_size is not scanned: it gets 1009."""
    for options in ({"max_message_size": 4}, {"max_frame_size": 4},
                    {"max_message_size": 10, "max_frame_size": 4}):
        data = frame_from(role, BINARY, b"1234", mask=KEY) + frame_from(role, BINARY, b"12345")
        with use_scan(scan):
            conn = connection(role, **options)
            events = feed(conn, data)
        assert events[0] == BytesMessage(b"1234")
        assert isinstance(events[1], CloseConnection) and events[1].code == 1009
        assert len(events) == 2


# --------------------------------------------------------------------------
# 4. Early stop: scanned events wait for the next events() call
# --------------------------------------------------------------------------

FIVE: List[Event] = [TextMessage("one"), BytesMessage(b"two"), TextMessage("três"),
                     BytesMessage(b""), TextMessage("five 😀")]


def encode(role: ConnectionType, events: Sequence[Event], key: bytes = KEY) -> bytes:
    """The frames of whole messages, pings and pongs as the peer of ``role`` sends them."""
    out = b""
    for event in events:
        if isinstance(event, TextMessage):
            out += frame_from(role, TEXT, event.data.encode(), mask=key)
        elif isinstance(event, BytesMessage):
            out += frame_from(role, BINARY, event.data, mask=key)
        elif isinstance(event, Ping):
            out += frame_from(role, PING, event.payload, mask=key)
        else:
            assert isinstance(event, Pong)
            out += frame_from(role, PONG, event.payload, mask=key)
    return out


def take(conn: Connection, n: int) -> List[Event]:
    """Up to ``n`` events with ``next``, then drop the iterator unfinished."""
    iterator: Iterator[Event] = conn.events()
    taken: List[Event] = []
    for _ in range(n):
        try:
            taken.append(next(iterator))
        except StopIteration:
            break
    del iterator
    return taken


early_params = pytest.mark.parametrize("whole", [False, True], ids=["pieces", "whole"])


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
@early_params
class TestEarlyStop:
    """Events scanned in one go but not yet yielded are kept, in order."""

    def start(self, scan: Scan, role: ConnectionType, whole: bool) -> Tuple[Connection, Spy]:
        """A connection with ``scan`` (spied on) as its fast path, five messages fed."""
        spy = Spy(scan)
        with use_scan(spy):
            conn = connection(role, whole_messages=whole)
        conn.receive_data(encode(role, FIVE))
        return conn, spy

    def test_rest_comes_next_time(self, scan: Scan, role: ConnectionType, whole: bool) -> None:
        conn, spy = self.start(scan, role, whole)
        with use_scan(spy):
            first = take(conn, 2)
            assert spy.taken == [5]  # all five were scanned at once
            rest = list(conn.events())
        assert describe(first) == describe(FIVE[:2])
        assert describe(rest) == describe(FIVE[2:])
        assert conn.state is ConnectionState.OPEN

    def test_one_at_a_time(self, scan: Scan, role: ConnectionType, whole: bool) -> None:
        conn, spy = self.start(scan, role, whole)
        with use_scan(spy):
            got = [take(conn, 1) for _ in range(7)]
        assert describe(sum(got, [])) == describe(FIVE)
        assert got[5:] == [[], []]

    def test_more_data_in_between(self, scan: Scan, role: ConnectionType, whole: bool) -> None:
        conn, spy = self.start(scan, role, whole)
        later: List[Event] = [BytesMessage(b"six"), Ping(b"p"), TextMessage("seven")]
        with use_scan(spy):
            first = take(conn, 2)
            conn.receive_data(encode(role, later, key=RFC_MASK))
            second = take(conn, 4)
            conn.receive_data(encode(role, [TextMessage("eight")]))
            rest = list(conn.events())
        assert describe(first + second + rest) == describe([*FIVE, *later, TextMessage("eight")])

    def test_eof_after_an_early_stop(self, scan: Scan, role: ConnectionType, whole: bool) -> None:
        """§7.1.5: the 1006 close comes after every message already received."""
        conn, spy = self.start(scan, role, whole)
        with use_scan(spy):
            first = take(conn, 2)
            conn.receive_data(None)
            rest = list(conn.events())
        assert describe(first + rest) == describe([*FIVE, CloseConnection(1006)])
        assert conn.state is ConnectionState.CLOSED

    def test_violation_after_an_early_stop(self, scan: Scan, role: ConnectionType,
                                           whole: bool) -> None:
        """The fault behind the scanned run is reported after the run, once."""
        conn, spy = self.start(scan, role, whole)
        conn.receive_data(frame_from(role, 0x3, b"x") + encode(role, FIVE))
        with use_scan(spy):
            first = take(conn, 2)
            rest = list(conn.events())
        events = first + rest
        assert describe(events[:5]) == describe(FIVE)
        assert len(events) == 6
        assert isinstance(events[5], CloseConnection) and events[5].code == 1002
        assert conn.state is ConnectionState.REMOTE_CLOSING


@st.composite
def early_stop_cases(draw: st.DrawFn) -> Tuple[ConnectionType, bool, List[Event], List[bytes],
                                               List[int]]:
    role = draw(st.sampled_from(ROLES))
    events: List[Event] = draw(st.lists(st.one_of(
        st.builds(TextMessage, st.text(max_size=12)),
        st.builds(BytesMessage, st.binary(max_size=12)),
        st.builds(Ping, st.binary(max_size=4)),
    ), max_size=12))
    data = encode(role, events)
    chunks = split_at(data, draw(st.lists(st.integers(0, len(data)), max_size=4)))
    takes = draw(st.lists(st.integers(0, 4), min_size=len(chunks), max_size=len(chunks)))
    return role, draw(st.booleans()), events, chunks, takes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=early_stop_cases())
def test_early_stops_lose_nothing(case: Tuple[ConnectionType, bool, List[Event], List[bytes],
                                              List[int]]) -> None:
    """Any pattern of reads and partial iterations yields every event once, in order
    (frames split between reads come in pieces: compared after merging them)."""
    role, whole, expected, chunks, takes = case
    for scanner in [*both_scanners(), *both_scanner_classes()]:
        got: List[Event] = []
        with use_scan(scanner):
            conn = connection(role, whole_messages=whole)
            for chunk, n in zip(chunks, takes):
                conn.receive_data(chunk)
                got += take(conn, n)
            got += list(conn.events())
        assert describe(merge_messages(got)) == describe(expected), scanner


# --------------------------------------------------------------------------
# permessage-deflate: whole compressed messages through the inflate hook
# --------------------------------------------------------------------------


def _deflate_pair(**server_options: object) -> Tuple[Connection, Connection]:
    """A client and a server Connection with permessage-deflate agreed."""
    from wsproto6455.extensions import PerMessageDeflate

    client_ext, server_ext = PerMessageDeflate(), PerMessageDeflate()
    offer = client_ext.offer()
    assert isinstance(offer, str)
    response = server_ext.accept(offer)
    client_ext.finalize("" if response is True else str(response))
    client = Connection(ConnectionType.CLIENT, [client_ext])
    server = Connection(ConnectionType.SERVER, [server_ext], **server_options)  # type: ignore[arg-type]
    return client, server


def _corrupt_compressed_frame() -> bytes:
    """A masked, final text frame with RSV1 whose payload is not DEFLATE data."""
    payload = b"\xff\xff\xff\xff"
    return bytes((0x80 | RSV1 | TEXT, 0x80 | len(payload))) + KEY + xor_mask(payload, KEY)


DEFLATE_CASES: Dict[str, Tuple[Dict[str, Any], List[Union[str, bytes]], bytes]] = {
    # name: (server options, messages, trailing raw frame)
    "context takeover": ({}, ["héllo " * 20, b"\x00" * 300, "again " * 20, ""], b""),
    "corrupt after good": ({}, ["good " * 10, b"bytes"], _corrupt_compressed_frame()),
    "bomb over the limit": ({"max_message_size": 1000}, ["x" * 999, "y" * 5000], b""),
    "whole messages": ({"whole_messages": True}, ["a" * 100, b"b" * 100], b""),
}


@pytest.mark.parametrize("name", list(DEFLATE_CASES))
@pytest.mark.parametrize("chunked", [False, True], ids=["one read", "byte reads"])
def test_compressed_messages_same_with_and_without_fast_path(name: str, chunked: bool) -> None:
    """RFC 7692 §7.2.2: the inflate hook gives the general path's events:
    same messages (the decompressor's context carries over), same 1007 for
    corrupt data after the messages before it, same 1009 for a bomb."""
    options, messages, trailing = DEFLATE_CASES[name]
    client, _ = _deflate_pair(**options)
    stream = b"".join(client.send(TextMessage(m) if isinstance(m, str) else BytesMessage(m))
                      for m in messages) + trailing
    chunks = [stream[i:i + 1] for i in range(len(stream))] if chunked else [stream]

    def run(scanner: Scan) -> Tuple[List[Tuple[object, ...]], ConnectionState, List[int]]:
        seen: List[Event] = []
        with use_scan(scanner):
            _, server = _deflate_pair(**options)
            for chunk in chunks:
                server.receive_data(chunk)
                seen.extend(server.events())
        codes = [e.code for e in seen if isinstance(e, CloseConnection)]
        return describe(merge_messages(seen)), server.state, codes

    general = run(take_nothing)
    for scanner in both_scanners():
        spy = Spy(scanner)
        assert run(spy) == general
        if not chunked:
            assert sum(spy.taken) >= 1  # the hook really took compressed frames
    for scanner_class in both_scanner_classes():
        assert run(scanner_class) == general, scanner_class
    expected_close = {"corrupt after good": [1007], "bomb over the limit": [1009]}.get(name, [])
    assert general[2] == expected_close


# --------------------------------------------------------------------------
# 5. Scanner: a frame that arrives over several reads
# --------------------------------------------------------------------------
#
# The Scanner takes a simple frame whose header is here but whose payload is
# not, and continues it read by read: one event per piece (default) or one
# at the end (whole_messages), text decoded or validated fail-fast as the
# general path does. Checked against the general path (a scanner that takes
# nothing), on both backends.

scanner_class = pytest.mark.parametrize(
    "cls", [pytest.param("pure", id="pure"), pytest.param("compiled", id="compiled")])


def _scanner_class(name: str) -> type:
    return _scan_py.Scanner if name == "pure" else compiled("Scanner")


@st.composite
def long_text(draw: st.DrawFn) -> bytes:
    """Text around the kernels' buffer sizes, multi-byte characters anywhere,
    sometimes made invalid at a random place."""
    unit = draw(st.sampled_from(["a", "é", "€", "😀", "ab€"]))
    size = draw(st.sampled_from([1, 3, 2040, 2049, 2052, 4100, 9000]))
    payload = (unit * (size // len(unit.encode()) + 1)).encode()[:size]
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(payload)))
        payload = payload[:at] + draw(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc0\xaf",
                                                       b"\xf4\x90\x80\x80"])) + payload[at:]
    return payload


@st.composite
def long_frame_cases(draw: st.DrawFn) -> ReaderCase:
    role = draw(st.sampled_from(ROLES))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            parts.append(frame_from(role, TEXT, draw(long_text()), mask=draw(keys)))
        else:
            parts.append(frame_from(role, BINARY, draw(st.binary(min_size=1, max_size=50)) * 120,
                                    mask=draw(keys)))
    data = b"".join(parts)
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=12))
    options: dict[str, object] = {"whole_messages": draw(st.booleans()),
                                  "max_message_size": draw(st.sampled_from([None, 5000]))}
    return ReaderCase(role, options, split_at(data, cuts), draw(st.booleans()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=long_frame_cases())
def test_long_frames_over_many_reads_same_as_general_path(case: ReaderCase) -> None:
    """Per read: the same events (pieces split where the general path splits
    them, code points held back alike), the same 1007 at the same read, the
    same 1009 for a frame over the limit, the same final state."""
    expected = run_connection(case, take_nothing)
    for cls in both_scanner_classes():
        assert run_connection(case, cls) == expected, cls


@scanner_class
@pytest.mark.parametrize("mask_bit", MASK_BITS, ids=MASK_IDS)
class TestScannerPieces:
    def frame(self, payload: bytes, mask_bit: int, first: int = 0x81) -> bytes:
        return simple(first, payload, mask_bit)

    def test_header_only_starts_the_frame(self, cls: str, mask_bit: int) -> None:
        scanner = _scanner_class(cls)(mask_bit, BIG, False)
        data = self.frame(b"hello", mask_bit)
        out: List[Event] = []
        head = 2 + (4 if mask_bit else 0)
        assert scanner.scan(data[:head], 0, out) == head
        assert scanner.busy and out == []
        assert scanner.scan(data[head:head + 2], 0, out) == 2
        assert scanner.scan(data[head + 2:], 0, out) == 3
        assert not scanner.busy
        assert describe(out) == describe([TextMessage("he", False, False), TextMessage("llo")])

    def test_code_point_held_back(self, cls: str, mask_bit: int) -> None:
        scanner = _scanner_class(cls)(mask_bit, BIG, False)
        data = self.frame("a€b".encode(), mask_bit)
        cut = len(data) - 3  # inside the euro sign
        out: List[Event] = []
        assert scanner.scan(data[:cut], 0, out) == cut
        assert scanner.scan(data[cut:], 0, out) == 3
        assert describe(out) == describe([TextMessage("a", False, False), TextMessage("€b")])

    @pytest.mark.parametrize("bad", [b"\xff", b"\xed\xa0", b"\xf4\x90"], ids=["ff", "surrogate", "over"])
    def test_invalid_text_fails_before_the_rest_arrives(self, cls: str, mask_bit: int,
                                                        bad: bytes) -> None:
        """§8.1 fail-fast (Autobahn 6.4.3/6.4.4): 1007 on the read with the bad bytes."""
        for whole in (False, True):
            scanner = _scanner_class(cls)(mask_bit, BIG, whole)
            data = self.frame(b"ok" + bad + b"x" * 100, mask_bit)
            out: List[Event] = []
            with pytest.raises(reader_module.ProtocolFault) as caught:
                scanner.scan(data[:len(data) - 50], 0, out)
            assert caught.value.code == 1007
            assert not scanner.busy and scanner.held == 0

    def test_whole_collects_binary(self, cls: str, mask_bit: int) -> None:
        scanner = _scanner_class(cls)(mask_bit, BIG, True)
        payload = bytes(range(256)) * 40
        data = self.frame(payload, mask_bit, 0x82) + self.frame(b"next", mask_bit, 0x82)
        out: List[Event] = []
        pos, taken = 0, 0
        for size in (1, 2, 7, 4096, 4096, len(data)):
            chunk = data[taken:taken + size]
            used = scanner.scan(chunk, 0, out)
            assert used == len(chunk) or not scanner.busy
            taken += used
        assert describe(out) == describe([BytesMessage(payload), BytesMessage(b"next")])
        assert not scanner.busy and scanner.held == 0

    def test_limit_and_compressed_frames_are_left(self, cls: str, mask_bit: int) -> None:
        """Over the limit, or RSV1: the general path's (1009, or the inflater's)."""
        big = self.frame(b"x" * 300, mask_bit)
        scanner = _scanner_class(cls)(mask_bit, 200, False)
        out: List[Event] = []
        assert scanner.scan(big[:100], 0, out) == 0 and not scanner.busy
        compressed = self.frame(b"x" * 300, mask_bit, 0xC1)
        scanner = _scanner_class(cls)(mask_bit, BIG, False, lambda payload: payload)
        assert scanner.scan(compressed[:100], 0, out) == 0 and not scanner.busy
        assert out == []

    def test_reset_forgets_the_frame(self, cls: str, mask_bit: int) -> None:
        scanner = _scanner_class(cls)(mask_bit, BIG, True)
        data = self.frame(b"y" * 5000, mask_bit)
        scanner.scan(data[:3000], 0, [])
        assert scanner.busy and scanner.held > 0
        scanner.reset()
        assert not scanner.busy and scanner.held == 0
        out: List[Event] = []
        assert scanner.scan(self.frame(b"z", mask_bit), 0, out) > 0
        assert describe(out) == describe([TextMessage("z")])


def test_a_scan_stops_at_the_inflate_budget() -> None:
    """The scan stops once the messages it inflated reach INFLATE_BUDGET
    bytes, so a caller that stops taking events (the asyncio layer at
    max_queue) never holds more inflated messages than that plus one; small
    messages still go many to a call (issue 11, defect 2)."""
    client, _ = _deflate_pair()
    frames = [client.send(TextMessage(f"message {n} " * 20)) for n in range(3)]
    stream = b"".join(frames)
    inflated: List[bytes] = []
    size = [1]

    def inflate(payload: bytes) -> bytes:
        inflated.append(payload)
        return b"x" * size[0]

    for scan in both_scanners():
        size[0] = _scan_py.INFLATE_BUDGET  # each message fills the budget
        inflated.clear()
        out: List[Event] = []
        pos = scan(stream, 0, 0x80, BIG, out, inflate)
        assert (pos, len(out), len(inflated)) == (len(frames[0]), 1, 1), scan
        pos = scan(stream, pos, 0x80, BIG, out, inflate)
        assert (pos, len(out)) == (len(frames[0]) + len(frames[1]), 2), scan
        size[0] = 16  # small messages: the whole run in one call
        out.clear()
        assert scan(stream, 0, 0x80, BIG, out, inflate) == len(stream), scan
        assert len(out) == 3, scan
