"""In-memory interoperability after the handshake: our WSConnection against the sans-IO
objects of websockets (ServerProtocol / ClientProtocol) and wsproto (WSConnection).

Each pairing does a real opening handshake, then exchanges messages of many
shapes in both directions, pings and pongs, and a closing handshake started by
either side. Both of our delivery modes are exercised: whole messages, and
frame by frame (merged before comparing).
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

import pytest
import websockets.client
import websockets.frames
import websockets.server
import wsproto
import wsproto.events as wse
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.protocol import State as WsState
from websockets.uri import parse_uri

from wsproto6455 import ConnectionState, ConnectionType, WSConnection
from wsproto6455.events import (AcceptConnection, BytesMessage, CloseConnection, Event, Ping, Pong,
                                Request, TextMessage)

from frame_helpers import CLIENT, SERVER, merge_messages

Norm = Tuple[Any, ...]
Data = Union[str, bytes]


def norm_ours(events: Sequence[Event]) -> List[Norm]:
    out: List[Norm] = []
    for e in merge_messages(events):
        if isinstance(e, TextMessage):
            out.append(("text", e.data))
        elif isinstance(e, BytesMessage):
            out.append(("bytes", e.data))
        elif isinstance(e, Ping):
            out.append(("ping", e.payload))
        elif isinstance(e, Pong):
            out.append(("pong", e.payload))
        elif isinstance(e, CloseConnection):
            out.append(("close", int(e.code), e.reason or ""))
        else:
            out.append(("other", e))
    return out


def pieces_of(data: Data, count: int) -> List[Data]:
    """``data`` cut into ``count`` pieces (text cut between characters)."""
    size = max(1, -(-len(data) // count))
    return [data[i:i + size] for i in range(0, len(data), size)] or [data[:0]]


class Peer:
    """A foreign sans-IO endpoint, seen through one small interface."""

    def send_message(self, pieces: Sequence[Data]) -> bytes: ...
    def send_ping(self, payload: bytes) -> bytes: ...
    def send_pong(self, payload: bytes) -> bytes: ...
    def send_close(self, code: int, reason: str) -> bytes: ...
    def receive(self, data: bytes) -> List[Norm]: ...
    def answer(self, event: Norm) -> bytes: ...
    def closed(self) -> bool: ...


class WebsocketsPeer(Peer):
    """websockets' Protocol: answers pings and closes by itself."""

    def __init__(self, protocol: Any) -> None:
        self.p = protocol
        self.parts: List[bytes] = []
        self.kind: Optional[str] = None

    def out(self) -> bytes:
        return b"".join(self.p.data_to_send())  # b"" entries mean EOF

    def send_message(self, pieces: Sequence[Data]) -> bytes:
        text = isinstance(pieces[0], str)
        for i, piece in enumerate(pieces):
            raw = piece.encode() if isinstance(piece, str) else piece
            fin = i == len(pieces) - 1
            if i == 0:
                (self.p.send_text if text else self.p.send_binary)(raw, fin=fin)
            else:
                self.p.send_continuation(raw, fin=fin)
        return self.out()

    def send_ping(self, payload: bytes) -> bytes:
        self.p.send_ping(payload)
        return self.out()

    def send_pong(self, payload: bytes) -> bytes:
        self.p.send_pong(payload)
        return self.out()

    def send_close(self, code: int, reason: str) -> bytes:
        self.p.send_close(code, reason)
        return self.out()

    def receive(self, data: bytes) -> List[Norm]:
        self.p.receive_data(data)
        events: List[Norm] = []
        Op = websockets.frames.Opcode
        for f in self.p.events_received():
            if f.opcode in (Op.TEXT, Op.BINARY):
                self.kind = "text" if f.opcode is Op.TEXT else "bytes"
                self.parts = [f.data]
            elif f.opcode is Op.CONT:
                self.parts.append(f.data)
            elif f.opcode is Op.PING:
                events.append(("ping", bytes(f.data)))
                continue
            elif f.opcode is Op.PONG:
                events.append(("pong", bytes(f.data)))
                continue
            elif f.opcode is Op.CLOSE:
                if f.data:
                    close = websockets.frames.Close.parse(f.data)
                    events.append(("close", int(close.code), close.reason))
                else:
                    events.append(("close", 1005, ""))
                continue
            if f.fin:
                joined = b"".join(self.parts)
                events.append((self.kind, joined.decode() if self.kind == "text" else joined))
        return events

    def answer(self, event: Norm) -> bytes:
        return self.out()  # pong or close already queued by the protocol

    def closed(self) -> bool:
        return self.p.state is WsState.CLOSED or (self.p.state is WsState.CLOSING and self.p.close_rcvd is not None)


class WsprotoPeer(Peer):
    """wsproto's WSConnection: answers nothing by itself."""

    def __init__(self, conn: wsproto.WSConnection) -> None:
        self.c = conn
        self.parts: List[Data] = []

    def send_message(self, pieces: Sequence[Data]) -> bytes:
        out = b""
        for i, piece in enumerate(pieces):
            fin = i == len(pieces) - 1
            cls = wse.TextMessage if isinstance(piece, str) else wse.BytesMessage
            out += self.c.send(cls(data=piece, message_finished=fin))
        return out

    def send_ping(self, payload: bytes) -> bytes:
        return self.c.send(wse.Ping(payload=payload))

    def send_pong(self, payload: bytes) -> bytes:
        return self.c.send(wse.Pong(payload=payload))

    def send_close(self, code: int, reason: str) -> bytes:
        return self.c.send(wse.CloseConnection(code=code, reason=reason))

    def receive(self, data: bytes) -> List[Norm]:
        self.c.receive_data(data)
        events: List[Norm] = []
        for e in self.c.events():
            if isinstance(e, wse.Message):
                self.parts.append(e.data)
                if e.message_finished:
                    kind = "text" if isinstance(e, wse.TextMessage) else "bytes"
                    joined: Data = "".join(self.parts) if kind == "text" else b"".join(self.parts)  # type: ignore[arg-type]
                    events.append((kind, joined))
                    self.parts = []
            elif isinstance(e, wse.Ping):
                events.append(("ping", bytes(e.payload)))
            elif isinstance(e, wse.Pong):
                events.append(("pong", bytes(e.payload)))
            elif isinstance(e, wse.CloseConnection):
                events.append(("close", int(e.code), e.reason or ""))
        return events

    def answer(self, event: Norm) -> bytes:
        if event[0] == "ping":
            return self.c.send(wse.Pong(payload=event[1]))
        if event[0] == "close":
            return self.c.send(wse.CloseConnection(code=event[1], reason=event[2]))
        return b""

    def closed(self) -> bool:
        return self.c.state is wsproto.ConnectionState.CLOSED


def connect_websockets(role: ConnectionType, **options: Any) -> Tuple[WSConnection, Peer]:
    ours = WSConnection(role, **options)
    if role is CLIENT:
        server = websockets.server.ServerProtocol(max_size=None)
        server.receive_data(ours.send(Request(host="example.com", target="/chat")))
        (request,) = server.events_received()
        server.send_response(server.accept(request))
        ours.receive_data(b"".join(server.data_to_send()))
        peer = WebsocketsPeer(server)
    else:
        client = websockets.client.ClientProtocol(parse_uri("ws://example.com/chat"), max_size=None)
        client.send_request(client.connect())
        ours.receive_data(b"".join(client.data_to_send()))
        (request,) = ours.events()
        assert isinstance(request, Request) and request.target == "/chat"
        client.receive_data(ours.send(AcceptConnection()))
        (response,) = client.events_received()
        assert response.status_code == 101
        peer = WebsocketsPeer(client)
    assert [type(e) for e in ours.events()] == ([AcceptConnection] if role is CLIENT else [])
    assert ours.state is ConnectionState.OPEN
    assert peer.p.state is WsState.OPEN
    return ours, peer


def connect_wsproto(role: ConnectionType, **options: Any) -> Tuple[WSConnection, Peer]:
    ours = WSConnection(role, **options)
    if role is CLIENT:
        theirs = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        theirs.receive_data(ours.send(Request(host="example.com", target="/chat")))
        assert [type(e) for e in theirs.events()] == [wse.Request]
        ours.receive_data(theirs.send(wse.AcceptConnection()))
        assert [type(e) for e in ours.events()] == [AcceptConnection]
    else:
        theirs = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        ours.receive_data(theirs.send(wse.Request(host="example.com", target="/chat")))
        (request,) = ours.events()
        assert isinstance(request, Request) and request.target == "/chat"
        theirs.receive_data(ours.send(AcceptConnection()))
        assert [type(e) for e in theirs.events()] == [wse.AcceptConnection]
    assert ours.state is ConnectionState.OPEN
    assert theirs.state is wsproto.ConnectionState.OPEN
    return ours, WsprotoPeer(theirs)


CONNECT: dict = {"websockets": connect_websockets, "wsproto": connect_wsproto}
PAIRINGS = [(lib, role) for lib in CONNECT for role in (CLIENT, SERVER)]
PAIRING_IDS = [f"{lib}-our_{'client' if role is CLIENT else 'server'}" for lib, role in PAIRINGS]

SHAPES: List[Data] = [
    "", b"", "a", b"\x00", "x" * 125, b"\x01" * 126, bytes(range(256)) * 255 + bytes(255),  # 65535
    b"\xab" * 65536, "é" * 40000, "日本語テキスト😀✓" * 3000,
    "\U0010ffff\u0800\u07ff\u0080\x7f",
]
SHAPE_IDS = [f"{'text' if isinstance(s, str) else 'bytes'}-{len(s)}" for s in SHAPES]


@pytest.fixture(params=PAIRINGS, ids=PAIRING_IDS)
def pairing(request: pytest.FixtureRequest) -> Tuple[str, ConnectionType]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=[False, True], ids=["frames", "whole"])
def whole(request: pytest.FixtureRequest) -> bool:
    return request.param  # type: ignore[no-any-return]


def setup(pairing: Tuple[str, ConnectionType], **options: Any) -> Tuple[WSConnection, Peer]:
    lib, role = pairing
    return CONNECT[lib](role, **options)  # type: ignore[no-any-return]


def ours_receive(ours: WSConnection, data: bytes) -> List[Norm]:
    ours.receive_data(data)
    return norm_ours(list(ours.events()))


def expected(data: Data) -> Norm:
    return ("text", data) if isinstance(data, str) else ("bytes", data)


def message(data: Data, finished: bool = True) -> Event:
    if isinstance(data, str):
        return TextMessage(data, message_finished=finished)
    return BytesMessage(data, message_finished=finished)


class TestMessages:
    @pytest.mark.parametrize("data", SHAPES, ids=SHAPE_IDS)
    def test_we_send(self, pairing: Tuple[str, ConnectionType], data: Data) -> None:
        ours, peer = setup(pairing)
        assert peer.receive(ours.send(message(data))) == [expected(data)]

    @pytest.mark.parametrize("data", SHAPES, ids=SHAPE_IDS)
    def test_they_send(self, pairing: Tuple[str, ConnectionType], whole: bool, data: Data) -> None:
        ours, peer = setup(pairing, whole_messages=whole)
        assert ours_receive(ours, peer.send_message([data])) == [expected(data)]

    @pytest.mark.parametrize("data", [b"\x5a" * (1 << 20), "z" * (1 << 20)], ids=["bytes", "text"])
    def test_one_mib_both_ways(self, pairing: Tuple[str, ConnectionType], data: Data) -> None:
        """1 MiB, exactly the default limit, passes in both directions."""
        ours, peer = setup(pairing, whole_messages=True)
        assert peer.receive(ours.send(message(data))) == [expected(data)]
        assert ours_receive(ours, peer.send_message([data])) == [expected(data)]

    @pytest.mark.parametrize("count", [2, 3, 17])
    @pytest.mark.parametrize("data", ["héllo wörld 😀" * 50, bytes(range(256)) * 4], ids=["text", "bytes"])
    def test_we_send_fragmented(self, pairing: Tuple[str, ConnectionType], data: Data, count: int) -> None:
        ours, peer = setup(pairing)
        pieces = pieces_of(data, count)
        out = b"".join(ours.send(message(p, i == len(pieces) - 1)) for i, p in enumerate(pieces))
        assert peer.receive(out) == [expected(data)]

    @pytest.mark.parametrize("size", [1, 3, 64, 1000])
    def test_we_send_with_fragment_size(self, pairing: Tuple[str, ConnectionType], size: int) -> None:
        """fragment_size cuts text inside code points: the peer must still accept it."""
        ours, peer = setup(pairing, fragment_size=size)
        text = "日本語😀" * 300
        assert peer.receive(ours.send(TextMessage(text))) == [("text", text)]

    @pytest.mark.parametrize("count", [2, 5, 40])
    @pytest.mark.parametrize("data", ["ünïcödé ✓ 😀" * 40, bytes(range(256)) * 3], ids=["text", "bytes"])
    def test_they_send_fragmented(self, pairing: Tuple[str, ConnectionType], whole: bool, data: Data,
                                  count: int) -> None:
        ours, peer = setup(pairing, whole_messages=whole)
        assert ours_receive(ours, peer.send_message(pieces_of(data, count))) == [expected(data)]

    def test_they_interleave_ping_in_a_fragmented_message(self, pairing: Tuple[str, ConnectionType],
                                                          whole: bool) -> None:
        ours, peer = setup(pairing, whole_messages=whole)
        lib = pairing[0]
        if lib == "websockets":
            p = peer.p  # type: ignore[attr-defined]
            p.send_text(b"abc", fin=False)
            p.send_ping(b"in between")
            p.send_continuation(b"def", fin=True)
            data = peer.out()  # type: ignore[attr-defined]
        else:
            c = peer.c  # type: ignore[attr-defined]
            data = (c.send(wse.TextMessage(data="abc", message_finished=False))
                    + c.send(wse.Ping(payload=b"in between"))
                    + c.send(wse.TextMessage(data="def", message_finished=True)))
        assert ours_receive(ours, data) == [("ping", b"in between"), ("text", "abcdef")]

    def test_we_interleave_ping_in_a_fragmented_message(self, pairing: Tuple[str, ConnectionType]) -> None:
        ours, peer = setup(pairing)
        data = (ours.send(TextMessage("abc", message_finished=False)) + ours.send(Ping(b"mid"))
                + ours.send(TextMessage("def")))
        assert peer.receive(data) == [("ping", b"mid"), ("text", "abcdef")]

    def test_conversation_one_byte_at_a_time(self, pairing: Tuple[str, ConnectionType], whole: bool) -> None:
        ours, peer = setup(pairing, whole_messages=whole)
        data = b"".join(peer.send_message([m]) for m in ["one", b"two", "thr€€"])
        events: List[Event] = []
        for i in range(len(data)):
            ours.receive_data(data[i:i + 1])
            events += ours.events()
        assert norm_ours(events) == [("text", "one"), ("bytes", b"two"), ("text", "thr€€")]

    @settings(max_examples=25, deadline=None)
    @given(messages=st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=3000)), min_size=1,
                             max_size=8),
           lib=st.sampled_from(list(CONNECT)), role=st.sampled_from([CLIENT, SERVER]))
    def test_random_conversations(self, messages: List[Data], lib: str, role: ConnectionType) -> None:
        ours, peer = CONNECT[lib](role)
        assert peer.receive(b"".join(ours.send(message(m)) for m in messages)) == [expected(m) for m in messages]
        data = b"".join(peer.send_message([m]) for m in messages)
        assert ours_receive(ours, data) == [expected(m) for m in messages]


class TestPingPong:
    @pytest.mark.parametrize("payload", [b"", b"ping!", bytes(range(125))])
    def test_we_ping_they_pong(self, pairing: Tuple[str, ConnectionType], payload: bytes) -> None:
        ours, peer = setup(pairing)
        events = peer.receive(ours.send(Ping(payload)))
        assert events == [("ping", payload)]
        assert ours_receive(ours, peer.answer(events[0])) == [("pong", payload)]

    @pytest.mark.parametrize("payload", [b"", b"ping!", bytes(range(125))])
    def test_they_ping_we_pong(self, pairing: Tuple[str, ConnectionType], payload: bytes) -> None:
        ours, peer = setup(pairing)
        ours.receive_data(peer.send_ping(payload))
        (ping,) = list(ours.events())
        assert ping == Ping(payload)
        assert peer.receive(ours.send(ping.response())) == [("pong", payload)]  # type: ignore[union-attr]

    def test_unsolicited_pongs(self, pairing: Tuple[str, ConnectionType]) -> None:
        ours, peer = setup(pairing)
        assert peer.receive(ours.send(Pong(b"heartbeat"))) == [("pong", b"heartbeat")]
        assert ours_receive(ours, peer.send_pong(b"beat")) == [("pong", b"beat")]


class TestClosingHandshake:
    @pytest.mark.parametrize("code, reason", [(1000, ""), (1001, "going away"), (1011, "oops"),
                                              (4000, "app-défini ✓")])
    def test_we_close(self, pairing: Tuple[str, ConnectionType], code: int, reason: str) -> None:
        ours, peer = setup(pairing)
        events = peer.receive(ours.send(CloseConnection(code, reason)))
        assert ours.state is ConnectionState.LOCAL_CLOSING
        assert events == [("close", code, reason)]
        assert ours_receive(ours, peer.answer(events[0])) == [("close", code, reason)]
        assert ours.state is ConnectionState.CLOSED
        assert peer.closed()

    @pytest.mark.parametrize("code, reason", [(1000, "bye"), (1001, ""), (3000, "x" * 100)])
    def test_they_close(self, pairing: Tuple[str, ConnectionType], code: int, reason: str) -> None:
        ours, peer = setup(pairing)
        ours.receive_data(peer.send_close(code, reason))
        (close,) = list(ours.events())
        assert close == CloseConnection(code, reason)
        assert ours.state is ConnectionState.REMOTE_CLOSING
        assert peer.receive(ours.send(close.response())) == [("close", code, reason)]  # type: ignore[union-attr]
        assert ours.state is ConnectionState.CLOSED
        assert peer.closed()

    def test_messages_then_close(self, pairing: Tuple[str, ConnectionType]) -> None:
        ours, peer = setup(pairing)
        data = peer.send_message(["last words"]) + peer.send_close(1000, "done")
        assert ours_receive(ours, data) == [("text", "last words"), ("close", 1000, "done")]

    def test_data_after_we_close_still_arrives(self, pairing: Tuple[str, ConnectionType]) -> None:
        ours, peer = setup(pairing)
        in_flight = peer.send_message(["in flight"])
        close_frame = ours.send(CloseConnection(1000))
        answer = peer.receive(close_frame)
        assert ours_receive(ours, in_flight) == [("text", "in flight")]
        assert ours_receive(ours, peer.answer(answer[0])) == [("close", 1000, "")]
        assert ours.state is ConnectionState.CLOSED

    def test_too_big_message_closes_with_1009(self, pairing: Tuple[str, ConnectionType]) -> None:
        ours, peer = setup(pairing, max_message_size=1000)
        ours.receive_data(peer.send_message([b"x" * 1001]))
        (close,) = list(ours.events())
        assert isinstance(close, CloseConnection) and close.code == 1009
        assert peer.receive(ours.send(close.response()))[0][:2] == ("close", 1009)
        assert ours.state is ConnectionState.CLOSED
