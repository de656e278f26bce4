"""Header lists as the core wants them: ``(name, value)`` byte pairs."""

from __future__ import annotations

from typing import Iterable, List, Mapping, Tuple, Union

from ..headers import Headers

Text = Union[str, bytes]
HeadersLike = Union[Mapping[str, Text], Mapping[bytes, Text], Iterable[Tuple[Text, Text]]]


def _to_bytes(value: Text) -> bytes:
    # Header values are ISO-8859-1 on the wire (RFC 7230 §3.2.4); names are ASCII tokens.
    return value.encode("latin-1") if isinstance(value, str) else bytes(value)


def to_headers(headers: HeadersLike) -> List[Tuple[bytes, bytes]]:
    """Accept a mapping or pairs of ``str``/``bytes``; return a fresh list of byte pairs."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [(_to_bytes(name), _to_bytes(value)) for name, value in pairs]


def get_header(headers: Union[Iterable[Tuple[bytes, bytes]], Headers], name: str) -> Union[str, None]:
    """The first value of header ``name`` (case-insensitive), decoded, or None.

    ``headers``: byte pairs, or a :class:`~wsproto6455.headers.Headers` (e.g.
    ``ws.request_headers``), whose raw pairs are read."""
    key = name.lower().encode("latin-1")
    pairs = headers.raw if isinstance(headers, Headers) else headers
    for hname, value in pairs:
        if hname.lower() == key:
            return value.decode("latin-1")
    return None
