"""``broadcast(connections, message)``: one message to many connections,
encoded once, without ever waiting.

The call websockets users know (``websockets.asyncio.server.broadcast``),
built so that the cost per recipient approaches the floor, one
``transport.write`` of prebuilt bytes:

* the frame is built once for every server connection without compression;
* with permessage-deflate, the message is compressed once per distinct
  compressor configuration among the connections whose compressor starts
  afresh for each message (``server_no_context_takeover`` agreed; a server
  may impose it, RFC 7692 §7.1.1.1: ``deflate_options={"server_no_context_takeover": True}``);
* the rest (compression with context takeover, client connections, which
  mask each frame with a fresh key, ``fragment_size``) is encoded by the
  connection's own core, as ``send`` would.

A connection never makes the caller wait: each has an outgoing byte budget
(``outgoing_budget``) on what may wait in its write buffer, and past it its
``slow_consumer`` policy drops the message (counted in ``broadcast_drops``)
or closes the connection (1013 or 1008). Connections that are not open are
skipped.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional, Tuple, Union

from ..backend import server_frame
from ..extensions.base import RSV1
from ..extensions.permessage_deflate import PerMessageDeflate
from ..frames import Opcode, frame_header
from .protocol import CLOSED_SLOW, OPEN, SENT, SKIPPED, WebSocket

Message = Union[str, bytes, bytearray, memoryview]

# Values of WebSocket._broadcast_kind (None: not found yet). A tuple is the
# shared_encoding_key of a connection whose deflate frames can be shared,
# interned in _SHARED_KEYS, so that one broadcast tells them apart by identity
# (a tuple's hash is computed anew at every dict lookup).
PLAIN = "plain"  # the shared uncompressed server frame
OWN = "own"      # encoded by the connection's own core
_SHARED_KEYS: Dict[Tuple[int, ...], Tuple[int, ...]] = {}


def broadcast(connections: Iterable[WebSocket], message: Message, *,
              text: Optional[bool] = None) -> None:
    """Send ``message`` (``str``: text; bytes-like: binary) to every open
    connection in ``connections``, encoding it once; never waits.

    ``text=True`` sends UTF-8 bytes as a text message (they are checked),
    ``text=False`` sends a ``str`` as binary, as websockets allows.

    Like websockets' ``broadcast``, it is synchronous and does not report
    per-connection outcomes: a connection that is closing is skipped, one
    whose write buffer is over its ``outgoing_budget`` gets its
    ``slow_consumer`` policy (``drop``: this message is skipped and
    ``ws.broadcast_drops`` counts it; ``close``: closed with
    ``slow_consumer_code``). Server metrics count both.
    """
    if text is True and not isinstance(message, str):
        if not isinstance(message, (bytes, bytearray, memoryview)):
            raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")
        message = bytes(message).decode("utf-8")  # UnicodeDecodeError: not UTF-8
    elif text is False and isinstance(message, str):
        message = message.encode("utf-8")
    send_to_all(connections, message)


def send_to_all(connections: Iterable[WebSocket], message: Message) -> Tuple[int, int]:
    """:func:`broadcast`, returning ``(sent, dropped)`` (dropped includes the
    connections closed for being slow)."""
    if type(message) is not str and type(message) is not bytes:
        if not isinstance(message, (bytes, bytearray, memoryview)):
            raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")
        message = bytes(message)
    plain = b""
    compressed: Dict[Any, bytes] = {}
    # The compressed frame of the last deflate configuration met (usually
    # the only one): an identity check instead of a dict lookup each time.
    last_kind: Any = None
    last_frame = b""
    sent = dropped = 0
    for ws in connections:
        kind = ws._broadcast_kind
        if kind is None:  # first broadcast to ws
            if ws.state is not OPEN:
                continue
            kind = ws._broadcast_kind = _kind_of(ws)
        if kind is PLAIN:  # the common case first
            if not plain:
                plain = server_frame(message)
            result = ws._write_broadcast(plain, message)
        elif kind is last_kind:
            result = ws._write_broadcast(last_frame, message)
        elif kind is OWN:
            result = ws._write_broadcast(None, message)
        else:
            frame = compressed.get(kind)
            if frame is None:
                frame = compressed[kind] = _compressed_frame(ws, message)
            last_kind, last_frame = kind, frame
            result = ws._write_broadcast(frame, message)
        if result == SENT:
            sent += 1
        elif result != SKIPPED:
            dropped += 1
            if result == CLOSED_SLOW:
                server = getattr(ws, "server", None)
                if server is not None:
                    server.stats.count("slow_consumer_closes")
    return sent, dropped


def _kind_of(ws: WebSocket) -> Any:
    """How ``ws`` encodes a broadcast; fixed once the connection is open."""
    if not ws.is_server or ws._settings.fragment_size is not None:
        return OWN
    active = [ext for ext in ws.extensions if ext.rsv_bits and ext.enabled()]
    if not active:
        return PLAIN
    if len(active) == 1 and isinstance(active[0], PerMessageDeflate):
        key = active[0].shared_encoding_key()
        if key is not None:
            return _SHARED_KEYS.setdefault(key, key)
    return OWN


def _compressed_frame(ws: WebSocket, message: Union[str, bytes]) -> bytes:
    """The frame for ``message`` as ``ws``'s deflate configuration encodes it
    (under its threshold: the plain frame, as ``send`` would)."""
    deflate = next(ext for ext in ws.extensions if isinstance(ext, PerMessageDeflate))
    if isinstance(message, str):
        payload, opcode = message.encode("utf-8"), Opcode.TEXT
    else:
        payload, opcode = message, Opcode.BINARY
    if len(payload) < deflate.threshold:
        return server_frame(message)
    data = deflate.compress_message(payload)
    return frame_header(True, RSV1, opcode, len(data)) + data


__all__ = ["broadcast", "send_to_all"]
