"""``wsproto``: ``WSConnection``, ``ConnectionType`` and ``__version__``.

Importing the package imports every submodule, as wsproto's own
``__init__`` effectively does, so ``import wsproto`` followed by
``wsproto.events.Ping`` or ``wsproto.utilities.LocalProtocolError`` works.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Union

from wsproto6455.events import Event
from wsproto6455.state import ConnectionState, ConnectionType
from wsproto6455.wsconnection import WSConnection as _WSConnection

from .. import WSPROTO_API_VERSION
from . import connection, events, extensions, frame_protocol, handshake, typing, utilities
from ._close import wire_close
from ._headers import HeaderPart, as_bytes, with_bytes_headers
from ._options import merged
from .connection import Connection
from .handshake import H11Handshake

__all__ = ["ConnectionType", "WSConnection"]

#: wsproto's version whose API this facade mirrors: frameworks parse and
#: compare it (trio-websocket's tests branch on ``>= (1, 2, 0)``).
__version__ = WSPROTO_API_VERSION

# Names wsproto's own __init__ binds, and the submodules.
_exported = (Connection, ConnectionState, H11Handshake, Event,
             connection, events, extensions, frame_protocol, handshake, typing, utilities)


class WSConnection(_WSConnection):
    """wsproto's ``WSConnection(connection_type)``: wsproto6455's, with the
    facade's defaults and wsproto's input leniency (see :mod:`._options`,
    :mod:`._close`, :mod:`._headers`)."""

    def __init__(self, connection_type: ConnectionType, **options: Any) -> None:
        super().__init__(connection_type, **merged(options))

    def initiate_upgrade_connection(
        self, headers: Iterable[tuple[HeaderPart, HeaderPart]], path: Union[bytes, str]
    ) -> None:
        super().initiate_upgrade_connection(as_bytes(headers), path)

    def send(self, event: Event, *, compress: Optional[bool] = None) -> bytes:
        return super().send(wire_close(with_bytes_headers(event)), compress=compress)
