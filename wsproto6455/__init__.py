"""wsproto6455: a sans-IO WebSocket protocol layer (RFC 6455, RFC 7692)."""

import os as _os

from .backend import SPEEDUPS
from .connection import Connection
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .state import ConnectionState, ConnectionType
from .wsconnection import WSConnection

__version__ = "0.1.0"

if "WSPROTO6455_AS_WSPROTO" in _os.environ:
    # The wsproto switch was asked for: say so if it did not apply in this process.
    from .compat.switch import check_environment as _check_switch

    _check_switch()

__all__ = [
    "SPEEDUPS",
    "Connection",
    "ConnectionState",
    "ConnectionType",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "WSConnection",
    "__version__",
]
