"""What a case asks of a library: open connections, handshake, nothing more."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from ..harness import Unsupported
from ..payloads import MIB

#: Message-size limit given to every library that has one (the 1 MiB cases fit).
LIMIT = 4 * MIB

#: permessage-deflate settings a case asks for: None (off), "default" (what
#: the library does when deflate is on and nothing is tuned) or "lean".
Deflate = Optional[str]

#: The "lean" server setting, the same for every library that can express it:
#: small windows both ways and a small memLevel (zlib's knobs for memory).
LEAN_WINDOW = 10
LEAN_MEM_LEVEL = 4


@dataclass
class Conn:
    """An open connection, after the handshake, seen through one library."""

    keep: object  # the library's own objects: what an idle connection holds
    send: Callable[[str], object]  # serialize one text message
    feed: Optional[Callable[[Sequence[bytes]], int]] = None  # server: bytes in, messages out
    client_window: int = 15  # deflate window bits the client may use


class Peer:
    """One column: a library, driven the way a server or client built on it
    would. Methods a library cannot honour raise :class:`Unsupported`."""

    column = ""
    distribution = ""  # for the version in the report
    sans_io = True  # False: no connection object of its own (memory is not comparable)
    variant = False  # True: another setting of a library already in the table (parse cases only)

    def version(self) -> str:
        return importlib.metadata.version(self.distribution)

    def open_server(self, deflate: Deflate) -> Conn:
        raise Unsupported("no server connection")

    def open_client(self, deflate: Deflate) -> Conn:
        raise Unsupported("no client connection")

    def accept(self, request: bytes) -> bytes:
        """Server handshake: parse ``request``, return the 101 response."""
        raise Unsupported("no sans-IO handshake (it lives in its server and client classes)")

    def connect(self) -> None:
        """Client handshake: build a request, validate the server's 101."""
        raise Unsupported("no sans-IO handshake (it lives in its server and client classes)")


def lean_deflate_kwargs() -> dict[str, int]:
    """The lean setting in the RFC 7692 parameter names wsproto's API uses."""
    return {"server_max_window_bits": LEAN_WINDOW, "client_max_window_bits": LEAN_WINDOW}
