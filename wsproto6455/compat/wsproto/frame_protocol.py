"""``wsproto.frame_protocol``: the opcode and close-code enums, and constants.

``Opcode`` and ``CloseReason`` are wsproto6455's own IntEnums. wsproto's
frame parser classes (``FrameProtocol``, ``FrameDecoder``, ``Buffer``...)
are internals no framework imports; they are not provided. ``ParseFailed``
exists so that ``except ParseFailed`` still compiles, but nothing raises it:
a peer's violation arrives as a ``CloseConnection`` event, as in wsproto.
"""

from __future__ import annotations

from typing import NamedTuple

from wsproto6455.frames import CloseReason, Opcode

__all__ = [
    "CloseReason",
    "FIN_MASK",
    "LOCAL_ONLY_CLOSE_REASONS",
    "MASK_MASK",
    "MAX_CLOSE_REASON",
    "MAX_FRAME_PAYLOAD",
    "MAX_LIBRARY_CLOSE_REASON",
    "MAX_PAYLOAD_EIGHT_BYTE",
    "MAX_PAYLOAD_NORMAL",
    "MAX_PAYLOAD_TWO_BYTE",
    "MAX_PRIVATE_CLOSE_REASON",
    "MAX_PROTOCOL_CLOSE_REASON",
    "MIN_CLOSE_REASON",
    "MIN_LIBRARY_CLOSE_REASON",
    "MIN_PRIVATE_CLOSE_REASON",
    "MIN_PROTOCOL_CLOSE_REASON",
    "NULL_MASK",
    "OPCODE_MASK",
    "Opcode",
    "PAYLOAD_LENGTH_EIGHT_BYTE",
    "PAYLOAD_LENGTH_TWO_BYTE",
    "PAYLOAD_LEN_MASK",
    "ParseFailed",
    "RSV1_MASK",
    "RSV2_MASK",
    "RSV3_MASK",
    "RsvBits",
]

# RFC 6455 §7.4.1: codes that name a local condition and never go on the wire.
LOCAL_ONLY_CLOSE_REASONS = (
    CloseReason.NO_STATUS_RCVD,
    CloseReason.ABNORMAL_CLOSURE,
    CloseReason.TLS_HANDSHAKE_FAILED,
)

# RFC 6455 §7.4.2: status code ranges.
MIN_CLOSE_REASON = 1000
MIN_PROTOCOL_CLOSE_REASON = 1000
MAX_PROTOCOL_CLOSE_REASON = 2999
MIN_LIBRARY_CLOSE_REASON = 3000
MAX_LIBRARY_CLOSE_REASON = 3999
MIN_PRIVATE_CLOSE_REASON = 4000
MAX_PRIVATE_CLOSE_REASON = 4999
MAX_CLOSE_REASON = 4999

# RFC 6455 §5.2: payload length encodings and header bit masks.
PAYLOAD_LENGTH_TWO_BYTE = 126
PAYLOAD_LENGTH_EIGHT_BYTE = 127
MAX_PAYLOAD_NORMAL = 125
MAX_PAYLOAD_TWO_BYTE = 2**16 - 1
MAX_PAYLOAD_EIGHT_BYTE = 2**64 - 1
MAX_FRAME_PAYLOAD = MAX_PAYLOAD_EIGHT_BYTE
MASK_MASK = 0x80
PAYLOAD_LEN_MASK = 0x7F
FIN_MASK = 0x80
RSV1_MASK = 0x40
RSV2_MASK = 0x20
RSV3_MASK = 0x10
OPCODE_MASK = 0x0F
NULL_MASK = b"\x00\x00\x00\x00"


class RsvBits(NamedTuple):
    rsv1: bool
    rsv2: bool
    rsv3: bool


class ParseFailed(Exception):
    """Kept for ``except`` clauses; never raised by wsproto6455."""

    def __init__(self, msg: str, code: int = CloseReason.PROTOCOL_ERROR) -> None:
        super().__init__(msg)
        self.code = code
