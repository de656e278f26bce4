"""The incoming stream: RFC 6455 §5 framing, §5.4 fragmentation, §8.1 UTF-8, limits.

Every case runs for both roles: ``frame_from(role, ...)`` builds the frame as
the peer of ``role`` sends it (masked with an all-zero key to a server,
unmasked to a client). A violation must come out as exactly one
``CloseConnection`` with the RFC's code, last among the events.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsproto6455 import Connection, ConnectionState, ConnectionType
from wsproto6455.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from frame_helpers import (BINARY, CLOSE, CONT, PING, PONG, RSV1, RSV2, RSV3, SERVER,
                           TEXT, close_payload, collected, feed, feed_chunks, frame,
                           frame_from, merge_messages, one_byte_at_a_time, only_close, role_param,
                           split_at, unconsumed, valid_streams, wrongly_masked_from,
                           UpperExtension)


def fault_code(role: ConnectionType, data: bytes, **options: object) -> int:
    conn = Connection(role, **options)  # type: ignore[arg-type]
    code = only_close(feed(conn, data)).code
    assert conn.state is ConnectionState.REMOTE_CLOSING
    return code


@role_param
class TestRFC6455Section5_1Masking:
    """§5.1: a server MUST close on an unmasked frame, a client on a masked one."""

    @pytest.mark.parametrize("opcode", [TEXT, BINARY, PING, PONG, CLOSE])
    def test_wrong_masking_is_protocol_error(self, role: ConnectionType, opcode: int) -> None:
        payload = b"\x03\xe8" if opcode == CLOSE else b"hi"
        assert fault_code(role, wrongly_masked_from(role, opcode, payload)) == 1002

    def test_wrong_masking_on_continuation(self, role: ConnectionType) -> None:
        data = frame_from(role, TEXT, b"a", fin=False) + wrongly_masked_from(role, CONT, b"b")
        conn = Connection(role)
        events = feed(conn, data)
        assert events[:-1] == [TextMessage("a", True, False)]
        assert only_close(events).code == 1002

    def test_detected_from_the_header_alone(self, role: ConnectionType) -> None:
        header = wrongly_masked_from(role, BINARY, bytes(100))[:2]
        assert fault_code(role, header) == 1002


class TestRFC6455Section5_3MaskingKey:
    @pytest.mark.parametrize("key", [b"\x37\xfa\x21\x3d", b"\xff\xff\xff\xff", b"\x01\x02\x03\x04"])
    def test_server_unmasks(self, key: bytes) -> None:
        payload = bytes(range(256)) * 3
        assert feed(Connection(SERVER), frame(BINARY, payload, mask=key)) == [BytesMessage(payload)]

    @given(payload=st.binary(min_size=1, max_size=3000), key=st.binary(min_size=4, max_size=4),
           cuts=st.lists(st.integers(0, 3020), max_size=8))
    def test_server_unmasks_across_any_split(self, payload: bytes, key: bytes, cuts: List[int]) -> None:
        """The key keeps its phase when a payload arrives in pieces of any length."""
        data = frame(BINARY, payload, mask=key)
        events = feed_chunks(Connection(SERVER), split_at(data, cuts))
        assert merge_messages(events) == [BytesMessage(payload)]


@role_param
class TestRFC6455Section5_2PayloadLength:
    @pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
    def test_every_length_encoding(self, role: ConnectionType, size: int) -> None:
        payload = bytes(i & 0xFF for i in range(size))
        assert feed(Connection(role), frame_from(role, BINARY, payload)) == [BytesMessage(payload)]

    @pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
    def test_every_length_encoding_text(self, role: ConnectionType, size: int) -> None:
        text = "a" * size
        assert feed(Connection(role), frame_from(role, TEXT, text.encode())) == [TextMessage(text)]

    def test_64_bit_length_with_top_bit_set(self, role: ConnectionType) -> None:
        """§5.2: "the most significant bit MUST be 0"; only the header is sent."""
        header = frame_from(role, BINARY, length=2**63)[:14 if role is SERVER else 10]
        assert fault_code(role, header, max_message_size=None) == 1002

    def test_64_bit_length_all_ones(self, role: ConnectionType) -> None:
        header = bytes([0x82, (0x80 if role is SERVER else 0) | 127]) + b"\xff" * 8
        assert fault_code(role, header, max_message_size=None) == 1002

    def test_header_split_across_reads(self, role: ConnectionType) -> None:
        data = frame_from(role, BINARY, bytes(70000))
        conn = Connection(role, whole_messages=True)
        events = feed_chunks(conn, one_byte_at_a_time(data[:14]) + [data[14:]])
        assert events == [BytesMessage(bytes(70000))]


@role_param
class TestRFC6455Section5_2ReservedBits:
    """§5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings"."""

    @pytest.mark.parametrize("rsv", [RSV1, RSV2, RSV3, RSV1 | RSV2 | RSV3])
    @pytest.mark.parametrize("opcode", [TEXT, BINARY, PING, PONG])
    def test_rsv_without_extension(self, role: ConnectionType, rsv: int, opcode: int) -> None:
        assert fault_code(role, frame_from(role, opcode, b"x", rsv=rsv)) == 1002

    def test_rsv_on_close(self, role: ConnectionType) -> None:
        assert fault_code(role, frame_from(role, CLOSE, b"\x03\xe8", rsv=RSV1)) == 1002

    @pytest.mark.parametrize("rsv", [RSV1, RSV2, RSV3])
    def test_rsv_on_continuation(self, role: ConnectionType, rsv: int) -> None:
        data = frame_from(role, BINARY, b"a", fin=False) + frame_from(role, CONT, b"b", rsv=rsv)
        events = feed(Connection(role), data)
        assert only_close(events).code == 1002


@role_param
class TestRFC6455Section9Extensions:
    """§5.2/§9: RSV bits are allowed only when a negotiated extension claims them."""

    def test_claimed_rsv1_goes_through_the_extension(self, role: ConnectionType) -> None:
        ext = UpperExtension()
        conn = Connection(role, extensions=[ext], whole_messages=True)
        data = frame_from(role, TEXT, b"ab", fin=False, rsv=RSV1) + frame_from(role, CONT, b"cd")
        assert feed(conn, data) == [TextMessage("ABCD")]
        assert ext.inbound == [RSV1]

    def test_message_without_rsv1_bypasses_the_extension(self, role: ConnectionType) -> None:
        conn = Connection(role, extensions=[UpperExtension()])
        assert feed(conn, frame_from(role, TEXT, b"ab")) == [TextMessage("ab")]

    @pytest.mark.parametrize("rsv", [RSV2, RSV3, RSV1 | RSV2])
    def test_unclaimed_bits_still_refused(self, role: ConnectionType, rsv: int) -> None:
        conn = Connection(role, extensions=[UpperExtension()])
        assert only_close(feed(conn, frame_from(role, BINARY, b"x", rsv=rsv))).code == 1002

    def test_rsv1_on_continuation_refused(self, role: ConnectionType) -> None:
        conn = Connection(role, extensions=[UpperExtension()])
        data = frame_from(role, TEXT, b"a", fin=False, rsv=RSV1) + frame_from(role, CONT, b"b", rsv=RSV1)
        assert only_close(feed(conn, data)).code == 1002

    @pytest.mark.parametrize("opcode", [PING, PONG])
    def test_rsv1_on_control_refused(self, role: ConnectionType, opcode: int) -> None:
        conn = Connection(role, extensions=[UpperExtension()])
        assert only_close(feed(conn, frame_from(role, opcode, b"x", rsv=RSV1))).code == 1002


@role_param
class TestRFC6455Section5_2Opcodes:
    @pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7])
    def test_reserved_non_control(self, role: ConnectionType, opcode: int) -> None:
        assert fault_code(role, frame_from(role, opcode, b"x")) == 1002

    @pytest.mark.parametrize("opcode", [0xB, 0xC, 0xD, 0xE, 0xF])
    def test_reserved_control(self, role: ConnectionType, opcode: int) -> None:
        assert fault_code(role, frame_from(role, opcode, b"x")) == 1002

    @pytest.mark.parametrize("opcode", [0x3, 0xB])
    def test_reserved_opcode_detected_from_the_header(self, role: ConnectionType, opcode: int) -> None:
        header = frame_from(role, opcode, bytes(50))[:6 if role is SERVER else 2]
        assert fault_code(role, header) == 1002

    def test_reserved_opcode_inside_fragmented_message(self, role: ConnectionType) -> None:
        data = frame_from(role, TEXT, b"a", fin=False) + frame_from(role, 0x3, b"b")
        assert only_close(feed(Connection(role), data)).code == 1002


@role_param
class TestRFC6455Section5_4Fragmentation:
    def test_continuation_without_start(self, role: ConnectionType) -> None:
        assert fault_code(role, frame_from(role, CONT, b"x")) == 1002

    def test_unfinished_continuation_without_start(self, role: ConnectionType) -> None:
        assert fault_code(role, frame_from(role, CONT, b"x", fin=False)) == 1002

    def test_continuation_after_finished_message(self, role: ConnectionType) -> None:
        data = frame_from(role, TEXT, b"a") + frame_from(role, CONT, b"b")
        events = feed(Connection(role), data)
        assert events[0] == TextMessage("a")
        assert only_close(events).code == 1002

    @pytest.mark.parametrize("second", [TEXT, BINARY])
    def test_new_message_inside_fragmented_one(self, role: ConnectionType, second: int) -> None:
        data = frame_from(role, BINARY, b"a", fin=False) + frame_from(role, second, b"b")
        events = feed(Connection(role), data)
        assert events[0] == BytesMessage(b"a", True, False)
        assert only_close(events).code == 1002

    def test_frame_by_frame_delivery(self, role: ConnectionType) -> None:
        data = (frame_from(role, TEXT, b"He", fin=False) + frame_from(role, CONT, b"", fin=False)
                + frame_from(role, CONT, b"llo"))
        assert feed(Connection(role), data) == [
            TextMessage("He", True, False), TextMessage("", True, False), TextMessage("llo", True, True)]

    def test_whole_message_delivery(self, role: ConnectionType) -> None:
        data = (frame_from(role, BINARY, b"He", fin=False) + frame_from(role, CONT, b"", fin=False)
                + frame_from(role, CONT, b"llo"))
        assert feed(Connection(role, whole_messages=True), data) == [BytesMessage(b"Hello")]

    def test_partial_frame_delivered_as_it_arrives(self, role: ConnectionType) -> None:
        data = frame_from(role, BINARY, b"0123456789")
        conn = Connection(role)
        head = len(data) - 10
        assert feed(conn, data[:head + 4]) == [BytesMessage(b"0123", False, False)]
        assert feed(conn, data[head + 4:]) == [BytesMessage(b"456789", True, True)]

    def test_whole_messages_waits_for_the_end(self, role: ConnectionType) -> None:
        data = frame_from(role, BINARY, b"01234", fin=False) + frame_from(role, CONT, b"56789")
        conn = Connection(role, whole_messages=True)
        assert feed(conn, data[:-3]) == []
        assert feed(conn, data[-3:]) == [BytesMessage(b"0123456789")]

    @pytest.mark.parametrize("control, event", [
        (PING, Ping(b"p")), (PONG, Pong(b"q")), (PING, Ping(b"")),
    ])
    def test_control_between_fragments(self, role: ConnectionType, control: int, event: object) -> None:
        """§5.4: control frames MAY be injected in the middle of a fragmented message."""
        payload = event.payload  # type: ignore[attr-defined]
        data = (frame_from(role, TEXT, b"ab", fin=False) + frame_from(role, control, payload)
                + frame_from(role, CONT, b"cd", fin=False) + frame_from(role, control, payload)
                + frame_from(role, CONT, b"ef"))
        assert feed(Connection(role), data) == [
            TextMessage("ab", True, False), event, TextMessage("cd", True, False), event,
            TextMessage("ef", True, True)]
        assert feed(Connection(role, whole_messages=True), data) == [event, event, TextMessage("abcdef")]

    def test_close_between_fragments(self, role: ConnectionType) -> None:
        data = (frame_from(role, BINARY, b"ab", fin=False)
                + frame_from(role, CLOSE, close_payload(1001, b"away")) + frame_from(role, CONT, b"cd"))
        conn = Connection(role)
        assert feed(conn, data) == [BytesMessage(b"ab", True, False), CloseConnection(1001, "away")]
        assert conn.state is ConnectionState.REMOTE_CLOSING

    def test_messages_in_sequence(self, role: ConnectionType) -> None:
        data = (frame_from(role, TEXT, b"a", fin=False) + frame_from(role, CONT, b"b")
                + frame_from(role, BINARY, b"c", fin=False) + frame_from(role, CONT, b"d"))
        conn = Connection(role, whole_messages=True)
        assert feed(conn, data) == [TextMessage("ab"), BytesMessage(b"cd")]


@role_param
class TestRFC6455Section5_5ControlFrames:
    """§5.5: "All control frames MUST have a payload length of 125 bytes or less
    and MUST NOT be fragmented"."""

    @pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
    def test_payload_over_125(self, role: ConnectionType, opcode: int) -> None:
        payload = b"\x03\xe8" + b"x" * 124 if opcode == CLOSE else b"x" * 126
        assert fault_code(role, frame_from(role, opcode, payload)) == 1002

    @pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
    def test_oversized_control_detected_from_the_header(self, role: ConnectionType, opcode: int) -> None:
        header = frame_from(role, opcode, length=126)
        assert fault_code(role, header) == 1002

    @pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
    def test_fragmented_control(self, role: ConnectionType, opcode: int) -> None:
        payload = b"\x03\xe8" if opcode == CLOSE else b"x"
        assert fault_code(role, frame_from(role, opcode, payload, fin=False)) == 1002

    @pytest.mark.parametrize("size", [0, 1, 124, 125])
    def test_ping_and_pong_sizes(self, role: ConnectionType, size: int) -> None:
        payload = bytes(range(size))
        data = frame_from(role, PING, payload) + frame_from(role, PONG, payload)
        assert feed(Connection(role), data) == [Ping(payload), Pong(payload)]

    def test_ping_waits_for_its_payload(self, role: ConnectionType) -> None:
        data = frame_from(role, PING, b"x" * 100)
        conn = Connection(role)
        assert feed(conn, data[:-1]) == []
        assert feed(conn, data[-1:]) == [Ping(b"x" * 100)]

    def test_ping_response_is_pong(self, role: ConnectionType) -> None:
        (ping,) = feed(Connection(role), frame_from(role, PING, b"abc"))
        assert ping.response() == Pong(b"abc")  # type: ignore[union-attr]


TEXT_PARTS = ["κόσμε".encode(), b"\xf0\x9f\x98\x80", "a€b".encode()]


@role_param
class TestRFC6455Section8_1Utf8:
    """§8.1: invalid UTF-8 in a text message fails the connection with 1007,
    as soon as the invalid byte arrives."""

    @pytest.mark.parametrize("text", ["é", "€", "😀", "κόσμε", "\U0010ffff"])
    def test_code_point_split_across_frames(self, role: ConnectionType, text: str) -> None:
        encoded = text.encode()
        for cut in range(1, len(encoded)):
            data = frame_from(role, TEXT, encoded[:cut], fin=False) + frame_from(role, CONT, encoded[cut:])
            assert merge_messages(feed(Connection(role), data)) == [TextMessage(text)]
            assert feed(Connection(role, whole_messages=True), data) == [TextMessage(text)]

    @pytest.mark.parametrize("whole", [False, True])
    def test_invalid_middle_frame_fails_before_the_end(self, role: ConnectionType, whole: bool) -> None:
        conn = Connection(role, whole_messages=whole)
        events = feed(conn, frame_from(role, TEXT, "κόσμε".encode(), fin=False))
        assert not [e for e in events if isinstance(e, CloseConnection)]
        events = feed(conn, frame_from(role, CONT, b"\xf4\x90\x80\x80", fin=False))
        assert only_close(events).code == 1007
        assert conn.state is ConnectionState.REMOTE_CLOSING

    @pytest.mark.parametrize("whole", [False, True])
    def test_invalid_byte_within_one_frame_fails_before_its_end(self, role: ConnectionType,
                                                                whole: bool) -> None:
        data = frame_from(role, TEXT, b"hello \xff world, the rest never comes")
        cut = data.index(b"\xff") + 1  # the all-zero mask leaves the byte as it is
        conn = Connection(role, whole_messages=whole)
        assert only_close(feed(conn, data[:cut])).code == 1007

    @pytest.mark.parametrize("prefix", [
        b"\xc0", b"\xc1",              # overlong two-byte leads
        b"\xe0\x80", b"\xe0\x9f",      # overlong three-byte forms
        b"\xf0\x80", b"\xf0\x8f",      # overlong four-byte forms
        b"\xed\xa0", b"\xed\xbf",      # UTF-16 surrogates U+D800-U+DFFF
        b"\xf4\x90", b"\xf5", b"\xff",  # beyond U+10FFFF, never valid bytes
        b"\x80",                        # a lone continuation byte
    ])
    def test_fail_fast_on_an_impossible_prefix(self, role: ConnectionType, prefix: bytes) -> None:
        """A non-final frame ending in bytes no valid sequence starts with fails at once."""
        conn = Connection(role)
        events = feed(conn, frame_from(role, TEXT, b"ok" + prefix, fin=False))
        assert only_close(events).code == 1007

    @pytest.mark.parametrize("invalid", [
        b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",    # overlong "/"
        b"\xed\xa0\x80", b"\xed\xbf\xbf",                      # surrogates
        b"\xf4\x90\x80\x80", b"\xf7\xbf\xbf\xbf",              # > U+10FFFF
        b"\xce", b"\xe2\x82", b"\xf0\x9f\x98",                 # truncated at the end
    ])
    def test_invalid_sequences(self, role: ConnectionType, invalid: bytes) -> None:
        assert fault_code(role, frame_from(role, TEXT, b"a" + invalid)) == 1007
        assert fault_code(role, frame_from(role, TEXT, b"a" + invalid), whole_messages=True) == 1007

    def test_truncated_code_point_at_the_end_of_a_fragmented_message(self, role: ConnectionType) -> None:
        data = frame_from(role, TEXT, b"a\xe2", fin=False) + frame_from(role, CONT, b"\x82")
        assert only_close(feed(Connection(role), data)).code == 1007

    def test_binary_is_not_validated(self, role: ConnectionType) -> None:
        data = frame_from(role, BINARY, b"\xff\xfe\xed\xa0\x80")
        assert feed(Connection(role), data) == [BytesMessage(b"\xff\xfe\xed\xa0\x80")]

    def test_utf8_state_resets_between_messages(self, role: ConnectionType) -> None:
        data = frame_from(role, TEXT, "é".encode()) + frame_from(role, TEXT, b"\xa9")
        events = feed(Connection(role), data)
        assert events[0] == TextMessage("é")
        assert only_close(events).code == 1007

    @given(text=st.text(max_size=60), cuts=st.lists(st.integers(0, 250), max_size=6))
    def test_any_fragmentation_of_valid_text(self, role: ConnectionType, text: str,
                                             cuts: List[int]) -> None:
        payload = text.encode()
        pieces = split_at(payload, cuts)
        data = b"".join(frame_from(role, TEXT if i == 0 else CONT, p, fin=i == len(pieces) - 1)
                        for i, p in enumerate(pieces))
        assert merge_messages(feed(Connection(role), data)) == [TextMessage(text)]


@role_param
class TestLimits:
    """max_message_size (default 1 MiB) and max_frame_size: 1009 from the header alone."""

    def test_default_limit_allows_exactly_1_mib(self, role: ConnectionType) -> None:
        payload = bytes(1 << 20)
        events = feed(Connection(role, whole_messages=True), frame_from(role, BINARY, payload))
        assert events == [BytesMessage(payload)]

    def test_default_limit_refuses_1_mib_plus_one_from_the_header(self, role: ConnectionType) -> None:
        header = frame_from(role, BINARY, length=(1 << 20) + 1)
        assert fault_code(role, header) == 1009

    def test_huge_announced_length_from_the_header(self, role: ConnectionType) -> None:
        header = frame_from(role, TEXT, length=2**62)
        assert fault_code(role, header) == 1009

    @pytest.mark.parametrize("whole", [False, True])
    def test_custom_limit_from_the_header(self, role: ConnectionType, whole: bool) -> None:
        assert fault_code(role, frame_from(role, BINARY, length=101), max_message_size=100,
                          whole_messages=whole) == 1009
        conn = Connection(role, max_message_size=100, whole_messages=whole)
        assert merge_messages(feed(conn, frame_from(role, BINARY, bytes(100)))) == [BytesMessage(bytes(100))]

    @pytest.mark.parametrize("whole", [False, True])
    def test_limit_across_fragments(self, role: ConnectionType, whole: bool) -> None:
        conn = Connection(role, max_message_size=1000, whole_messages=whole)
        events = feed(conn, frame_from(role, BINARY, bytes(600), fin=False))
        assert not [e for e in events if isinstance(e, CloseConnection)]
        # Only the header of the second fragment: 600 + 401 > 1000.
        events = feed(conn, frame_from(role, CONT, length=401))
        assert only_close(events).code == 1009

    def test_limit_is_per_message(self, role: ConnectionType) -> None:
        conn = Connection(role, max_message_size=100, whole_messages=True)
        data = b"".join(frame_from(role, BINARY, bytes(100)) for _ in range(20))
        assert feed(conn, data) == [BytesMessage(bytes(100))] * 20

    def test_control_frames_do_not_count(self, role: ConnectionType) -> None:
        conn = Connection(role, max_message_size=10, whole_messages=True)
        data = (frame_from(role, TEXT, b"01234", fin=False) + frame_from(role, PING, bytes(125))
                + frame_from(role, CONT, b"56789"))
        assert feed(conn, data) == [Ping(bytes(125)), TextMessage("0123456789")]

    def test_unlimited(self, role: ConnectionType) -> None:
        payload = bytes((1 << 20) + 1)
        conn = Connection(role, max_message_size=None, whole_messages=True)
        assert feed(conn, frame_from(role, BINARY, payload)) == [BytesMessage(payload)]

    def test_max_frame_size_from_the_header(self, role: ConnectionType) -> None:
        assert fault_code(role, frame_from(role, BINARY, length=65), max_frame_size=64) == 1009

    def test_max_frame_size_allows_many_small_frames(self, role: ConnectionType) -> None:
        conn = Connection(role, max_frame_size=64, whole_messages=True)
        data = frame_from(role, BINARY, bytes(64), fin=False) + frame_from(role, CONT, bytes(64))
        assert feed(conn, data) == [BytesMessage(bytes(128))]

    def test_max_frame_size_on_continuation(self, role: ConnectionType) -> None:
        data = frame_from(role, BINARY, bytes(64), fin=False) + frame_from(role, CONT, length=65)
        assert only_close(feed(Connection(role, max_frame_size=64), data)).code == 1009

    def test_big_frame_is_not_buffered(self, role: ConnectionType) -> None:
        """A frame arriving in pieces is delivered piece by piece, never held."""
        data = frame_from(role, BINARY, bytes(100_000))
        conn = Connection(role)
        delivered = 0
        for piece in split_at(data, range(0, len(data), 4096)):
            for event in feed(conn, piece):
                delivered += len(event.data)  # type: ignore[union-attr]
            assert unconsumed(conn) <= 14
        assert delivered == 100_000

    def test_collected_parts_within_the_limit(self, role: ConnectionType) -> None:
        conn = Connection(role, max_message_size=5000, whole_messages=True)
        data = b"".join(frame_from(role, BINARY if i == 0 else CONT, bytes(100), fin=False)
                        for i in range(50))
        for piece in split_at(data, range(0, len(data), 333)):
            assert feed(conn, piece) == []
            assert collected(conn) <= 5000
        assert only_close(feed(conn, frame_from(role, CONT, length=1))).code == 1009


def fragments(role: ConnectionType, count: int, size: int, opcode: int = BINARY) -> bytes:
    """A message of ``count`` fragments of ``size`` bytes each."""
    first = frame_from(role, opcode, b"a" * size, fin=False)
    middle = frame_from(role, CONT, b"a" * size, fin=False)
    last = frame_from(role, CONT, b"a" * size)
    return first + middle * (count - 2) + last


@role_param
class TestFragmentFlood:
    @pytest.mark.parametrize("whole", [False, True])
    def test_100k_tiny_fragments_in_linear_time(self, role: ConnectionType, whole: bool) -> None:
        data = fragments(role, 100_000, 1, TEXT)
        conn = Connection(role, whole_messages=whole)
        start = time.perf_counter()
        events = feed_chunks(conn, split_at(data, range(0, len(data), 65536)))
        elapsed = time.perf_counter() - start
        assert merge_messages(events) == [TextMessage("a" * 100_000)]
        assert elapsed < 10, elapsed

    def test_100k_tiny_fragments_in_one_read(self, role: ConnectionType) -> None:
        start = time.perf_counter()
        events = feed(Connection(role, whole_messages=True), fragments(role, 100_000, 1))
        assert events == [BytesMessage(b"a" * 100_000)]
        assert time.perf_counter() - start < 10

    @pytest.mark.parametrize("whole", [False, True])
    def test_autobahn_9_3_1_shape(self, role: ConnectionType, whole: bool) -> None:
        """4 MiB in 65,536 fragments of 64 bytes, with a 16 MiB limit."""
        data = fragments(role, 65536, 64)
        conn = Connection(role, max_message_size=16 << 20, whole_messages=whole)
        events = feed_chunks(conn, split_at(data, range(0, len(data), 1 << 17)))
        assert merge_messages(events) == [BytesMessage(b"a" * (4 << 20))]

    def test_limit_stops_a_flood_of_tiny_fragments(self, role: ConnectionType) -> None:
        data = fragments(role, 2000, 1)
        events = feed(Connection(role, max_message_size=1000, whole_messages=True), data)
        assert only_close(events).code == 1009

    def test_empty_fragments_do_not_pile_up(self, role: ConnectionType) -> None:
        """Memory for one message stays bounded even when its fragments carry nothing:
        80k empty continuation frames must not cost memory per frame."""
        conn = Connection(role, max_message_size=1024, whole_messages=True)
        feed(conn, frame_from(role, BINARY, b"x", fin=False))
        empty = frame_from(role, CONT, b"", fin=False) * 8192
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            for _ in range(10):
                assert feed(conn, empty) == []
            grown = tracemalloc.get_traced_memory()[0] - base
        finally:
            tracemalloc.stop()
        assert grown < 256 * 1024, f"{grown} bytes held for a 1-byte message"
        assert feed(conn, frame_from(role, CONT, b"y")) == [BytesMessage(b"xy")]


@role_param
class TestChunking:
    """Any chunking of a byte stream gives the same events."""

    @given(data=st.data())
    def test_random_splits_whole_messages(self, role: ConnectionType, data: st.DataObject) -> None:
        stream, expected = data.draw(valid_streams(role))
        cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
        conn = Connection(role, whole_messages=True)
        assert feed_chunks(conn, split_at(stream, cuts)) == expected

    @given(data=st.data())
    def test_random_splits_frame_mode(self, role: ConnectionType, data: st.DataObject) -> None:
        stream, expected = data.draw(valid_streams(role))
        cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
        conn = Connection(role)
        assert merge_messages(feed_chunks(conn, split_at(stream, cuts))) == expected

    @given(data=st.data())
    def test_one_byte_at_a_time(self, role: ConnectionType, data: st.DataObject) -> None:
        stream, expected = data.draw(valid_streams(role, max_size=200))
        assert feed_chunks(Connection(role, whole_messages=True), one_byte_at_a_time(stream)) == expected
        assert merge_messages(feed_chunks(Connection(role), one_byte_at_a_time(stream))) == expected

    @given(data=st.data())
    def test_whole_stream_at_once(self, role: ConnectionType, data: st.DataObject) -> None:
        stream, expected = data.draw(valid_streams(role))
        assert feed(Connection(role, whole_messages=True), stream) == expected

    @given(data=st.data())
    def test_chunking_of_a_violation(self, role: ConnectionType, data: st.DataObject) -> None:
        """A stream ending in a violation faults the same way however it is cut."""
        stream, expected = data.draw(valid_streams(role))
        bad = data.draw(st.sampled_from([
            frame_from(role, 0x3, b"x"), frame_from(role, CONT, b"x"),
            frame_from(role, TEXT, b"\xff"), frame_from(role, PING, length=126),
        ]))
        full = stream + bad + b"trailing junk"
        whole = feed(Connection(role, whole_messages=True), full)
        cuts = data.draw(st.lists(st.integers(0, len(full)), max_size=20))
        assert feed_chunks(Connection(role, whole_messages=True), split_at(full, cuts)) == whole
        if expected and isinstance(expected[-1], CloseConnection):
            assert whole == expected  # nothing after a close is interpreted
        else:
            assert whole[:-1] == expected
            assert only_close(whole).code in (1002, 1007)


@role_param
class TestNothingAfterViolation:
    def test_bytes_after_a_violation_are_ignored(self, role: ConnectionType) -> None:
        conn = Connection(role)
        bad = frame_from(role, 0x3, b"x")
        events = feed(conn, bad + frame_from(role, TEXT, b"after") + frame_from(role, PING, b""))
        assert only_close(events).code == 1002
        assert feed(conn, frame_from(role, TEXT, b"later")) == []
        assert unconsumed(conn) == 0

    def test_bytes_after_a_close_frame_are_ignored(self, role: ConnectionType) -> None:
        conn = Connection(role)
        data = frame_from(role, CLOSE, close_payload(1000)) + frame_from(role, TEXT, b"x") + b"\xff\xff"
        assert feed(conn, data) == [CloseConnection(1000, "")]
        assert feed(conn, frame_from(role, PING, b"")) == []
        assert unconsumed(conn) == 0

    def test_garbage_after_a_close_frame_is_not_parsed(self, role: ConnectionType) -> None:
        """Not even a violation after the close is reported."""
        conn = Connection(role)
        data = frame_from(role, CLOSE, close_payload(1000)) + wrongly_masked_from(role, 0x3, b"x")
        assert feed(conn, data) == [CloseConnection(1000, "")]


@role_param
class TestBufferBound:
    def test_partial_header_bytes_only(self, role: ConnectionType) -> None:
        data = frame_from(role, BINARY, bytes(70000))
        conn = Connection(role)
        for i in range(13 if role is SERVER else 9):
            assert feed(conn, data[i:i + 1]) == []
            assert unconsumed(conn) == i + 1

    def test_partial_control_frame(self, role: ConnectionType) -> None:
        data = frame_from(role, PING, bytes(125))
        conn = Connection(role)
        assert feed(conn, data[:-1]) == []
        assert unconsumed(conn) == len(data) - 1 <= 6 + 125
