"""``events()`` when an extension raises something that is not a protocol fault.

A ``MemoryError`` (or any bug) out of an extension's ``decode`` cannot be
retried: the decompressor's state has already moved on. What must hold is
that no message is ever delivered twice and none is silently dropped: the
events before the failure are delivered exactly once, the exception reaches
the caller, and the connection then fails with 1011 (internal error, RFC 6455
§7.4.1), so the peer learns that the rest was not processed.

Run with the reader's fast path (the ``Scanner`` and its ``inflate`` hook,
both backends) and with the general frame-by-frame path alone.
"""

from __future__ import annotations

import zlib
from typing import Any, Callable, List, Optional
from unittest import mock

import pytest

from frame_helpers import BINARY, CONT, ROLE_IDS, ROLES, RSV1, TEXT, frame_from
from speedups_helpers import available_compiled
from wsproto6455 import ConnectionState, ConnectionType, _scan_py
from wsproto6455 import reader as reader_module
from wsproto6455.connection import Connection
from wsproto6455.events import BytesMessage, CloseConnection, Event, Message, TextMessage
from wsproto6455.extensions import Extension, PerMessageDeflate

Scan = Callable[..., Any]  # a Scanner class


class TakeNothing:
    """A Scanner that never takes a frame: the general path alone."""

    busy = False
    held = 0

    def __init__(self, *args: object) -> None:
        pass

    def scan(self, buf: bytes, pos: int, out: List[Event]) -> int:
        return pos

    def reset(self) -> None:
        pass


def scanners() -> List[object]:
    compiled = [pytest.param(m.Scanner, id="compiled") for m in available_compiled()]
    return [pytest.param(TakeNothing, id="general"),
            pytest.param(_scan_py.Scanner, id="pure"), *compiled]


def use(scanner: Scan) -> Any:
    """Connections built under this use ``scanner`` as the reader's fast path."""
    return mock.patch.object(reader_module, "Scanner", scanner)


class FlakyIdentity(Extension):
    """Owns RSV1 (so the fast path's inflate hook takes its messages) and
    raises MemoryError on the ``fail_at``-th decode call, once."""

    name = "x-flaky"
    rsv_bits = RSV1

    def __init__(self, fail_at: int) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def enabled(self) -> bool:
        return True

    def begin_inbound(self, rsv: int) -> bool:
        return True

    def decode(self, data: bytes, final: bool, max_size: Optional[int]) -> bytes:
        self.calls += 1
        if self.calls == self.fail_at:
            raise MemoryError("decode failed once")
        return data


class FlakyDeflate(PerMessageDeflate):
    """Real permessage-deflate whose inflate raises MemoryError once."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.calls = 0
        self.fail_at = fail_at

    def decode(self, data: bytes, final: bool, max_size: Optional[int]) -> bytes:
        self.calls += 1
        if self.calls == self.fail_at:
            raise MemoryError("inflate failed once")
        return super().decode(data, final, max_size)

    def decode_message(self, data: bytes, rsv: int, max_size: Optional[int]) -> bytes:
        # The generic begin_inbound + decode, so that every message counts.
        return Extension.decode_message(self, data, rsv, max_size)


def deflated(messages: List[bytes]) -> List[bytes]:
    """Each message compressed as RFC 7692 §7.2.1 says (one shared context)."""
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = []
    for message in messages:
        data = comp.compress(message) + comp.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        out.append(data[:-4])
    return out


def negotiated_deflate(role: ConnectionType, fail_at: int) -> FlakyDeflate:
    ext = FlakyDeflate(fail_at)
    if role is ConnectionType.SERVER:
        assert ext.accept("client_max_window_bits")
    else:
        ext.finalize("")
    return ext


def drain(conn: Connection) -> tuple[List[Event], List[BaseException]]:
    """Call events() until it neither raises nor yields: all events, all errors."""
    events: List[Event] = []
    errors: List[BaseException] = []
    for _ in range(10):
        before = len(events)
        try:
            for event in conn.events():
                events.append(event)
        except MemoryError as exc:
            errors.append(exc)
            continue
        if len(events) == before:
            break
    return events, errors


def data_of(events: List[Event]) -> List[object]:
    return [e.data for e in events if isinstance(e, Message)]


@pytest.mark.parametrize("scanner", scanners())
@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
@pytest.mark.parametrize("whole", [False, True], ids=["pieces", "whole"])
class TestDecodeRaises:
    def run(self, scanner: Scan, role: ConnectionType, whole: bool, ext: Extension,
            data: bytes) -> tuple[List[Event], List[BaseException], Connection]:
        with use(scanner):
            conn = Connection(role, [ext], whole_messages=whole, max_message_size=None)
            conn.receive_data(data)
            events, errors = drain(conn)
        return events, errors, conn

    def test_identity_extension(self, scanner: Scan, role: ConnectionType, whole: bool) -> None:
        data = b"".join(frame_from(role, BINARY, word, rsv=RSV1) for word in (b"one", b"two", b"three"))
        events, errors, conn = self.run(scanner, role, whole, FlakyIdentity(fail_at=2), data)
        assert len(errors) == 1
        assert data_of(events) == [b"one"]
        assert events[-1] == CloseConnection(1011, events[-1].reason)  # type: ignore[union-attr]
        assert sum(isinstance(e, CloseConnection) for e in events) == 1
        assert conn.state is ConnectionState.REMOTE_CLOSING

    def test_deflate(self, scanner: Scan, role: ConnectionType, whole: bool) -> None:
        words = [b"one", b"two", b"three"]
        data = b"".join(frame_from(role, TEXT, payload, rsv=RSV1) for payload in deflated(words))
        events, errors, conn = self.run(scanner, role, whole, negotiated_deflate(role, 2), data)
        assert len(errors) == 1
        assert data_of(events) == ["one"]
        assert isinstance(events[-1], CloseConnection) and events[-1].code == 1011
        assert conn.state is ConnectionState.REMOTE_CLOSING

    def test_first_message_fails(self, scanner: Scan, role: ConnectionType, whole: bool) -> None:
        data = b"".join(frame_from(role, BINARY, word, rsv=RSV1) for word in (b"one", b"two"))
        events, errors, _ = self.run(scanner, role, whole, FlakyIdentity(fail_at=1), data)
        assert len(errors) == 1
        assert data_of(events) == []
        assert [type(e) for e in events] == [CloseConnection]

    def test_inside_a_fragmented_message(self, scanner: Scan, role: ConnectionType,
                                         whole: bool) -> None:
        data = (frame_from(role, BINARY, b"zero", rsv=RSV1)
                + frame_from(role, BINARY, b"on", rsv=RSV1, fin=False)
                + frame_from(role, CONT, b"e")
                + frame_from(role, BINARY, b"two", rsv=RSV1))
        events, errors, _ = self.run(scanner, role, whole, FlakyIdentity(fail_at=3), data)
        assert len(errors) == 1
        got = data_of(events)
        assert got[0] == b"zero" and b"two" not in got
        assert isinstance(events[-1], CloseConnection) and events[-1].code == 1011

    def test_messages_arriving_later_are_not_interpreted(self, scanner: Scan, role: ConnectionType,
                                                         whole: bool) -> None:
        """After the failure, nothing more is delivered: no message out of order."""
        first = b"".join(frame_from(role, BINARY, w, rsv=RSV1) for w in (b"one", b"two"))
        events, errors, conn = self.run(scanner, role, whole, FlakyIdentity(fail_at=2), first)
        conn.receive_data(frame_from(role, BINARY, b"late", rsv=RSV1) + frame_from(role, TEXT, b"x"))
        more, _ = drain(conn)
        assert data_of(events + more) == [b"one"]


@pytest.mark.parametrize("scanner", scanners())
def test_events_before_the_failure_come_before_the_exception(scanner: Scan) -> None:
    """Stream order: the messages before the failing one are yielded first."""
    role = ConnectionType.SERVER
    data = b"".join(frame_from(role, BINARY, w, rsv=RSV1) for w in (b"a", b"b", b"c", b"d"))
    got: List[Event] = []
    with use(scanner):
        conn = Connection(role, [FlakyIdentity(fail_at=3)], max_message_size=None)
        conn.receive_data(data)
        with pytest.raises(MemoryError):
            for event in conn.events():
                got.append(event)
        assert got == [BytesMessage(b"a"), BytesMessage(b"b")]
        rest = list(conn.events())
    assert [type(e) for e in rest] == [CloseConnection] and rest[0].code == 1011  # type: ignore[attr-defined]
    assert list(conn.events()) == []


@pytest.mark.parametrize("scanner", scanners())
def test_stopping_early_still_loses_nothing(scanner: Scan) -> None:
    """A caller that breaks out of events() gets the rest next time (control case)."""
    role = ConnectionType.CLIENT
    data = b"".join(frame_from(role, TEXT, w, rsv=RSV1) for w in (b"a", b"b", b"c"))
    with use(scanner):
        conn = Connection(role, [FlakyIdentity(fail_at=99)])
        conn.receive_data(data)
        first = next(iter(conn.events()))
        rest = list(conn.events())
    assert [first, *rest] == [TextMessage("a"), TextMessage("b"), TextMessage("c")]
