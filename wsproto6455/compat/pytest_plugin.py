"""pytest plugin: ``pytest -p wsproto6455.compat.pytest_plugin``.

Loading the plugin installs the facade. ``-p`` plugins are imported before
conftest files and test modules, so every ``import wsproto`` of the run,
the framework's and its tests', resolves to wsproto6455.

If ``WSPROTO6455_COMPAT_STAMP`` names a file, the plugin writes there, at the
end of the session, whether the facade was still in place and whether real
wsproto modules were loaded anyway (used by compat/run_framework_suites.py
to prove which implementation ran).
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from . import WSPROTO_API_VERSION, install, installed

install()


def pytest_report_header(config: pytest.Config) -> list[str]:
    import wsproto6455

    version = getattr(wsproto6455, "__version__", "?")
    return [f"wsproto6455.compat: wsproto {WSPROTO_API_VERSION} API -> wsproto6455 {version}"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("WSPROTO6455_COMPAT_STAMP")
    if not path:
        return
    real = sorted(
        name for name, module in list(sys.modules.items())
        if module is not None and getattr(module, "__name__", "").split(".")[0] == "wsproto"
    )
    with open(path, "w", encoding="utf-8") as out:
        json.dump({"active": installed(), "real_wsproto_loaded": real}, out)
