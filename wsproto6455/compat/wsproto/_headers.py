"""wsproto's leniency about header types.

wsproto hands headers to h11, which accepts ``str`` as well as bytes-like
names and values (encoding ``str`` as ASCII). Frameworks and their tests
rely on it: httpx-ws passes an ASGI scope's headers, which its tests build
from ``str`` pairs, to ``initiate_upgrade_connection``. wsproto6455 takes
bytes only, so the facade converts at the boundary.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Union

from wsproto6455.events import AcceptConnection, Event, RejectConnection, Request

HeaderPart = Union[bytes, bytearray, memoryview, str]


def _bytes(part: HeaderPart) -> bytes:
    if isinstance(part, str):
        return part.encode("ascii")
    return bytes(part)


def as_bytes(headers: Iterable[tuple[HeaderPart, HeaderPart]]) -> list[tuple[bytes, bytes]]:
    return [(_bytes(name), _bytes(value)) for name, value in headers]


def _needs_conversion(headers: Any) -> bool:
    return any(not isinstance(part, bytes) for pair in headers for part in pair)


def with_bytes_headers(event: Event) -> Event:
    """``event`` with its header list as bytes pairs (the same object if it already is)."""
    if isinstance(event, (Request, AcceptConnection)) and _needs_conversion(event.extra_headers):
        return dataclasses.replace(event, extra_headers=as_bytes(event.extra_headers))
    if isinstance(event, RejectConnection) and _needs_conversion(event.headers):
        return dataclasses.replace(event, headers=as_bytes(event.headers))
    return event
