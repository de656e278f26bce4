"""Options shared by :func:`serve` and :func:`connect`, validated once.

:func:`serve` and :func:`connect` spell every option out as a typed keyword
parameter (so editors and type checkers see them) and bundle the shared
ones into one :class:`Settings`, which the connections read. A test checks
that both signatures carry every field of :class:`Settings` with the same
default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Optional, TypedDict

from .. import ConnectionType, WSConnection
from ..extensions import Extension, PerMessageDeflate
from .logs import LoggerLike

#: The one compression method: permessage-deflate (RFC 7692).
Compression = Literal["deflate"]
#: What broadcast does to a connection over its outgoing byte budget.
SlowConsumer = Literal["drop", "close"]


class DeflateOptions(TypedDict, total=False):
    """Keyword arguments of :class:`~wsproto6455.extensions.PerMessageDeflate`."""

    client_no_context_takeover: bool
    client_max_window_bits: Optional[int]
    server_no_context_takeover: bool
    server_max_window_bits: Optional[int]
    compression_level: int
    memory_level: int
    threshold: int
    require_client_max_window_bits: bool


def server_deflate_options() -> DeflateOptions:
    """What :func:`serve` uses unless given ``deflate_options``: websockets'
    serve() settings (12-bit windows both ways, zlib memLevel 5). The
    compressor then takes ~38 KiB instead of ~262 KiB and the inflater
    ~11 KiB instead of ~39 KiB (RFC defaults: 15-bit windows, memLevel 8);
    docs/DEFLATE.md has the measured memory and compression ratios."""
    return {"server_max_window_bits": 12, "client_max_window_bits": 12, "memory_level": 5}


def client_deflate_options() -> DeflateOptions:
    """What :func:`connect` uses unless given ``deflate_options``: zlib
    memLevel 5, as websockets' connect() (the window stays the server's
    choice: a client has one connection, not thousands)."""
    return {"memory_level": 5}


@dataclass(frozen=True)
class Settings:
    """Everything a connection needs besides its role and handshake.

    Limits go to the sans-IO core unchanged (``None`` = unlimited); the rest
    are the I/O policies that the core leaves to its embedder. A field
    meant for servers only carries ``metadata={"role": "server"}`` and is a
    parameter of :func:`serve` but not of :func:`connect`.
    """

    # -- passed through to WSConnection
    max_message_size: Optional[int] = 1 << 20
    max_frame_size: Optional[int] = None
    max_header_size: Optional[int] = 16 << 10
    fragment_size: Optional[int] = None
    # -- permessage-deflate: "deflate" or None, and PerMessageDeflate's keyword arguments
    compression: Optional[Compression] = "deflate"
    deflate_options: Optional[DeflateOptions] = None
    # -- timers (seconds; None disables)
    ping_interval: Optional[float] = 20.0
    ping_timeout: Optional[float] = 20.0
    open_timeout: Optional[float] = 10.0
    close_timeout: Optional[float] = 10.0
    # -- flow control
    max_queue: Optional[int] = 16      # unread messages before reading pauses
    write_limit: int = 32 << 10        # transport high-water mark; low = high // 4
    # -- logging: None for the role's logger (wsproto6455.server or .client)
    logger: Optional[LoggerLike] = None
    # -- broadcast (which never waits): bytes that may wait in a connection's
    # write buffer; past it, "drop" skips the connection or "close" closes it
    outgoing_budget: int = dataclasses.field(default=1 << 20, metadata={"role": "server"})
    slow_consumer: SlowConsumer = dataclasses.field(default="drop", metadata={"role": "server"})
    slow_consumer_code: int = dataclasses.field(default=1013, metadata={"role": "server"})

    def __post_init__(self) -> None:
        if self.compression not in ("deflate", None):
            raise ValueError(f"compression must be 'deflate' or None, not {self.compression!r}")
        if self.max_queue is not None and self.max_queue < 1:
            raise ValueError("max_queue must be at least 1 (or None)")
        if self.write_limit < 0:
            raise ValueError("write_limit must not be negative")
        if self.outgoing_budget < 0:
            raise ValueError("outgoing_budget must not be negative")
        if self.slow_consumer not in ("drop", "close"):
            raise ValueError(f"slow_consumer must be 'drop' or 'close', not {self.slow_consumer!r}")
        if self.slow_consumer_code not in (1008, 1013):
            raise ValueError("slow_consumer_code must be 1008 or 1013")
        for name in ("ping_interval", "ping_timeout", "open_timeout", "close_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive (or None)")
        if self.deflate_options and self.compression is None:
            raise ValueError("deflate_options given but compression is None")
        if self.compression is not None:
            self.new_extensions()  # fail now on a bad option, not per connection
            self.new_extensions(client=True)

    @classmethod
    def pick(cls, values: Mapping[str, Any]) -> "Settings":
        """The settings among ``values`` (e.g. the ``locals()`` of :func:`serve`)."""
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values})

    def new_core(self, role: ConnectionType) -> WSConnection:
        """A fresh sans-IO connection with our limits; messages arrive whole."""
        return WSConnection(
            role,
            max_message_size=self.max_message_size,
            max_frame_size=self.max_frame_size,
            max_header_size=self.max_header_size,
            fragment_size=self.fragment_size,
            whole_messages=True,
        )

    def new_extensions(self, client: bool = False) -> list[Extension]:
        """Fresh extension instances: each connection owns its compression state.

        ``deflate_options=None`` gives the lean defaults of the role (see
        :func:`server_deflate_options`); a dict gives exactly those
        :class:`PerMessageDeflate` arguments (``{}``: RFC 7692's defaults).
        """
        if self.compression is None:
            return []
        options = self.deflate_options
        if options is None:
            options = client_deflate_options() if client else server_deflate_options()
        return [PerMessageDeflate(**options)]
