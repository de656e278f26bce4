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

from typing import Callable, Optional

from ._mask_py import apply_mask
from .events import BytesMessage, Event, TextMessage

#: Called with the unmasked payload of a whole compressed message and
#: whether it is text; returns its event (or raises ProtocolFault).
Inflate = Callable[[bytes, bool], Event]

# FIN plus opcode, with no RSV bits: the only first bytes scanned...
_SIMPLE_TEXT = 0x81
_SIMPLE_BINARY = 0x82
# ...unless ``inflate`` takes the frames with this one set.
_RSV1 = 0x40


def scan_messages(buf: bytes, pos: int, mask_bit: int, limit: int, out: list[Event],
                  inflate: Optional[Inflate] = None) -> int:
    """Append the events of the simple frames at ``buf[pos:]`` to ``out``.

    :param mask_bit: 0x80 if frames must be masked (we are the server), else 0.
    :param limit: the largest payload accepted here (larger ones are left to
        the general path, which enforces the limits).
    :param inflate: if given, frames with RSV1 (compressed messages, RFC 7692)
        are taken too: their unmasked payload goes to ``inflate``, whose
        exceptions propagate (the state of the decompressor has moved on,
        so the frame cannot be left to the general path).
    :return: the offset after the last frame scanned (``pos`` if none).
    """
    if pos < 0:
        raise ValueError("negative offset")
    size = len(buf)
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
            out.append(inflate(payload, first == _SIMPLE_TEXT))
        elif first == _SIMPLE_TEXT:
            try:
                out.append(TextMessage(payload.decode("utf-8")))
            except UnicodeDecodeError:
                break
        else:
            out.append(BytesMessage(payload))
        pos = end
    return pos
