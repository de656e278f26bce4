"""The outgoing stream: RFC 6455 §5.3 masking by role, §5.4 fragmentation, §5.5 control frames.

What a connection writes is read back by the independent parser of
frame_helpers, and by a connection of the other role.
"""

from __future__ import annotations

from typing import List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsproto6455 import Connection, ConnectionType
from wsproto6455.errors import LocalProtocolError
from wsproto6455.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto6455.writer import Writer

from frame_helpers import (BINARY, CLIENT, CLOSE, CONT, PING, PONG, SERVER, TEXT, ParsedFrame,
                           RSV1, UpperExtension, feed, parse_frames, role_param)


def shape(frames: List[ParsedFrame]) -> List[tuple]:
    return [(f.fin, f.rsv, f.opcode, f.payload) for f in frames]


def peer(role: ConnectionType, **options: object) -> Connection:
    return Connection(CLIENT if role is SERVER else SERVER, **options)  # type: ignore[arg-type]


class TestRFC6455Section5_3ClientMasking:
    """§5.3: a client MUST mask every frame with a fresh, unpredictable key;
    §5.1: a server MUST NOT mask."""

    @pytest.mark.parametrize("event", [TextMessage("hello"), BytesMessage(b"\x00" * 300),
                                       Ping(b"p"), Pong(b""), CloseConnection(1000, "bye")])
    def test_client_masks_every_frame(self, event: object) -> None:
        (f,) = parse_frames(Connection(CLIENT).send(event))  # type: ignore[arg-type]
        assert f.mask is not None

    @pytest.mark.parametrize("event", [TextMessage("hello"), BytesMessage(b"\x00" * 300),
                                       Ping(b"p"), Pong(b""), CloseConnection(1000, "bye")])
    def test_server_never_masks(self, event: object) -> None:
        (f,) = parse_frames(Connection(SERVER).send(event))  # type: ignore[arg-type]
        assert f.mask is None

    def test_fragments_each_masked_with_their_own_key(self) -> None:
        frames = parse_frames(Connection(CLIENT, fragment_size=4).send(BytesMessage(bytes(64))))
        assert len(frames) == 16
        assert all(f.mask is not None for f in frames)
        assert len({f.mask for f in frames}) > 1
        assert b"".join(f.payload for f in frames) == bytes(64)

    def test_two_sends_differ_but_unmask_the_same(self) -> None:
        conn = Connection(CLIENT)
        payload = b"the same payload, twice"
        first, second = conn.send(BytesMessage(payload)), conn.send(BytesMessage(payload))
        assert first != second
        assert parse_frames(first)[0].payload == parse_frames(second)[0].payload == payload

    def test_key_comes_from_the_system_random_source(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls = []

        def urandom(n: int) -> bytes:
            calls.append(n)
            return bytes(i % 256 for i in range(1, n + 1))

        monkeypatch.setattr("wsproto6455.writer.os.urandom", urandom)
        conn = Connection(CLIENT)
        data = conn.send(BytesMessage(b"\x00\x00\x00\x00\x00"))
        assert data == b"\x82\x85\x01\x02\x03\x04\x01\x02\x03\x04\x01"
        # Keys are cut from one urandom read, each used once.
        assert conn.send(BytesMessage(b"\x00"))[2:6] == b"\x05\x06\x07\x08"
        assert len(calls) == 1 and calls[0] % 4 == 0

    @given(payload=st.binary(max_size=5000))
    def test_masked_payload_round_trips(self, payload: bytes) -> None:
        data = Connection(CLIENT).send(BytesMessage(payload))
        assert parse_frames(data)[0].payload == payload
        assert feed(Connection(SERVER), data) == [BytesMessage(payload)]


@role_param
class TestRFC6455Section5_2LengthEncoding:
    @pytest.mark.parametrize("size, length_bytes", [(0, b"\x00"), (125, b"\x7d"), (126, b"\x7e\x00\x7e"),
                                                     (65535, b"\x7e\xff\xff"),
                                                     (65536, b"\x7f" + (65536).to_bytes(8, "big"))])
    def test_minimal_length(self, role: ConnectionType, size: int, length_bytes: bytes) -> None:
        data = Connection(role).send(BytesMessage(bytes(size)))
        mask_bit = 0x80 if role is CLIENT else 0
        assert data[0] == 0x82
        assert data[1] == length_bytes[0] | mask_bit
        assert data[2:len(length_bytes) + 1] == length_bytes[1:]
        assert len(data) == 1 + len(length_bytes) + (4 if role is CLIENT else 0) + size


@role_param
class TestRFC6455Section5_4Fragmentation:
    def test_fragment_size_splits(self, role: ConnectionType) -> None:
        data = Connection(role, fragment_size=4).send(BytesMessage(b"0123456789"))
        assert shape(parse_frames(data)) == [
            (False, 0, BINARY, b"0123"), (False, 0, CONT, b"4567"), (True, 0, CONT, b"89")]

    def test_fragment_size_exact_multiple(self, role: ConnectionType) -> None:
        data = Connection(role, fragment_size=5).send(TextMessage("0123456789"))
        assert shape(parse_frames(data)) == [(False, 0, TEXT, b"01234"), (True, 0, CONT, b"56789")]

    def test_fragment_size_not_reached(self, role: ConnectionType) -> None:
        data = Connection(role, fragment_size=10).send(TextMessage("0123456789"))
        assert shape(parse_frames(data)) == [(True, 0, TEXT, b"0123456789")]

    def test_fragment_size_empty_message(self, role: ConnectionType) -> None:
        data = Connection(role, fragment_size=3).send(TextMessage(""))
        assert shape(parse_frames(data)) == [(True, 0, TEXT, b"")]

    def test_fragment_size_leaves_control_frames_whole(self, role: ConnectionType) -> None:
        data = Connection(role, fragment_size=2).send(Ping(b"12345"))
        assert shape(parse_frames(data)) == [(True, 0, PING, b"12345")]

    def test_fragment_size_may_cut_a_code_point(self, role: ConnectionType) -> None:
        """Fragments need not be valid UTF-8 on their own; the message is."""
        data = Connection(role, fragment_size=1).send(TextMessage("é€"))
        frames = parse_frames(data)
        assert [f.payload for f in frames] == [bytes([b]) for b in "é€".encode()]
        assert feed(peer(role, whole_messages=True), data) == [TextMessage("é€")]

    def test_fragment_size_must_be_positive(self, role: ConnectionType) -> None:
        with pytest.raises(ValueError):
            Connection(role, fragment_size=0)

    def test_explicit_fragmentation(self, role: ConnectionType) -> None:
        conn = Connection(role)
        data = (conn.send(TextMessage("ab", message_finished=False))
                + conn.send(TextMessage("", message_finished=False))
                + conn.send(TextMessage("cd")))
        assert shape(parse_frames(data)) == [
            (False, 0, TEXT, b"ab"), (False, 0, CONT, b""), (True, 0, CONT, b"cd")]

    def test_explicit_fragmentation_with_fragment_size(self, role: ConnectionType) -> None:
        conn = Connection(role, fragment_size=2)
        data = conn.send(BytesMessage(b"abc", message_finished=False)) + conn.send(BytesMessage(b"def"))
        assert shape(parse_frames(data)) == [
            (False, 0, BINARY, b"ab"), (False, 0, CONT, b"c"), (False, 0, CONT, b"de"),
            (True, 0, CONT, b"f")]

    def test_control_frames_between_fragments(self, role: ConnectionType) -> None:
        conn = Connection(role)
        data = (conn.send(TextMessage("ab", message_finished=False)) + conn.send(Ping(b"x"))
                + conn.send(TextMessage("cd")))
        assert shape(parse_frames(data)) == [
            (False, 0, TEXT, b"ab"), (True, 0, PING, b"x"), (True, 0, CONT, b"cd")]
        assert feed(peer(role, whole_messages=True), data) == [Ping(b"x"), TextMessage("abcd")]

    def test_next_message_starts_fresh(self, role: ConnectionType) -> None:
        conn = Connection(role)
        conn.send(TextMessage("a", message_finished=False))
        conn.send(TextMessage("b"))
        assert shape(parse_frames(conn.send(BytesMessage(b"c")))) == [(True, 0, BINARY, b"c")]

    @pytest.mark.parametrize("first, second", [
        (TextMessage("a", message_finished=False), BytesMessage(b"b")),
        (BytesMessage(b"a", message_finished=False), TextMessage("b")),
    ])
    def test_mixing_text_and_bytes_in_one_message(self, role: ConnectionType, first: object,
                                                  second: object) -> None:
        conn = Connection(role)
        conn.send(first)  # type: ignore[arg-type]
        with pytest.raises(LocalProtocolError):
            conn.send(second)  # type: ignore[arg-type]

    def test_message_continues_after_a_refused_piece(self, role: ConnectionType) -> None:
        conn = Connection(role)
        first = conn.send(TextMessage("a", message_finished=False))
        with pytest.raises(LocalProtocolError):
            conn.send(BytesMessage(b"b"))
        data = first + conn.send(TextMessage("c"))
        assert feed(peer(role, whole_messages=True), data) == [TextMessage("ac")]

    @given(text=st.text(max_size=200), size=st.integers(1, 50))
    def test_any_fragment_size_round_trips(self, role: ConnectionType, text: str, size: int) -> None:
        data = Connection(role, fragment_size=size).send(TextMessage(text))
        frames = parse_frames(data)
        assert all(len(f.payload) <= size for f in frames)
        assert [f.fin for f in frames] == [False] * (len(frames) - 1) + [True]
        assert [f.opcode for f in frames] == [TEXT] + [CONT] * (len(frames) - 1)
        assert feed(peer(role, whole_messages=True), data) == [TextMessage(text)]

    @pytest.mark.parametrize("data", [bytearray(b"abc"), memoryview(b"abc")])
    def test_bytes_like_payloads(self, role: ConnectionType, data: object) -> None:
        out = Connection(role).send(BytesMessage(data))  # type: ignore[arg-type]
        assert parse_frames(out)[0].payload == b"abc"


@role_param
class TestRFC6455Section5_5ControlFrames:
    @pytest.mark.parametrize("event", [Ping(b"x" * 126), Pong(b"x" * 126)])
    def test_payload_over_125(self, role: ConnectionType, event: object) -> None:
        with pytest.raises(LocalProtocolError):
            Connection(role).send(event)  # type: ignore[arg-type]

    @pytest.mark.parametrize("cls, opcode", [(Ping, PING), (Pong, PONG)])
    def test_payload_of_125(self, role: ConnectionType, cls: type, opcode: int) -> None:
        assert shape(parse_frames(Connection(role).send(cls(b"x" * 125)))) == [(True, 0, opcode, b"x" * 125)]

    def test_close_frame(self, role: ConnectionType) -> None:
        data = Connection(role).send(CloseConnection(1001, "going"))
        assert shape(parse_frames(data)) == [(True, 0, CLOSE, b"\x03\xe9going")]

    def test_close_reason_truncated_at_character_boundary(self, role: ConnectionType) -> None:
        data = Connection(role).send(CloseConnection(1000, "€" * 100))
        (f,) = parse_frames(data)
        assert len(f.payload) <= 125
        assert f.payload[2:].decode("utf-8") == "€" * 41

    def test_close_without_status(self, role: ConnectionType) -> None:
        data = Connection(role).send(CloseConnection(1005))
        assert shape(parse_frames(data)) == [(True, 0, CLOSE, b"")]


@role_param
class TestRFC6455Section9Extensions:
    def test_rsv1_on_the_first_frame_only(self, role: ConnectionType) -> None:
        data = Connection(role, extensions=[UpperExtension()], fragment_size=2).send(TextMessage("ABCDE"))
        assert shape(parse_frames(data)) == [
            (False, RSV1, TEXT, b"ab"), (False, 0, CONT, b"cd"), (True, 0, CONT, b"e")]

    def test_rsv1_on_the_first_piece_only(self, role: ConnectionType) -> None:
        conn = Connection(role, extensions=[UpperExtension()])
        data = conn.send(BytesMessage(b"AB", message_finished=False)) + conn.send(BytesMessage(b"CD"))
        assert shape(parse_frames(data)) == [(False, RSV1, BINARY, b"ab"), (True, 0, CONT, b"cd")]

    def test_extension_may_decline(self, role: ConnectionType) -> None:
        data = Connection(role, extensions=[UpperExtension()]).send(TextMessage("AB"), compress=False)
        assert shape(parse_frames(data)) == [(True, 0, TEXT, b"AB")]

    def test_control_frames_untouched(self, role: ConnectionType) -> None:
        data = Connection(role, extensions=[UpperExtension()]).send(Ping(b"PING"))
        assert shape(parse_frames(data)) == [(True, 0, PING, b"PING")]


class TestWriterDirect:
    """The Writer object on its own."""

    def test_server_text(self) -> None:
        assert Writer(False, [], None).data("Hello") == b"\x81\x05Hello"

    def test_server_unfinished_then_finished(self) -> None:
        writer = Writer(False, [], None)
        assert writer.data(b"a", finished=False) == b"\x02\x01a"
        assert writer.data(b"b", finished=False) == b"\x00\x01b"
        assert writer.data(b"c") == b"\x80\x01c"

    def test_control_limit(self) -> None:
        with pytest.raises(LocalProtocolError):
            Writer(False, [], None).control(PING, bytes(126))
