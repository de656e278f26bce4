"""Behaviour parity: real wsproto 1.3.2 and the facade, driven side by side.

Each test drives one implementation after the other with the same input
(request bytes, frame bytes, events to send) and compares what frameworks
observe: events (type and every field), states, errors, and the bytes on
the wire. Server frames are compared byte for byte; client frames are
compared after unmasking (each side picks its own random masking key).

Where wsproto6455 is deliberately *not* bug-compatible the test says so and
asserts our behaviour (docs/COMPAT.md lists these).
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from types import ModuleType
from typing import Any, Callable, Iterable, Optional

import pytest

import wsproto as real
import wsproto.connection
import wsproto.events
import wsproto.frame_protocol
import wsproto.handshake
import wsproto.utilities
from wsproto6455.compat import wsproto as ours

if real.__name__ != "wsproto":  # pragma: no cover - the plugin must not be active here
    raise RuntimeError("tests/test_compat_parity.py needs the real wsproto importable")

LIBS = pytest.mark.parametrize("lib", [real, ours], ids=["wsproto", "wsproto6455"])

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + KEY + b"\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"X-Custom: Value\r\n"
    b"\r\n"
)


# -- helpers ------------------------------------------------------------------

def norm(value: Any) -> Any:
    """A comparable view of an event or field, independent of the library."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: norm(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return (type(value).__name__, fields)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    return value


def events_of(conn: Any) -> list[Any]:
    return [norm(e) for e in conn.events()]


def mask_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0,
               key: bytes = b"\x01\x02\x03\x04") -> bytes:
    """A client-to-server frame (masked), for feeding servers."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A server-to-client frame (unmasked), for feeding clients."""
    n = len(payload)
    first = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        return first + bytes([n]) + payload
    if n < 65536:
        return first + bytes([126]) + n.to_bytes(2, "big") + payload
    return first + bytes([127]) + n.to_bytes(8, "big") + payload


def unmask_frames(data: bytes) -> list[tuple[int, int, bytes]]:
    """Split client frames into (first byte, mask bit, unmasked payload)."""
    out = []
    pos = 0
    while pos < len(data):
        first, second = data[pos], data[pos + 1]
        pos += 2
        n = second & 0x7F
        if n == 126:
            n, pos = int.from_bytes(data[pos:pos + 2], "big"), pos + 2
        elif n == 127:
            n, pos = int.from_bytes(data[pos:pos + 8], "big"), pos + 8
        key = b"\x00" * 4
        if second & 0x80:
            key, pos = data[pos:pos + 4], pos + 4
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[pos:pos + n]))
        pos += n
        out.append((first, second & 0x80, payload))
    return out


def parse_head(data: bytes) -> tuple[bytes, dict[bytes, list[bytes]], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers: dict[bytes, list[bytes]] = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return status.split(b" ")[1], headers, body


def open_server(lib: ModuleType, accept: Optional[Any] = None) -> tuple[Any, bytes]:
    server = lib.WSConnection(lib.ConnectionType.SERVER)
    server.receive_data(REQUEST)
    list(server.events())
    reply = server.send(accept if accept is not None else lib.events.AcceptConnection())
    return server, reply


def open_client(lib: ModuleType, extra: bytes = b"") -> Any:
    client = lib.WSConnection(lib.ConnectionType.CLIENT)
    request = client.send(lib.events.Request(host="example.com", target="/"))
    key = dict(line.split(b": ", 1) for line in request.split(b"\r\n")[1:] if b": " in line)
    accept = lib.utilities.generate_accept_token(key[b"Sec-WebSocket-Key"])
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept
                        + b"\r\n" + extra + b"\r\n")
    return client


def both(run: Callable[[ModuleType], Any]) -> tuple[Any, Any]:
    return run(real), run(ours)


# -- opening handshake ----------------------------------------------------------

def test_server_request_event_matches() -> None:
    def run(lib: ModuleType) -> Any:
        server = lib.WSConnection(lib.ConnectionType.SERVER)
        server.receive_data(REQUEST)
        return events_of(server), server.state.name
    theirs, mine = both(run)
    assert mine == theirs


def test_server_request_headers_lower_cased_without_host() -> None:
    server = ours.WSConnection(ours.ConnectionType.SERVER)
    server.receive_data(REQUEST)
    (request,) = server.events()
    names = [name for name, _ in request.extra_headers]
    assert names == [name.lower() for name in names]
    # uvicorn prepends (b"host", event.host) itself: a second one would reach the app
    assert b"host" not in names


def test_accept_response_headers_match_and_no_date() -> None:
    def run(lib: ModuleType) -> Any:
        _, reply = open_server(lib, lib.events.AcceptConnection(
            subprotocol="chat", extra_headers=[(b"server", b"x")]))
        return parse_head(reply)
    theirs, mine = both(run)
    assert mine == theirs
    assert b"date" not in mine[1]


def test_client_accept_event_matches() -> None:
    def run(lib: ModuleType) -> Any:
        client = open_client(lib, b"Server: hypercorn-h11\r\nDate: Thu, 01 Jan 1970 01:23:20 GMT\r\n")
        return events_of(client), client.state.name
    theirs, mine = both(run)
    assert mine == theirs


def test_client_request_headers_match() -> None:
    def run(lib: ModuleType) -> Any:
        client = lib.WSConnection(lib.ConnectionType.CLIENT)
        data = client.send(lib.events.Request(
            host="example.com", target="/x", subprotocols=["a", "b"],
            extra_headers=[(b"X-Token", b"1")]))
        line, headers, _ = data.partition(b"\r\n")[0], parse_head(b"X " + data.split(b" ", 1)[1])[1], 0
        headers.pop(b"sec-websocket-key")
        return line, headers
    theirs, mine = both(run)
    assert mine == theirs


@pytest.mark.parametrize("has_body", [False, True])
def test_rejection_bytes_match(has_body: bool) -> None:
    def run(lib: ModuleType) -> Any:
        server = lib.WSConnection(lib.ConnectionType.SERVER)
        server.receive_data(REQUEST)
        list(server.events())
        out = server.send(lib.events.RejectConnection(
            status_code=403, headers=[(b"x-why", b"no")], has_body=has_body))
        states = [server.state.name]
        if has_body:
            out += server.send(lib.events.RejectData(data=b"go away", body_finished=False))
            out += server.send(lib.events.RejectData(data=b"!"))
            states.append(server.state.name)
        status, headers, body = parse_head(out)
        return status, headers, body, states
    theirs, mine = both(run)
    assert mine == theirs
    if has_body:  # uvicorn's tests expect a chunked body
        assert mine[1][b"transfer-encoding"] == [b"chunked"]


@pytest.mark.parametrize("bad", [
    b"Sec-WebSocket-Version: 13\r\n",  # no key
    b"Sec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 11\r\n",
    b"Sec-WebSocket-Version: 11\r\n",  # uvicorn's test: 426 (not 400) when the version is wrong
])
def test_bad_request_error_hint_matches(bad: bytes) -> None:
    request = (b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               + bad + b"\r\n")

    def run(lib: ModuleType) -> Any:
        server = lib.WSConnection(lib.ConnectionType.SERVER)
        with pytest.raises(lib.utilities.RemoteProtocolError) as info:
            server.receive_data(request)
        hint = info.value.event_hint
        reply = parse_head(server.send(hint))
        return type(hint).__name__, hint.status_code, reply[0], server.state.name
    theirs, mine = both(run)
    assert mine == theirs


def test_initiate_upgrade_connection_matches() -> None:
    headers = [(b"host", b"example.com"), (b"upgrade", b"websocket"),
               (b"connection", b"upgrade"), (b"sec-websocket-key", KEY),
               (b"sec-websocket-version", b"13")]

    def run(lib: ModuleType) -> Any:
        server = lib.WSConnection(lib.ConnectionType.SERVER)
        server.initiate_upgrade_connection(headers, "/ws")
        events = events_of(server)
        reply = parse_head(server.send(lib.events.AcceptConnection()))
        return events, reply, server.state.name
    theirs, mine = both(run)
    assert mine == theirs


# -- frames out -------------------------------------------------------------

SERVER_SENDS: list[tuple[str, Callable[[ModuleType], list[Any]]]] = [
    ("text", lambda e: [e.TextMessage(data="héllo")]),
    ("bytes", lambda e: [e.BytesMessage(data=b"\x00\x01")]),
    ("message-str", lambda e: [e.Message(data="via Message")]),
    ("message-bytes", lambda e: [e.Message(data=b"via Message")]),
    ("len126", lambda e: [e.BytesMessage(data=b"x" * 126)]),
    ("len65536", lambda e: [e.BytesMessage(data=b"x" * 65536)]),
    ("fragments", lambda e: [e.TextMessage(data="a", message_finished=False),
                             e.TextMessage(data="b", message_finished=False),
                             e.TextMessage(data="c")]),
    ("ping-pong", lambda e: [e.Ping(), e.Ping(payload=b"p"), e.Pong(payload=b"q")]),
    ("close", lambda e: [e.CloseConnection(code=1000)]),
    ("close-reason", lambda e: [e.CloseConnection(code=4000, reason="bye")]),
    ("close-long-reason", lambda e: [e.CloseConnection(code=1001, reason="é" * 100)]),
    ("close-1005", lambda e: [e.CloseConnection(code=1005)]),
    ("close-1006", lambda e: [e.CloseConnection(code=1006)]),  # trio-websocket's abort
    ("close-1015", lambda e: [e.CloseConnection(code=1015, reason="tls")]),
    ("close-enum", lambda e: [e.CloseConnection(code=real.frame_protocol.CloseReason.INTERNAL_ERROR)]),
]


@pytest.mark.parametrize("name,events", SERVER_SENDS, ids=[n for n, _ in SERVER_SENDS])
def test_server_frames_identical(name: str, events: Callable[[ModuleType], list[Any]]) -> None:
    def run(lib: ModuleType) -> Any:
        server, _ = open_server(lib)
        out = []
        for event in events(lib.events):
            out.append((bytes(server.send(event)), server.state.name))
        return out
    theirs, mine = both(run)
    assert mine == theirs


@pytest.mark.parametrize("name,events", SERVER_SENDS, ids=[n for n, _ in SERVER_SENDS])
def test_client_frames_identical_after_unmasking(
        name: str, events: Callable[[ModuleType], list[Any]]) -> None:
    def run(lib: ModuleType) -> Any:
        client = open_client(lib)
        list(client.events())
        return [(unmask_frames(client.send(e)), client.state.name) for e in events(lib.events)]
    theirs, mine = both(run)
    assert mine == theirs


def test_post_handshake_connection_frames_identical() -> None:
    """hypercorn (HTTP/2) and httpx-ws build ``Connection`` directly."""
    def run(lib: ModuleType) -> Any:
        conn = lib.connection.Connection(lib.connection.SERVER)
        return [bytes(conn.send(lib.events.TextMessage(data="hi"))),
                bytes(conn.send(lib.events.CloseConnection(code=1000, reason="")))]
    theirs, mine = both(run)
    assert mine == theirs


# -- frames in --------------------------------------------------------------

SERVER_RECEIVES: list[tuple[str, list[bytes]]] = [
    ("text", [mask_frame(0x1, "héllo".encode())]),
    ("bytes", [mask_frame(0x2, b"\x00\xff")]),
    ("fragments", [mask_frame(0x1, b"ab", fin=False), mask_frame(0x0, b"cd", fin=False),
                   mask_frame(0x0, b"ef")]),
    ("ping-between-fragments", [mask_frame(0x2, b"ab", fin=False), mask_frame(0x9, b"p"),
                                mask_frame(0x0, b"cd")]),
    ("ping", [mask_frame(0x9, b"payload")]),
    ("pong", [mask_frame(0xA, b"")]),
    ("close-1000", [mask_frame(0x8, b"\x03\xe8")]),
    ("close-reason", [mask_frame(0x8, b"\x0f\xa0bye")]),
    ("close-empty", [mask_frame(0x8, b"")]),
    ("close-then-data", [mask_frame(0x8, b"\x03\xe8") + mask_frame(0x1, b"late")]),
    ("len126", [mask_frame(0x2, b"y" * 126)]),
    ("byte-at-a-time", [bytes([b]) for b in mask_frame(0x1, b"slow")]),
    ("two-in-one-read", [mask_frame(0x1, b"a") + mask_frame(0x1, b"b")]),
]


@pytest.mark.parametrize("name,chunks", SERVER_RECEIVES, ids=[n for n, _ in SERVER_RECEIVES])
def test_server_receives_same_events(name: str, chunks: list[bytes]) -> None:
    def run(lib: ModuleType) -> Any:
        server, _ = open_server(lib)
        seen = []
        for chunk in chunks:
            server.receive_data(chunk)
            seen.extend(events_of(server))
        return coalesce(seen), server.state.name
    theirs, mine = both(run)
    assert mine == theirs


def coalesce(events: list[Any]) -> list[Any]:
    """Join consecutive pieces of one frame: when a frame arrives split over
    reads, how many partial events each library yields is unspecified (and
    no framework depends on it), only their concatenation and flags are."""
    out: list[Any] = []
    for name, fields in events:
        if (out and name in ("TextMessage", "BytesMessage") and out[-1][0] == name
                and not out[-1][1]["frame_finished"]):
            fields = dict(fields, data=out[-1][1]["data"] + fields["data"])
            out[-1] = (name, fields)
        else:
            out.append((name, fields))
    return out


@pytest.mark.parametrize("payload", [b"\x03\xe8", b"\x0b\xb8", b"\x0f\xa0bye", b""])
def test_server_valid_close_matches(payload: bytes) -> None:
    """Including the repr: a known code is a CloseReason member, as in wsproto."""
    def run(lib: ModuleType) -> Any:
        server, _ = open_server(lib)
        server.receive_data(mask_frame(0x8, payload))
        (event,) = server.events()
        state = server.state.name
        answer = bytes(server.send(event.response()))
        return repr(event), state, answer, server.state.name
    theirs, mine = both(run)
    assert mine == theirs


# A peer's violation. Same close code as wsproto; deliberately different
# state: wsproto stays OPEN (so uvicorn, hypercorn and trio-websocket, which
# answer only in REMOTE_CLOSING, never send the close frame RFC 6455 §7.1.7
# asks for); wsproto6455 moves to REMOTE_CLOSING, so they answer with the code
# and the state becomes CLOSED.
VIOLATIONS = [
    ("unmasked", frame(0x1, b"x"), 1002),
    ("reserved-opcode", mask_frame(0x3, b""), 1002),
    ("rsv-bit", mask_frame(0x1, b"x", rsv=0x40), 1002),
    ("bad-utf8", mask_frame(0x1, b"\xff"), 1007),
    ("fragmented-ping", mask_frame(0x9, b"", fin=False), 1002),
    ("continuation-first", mask_frame(0x0, b"x"), 1002),
    ("close-1004", mask_frame(0x8, b"\x03\xec"), 1002),
    ("close-1005", mask_frame(0x8, b"\x03\xed"), 1002),
    ("close-one-byte", mask_frame(0x8, b"\x03"), 1002),
    ("close-bad-utf8", mask_frame(0x8, b"\x03\xe8\xff"), 1007),
]


@pytest.mark.parametrize("name,data,code", VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_violation_becomes_close_event(name: str, data: bytes, code: int) -> None:
    def run(lib: ModuleType) -> Any:
        server, _ = open_server(lib)
        server.receive_data(data)
        close = list(server.events())[-1]
        assert isinstance(close, lib.events.CloseConnection)
        state = server.state.name
        reply = bytes(server.send(close.response()))
        return int(close.code), state, reply[:4], server.state.name
    theirs, mine = both(run)
    assert theirs[0] == mine[0] == code
    for reply in (theirs[2], mine[2]):  # a close frame with that code
        assert reply[0] == 0x88 and reply[2:4] == code.to_bytes(2, "big")
    assert (theirs[1], theirs[3]) == ("OPEN", "LOCAL_CLOSING")
    assert (mine[1], mine[3]) == ("REMOTE_CLOSING", "CLOSED")


def test_client_receives_same_events() -> None:
    def run(lib: ModuleType) -> Any:
        client = open_client(lib)
        list(client.events())
        client.receive_data(frame(0x1, b"hi") + frame(0x2, b"\x00", fin=False)
                            + frame(0x0, b"\x01") + frame(0x9, b"p") + frame(0x8, b"\x03\xe8"))
        return events_of(client), client.state.name
    theirs, mine = both(run)
    assert mine == theirs


def test_frames_after_handshake_in_same_read() -> None:
    """wsproto's server loses frames that arrive in the same read as the
    request (its handshake never hands them on); we deliver them."""
    server = ours.WSConnection(ours.ConnectionType.SERVER)
    server.receive_data(REQUEST + mask_frame(0x1, b"early"))
    assert [type(e).__name__ for e in server.events()] == ["Request"]
    server.send(ours.events.AcceptConnection())
    assert [norm(e) for e in server.events()] == [norm(ours.events.TextMessage(data="early"))]


# -- closing handshake and states --------------------------------------------

def test_local_close_then_remote_close_states_match() -> None:
    def run(lib: ModuleType) -> Any:
        server, _ = open_server(lib)
        states = [server.state.name]
        server.send(lib.events.CloseConnection(code=1000))
        states.append(server.state.name)
        server.receive_data(mask_frame(0x8, b"\x03\xe8"))
        events = events_of(server)
        states.append(server.state.name)
        with pytest.raises(lib.utilities.LocalProtocolError):
            server.receive_data(b"more")  # uvicorn relies on this after CLOSED
        with pytest.raises(lib.utilities.LocalProtocolError):
            server.send(lib.events.TextMessage(data="late"))
        return states, events
    theirs, mine = both(run)
    assert mine == theirs


def test_remote_close_requires_caller_reply() -> None:
    def run(lib: ModuleType) -> Any:
        server, _ = open_server(lib)
        server.receive_data(mask_frame(0x9, b"p") + mask_frame(0x8, b"\x03\xe9"))
        events = events_of(server)
        state = server.state.name  # no automatic pong or close reply
        with pytest.raises(lib.utilities.LocalProtocolError):
            server.send(lib.events.Pong(payload=b"p"))  # a pong after the close
        reply = bytes(server.send(lib.events.CloseConnection(code=1001)))
        return events, state, reply, server.state.name
    theirs, mine = both(run)
    assert mine == theirs


def test_eof_matches() -> None:
    def run(lib: ModuleType) -> Any:
        server, _ = open_server(lib)
        server.receive_data(None)
        return events_of(server), server.state.name
    theirs, mine = both(run)
    assert mine == theirs


def test_send_in_wrong_state_raises_local_error() -> None:
    def run(lib: ModuleType) -> Any:
        server = lib.WSConnection(lib.ConnectionType.SERVER)
        results = []
        # (AcceptConnection before a Request: wsproto fails an assert, we raise
        # LocalProtocolError; not compared)
        for event in (lib.events.TextMessage(data="x"), lib.events.Ping()):
            try:
                server.send(event)
                results.append("ok")
            except lib.utilities.LocalProtocolError:
                results.append("LocalProtocolError")
        return results
    theirs, mine = both(run)
    assert mine == theirs


# -- extensions ---------------------------------------------------------------

@pytest.mark.parametrize("offer", [
    ["permessage-deflate"],
    ["permessage-deflate; client_max_window_bits"],
    ["permessage-deflate; client_no_context_takeover; server_max_window_bits=10"],
    ["x-unknown", "permessage-deflate; client_max_window_bits=12"],
])
def test_server_extensions_handshake_enables_deflate(offer: list[str]) -> None:
    """hypercorn: split_comma_header -> server_extensions_handshake ->
    Connection(SERVER, [PerMessageDeflate()]); a compressed message from a
    real-wsproto client with the same parameters must come through."""
    ext = ours.extensions.PerMessageDeflate()
    answer = ours.handshake.server_extensions_handshake(offer, [ext])
    assert answer is not None and answer.startswith(b"permessage-deflate")
    assert ext.enabled()

    peer = real.extensions.PerMessageDeflate()
    peer.finalize(answer.decode())
    client = real.connection.Connection(real.connection.CLIENT, [peer])
    server = ours.connection.Connection(ours.connection.SERVER, [ext])
    for text in ("hello " * 50, "again " * 50):
        server.receive_data(client.send(real.events.TextMessage(data=text)))
        assert [norm(e) for e in server.events()] == [norm(ours.events.TextMessage(data=text))]
    client.receive_data(server.send(ours.events.BytesMessage(data=b"z" * 300)))
    assert [norm(e) for e in client.events()] == [norm(real.events.BytesMessage(data=b"z" * 300))]


def test_server_extensions_handshake_nothing_accepted() -> None:
    assert ours.handshake.server_extensions_handshake(
        ["x-unknown"], [ours.extensions.PerMessageDeflate()]) is None


def test_deflate_over_websocket_handshake_interoperates() -> None:
    """simple-websocket and uvicorn accept with ``extensions=[PerMessageDeflate()]``."""
    client = real.WSConnection(real.ConnectionType.CLIENT)
    server = ours.WSConnection(ours.ConnectionType.SERVER)
    server.receive_data(client.send(real.events.Request(
        host="h", target="/", extensions=[real.extensions.PerMessageDeflate()])))
    (request,) = server.events()
    assert [str(e) for e in request.extensions] == [e for e in request.extensions]
    client.receive_data(server.send(ours.events.AcceptConnection(
        extensions=[ours.extensions.PerMessageDeflate()])))
    (accept,) = client.events()
    assert [e.name for e in accept.extensions] == ["permessage-deflate"]
    client.receive_data(server.send(ours.events.TextMessage(data="compressed " * 20)))
    assert [norm(e) for e in client.events()] == [norm(real.events.TextMessage(data="compressed " * 20))]


def iter_pairs(items: Iterable[Any]) -> list[Any]:  # pragma: no cover - helper for debugging
    return list(items)


def test_ping_between_compressed_fragments() -> None:
    """wsproto corrupts a compressed message when a control frame arrives
    between its fragments; we deliver the message and the ping intact."""
    ext = ours.extensions.PerMessageDeflate()
    assert ours.handshake.server_extensions_handshake(["permessage-deflate"], [ext])
    server = ours.connection.Connection(ours.connection.SERVER, [ext])
    peer = real.extensions.PerMessageDeflate()
    peer.finalize("permessage-deflate")
    client = real.connection.Connection(real.connection.CLIENT, [peer])
    first = client.send(real.events.TextMessage(data="part one, ", message_finished=False))
    ping = client.send(real.events.Ping(payload=b"p"))
    last = client.send(real.events.TextMessage(data="part two"))
    server.receive_data(first + ping + last)
    got = [norm(e) for e in server.events()]
    text = "".join(fields["data"] for name, fields in got if name == "TextMessage")
    assert text == "part one, part two"
    assert ("Ping", {"payload": b"p"}) in got


def test_extension_not_negotiated_is_not_used() -> None:
    """hypercorn passes ``[PerMessageDeflate()]`` to ``Connection`` whether or
    not the client offered it; only ``enabled()`` extensions may touch frames."""
    def run(lib: ModuleType) -> Any:
        conn = lib.connection.Connection(lib.connection.SERVER, [lib.extensions.PerMessageDeflate()])
        out = bytes(conn.send(lib.events.TextMessage(data="hello")))
        conn.receive_data(mask_frame(0x1, b"plain"))
        return out, events_of(conn)
    theirs, mine = both(run)
    assert mine == theirs
    assert mine[0] == b"\x81\x05hello"


@pytest.mark.parametrize("response", [
    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\nX-Why: no\r\n\r\nnope!",
    b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
], ids=["content-length", "chunked", "empty"])
def test_client_receives_rejection_like_wsproto(response: bytes) -> None:
    """trio-websocket reads status, headers, has_body and the RejectData pieces."""
    def run(lib: ModuleType) -> Any:
        client = lib.WSConnection(lib.ConnectionType.CLIENT)
        client.send(lib.events.Request(host="example.com", target="/"))
        client.receive_data(response)
        events = events_of(client)
        (name, reject), *data = events
        body = b"".join(fields["data"] for _, fields in data)
        finished = [fields["body_finished"] for _, fields in data][-1:]
        return name, reject, body, finished, client.state.name
    theirs, mine = both(run)
    assert mine == theirs
