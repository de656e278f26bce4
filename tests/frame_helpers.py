"""Shared helpers for the frame, reader, writer, connection and fuzz tests.

Frames are built here by hand, independently of ``wsproto6455.frames``, so a
bug in the library's encoder cannot hide the same bug in its decoder. A tiny
independent parser reads what the library writes.

"Peer" frames are the frames the *other* end sends: a server receives masked
frames (all-zero key unless the test cares), a client receives unmasked ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import pytest
from hypothesis import settings

from wsproto6455 import Connection, ConnectionType
from wsproto6455.events import BytesMessage, CloseConnection, Event, Message, TextMessage

# One moderate profile for the whole frame/connection suite; HYPOTHESIS_PROFILE=ci
# (or any name registered here) selects another.
settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile("quick", max_examples=15, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ZERO_MASK = b"\x00\x00\x00\x00"
RFC_MASK = b"\x37\xfa\x21\x3d"  # the masking key of the RFC 6455 §5.7 examples

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
RSV1, RSV2, RSV3 = 0x40, 0x20, 0x10

SERVER = ConnectionType.SERVER
CLIENT = ConnectionType.CLIENT
ROLES = [SERVER, CLIENT]
ROLE_IDS = ["server", "client"]


def xor_mask(data: bytes, key: bytes) -> bytes:
    """RFC 6455 §5.3 masking, the slow obvious way (the reference)."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
          mask: Optional[bytes] = None, length: Optional[int] = None) -> bytes:
    """One frame. ``length`` overrides the announced payload length."""
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([first, mask_bit | n])
    elif n < 65536:
        head = bytes([first, mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, mask_bit | 127]) + n.to_bytes(8, "big")
    if mask is None:
        return head + payload
    return head + mask + xor_mask(payload, mask)


def frame_from(role: ConnectionType, opcode: int, payload: bytes = b"", *,
               fin: bool = True, rsv: int = 0, mask: bytes = ZERO_MASK,
               length: Optional[int] = None) -> bytes:
    """A frame as the peer of ``role`` sends it: masked to a server, not to a client."""
    return frame(opcode, payload, fin=fin, rsv=rsv, length=length,
                 mask=mask if role is SERVER else None)


def wrongly_masked_from(role: ConnectionType, opcode: int, payload: bytes = b"") -> bytes:
    """A frame masked the wrong way for ``role``'s peer (RFC 6455 §5.1 violation)."""
    return frame(opcode, payload, mask=None if role is SERVER else ZERO_MASK)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


@dataclass
class ParsedFrame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes
    mask: Optional[bytes]


def parse_frames(data: bytes) -> List[ParsedFrame]:
    """Split ``data`` into frames (unmasking payloads); every byte must be used."""
    frames = []
    pos = 0
    while pos < len(data):
        first, second = data[pos], data[pos + 1]
        n = second & 0x7F
        pos += 2
        if n == 126:
            n = int.from_bytes(data[pos:pos + 2], "big")
            pos += 2
        elif n == 127:
            n = int.from_bytes(data[pos:pos + 8], "big")
            pos += 8
        key = None
        if second & 0x80:
            key = data[pos:pos + 4]
            pos += 4
        payload = data[pos:pos + n]
        assert len(payload) == n, "truncated frame"
        pos += n
        if key is not None:
            payload = xor_mask(payload, key)
        frames.append(ParsedFrame(bool(first & 0x80), first & 0x70, first & 0x0F, payload, key))
    return frames


def connection(role: ConnectionType, **options: object) -> Connection:
    return Connection(role, **options)  # type: ignore[arg-type]


def feed(conn: object, data: Optional[bytes]) -> List[Event]:
    """Feed ``data`` (None: EOF) and return every event it makes."""
    conn.receive_data(data)  # type: ignore[attr-defined]
    return list(conn.events())  # type: ignore[attr-defined]


def feed_chunks(conn: object, chunks: Iterable[bytes]) -> List[Event]:
    events: List[Event] = []
    for chunk in chunks:
        events += feed(conn, chunk)
    return events


def merge_messages(events: Sequence[Event]) -> List[Event]:
    """Join the pieces of each message into one event (whole_messages' shape).

    Pieces of one message must agree on their type; an empty unfinished
    piece disappears into its neighbours.
    """
    merged: List[Event] = []
    parts: List[Message] = []  # type: ignore[type-arg]
    for event in events:
        if isinstance(event, Message):
            if parts:
                assert type(event) is type(parts[0]), "message pieces changed type"
            parts.append(event)
            if event.message_finished:
                assert event.frame_finished, "message finished in the middle of a frame"
                if isinstance(event, TextMessage):
                    merged.append(TextMessage("".join(p.data for p in parts)))
                else:
                    merged.append(BytesMessage(b"".join(p.data for p in parts)))
                parts = []
        else:
            merged.append(event)
    if parts:
        merged.append(("unfinished", type(parts[0]).__name__,  # type: ignore[arg-type]
                       "".join(p.data for p in parts) if isinstance(parts[0], TextMessage)
                       else b"".join(p.data for p in parts)))
    return merged


def split_at(data: bytes, cuts: Iterable[int]) -> List[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    pieces = []
    last = 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


def one_byte_at_a_time(data: bytes) -> List[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


def closes(events: Sequence[Event]) -> List[CloseConnection]:
    return [e for e in events if isinstance(e, CloseConnection)]


def only_close(events: Sequence[Event]) -> CloseConnection:
    """The events end in exactly one CloseConnection: return it."""
    found = closes(events)
    assert len(found) == 1, events
    assert events[-1] is found[0], events
    return found[0]


def unconsumed(conn: Connection) -> int:
    """Bytes the reader holds but has not interpreted yet (white box)."""
    reader = conn._reader
    return len(reader._buffer) - reader._pos + sum(len(p) for p in reader._incoming)


def collected(conn: Connection) -> int:
    """Bytes of a message collected for whole_messages delivery (white box)."""
    reader = conn._reader
    return len(reader._collected) + reader._scanner.held


WIRE_VALID_CODES: Tuple[range, ...] = (range(1000, 1004), range(1007, 1015), range(3000, 5000))


def valid_on_wire(code: int) -> bool:
    return any(code in r for r in WIRE_VALID_CODES)


role_param = pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)

Text = Union[str, bytes]


# -- hypothesis strategies for valid streams -----------------------------------

from hypothesis import strategies as st  # noqa: E402

from wsproto6455.events import Ping, Pong  # noqa: E402

control_payloads = st.binary(max_size=125)
close_codes = st.sampled_from([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                               1012, 1013, 1014, 3000, 3999, 4000, 4999])


@st.composite
def message_frames(draw: st.DrawFn, role: ConnectionType, max_size: int = 600) -> Tuple[bytes, List[Event]]:
    """One data message as the peer of ``role`` sends it, cut into random fragments
    (text cut anywhere, even inside a code point), with pings and pongs between
    the fragments. Returns the bytes and the events whole_messages delivers."""
    is_text = draw(st.booleans())
    if is_text:
        text = draw(st.text(max_size=max_size // 4))
        payload = text.encode("utf-8")
    else:
        payload = draw(st.binary(max_size=max_size))
    cuts = draw(st.lists(st.integers(0, len(payload)), max_size=4))
    pieces = sorted(set(cuts))
    bounds = [0] + pieces + [len(payload)]
    fragments = [payload[a:b] for a, b in zip(bounds, bounds[1:])]
    data = b""
    events: List[Event] = []
    for i, fragment in enumerate(fragments):
        last = i == len(fragments) - 1
        opcode = (TEXT if is_text else BINARY) if i == 0 else CONT
        data += frame_from(role, opcode, fragment, fin=last)
        if not last and draw(st.booleans()):
            control = draw(st.builds(Ping, control_payloads) | st.builds(Pong, control_payloads))
            data += frame_from(role, PING if isinstance(control, Ping) else PONG, control.payload)
            events.append(control)
    events.append(TextMessage(payload.decode("utf-8")) if is_text else BytesMessage(payload))
    return data, events


@st.composite
def valid_streams(draw: st.DrawFn, role: ConnectionType, max_size: int = 600) -> Tuple[bytes, List[Event]]:
    """A stream of messages and control frames, maybe ending with a close frame."""
    data = b""
    events: List[Event] = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["message", "ping", "pong"]))
        if kind == "message":
            more, more_events = draw(message_frames(role, max_size))
            data += more
            events += more_events
        else:
            payload = draw(control_payloads)
            data += frame_from(role, PING if kind == "ping" else PONG, payload)
            events.append(Ping(payload) if kind == "ping" else Pong(payload))
    if draw(st.booleans()):
        code = draw(close_codes)
        reason = draw(st.text(max_size=20))
        data += frame_from(role, CLOSE, close_payload(code, reason.encode("utf-8")))
        events.append(CloseConnection(code, reason))
    return data, events


from wsproto6455.extensions.base import Extension  # noqa: E402


class UpperExtension(Extension):
    """A toy extension owning RSV1: received payloads of flagged messages are
    upper-cased, sent ones lower-cased, so its passage is visible."""

    name = "x-upper"
    rsv_bits = RSV1

    def __init__(self) -> None:
        self.inbound: List[int] = []

    def enabled(self) -> bool:
        return True

    def begin_inbound(self, rsv: int) -> bool:
        self.inbound.append(rsv)
        return True

    def decode(self, data: bytes, final: bool, max_size: Optional[int]) -> bytes:
        return data.upper()

    def begin_outbound(self, size: Optional[int], compress: Optional[bool]) -> int:
        return RSV1 if compress is not False else 0

    def encode(self, data: bytes, final: bool) -> bytes:
        return data.lower()
