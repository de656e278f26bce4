"""HTTP headers as a read-only, case-insensitive ``str`` mapping.

The core hands headers over as it received them: a list of ``(name,
value)`` byte pairs, in order, repeats included. :class:`Headers` is the
view that applications want (``headers["sec-websocket-protocol"]``,
``"Authorization" in headers``) without losing anything: ``raw`` is the
original list, :meth:`get_all` gives every value of a repeated field.
"""

from __future__ import annotations

from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

Pairs = List[Tuple[bytes, bytes]]


def _text(value: bytes) -> str:
    # Header bytes are ISO-8859-1 on the wire (RFC 7230 §3.2.4): every byte maps to one character.
    return value.decode("latin-1")


class Headers(Mapping[str, str]):
    """A case-insensitive mapping of header names to values.

    ``headers[name]`` is the field's value; a field that appears several
    times gives its values joined by ``", "`` (RFC 7230 §3.2.2), and
    :meth:`get_all` gives them one by one. Keys are compared
    case-insensitively and iterated in lower case, in order of first
    appearance. ``raw`` keeps the pairs as received, and ``==`` also
    compares with a list of such pairs.
    """

    __slots__ = ("raw", "_index")

    def __init__(self, raw: Union[Iterable[Tuple[bytes, bytes]], "Headers", None] = None) -> None:
        if isinstance(raw, Headers):
            raw = raw.raw
        #: The ``(name, value)`` byte pairs, as received (a list given is
        #: kept, not copied: this is a view).
        self.raw: Pairs = raw if isinstance(raw, list) else list(raw or [])
        self._index: Optional[Dict[str, List[str]]] = None  # built on first lookup

    def _values(self) -> Dict[str, List[str]]:
        index = self._index
        if index is None:
            index = {}
            for name, value in self.raw:
                index.setdefault(_text(name).lower(), []).append(_text(value))
            self._index = index
        return index

    def __getitem__(self, name: str) -> str:
        values = self._values()[name.lower()]
        return values[0] if len(values) == 1 else ", ".join(values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values()

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())

    def get_all(self, name: str) -> List[str]:
        """Every value of field ``name``, in order (empty if absent)."""
        return list(self._values().get(name.lower(), []))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self.raw == other.raw
        if isinstance(other, list):
            return self.raw == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self.raw!r})"
