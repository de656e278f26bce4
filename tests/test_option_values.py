"""Every keyword option is checked when the connection is built.

A wrong value is a ``TypeError`` (wrong type: ``1e6``, ``True``, ``"10"``) or
a ``ValueError`` (negative, zero where at least one is needed) from the
constructor, identically with both backends, for ``Connection`` and for
``WSConnection`` (whose options reach the ``Connection`` only when the
handshake ends, so they must be checked before). Good values keep working,
including integer-like objects (``operator.index``).
"""

from __future__ import annotations

import enum
import inspect
from typing import Any, Callable, List

import pytest

from frame_helpers import BINARY, ROLE_IDS, ROLES, frame_from
from wsproto6455 import Connection, ConnectionType, WSConnection
from wsproto6455.handshake import Handshake
from wsproto6455.events import BytesMessage, CloseConnection, Message
from wsproto6455.extensions import PerMessageDeflate

SIZES = ["max_message_size", "max_frame_size", "fragment_size", "max_header_size"]


class Size(enum.IntEnum):
    SMALL = 8


def build_connection(role: ConnectionType, **options: Any) -> object:
    if "max_header_size" in options:  # the handshake's own option
        return Handshake(role, **options)
    return Connection(role, **options)


def build_wsconnection(role: ConnectionType, **options: Any) -> object:
    return WSConnection(role, **options)


BUILDERS: List[Any] = [pytest.param(build_connection, id="Connection-or-Handshake"),
                       pytest.param(build_wsconnection, id="WSConnection")]
Builder = Callable[..., object]


def keyword_only(cls: type) -> set[str]:
    return {p.name for p in inspect.signature(cls.__init__).parameters.values()
            if p.kind is p.KEYWORD_ONLY}


def test_every_option_is_covered() -> None:
    assert keyword_only(WSConnection) == {*SIZES, "whole_messages"}
    assert keyword_only(Connection) == {*SIZES, "whole_messages"} - {"max_header_size"}


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
class TestRefused:
    @pytest.mark.parametrize("name", SIZES)
    @pytest.mark.parametrize("value", [1e6, 10.0, "10", b"10", True, False, [10], 1j],
                             ids=["1e6", "10.0", "str", "bytes", "True", "False", "list", "complex"])
    def test_size_of_the_wrong_type(self, build: Builder, role: ConnectionType, name: str,
                                    value: Any) -> None:
        with pytest.raises(TypeError, match=name):
            build(role, **{name: value})

    @pytest.mark.parametrize("name", SIZES)
    def test_negative_size(self, build: Builder, role: ConnectionType, name: str) -> None:
        with pytest.raises(ValueError, match=name):
            build(role, **{name: -1})

    @pytest.mark.parametrize("name", ["fragment_size", "max_header_size"])
    def test_zero_where_one_is_the_least(self, build: Builder, role: ConnectionType,
                                         name: str) -> None:
        with pytest.raises(ValueError, match=name):
            build(role, **{name: 0})

    @pytest.mark.parametrize("value", [1, 0, None, "yes", 1.0])
    def test_whole_messages_is_a_bool(self, build: Builder, role: ConnectionType,
                                      value: Any) -> None:
        with pytest.raises(TypeError, match="whole_messages"):
            build(role, whole_messages=value)



@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
@pytest.mark.parametrize("name", SIZES)
@pytest.mark.parametrize("value", [None, 1, 1 << 70, Size.SMALL], ids=["None", "1", "huge", "IntEnum"])
def test_accepted_sizes(build: Builder, role: ConnectionType, name: str, value: Any) -> None:
    build(role, **{name: value})


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
@pytest.mark.parametrize("limit", [0, 3, Size.SMALL, 1 << 70], ids=["0", "3", "IntEnum", "huge"])
def test_limits_work_on_both_backends(role: ConnectionType, limit: int) -> None:
    """Limits given as any integer-like object are applied (the compiled
    scanner needs a C integer: before the check, an IntEnum or a float
    failed inside events() with speedups only)."""
    conn = Connection(role, max_message_size=limit, max_frame_size=limit)
    conn.receive_data(frame_from(role, BINARY, b"") + frame_from(role, BINARY, b"four"))
    events = list(conn.events())
    assert events[0] == BytesMessage(b"")
    if limit >= 4:
        assert events[1:] == [BytesMessage(b"four")]
    else:
        assert [type(e) for e in events[1:]] == [CloseConnection]
        assert events[1].code == 1009  # type: ignore[attr-defined]


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
def test_fragment_size_as_intenum(role: ConnectionType) -> None:
    conn = Connection(role, fragment_size=Size.SMALL)
    data = conn.send(BytesMessage(b"x" * 20))
    peer = Connection(ConnectionType.CLIENT if role is ConnectionType.SERVER else ConnectionType.SERVER,
                      whole_messages=True)
    peer.receive_data(data)
    events = list(peer.events())
    assert [e.data for e in events if isinstance(e, Message)] == [b"x" * 20]


@pytest.mark.parametrize("name", ["compression_level", "memory_level", "threshold"])
@pytest.mark.parametrize("value", [5.0, "5", True, None], ids=["float", "str", "bool", "None"])
def test_deflate_numbers_are_integers(name: str, value: Any) -> None:
    """PerMessageDeflate checks its own options when built (zlib refused a
    float only when the first message was compressed)."""
    with pytest.raises(TypeError, match=name):
        PerMessageDeflate(**{name: value})


@pytest.mark.parametrize("name, value", [("compression_level", 10), ("compression_level", -2),
                                         ("memory_level", 0), ("memory_level", 10),
                                         ("threshold", -1)])
def test_deflate_numbers_in_range(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=name):
        PerMessageDeflate(**{name: value})


@pytest.mark.parametrize("name", ["client_max_window_bits", "server_max_window_bits"])
@pytest.mark.parametrize("value", [10.0, "10", True, 7, 16])
def test_deflate_window_bits(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=name):
        PerMessageDeflate(**{name: value})


def test_deflate_require_flag_is_a_bool() -> None:
    with pytest.raises(TypeError, match="require_client_max_window_bits"):
        PerMessageDeflate(require_client_max_window_bits="yes")  # type: ignore[arg-type]
