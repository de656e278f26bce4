"""What ``send`` accepts as message data, the same on every path and backend.

The rule (decided for issue 11): any ``str`` (subclasses included, such as
``markupsafe.Markup`` or a ``str`` Enum member) is text and is sent as its
string value, UTF-8 encoded; anything with the buffer protocol (bytes,
bytearray, memoryview, array, bytes subclasses, ...) is binary; anything else
(``BytesMessage(5)``, ``BytesMessage([104, 105])``, None, a float) is a
``TypeError`` at ``send``, never five NUL bytes. Control frame payloads
follow the binary rule.

Three writer paths are checked: the server's whole-message kernel
(``server_frame``, pure and compiled), the general path (client masking,
fragmentation, extensions), and the kernels called directly.
"""

from __future__ import annotations

import array
import enum
from typing import Any, Callable, Dict, List

import markupsafe
import pytest
from hypothesis import given
from hypothesis import strategies as st

from frame_helpers import BINARY, TEXT, parse_frames
from speedups_helpers import available_compiled
from wsproto6455 import Connection, ConnectionType, _frame_py
from wsproto6455 import writer as writer_module
from wsproto6455.events import BytesMessage, Message, Ping, Pong, TextMessage
from wsproto6455.extensions import PerMessageDeflate
from wsproto6455.extensions.base import RSV1

SERVER = ConnectionType.SERVER
CLIENT = ConnectionType.CLIENT


class Shout(str):
    """A str subclass with its own __str__, which must not be what is sent."""

    def __str__(self) -> str:
        return "NOT THIS"


class Colour(str, enum.Enum):
    RED = "red"
    GREEN = "grün"


class Blob(bytes):
    pass


def kernels() -> List[Any]:
    compiled = [pytest.param(m.server_frame, id="compiled") for m in available_compiled()]
    return [pytest.param(_frame_py.server_frame, id="pure"), *compiled]


def negotiated_deflate() -> PerMessageDeflate:
    ext = PerMessageDeflate()
    assert ext.accept("client_max_window_bits")
    return ext


# Each path builds a fresh connection, so that state left by a refused send
# would show in the next one.
PATHS: Dict[str, Callable[[], Connection]] = {
    "server-kernel": lambda: Connection(SERVER),
    "server-fragmented": lambda: Connection(SERVER, fragment_size=3),
    "server-deflate": lambda: Connection(SERVER, [negotiated_deflate()]),
    "client-masked": lambda: Connection(CLIENT),
}
path_param = pytest.mark.parametrize("path", list(PATHS))


def wire(path: str, data: Any, cls: type = TextMessage) -> tuple[int, bytes]:
    """(opcode, payload) of what ``send`` writes for ``cls(data)``, decompressed."""
    conn = PATHS[path]()
    frames = parse_frames(conn.send(cls(data)))
    payload = b"".join(f.payload for f in frames)
    if frames[0].rsv & RSV1:
        import zlib
        payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
    return frames[0].opcode, payload


TEXTS = [
    pytest.param(markupsafe.Markup("<b>hi</b> é"), "<b>hi</b> é", id="Markup"),
    pytest.param(Shout("hé"), "hé", id="str-subclass"),
    pytest.param(Colour.RED, "red", id="str-enum-ascii"),
    pytest.param(Colour.GREEN, "grün", id="str-enum"),
    pytest.param(Shout("x" * 70000), "x" * 70000, id="str-subclass-64bit-length"),
]
BINARIES = [
    pytest.param(bytearray(b"hi"), b"hi", id="bytearray"),
    pytest.param(memoryview(b"xhiy")[1:3], b"hi", id="memoryview"),
    pytest.param(memoryview(bytes(range(12))).cast("B", (3, 4))[::2], bytes(range(4)) + bytes(range(8, 12)),
                 id="memoryview-strided"),
    pytest.param(array.array("B", b"hi"), b"hi", id="array"),
    pytest.param(Blob(b"hi"), b"hi", id="bytes-subclass"),
]
BAD = [
    pytest.param(5, id="int"),
    pytest.param([104, 105], id="list-of-ints"),
    pytest.param(None, id="None"),
    pytest.param(2.5, id="float"),
    pytest.param(object(), id="object"),
    pytest.param(iter(b"hi"), id="iterator"),
]


@pytest.mark.parametrize("data, value", TEXTS)
class TestStrSubclassesAreText:
    def test_kernel(self, data: str, value: str) -> None:
        for kernel in [_frame_py.server_frame, *(m.server_frame for m in available_compiled())]:
            assert kernel(data) == _frame_py.server_frame(value)

    @path_param
    @pytest.mark.parametrize("cls", [TextMessage, BytesMessage, Message], ids=lambda c: c.__name__)
    def test_send(self, path: str, data: str, value: str, cls: type) -> None:
        """Text by the data's type, whatever the event class (wsproto's rule)."""
        assert wire(path, data, cls) == (TEXT, value.encode("utf-8"))


@pytest.mark.parametrize("data, value", BINARIES)
class TestBytesLikeIsBinary:
    def test_kernel(self, data: Any, value: bytes) -> None:
        for kernel in [_frame_py.server_frame, *(m.server_frame for m in available_compiled())]:
            assert kernel(data) == _frame_py.server_frame(value)

    @path_param
    def test_send(self, path: str, data: Any, value: bytes) -> None:
        assert wire(path, data, BytesMessage) == (BINARY, value)

    def test_control_payload(self, data: Any, value: bytes) -> None:
        for role in (SERVER, CLIENT):
            (frame,) = parse_frames(Connection(role).send(Ping(data)))
            assert frame.payload == value


@pytest.mark.parametrize("data", BAD)
class TestAnythingElseIsATypeError:
    @pytest.mark.parametrize("kernel", kernels())
    def test_kernel(self, kernel: Callable[[Any], bytes], data: Any) -> None:
        with pytest.raises(TypeError, match="str or a bytes-like object"):
            kernel(data)

    @path_param
    @pytest.mark.parametrize("cls", [TextMessage, BytesMessage], ids=lambda c: c.__name__)
    def test_send(self, path: str, data: Any, cls: type) -> None:
        conn = PATHS[path]()
        with pytest.raises(TypeError, match="str or a bytes-like object"):
            conn.send(cls(data))
        # Nothing was started: the connection sends a normal message next.
        assert wire_after(conn) == (BINARY, b"ok")

    @pytest.mark.parametrize("role", [SERVER, CLIENT], ids=["server", "client"])
    @pytest.mark.parametrize("cls", [Ping, Pong], ids=lambda c: c.__name__)
    def test_control_payload(self, role: ConnectionType, cls: type, data: Any) -> None:
        with pytest.raises(TypeError, match="bytes-like object"):
            Connection(role).send(cls(data))


def wire_after(conn: Connection) -> tuple[int, bytes]:
    frames = parse_frames(conn.send(BytesMessage(b"ok"), compress=False))
    return frames[0].opcode, b"".join(f.payload for f in frames)


def test_unfinished_message_then_bad_piece() -> None:
    """A refused piece leaves the message under way intact."""
    conn = Connection(SERVER)
    first = conn.send(BytesMessage(b"ab", message_finished=False))
    with pytest.raises(TypeError):
        conn.send(BytesMessage(7, message_finished=False))  # type: ignore[arg-type]
    last = conn.send(BytesMessage(b"cd"))
    frames = parse_frames(first + last)
    assert [(f.fin, f.opcode, f.payload) for f in frames] == [(False, BINARY, b"ab"), (True, 0, b"cd")]


def test_lone_surrogate_is_refused_alike() -> None:
    """Text that cannot be UTF-8 is refused by every path with the same error type."""
    for path in PATHS:
        with pytest.raises(UnicodeEncodeError):
            PATHS[path]().send(TextMessage("a\ud800"))
    for kernel in [_frame_py.server_frame, *(m.server_frame for m in available_compiled())]:
        with pytest.raises(UnicodeEncodeError):
            kernel("a\ud800")


anything = st.one_of(
    st.text(max_size=40),
    st.text(max_size=40).map(Shout),
    st.text(max_size=40).map(markupsafe.Markup),
    st.binary(max_size=40),
    st.binary(max_size=40).map(bytearray),
    st.binary(max_size=40).map(memoryview),
    st.binary(max_size=40).map(Blob),
    st.integers(-3, 300),
    st.lists(st.integers(0, 255), max_size=5),
    st.none(),
    st.floats(allow_nan=False),
)


def outcome(fn: Callable[[], bytes]) -> object:
    try:
        return fn()
    except (TypeError, ValueError, UnicodeError) as exc:
        return type(exc)


@given(data=anything)
def test_kernels_and_general_path_agree(data: Any) -> None:
    """Differential: every kernel and the general writer path give the same
    bytes for the same input, or the same exception type."""
    expected = outcome(lambda: _frame_py.server_frame(data))
    for module in available_compiled():
        assert outcome(lambda: module.server_frame(data)) == expected
    general = writer_module.Writer(False, [], fragment_size=1 << 30)  # not the kernel path
    assert outcome(lambda: general.data(data)) == expected
    assert expected is TypeError or isinstance(expected, bytes)
    if isinstance(data, (int, float, list)) or data is None:
        assert expected is TypeError
