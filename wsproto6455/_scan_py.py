"""Pure-Python message scanner: the reader's fast path for simple frames.

``scan_messages`` turns a run of *simple* frames into message events in one
call: FIN set, no RSV bits, opcode text or binary, the mask bit the role
expects, a payload no longer than ``limit`` and wholly in the buffer, and
(for text) valid UTF-8. It stops, without raising, at the first frame that
is anything else, and the reader's general frame-by-frame path takes over
from there, so every fault is still found and reported by that one path.

Most traffic is made of such frames; scanning them in a loop saves the
per-frame generator round trip and state bookkeeping. The compiled twin in
``_speedups`` has the same signature and must give identical results (the
tests check it differentially).
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterator, Optional

from ._mask_py import apply_mask
from ._utf8_py import Utf8Validator, decode_piece
from .errors import ProtocolFault
from .events import BytesMessage, Event, TextMessage
from .frames import CloseReason

#: Called with the unmasked payload of a whole compressed message; returns
#: the message's payload (or raises ProtocolFault).
Inflate = Callable[[bytes], bytes]

# FIN plus opcode, with no RSV bits: the only first bytes scanned...
_SIMPLE_TEXT = 0x81
_SIMPLE_BINARY = 0x82
# ...unless ``inflate`` takes the frames with this one set.
_RSV1 = 0x40
_INVALID_TEXT = "text message is not valid UTF-8"
#: A scan stops once the messages it inflated reach this many bytes, so a
#: caller that stops taking events (the asyncio layer at ``max_queue``) holds
#: at most this plus one message inflated and not taken; the rest of the
#: buffer stays compressed.
INFLATE_BUDGET = 64 * 1024


def scan_messages(buf: bytes, pos: int, mask_bit: int, limit: int, out: list[Event],
                  inflate: Optional[Inflate] = None) -> int:
    """Append the events of the simple frames at ``buf[pos:]`` to ``out``.

    :param mask_bit: 0x80 if frames must be masked (we are the server), else 0.
    :param limit: the largest payload accepted here (larger ones are left to
        the general path, which enforces the limits).
    :param inflate: if given, frames with RSV1 (compressed messages, RFC 7692)
        are taken too: their unmasked payload goes to ``inflate``, which
        returns the message's payload; its exceptions propagate, and inflated
        text that is not UTF-8 raises ``ProtocolFault`` (1007), since the
        state of the decompressor has moved on and the frame cannot be left
        to the general path. The scan stops once the inflated messages reach
        ``INFLATE_BUDGET`` bytes, so a caller that stops taking events (the
        asyncio layer at ``max_queue``) holds at most that plus one message
        inflated and not taken.
    :return: the offset after the last frame scanned (``pos`` if none).
    """
    if pos < 0:
        raise ValueError("negative offset")
    size = len(buf)
    inflated = 0
    while size - pos >= 2:
        first = buf[pos]
        compressed = first & _RSV1 and inflate is not None
        if compressed:
            first ^= _RSV1
        if first != _SIMPLE_TEXT and first != _SIMPLE_BINARY:
            break
        second = buf[pos + 1]
        if second & 0x80 != mask_bit:
            break
        length = second & 0x7F
        start = pos + 2
        if length == 126:
            if size - pos < 4:
                break
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            start = pos + 4
        elif length == 127:
            if size - pos < 10 or buf[pos + 2] & 0x80:
                break
            length = int.from_bytes(buf[pos + 2:pos + 10], "big")
            start = pos + 10
        if length > limit:
            break
        end = start + 4 + length if mask_bit else start + length
        if end > size:
            break
        if mask_bit:
            payload = apply_mask(buf[start + 4:end], buf[start:start + 4])
        else:
            payload = buf[start:end]
        if compressed:
            assert inflate is not None
            payload = inflate(payload)
            if first == _SIMPLE_TEXT:
                try:
                    out.append(TextMessage(payload.decode("utf-8")))
                except UnicodeDecodeError:
                    raise ProtocolFault(CloseReason.INVALID_FRAME_PAYLOAD_DATA,
                                        _INVALID_TEXT) from None
            else:
                out.append(BytesMessage(payload))
            inflated += len(payload)
            if inflated >= INFLATE_BUDGET:
                return end  # the caller takes these first
        elif first == _SIMPLE_TEXT:
            try:
                out.append(TextMessage(payload.decode("utf-8")))
            except UnicodeDecodeError:
                break
        else:
            out.append(BytesMessage(payload))
        pos = end
    return pos


def _partial_simple_frame(buf: bytes, pos: int, mask_bit: int, limit: int
                          ) -> Optional[tuple[int, int, Optional[bytes], bool]]:
    """A simple, uncompressed frame at ``pos`` whose header is here and whose
    payload is not all here: (payload start, length, key, is text); else None."""
    size = len(buf)
    if size - pos < 2:
        return None
    first = buf[pos]
    second = buf[pos + 1]
    if (first != _SIMPLE_TEXT and first != _SIMPLE_BINARY) or second & 0x80 != mask_bit:
        return None
    length = second & 0x7F
    start = pos + 2
    if length == 126:
        start = pos + 4
        if size < start:
            return None
        length = (buf[pos + 2] << 8) | buf[pos + 3]
    elif length == 127:
        start = pos + 10
        if size < start or buf[pos + 2] & 0x80:
            return None
        length = int.from_bytes(buf[pos + 2:pos + 10], "big")
    key = None
    if mask_bit:
        key = buf[start:start + 4]
        start += 4
        if size < start:
            return None
    if length > limit or size - start >= length:
        return None  # over the limit, or whole (then it stopped the scan for its text)
    return start, length, key, first == _SIMPLE_TEXT


class Scanner:
    """The reader's fast path, with a frame that arrives over several reads.

    ``scan(buf, pos, out)`` takes what ``scan_messages`` takes (runs of
    whole simple frames; compressed ones through ``inflate``) and, when it
    stops at a simple uncompressed frame whose header is here but whose
    payload is not, takes that frame too and keeps it as the frame under way
    (``busy``): later calls continue it, read by read. Delivery follows the
    reader's: one event per piece (wsproto's default: a ``TextMessage`` of
    the piece's complete code points, or a ``BytesMessage``), or with
    ``whole`` one event at the end (the payload is collected unmasked, text
    validated as it comes). Invalid UTF-8 in a frame under way raises
    ``ProtocolFault`` (1007) as soon as it is seen (fail-fast), as the
    general path does; the pieces taken before it stay delivered.

    The compiled twin in ``_speedups`` behaves identically (tested).
    """

    def __init__(self, mask_bit: int, limit: int, whole: bool,
                 inflate: Optional[Inflate] = None) -> None:
        self.mask_bit = mask_bit
        self.limit = limit
        self.whole = whole
        self.inflate = inflate
        # The frame under way: payload bytes still to come (0: none), taken
        # so far, its masking key, and its kind.
        self._left = 0
        self._done = 0
        self._key: Optional[bytes] = None
        self._text = False
        self._pending = b""  # pieces: the unfinished code point of the last piece
        self._collected = bytearray()  # whole: the payload so far, unmasked
        self._validator = Utf8Validator()

    @property
    def busy(self) -> bool:
        """A frame is under way: its next bytes are the scanner's."""
        return self._left > 0

    @property
    def held(self) -> int:
        """Payload bytes collected of the frame under way (``whole``)."""
        return len(self._collected)

    def scan(self, buf: bytes, pos: int, out: list[Event]) -> int:
        """Append the events of ``buf[pos:]`` to ``out``; return the offset
        after what was taken."""
        if self._left:
            pos = self._continue(buf, pos, out)
            if self._left:
                return pos
        pos = scan_messages(buf, pos, self.mask_bit, self.limit, out, self.inflate)
        frame = _partial_simple_frame(buf, pos, self.mask_bit, self.limit)
        if frame is None:
            return pos
        start, self._left, self._key, self._text = frame
        self._done = 0
        return self._continue(buf, start, out)

    def _continue(self, buf: bytes, pos: int, out: list[Event]) -> int:
        take = min(self._left, len(buf) - pos)
        if take == 0:
            return pos
        piece = buf[pos:pos + take]
        key = self._key
        if key is not None:
            shift = self._done & 3
            piece = apply_mask(piece, key[shift:] + key[:shift] if shift else key)
        self._left -= take
        self._done += take
        finished = not self._left
        if self.whole:
            if self._text and not self._validator.validate(piece, finished):
                self._end()
                raise ProtocolFault(CloseReason.INVALID_FRAME_PAYLOAD_DATA, _INVALID_TEXT)
            self._collected += piece
            if finished:
                # Text is decoded from the buffer itself: no copy to bytes first.
                collected = self._collected
                out.append(TextMessage(collected.decode("utf-8")) if self._text
                           else BytesMessage(bytes(collected)))
                self._end()
        elif self._text:
            decoded = decode_piece(self._pending + piece if self._pending else piece, finished)
            if decoded is None:
                self._end()
                raise ProtocolFault(CloseReason.INVALID_FRAME_PAYLOAD_DATA, _INVALID_TEXT)
            text, self._pending = decoded
            out.append(TextMessage(text, finished, finished))
        else:
            out.append(BytesMessage(piece, finished, finished))
        return pos + take

    def reset(self) -> None:
        """Forget the frame under way (the reader interprets nothing more)."""
        self._end()

    def _end(self) -> None:
        """Forget the frame under way (finished, or failed)."""
        self._left = 0
        self._pending = b""
        self._collected = bytearray()
        self._validator.reset()


def drain(queue: "deque[Event]") -> Iterator[Event]:
    """Take the events of ``queue`` one by one, as they are asked for (what
    is not asked for stays queued)."""
    while queue:
        yield queue.popleft()
