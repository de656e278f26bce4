"""A minimal RESP2 codec for the broker's own connections (stdlib only).

The pub/sub listener reads pushes forever on a dedicated connection, and the
publisher pipelines publishes on another. redis-py's connection reads with
timeouts that may cancel a read mid-reply and reconnects by itself on the next
write, two behaviours a supervised connection must own, and its per-command
machinery was most of a publish's cost; so both speak the few RESP2 types they
meet directly: simple strings, errors, integers, bulk strings and arrays. The
other commands (history, presence) use redis-py.
"""

from __future__ import annotations

from typing import List, Optional, Tuple, Union

Reply = Union[bytes, int, None, "RedisReplyError", List["Reply"]]

#: Bound on one bulk string or array: a corrupt or hostile stream cannot make
#: the parser allocate without limit (Redis' own proto-max-bulk-len is 512 MiB).
MAX_BULK = 512 * 1024 * 1024
MAX_LINE = 64 * 1024


class RedisReplyError(Exception):
    """A ``-ERR ...`` reply."""


class ProtocolViolation(Exception):
    """The stream is not RESP2: the connection must be dropped."""


def encode_command(*args: Union[str, bytes, int]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


class RespParser:
    """Incremental: ``feed(bytes)``, then ``pop()`` until it returns ``None``.

    The buffer is consumed with an offset and compacted once per feed, never
    re-sliced per reply.
    """

    _NOTHING = object()

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._offset = 0

    def feed(self, data: bytes) -> None:
        if self._offset:
            del self._buffer[: self._offset]
            self._offset = 0
        self._buffer += data

    def pop(self) -> Tuple[bool, Reply]:
        """``(True, reply)`` for a complete reply, ``(False, None)`` if more bytes are needed."""
        result = self._parse(self._offset)
        if result is None:
            return False, None
        reply, self._offset = result
        return True, reply

    def _line(self, at: int) -> Optional[Tuple[bytes, int]]:
        end = self._buffer.find(b"\r\n", at)
        if end < 0:
            if len(self._buffer) - at > MAX_LINE:
                raise ProtocolViolation("RESP line too long")
            return None
        return bytes(self._buffer[at:end]), end + 2

    def _parse(self, at: int) -> Optional[Tuple[Reply, int]]:
        line = self._line(at)
        if line is None:
            return None
        head, at = line
        if not head:
            raise ProtocolViolation("empty RESP line")
        kind, rest = head[:1], head[1:]
        if kind == b"+":
            return rest, at
        if kind == b"-":
            return RedisReplyError(rest.decode("utf-8", "replace")), at
        if kind == b":":
            return _integer(rest), at
        if kind == b"$":
            size = _integer(rest)
            if size < 0:
                return None, at  # a null bulk string
            if size > MAX_BULK:
                raise ProtocolViolation("bulk string over the bound")
            if len(self._buffer) < at + size + 2:
                return None
            if self._buffer[at + size: at + size + 2] != b"\r\n":
                raise ProtocolViolation("bulk string not terminated")
            return bytes(self._buffer[at: at + size]), at + size + 2
        if kind == b"*":
            count = _integer(rest)
            if count < 0:
                return None, at  # a null array
            if count > MAX_BULK:
                raise ProtocolViolation("array over the bound")
            items: List[Reply] = []
            for _ in range(count):
                parsed = self._parse(at)
                if parsed is None:
                    return None
                item, at = parsed
                items.append(item)
            return items, at
        raise ProtocolViolation(f"unknown RESP type {kind!r}")


def _integer(text: bytes) -> int:
    try:
        return int(text)
    except ValueError:
        raise ProtocolViolation(f"bad RESP integer {text!r}") from None
