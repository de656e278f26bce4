"""The events exchanged with a :class:`~wsproto6455.WSConnection`.

Field names, order and defaults follow wsproto's events, so framework code,
positional construction, equality and ``repr`` carry over unchanged.

How events are built (a contract, tested in tests/test_event_construction.py):
every event is a plain frozen dataclass instance whose fields are set with
``object.__setattr__``, which is what the dataclass-generated ``__init__``
does and the documented way around ``frozen``. The message events spell
their ``__init__`` out with it (shorter than the generated one), and the
compiled kernels build them the same way: ``type.tp_new`` then
``PyObject_GenericSetAttr``, the C function behind ``object.__setattr__``.
Nothing writes an instance's ``__dict__`` or relies on its layout (CPython
3.13 keeps attribute values inline, without a dict).
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

# Bound once: the field setter of the message events' __init__.
_set_field = object.__setattr__


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

    # Written out: the generated __init__ does the same with more steps
    # (a lookup of object.__setattr__ per field).
    def __init__(self, data: str, frame_finished: bool = True, message_finished: bool = True) -> None:
        _set_field(self, "data", data)
        _set_field(self, "frame_finished", frame_finished)
        _set_field(self, "message_finished", message_finished)


@dataclass(frozen=True)
class BytesMessage(Message[bytes]):
    """A (piece of a) binary message."""

    data: bytes

    # Written out, as TextMessage's.
    def __init__(self, data: bytes, frame_finished: bool = True, message_finished: bool = True) -> None:
        _set_field(self, "data", data)
        _set_field(self, "frame_finished", frame_finished)
        _set_field(self, "message_finished", message_finished)


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
