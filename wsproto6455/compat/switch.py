"""The ``WSPROTO6455_AS_WSPROTO`` switch: reading it, saying what it did, and watching frameworks.

- :func:`parse_flag` accepts the usual spellings (``1/true/yes/on``,
  ``0/false/no/off``, any case); anything else is reported and counts as off.
- :func:`switch_from_environment` is what the ``sitecustomize`` of the site
  directory calls at start-up.
- :func:`check_environment` runs when wsproto6455 is imported with the
  variable set: if the switch should be on but never ran (its site directory
  is not on ``sys.path``), it says so instead of leaving the real wsproto to
  run silently.
- :class:`FrameworkWatcher` notices which WebSocket implementation uvicorn
  and hypercorn load: ``import wsproto`` giving wsproto6455 does not mean
  the framework uses it (uvicorn's default ``--ws auto`` picks websockets
  when it is installed).

Messages go to the ``wsproto6455.compat`` logger: problems as warnings
(printed on stderr even when logging is not configured), the implementation
in use as INFO, once per process.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Optional, Sequence

logger = logging.getLogger("wsproto6455.compat")

#: The environment variable of the process-wide switch.
ENV = "WSPROTO6455_AS_WSPROTO"
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})

#: The directory holding the switch's ``sitecustomize``; it must be on ``sys.path``.
SITE_DIR = Path(__file__).resolve().parent / "_site"

_warned: set[str] = set()


def parse_flag(value: str) -> Optional[bool]:
    """True, False, or None for a value that is neither."""
    word = value.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    return None


def requested(environ: Optional[dict[str, str]] = None) -> bool:
    """Does the environment ask for the switch? (An unrecognised value does not.)"""
    value = (os.environ if environ is None else environ).get(ENV)
    return value is not None and parse_flag(value) is True


def warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(message)


def real_wsproto_modules() -> list[str]:
    """Names of real wsproto modules in ``sys.modules`` (not the facade's)."""
    return sorted(
        name for name, module in list(sys.modules.items())
        if (name == "wsproto" or name.startswith("wsproto."))
        and module is not None and getattr(module, "__name__", "").split(".")[0] == "wsproto"
    )


def sitecustomize_ran() -> bool:
    """Is our ``sitecustomize`` the one imported at start-up (or being imported)?"""
    module = sys.modules.get("sitecustomize")
    origin = getattr(module, "__file__", None)
    return origin is not None and Path(origin).resolve().parent == SITE_DIR


def site_dir_on_path() -> bool:
    return any(Path(entry or ".").resolve() == SITE_DIR for entry in sys.path)


def _requested() -> bool:
    """Whether the variable asks for the switch (a value that is neither on
    nor off is said once, and counts as off)."""
    value = os.environ.get(ENV)
    if value is None:
        return False
    flag = parse_flag(value)
    if flag is None:
        warn_once("value", f"{ENV}={value!r} is neither on (1, true, yes, on) nor off "
                           "(0, false, no, off): the switch stays off")
        return False
    return flag


def switch_from_environment() -> None:
    """Called by the site directory's ``sitecustomize`` at interpreter start-up."""
    if not _requested():
        return
    from . import install

    install()


def check_environment() -> None:
    """Say so when the variable asks for the switch but it did not apply."""
    if not _requested() or sitecustomize_ran():
        return
    from . import installed

    if installed():
        return
    if site_dir_on_path():
        why = ("its site directory is on sys.path, but another sitecustomize module was "
               "imported at start-up instead of the switch's")
    else:
        why = (f"its site directory is not on sys.path; put it first on PYTHONPATH: "
               f"export PYTHONPATH=\"{SITE_DIR}${{PYTHONPATH:+:$PYTHONPATH}}\"")
    warn_once("not-applied", f"{ENV}={os.environ[ENV]} is set but the switch did not run in this "
                             f"process, so `import wsproto` gives the real wsproto: {why}")


# -- which implementation the frameworks load --------------------------------

#: Modules whose import shows which WebSocket implementation a framework uses:
#: name -> (framework, uses wsproto, how to get wsproto if it does not).
FRAMEWORK_MODULES: dict[str, tuple[str, bool, str]] = {
    "uvicorn.protocols.websockets.wsproto_impl": ("uvicorn", True, ""),
    "uvicorn.protocols.websockets.websockets_impl": (
        "uvicorn", False, "uvicorn chose its websockets implementation; start it with --ws wsproto"),
    "uvicorn.protocols.websockets.websockets_sansio_impl": (
        "uvicorn", False, "uvicorn chose its websockets-sansio implementation (its --ws auto "
                          "default does when websockets is installed); start it with --ws wsproto"),
    "hypercorn.protocol.ws_stream": ("hypercorn", True, ""),
}


class FrameworkWatcher(importlib.abc.MetaPathFinder):
    """Logs, once per framework, which WebSocket implementation it loads.

    It never finds anything itself: it only looks at the names going by.
    """

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, bool]] = {}

    def find_spec(self, fullname: str, path: Optional[Sequence[str]],
                  target: Optional[ModuleType] = None) -> Optional[importlib.machinery.ModuleSpec]:
        entry = FRAMEWORK_MODULES.get(fullname)
        if entry is not None and entry[0] not in self.seen:
            framework, uses_wsproto, advice = entry
            self.seen[framework] = (fullname, uses_wsproto)
            if uses_wsproto:
                logger.info("%s uses wsproto for WebSockets: served by wsproto6455", framework)
            else:
                logger.warning("%s does not use wsproto for WebSockets (it loads %s), so "
                               "wsproto6455 is not used although `import wsproto` gives it: %s",
                               framework, fullname, advice)
        return None


WATCHER = FrameworkWatcher()


def watch_frameworks(on: bool) -> None:
    """Put the watcher first on ``sys.meta_path`` (or take it off)."""
    if WATCHER in sys.meta_path:
        sys.meta_path.remove(WATCHER)
    if on:
        sys.meta_path.insert(0, WATCHER)
