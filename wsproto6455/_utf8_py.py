"""Pure-Python incremental UTF-8 validation on CPython's strict decoder.

RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but
finds that the byte stream is not, in fact, a valid UTF-8 stream, that
endpoint MUST _Fail the WebSocket Connection_." Well-formed UTF-8 is RFC 3629
§4: no overlongs, no surrogates (U+D800-DFFF), nothing above U+10FFFF.

CPython's decoder checks the available prefix of an unfinished sequence
(``b"\\xe0\\x80"`` or ``b"\\xf4\\x90"`` already fail), so it is fail-fast, as
Autobahn 6.4.x asks, with one gap that we close here: an unfinished
surrogate (``b"\\xed\\xa0"``) is only rejected once it is complete.

We call ``codecs.utf_8_decode`` directly and keep the (at most 3) pending
bytes ourselves: ``codecs``' incremental decoder concatenates its buffer
with every chunk, copying the whole chunk, and costs ~150 ns per call. The
decoded text is thrown away; all-ASCII chunks skip decoding entirely.
"""

from __future__ import annotations

from codecs import utf_8_decode
from typing import Union

Buffer = Union[bytes, bytearray, memoryview]


def _valid_prefix(pending: bytes) -> bool:
    """False for an unfinished surrogate (ED A0-BF), which the decoder accepts.

    RFC 3629 §4: "UTF8-3 = ... %xED %x80-9F UTF8-tail ..."; every other
    invalid prefix of 2 or 3 bytes is already rejected by the decoder.
    """
    return not (len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0)


def _sequence_length(lead: int) -> int:
    """Bytes in a sequence starting with ``lead`` (a valid lead byte)."""
    if lead < 0xE0:
        return 2
    if lead < 0xF0:
        return 3
    return 4


class Utf8Validator:
    """Incremental, fail-fast UTF-8 validator.

    ``validate`` returns False as soon as the bytes seen so far cannot be the
    start of valid UTF-8; with ``final=True`` an unfinished sequence is
    invalid too. After a False, the validator stays failed until ``reset``.
    """

    __slots__ = ("_failed", "_pending")

    def __init__(self) -> None:
        # The start of a code point that the last chunk cut off (0-3 bytes,
        # a valid prefix: the decoder has checked it).
        self._pending = b""
        self._failed = False

    def validate(self, data: Buffer, final: bool = False) -> bool:
        """Feed ``data``; return False once the stream is known to be invalid."""
        if self._failed:
            return False
        if type(data) is not bytes and type(data) is not bytearray:
            # Any bytes-like object, as its octets in C order (a view may be
            # non-contiguous or have a multi-byte format).
            view = memoryview(data)
            if view.c_contiguous:
                data = view.cast("B") if view.format != "B" or view.ndim != 1 else view
            else:
                data = view.tobytes()
        elif not self._pending and data.isascii():
            return True
        try:
            if self._pending:
                rest = self._complete_pending(data)
                if rest is None:
                    # Still unfinished: an error only if the message ends here.
                    self._failed = final or not _valid_prefix(self._pending)
                    return not self._failed
                data = rest
            _, consumed = utf_8_decode(data, "strict", final)
        except UnicodeDecodeError:
            self._failed = True
            return False
        if consumed != len(data):
            self._pending = pending = bytes(data[consumed:])
            if not _valid_prefix(pending):
                self._failed = True
                return False
        return True

    def _complete_pending(self, data: Buffer) -> memoryview | None:
        """Finish the pending code point from the head of ``data``.

        Returns the rest of ``data`` (without copying it), or None if
        ``data`` ends before the code point does. Raises UnicodeDecodeError
        if the code point is invalid.
        """
        pending = self._pending
        need = _sequence_length(pending[0]) - len(pending)
        head = pending + bytes(data[:need])
        _, consumed = utf_8_decode(head, "strict", False)
        if consumed == 0:
            self._pending = head
            return None
        self._pending = b""
        return memoryview(data)[need:]

    def reset(self) -> None:
        """Forget all state: ready for a new message."""
        self._pending = b""
        self._failed = False


def decode_piece(data: bytes, final: bool) -> "tuple[str, bytes] | None":
    """Decode a piece of a text message delivered piece by piece.

    ``data`` is the piece with the previous piece's unfinished code point
    (if any) in front. Returns the text of its complete code points and the
    unfinished tail (at most 3 bytes, empty when ``final``), or None once the
    message is known not to be UTF-8 (fail-fast, as ``Utf8Validator``).
    Both the reader's general path and the scanners' twins use this rule.
    """
    try:
        text, consumed = utf_8_decode(data, "strict", final)
    except UnicodeDecodeError:
        return None
    if consumed == len(data):
        return text, b""
    pending = data[consumed:]
    if not _valid_prefix(pending):
        return None
    return text, pending
