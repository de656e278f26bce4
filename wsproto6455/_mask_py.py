"""Pure-Python masking (RFC 6455 §5.3): XOR with a repeating 4-byte key."""

from __future__ import annotations

from typing import Union

Buffer = Union[bytes, bytearray, memoryview]


def apply_mask(data: Buffer, key: bytes) -> bytes:
    """Return ``data`` XOR the 4-byte ``key`` repeated."""
    n = len(data)
    if n == 0:
        return b""
    repeated = key * ((n >> 2) + 1)
    return (
        int.from_bytes(data, "little") ^ int.from_bytes(repeated[:n], "little")
    ).to_bytes(n, "little")
