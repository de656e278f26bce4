"""Shared helpers for the opening-handshake tests (HTTP heads, both roles).

Heads are written as readable byte literals; the parser here is deliberately
tiny and independent of :mod:`wsproto6455.http`, so the tests do not check
the library against itself.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Iterable, Optional, Sequence

import pytest

from wsproto6455 import ConnectionType, WSConnection
from wsproto6455.errors import RemoteProtocolError
from wsproto6455.events import Event, Request
from wsproto6455.extensions import Extension

CRLF = b"\r\n"

#: RFC 6455 §1.3: the example key and the accept token it must produce.
RFC_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

REQUEST_LINE = b"GET /chat HTTP/1.1"

#: The RFC 6455 §1.2 client handshake, minus the optional fields.
BASE_REQUEST_HEADERS = [
    b"Host: server.example.com",
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Key: " + RFC_KEY,
    b"Sec-WebSocket-Version: 13",
]

SWITCHING = b"HTTP/1.1 101 Switching Protocols"

#: A text frame "hello" from a client (zero masking key: payload unchanged).
CLIENT_HELLO = b"\x81\x85\x00\x00\x00\x00hello"
#: A text frame "hello" from a server (unmasked).
SERVER_HELLO = b"\x81\x05hello"


def head(start_line: bytes, lines: Iterable[bytes]) -> bytes:
    """An HTTP head: start line, header lines, the empty line."""
    return CRLF.join([start_line, *lines]) + CRLF + CRLF


def _name(line: bytes) -> bytes:
    return line.split(b":", 1)[0].lower()


def request(*extra: bytes, without: Sequence[bytes] = (), start: bytes = REQUEST_LINE) -> bytes:
    """The base request with the named headers removed and ``extra`` lines added."""
    dropped = {name.lower() for name in without}
    lines = [line for line in BASE_REQUEST_HEADERS if _name(line) not in dropped]
    return head(start, lines + list(extra))


def response(key: bytes, *extra: bytes, without: Sequence[bytes] = (),
             start: bytes = SWITCHING) -> bytes:
    """A 101 answering ``key``, with the named headers removed and ``extra`` added."""
    lines = [
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Accept: " + accept_for(key),
    ]
    dropped = {name.lower() for name in without}
    lines = [line for line in lines if _name(line) not in dropped]
    return head(start, lines + list(extra))


def accept_for(key: bytes) -> bytes:
    """RFC 6455 §4.2.2 step 5.4, computed here from the RFC's words."""
    import hashlib

    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    return base64.b64encode(hashlib.sha1(key + guid).digest())


def parse_head(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
    """(start line, [(lower-case name, value)], rest) of a well-formed head.

    Asserts the RFC 7230 shape: CRLF line ends, ``name: value`` lines with a
    token name, no bare CR or LF anywhere in the head.
    """
    assert b"\r\n\r\n" in data, data
    head_bytes, rest = data.split(b"\r\n\r\n", 1)
    lines = head_bytes.split(b"\r\n")
    for line in lines:
        assert b"\r" not in line and b"\n" not in line, line
    headers = []
    for line in lines[1:]:
        match = re.fullmatch(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*", line)
        assert match is not None, line
        headers.append((match[1].lower(), match[2]))
    return lines[0], headers, rest


def values(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    """Every value of header ``name`` (compared case-insensitively)."""
    return [value for key, value in headers if key.lower() == name.lower()]


def server(**options: Any) -> WSConnection:
    return WSConnection(ConnectionType.SERVER, **options)


def client(**options: Any) -> WSConnection:
    return WSConnection(ConnectionType.CLIENT, **options)


def feed(ws: WSConnection, data: bytes, pieces: Optional[Sequence[int]] = None) -> list[Event]:
    """Feed ``data`` whole, or cut at the given offsets; return the events.

    Empty pieces are skipped: an empty read is not data (and a closed
    connection refuses any further ``receive_data``)."""
    if pieces is None:
        ws.receive_data(data)
    else:
        start = 0
        for cut in [*pieces, len(data)]:
            if cut > start:
                ws.receive_data(data[start:cut])
            start = max(start, cut)
    return list(ws.events())


def feed_bytewise(ws: WSConnection, data: bytes) -> list[Event]:
    events: list[Event] = []
    for index in range(len(data)):
        ws.receive_data(data[index:index + 1])
        events.extend(ws.events())
    return events


def refused(data: bytes, **options: Any) -> RemoteProtocolError:
    """The RemoteProtocolError a fresh server raises for request ``data``."""
    ws = server(**options)
    with pytest.raises(RemoteProtocolError) as info:
        ws.receive_data(data)
        list(ws.events())
    return info.value


def open_request(ws: WSConnection, **fields: Any) -> bytes:
    """Client: send a Request (host/target defaulted) and return its bytes."""
    fields.setdefault("host", "server.example.com")
    fields.setdefault("target", "/chat")
    return ws.send(Request(**fields))


def key_of(request_bytes: bytes) -> bytes:
    _, headers, _ = parse_head(request_bytes)
    [key] = values(headers, b"sec-websocket-key")
    return key


class RecordingExtension(Extension):
    """A minimal extension that accepts any offer and records negotiation."""

    def __init__(self, name: str = "x-test", offer_text: Any = True,
                 answer: Any = True) -> None:
        self.name = name
        self._offer = offer_text
        self._answer = answer
        self.accepted_offers: list[str] = []
        self.finalized: list[str] = []

    def enabled(self) -> bool:
        return bool(self.accepted_offers or self.finalized)

    def offer(self) -> Any:
        return self._offer

    def accept(self, offer: str) -> Any:
        self.accepted_offers.append(offer)
        return self._answer

    def finalize(self, offer: str) -> None:
        self.finalized.append(offer)
