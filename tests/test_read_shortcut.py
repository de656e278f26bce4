"""The compiled read shortcut (``_speedups.ReadShortcut``).

While the scanner owns a frame under way, a connection's ``receive_data``
and ``events`` are C methods that scan the new bytes at once; everything
else goes to the general methods. Nothing a caller can observe may change:
events, their order, close codes, the state, what waits when the caller
stops iterating early. The reference is the same connection with the
shortcut switched off (a subclass with its own ``receive_data``, which the
shortcut must never bypass), on the same compiled kernels.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any, List, Optional, Tuple
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsproto6455 import Connection, ConnectionState, ConnectionType, WSConnection, _scan_py, backend
from wsproto6455 import reader as reader_module
from wsproto6455.events import (AcceptConnection, BytesMessage, CloseConnection, Event, Message, Ping,
                                Request, TextMessage)

from frame_helpers import (BINARY, CLOSE, CONT, PING, ROLE_IDS, ROLES, TEXT, close_payload,
                           frame_from, wrongly_masked_from)

pytestmark = pytest.mark.skipif(backend.ReadShortcut is None,
                                reason="the shortcut exists only in the compiled backend")


class GeneralRoute(Connection):
    """The same connection, always by the general methods."""

    def receive_data(self, data: Optional[bytes]) -> None:
        super().receive_data(data)

    def events(self) -> Any:
        return super().events()


def describe(events: List[Event]) -> List[Tuple[object, ...]]:
    return [(type(e), e.data, e.frame_finished, e.message_finished) if isinstance(e, Message)
            else (type(e), repr(e)) for e in events]


def test_the_shortcut_answers_and_a_subclass_is_never_bypassed() -> None:
    conn = Connection(ConnectionType.SERVER)
    assert Connection.receive_data is backend.ReadShortcut.receive_data  # type: ignore[union-attr]
    assert Connection.events is backend.ReadShortcut.events  # type: ignore[union-attr]
    assert conn._shortcut_open
    general = GeneralRoute(ConnectionType.SERVER)
    assert general.receive_data.__func__ is GeneralRoute.receive_data  # type: ignore[attr-defined]
    assert general.events.__func__ is GeneralRoute.events  # type: ignore[attr-defined]
    assert not general._shortcut_open  # its super() calls go the general route


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
@pytest.mark.parametrize("whole", [False, True], ids=["pieces", "whole"])
def test_a_large_message_read_by_read(role: ConnectionType, whole: bool) -> None:
    text = "héllo wörld " * 2000
    data = frame_from(role, TEXT, text.encode()) + frame_from(role, PING, b"p")
    conn = Connection(role, whole_messages=whole)
    events: List[Event] = []
    for i in range(0, len(data), 1000):
        conn.receive_data(data[i:i + 1000])
        events += conn.events()
    assert "".join(e.data for e in events if isinstance(e, TextMessage)) == text
    assert isinstance(events[-1], Ping)
    assert len(events) == (2 if whole else 1 + -(-len(data) // 1000))


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
def test_end_of_stream_inside_a_frame_is_1006(role: ConnectionType) -> None:
    data = frame_from(role, BINARY, bytes(5000))
    conn = Connection(role)
    conn.receive_data(data[:3000])
    assert [type(e) for e in conn.events()] == [BytesMessage]
    conn.receive_data(None)
    (close,) = list(conn.events())
    assert isinstance(close, CloseConnection) and close.code == 1006
    assert conn.state is ConnectionState.CLOSED


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
def test_invalid_text_in_the_frame_under_way_is_1007_after_the_pieces_before(role: ConnectionType) -> None:
    data = frame_from(role, TEXT, b"a" * 3000 + b"\xff" + b"b" * 3000)
    conn = Connection(role)
    conn.receive_data(data[:2000])
    first = list(conn.events())
    conn.receive_data(data[2000:4000])
    conn.receive_data(data[4000:])
    rest = list(conn.events())
    # The first read's piece, then the fault: the two later reads are
    # scanned as one piece, which fails whole (as by the general route).
    assert [type(e) for e in first] == [TextMessage]
    header = 8 if role is ConnectionType.SERVER else 4  # 16-bit length, and a key from a client
    assert first[0].data == "a" * (2000 - header)  # type: ignore[attr-defined]
    assert [type(e) for e in rest] == [CloseConnection]
    assert rest[0].code == 1007  # type: ignore[attr-defined]
    assert conn.state is ConnectionState.REMOTE_CLOSING  # our close is to be sent


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
def test_a_fault_after_the_frame_in_the_same_read(role: ConnectionType) -> None:
    data = frame_from(role, BINARY, bytes(3000)) + frame_from(role, CONT, b"x")
    conn = Connection(role)
    conn.receive_data(data[:1000])
    events = list(conn.events())  # the frame is under way
    conn.receive_data(data[1000:])
    events += conn.events()
    assert [type(e) for e in events] == [BytesMessage, BytesMessage, CloseConnection]
    assert events[-1].code == 1002  # type: ignore[attr-defined]


def test_events_not_taken_wait_in_order() -> None:
    role = ConnectionType.SERVER
    data = frame_from(role, BINARY, bytes(range(256)) * 40)
    conn = Connection(role)
    taken: List[Event] = []
    for i in range(0, len(data), 700):
        conn.receive_data(data[i:i + 700])
        iterator = conn.events()
        taken += [next(iterator)] if i % 1400 else []  # take one, or none, and stop
    taken += conn.events()
    assert b"".join(e.data for e in taken) == bytes(range(256)) * 40  # type: ignore[attr-defined]
    assert [e.message_finished for e in taken].count(True) == 1  # type: ignore[attr-defined]


def test_the_websocket_connection_hands_its_calls_to_the_shortcut() -> None:
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    list(server.events())
    client.receive_data(server.send(AcceptConnection()))
    list(client.events())  # the handshake's AcceptConnection
    list(client.events())  # from now on, the connection's
    assert server.connection is not None
    assert server.receive_data == server.connection.receive_data
    assert server.events == server.connection.events
    assert client.connection is not None and client.events == client.connection.events
    payload = bytes(9000)
    data = client.send(BytesMessage(payload))
    received = b""
    for i in range(0, len(data), 4096):
        server.receive_data(data[i:i + 4096])
        received += b"".join(e.data for e in server.events())  # type: ignore[attr-defined]
    assert received == payload


# -- differential: any stream, any cuts, any way of taking the events ---------

@st.composite
def streams(draw: st.DrawFn) -> Tuple[ConnectionType, bytes]:
    role = draw(st.sampled_from(ROLES))
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["text", "binary", "ping", "fragmented", "bad"]))
        if kind == "text":
            parts.append(frame_from(role, TEXT, draw(st.text(min_size=100, max_size=1500)).encode()))
        elif kind == "binary":
            parts.append(frame_from(role, BINARY, draw(st.binary(min_size=100, max_size=3000))))
        elif kind == "ping":
            parts.append(frame_from(role, PING, draw(st.binary(max_size=20))))
        elif kind == "fragmented":
            parts.append(frame_from(role, TEXT, b"abc" * 100, fin=False) + frame_from(role, CONT, b"d" * 300))
        else:
            parts.append(draw(st.sampled_from([
                frame_from(role, TEXT, b"x" * 200 + b"\xed\xa0\x80"),
                frame_from(role, TEXT, b"x" * 200 + b"\xe2\x82"),
                wrongly_masked_from(role, BINARY, b"y" * 300),
                frame_from(role, CONT, b"z"),
                # A new message inside a fragmented one (1002): the reader
                # assembles the fragments, so the scanner must not take it.
                frame_from(role, TEXT, b"abc" * 50, fin=False) + frame_from(role, TEXT, b"new"),
                frame_from(role, CLOSE, close_payload(1000, b"bye")),
            ])))
    return role, b"".join(parts)


@settings(max_examples=300, deadline=None)
@given(stream=streams(), cuts=st.lists(st.integers(0, 20000), max_size=12),
       takes=st.lists(st.integers(-1, 3), min_size=1, max_size=8), whole=st.booleans(),
       limit=st.sampled_from([None, 2000]), eof=st.booleans(), as_bytearray=st.booleans())
def test_same_as_the_general_route(stream: Tuple[ConnectionType, bytes], cuts: List[int],
                                   takes: List[int], whole: bool, limit: Optional[int], eof: bool,
                                   as_bytearray: bool) -> None:
    role, data = stream
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    reads: List[Optional[bytes]] = [data[a:b] for a, b in zip(bounds, bounds[1:])]
    if as_bytearray and reads:
        reads[0] = bytearray(reads[0])  # type: ignore[call-overload]
    if eof:
        reads.append(None)

    def run(conn: Connection) -> Tuple[List[Tuple[object, ...]], ConnectionState]:
        seen: List[Event] = []
        for i, read in enumerate(reads):
            conn.receive_data(read)
            take = takes[i % len(takes)]  # -1: all; else take this many and stop
            iterator = iter(conn.events())
            seen += list(iterator) if take < 0 else [e for _, e in zip(range(take), iterator)]
        seen += conn.events()
        return describe(seen), conn.state

    options: dict[str, Any] = {"whole_messages": whole, "max_message_size": limit}
    assert run(Connection(role, **options)) == run(GeneralRoute(role, **options))


def _tricky_streams(role: ConnectionType) -> List[bytes]:
    """Streams where the reader, not the scanner, holds state between reads."""
    return [
        # A new message inside a fragmented one: 1002.
        frame_from(role, TEXT, b"abc", fin=False) + frame_from(role, TEXT, b"new"),
        # A fragmented message with a ping between its fragments, then a message.
        frame_from(role, TEXT, b"abc", fin=False) + frame_from(role, PING, b"p")
        + frame_from(role, CONT, b"def") + frame_from(role, BINARY, b"next"),
        # Two simple messages, then a close, then bytes after it.
        frame_from(role, TEXT, b"one") + frame_from(role, BINARY, b"two")
        + frame_from(role, CLOSE, close_payload(1000, b"bye")) + frame_from(role, TEXT, b"late"),
        # A simple message, then one the general route rejects (bad UTF-8).
        frame_from(role, TEXT, b"fine") + frame_from(role, TEXT, b"\xff"),
    ]


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
def test_same_as_the_general_route_at_every_cut(role: ConnectionType) -> None:
    # Hypothesis rarely cuts a stream right between two short frames, where
    # the shortcut must see that the reader is assembling a message.
    for data in _tricky_streams(role):
        for cut in range(len(data) + 1):
            runs = []
            for conn in (Connection(role), GeneralRoute(role)):
                seen: List[Event] = []
                for read in (data[:cut], data[cut:]):
                    conn.receive_data(read)
                    seen += conn.events()
                runs.append((describe(seen), conn.state))
            assert runs[0] == runs[1], (data, cut)


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
def test_a_fault_found_before_the_caller_looked_comes_before_later_messages(role: ConnectionType) -> None:
    # The first events() is called but not iterated: the fault its scan found
    # waits in the reader, and must come out before the next read's message.
    runs = []
    for conn in (Connection(role), GeneralRoute(role)):
        conn.receive_data(frame_from(role, TEXT, b"\xff"))
        conn.events()
        conn.receive_data(frame_from(role, TEXT, b"later"))
        runs.append((describe(list(conn.events())), conn.state))
    assert runs[0] == runs[1]
    assert runs[0][0][0][0] is CloseConnection


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
def test_text_pieces_same_as_the_pure_scanner_at_every_cut(role: ConnectionType) -> None:
    # ASCII pieces are unmasked straight into their str; pieces with other
    # bytes, or after an unfinished code point, are decoded: both must give
    # what the pure scanner gives, wherever the reads are cut.
    text = "plain ascii " * 30 + "é" + "x" * 40 + "€𝄞" + "tail " * 30
    data = frame_from(role, TEXT, text.encode()) + frame_from(role, TEXT, b"ok")

    def pieces(conn: Connection, cuts: Tuple[int, int]) -> List[Tuple[object, ...]]:
        seen: List[Event] = []
        for start, end in zip((0, *cuts), (*cuts, len(data))):
            conn.receive_data(data[start:end])
            seen += conn.events()
        return describe(seen)

    for first in range(10, len(data) - 20, 7):
        cuts = (first, first + 13)
        with mock.patch.object(reader_module, "Scanner", _scan_py.Scanner):
            expected = pieces(Connection(role), cuts)
        got = pieces(Connection(role), cuts)
        assert got == expected, cuts
        assert "".join(e[1] for e in got if e[0] is TextMessage) == text + "ok"  # type: ignore[misc]


def test_a_connection_is_freed_without_the_cycle_collector() -> None:
    # The shortcut is the connection's base class, not an object it holds:
    # nothing the connection holds refers back to it, so a closed connection
    # does not wait for the cyclic collector.
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    list(server.events())
    server.send(AcceptConnection())
    assert server.connection is not None
    refs = [weakref.ref(server.connection), weakref.ref(Connection(ConnectionType.CLIENT))]
    enabled = gc.isenabled()
    gc.disable()
    try:
        del server
        assert [ref() for ref in refs] == [None, None]
    finally:
        if enabled:
            gc.enable()


@pytest.mark.parametrize("owner", ["Connection", "WSConnection"])
def test_the_bound_methods_kept_alone_keep_their_connection(owner: str) -> None:
    # As with any Python method: a server loop may keep conn.receive_data and
    # conn.events and drop the connection object itself.
    role = ConnectionType.SERVER
    if owner == "Connection":
        conn: Any = Connection(role)
    else:
        client, conn = WSConnection(ConnectionType.CLIENT), WSConnection(role)
        conn.receive_data(client.send(Request(host="h", target="/")))
        list(conn.events())
        conn.send(AcceptConnection())
        list(conn.events())  # from now on the connection's own methods answer
    receive_data, events = conn.receive_data, conn.events
    del conn
    gc.collect()
    data = frame_from(role, BINARY, bytes(range(256)) * 40)
    received = b""
    for i in range(0, len(data), 1000):  # the frame under way: the C route
        receive_data(data[i:i + 1000])
        received += b"".join(e.data for e in events())
    assert received == bytes(range(256)) * 40
