"""RFC 6455 §5: frame headers, opcodes, close payloads, and the §5.7 examples.

The §5.7 examples are checked in both directions through a whole connection:
the bytes parse to the expected event, and the event serializes to the bytes.
Client frames are masked with a random key, so the client-side serialization
patches the key source to return the RFC's key (37 fa 21 3d).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsproto6455 import Connection, ConnectionType
from wsproto6455.errors import LocalProtocolError, ProtocolFault
from wsproto6455.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto6455.frames import (CloseReason, Opcode, close_payload, frame_header,
                                is_valid_close_code, parse_close_payload)

from frame_helpers import CLIENT, RFC_MASK, SERVER, feed, parse_frames, xor_mask


@pytest.fixture
def rfc_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Client masking keys become the RFC 6455 §5.7 key."""
    monkeypatch.setattr("wsproto6455.writer.os.urandom", lambda n: RFC_MASK * (n // 4))


class TestRFC6455Section5_7Examples:
    """RFC 6455 §5.7, byte for byte: parse == event, serialize == bytes."""

    HELLO_UNMASKED = b"\x81\x05\x48\x65\x6c\x6c\x6f"
    HELLO_MASKED = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    HEL_LO_FRAGMENTED = b"\x01\x03\x48\x65\x6c" + b"\x80\x02\x6c\x6f"
    PING_UNMASKED = b"\x89\x05\x48\x65\x6c\x6c\x6f"
    PONG_MASKED = b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    BINARY_256 = b"\x82\x7e\x01\x00" + bytes(range(256))
    BINARY_64K = b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00" + bytes(65536)

    # A single-frame unmasked text message (server to client).
    def test_unmasked_text_parsed_by_client(self) -> None:
        assert feed(Connection(CLIENT), self.HELLO_UNMASKED) == [TextMessage("Hello")]

    def test_unmasked_text_serialized_by_server(self) -> None:
        assert Connection(SERVER).send(TextMessage("Hello")) == self.HELLO_UNMASKED

    # A single-frame masked text message (client to server).
    def test_masked_text_parsed_by_server(self) -> None:
        assert feed(Connection(SERVER), self.HELLO_MASKED) == [TextMessage("Hello")]

    def test_masked_text_serialized_by_client(self, rfc_key: None) -> None:
        assert Connection(CLIENT).send(TextMessage("Hello")) == self.HELLO_MASKED

    # A fragmented unmasked text message.
    def test_fragmented_text_parsed_by_client(self) -> None:
        events = feed(Connection(CLIENT), self.HEL_LO_FRAGMENTED)
        assert events == [TextMessage("Hel", True, False), TextMessage("lo", True, True)]

    def test_fragmented_text_parsed_whole_by_client(self) -> None:
        conn = Connection(CLIENT, whole_messages=True)
        assert feed(conn, self.HEL_LO_FRAGMENTED) == [TextMessage("Hello")]

    def test_fragmented_text_serialized_by_server(self) -> None:
        conn = Connection(SERVER)
        first = conn.send(TextMessage("Hel", message_finished=False))
        second = conn.send(TextMessage("lo"))
        assert first + second == self.HEL_LO_FRAGMENTED

    # Unmasked ping, masked pong.
    def test_unmasked_ping_parsed_by_client(self) -> None:
        assert feed(Connection(CLIENT), self.PING_UNMASKED) == [Ping(b"Hello")]

    def test_unmasked_ping_serialized_by_server(self) -> None:
        assert Connection(SERVER).send(Ping(b"Hello")) == self.PING_UNMASKED

    def test_masked_pong_parsed_by_server(self) -> None:
        assert feed(Connection(SERVER), self.PONG_MASKED) == [Pong(b"Hello")]

    def test_masked_pong_serialized_by_client(self, rfc_key: None) -> None:
        assert Connection(CLIENT).send(Pong(b"Hello")) == self.PONG_MASKED

    # 256 bytes and 64 KiB of binary data in a single unmasked frame.
    def test_binary_256_parsed_by_client(self) -> None:
        assert feed(Connection(CLIENT), self.BINARY_256) == [BytesMessage(bytes(range(256)))]

    def test_binary_256_serialized_by_server(self) -> None:
        assert Connection(SERVER).send(BytesMessage(bytes(range(256)))) == self.BINARY_256

    def test_binary_64k_parsed_by_client(self) -> None:
        assert feed(Connection(CLIENT), self.BINARY_64K) == [BytesMessage(bytes(65536))]

    def test_binary_64k_serialized_by_server(self) -> None:
        assert Connection(SERVER).send(BytesMessage(bytes(65536))) == self.BINARY_64K

    # The masked forms of the unmasked examples, for the other role.
    def test_masked_binary_256_serialized_by_client(self, rfc_key: None) -> None:
        expected = b"\x82\xfe\x01\x00" + RFC_MASK + xor_mask(bytes(range(256)), RFC_MASK)
        assert Connection(CLIENT).send(BytesMessage(bytes(range(256)))) == expected

    def test_masked_binary_256_parsed_by_server(self) -> None:
        data = b"\x82\xfe\x01\x00" + RFC_MASK + xor_mask(bytes(range(256)), RFC_MASK)
        assert feed(Connection(SERVER), data) == [BytesMessage(bytes(range(256)))]


class TestRFC6455Section5_2Opcodes:
    def test_values(self) -> None:
        assert [int(op) for op in Opcode] == [0x0, 0x1, 0x2, 0x8, 0x9, 0xA]

    @pytest.mark.parametrize("opcode", [Opcode.CLOSE, Opcode.PING, Opcode.PONG])
    def test_control(self, opcode: Opcode) -> None:
        assert opcode.iscontrol()

    @pytest.mark.parametrize("opcode", [Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY])
    def test_data(self, opcode: Opcode) -> None:
        assert not opcode.iscontrol()


class TestRFC6455Section5_2FrameHeader:
    @pytest.mark.parametrize("length, encoded", [
        (0, b"\x00"),
        (125, b"\x7d"),
        (126, b"\x7e\x00\x7e"),
        (65535, b"\x7e\xff\xff"),
        (65536, b"\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        (2**63 - 1, b"\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"),
    ])
    def test_minimal_length_encoding(self, length: int, encoded: bytes) -> None:
        """§5.2: "the minimal number of bytes MUST be used to encode the length"."""
        assert frame_header(True, 0, Opcode.BINARY, length) == b"\x82" + encoded

    def test_fin_rsv_opcode_bits(self) -> None:
        assert frame_header(False, 0x40, Opcode.TEXT, 0) == b"\x41\x00"
        assert frame_header(True, 0x70, Opcode.CONTINUATION, 0) == b"\xf0\x00"

    def test_mask_bit_and_key(self) -> None:
        assert frame_header(True, 0, Opcode.TEXT, 5, RFC_MASK) == b"\x81\x85" + RFC_MASK
        assert frame_header(True, 0, Opcode.TEXT, 300, RFC_MASK) == b"\x81\xfe\x01\x2c" + RFC_MASK


class TestRFC6455Section7_4StatusCodes:
    @pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                      1012, 1013, 1014, 3000, 3999, 4000, 4999])
    def test_valid_on_the_wire(self, code: int) -> None:
        assert is_valid_close_code(code)

    @pytest.mark.parametrize("code", [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000,
                                      2999, 5000, 65535])
    def test_invalid_on_the_wire(self, code: int) -> None:
        assert not is_valid_close_code(code)

    def test_every_16_bit_code(self) -> None:
        valid = set(range(1000, 1004)) | set(range(1007, 1015)) | set(range(3000, 5000))
        assert {c for c in range(65536) if is_valid_close_code(c)} == valid

    def test_registered_names(self) -> None:
        assert CloseReason.NORMAL_CLOSURE == 1000
        assert CloseReason.NO_STATUS_RCVD == 1005
        assert CloseReason.ABNORMAL_CLOSURE == 1006
        assert CloseReason.MESSAGE_TOO_BIG == 1009
        assert CloseReason.BAD_GATEWAY == 1014


class TestRFC6455Section5_5_1ClosePayload:
    def test_code_and_reason(self) -> None:
        assert close_payload(1000, "bye") == b"\x03\xe8bye"

    def test_no_reason(self) -> None:
        assert close_payload(4000, None) == b"\x0f\xa0"

    def test_no_status_is_empty(self) -> None:
        assert close_payload(1005, "ignored") == b""

    @pytest.mark.parametrize("code", [999, 1004, 1006, 1015, 2000, 5000])
    def test_invalid_code_is_local_error(self, code: int) -> None:
        with pytest.raises(LocalProtocolError):
            close_payload(code, "")

    def test_long_ascii_reason_truncated_to_123_bytes(self) -> None:
        payload = close_payload(1000, "x" * 500)
        assert payload == b"\x03\xe8" + b"x" * 123

    @pytest.mark.parametrize("char", ["é", "€", "😀"])
    def test_long_reason_truncated_at_character_boundary(self, char: str) -> None:
        payload = close_payload(1000, char * 200)
        assert len(payload) <= 125
        reason = payload[2:].decode("utf-8")  # must still decode
        assert reason == char * (123 // len(char.encode("utf-8")))

    def test_parse_empty_is_no_status(self) -> None:
        assert parse_close_payload(b"") == (1005, "")

    def test_parse_code_and_reason(self) -> None:
        assert parse_close_payload(b"\x03\xe8caf\xc3\xa9") == (1000, "café")

    def test_parse_one_byte_is_protocol_error(self) -> None:
        with pytest.raises(ProtocolFault) as info:
            parse_close_payload(b"\x03")
        assert info.value.code == 1002

    @pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
    def test_parse_invalid_code_is_protocol_error(self, code: int) -> None:
        with pytest.raises(ProtocolFault) as info:
            parse_close_payload(code.to_bytes(2, "big"))
        assert info.value.code == 1002

    def test_parse_bad_utf8_reason(self) -> None:
        with pytest.raises(ProtocolFault) as info:
            parse_close_payload(b"\x03\xe8\xff")
        assert info.value.code == 1007

    @given(code=st.sampled_from(sorted(set(range(1000, 1004)) | set(range(1007, 1015))
                                       | {3000, 3500, 4000, 4999})),
           reason=st.text(max_size=80))
    def test_round_trip(self, code: int, reason: str) -> None:
        parsed_code, parsed_reason = parse_close_payload(close_payload(code, reason))
        assert parsed_code == code
        assert reason.startswith(parsed_reason)
        assert len(parsed_reason.encode("utf-8")) <= 123


class TestRFC6455Section5RoundTrip:
    """Hypothesis: whatever one end writes, the other parses back to the same events."""

    @given(
        sender=st.sampled_from([SERVER, CLIENT]),
        events=st.lists(st.one_of(
            st.builds(TextMessage, st.text(max_size=300)),
            st.builds(BytesMessage, st.binary(max_size=70000) | st.binary(max_size=130)),
            st.builds(Ping, st.binary(max_size=125)),
            st.builds(Pong, st.binary(max_size=125)),
        ), max_size=6),
        close=st.booleans(),
    )
    def test_round_trip(self, sender: ConnectionType, events: list, close: bool) -> None:
        receiver = CLIENT if sender is SERVER else SERVER
        out = Connection(sender)
        data = b"".join(out.send(e) for e in events)
        if close:
            events = events + [CloseConnection(1000, "done")]
            data += out.send(CloseConnection(1000, "done"))
        frames = parse_frames(data)
        assert all((f.mask is not None) is (sender is CLIENT) for f in frames)
        conn = Connection(receiver, whole_messages=True)
        assert feed(conn, data) == events
