"""Keyword options refused by name, with a hint, in the caller's terms.

Our constructors spell every option out as a typed keyword parameter, so
editors complete them and type checkers catch ``max_mesage_size=`` or
``ping_interval="20"``. Python's own error for a misspelt keyword names the
method that was called under the hood (``serve.__init__()``, or a class the
user never called), and knows nothing of the names that people bring from
other WebSocket libraries. :func:`keyword_options` wraps a function so that
an unknown keyword raises a :class:`TypeError` naming what the user called,
with a hint: our name for another library's option, or a close spelling.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Callable, Iterable, Mapping, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

#: Options of websockets, aiohttp and others -> our option's name, or a
#: sentence saying what to do instead.
FOREIGN_OPTIONS: Mapping[str, str] = {
    # websockets (asyncio and legacy APIs)
    "max_size": "max_message_size",
    "additional_headers": "extra_headers",
    "extensions": "compression",
    "origins": "no origins option: check the Origin header in process_request",
    "read_limit": "max_queue",
    "create_protocol": "connection classes cannot be replaced",
    "create_connection": "connection classes cannot be replaced",
    "proxy": "HTTP proxies are not supported",
    "reconnect_delays": "no reconnect_delays option: use backoff_base=, backoff_cap=, backoff_factor=",
    # aiohttp
    "max_msg_size": "max_message_size",
    "heartbeat": "ping_interval",
    "protocols": "subprotocols",
    "headers": "extra_headers",
    "compress": "compression",
    "autoping": "pings are always answered",
    "receive_timeout": "no receive_timeout option: use asyncio.wait_for(ws.recv(), timeout)",
    # others
    "ssl_context": "ssl",
    "sslopt": "ssl",
    "max_message_bytes": "max_message_size",
    "max_frame_bytes": "max_frame_size",
    "header": "extra_headers",
    "subprotocol": "subprotocols",
}


def unknown_option(called: str, name: str, accepted: Iterable[str]) -> TypeError:
    """The error for keyword ``name`` passed to ``called``, with a hint if we have one."""
    accepted = sorted(accepted)
    message = f"{called} got an unexpected keyword argument {name!r}"
    hint = FOREIGN_OPTIONS.get(name)
    if hint is not None and hint in accepted:
        message += f"; wsproto6455 calls this option {hint}="
    elif hint is not None and not hint.isidentifier():
        message += f"; {hint}"
    else:  # unknown, or ours but not an option of this function
        close = difflib.get_close_matches(name, accepted, n=1)
        if close:
            message += f"; did you mean {close[0]}=?"
    return TypeError(message)


def keyword_options(called: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Refuse unknown keywords with :func:`unknown_option`'s message.

    The wrapper keeps the signature (for type checkers, ``help()`` and
    editors); its cost is one set check when keywords are given.
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        parameters = inspect.signature(func).parameters.values()
        accepted = frozenset(
            p.name for p in parameters
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        )

        @functools.wraps(func)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            if kwargs and not accepted.issuperset(kwargs):
                name = next(key for key in kwargs if key not in accepted)
                raise unknown_option(called, name, accepted)
            return func(*args, **kwargs)

        return checked

    return decorate
