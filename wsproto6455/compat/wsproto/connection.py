"""``wsproto.connection``: the post-handshake connection, states and roles.

``ConnectionState`` and ``ConnectionType`` (and ``CLIENT``/``SERVER``) are
wsproto6455's own enums. ``Connection`` is a subclass of wsproto6455's that
only changes two defaults to wsproto's (see :mod:`._options` and
:mod:`._close`); its instances are wsproto6455 ``Connection`` objects.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from wsproto6455.connection import Connection as _Connection
from wsproto6455.events import Event
from wsproto6455.extensions.base import Extension
from wsproto6455.state import ConnectionState, ConnectionType

from ._close import wire_close
from ._options import merged

__all__ = ["CLIENT", "SERVER", "Connection", "ConnectionState", "ConnectionType"]

CLIENT = ConnectionType.CLIENT
SERVER = ConnectionType.SERVER


class Connection(_Connection):
    """wsproto's ``Connection(connection_type, extensions=None, trailing_data=b"")``."""

    def __init__(
        self,
        connection_type: ConnectionType,
        extensions: Optional[Sequence[Extension]] = None,
        trailing_data: bytes = b"",
        **options: Any,
    ) -> None:
        super().__init__(connection_type, extensions, trailing_data, **merged(options))

    def send(self, event: Event, *, compress: Optional[bool] = None) -> bytes:
        return super().send(wire_close(event), compress=compress)
