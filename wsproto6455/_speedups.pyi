"""Type stub for the optional compiled kernels (sources in ``_speedups/``)."""

from collections import deque
from typing import Any, Callable, Iterator, Optional, TypeVar, Union

from .events import BytesMessage, Event, TextMessage

_Buffer = Union[bytes, bytearray, memoryview]

def apply_mask(data: _Buffer, key: _Buffer) -> bytes: ...

class Utf8Validator:
    def __init__(self) -> None: ...
    def validate(self, data: _Buffer, final: bool = False) -> bool: ...
    def reset(self) -> None: ...

_M = TypeVar("_M", TextMessage, BytesMessage)

def scan_messages(buf: bytes, pos: int, mask_bit: int, limit: int, out: list[Event],
                  inflate: Optional[Callable[[bytes, bool], Event]] = None) -> int: ...

class Scanner:
    mask_bit: int
    limit: int
    whole: bool
    inflate: Optional[Callable[[bytes, bool], Event]]
    def __init__(self, mask_bit: int, limit: int, whole: bool,
                 inflate: Optional[Callable[[bytes, bool], Event]] = None) -> None: ...
    # Read-only properties at run time.
    busy: bool
    held: int
    def scan(self, buf: bytes, pos: int, out: list[Event]) -> int: ...
    def reset(self) -> None: ...

def drain(queue: deque[Event]) -> Iterator[Event]: ...
def new_message(cls: type[_M], data: Union[str, bytes], frame_finished: bool = True,
                message_finished: bool = True) -> _M: ...
def server_frame(data: Any) -> bytes: ...
