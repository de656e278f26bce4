"""Masking (RFC 6455 §5.3) and UTF-8 validation (RFC 3629, RFC 6455 §8.1) kernels.

Every test body runs against both backends: the pure-Python modules and the
compiled ``wsproto6455._speedups``. When the extension is missing the
compiled leg is skipped, unless ``WSPROTO6455_REQUIRE_SPEEDUPS=1`` is set
(as in CI), which turns the skip into a failure so a broken build cannot go
unnoticed. Differential tests at the end compare the two directly.
"""

from __future__ import annotations

import array
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Callable, Protocol

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speedups_helpers import available_compiled, require_compiled, speedups_required
from wsproto6455 import _mask_py, _utf8_py

ROOT = Path(__file__).resolve().parent.parent

Buffer = bytes | bytearray | memoryview
MaskFn = Callable[[Buffer, Buffer], bytes]


class Validator(Protocol):
    def validate(self, data: Buffer, final: bool = False) -> bool: ...

    def reset(self) -> None: ...


@pytest.fixture(params=["pure", "compiled"])
def apply_mask(request: pytest.FixtureRequest) -> MaskFn:
    if request.param == "pure":
        return _mask_py.apply_mask
    fn: MaskFn = require_compiled().apply_mask
    return fn


@pytest.fixture(params=["pure", "compiled"])
def make_validator(request: pytest.FixtureRequest) -> Callable[[], Validator]:
    if request.param == "pure":
        return _utf8_py.Utf8Validator
    cls: Callable[[], Validator] = require_compiled().Utf8Validator
    return cls


def both_masks() -> list[MaskFn]:
    """Both implementations for differential tests; without the extension
    the pure one is still checked against the references."""
    return [_mask_py.apply_mask, *(m.apply_mask for m in available_compiled())]


def both_validators() -> list[Callable[[], Validator]]:
    return [_utf8_py.Utf8Validator, *(m.Utf8Validator for m in available_compiled())]


# --------------------------------------------------------------------------
# Reference implementations, written independently of both backends.
# --------------------------------------------------------------------------


def reference_mask(data: bytes, key: bytes) -> bytes:
    """RFC 6455 §5.3, octet by octet: j = i MOD 4."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


# RFC 3629 §4: the allowed ranges of the bytes after each lead byte.
_TAIL = (0x80, 0xBF)


def _tails(lead: int) -> list[tuple[int, int]] | None:
    if 0xC2 <= lead <= 0xDF:
        return [_TAIL]
    if lead == 0xE0:
        return [(0xA0, 0xBF), _TAIL]
    if lead == 0xED:
        return [(0x80, 0x9F), _TAIL]
    if 0xE1 <= lead <= 0xEF:
        return [_TAIL, _TAIL]
    if lead == 0xF0:
        return [(0x90, 0xBF), _TAIL, _TAIL]
    if 0xF1 <= lead <= 0xF3:
        return [_TAIL, _TAIL, _TAIL]
    if lead == 0xF4:
        return [(0x80, 0x8F), _TAIL, _TAIL]
    return None


def reference_fail_index(data: bytes) -> int | None:
    """Index of the first byte that makes ``data`` invalid UTF-8.

    ``len(data)`` if the data is a valid prefix cut off inside a sequence,
    None if it is valid.
    """
    i, n = 0, len(data)
    while i < n:
        lead = data[i]
        if lead < 0x80:
            i += 1
            continue
        tails = _tails(lead)
        if tails is None:
            return i
        for j, (lo, hi) in enumerate(tails, 1):
            if i + j >= n:
                return n
            if not lo <= data[i + j] <= hi:
                return i + j
        i += 1 + len(tails)
    return None


def decode_fail_index(data: bytes) -> int | None:
    """The same index, derived from CPython's strict decoder."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            return len(data)
        if exc.reason == "invalid start byte":
            return exc.start
        return exc.end  # invalid continuation byte: the first one not allowed
    return None


def bytewise_fail_index(make: Callable[[], Validator], data: bytes) -> int | None:
    """Feed one byte per call, then an empty final call; index of the first False."""
    validator = make()
    for i in range(len(data)):
        if not validator.validate(data[i : i + 1]):
            return i
    if not validator.validate(b"", final=True):
        return len(data)
    return None


def validate_in_pieces(
    make: Callable[[], Validator], data: bytes, cuts: list[int]
) -> bool:
    validator = make()
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    results = [
        validator.validate(data[a:b], final=(k == len(bounds) - 2))
        for k, (a, b) in enumerate(zip(bounds, bounds[1:]))
    ]
    # Fail-fast and sticky: once False, every later call is False.
    if False in results:
        first = results.index(False)
        assert not any(results[first:])
    return all(results)


# --------------------------------------------------------------------------
# Masking
# --------------------------------------------------------------------------

KEY = bytes.fromhex("37fa213d")


class TestMasking:
    def test_rfc_example(self, apply_mask: MaskFn) -> None:
        # RFC 6455 §5.7: a masked "Hello" is 0x7f 0x9f 0x4d 0x51 0x58.
        assert apply_mask(b"Hello", KEY) == bytes.fromhex("7f9f4d5158")
        assert apply_mask(bytes.fromhex("7f9f4d5158"), KEY) == b"Hello"

    def test_empty(self, apply_mask: MaskFn) -> None:
        assert apply_mask(b"", KEY) == b""
        assert apply_mask(bytearray(), KEY) == b""
        assert apply_mask(memoryview(b""), KEY) == b""

    @pytest.mark.parametrize(
        "size",
        [*range(0, 70), 1023, 1024, 1025, 1026, 1027, 4099, 65536, 65536 + 3, 3 * 65536 + 2],
    )
    def test_every_tail_length(self, apply_mask: MaskFn, size: int) -> None:
        # Covers the word loop's tail (0-7 bytes) and the pure backend's
        # switch from int XOR to translate, then to translating in chunks.
        data = bytes((i * 7 + 3) & 0xFF for i in range(size))
        result = apply_mask(data, KEY)
        assert type(result) is bytes
        assert result == reference_mask(data, KEY)

    @pytest.mark.parametrize("offset", range(9))
    def test_unaligned_views(self, apply_mask: MaskFn, offset: int) -> None:
        buf = bytes(range(256)) * 5
        for stop in (offset, offset + 1, offset + 15, offset + 17, len(buf)):
            view = memoryview(buf)[offset:stop]
            assert apply_mask(view, KEY) == reference_mask(buf[offset:stop], KEY)

    def test_input_types_and_key_types(self, apply_mask: MaskFn) -> None:
        data = bytes(range(100))
        expected = reference_mask(data, KEY)
        strided_key = memoryview(bytes(b for k in KEY for b in (k, 0)))[::2]
        for d in (data, bytearray(data), memoryview(data)):
            for k in (KEY, bytearray(KEY), memoryview(KEY), strided_key):
                assert apply_mask(d, k) == expected

    def test_input_is_not_modified(self, apply_mask: MaskFn) -> None:
        original = bytes(range(256)) * 8
        data = bytearray(original)
        apply_mask(data, KEY)
        apply_mask(memoryview(data)[3:], KEY)
        assert data == original

    def test_non_contiguous_and_wide_views(self, apply_mask: MaskFn) -> None:
        # Octets in the order bytes(view) lists them.
        strided = memoryview(bytes(range(200)))[::3]
        assert apply_mask(strided, KEY) == reference_mask(strided.tobytes(), KEY)
        wide = memoryview(array.array("I", range(300)))
        assert apply_mask(wide, KEY) == reference_mask(wide.tobytes(), KEY)

    def test_rotated_key_masks_a_piece(self, apply_mask: MaskFn) -> None:
        # A parser masking payload[o:] rotates the key by o % 4.
        data = bytes(range(50))
        whole = apply_mask(data, KEY)
        for o in range(9):
            rot = KEY[o % 4 :] + KEY[: o % 4]
            assert apply_mask(data[o:], rot) == whole[o:]

    @pytest.mark.parametrize("key", [b"", b"abc", b"abcde", bytearray(8)])
    def test_key_must_be_four_bytes(self, apply_mask: MaskFn, key: bytes) -> None:
        with pytest.raises(ValueError):
            apply_mask(b"data", key)

    @pytest.mark.parametrize("data", ["text", 5, None, [1, 2]])
    def test_data_must_be_bytes_like(self, apply_mask: MaskFn, data: object) -> None:
        with pytest.raises(TypeError):
            apply_mask(data, KEY)  # type: ignore[arg-type]

    # The fixtures only return a function or a class: safe to share. No
    # deadline: shared CI machines are slow at times.
    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
    @given(data=st.binary(max_size=3000), key=st.binary(min_size=4, max_size=4))
    def test_matches_reference_and_is_an_involution(
        self, apply_mask: MaskFn, data: bytes, key: bytes
    ) -> None:
        masked = apply_mask(data, key)
        assert masked == reference_mask(data, key)
        assert apply_mask(masked, key) == data


# --------------------------------------------------------------------------
# UTF-8
# --------------------------------------------------------------------------

VALID = [
    b"",
    b"plain ASCII",
    b"\x00\x7f",
    "\u0080\u07ff".encode(),  # 2-byte range edges
    "\u0800\ufffd\uffff".encode(),  # 3-byte range edges
    "\ud7ff\ue000".encode(),  # around the surrogates
    "\U00010000\U0010ffff".encode(),  # 4-byte range edges
    "κόσμε 日本語 😀".encode() * 20,
    b"x" * 1000 + "é".encode() + b"y" * 1000,
]

# (bytes, index of the first byte that makes them invalid; len = truncated)
INVALID = [
    (b"\x80", 0),  # lone continuation byte
    (b"abc\xbf", 3),
    (b"\xc0\x80", 0),  # overlong NUL
    (b"\xc1\xbf", 0),  # overlong U+007F
    (b"\xe0\x80\x80", 1),  # overlong 3-byte
    (b"\xe0\x9f\xbf", 1),  # overlong U+07FF
    (b"\xf0\x80\x80\x80", 1),  # overlong 4-byte
    (b"\xf0\x8f\xbf\xbf", 1),  # overlong U+FFFF
    (b"\xed\xa0\x80", 1),  # U+D800
    (b"\xed\xbf\xbf", 1),  # U+DFFF
    (b"\xf4\x90\x80\x80", 1),  # U+110000
    (b"\xf5\x80\x80\x80", 0),
    (b"\xff", 0),
    (b"\xfe", 0),
    (b"\xc2", 1),  # truncated at the end of the message
    (b"\xe2\x82", 2),
    (b"\xf0\x9f\x98", 3),
    (b"\xc2A", 1),  # sequence interrupted
    (b"\xe2\x82A", 2),
    (b"\xf0\x9f\x98\xc2\xa9", 3),
    ("κόσμε".encode() + b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", 22),
    (b"a" * 40 + b"\xe0", 41),
    (b"a" * 40 + b"\xe0\x80" + b"a" * 40, 41),
]


class TestUtf8Validator:
    @pytest.mark.parametrize("data", VALID)
    def test_valid(self, make_validator: Callable[[], Validator], data: bytes) -> None:
        assert make_validator().validate(data, final=True)
        assert bytewise_fail_index(make_validator, data) is None

    @pytest.mark.parametrize(("data", "index"), INVALID)
    def test_invalid_fails_at_the_first_bad_byte(
        self, make_validator: Callable[[], Validator], data: bytes, index: int
    ) -> None:
        assert reference_fail_index(data) == index  # the table is right
        assert not make_validator().validate(data, final=True)
        assert bytewise_fail_index(make_validator, data) == index

    def test_fail_fast_without_final(
        self, make_validator: Callable[[], Validator]
    ) -> None:
        # Autobahn 6.4.x: reject as soon as the bytes cannot be completed.
        for data, index in INVALID:
            if index < len(data):
                assert not make_validator().validate(data[: index + 1])

    def test_code_point_split_across_calls(
        self, make_validator: Callable[[], Validator]
    ) -> None:
        encoded = "a😀b€c".encode()
        for cut in range(len(encoded) + 1):
            validator = make_validator()
            assert validator.validate(encoded[:cut])
            assert validator.validate(encoded[cut:], final=True)

    def test_truncated_only_fails_when_final(
        self, make_validator: Callable[[], Validator]
    ) -> None:
        validator = make_validator()
        assert validator.validate(b"\xf0\x9f")
        assert validator.validate(b"\x98")
        assert not validator.validate(b"", final=True)

    def test_final_then_next_message(
        self, make_validator: Callable[[], Validator]
    ) -> None:
        validator = make_validator()
        assert validator.validate("é".encode(), final=True)
        assert validator.validate(b"\xe2\x82")
        assert validator.validate(b"\xac", final=True)

    def test_failure_is_sticky_until_reset(
        self, make_validator: Callable[[], Validator]
    ) -> None:
        validator = make_validator()
        assert not validator.validate(b"\xc0")
        assert not validator.validate(b"valid")
        assert not validator.validate(b"", final=True)
        validator.reset()
        assert validator.validate(b"valid", final=True)

    def test_reset_drops_pending_bytes(
        self, make_validator: Callable[[], Validator]
    ) -> None:
        validator = make_validator()
        assert validator.validate(b"\xe2\x82")
        validator.reset()
        assert validator.validate(b"ok", final=True)
        validator.reset()
        assert not validator.validate(b"\xac")

    def test_bytes_like_inputs(self, make_validator: Callable[[], Validator]) -> None:
        encoded = "naïve 😀".encode()
        for data in (
            bytearray(encoded),
            memoryview(encoded),
            memoryview(b"--" + encoded)[2:],
        ):
            assert make_validator().validate(data, final=True)
        assert not make_validator().validate(bytearray(b"\xed\xa0\x80"))
        # A strided view is validated as the bytes it lists.
        strided = memoryview(b"a\xffb\xffc\xff")[::2]
        assert make_validator().validate(strided, final=True)
        assert not make_validator().validate(memoryview(b"\xff\xff")[::2])

    def test_rejects_non_bytes(self, make_validator: Callable[[], Validator]) -> None:
        with pytest.raises(TypeError):
            make_validator().validate("text")  # type: ignore[arg-type]

    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
    @given(text=st.text(), cuts=st.lists(st.integers(min_value=0), max_size=6))
    def test_any_valid_text_in_any_pieces(
        self, make_validator: Callable[[], Validator], text: str, cuts: list[int]
    ) -> None:
        assert validate_in_pieces(make_validator, text.encode(), cuts)


# --------------------------------------------------------------------------
# Differential tests: both backends, the RFC 3629 reference and bytes.decode
# --------------------------------------------------------------------------

# Encodings at and around every boundary, valid and not.
EDGE_PIECES = [
    *(chr(c).encode() for c in (0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000)),
    *(chr(c).encode() for c in (0xFFFD, 0xFFFF, 0x10000, 0x10FFFF)),
    "\ud800".encode("utf-8", "surrogatepass"),
    "\udfff".encode("utf-8", "surrogatepass"),
    b"\xf4\x90\x80\x80",  # U+110000
    b"\xf7\xbf\xbf\xbf",  # U+1FFFFF
    b"\xc0\x80",
    b"\xc1\xbf",
    b"\xe0\x80\x80",
    b"\xe0\x9f\xbf",
    b"\xf0\x80\x80\x80",
    b"\xf0\x8f\xbf\xbf",
    b"\x80",
    b"\xbf",
    b"\xc2",
    b"\xe0\xa0",
    b"\xf0\x90\x80",
    b"\xf5",
    b"\xff",
    b"a" * 8,
    b"b" * 33,
]

utf8ish = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=100).map(str.encode),
    st.lists(
        st.one_of(st.sampled_from(EDGE_PIECES), st.text(max_size=20).map(str.encode)),
        max_size=20,
    ).map(b"".join),
)


# One byte of each class the RFC 3629 grammar distinguishes, edges included.
_REPRESENTATIVES = bytes(
    [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF]
    + [0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
)


def test_exhaustive_short_inputs() -> None:
    """Every 2-byte input, and every 3-byte one over the byte classes: same
    failure index from both backends (byte by byte), the reference and
    bytes.decode; same verdict for every split into two calls."""
    pairs = [bytes((a, b)) for a in range(256) for b in range(256)]
    triples = [bytes((a, b, c)) for a in _REPRESENTATIVES
               for b in _REPRESENTATIVES for c in _REPRESENTATIVES]
    makers = both_validators()
    for data in pairs + triples:
        expected = reference_fail_index(data)
        assert decode_fail_index(data) == expected, data
        for make in makers:
            assert bytewise_fail_index(make, data) == expected, (make, data)
            for cut in range(len(data) + 1):
                validator = make()
                verdict = validator.validate(data[:cut])
                verdict = validator.validate(data[cut:], final=True) and verdict
                assert verdict is (expected is None), (make, data, cut)


@settings(max_examples=400, deadline=None)
@given(data=utf8ish)
def test_fail_index_matches_reference_and_decode(data: bytes) -> None:
    expected = reference_fail_index(data)
    assert expected == decode_fail_index(data)
    for make in both_validators():
        assert make().validate(data, final=True) is (expected is None)
        assert bytewise_fail_index(make, data) == expected


@settings(max_examples=400, deadline=None)
@given(data=utf8ish, cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_backends_agree_on_random_pieces(data: bytes, cuts: list[int]) -> None:
    results = {validate_in_pieces(make, data, cuts) for make in both_validators()}
    assert results == {reference_fail_index(data) is None}


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=5000),
    key=st.binary(min_size=4, max_size=4),
    start=st.integers(min_value=0, max_value=64),
    step=st.integers(min_value=1, max_value=3),
)
def test_masks_agree(data: bytes, key: bytes, start: int, step: int) -> None:
    view = memoryview(data)[start::step]
    expected = reference_mask(view.tobytes(), key)
    for apply_mask in both_masks():
        assert apply_mask(view, key) == expected
        assert apply_mask(bytearray(data), memoryview(key)) == reference_mask(data, key)


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=3000),
    key=st.binary(min_size=4, max_size=4),
    cuts=st.lists(st.integers(min_value=0), max_size=8),
)
def test_masking_in_pieces_with_rotated_keys(data: bytes, key: bytes, cuts: list[int]) -> None:
    """What a parser does with a payload that arrives in pieces."""
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    expected = reference_mask(data, key)
    for apply_mask in both_masks():
        pieces = []
        for start, stop in zip(bounds, bounds[1:]):
            rotated = key[start % 4 :] + key[: start % 4]
            pieces.append(apply_mask(memoryview(data)[start:stop], rotated))
        assert b"".join(pieces) == expected


# --------------------------------------------------------------------------
# Backend selection and installation without the extension
# --------------------------------------------------------------------------

_PROBE = """
import wsproto6455.backend as b
assert b.apply_mask(b"Hello", bytes.fromhex("37fa213d")) == bytes.fromhex("7f9f4d5158")
v = b.Utf8Validator()
assert v.validate("é".encode(), final=True) and not v.validate(b"\\xc0")
print(b.SPEEDUPS, b.apply_mask.__module__, b.Utf8Validator.__module__)
"""


def _probe(env_extra: dict[str, str]) -> list[str]:
    env = {**os.environ, **env_extra, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def test_no_speedups_env_forces_pure_backend() -> None:
    speedups, mask_mod, utf8_mod = _probe({"WSPROTO6455_NO_SPEEDUPS": "1"})
    assert speedups == "False"
    assert (mask_mod, utf8_mod) == ("wsproto6455._mask_py", "wsproto6455._utf8_py")


def test_compiled_backend_is_picked_when_built() -> None:
    require_compiled()
    speedups, _, utf8_mod = _probe({"WSPROTO6455_NO_SPEEDUPS": ""})
    assert speedups == "True"
    assert utf8_mod == "wsproto6455._speedups"


def _can_compile() -> bool:
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return importlib.util.find_spec("Cython") is not None and bool(shutil.which(compiler))


@pytest.mark.parametrize("with_extension", [False, True])
def test_build_with_and_without_extension(tmp_path: Path, with_extension: bool) -> None:
    """``WSPROTO6455_NO_EXTENSION=1`` (like a machine without a compiler) still
    builds a working package, pure Python; without it the extension is built."""
    if with_extension and not _can_compile():
        if speedups_required():
            pytest.fail("WSPROTO6455_REQUIRE_SPEEDUPS is set but Cython or a C compiler is missing")
        pytest.skip("Cython or a C compiler is missing")
    src = tmp_path / "src"
    for folder in ("wsproto6455", "_speedups"):
        for path in (ROOT / folder).rglob("*"):
            rel = path.relative_to(ROOT)
            if path.is_file() and path.suffix not in (".so", ".pyd", ".c", ".pyc"):
                (src / rel).parent.mkdir(parents=True, exist_ok=True)
                (src / rel).write_bytes(path.read_bytes())
    for name in ("setup.py", "pyproject.toml"):
        (src / name).write_bytes((ROOT / name).read_bytes())
    (src / "README.md").write_text("test copy\n")
    env = {**os.environ, "WSPROTO6455_NO_EXTENSION": "" if with_extension else "1"}
    lib = tmp_path / "lib"
    result = subprocess.run(
        [sys.executable, "setup.py", "build", "--build-lib", str(lib),
         "--build-temp", str(tmp_path / "temp")],
        cwd=src, env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    built = sorted(p.name for p in (lib / "wsproto6455").glob("_speedups*.*[!i]"))
    assert (lib / "wsproto6455" / "backend.py").is_file()
    # Run the built package, not the checkout: -S keeps an editable install's
    # import hook (in site-packages) from finding the checkout first.
    env = {**os.environ, "PYTHONPATH": str(lib), "WSPROTO6455_NO_SPEEDUPS": ""}
    probe = subprocess.run(
        [sys.executable, "-S", "-c", _PROBE], cwd=tmp_path, env=env,
        capture_output=True, text=True, check=True,
    ).stdout.split()
    if with_extension:
        assert "SPEEDUPS = True" in result.stderr
        assert len(built) == 1 and built[0].endswith((".so", ".pyd"))
        assert probe[0] == "True"
    else:
        assert "WSPROTO6455_NO_EXTENSION is set" in result.stderr
        assert "SPEEDUPS = False" in result.stderr
        assert built == []
        assert probe[0] == "False"
