"""What RedisBroker writes into Redis: key names and the payload's envelope.

Every key and channel of a room carries the room inside a hash tag
(``prefix{room}...``), so on Redis Cluster the channel, the history stream, its
metadata and the presence set of one room live in one slot: the publish script
touches them atomically and the sharded channel sits on the same node.

Envelope (one byte of kind, so text and binary survive the trip):
    ``t<utf-8>``  text, ``b<bytes>`` binary, without history;
    ``h<offset>:<epoch>:`` followed by ``t...`` or ``b...`` with history
    (written by the publish script, which alone knows the offset).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

Payload = Union[str, bytes]

TEXT = b"t"
BINARY = b"b"
HISTORY = b"h"


class MalformedEnvelope(ValueError):
    """A message on one of our channels that we did not write."""


@dataclass(frozen=True)
class RoomKeys:
    channel: bytes
    stream: bytes
    meta: bytes
    presence: bytes
    presence_info: bytes


def room_keys(prefix: str, room: str) -> RoomKeys:
    if not room or room.startswith("}"):
        # "{}" or "{}..." is an empty hash tag: Redis Cluster would hash each
        # key whole and scatter the room over several slots.
        raise ValueError(f"a room name is not empty and does not start with '}}': {room!r}")
    base = f"{prefix}{{{room}}}"
    return RoomKeys(
        channel=base.encode(),
        stream=f"{base}:history".encode(),
        meta=f"{base}:meta".encode(),
        presence=f"{base}:presence".encode(),
        presence_info=f"{base}:presence-info".encode(),
    )


def room_of_channel(prefix: bytes, channel: bytes) -> str:
    """Inverse of ``room_keys(...).channel``."""
    if not (channel.startswith(prefix + b"{") and channel.endswith(b"}")):
        raise MalformedEnvelope(f"not one of our channels: {channel!r}")
    return channel[len(prefix) + 1: -1].decode()


def encode(data: Payload) -> bytes:
    if isinstance(data, str):
        return TEXT + data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return BINARY + bytes(data)
    raise TypeError(f"a room's message is str (text) or bytes (binary), not {type(data).__name__}")


def decode(raw: bytes) -> Tuple[Payload, Optional[str], Optional[int]]:
    """``(data, epoch, offset)``; epoch and offset are None without history."""
    epoch: Optional[str] = None
    offset: Optional[int] = None
    if raw[:1] == HISTORY:
        first = raw.find(b":", 1)
        second = raw.find(b":", first + 1) if first > 0 else -1
        if second < 0:
            raise MalformedEnvelope("history envelope without offset and epoch")
        try:
            offset = int(raw[1:first])
        except ValueError:
            raise MalformedEnvelope("history envelope with a bad offset") from None
        epoch = raw[first + 1: second].decode("ascii", "replace")
        raw = raw[second + 1:]
    kind, body = raw[:1], raw[1:]
    if kind == TEXT:
        try:
            return body.decode(), epoch, offset
        except UnicodeDecodeError:
            raise MalformedEnvelope("text message that is not UTF-8") from None
    if kind == BINARY:
        return body, epoch, offset
    raise MalformedEnvelope(f"unknown message kind {kind!r}")
