"""Pure-Python server frame: a whole message as one unmasked, final frame.

What a server sends most. The compiled twin in ``_speedups`` builds the
same bytes in one allocation; the tests compare the two.
"""

from __future__ import annotations

from typing import Union

from .frames import frame_header, message_payload

_TEXT = 0x1
_BINARY = 0x2
#: Headers of final, unmasked frames with a 7-bit length, by length.
_SMALL_TEXT_HEADERS = [bytes((0x80 | _TEXT, n)) for n in range(126)]
_SMALL_BINARY_HEADERS = [bytes((0x80 | _BINARY, n)) for n in range(126)]


def server_frame(data: Union[str, bytes, bytearray, memoryview]) -> bytes:
    """One final, unmasked frame for ``data``: text for a ``str`` (UTF-8),
    binary for any bytes-like object (RFC 6455 §5.2), else TypeError (see
    ``frames.message_payload``)."""
    is_text, payload = message_payload(data)  # TypeError if neither
    if is_text:
        headers, opcode = _SMALL_TEXT_HEADERS, _TEXT
    else:
        headers, opcode = _SMALL_BINARY_HEADERS, _BINARY
    size = len(payload)
    if size < 126:
        return headers[size] + payload
    return frame_header(True, 0, opcode, size) + payload
