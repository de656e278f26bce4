"""``python -m wsproto6455.compat status``: what ``import wsproto`` gives here, and why.

Run it with the environment of the program in question (same PYTHONPATH,
same ``WSPROTO6455_AS_WSPROTO``): the switch acts at interpreter start-up,
so this process sees what that program's processes see.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys

from . import WSPROTO_API_VERSION, installed
from .switch import ENV, SITE_DIR, parse_flag, real_wsproto_modules, site_dir_on_path, sitecustomize_ran


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def report() -> tuple[list[str], bool]:
    """The status lines, and whether ``import wsproto`` gives wsproto6455 here."""
    import wsproto6455

    active = installed()
    value = os.environ.get(ENV)
    flag = None if value is None else parse_flag(value)
    lines = []
    if value is None:
        lines.append(f"{ENV}: not set (switch off)")
    elif flag is None:
        lines.append(f"{ENV}={value!r}: not recognised (on: 1, true, yes, on; off: 0, false, "
                     "no, off): switch off")
    else:
        lines.append(f"{ENV}={value!r}: {'on' if flag else 'off'}")
    on_path = site_dir_on_path()
    lines.append(f"site directory {SITE_DIR}: {'on' if on_path else 'NOT on'} sys.path"
                 + ("" if on_path else " (PYTHONPATH)"))
    if flag:
        if sitecustomize_ran():
            lines.append("start-up: the switch's sitecustomize ran")
        elif on_path:
            lines.append("start-up: another sitecustomize module was imported instead of the "
                         "switch's (put the site directory first on PYTHONPATH)")
        else:
            lines.append("start-up: the switch did not run: put the site directory on "
                         f"PYTHONPATH: export PYTHONPATH=\"{SITE_DIR}${{PYTHONPATH:+:$PYTHONPATH}}\"")
    backend = "compiled" if wsproto6455.SPEEDUPS else "pure-Python"
    if active:
        lines.append(f"import wsproto -> wsproto6455 {wsproto6455.__version__} (wsproto "
                     f"{WSPROTO_API_VERSION} API; {backend} backend)")
    else:
        real = _version("wsproto")
        lines.append("import wsproto -> " + (f"the real wsproto {real}" if real else
                                             "nothing (wsproto is not installed)"))
    real_loaded = real_wsproto_modules()
    if active and real_loaded:
        lines.append(f"warning: real wsproto modules were imported before the switch: "
                     f"{', '.join(real_loaded)}")
    lines.extend(_frameworks(active))
    return lines, active


def _frameworks(active: bool) -> list[str]:
    """Which WebSocket implementation each installed wsproto-based framework uses."""
    lines = []
    target = "wsproto6455" if active else "the real wsproto"
    uvicorn = _version("uvicorn")
    if uvicorn:
        if _installed("websockets"):
            lines.append(
                f"uvicorn {uvicorn}: --ws auto (its default) uses websockets "
                f"{_version('websockets')} because it is installed, NOT {target}; "
                f"--ws wsproto uses {target}")
        else:
            lines.append(f"uvicorn {uvicorn}: --ws auto and --ws wsproto use {target}")
    for name in ("hypercorn", "trio-websocket", "simple-websocket", "httpx-ws"):
        version = _version(name)
        if version:
            lines.append(f"{name} {version}: uses {target}")
    return lines


def main() -> int:
    lines, active = report()
    print("\n".join(lines))
    return 0 if active else 1
