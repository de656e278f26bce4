"""Deterministic message bodies of an exact UTF-8 size."""

from __future__ import annotations

import functools
import random

KIB = 1024
MIB = 1024 * KIB
SIZES = (16, KIB, 64 * KIB, MIB)

# Words of a chat/JSON-like stream: compressible about as much as real
# traffic, unlike random bytes (incompressible) or one repeated byte (trivial).
_WORDS = (
    "id user room text time true false null value event message update status "
    "count items price name type data error ok ready join leave ping 2024 17 42"
).split()
# Mixed text: 1-, 2-, 3- and 4-byte UTF-8 sequences.
_MIXED = "aé€𝄞 Zß中😀 oñ日"


def size_label(size: int) -> str:
    if size >= MIB:
        return f"{size // MIB} MiB"
    if size >= KIB:
        return f"{size // KIB} KiB"
    return f"{size} B"


def _fit(text: str, size: int) -> str:
    """Trim ``text`` to exactly ``size`` UTF-8 bytes, padding with ASCII."""
    raw = text.encode()[:size]
    while True:  # drop a code point cut by the slice
        try:
            body = raw.decode()
            break
        except UnicodeDecodeError:
            raw = raw[:-1]
    return body + "x" * (size - len(raw))


@functools.lru_cache(maxsize=None)
def ascii_text(size: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = rng.choices(_WORDS, k=size // 3 + 1)  # words average > 3 bytes with a space
    return _fit(" ".join(words), size)


@functools.lru_cache(maxsize=None)
def texts(size: int) -> tuple[str, ...]:
    """A few different messages of ``size`` bytes, sent in turn: a stream of
    one repeated message would make deflate unrealistically cheap. Fewer for
    large sizes, where generating them costs time and one fills a window."""
    count = 16 if size <= KIB else 4 if size <= 64 * KIB else 2
    return tuple(ascii_text(size, seed) for seed in range(count))


@functools.lru_cache(maxsize=None)
def mixed_text(size: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    text = "".join(rng.choices(_MIXED, k=size))  # at least ``size`` bytes
    return _fit(text, size)
