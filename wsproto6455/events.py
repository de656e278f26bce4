"""The events exchanged with a :class:`~wsproto6455.WSConnection`.

Field names, order and defaults follow wsproto's events, so framework code,
positional construction, equality and ``repr`` carry over unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Optional, Sequence, TypeVar, Union

from .typing import Headers

if TYPE_CHECKING:
    from .extensions import Extension


@dataclass(frozen=True)
class Event:
    """Base class of every event."""


@dataclass(frozen=True)
class Request(Event):
    """The opening handshake request: received by a server, sent by a client."""

    host: str
    target: str
    extensions: Union[Sequence["Extension"], Sequence[str]] = field(default_factory=list)
    extra_headers: Headers = field(default_factory=list)
    subprotocols: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AcceptConnection(Event):
    """The server accepts the handshake (sent by a server, received by a client)."""

    subprotocol: Optional[str] = None
    extensions: list["Extension"] = field(default_factory=list)
    extra_headers: Headers = field(default_factory=list)


@dataclass(frozen=True)
class RejectConnection(Event):
    """The server rejects the handshake with an HTTP response."""

    status_code: int = 400
    headers: Headers = field(default_factory=list)
    has_body: bool = False


@dataclass(frozen=True)
class RejectData(Event):
    """A piece of the body of a rejection response."""

    data: bytes
    body_finished: bool = True


@dataclass(frozen=True)
class CloseConnection(Event):
    """A close frame, or the end of the connection.

    Received, ``code`` is the code to answer with: the peer's own code after a
    close frame, 1002/1007/1009 after a protocol violation, 1006 after EOF.
    """

    code: int
    reason: Optional[str] = None

    def response(self) -> "CloseConnection":
        """The close frame that completes the closing handshake."""
        return CloseConnection(code=self.code, reason=self.reason)


T = TypeVar("T", bytes, str)


@dataclass(frozen=True)
class Message(Event, Generic[T]):
    """A piece of a data message: a whole message, a frame or part of one."""

    data: T
    frame_finished: bool = True
    message_finished: bool = True


@dataclass(frozen=True)
class TextMessage(Message[str]):
    """A (piece of a) text message; ``data`` is already decoded and validated."""

    data: str

    # Written out because the frozen dataclass's generated __init__ (one
    # object.__setattr__ per field) costs a quarter of sending a small message.
    def __init__(self, data: str, frame_finished: bool = True, message_finished: bool = True) -> None:
        fields = self.__dict__
        fields["data"] = data
        fields["frame_finished"] = frame_finished
        fields["message_finished"] = message_finished


@dataclass(frozen=True)
class BytesMessage(Message[bytes]):
    """A (piece of a) binary message."""

    data: bytes

    # Written out for speed, as TextMessage's.
    def __init__(self, data: bytes, frame_finished: bool = True, message_finished: bool = True) -> None:
        fields = self.__dict__
        fields["data"] = data
        fields["frame_finished"] = frame_finished
        fields["message_finished"] = message_finished


@dataclass(frozen=True)
class Ping(Event):
    """A ping. The library never answers by itself: send :meth:`response`."""

    payload: bytes = b""

    def response(self) -> "Pong":
        """The pong that answers this ping."""
        return Pong(payload=self.payload)


@dataclass(frozen=True)
class Pong(Event):
    """A pong, solicited or not."""

    payload: bytes = b""
