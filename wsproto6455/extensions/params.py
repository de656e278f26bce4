"""Parsing of extension parameters (RFC 6455 §9.1).

The handshake splits ``Sec-WebSocket-Extensions`` into extensions; an
extension hands us the text after its name, for example
``client_max_window_bits; server_max_window_bits="10"``. The grammar::

    extension-param = token [ "=" (token | quoted-string) ]

with optional whitespace around ``;`` and ``=`` (the implied LWS of RFC 2616
that RFC 6455 inherits). RFC 6455 §9.1: "When using the quoted-string syntax
variant, the value after quoted-string unescaping MUST conform to the 'token'
ABNF." A quoted value is therefore returned unescaped, and one whose content
is not a token is an error.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

# RFC 7230 §3.2.6 tchar.
_TCHAR = frozenset(
    "!#$%&'*+-.^_`|~0123456789"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_OWS = " \t"

Param = Tuple[str, Optional[str]]


def is_token(text: str) -> bool:
    """True if ``text`` is a non-empty RFC 7230 token."""
    return bool(text) and all(c in _TCHAR for c in text)


def parse_params(text: str) -> List[Param]:
    """Parse ``param *( ";" param )`` into ``(name, value-or-None)`` pairs.

    An empty (or all-whitespace) text gives no parameters. Raise
    :class:`ValueError` on anything outside the grammar: an empty parameter
    (``a;;b``, a trailing ``;``), a name that is not a token, a missing value
    after ``=``, an unterminated quoted string, or a quoted value whose
    unescaped content is not a token.
    """
    params: List[Param] = []
    pos, end = _skip_ows(text, 0), len(text)
    if pos == end:
        return params
    while True:
        name_end = _scan_token(text, pos)
        if name_end == pos:
            raise ValueError(f"expected a parameter name at offset {pos}")
        name = text[pos:name_end]
        pos = _skip_ows(text, name_end)
        value: Optional[str] = None
        if pos < end and text[pos] == "=":
            pos = _skip_ows(text, pos + 1)
            if pos < end and text[pos] == '"':
                value, pos = _scan_quoted(text, pos)
                if not is_token(value):
                    # RFC 6455 §9.1: the unescaped value MUST be a token.
                    raise ValueError(f"quoted value of {name} is not a token")
            else:
                value_end = _scan_token(text, pos)
                if value_end == pos:
                    raise ValueError(f"missing value for {name}")
                value, pos = text[pos:value_end], value_end
            pos = _skip_ows(text, pos)
        params.append((name, value))
        if pos == end:
            return params
        if text[pos] != ";":
            raise ValueError(f"unexpected {text[pos]!r} at offset {pos}")
        pos = _skip_ows(text, pos + 1)
        if pos == end:
            raise ValueError("empty parameter after ';'")


def _skip_ows(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _OWS:
        pos += 1
    return pos


def _scan_token(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _TCHAR:
        pos += 1
    return pos


def _scan_quoted(text: str, pos: int) -> Tuple[str, int]:
    """Unescape the quoted-string starting at ``text[pos] == '"'``."""
    chars: List[str] = []
    pos += 1
    while pos < len(text):
        c = text[pos]
        if c == '"':
            return "".join(chars), pos + 1
        if c == "\\":
            pos += 1
            if pos == len(text):
                break
            c = text[pos]
        # qdtext / quoted-pair exclude control characters (RFC 7230 §3.2.6).
        if c != "\t" and (ord(c) < 0x20 or ord(c) == 0x7F):
            raise ValueError("control character in quoted string")
        chars.append(c)
        pos += 1
    raise ValueError("unterminated quoted string")
