"""Hostile input after the handshake: random, structured-random and mutated streams.

Whatever the bytes, a connection must never raise, never hang, never buffer
beyond its limits, and its events end in at most one CloseConnection whose
code is one it may answer with: 1002, 1007, 1009 for a violation, the peer's
own (valid on the wire) or 1005 for a close frame.
"""

from __future__ import annotations

from datetime import timedelta
from typing import List, Optional

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsproto6455 import Connection, ConnectionState, ConnectionType
from wsproto6455.events import CloseConnection, Event

from frame_helpers import (CLIENT, SERVER, closes, collected, frame, split_at, unconsumed,
                           valid_on_wire, valid_streams)

MAX_MESSAGE = 1000
#: A partial header (at most 13 bytes) or one whole control frame short of a
#: byte: 2 + 4 (mask) + 125.
MAX_HELD = 6 + 125

# Hangs show up as a missed deadline rather than a stuck run.
fuzz_settings = settings(deadline=timedelta(seconds=5),
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

roles = st.sampled_from([SERVER, CLIENT])


def run(role: ConnectionType, pieces: List[bytes], whole: bool, local_close: bool = False,
        max_frame: Optional[int] = None) -> tuple[Connection, List[Event]]:
    conn = Connection(role, max_message_size=MAX_MESSAGE, max_frame_size=max_frame,
                      whole_messages=whole)
    if local_close:
        conn.send(CloseConnection(1000))
    start = conn.state
    events: List[Event] = []
    for piece in pieces:
        if conn.state is ConnectionState.CLOSED:
            break  # feeding a closed connection is the caller's mistake
        conn.receive_data(piece)
        events += conn.events()
        assert unconsumed(conn) <= MAX_HELD
        assert collected(conn) <= MAX_MESSAGE
    check_events(conn, start, events)
    return conn, events


def check_events(conn: Connection, start: ConnectionState, events: List[Event]) -> None:
    found = closes(events)
    assert len(found) <= 1, events
    if found:
        assert events[-1] is found[0]
        code = found[0].code
        assert code in (1002, 1005, 1007, 1009) or valid_on_wire(code), code
        assert conn.state in (ConnectionState.REMOTE_CLOSING, ConnectionState.CLOSED)
        if code in (1002, 1007, 1009) and not isinstance(found[0].reason, str):
            raise AssertionError("a violation comes with a reason")
    else:
        assert conn.state is start
    for event in events:
        data = getattr(event, "data", None)
        if data is not None:
            assert len(data) <= MAX_MESSAGE


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> List[bytes]:
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=12))
    return split_at(data, cuts)


@st.composite
def random_frames(draw: st.DrawFn) -> bytes:
    """Frames with arbitrary header fields: any opcode, RSV, FIN, mask bit, length form."""
    out = b""
    for _ in range(draw(st.integers(1, 6))):
        first = draw(st.integers(0, 255))
        payload = draw(st.binary(max_size=300))
        masked = draw(st.booleans())
        key = draw(st.binary(min_size=4, max_size=4)) if masked else None
        opcode, fin, rsv = first & 0x0F, bool(first & 0x80), first & 0x70
        if draw(st.booleans()):
            out += frame(opcode, payload, fin=fin, rsv=rsv, mask=key)
        else:
            # A lying length: announce more (or a different form) than is sent.
            length = draw(st.sampled_from([126, 65535, 65536, 2**32, 2**63 - 1, 2**63, 2**64 - 1]))
            out += frame(opcode, payload, fin=fin, rsv=rsv, mask=key, length=length)
    return out


@st.composite
def mutated(draw: st.DrawFn, role: ConnectionType) -> bytes:
    stream, _ = draw(valid_streams(role, max_size=400))
    data = bytearray(stream)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "replace"]))
        pos = draw(st.integers(0, len(data)))
        if kind == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 8))]
        else:
            data[pos:pos + 4] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


class TestRandomBytes:
    @fuzz_settings
    @given(role=roles, whole=st.booleans(), local_close=st.booleans(), data=st.data())
    def test_random_bytes(self, role: ConnectionType, whole: bool, local_close: bool,
                          data: st.DataObject) -> None:
        stream = data.draw(st.binary(max_size=2000))
        run(role, data.draw(chunked(stream)), whole, local_close)

    @fuzz_settings
    @given(role=roles, whole=st.booleans(), max_frame=st.sampled_from([None, 10, 200]),
           data=st.data())
    def test_random_frames(self, role: ConnectionType, whole: bool, max_frame: Optional[int],
                           data: st.DataObject) -> None:
        stream = data.draw(random_frames())
        run(role, data.draw(chunked(stream)), whole, max_frame=max_frame)

    @fuzz_settings
    @given(role=roles, whole=st.booleans(), data=st.data())
    def test_random_bytes_one_at_a_time(self, role: ConnectionType, whole: bool,
                                        data: st.DataObject) -> None:
        stream = data.draw(random_frames())
        run(role, [stream[i:i + 1] for i in range(len(stream))], whole)


class TestMutatedStreams:
    @fuzz_settings
    @given(role=roles, whole=st.booleans(), local_close=st.booleans(), data=st.data())
    def test_mutated_valid_stream(self, role: ConnectionType, whole: bool, local_close: bool,
                                  data: st.DataObject) -> None:
        stream = data.draw(mutated(role))
        run(role, data.draw(chunked(stream)), whole, local_close)

    @fuzz_settings
    @given(role=roles, data=st.data())
    def test_chunking_does_not_change_the_outcome(self, role: ConnectionType, data: st.DataObject) -> None:
        stream = data.draw(mutated(role))
        _, whole = run(role, [stream], True)
        _, pieces = run(role, data.draw(chunked(stream)), True)
        assert pieces == whole

    @fuzz_settings
    @given(role=roles, data=st.data())
    def test_trailing_garbage_after_a_valid_stream(self, role: ConnectionType, data: st.DataObject) -> None:
        stream, expected = data.draw(valid_streams(role, max_size=400))
        garbage = data.draw(st.binary(min_size=1, max_size=300))
        _, events = run(role, data.draw(chunked(stream + garbage)), True)
        assert events[:len(expected)] == expected


class TestEofAfterHostileInput:
    @fuzz_settings
    @given(role=roles, whole=st.booleans(), data=st.data())
    def test_eof_adds_at_most_one_close(self, role: ConnectionType, whole: bool,
                                        data: st.DataObject) -> None:
        """Whatever came before, the connection ends CLOSED with one CloseConnection."""
        stream = data.draw(st.one_of(st.binary(max_size=500), mutated(role)))
        conn, events = run(role, data.draw(chunked(stream)), whole)
        conn.receive_data(None)
        events += conn.events()
        assert conn.state is ConnectionState.CLOSED
        assert len(closes(events)) == 1, events
        assert isinstance(events[-1], CloseConnection)
