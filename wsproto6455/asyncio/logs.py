"""Logging: a logger per role, INFO when a connection opens and closes,
DEBUG for each frame sent and received.

Loggers: ``wsproto6455.server`` and ``wsproto6455.client`` (or the
``logger`` given to :func:`serve` / :func:`connect`). Python's logging is
off by default (WARNING and up reach the last-resort handler), so none of
this prints anything until the application configures logging.

Cheap when off: whether DEBUG is enabled is asked once, when the connection
opens. Only then is the core wrapped in a :class:`LoggedCore`, which logs
each event as it goes through; otherwise the data path is exactly what it
is without logging (see ``benchmarks`` for the echo figures).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Iterator, Optional, Union

from ..connection import Connection
from ..events import BytesMessage, CloseConnection, Event, Ping, Pong, TextMessage
from ..extensions import Extension
from ..frames import CloseReason
from ..state import ConnectionState

if TYPE_CHECKING:
    LoggerLike = Union[logging.Logger, "logging.LoggerAdapter[Any]"]
else:
    LoggerLike = Union[logging.Logger, logging.LoggerAdapter]

server_logger = logging.getLogger("wsproto6455.server")
client_logger = logging.getLogger("wsproto6455.client")

#: Payload shown in a DEBUG line: text characters or bytes, at most.
SHOWN = 60


def _text(data: str) -> str:
    if len(data) <= SHOWN:
        return repr(data)
    return repr(data[:SHOWN]) + "..."


def _binary(data: bytes) -> str:
    shown = data[:SHOWN // 3].hex(" ")
    return shown + (" ..." if len(data) > SHOWN // 3 else "")


def describe(event: Event) -> str:
    """One line for a frame: opcode, payload (cut at :data:`SHOWN`), length.

    Messages are whole in the asyncio layer, so a fragmented message is
    one line (its opcode, its whole length).
    """
    if isinstance(event, TextMessage):
        return f"TEXT {_text(event.data)} [{len(event.data.encode('utf-8', 'surrogatepass'))} bytes]"
    if isinstance(event, BytesMessage):
        return f"BINARY {_binary(event.data)} [{len(event.data)} bytes]"
    if isinstance(event, (Ping, Pong)):
        name = "PING" if isinstance(event, Ping) else "PONG"
        return f"{name} {_binary(event.payload)} [{len(event.payload)} bytes]"
    if isinstance(event, CloseConnection):
        return f"CLOSE {describe_close(int(event.code), event.reason)}"
    return type(event).__name__


def describe_close(code: int, reason: Optional[str]) -> str:
    try:
        name = CloseReason(code).name
    except ValueError:
        name = "private use" if 4000 <= code <= 4999 else "registered" if 3000 <= code <= 3999 else "unknown"
    return f"{code} ({name}) {reason or ''!r}"


def describe_extension(extension: Extension) -> str:
    """The extension's name and its agreed parameters, if it says them."""
    agreed = getattr(extension, "agreed", None)
    if agreed is None:
        return extension.name
    params = ", ".join(f"{k}={v}" for k, v in vars(agreed).items())
    return f"{extension.name} ({params})"


class LoggedCore:
    """The post-handshake core, logging each event sent (``>``) and
    received (``<``) at DEBUG. Same interface as the parts of
    :class:`~wsproto6455.connection.Connection` that the asyncio layer uses.
    """

    def __init__(self, core: Connection, logger: LoggerLike) -> None:
        self.core = core
        self.logger = logger

    @property
    def state(self) -> ConnectionState:
        return self.core.state

    def send(self, event: Event, *, compress: Optional[bool] = None) -> bytes:
        data = self.core.send(event, compress=compress)
        self.logger.debug("> %s", describe(event))
        return data

    def receive_data(self, data: Optional[bytes]) -> None:
        self.core.receive_data(data)

    def events(self) -> Iterator[Event]:
        for event in self.core.events():
            self.logger.debug("< %s", describe(event))
            yield event
