"""``wsproto.events``: wsproto6455's own event classes, re-exported.

They are the same class objects, so ``isinstance`` and ``==`` agree whether
a program imported them as ``wsproto.events`` or ``wsproto6455.events``.
"""

from wsproto6455.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

__all__ = [
    "AcceptConnection",
    "BytesMessage",
    "CloseConnection",
    "Event",
    "Message",
    "Ping",
    "Pong",
    "RejectConnection",
    "RejectData",
    "Request",
    "TextMessage",
]
