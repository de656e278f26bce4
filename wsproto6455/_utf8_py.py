"""Pure-Python incremental UTF-8 validation on CPython's strict decoder."""

from __future__ import annotations

import codecs
from typing import Union

Buffer = Union[bytes, bytearray, memoryview]


class Utf8Validator:
    """Incremental, fail-fast UTF-8 validator.

    ``validate`` returns False as soon as the bytes seen so far cannot be the
    start of valid UTF-8; with ``final=True`` an unfinished sequence is
    invalid too. After a False, the validator stays failed.
    """

    __slots__ = ("_decoder", "_failed")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._failed = False

    def validate(self, data: Buffer, final: bool = False) -> bool:
        if self._failed:
            return False
        try:
            self._decoder.decode(data, final)
        except UnicodeDecodeError:
            self._failed = True
            return False
        return True

    def reset(self) -> None:
        self._decoder.reset()
        self._failed = False
