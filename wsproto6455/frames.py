"""RFC 6455 §5: opcodes, close codes, frame headers and close payloads."""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Optional

from .errors import LocalProtocolError, ProtocolFault


class Opcode(IntEnum):
    """RFC 6455 §5.2 opcodes."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    def iscontrol(self) -> bool:
        return bool(self & 0x08)


class CloseReason(IntEnum):
    """RFC 6455 §7.4.1 status codes, and those IANA registered since."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    #: Reserved: never on the wire.
    NO_STATUS_RCVD = 1005
    #: Reserved: never on the wire; reported when the stream ends without a close.
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXT = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    #: Reserved: never on the wire.
    TLS_HANDSHAKE_FAILED = 1015


_REGISTERED = frozenset(int(reason) for reason in CloseReason)

FIN = 0x80
RSV_MASK = 0x70
OPCODE_MASK = 0x0F
MASK_BIT = 0x80
#: RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less".
MAX_CONTROL_PAYLOAD = 125
DATA_OPCODES = frozenset({Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY})
KNOWN_OPCODES = frozenset(int(op) for op in Opcode)


def is_valid_close_code(code: int) -> bool:
    """RFC 6455 §7.4: may this code appear in a close frame on the wire?

    1000-1003 and 1007-1014 are registered for use; 1004 is reserved, 1005,
    1006 and 1015 MUST NOT be sent; 1016-2999 are unassigned; 3000-4999 are
    for libraries, frameworks and applications.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def frame_header(fin: bool, rsv: int, opcode: int, length: int,
                 mask_key: Optional[bytes] = None) -> bytes:
    """RFC 6455 §5.2: the header of a frame whose payload is ``length`` bytes."""
    first = (FIN if fin else 0) | rsv | opcode
    mask_bit = MASK_BIT if mask_key is not None else 0
    if length < 126:
        header = bytes((first, mask_bit | length))
    elif length < 0x10000:
        header = bytes((first, mask_bit | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((first, mask_bit | 127)) + length.to_bytes(8, "big")
    if mask_key is not None:
        header += mask_key
    return header


def message_payload(data: Any) -> tuple[bool, bytes]:
    """(is_text, payload) of the data of a message to send.

    Any ``str`` is text, subclasses included (``markupsafe.Markup``, a
    ``str`` Enum member), sent as its string value: ``str.encode`` ignores a
    subclass's overrides. Anything with the buffer protocol is binary.
    Anything else is refused: ``bytes(5)`` would send five NUL bytes. The
    compiled ``server_frame`` follows the same rule, with the same message.
    """
    if isinstance(data, str):
        return True, str.encode(data, "utf-8")
    if type(data) is bytes:
        return False, data
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(
            f"message data must be a str or a bytes-like object, not {type(data).__name__!r}"
        ) from None
    return False, view.tobytes()


def control_payload(data: Any) -> bytes:
    """The payload of a ping or pong to send: any bytes-like object."""
    if type(data) is bytes:
        return data
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(
            f"control frame payload must be a bytes-like object, not {type(data).__name__!r}"
        ) from None
    return view.tobytes()


def close_payload(code: int, reason: Optional[str]) -> bytes:
    """The payload of a close frame we send.

    1005 (no status) becomes an empty payload. Codes that must not be sent
    are the caller's mistake. Reasons are cut to the 123 bytes a control
    frame leaves them, at a character boundary.
    """
    if code == CloseReason.NO_STATUS_RCVD:
        return b""
    if not is_valid_close_code(code):
        raise LocalProtocolError(f"close code {code} may not be sent (RFC 6455 §7.4)")
    if reason is not None and not isinstance(reason, str):
        raise TypeError(f"close reason must be a str or None, not {type(reason).__name__}")
    try:
        data = str.encode(reason or "", "utf-8")
    except UnicodeEncodeError:
        # A lone surrogate: no UTF-8 exists for it (RFC 6455 §5.5.1 wants UTF-8).
        raise LocalProtocolError("close reason is not encodable as UTF-8") from None
    if len(data) > MAX_CONTROL_PAYLOAD - 2:
        data = data[: MAX_CONTROL_PAYLOAD - 2].decode("utf-8", "ignore").encode("utf-8")
    return code.to_bytes(2, "big") + data


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """RFC 6455 §5.5.1: the code and reason of a received close frame.

    An empty payload means "no status" (1005). A one-byte payload, a code not
    valid on the wire, or a reason that is not UTF-8 fail the connection.
    """
    if not payload:
        return CloseReason.NO_STATUS_RCVD, ""
    if len(payload) == 1:
        raise ProtocolFault(CloseReason.PROTOCOL_ERROR, "close frame with a one-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if not is_valid_close_code(code):
        raise ProtocolFault(CloseReason.PROTOCOL_ERROR, f"invalid close code {code}")
    if code in _REGISTERED:
        code = CloseReason(code)  # as wsproto reports them
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolFault(CloseReason.INVALID_FRAME_PAYLOAD_DATA,
                            "close reason is not valid UTF-8") from None
    return code, reason
