"""The incoming half of a connection: frames, messages, UTF-8 and limits.

One buffer and an offset into it; the only bytes copied are payloads (once,
when they are unmasked or sliced out) and the few header bytes of a frame
split between two reads. Payloads are consumed as they arrive, so a large
frame is never held in the buffer: it is delivered (or, with
``whole_messages``, collected up to ``max_message_size``) piece by piece.
Every limit is checked from the frame header, before the payload is read.

Between messages, runs of unfragmented frames go through the ``Scanner``
kernel (compiled or pure, see ``backend``) in one call, including a last
frame that is still arriving (its later pieces go to the scanner too); it
stops at anything else, which this module's general frame-by-frame path
handles, so every fault but invalid UTF-8 in a frame the scanner has begun
is found and reported in one place. ``batch`` is the route that avoids the
generators when the scanner took everything.

Faults are raised as :class:`~wsproto6455.errors.ProtocolFault`; after a
fault or a close frame the reader interprets nothing more.
"""

from __future__ import annotations

import sys
from collections import deque
from functools import partial
from typing import Callable, Iterator, Optional, Sequence, Union

from .backend import Scanner, Utf8Validator, apply_mask, drain
from ._utf8_py import decode_piece
from .errors import ProtocolFault
from .events import BytesMessage, CloseConnection, Event, Ping, Pong, TextMessage
from .extensions.base import RSV1, Extension
from .frames import MAX_CONTROL_PAYLOAD, CloseReason, parse_close_payload

PROTOCOL_ERROR = CloseReason.PROTOCOL_ERROR
INVALID_DATA = CloseReason.INVALID_FRAME_PAYLOAD_DATA
TOO_BIG = CloseReason.MESSAGE_TOO_BIG
INTERNAL_ERROR = CloseReason.INTERNAL_ERROR

_TEXT = 0x1
_BINARY = 0x2
_CLOSE = 0x8
_PING = 0x9
_PONG = 0xA
_KNOWN_CONTROL = (_CLOSE, _PING, _PONG)


def _span(buf: bytes, start: int, end: int) -> "bytes | memoryview":
    """A payload to unmask: a memoryview saves the slice's copy from 1 KiB
    up; below that the plain slice is cheaper (measured)."""
    return buf[start:end] if end - start < 1024 else memoryview(buf)[start:end]


def _rotate(key: bytes, consumed: int) -> bytes:
    """The masking key for a payload piece that starts ``consumed`` bytes in."""
    shift = consumed & 3
    return key[shift:] + key[:shift] if shift else key


class Reader:
    """Parses the byte stream of an open connection into events."""

    def __init__(
        self,
        client: bool,
        extensions: Sequence[Extension],
        max_message_size: Optional[int],
        max_frame_size: Optional[int],
        whole_messages: bool,
    ) -> None:
        # RFC 6455 §5.1: a server MUST close on an unmasked frame; a client
        # MUST close on a masked one.
        self._mask_bit = 0 if client else 0x80
        # Only negotiated extensions that claim RSV bits see the data path.
        self._extensions = tuple(ext for ext in extensions if ext.rsv_bits and ext.enabled())
        self._rsv_allowed = 0
        for ext in self._extensions:
            self._rsv_allowed |= ext.rsv_bits
        self._max_message = max_message_size
        self._max_frame = max_frame_size
        # The fast path (scan_messages) leaves larger payloads to _next_frame,
        # which enforces the limits. Never above sys.maxsize: the compiled
        # scanner takes it as a C integer.
        scan_limit = min(sys.maxsize,
                         sys.maxsize if max_message_size is None else max_message_size,
                         sys.maxsize if max_frame_size is None else max_frame_size)
        # Events scanned but not yet yielded (the caller may stop iterating
        # at any point, and the rest must wait for the next events() call).
        self._ready: deque[Event] = deque()
        self._scanned: list[Event] = []
        # A fault found by the fast path, raised after the events before it
        # (or any other exception out of its inflate hook, e.g. MemoryError).
        self._fault: Optional[BaseException] = None
        # Whole compressed messages can take the fast path too when RSV1 is
        # the only extension bit in use (permessage-deflate). The scanner
        # inflates one of them per call, so what the caller has not taken
        # stays compressed (the asyncio layer's max_queue bound, issue 11).
        inflate: Optional[Callable[[bytes], bytes]] = None
        if self._rsv_allowed == RSV1:
            if len(self._extensions) == 1:
                # One extension (permessage-deflate): its one-call hook.
                inflate = partial(self._extensions[0].decode_message, rsv=RSV1,
                                  max_size=max_message_size)
            else:
                inflate = self._inflate_payload
        self._scanner = Scanner(self._mask_bit, scan_limit, whole_messages, inflate)
        self._whole = whole_messages
        self._buffer = b""
        self._pos = 0
        self._incoming: list[bytes] = []
        self._finished = False
        # The data message under way (opcode 0: none).
        self._opcode = 0
        self._size = 0
        self._decoders: tuple[Extension, ...] = ()
        # Text delivered piece by piece is decoded as it comes; text collected
        # whole is validated as it comes (fail-fast) and decoded once at the end.
        self._pending_utf8 = b""
        self._validator = Utf8Validator()
        self._collected = bytearray()
        # The data frame whose payload is still arriving.
        self._frame_left = 0
        self._frame_fin = False
        self._frame_key: Optional[bytes] = None

    @property
    def scanner(self) -> Scanner:
        return self._scanner

    def feed(self, data: bytes) -> None:
        if not self._finished and data:
            # Joined once per events() call, so feeding many pieces stays linear.
            self._incoming.append(data)

    def _take_incoming(self) -> None:
        incoming = self._incoming
        if len(incoming) == 1 and self._pos >= len(self._buffer):
            self._buffer = bytes(incoming[0])
        else:
            self._buffer = self._buffer[self._pos:] + b"".join(incoming)
        self._pos = 0
        incoming.clear()

    def finish(self) -> None:
        """Interpret nothing more (a close was received, or the peer failed)."""
        self._finished = True
        self._buffer = b""
        self._pos = 0
        self._incoming.clear()
        self._collected = bytearray()
        self._scanner.reset()

    def batch(self) -> Optional[Iterator[Event]]:
        """The fast route of :meth:`events`, when only the scanner has work.

        If nothing waits but new bytes, and the scanner takes all of them,
        the events come from an iterator over the queue (events not taken
        stay queued, as with ``events()``); otherwise None, and ``events()``
        does the rest (a fault found here is raised there, after the events).
        """
        if (self._ready or self._fault is not None or self._finished
                or self._frame_left or self._opcode):
            return None
        if self._incoming:
            self._take_incoming()
        scanned = self._scanned
        try:
            self._pos = self._scanner.scan(self._buffer, self._pos, scanned)
        except BaseException as exc:
            # Raised by events() after the events scanned before it.
            self._fault = exc
        ready = self._ready
        if scanned:
            ready.extend(scanned)
            scanned.clear()
        if self._fault is None and (self._pos == len(self._buffer) or self._scanner.busy):
            return drain(ready)
        return None

    def events(self) -> Iterator[Event]:
        """Events for the bytes fed so far; ProtocolFault on a violation."""
        ready = self._ready
        scanner = self._scanner
        try:
            while True:
                while ready:
                    yield ready.popleft()
                if self._fault is not None:
                    fault, self._fault = self._fault, None
                    raise fault
                if self._finished:
                    return
                if self._incoming:
                    # Taken only when about to be read, never while the caller
                    # holds this generator between queued events: while the
                    # scanner has a frame under way, every byte outside
                    # _incoming has been read (the compiled ReadShortcut's
                    # condition).
                    self._take_incoming()
                before = self._pos
                if not (self._frame_left or self._opcode):
                    # Between messages: take a run of simple frames at once.
                    scanned = self._scanned
                    try:
                        self._pos = scanner.scan(self._buffer, before, scanned)
                    except BaseException as exc:
                        # The events scanned before it are delivered first.
                        self._fault = exc
                    if scanned:
                        ready.extend(scanned)
                        scanned.clear()
                    if ready or self._fault is not None:
                        continue
                    if scanner.busy:
                        return  # the frame under way is the scanner's: more bytes needed
                if self._frame_left:
                    if before == len(self._buffer):
                        return  # the rest of the frame has not arrived
                    event = self._continue_frame()
                else:
                    event = self._next_frame()
                if event is not None:
                    yield event
                elif self._pos == before:
                    return  # nothing consumed: the next bytes are needed
        except ProtocolFault:
            self.finish()
            raise
        except GeneratorExit:
            raise  # the caller stopped iterating; the rest waits
        except BaseException as exc:
            # Not the peer's fault (MemoryError, a bug in an extension): the
            # frame cannot be read again, since a decompressor has moved on.
            # The exception goes to the caller once; the connection then
            # fails with 1011, so nothing is delivered twice or out of order.
            self.finish()
            self._fault = ProtocolFault(INTERNAL_ERROR, f"{type(exc).__name__} while reading a message")
            raise

    # The general path: one frame header, and its payload when it is all here.
    def _next_frame(self) -> Optional[Event]:
        buf = self._buffer
        pos = self._pos
        available = len(buf) - pos
        if available < 2:
            return None
        first = buf[pos]
        second = buf[pos + 1]
        length = second & 0x7F
        header = 2
        if length == 126:
            if available < 4:
                return None
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            header = 4
        elif length == 127:
            if available < 10:
                return None
            if buf[pos + 2] & 0x80:
                # RFC 6455 §5.2: "the most significant bit MUST be 0".
                raise ProtocolFault(PROTOCOL_ERROR, "payload length with the top bit set")
            length = int.from_bytes(buf[pos + 2:pos + 10], "big")
            header = 10
        masked = second & 0x80
        if masked != self._mask_bit:
            raise ProtocolFault(
                PROTOCOL_ERROR, "masked frame from a server" if masked else "unmasked frame from a client"
            )
        if masked:
            header += 4
            if available < header:
                return None
            key: Optional[bytes] = buf[pos + header - 4:pos + header]
        else:
            key = None
        opcode = first & 0x0F
        fin = first & 0x80
        rsv = first & 0x70

        if opcode & 0x08:
            return self._control_frame(opcode, fin, rsv, length, header, key)

        max_frame = self._max_frame
        if max_frame is not None and length > max_frame:
            raise ProtocolFault(TOO_BIG, f"frame of {length} bytes over the {max_frame}-byte limit")
        if opcode:
            if opcode > _BINARY:
                raise ProtocolFault(PROTOCOL_ERROR, f"reserved opcode {opcode:#x}")
            if self._opcode:
                raise ProtocolFault(PROTOCOL_ERROR, "new data message before the previous one ended")
            if rsv:
                self._begin_extensions(rsv)
            self._opcode = opcode
        else:
            if not self._opcode:
                raise ProtocolFault(PROTOCOL_ERROR, "continuation frame outside a message")
            if rsv:
                raise ProtocolFault(PROTOCOL_ERROR, "reserved bits set on a continuation frame")
        if not self._decoders:
            limit = self._max_message
            if limit is not None and self._size + length > limit:
                raise ProtocolFault(TOO_BIG, f"message over the {limit}-byte limit")

        pos += header
        if length <= len(buf) - pos:
            # The whole payload is here: the common case.
            end = pos + length
            self._pos = end
            if key is None:
                payload = buf[pos:end]
            else:
                payload = apply_mask(_span(buf, pos, end), key)
            if fin and opcode:
                # An unfragmented message (whole in either delivery mode): no state to keep.
                self._opcode = 0
                return self._whole_message(opcode == _TEXT, payload)
            self._frame_fin = bool(fin)
            return self._data(payload, True)
        # Only part of the payload is here: take it, remember the rest.
        self._pos = pos
        self._frame_left = length
        self._frame_fin = bool(fin)
        self._frame_key = key
        return self._continue_frame()

    def _whole_message(self, is_text: bool, payload: bytes) -> Event:
        """The event of a message that came in one frame (``_decoders`` set up)."""
        if self._decoders:
            payload = self._decode(payload, True)
        if is_text:
            try:
                return TextMessage(payload.decode("utf-8"))
            except UnicodeDecodeError:
                raise ProtocolFault(INVALID_DATA, "text message is not valid UTF-8") from None
        return BytesMessage(payload)

    def _inflate_payload(self, payload: bytes) -> bytes:
        """The fast path's hook for a whole message in one frame with RSV1."""
        self._begin_extensions(RSV1)
        if self._decoders:
            payload = self._decode(payload, True)
        return payload

    def _continue_frame(self) -> Optional[Event]:
        buf = self._buffer
        pos = self._pos
        take = min(self._frame_left, len(buf) - pos)
        if take == 0:
            return None
        self._pos = pos + take
        self._frame_left -= take
        key = self._frame_key
        if key is None:
            payload = buf[pos:pos + take]
        else:
            payload = apply_mask(_span(buf, pos, pos + take), key)
            if take & 3:
                self._frame_key = _rotate(key, take)
        return self._data(payload, not self._frame_left)

    def _begin_extensions(self, rsv: int) -> None:
        """RFC 6455 §5.2: RSV bits MUST be 0 unless an extension defines them."""
        if rsv & ~self._rsv_allowed:
            raise ProtocolFault(PROTOCOL_ERROR, "reserved bits set without an extension for them")
        self._decoders = tuple(ext for ext in self._extensions
                               if rsv & ext.rsv_bits and ext.begin_inbound(rsv & ext.rsv_bits))

    def _decode(self, payload: bytes, message_finished: bool) -> bytes:
        """Undo the extensions, in the reverse order of negotiation (RFC 6455 §9),
        producing no more than the message's remaining budget."""
        limit = self._max_message
        for ext in reversed(self._decoders):
            payload = ext.decode(payload, message_finished, None if limit is None else limit - self._size)
        if message_finished:
            self._decoders = ()
        return payload

    def _data(self, payload: bytes, frame_finished: bool) -> Optional[Event]:
        """A piece of a data message's payload, in order."""
        message_finished = frame_finished and self._frame_fin
        if self._decoders:
            payload = self._decode(payload, message_finished)
        self._size += len(payload)
        if self._max_message is not None and self._size > self._max_message:
            raise ProtocolFault(TOO_BIG, f"message over the {self._max_message}-byte limit")
        is_text = self._opcode == _TEXT
        if message_finished:
            self._opcode = 0
            self._size = 0
        if self._whole:
            return self._collect(payload, is_text, message_finished)
        if not payload and not frame_finished:
            return None  # e.g. a compressed piece that inflated to nothing yet
        if not is_text:
            return BytesMessage(payload, frame_finished, message_finished)
        # Incremental, fail-fast decoding (Autobahn 6.4.x): an unfinished
        # code point at the end waits in _pending_utf8 for the next piece.
        pending = self._pending_utf8
        decoded = decode_piece(pending + payload if pending else payload, message_finished)
        if decoded is None:
            raise ProtocolFault(INVALID_DATA, "text message is not valid UTF-8")
        text, self._pending_utf8 = decoded
        return TextMessage(text, frame_finished, message_finished)

    def _collect(self, payload: bytes, is_text: bool, message_finished: bool) -> Optional[Event]:
        """``whole_messages``: gather a message's payload, one event at its end.

        One growing buffer, so a flood of tiny fragments costs their bytes and
        no per-fragment object."""
        if is_text and not self._validator.validate(payload, message_finished):
            self._validator.reset()
            raise ProtocolFault(INVALID_DATA, "text message is not valid UTF-8")
        collected = self._collected
        if not message_finished:
            collected += payload
            return None
        whole: Union[bytes, bytearray] = payload
        if collected:
            collected += payload
            whole = collected  # text is decoded from it without a copy to bytes first
            self._collected = bytearray()
        if is_text:
            self._validator.reset()
            return TextMessage(whole.decode("utf-8"))
        return BytesMessage(bytes(whole))  # (bytes(b) is b itself)

    def _control_frame(self, opcode: int, fin: int, rsv: int, length: int, header: int,
                       key: Optional[bytes]) -> Optional[Event]:
        """RFC 6455 §5.5: control frames, which may come between fragments."""
        if opcode not in _KNOWN_CONTROL:
            raise ProtocolFault(PROTOCOL_ERROR, f"reserved opcode {opcode:#x}")
        if not fin:
            raise ProtocolFault(PROTOCOL_ERROR, "fragmented control frame")
        if length > MAX_CONTROL_PAYLOAD:
            raise ProtocolFault(PROTOCOL_ERROR, "control frame payload over 125 bytes")
        if rsv:
            raise ProtocolFault(PROTOCOL_ERROR, "reserved bits set on a control frame")
        start = self._pos + header
        if len(self._buffer) - start < length:
            return None  # wait for the whole (small) frame
        payload = self._buffer[start:start + length]
        self._pos = start + length
        if key is not None and length:
            payload = apply_mask(payload, key)
        if opcode == _PING:
            return Ping(payload)
        if opcode == _PONG:
            return Pong(payload)
        code, reason = parse_close_payload(payload)
        self.finish()
        return CloseConnection(code, reason)
