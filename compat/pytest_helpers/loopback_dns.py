"""pytest plugin for suites whose tests name a public host they never reach.

simple-websocket's client tests connect to ``ws://example.com`` with the
socket class mocked out; only the name lookup is real. This machine has no
network beyond the package registries, so the lookup would fail (or leak a
DNS query). Resolving every name to 127.0.0.1 keeps those tests meaningful
and offline; both legs of the comparison load it.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_real_getaddrinfo = socket.getaddrinfo


def _is_literal(host: Any) -> bool:
    if host is None or host in ("localhost", b"localhost"):
        return True
    try:
        ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host)
    except ValueError:
        return False
    return True


def _loopback_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    return _real_getaddrinfo(host if _is_literal(host) else "127.0.0.1", *args, **kwargs)


socket.getaddrinfo = _loopback_getaddrinfo
