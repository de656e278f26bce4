"""The outgoing half of a connection: data and control frames as bytes.

RFC 6455 §5.3: a client masks every frame with a fresh random key, a server
never masks. Messages may be sent in pieces (``message_finished=False``) and
are cut into frames of at most ``fragment_size`` bytes when that is set.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence, Union

from .backend import apply_mask, server_frame
from .errors import LocalProtocolError
from .extensions.base import Extension
from .frames import MAX_CONTROL_PAYLOAD, Opcode, control_payload, frame_header, message_payload

_TEXT = int(Opcode.TEXT)
_BINARY = int(Opcode.BINARY)
#: Masking keys are cut from one urandom read of this size (a syscall per
#: frame is a fifth of a small client send); each key is still fresh and
#: unpredictable, as RFC 6455 §5.3 requires.
_KEY_POOL_SIZE = 4096


class Writer:
    """Serializes frames for one connection."""

    def __init__(self, client: bool, extensions: Sequence[Extension],
                 fragment_size: Optional[int]) -> None:
        if fragment_size is not None and fragment_size < 1:
            raise ValueError("fragment_size must be at least 1")
        self._client = client
        # Only negotiated extensions that claim RSV bits see the data path.
        self._extensions = [ext for ext in extensions if ext.rsv_bits and ext.enabled()]
        self._fragment_size = fragment_size
        self._opcode = 0  # the data message under way (0: none)
        self._encoders: list[Extension] = []
        # A server sending whole messages without extensions or fragmentation
        # takes the short path in data().
        self._plain_server = not client and not self._extensions and fragment_size is None
        self._keys = b""
        self._key_pos = 0

    def _new_key(self) -> bytes:
        pos = self._key_pos
        if pos >= len(self._keys):
            self._keys = os.urandom(_KEY_POOL_SIZE)
            pos = 0
        self._key_pos = pos + 4
        return self._keys[pos:pos + 4]

    def _frame(self, fin: bool, rsv: int, opcode: int, payload: bytes) -> bytes:
        if self._client:
            key = self._new_key()
            return frame_header(fin, rsv, opcode, len(payload), key) + apply_mask(payload, key)
        return frame_header(fin, rsv, opcode, len(payload)) + payload

    def data(self, data: Union[str, bytes, bytearray, memoryview], finished: bool = True,
             compress: Optional[bool] = None) -> bytes:
        """The frames for (a piece of) a data message."""
        if self._plain_server and finished and not self._opcode:
            return server_frame(data)
        is_text, payload = message_payload(data)  # TypeError before any state changes
        opcode = _TEXT if is_text else _BINARY
        if self._opcode == 0:
            # The first frame of a message: extensions choose whether to transform it.
            rsv = 0
            if self._extensions:
                size = len(payload) if finished else None
                self._encoders = []
                for ext in self._extensions:
                    bits = ext.begin_outbound(size, compress)
                    if bits:
                        rsv |= bits
                        self._encoders.append(ext)
            first_opcode = opcode
        elif self._opcode != opcode:
            raise LocalProtocolError("a message's pieces must all be text or all bytes")
        else:
            rsv = 0
            first_opcode = Opcode.CONTINUATION
        for ext in self._encoders:
            payload = ext.encode(payload, finished)
        if finished:
            self._opcode = 0
            self._encoders = []
        else:
            self._opcode = opcode
        size = self._fragment_size
        if size is None or len(payload) <= size:
            return self._frame(finished, rsv, first_opcode, payload)
        frames = []
        last = len(payload) - size
        for start in range(0, len(payload), size):
            frames.append(self._frame(finished and start >= last, rsv, first_opcode,
                                      payload[start:start + size]))
            rsv = 0
            first_opcode = Opcode.CONTINUATION
        return b"".join(frames)

    def control(self, opcode: int, payload: Union[bytes, bytearray, memoryview]) -> bytes:
        """RFC 6455 §5.5: a control frame, unfragmented, at most 125 bytes of payload."""
        payload = control_payload(payload)
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise LocalProtocolError("control frame payloads are limited to 125 bytes")
        return self._frame(True, 0, opcode, payload)
