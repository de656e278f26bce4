"""Present wsproto's public modules, backed by wsproto6455.

Frameworks written against wsproto (uvicorn, hypercorn, trio-websocket,
simple-websocket, httpx-ws) import ``wsproto``, ``wsproto.events``,
``wsproto.connection``... :func:`install` makes those imports resolve to
the modules of :mod:`wsproto6455.compat.wsproto`, which re-export
wsproto6455's own classes. Call it before the framework is imported::

    import wsproto6455.compat
    wsproto6455.compat.install()
    import uvicorn   # its `import wsproto` now gets wsproto6455

Other switches: ``pytest -p wsproto6455.compat.pytest_plugin`` for a test
run, or ``WSPROTO6455_AS_WSPROTO=1`` with the directory printed by
``python -m wsproto6455.compat site-dir`` on ``PYTHONPATH`` for whole
processes (see docs/COMPAT.md). Real wsproto may stay installed: it is
simply not imported. ``python -m wsproto6455.compat status`` says what is
active, and why; the switch logs on the ``wsproto6455.compat`` logger.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

__all__ = ["FACADE_MODULES", "WSPROTO_API_VERSION", "install", "installed", "uninstall"]

#: The wsproto release whose public API the facade mirrors.
WSPROTO_API_VERSION = "1.3.2"

#: Every public module path of wsproto, as frameworks import them.
FACADE_MODULES = (
    "wsproto",
    "wsproto.connection",
    "wsproto.events",
    "wsproto.extensions",
    "wsproto.frame_protocol",
    "wsproto.handshake",
    "wsproto.typing",
    "wsproto.utilities",
)

_PACKAGE = __name__ + ".wsproto"


def _facades() -> dict[str, ModuleType]:
    return {name: importlib.import_module(__name__ + "." + name) for name in FACADE_MODULES}


def install(**connection_options: Any) -> None:
    """Make ``import wsproto`` (and its submodules) resolve to the facade.

    Idempotent. Real wsproto modules already in ``sys.modules`` are
    replaced; code that imported names from them *before* this call keeps
    the real objects, so install first.

    ``connection_options`` (e.g. ``max_message_size=16 << 20``) become the
    defaults of every connection made through the facade; without them the
    facade keeps wsproto's behaviour (no message-size limit).
    """
    from .switch import real_wsproto_modules, warn_once, watch_frameworks

    real = real_wsproto_modules()
    if real:
        warn_once("real-imported", (
            f"real wsproto was imported before the wsproto6455 facade was installed "
            f"({', '.join(real)}): names a program took from it before this point stay "
            f"wsproto's own; install the facade first"))
    facades = _facades()
    if connection_options:
        from .wsproto._options import DEFAULTS

        DEFAULTS.update(connection_options)
    for name in [n for n in sys.modules if n == "wsproto" or n.startswith("wsproto.")]:
        if sys.modules[name] is not facades.get(name):
            del sys.modules[name]
    sys.modules.update(facades)
    watch_frameworks(True)
    _announce()


_announced = False


def _announce() -> None:
    """Log once per process which implementation ``import wsproto`` gives."""
    global _announced
    if _announced:
        return
    _announced = True
    from .. import SPEEDUPS, __version__
    from .switch import logger

    logger.info("import wsproto -> wsproto6455 %s (wsproto %s API; %s backend)",
                __version__, WSPROTO_API_VERSION, "compiled" if SPEEDUPS else "pure-Python")


def uninstall() -> None:
    """Undo :func:`install`: the next ``import wsproto`` finds the real one."""
    for name in FACADE_MODULES:
        module = sys.modules.get(name)
        if module is not None and module.__name__.startswith(_PACKAGE):
            del sys.modules[name]
    from .switch import watch_frameworks

    watch_frameworks(False)


def installed() -> bool:
    """Does ``import wsproto`` currently give the facade?"""
    module = sys.modules.get("wsproto")
    return module is not None and module.__name__ == _PACKAGE
