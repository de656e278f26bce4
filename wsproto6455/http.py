"""A bounded HTTP/1.1 head reader and writer, and the header grammar of RFC 7230.

Only what the WebSocket opening handshake needs: a request or status line,
header fields, and (for rejections) a body framed by Content-Length, chunked
coding, or the end of the stream. Everything is parsed as it arrives and
refused as soon as it exceeds its bound.
"""

from __future__ import annotations

import re
from typing import Callable, Iterator, Optional, TypeVar

from .typing import Headers

CRLF = b"\r\n"
HEAD_END = b"\r\n\r\n"

#: RFC 7230 §3.2.6: tchar.
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)
_TOKEN_STR_RE = re.compile(_TOKEN.decode())
#: field-value: visible characters, SP and HTAB, and obs-text.
_FIELD_VALUE_RE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
#: The request target: visible ASCII only (RFC 7230 §5.3, RFC 3986).
_TARGET = rb"[\x21-\x7e]+"
_TARGET_RE = re.compile(_TARGET)
_REQUEST_LINE_RE = re.compile(rb"(" + _TOKEN + rb") (" + _TARGET + rb") HTTP/([0-9])\.([0-9])")
_STATUS_LINE_RE = re.compile(rb"HTTP/([0-9])\.([0-9]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_CHUNK_SIZE_RE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:;[^\r\n]*)?")


class HTTPError(ValueError):
    """Malformed or oversized HTTP; ``status`` is the response a server should give."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class HeadReader:
    """Collects an HTTP head (start line + fields) up to ``max_size`` bytes."""

    def __init__(self, max_size: Optional[int]) -> None:
        self._buffer = bytearray()
        self._max_size = max_size

    def feed(self, data: bytes) -> Optional[tuple[bytes, bytes]]:
        """Add bytes; once the head is complete return (head, bytes after it)."""
        searched_to = max(len(self._buffer) - 3, 0)
        self._buffer += data
        end = self._buffer.find(HEAD_END, searched_to)
        limit = self._max_size
        if end < 0:
            if limit is not None and len(self._buffer) > limit:
                raise HTTPError(f"header block over {limit} bytes", 431)
            return None
        if limit is not None and end + 4 > limit:
            raise HTTPError(f"header block over {limit} bytes", 431)
        head = bytes(self._buffer[:end])
        rest = bytes(self._buffer[end + 4:])
        self._buffer.clear()
        return head, rest


def split_head(head: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Split a head into its start line and fields (names lower-cased).

    RFC 7230 §3.2.4: no whitespace between field name and colon, and no
    obsolete line folding; both are rejected with 400.
    """
    lines = head.split(CRLF)
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN_RE.fullmatch(name):
            raise HTTPError(f"malformed header line {line[:64]!r}")
        value = value.strip(b" \t")
        if not _FIELD_VALUE_RE.fullmatch(value):
            raise HTTPError(f"invalid characters in header {name.decode()!r}")
        headers.append((name.lower(), value))
    return lines[0], headers


def parse_request_line(line: bytes) -> tuple[bytes, bytes, tuple[int, int]]:
    """Method, target and HTTP version of a request line."""
    match = _REQUEST_LINE_RE.fullmatch(line)
    if match is None:
        raise HTTPError(f"malformed request line {line[:64]!r}")
    return match[1], match[2], (int(match[3]), int(match[4]))


def parse_status_line(line: bytes) -> tuple[tuple[int, int], int]:
    """HTTP version and status code of a status line."""
    match = _STATUS_LINE_RE.fullmatch(line)
    if match is None:
        raise HTTPError(f"malformed status line {line[:64]!r}")
    return (int(match[1]), int(match[2])), int(match[3])


def check_target(target: bytes) -> None:
    """Refuse a request target we are asked to send that would break the request line."""
    if not _TARGET_RE.fullmatch(target):
        raise ValueError(f"invalid request target {target!r}")


def check_token(text: str) -> None:
    """Refuse a value that must be an RFC 7230 token (e.g. a subprotocol)."""
    if not _TOKEN_STR_RE.fullmatch(text):
        raise ValueError(f"{text!r} is not a token")


def check_header(name: bytes, value: bytes) -> None:
    """Refuse a header we are asked to send that would break the message."""
    if not _TOKEN_RE.fullmatch(name) or not _FIELD_VALUE_RE.fullmatch(value):
        raise ValueError(f"invalid header {name!r}: {value!r}")


def write_head(start_line: bytes, headers: Headers) -> bytes:
    """Serialize a head; the caller has checked the fields."""
    parts = [start_line]
    parts.extend(name + b": " + value for name, value in headers)
    parts.append(b"")
    parts.append(b"")
    return CRLF.join(parts)


def header_values(headers: Headers, name: bytes) -> list[bytes]:
    """Every value of the (lower-case) header ``name``, in order."""
    return [value for key, value in headers if key == name]


# -- RFC 7230 §7 lists, RFC 6455 §9.1 extension grammar ------------------------

def _skip_ows(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


def _quoted_string(text: str, pos: int) -> tuple[str, int]:
    """RFC 7230 §3.2.6 quoted-string starting at ``pos`` (on the quote)."""
    out: list[str] = []
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == '"':
            return "".join(out), pos + 1
        if char == "\\":
            pos += 1
            if pos == len(text):
                break
            char = text[pos]
        if char != "\t" and (char < " " or char == "\x7f"):
            break  # RFC 7230 §3.2.6: no control characters in qdtext or quoted-pair
        out.append(char)
        pos += 1
    raise HTTPError("unterminated quoted-string")


def _token(text: str, pos: int) -> tuple[str, int]:
    match = _TOKEN_STR_RE.match(text, pos)
    if match is None:
        raise HTTPError(f"expected a token at {text[pos:pos + 16]!r}")
    return match[0], match.end()


_Element = TypeVar("_Element")


def _parse_list(values: list[bytes], element: Callable[[str, int], tuple[_Element, int]]
                ) -> list[_Element]:
    """RFC 7230 §7 ``1#element`` over several header values: elements read by
    ``element(text, pos) -> (item, end)``, empty elements skipped."""
    items: list[_Element] = []
    for value in values:
        text = value.decode("latin-1")
        pos = 0
        while True:
            pos = _skip_ows(text, pos)
            if pos < len(text) and text[pos] != ",":
                item, pos = element(text, pos)
                items.append(item)
                pos = _skip_ows(text, pos)
            if pos == len(text):
                break
            if text[pos] != ",":
                raise HTTPError(f"malformed list {text!r}")
            pos += 1
    return items


def _protocol(text: str, pos: int) -> tuple[str, int]:
    """RFC 7230 §6.7: protocol = protocol-name ["/" protocol-version]."""
    name, pos = _token(text, pos)
    if text.startswith("/", pos):
        version, pos = _token(text, pos + 1)
        name = f"{name}/{version}"
    return name, pos


def parse_token_list(values: list[bytes], allow_slash: bool = False) -> list[str]:
    """RFC 7230 §7 ``1#token`` over several header values.

    ``allow_slash`` reads ``1#protocol`` instead, the grammar of ``Upgrade``.
    """
    return _parse_list(values, _protocol if allow_slash else _token)


#: One extension offer or response: its name and its (param, value) pairs.
ExtensionItem = tuple[str, list[tuple[str, Optional[str]]]]


def _extension(text: str, pos: int) -> tuple[ExtensionItem, int]:
    name, pos = _token(text, pos)
    params, pos = _extension_params(text, pos)
    return (name, params), pos


def parse_extension_list(values: list[bytes]) -> list[ExtensionItem]:
    """RFC 6455 §9.1 ``Sec-WebSocket-Extensions`` over several header values.

    extension = token *( ";" extension-param ), extension-param = token
    [ "=" (token / quoted-string) ]. Quoted values are unquoted here; each
    extension checks its own parameters strictly.
    """
    return _parse_list(values, _extension)


def _extension_params(text: str, pos: int, strict: bool = False
                      ) -> tuple[list[tuple[str, Optional[str]]], int]:
    """``*( ";" extension-param )`` from ``pos``; returns the params and the end.

    ``strict`` applies RFC 6455 §9.1's "the value after quoted-string
    unescaping MUST conform to the 'token' ABNF"; the header as a whole is
    read leniently, so an extension we do not support cannot fail the
    handshake, and each extension checks its own parameters strictly."""
    params: list[tuple[str, Optional[str]]] = []
    pos = _skip_ows(text, pos)
    while pos < len(text) and text[pos] == ";":
        pos = _skip_ows(text, pos + 1)
        param, pos = _token(text, pos)
        pos = _skip_ows(text, pos)
        value: Optional[str] = None
        if pos < len(text) and text[pos] == "=":
            pos = _skip_ows(text, pos + 1)
            if pos < len(text) and text[pos] == '"':
                value, pos = _quoted_string(text, pos)
                if strict and not _TOKEN_STR_RE.fullmatch(value):
                    raise HTTPError(f"quoted value of {param} is not a token")
            else:
                value, pos = _token(text, pos)
            pos = _skip_ows(text, pos)
        params.append((param, value))
    return params, pos


def parse_extension_params(text: str) -> list[tuple[str, Optional[str]]]:
    """The parameters of one extension as its text gives them (``a; b="1"``),
    without the extension's name. HTTPError (a ValueError) if malformed."""
    if not text.strip(" \t"):
        return []
    params, pos = _extension_params(";" + text, 0, strict=True)
    if pos != len(text) + 1:
        raise HTTPError(f"malformed extension parameters {text!r}")
    return params


def format_extension_params(params: list[tuple[str, Optional[str]]]) -> str:
    """``a; b=1`` from [("a", None), ("b", "1")]; values that are not tokens are quoted."""
    parts = []
    for name, value in params:
        if value is None:
            parts.append(name)
        elif _TOKEN_STR_RE.fullmatch(value):
            parts.append(f"{name}={value}")
        else:
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'{name}="{escaped}"')
    return "; ".join(parts)


# -- rejection bodies --------------------------------------------------------

class BodyReader:
    """Frames a response body: Content-Length, chunked, or until EOF.

    Yields body pieces as they arrive; never holds more than one chunk-size
    line (bounded) plus the bytes handed to it.
    """

    _MAX_LINE = 1024

    def __init__(self, headers: Headers) -> None:
        # RFC 7230 §3.3.3: chunked when it is the last transfer coding.
        encodings = parse_token_list(header_values(headers, b"transfer-encoding"))
        lengths = header_values(headers, b"content-length")
        self._chunked = bool(encodings) and encodings[-1].lower() == "chunked"
        self._remaining: Optional[int] = None
        if not self._chunked and lengths:
            if len(set(lengths)) != 1 or not lengths[0].isdigit():
                raise HTTPError("invalid Content-Length")
            self._remaining = int(lengths[0])
        self._buffer = b""
        self._chunk_left = 0
        self._state = "size"  # chunked: size, data, data_crlf, trailer
        self.finished = self._remaining == 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Body bytes contained in ``data``; sets ``finished`` at the end."""
        if self.finished:
            return
        if self._chunked:
            yield from self._feed_chunked(data)
        elif self._remaining is None:
            if data:
                yield data
        else:
            piece = data[: self._remaining]
            self._remaining -= len(piece)
            self.finished = self._remaining == 0
            if piece:
                yield piece

    def _feed_chunked(self, data: bytes) -> Iterator[bytes]:
        buffer = self._buffer + data
        pos = 0
        while not self.finished:
            if self._state == "data":
                piece = buffer[pos: pos + self._chunk_left]
                pos += len(piece)
                self._chunk_left -= len(piece)
                if piece:
                    yield piece
                if self._chunk_left:
                    break
                self._state = "data_crlf"
                continue
            end = buffer.find(CRLF, pos)
            if end < 0:
                if len(buffer) - pos > self._MAX_LINE:
                    raise HTTPError("chunk line too long")
                break
            line = buffer[pos:end]
            pos = end + 2
            if self._state == "size":
                match = _CHUNK_SIZE_RE.fullmatch(line)
                if match is None:
                    raise HTTPError("malformed chunk size")
                self._chunk_left = int(match[1], 16)
                self._state = "data" if self._chunk_left else "trailer"
            elif self._state == "data_crlf":
                if line:
                    raise HTTPError("chunk not followed by CRLF")
                self._state = "size"
            elif not line:  # the empty line that ends the trailer
                self.finished = True
        self._buffer = buffer[pos:]

    def feed_eof(self) -> None:
        """The stream ended: fine for a body delimited by EOF, an error otherwise."""
        if not self.finished and (self._chunked or self._remaining is not None):
            raise HTTPError("the stream ended inside the response body")
        self.finished = True


def chunk(data: bytes) -> bytes:
    """One chunk of chunked transfer coding (the last one for b"")."""
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b"0\r\n\r\n"
