"""wsproto6455: a sans-IO WebSocket protocol layer (RFC 6455, RFC 7692)."""

from .backend import SPEEDUPS
from .connection import Connection
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .state import ConnectionState, ConnectionType
from .wsconnection import WSConnection

__version__ = "0.1.0"

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
