"""Connection: RFC 6455 §7 closing, close codes, EOF, and what happens after a violation.

Every case runs for both roles; the peer is a real Connection of the other
role where the exchange matters, or hand-built frames where the bytes do.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsproto6455 import Connection, ConnectionState, ConnectionType, WSConnection
from wsproto6455.connection import DEFAULT_MAX_MESSAGE_SIZE
from wsproto6455.errors import LocalProtocolError
from wsproto6455.events import (AcceptConnection, BytesMessage, CloseConnection, Ping, Pong,
                                Request, TextMessage)

from frame_helpers import (BINARY, CLIENT, CLOSE, PING, SERVER, TEXT, close_payload, feed, frame_from,
                           only_close, parse_frames, role_param, unconsumed)

S = ConnectionState

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
               3000, 3001, 3999, 4000, 4001, 4999]
INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


def pair() -> tuple[Connection, Connection]:
    return Connection(CLIENT), Connection(SERVER)


def other(role: ConnectionType) -> ConnectionType:
    return CLIENT if role is SERVER else SERVER


class TestConstruction:
    @role_param
    def test_starts_open(self, role: ConnectionType) -> None:
        assert Connection(role).state is S.OPEN

    def test_default_message_limit_is_1_mib(self) -> None:
        assert DEFAULT_MAX_MESSAGE_SIZE == 1 << 20

    def test_unknown_option(self) -> None:
        with pytest.raises(TypeError):
            Connection(SERVER, max_mesage_size=10)  # type: ignore[call-arg]

    @role_param
    def test_trailing_data_is_interpreted(self, role: ConnectionType) -> None:
        conn = Connection(role, trailing_data=frame_from(role, TEXT, b"early"))
        assert list(conn.events()) == [TextMessage("early")]


@role_param
class TestRFC6455Section7_4_1ReceivedCodes:
    @pytest.mark.parametrize("code", VALID_CODES)
    def test_valid_code_accepted(self, role: ConnectionType, code: int) -> None:
        conn = Connection(role)
        events = feed(conn, frame_from(role, CLOSE, close_payload(code, b"why")))
        assert events == [CloseConnection(code, "why")]
        assert conn.state is S.REMOTE_CLOSING

    @pytest.mark.parametrize("code", INVALID_CODES)
    def test_invalid_code_is_protocol_error(self, role: ConnectionType, code: int) -> None:
        conn = Connection(role)
        close = only_close(feed(conn, frame_from(role, CLOSE, close_payload(code))))
        assert close.code == 1002
        assert conn.state is S.REMOTE_CLOSING

    def test_one_byte_payload(self, role: ConnectionType) -> None:
        assert only_close(feed(Connection(role), frame_from(role, CLOSE, b"\x03"))).code == 1002

    @pytest.mark.parametrize("reason", [b"\xff", b"ok\xc3", b"\xed\xa0\x80", b"\xc0\xaf"])
    def test_bad_utf8_reason(self, role: ConnectionType, reason: bytes) -> None:
        data = frame_from(role, CLOSE, close_payload(1000, reason))
        assert only_close(feed(Connection(role), data)).code == 1007

    def test_unicode_reason(self, role: ConnectionType) -> None:
        data = frame_from(role, CLOSE, close_payload(1000, "à bientôt 👋".encode()))
        assert feed(Connection(role), data) == [CloseConnection(1000, "à bientôt 👋")]

    def test_longest_reason(self, role: ConnectionType) -> None:
        data = frame_from(role, CLOSE, close_payload(1000, b"r" * 123))
        assert feed(Connection(role), data) == [CloseConnection(1000, "r" * 123)]

    def test_empty_payload_is_no_status(self, role: ConnectionType) -> None:
        """§7.1.5: a close frame without a status code means 1005."""
        conn = Connection(role)
        (close,) = feed(conn, frame_from(role, CLOSE, b""))
        assert close == CloseConnection(1005, "")
        # ... and the response carries no status either: an empty close frame.
        (f,) = parse_frames(conn.send(close.response()))
        assert (f.opcode, f.payload) == (CLOSE, b"")
        assert conn.state is S.CLOSED


@role_param
class TestRFC6455Section7_1_2SendingCodes:
    # 1005 is absent: "no status" is sent as an empty close frame.
    @pytest.mark.parametrize("code", [c for c in INVALID_CODES if c != 1005])
    def test_invalid_code_is_local_error(self, role: ConnectionType, code: int) -> None:
        conn = Connection(role)
        with pytest.raises(LocalProtocolError):
            conn.send(CloseConnection(code))
        assert conn.state is S.OPEN

    @pytest.mark.parametrize("code", VALID_CODES)
    def test_valid_code_reaches_the_peer(self, role: ConnectionType, code: int) -> None:
        conn = Connection(role)
        data = conn.send(CloseConnection(code, "reason"))
        assert feed(Connection(other(role)), data) == [CloseConnection(code, "reason")]

    def test_reason_none_sends_code_only(self, role: ConnectionType) -> None:
        (f,) = parse_frames(Connection(role).send(CloseConnection(1000)))
        assert f.payload == b"\x03\xe8"

    @pytest.mark.parametrize("char", ["a", "é", "€", "😀"])
    def test_long_reason_truncated_to_fit_125_bytes(self, role: ConnectionType, char: str) -> None:
        data = Connection(role).send(CloseConnection(1000, char * 300))
        (f,) = parse_frames(data)
        assert len(f.payload) <= 125
        reason = f.payload[2:].decode("utf-8")
        assert reason == char * len(reason)
        assert len(reason.encode()) > 123 - len(char.encode())  # cut no earlier than needed
        (event,) = feed(Connection(other(role)), data)
        assert event == CloseConnection(1000, reason)


class TestRFC6455Section7ClosingHandshake:
    """§7.1.2-§7.1.3: either end may start; the other answers with a close frame."""

    @pytest.mark.parametrize("initiator", [CLIENT, SERVER], ids=["client", "server"])
    def test_clean_close(self, initiator: ConnectionType) -> None:
        client, server = pair()
        first, second = (client, server) if initiator is CLIENT else (server, client)
        data = first.send(CloseConnection(1000, "bye"))
        assert first.state is S.LOCAL_CLOSING
        (close,) = feed(second, data)
        assert close == CloseConnection(1000, "bye")
        assert second.state is S.REMOTE_CLOSING
        reply = second.send(close.response())
        assert second.state is S.CLOSED
        assert feed(first, reply) == [CloseConnection(1000, "bye")]
        assert first.state is S.CLOSED

    @pytest.mark.parametrize("initiator", [CLIENT, SERVER], ids=["client", "server"])
    def test_simultaneous_close(self, initiator: ConnectionType) -> None:
        client, server = pair()
        to_server = client.send(CloseConnection(1000))
        to_client = server.send(CloseConnection(1001))
        assert client.state is server.state is S.LOCAL_CLOSING
        assert feed(server, to_server) == [CloseConnection(1000, "")]
        assert feed(client, to_client) == [CloseConnection(1001, "")]
        assert client.state is server.state is S.CLOSED

    @role_param
    def test_data_still_received_while_closing(self, role: ConnectionType) -> None:
        """§7.1.2: after sending close, the endpoint may still receive data."""
        conn = Connection(role)
        conn.send(CloseConnection(1000))
        data = frame_from(role, TEXT, b"late") + frame_from(role, PING, b"p")
        assert feed(conn, data) == [TextMessage("late"), Ping(b"p")]
        assert conn.state is S.LOCAL_CLOSING
        assert feed(conn, frame_from(role, CLOSE, close_payload(1000))) == [CloseConnection(1000, "")]
        assert conn.state is S.CLOSED

    @role_param
    def test_response_repeats_the_code(self, role: ConnectionType) -> None:
        (close,) = feed(Connection(role), frame_from(role, CLOSE, close_payload(4001, b"app")))
        assert close.response() == CloseConnection(4001, "app")  # type: ignore[union-attr]


@role_param
class TestSendingAfterClose:
    @pytest.mark.parametrize("event", [TextMessage("x"), BytesMessage(b"x"), Ping(b""), Pong(b""),
                                       TextMessage("x", message_finished=False)])
    def test_after_local_close(self, role: ConnectionType, event: object) -> None:
        conn = Connection(role)
        conn.send(CloseConnection(1000))
        with pytest.raises(LocalProtocolError):
            conn.send(event)  # type: ignore[arg-type]
        assert conn.state is S.LOCAL_CLOSING

    @pytest.mark.parametrize("event", [TextMessage("x"), BytesMessage(b"x"), Ping(b""), Pong(b"")])
    def test_after_remote_close(self, role: ConnectionType, event: object) -> None:
        conn = Connection(role)
        feed(conn, frame_from(role, CLOSE, close_payload(1000)))
        with pytest.raises(LocalProtocolError):
            conn.send(event)  # type: ignore[arg-type]
        assert conn.state is S.REMOTE_CLOSING

    @pytest.mark.parametrize("event", [TextMessage("x"), Ping(b""), CloseConnection(1000)])
    def test_after_closed(self, role: ConnectionType, event: object) -> None:
        conn = Connection(role)
        conn.send(CloseConnection(1000))
        feed(conn, frame_from(role, CLOSE, close_payload(1000)))
        assert conn.state is S.CLOSED
        with pytest.raises(LocalProtocolError):
            conn.send(event)  # type: ignore[arg-type]

    def test_second_close(self, role: ConnectionType) -> None:
        conn = Connection(role)
        conn.send(CloseConnection(1000))
        with pytest.raises(LocalProtocolError):
            conn.send(CloseConnection(1000))
        assert conn.state is S.LOCAL_CLOSING

    def test_receiving_after_closed(self, role: ConnectionType) -> None:
        conn = Connection(role)
        conn.send(CloseConnection(1000))
        feed(conn, frame_from(role, CLOSE, close_payload(1000)))
        with pytest.raises(LocalProtocolError):
            conn.receive_data(frame_from(role, TEXT, b"x"))

    def test_unknown_event(self, role: ConnectionType) -> None:
        with pytest.raises(LocalProtocolError):
            Connection(role).send(Request(host="h", target="/"))
        with pytest.raises(LocalProtocolError):
            Connection(role).send(AcceptConnection())


@role_param
class TestRFC6455Section7_1_5Eof:
    """§7.1.5: a connection closed without a close frame has the code 1006."""

    def test_eof_while_open(self, role: ConnectionType) -> None:
        conn = Connection(role)
        assert feed(conn, None) == [CloseConnection(1006)]
        assert conn.state is S.CLOSED

    def test_eof_while_local_closing(self, role: ConnectionType) -> None:
        conn = Connection(role)
        conn.send(CloseConnection(1000))
        assert feed(conn, None) == [CloseConnection(1006)]
        assert conn.state is S.CLOSED

    def test_eof_after_data(self, role: ConnectionType) -> None:
        conn = Connection(role)
        conn.receive_data(frame_from(role, TEXT, b"last"))
        conn.receive_data(None)
        assert list(conn.events()) == [TextMessage("last"), CloseConnection(1006)]
        assert conn.state is S.CLOSED

    def test_eof_in_the_middle_of_a_frame(self, role: ConnectionType) -> None:
        conn = Connection(role, whole_messages=True)
        conn.receive_data(frame_from(role, BINARY, bytes(10))[:-3])
        conn.receive_data(None)
        assert list(conn.events()) == [CloseConnection(1006)]

    def test_eof_after_a_close_frame_in_the_same_batch(self, role: ConnectionType) -> None:
        """A close frame was received: the code is the peer's, not 1006, and there
        is only one CloseConnection."""
        conn = Connection(role)
        conn.receive_data(frame_from(role, CLOSE, close_payload(1000, b"bye")))
        conn.receive_data(None)
        assert list(conn.events()) == [CloseConnection(1000, "bye")]
        assert conn.state is S.CLOSED

    def test_eof_after_a_close_frame_in_an_earlier_batch(self, role: ConnectionType) -> None:
        """The close frame was already reported: EOF adds no second CloseConnection
        (the same events as when both arrive before ``events()`` is called)."""
        conn = Connection(role)
        assert feed(conn, frame_from(role, CLOSE, close_payload(1000, b"bye"))) == [
            CloseConnection(1000, "bye")]
        assert feed(conn, None) == []
        assert conn.state is S.CLOSED

    def test_eof_after_clean_close(self, role: ConnectionType) -> None:
        conn = Connection(role)
        conn.send(CloseConnection(1000))
        feed(conn, frame_from(role, CLOSE, close_payload(1000)))
        assert feed(conn, None) == []
        assert conn.state is S.CLOSED

    def test_eof_twice(self, role: ConnectionType) -> None:
        conn = Connection(role)
        assert feed(conn, None) == [CloseConnection(1006)]
        assert feed(conn, None) == []
        assert conn.state is S.CLOSED

    def test_nothing_sendable_after_eof(self, role: ConnectionType) -> None:
        conn = Connection(role)
        feed(conn, None)
        with pytest.raises(LocalProtocolError):
            conn.send(TextMessage("x"))
        with pytest.raises(LocalProtocolError):
            conn.send(CloseConnection(1000))


@role_param
class TestFailingTheConnection:
    """§7.1.7: on a violation the connection reports the code to answer with,
    interprets nothing more, and the response closes it."""

    VIOLATIONS = {
        "reserved opcode": (0x3, b"x", 1002),
        "bad utf-8": (TEXT, b"\xff", 1007),
        "big control": (PING, b"x" * 126, 1002),
        "too big": (BINARY, bytes(101), 1009),
    }

    @pytest.mark.parametrize("name", list(VIOLATIONS))
    def test_response_sends_the_code_and_closes(self, role: ConnectionType, name: str) -> None:
        opcode, payload, code = self.VIOLATIONS[name]
        conn = Connection(role, max_message_size=100)
        close = only_close(feed(conn, frame_from(role, opcode, payload)))
        assert close.code == code
        assert close.reason  # a human-readable explanation
        assert conn.state is S.REMOTE_CLOSING
        (f,) = parse_frames(conn.send(close.response()))
        assert f.opcode == CLOSE and int.from_bytes(f.payload[:2], "big") == code
        assert conn.state is S.CLOSED

    def test_nothing_after_the_violation_is_interpreted(self, role: ConnectionType) -> None:
        conn = Connection(role)
        events = feed(conn, frame_from(role, 0x3, b"x") + frame_from(role, TEXT, b"after"))
        assert only_close(events).code == 1002
        assert feed(conn, frame_from(role, PING, b"later")) == []
        conn.send(events[-1].response())  # type: ignore[union-attr]
        with pytest.raises(LocalProtocolError):
            conn.receive_data(frame_from(role, PING, b"even later"))

    def test_violation_while_local_closing_closes(self, role: ConnectionType) -> None:
        conn = Connection(role)
        conn.send(CloseConnection(1000))
        events = feed(conn, frame_from(role, TEXT, b"\xff"))
        assert only_close(events).code == 1007
        assert conn.state is S.CLOSED

    def test_bytes_after_violation_are_dropped(self, role: ConnectionType) -> None:
        conn = Connection(role)
        feed(conn, frame_from(role, CLOSE, b"\x03") + bytes(1000))
        conn.receive_data(bytes(5000))
        assert unconsumed(conn) == 0

    def test_violation_then_eof_in_a_later_batch(self, role: ConnectionType) -> None:
        """Same input as test_violation_then_eof, events read in between: same events."""
        conn = Connection(role)
        assert only_close(feed(conn, frame_from(role, 0x3, b"x"))).code == 1002
        assert feed(conn, None) == []
        assert conn.state is S.CLOSED

    def test_violation_then_eof(self, role: ConnectionType) -> None:
        conn = Connection(role)
        conn.receive_data(frame_from(role, 0x3, b"x"))
        conn.receive_data(None)
        events = list(conn.events())
        assert only_close(events).code == 1002
        assert conn.state is S.CLOSED


@role_param
class TestEventsIteration:
    def test_abandoned_iteration_resumes(self, role: ConnectionType) -> None:
        """Events not taken from one events() call come out of the next one."""
        conn = Connection(role)
        conn.receive_data(frame_from(role, TEXT, b"a") + frame_from(role, TEXT, b"b")
                          + frame_from(role, PING, b"x"))
        conn.receive_data(None)
        iterator = conn.events()
        assert next(iterator) == TextMessage("a")
        iterator.close()  # type: ignore[attr-defined]
        assert list(conn.events()) == [TextMessage("b"), Ping(b"x"), CloseConnection(1006)]

    def test_events_without_input(self, role: ConnectionType) -> None:
        conn = Connection(role)
        assert list(conn.events()) == []
        assert list(conn.events()) == []


class TestInMemoryPair:
    @given(events=st.lists(st.one_of(
        st.builds(TextMessage, st.text(max_size=100)),
        st.builds(BytesMessage, st.binary(max_size=200)),
        st.builds(Ping, st.binary(max_size=125)),
        st.builds(Pong, st.binary(max_size=125))), max_size=10),
        client_first=st.booleans())
    def test_conversation_then_close(self, events: list, client_first: bool) -> None:
        client, server = Connection(CLIENT, whole_messages=True), Connection(SERVER, whole_messages=True)
        a, b = (client, server) if client_first else (server, client)
        assert feed(b, b"".join(a.send(e) for e in events)) == events
        assert feed(a, b"".join(b.send(e) for e in events)) == events
        (close,) = feed(b, a.send(CloseConnection(1000)))
        feed(a, b.send(close.response()))  # type: ignore[union-attr]
        assert a.state is b.state is S.CLOSED


class TestWSConnectionAfterHandshake:
    """The same behaviour through WSConnection, once the handshake is done."""

    def handshake(self) -> tuple[WSConnection, WSConnection]:
        client, server = WSConnection(CLIENT), WSConnection(SERVER)
        server.receive_data(client.send(Request(host="example.com", target="/chat")))
        assert [type(e) for e in server.events()] == [Request]
        client.receive_data(server.send(AcceptConnection()))
        assert [type(e) for e in client.events()] == [AcceptConnection]
        return client, server

    def test_messages_and_close(self) -> None:
        client, server = self.handshake()
        assert client.state is server.state is S.OPEN
        assert feed(server, client.send(TextMessage("hi"))) == [TextMessage("hi")]
        assert feed(client, server.send(BytesMessage(b"yo"))) == [BytesMessage(b"yo")]
        (close,) = feed(server, client.send(CloseConnection(1000)))
        feed(client, server.send(close.response()))  # type: ignore[union-attr]
        assert client.state is server.state is S.CLOSED

    def test_frames_in_the_same_read_as_the_accept(self) -> None:
        client, server = WSConnection(CLIENT), WSConnection(SERVER)
        server.receive_data(client.send(Request(host="example.com", target="/")))
        list(server.events())
        data = server.send(AcceptConnection()) + server.send(TextMessage("first"))
        events = feed(client, data)
        assert [type(e) for e in events] == [AcceptConnection, TextMessage]
        assert events[1] == TextMessage("first")

    def test_options_reach_the_connection(self) -> None:
        client, server = WSConnection(CLIENT), WSConnection(SERVER, max_message_size=10)
        server.receive_data(client.send(Request(host="example.com", target="/")))
        list(server.events())
        client.receive_data(server.send(AcceptConnection()))
        list(client.events())
        assert only_close(feed(server, client.send(BytesMessage(bytes(11))))).code == 1009

    def test_eof(self) -> None:
        client, server = self.handshake()
        assert feed(server, None) == [CloseConnection(1006)]
        assert server.state is S.CLOSED
