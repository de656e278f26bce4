"""The case families, in report order, and what every case receives."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from ..adapters import Peer
from ..harness import Mode, Result


@dataclass
class Context:
    mode: Mode
    peers: list[Peer]  # the connection-level columns available here
    pure_child: bool = False  # this process measures the wsproto6455 (pure) column


@dataclass(frozen=True)
class Family:
    name: str
    runner: str  # "module:function" in this package, called with a Context
    backend_bound: bool  # measured again in the pure-backend subprocess
    title: str

    def run(self, ctx: Context) -> list[Result]:
        module, function = self.runner.split(":")
        run: Callable[[Context], list[Result]] = getattr(
            importlib.import_module(f"{__name__}.{module}"), function
        )
        return run(ctx)


FAMILIES = [
    Family("masking", "masking:run", False, "Masking (MB/s)"),
    Family("utf8", "utf8:run", False, "UTF-8 validation of one message (MB/s)"),
    Family("parse", "parsing:run_plain", True, "Server-side parsing of masked client text frames"),
    Family("serialize", "serializing:run_plain", True, "Serialization of text messages"),
    Family("deflate-parse", "parsing:run_deflate", True, "Parsing with permessage-deflate"),
    Family("deflate-serialize", "serializing:run_deflate", True, "Serialization with permessage-deflate"),
    Family("handshake", "handshake:run", True, "Opening handshake"),
    Family("echo", "echo:run", False, "End-to-end echo over loopback, 16 B text"),
    Family("memory", "memory:run", True, "Memory per idle open connection (tracemalloc)"),
]
