"""The connection state machine: one table (wsproto6455.state.TRANSITIONS), both roles.

The table is walked exhaustively; then a hypothesis state machine drives an
in-memory client/server pair with random sends, partial deliveries, protocol
violations and EOFs, predicting every state from the table alone and checking
that whatever the table does not allow raises LocalProtocolError.
"""

from __future__ import annotations

import itertools
from typing import Dict, List, Optional, Tuple, Union

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from wsproto6455 import Connection, ConnectionState, ConnectionType, WSConnection
from wsproto6455.errors import LocalProtocolError
from wsproto6455.events import (AcceptConnection, BytesMessage, CloseConnection, Event, Ping, Pong,
                                RejectConnection, RejectData, Request, TextMessage)
from wsproto6455.state import CLIENT_ONLY, SERVER_ONLY, TRANSITIONS, Trigger, advance

from frame_helpers import CLIENT, SERVER, TEXT, wrongly_masked_from

S = ConnectionState
T = Trigger
ALL_PAIRS = list(itertools.product(ConnectionState, Trigger))


def allowed(role: ConnectionType, trigger: Trigger) -> bool:
    return trigger not in (SERVER_ONLY if role is CLIENT else CLIENT_ONLY)


class TestTransitionTable:
    @pytest.mark.parametrize("role", [CLIENT, SERVER], ids=["client", "server"])
    @pytest.mark.parametrize("state, trigger", ALL_PAIRS, ids=[f"{s.name}-{t.name}" for s, t in ALL_PAIRS])
    def test_every_pair(self, role: ConnectionType, state: ConnectionState, trigger: Trigger) -> None:
        """Listed and allowed for the role: the table's target. Anything else raises."""
        if (state, trigger) in TRANSITIONS and allowed(role, trigger):
            assert advance(role, state, trigger) is TRANSITIONS[state, trigger]
        else:
            with pytest.raises(LocalProtocolError) as info:
                advance(role, state, trigger)
            assert state.name in str(info.value)

    def test_role_only_triggers_are_disjoint(self) -> None:
        assert not CLIENT_ONLY & SERVER_ONLY

    def test_every_state_is_reachable_from_connecting(self) -> None:
        for role in (CLIENT, SERVER):
            seen = {S.CONNECTING}
            frontier = [S.CONNECTING]
            while frontier:
                state = frontier.pop()
                for (source, trigger), target in TRANSITIONS.items():
                    if source is state and allowed(role, trigger) and target not in seen:
                        seen.add(target)
                        frontier.append(target)
            assert seen == set(ConnectionState), role

    def test_closed_is_terminal(self) -> None:
        leaving = {t for (s, t), target in TRANSITIONS.items() if s is S.CLOSED}
        assert leaving == {T.RECV_EOF}
        assert TRANSITIONS[S.CLOSED, T.RECV_EOF] is S.CLOSED

    def test_eof_closes_from_everywhere(self) -> None:
        for state in ConnectionState:
            assert TRANSITIONS[state, T.RECV_EOF] is S.CLOSED

    def test_data_is_sent_only_when_open(self) -> None:
        assert [s for (s, t) in TRANSITIONS if t is T.SEND_DATA] == [S.OPEN]

    def test_data_is_received_while_open_or_local_closing(self) -> None:
        """RFC 6455 §7.1.2: after sending a close, data may still arrive."""
        assert {s for (s, t) in TRANSITIONS if t is T.RECV_DATA} == {S.OPEN, S.LOCAL_CLOSING}

    @pytest.mark.parametrize("first, second", [(T.SEND_CLOSE, T.RECV_CLOSE), (T.RECV_CLOSE, T.SEND_CLOSE)])
    def test_closing_handshake_either_way(self, first: Trigger, second: Trigger) -> None:
        middle = TRANSITIONS[S.OPEN, first]
        assert middle in (S.LOCAL_CLOSING, S.REMOTE_CLOSING)
        assert TRANSITIONS[middle, second] is S.CLOSED

    def test_violation_is_answered_like_a_close(self) -> None:
        assert TRANSITIONS[S.OPEN, T.RECV_FAULT] is TRANSITIONS[S.OPEN, T.RECV_CLOSE]
        assert TRANSITIONS[S.LOCAL_CLOSING, T.RECV_FAULT] is TRANSITIONS[S.LOCAL_CLOSING, T.RECV_CLOSE]

    @pytest.mark.parametrize("trigger", sorted(SERVER_ONLY, key=lambda t: t.name))
    def test_client_cannot_do_server_things(self, trigger: Trigger) -> None:
        for state in ConnectionState:
            with pytest.raises(LocalProtocolError):
                advance(CLIENT, state, trigger)

    @pytest.mark.parametrize("trigger", sorted(CLIENT_ONLY, key=lambda t: t.name))
    def test_server_cannot_do_client_things(self, trigger: Trigger) -> None:
        for state in ConnectionState:
            with pytest.raises(LocalProtocolError):
                advance(SERVER, state, trigger)


class TestConnectingState:
    """Before the handshake completes, no WebSocket traffic can be sent."""

    @pytest.mark.parametrize("role", [CLIENT, SERVER], ids=["client", "server"])
    @pytest.mark.parametrize("event", [TextMessage("x"), BytesMessage(b"x"), Ping(b""), Pong(b""),
                                       CloseConnection(1000)])
    def test_no_data_or_close_while_connecting(self, role: ConnectionType, event: Event) -> None:
        ws = WSConnection(role)
        with pytest.raises(LocalProtocolError):
            ws.send(event)
        assert ws.state is S.CONNECTING

    @pytest.mark.parametrize("event", [AcceptConnection(), RejectConnection(), RejectData(b"")])
    def test_client_cannot_answer_a_handshake(self, event: Event) -> None:
        with pytest.raises(LocalProtocolError):
            WSConnection(CLIENT).send(event)

    def test_server_cannot_request(self) -> None:
        with pytest.raises(LocalProtocolError):
            WSConnection(SERVER).send(Request(host="h", target="/"))

    def test_eof_while_connecting(self) -> None:
        ws = WSConnection(SERVER)
        ws.receive_data(None)
        list(ws.events())
        assert ws.state is S.CLOSED

    @pytest.mark.parametrize("role", [CLIENT, SERVER], ids=["client", "server"])
    def test_post_handshake_sends_refused_in_closed(self, role: ConnectionType) -> None:
        conn = Connection(role)
        conn.receive_data(None)
        list(conn.events())
        for event in (TextMessage("x"), Ping(b""), CloseConnection(1000)):
            with pytest.raises(LocalProtocolError):
                conn.send(event)


FAULT = "fault"
Expected = Union[Event, str]


class Wire:
    """Bytes one end sent, and the events the other end must see as they arrive."""

    def __init__(self) -> None:
        self.data = b""
        self.delivered = 0
        self.marks: List[Tuple[int, Expected]] = []  # (end offset, event) in order
        self.next_mark = 0

    def push(self, data: bytes, expected: Expected, seen_after: Optional[int] = None) -> None:
        """``seen_after``: the event is due once that many bytes of ``data`` arrived."""
        self.data += data
        due = len(self.data) if seen_after is None else len(self.data) - len(data) + seen_after
        self.marks.append((due, expected))


SEND_EVENTS = st.one_of(
    st.builds(TextMessage, st.text(max_size=20)),
    st.builds(BytesMessage, st.binary(max_size=300)),
    st.builds(Ping, st.binary(max_size=10)),
    st.builds(Pong, st.binary(max_size=10)),
    st.builds(CloseConnection, st.sampled_from([1000, 1001, 1011, 3000, 4999, 1005]),
              st.sampled_from([None, "", "bye", "é" * 70])),
)


class ConnectionPair(RuleBasedStateMachine):
    """A client and a server in memory; the model is the transition table."""

    def __init__(self) -> None:
        super().__init__()
        self.conns: Dict[ConnectionType, Connection] = {}
        self.model: Dict[ConnectionType, ConnectionState] = {}
        self.wires: Dict[ConnectionType, Wire] = {}  # keyed by the receiving end
        self.closes_seen: Dict[ConnectionType, int] = {}

    @initialize(fragment=st.sampled_from([None, 1, 7, 128]))
    def start(self, fragment: Optional[int]) -> None:
        for role in (CLIENT, SERVER):
            self.conns[role] = Connection(role, whole_messages=True, fragment_size=fragment)
            self.model[role] = S.OPEN
            self.wires[role] = Wire()
            self.closes_seen[role] = 0

    @staticmethod
    def peer(role: ConnectionType) -> ConnectionType:
        return SERVER if role is CLIENT else CLIENT

    @rule(role=st.sampled_from([CLIENT, SERVER]), event=SEND_EVENTS)
    def send(self, role: ConnectionType, event: Event) -> None:
        trigger = T.SEND_CLOSE if isinstance(event, CloseConnection) else T.SEND_DATA
        state = self.model[role]
        if (state, trigger) not in TRANSITIONS:
            with pytest.raises(LocalProtocolError):
                self.conns[role].send(event)
            return
        data = self.conns[role].send(event)
        self.model[role] = TRANSITIONS[state, trigger]
        if isinstance(event, CloseConnection):
            if event.code == 1005:
                expected: Expected = CloseConnection(1005, "")
            else:
                reason = (event.reason or "").encode()[:123].decode("utf-8", "ignore")
                expected = CloseConnection(event.code, reason)
        else:
            expected = event
        self.wires[self.peer(role)].push(data, expected)

    @rule(role=st.sampled_from([CLIENT, SERVER]))
    def violate(self, role: ConnectionType) -> None:
        """The peer of ``role`` masks a frame the wrong way: known from the first two bytes."""
        self.wires[role].push(wrongly_masked_from(role, TEXT, b"!"), FAULT, seen_after=2)

    @rule(role=st.sampled_from([CLIENT, SERVER]), amount=st.integers(1, 400))
    def deliver(self, role: ConnectionType, amount: int) -> None:
        wire = self.wires[role]
        conn = self.conns[role]
        chunk = wire.data[wire.delivered:wire.delivered + amount]
        if not chunk:
            return
        wire.delivered += len(chunk)
        state = self.model[role]
        if state is S.CLOSED:
            with pytest.raises(LocalProtocolError):
                conn.receive_data(chunk)
            return
        conn.receive_data(chunk)
        events = list(conn.events())
        expected: List[Event] = []
        while (state in (S.OPEN, S.LOCAL_CLOSING) and wire.next_mark < len(wire.marks)
               and wire.marks[wire.next_mark][0] <= wire.delivered):
            event = wire.marks[wire.next_mark][1]
            wire.next_mark += 1
            if event == FAULT:
                state = TRANSITIONS[state, T.RECV_FAULT]
                expected.append(CloseConnection(1002))
            elif isinstance(event, CloseConnection):
                state = TRANSITIONS[state, T.RECV_CLOSE]
                expected.append(event)
            else:
                assert (state, T.RECV_DATA) in TRANSITIONS
                expected.append(event)  # type: ignore[arg-type]
        self.model[role] = state
        # A violation's reason is free text: compare codes for it.
        assert len(events) == len(expected), (events, expected)
        for got, want in zip(events, expected):
            if isinstance(want, CloseConnection) and want.reason is None:
                assert isinstance(got, CloseConnection) and got.code == want.code
            else:
                assert got == want

    @rule(role=st.sampled_from([CLIENT, SERVER]))
    def eof(self, role: ConnectionType) -> None:
        conn = self.conns[role]
        state = self.model[role]
        conn.receive_data(None)
        events = list(conn.events())
        self.model[role] = TRANSITIONS[state, T.RECV_EOF]
        if state in (S.OPEN, S.LOCAL_CLOSING):
            assert events == [CloseConnection(1006)]
        elif state is S.CLOSED:
            assert events == []
        # Whatever was still on the wire is lost.
        wire = self.wires[role]
        wire.delivered = len(wire.data)
        wire.next_mark = len(wire.marks)

    @precondition(lambda self: bool(self.conns))
    @invariant()
    def states_follow_the_table(self) -> None:
        for role in (CLIENT, SERVER):
            assert self.conns[role].state is self.model[role]


TestConnectionPair = ConnectionPair.TestCase
TestConnectionPair.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)
