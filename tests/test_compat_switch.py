"""The WSPROTO6455_AS_WSPROTO switch says what it did: values, warnings, the log, `status`,
and which implementation uvicorn really loads. Each case runs in a fresh interpreter,
since the switch acts at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Optional

import pytest

from wsproto6455.compat.switch import SITE_DIR, parse_flag

REPO = Path(__file__).resolve().parent.parent


def python(code: str, switch: Optional[str], site_dir: bool = True,
           args: Optional[list[str]] = None) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter with this checkout importable (and the switch's site dir first)."""
    env = {k: v for k, v in os.environ.items() if k not in ("WSPROTO6455_AS_WSPROTO", "PYTHONPATH")}
    env["PYTHONPATH"] = os.pathsep.join(([str(SITE_DIR)] if site_dir else []) + [str(REPO)])
    if switch is not None:
        env["WSPROTO6455_AS_WSPROTO"] = switch
    command = [sys.executable, *(args or ["-c", textwrap.dedent(code)])]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=REPO)


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True", "yes", "YES", "on", "On", " on "])
def test_truthy_values(value: str) -> None:
    assert parse_flag(value) is True


@pytest.mark.parametrize("value", ["0", "false", "FALSE", "no", "No", "off", "OFF", "", "  "])
def test_falsy_values(value: str) -> None:
    assert parse_flag(value) is False


@pytest.mark.parametrize("value", ["2", "maybe", "enable", "tru"])
def test_other_values_are_neither(value: str) -> None:
    assert parse_flag(value) is None


WHICH = "import wsproto; print(wsproto.__name__)"


@pytest.mark.parametrize("value", ["true", "Yes", "ON"])
def test_truthy_spellings_switch_a_process_on(value: str) -> None:
    proc = python(WHICH, value)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "wsproto6455.compat.wsproto"
    assert proc.stderr == ""                     # a working switch is quiet (INFO log only)


@pytest.mark.parametrize("value", ["0", "false", "off", ""])
def test_falsy_spellings_leave_the_real_wsproto_quietly(value: str) -> None:
    proc = python(WHICH, value)
    assert (proc.stdout.strip(), proc.stderr) == ("wsproto", "")


def test_an_unrecognised_value_is_reported_and_counts_as_off() -> None:
    proc = python(WHICH, "maybe")
    assert proc.stdout.strip() == "wsproto"
    assert "WSPROTO6455_AS_WSPROTO='maybe' is neither on" in proc.stderr
    assert proc.stderr.count("is neither on") == 1   # once, though checked twice


def test_set_without_the_site_dir_warns_when_wsproto6455_is_imported() -> None:
    proc = python("import wsproto6455, wsproto; print(wsproto.__name__)", "1", site_dir=False)
    assert proc.stdout.strip() == "wsproto"
    assert "the switch did not run in this process" in proc.stderr
    assert "site directory is not on sys.path" in proc.stderr
    assert str(SITE_DIR) in proc.stderr                  # the fix, spelt out


def test_real_wsproto_imported_before_install_is_reported() -> None:
    proc = python("""
        import wsproto.events
        import wsproto6455.compat
        wsproto6455.compat.install()
        import wsproto
        print(wsproto.__name__)
    """, None)
    assert proc.stdout.strip() == "wsproto6455.compat.wsproto"
    assert "real wsproto was imported before the wsproto6455 facade was installed" in proc.stderr
    assert "wsproto.events" in proc.stderr


def test_the_active_implementation_is_logged_once() -> None:
    proc = python("""
        import logging, sys
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s")
        import wsproto6455.compat as compat
        compat.install(); compat.install(); compat.uninstall(); compat.install()
    """, None)
    lines = [line for line in proc.stdout.splitlines() if "import wsproto ->" in line]
    assert len(lines) == 1, proc.stdout
    assert lines[0].startswith("wsproto6455.compat import wsproto -> wsproto6455 0.1.0 (wsproto 1.3.2 API; ")


STATUS = ["-m", "wsproto6455.compat", "status"]


def require_uvicorn() -> None:
    """uvicorn is in the test extra: skipped in a venv made before it was, failed under CI."""
    if os.environ.get("CI", "").lower() == "true":
        import uvicorn  # noqa: F401
    else:
        pytest.importorskip("uvicorn", reason="uvicorn missing: run make install (test extra)")


def test_status_when_on() -> None:
    proc = python("", "yes", args=STATUS)
    assert proc.returncode == 0, proc.stderr
    assert "WSPROTO6455_AS_WSPROTO='yes': on" in proc.stdout
    assert "the switch's sitecustomize ran" in proc.stdout
    assert "import wsproto -> wsproto6455 0.1.0 (wsproto 1.3.2 API;" in proc.stdout


def test_status_when_the_site_dir_is_missing() -> None:
    proc = python("", "1", site_dir=False, args=STATUS)
    assert proc.returncode == 1
    assert "NOT on sys.path" in proc.stdout
    assert "the switch did not run: put the site directory on PYTHONPATH" in proc.stdout
    assert "import wsproto -> the real wsproto 1.3.2" in proc.stdout


def test_status_when_off() -> None:
    proc = python("", None, args=STATUS)
    assert proc.returncode == 1
    assert "WSPROTO6455_AS_WSPROTO: not set (switch off)" in proc.stdout
    assert "import wsproto -> the real wsproto" in proc.stdout


def test_status_says_uvicorn_auto_uses_websockets_not_us() -> None:
    require_uvicorn()
    proc = python("", "1", args=STATUS)
    line = next(line for line in proc.stdout.splitlines() if line.startswith("uvicorn "))
    assert "--ws auto (its default) uses websockets" in line and "NOT wsproto6455" in line
    assert "--ws wsproto uses wsproto6455" in line


LOAD_UVICORN = """
    import logging, sys
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s")
    import uvicorn.config
    config = uvicorn.config.Config("tests.test_compat_switch:app", ws={ws!r})
    config.load()                       # what uvicorn.run() does before serving
    module = sys.modules[config.ws_protocol_class.__module__]
    print("CLASS", config.ws_protocol_class.__name__)
    print("WSPROTO", getattr(module, "wsproto", None).__name__ if hasattr(module, "wsproto") else "-")
"""


async def app(scope: object, receive: object, send: object) -> None:
    """An ASGI app for uvicorn's Config to load."""


def test_uvicorn_auto_loads_another_implementation_and_the_log_says_so() -> None:
    require_uvicorn()
    proc = python(LOAD_UVICORN.format(ws="auto"), "1")
    assert proc.returncode == 0, proc.stderr
    assert "CLASS WebSocketsSansIOProtocol" in proc.stdout
    warning = next(line for line in proc.stdout.splitlines() if line.startswith("WARNING"))
    assert "uvicorn does not use wsproto" in warning and "--ws wsproto" in warning


def test_uvicorn_ws_wsproto_is_served_by_wsproto6455_and_the_log_says_so() -> None:
    require_uvicorn()
    proc = python(LOAD_UVICORN.format(ws="wsproto"), "1")
    assert proc.returncode == 0, proc.stderr
    assert "CLASS WSProtocol" in proc.stdout
    assert "WSPROTO wsproto6455.compat.wsproto" in proc.stdout      # the facade, really
    assert "INFO uvicorn uses wsproto for WebSockets: served by wsproto6455" in proc.stdout
    assert "WARNING" not in proc.stdout
