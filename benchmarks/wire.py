"""Bytes on the wire, built once and fed to every library alike.

The benchmark's inputs are written here, from the RFCs, rather than by any
of the libraries under test: a parser is then never timed on its own
serializer's output, and all parsers get identical bytes.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import struct
import zlib
from typing import Optional, Sequence

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
OP_TEXT = 0x1
FIN = 0x80
RSV1 = 0x40
DEFLATE_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.1: stripped by the sender
CHUNK = 4096  # the read size of the "fed in chunks" cases

# What browsers offer: permessage-deflate, letting the server cap our window.
BROWSER_OFFER = "permessage-deflate; client_max_window_bits"

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example key


def request(extensions: Optional[str] = None, connection: str = "keep-alive, Upgrade") -> bytes:
    """A browser-like opening handshake request (RFC 6455 §4.1); Firefox
    sends ``Connection: keep-alive, Upgrade``."""
    lines = [
        b"GET /chat?room=1 HTTP/1.1",
        b"Host: 127.0.0.1:8000",
        b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0",
        b"Accept: */*",
        b"Accept-Language: en-US,en;q=0.5",
        b"Accept-Encoding: gzip, deflate, br, zstd",
        b"Sec-WebSocket-Version: 13",
        b"Origin: http://127.0.0.1:8000",
        b"Sec-WebSocket-Key: " + KEY,
        b"Connection: " + connection.encode(),
        b"Pragma: no-cache",
        b"Cache-Control: no-cache",
        b"Upgrade: websocket",
    ]
    if extensions:
        lines.append(b"Sec-WebSocket-Extensions: " + extensions.encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


def accept_value(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


_KEY_RE = re.compile(rb"\r\nsec-websocket-key: *([^\r]+)", re.IGNORECASE)


def response_to(request_bytes: bytes, extensions: Optional[str] = None) -> bytes:
    """The 101 a server answers to ``request_bytes`` (used by the client
    cases; its cost is the same in every column)."""
    match = _KEY_RE.search(request_bytes)
    assert match, "no Sec-WebSocket-Key in the request"
    head = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_value(match.group(1)) + b"\r\n"
    )
    if extensions:
        head += b"Sec-WebSocket-Extensions: " + extensions.encode() + b"\r\n"
    return head + b"\r\n"


_WINDOW_RE = re.compile(rb"client_max_window_bits=\"?(\d+)", re.IGNORECASE)


def client_window(response: bytes) -> int:
    """The client's deflate window (bits) a 101 allows: 15 unless capped."""
    match = _WINDOW_RE.search(response)
    return int(match.group(1)) if match else 15


def frame(payload: bytes, *, mask: Optional[bytes] = None, rsv1: bool = False, opcode: int = OP_TEXT) -> bytes:
    """One final frame (RFC 6455 §5.2), text unless told, masked when ``mask``
    is given."""
    first = FIN | (RSV1 if rsv1 else 0) | opcode
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", first, bit | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", first, bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, bit | 127, n)
    return head + mask + xor_mask(payload, mask) if mask else head + payload


def xor_mask(data: bytes, key: bytes) -> bytes:
    """RFC 6455 §5.3 masking, the reference the masking kernels must match."""
    n = len(data)
    repeated = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ repeated).to_bytes(n, "little")


def client_stream(
    payloads: Sequence[bytes], *, deflate_window: Optional[int] = None, seed: int = 6455
) -> bytes:
    """Masked client frames carrying ``payloads``, each with its own random
    key (as a browser does), compressed with context takeover when
    ``deflate_window`` is set (RFC 7692 §7.2.1, the way browsers compress).

    Replaying the stream after its end stays valid: the first message never
    refers back, and each later one refers only to bytes that precede it in
    the stream, which precede it in the replay too."""
    rng = random.Random(seed)
    if deflate_window is not None:
        payloads = deflated(payloads, deflate_window)
    rsv1 = deflate_window is not None
    return b"".join(frame(p, mask=rng.randbytes(4), rsv1=rsv1) for p in payloads)


def deflated(payloads: Sequence[bytes], window: int = 15) -> list[bytes]:
    """Each payload compressed as a browser does (zlib defaults, context
    takeover, RFC 7692 §7.2.1: sync flush, trailing 00 00 ff ff removed)."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -window)
    out = []
    for payload in payloads:
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        out.append(data[: -len(DEFLATE_TAIL)])
    return out


def chunks(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]
