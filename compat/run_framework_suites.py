#!/usr/bin/env python
"""Run the WebSocket tests of frameworks that embed wsproto, twice.

For each framework in ``compat/frameworks.py``: create a throwaway venv under
``--work`` (default ``/tmp/wsproto6455-compat``), install the framework from
its PyPI sdist plus its test dependencies and real ``wsproto``, unpack the
sdist's tests, then run them

* with real wsproto (the baseline), and
* with ``wsproto6455.compat`` switched on through its pytest plugin and this
  checkout on ``PYTHONPATH`` (so ``import wsproto`` resolves to the layer).

It prints a table (passed / failed / errors / skipped per leg) and, with
``--write``, stores it in ``compat/RESULTS.md``. A test that fails in both
legs comes from the framework's own environment and is reported as such; a
test that fails only with the layer is a compatibility failure and is listed
by name. The network is used only to reach PyPI; the tests themselves talk
over 127.0.0.1.

    python compat/run_framework_suites.py                 # all frameworks
    python compat/run_framework_suites.py --only uvicorn  # one
    python compat/run_framework_suites.py --write         # update RESULTS.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from frameworks import FRAMEWORKS, Framework  # noqa: E402

WSPROTO_PIN = "wsproto==1.3.2"
PLUGIN = "wsproto6455.compat.pytest_plugin"


@dataclass
class Leg:
    """The outcome of one pytest run."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0
    timed_out: bool = False
    crashed: Optional[str] = None  # pytest could not run / produce a report
    outcomes: dict[str, str] = field(default_factory=dict)  # test id -> outcome
    flaky: set[str] = field(default_factory=set)  # failed, then passed on a rerun
    stamp: dict[str, object] = field(default_factory=dict)  # what the plugin saw

    def cell(self) -> str:
        if self.crashed:
            return f"did not run ({self.crashed})"
        text = f"{self.passed} / {self.failed} / {self.errors} / {self.skipped}"
        return text + (" (TIMEOUT)" if self.timed_out else "")

    @property
    def bad(self) -> set[str]:
        """Tests that failed (or errored) and failed again when rerun."""
        return {t for t, o in self.outcomes.items() if o in ("failed", "error")} - self.flaky


def run(cmd: Sequence[str], **kw: object) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run(list(cmd), check=True, **kw)  # type: ignore[call-overload]


def prepare(fw: Framework, work: Path, reuse: bool) -> tuple[Path, Path]:
    """Create the venv and unpack the sdist; return (python, source dir)."""
    base = work / fw.name
    venv = base / "venv"
    python = venv / "bin" / "python"
    # the marker names what was installed: a changed pin or dependency list rebuilds
    digest = hashlib.sha256(repr((fw.version, WSPROTO_PIN, fw.test_deps, fw.post_install)).encode()).hexdigest()[:12]
    marker = base / f".ready-{digest}"
    src = base / "src"
    if reuse and marker.exists() and python.exists():
        return python, src
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q"]
    sdists = base / "sdist"
    run(pip + ["download", "--no-deps", "--no-binary", ":all:",
               f"{fw.name}=={fw.version}", "-d", str(sdists)])
    (archive,) = sdists.iterdir()
    run(pip + ["install", str(archive), WSPROTO_PIN, *fw.test_deps])
    if fw.post_install:
        run(pip + ["install", "--no-deps", *fw.post_install])
    with tarfile.open(archive) as tar:
        tar.extractall(base / "unpacked", filter="data")
    (top,) = (base / "unpacked").iterdir()
    top.rename(src)
    marker.write_text(fw.version)
    return python, src


def junit_outcomes(path: Path) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure",):
                outcome = "failed"
            elif child.tag == "error":
                outcome = "error"
            elif child.tag == "skipped":
                outcome = "skipped"
        # a teardown error is reported as a second entry with the same name
        if outcomes.get(name) in ("failed", "error") and outcome == "passed":
            continue
        outcomes[name] = outcome
    return outcomes


def parse_junit(path: Path, leg: Leg) -> None:
    leg.outcomes = junit_outcomes(path)
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for outcome in leg.outcomes.values():
        counts[outcome] += 1
    leg.passed, leg.failed = counts["passed"], counts["failed"]
    leg.errors, leg.skipped = counts["error"], counts["skipped"]


def pytest_run(cmd: list[str], cwd: Path, env: dict[str, str], log: Path,
               timeout: float) -> tuple[Optional[int], bool]:
    """Run one pytest process in its own session; kill it whole on timeout."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return proc.returncode, True


def run_leg(fw: Framework, python: Path, src: Path, layer: bool, timeout: float,
            logs: Path) -> Leg:
    tag = "wsproto6455" if layer else "wsproto"
    junit = logs / f"{fw.name}-{tag}.xml"
    stamp = logs / f"{fw.name}-{tag}.stamp.json"
    log = logs / f"{fw.name}-{tag}.log"
    for stale in (junit, stamp):
        stale.unlink(missing_ok=True)
    cache = logs / f"cache-{fw.name}-{tag}"
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [str(python), "-m", "pytest", *fw.tests, "-o", "addopts=",
           "-o", f"cache_dir={cache}", "-q", "-rfE", *fw.pytest_args]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WSPROTO6455_AS_WSPROTO")}
    env.update(fw.extra_env)
    env["WSPROTO6455_COMPAT_STAMP"] = str(stamp)
    paths = [str(HERE / "pytest_helpers")] if fw.helpers else []
    for helper in fw.helpers:
        cmd += ["-p", helper]
    if layer:
        cmd += ["-p", PLUGIN]
        paths.append(str(REPO))
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    leg = Leg()
    start = time.monotonic()
    returncode, leg.timed_out = pytest_run(cmd + [f"--junitxml={junit}"], src / fw.rootdir,
                                           env, log, timeout)
    leg.seconds = time.monotonic() - start
    if junit.exists():
        parse_junit(junit, leg)
    else:
        leg.crashed = "timeout" if leg.timed_out else f"exit {returncode}, see {log}"
    if leg.bad and not leg.timed_out:
        # Rerun the failures once: a test that passes now is flaky (timing),
        # reported as such rather than blamed on either implementation.
        rerun = logs / f"{fw.name}-{tag}.rerun.xml"
        rerun.unlink(missing_ok=True)
        pytest_run(cmd + ["--lf", f"--junitxml={rerun}"], src / fw.rootdir, env,
                   logs / f"{fw.name}-{tag}.rerun.log", timeout)
        if rerun.exists():
            again = junit_outcomes(rerun)
            leg.flaky = {t for t in leg.bad if again.get(t) == "passed"}
    if stamp.exists():
        leg.stamp = json.loads(stamp.read_text())
    if layer and not leg.crashed and not leg.stamp.get("active"):
        leg.crashed = f"layer not active, see {log}"
    return leg


def note_for(fw: Framework, base: Leg, ours: Leg) -> str:
    parts = [fw.notes]
    env_failures = base.bad & ours.bad
    if env_failures:
        parts.append(f"{len(env_failures)} failing in both legs: framework environment, "
                     "not the layer")
    only_ours = sorted(ours.bad - base.bad)
    if only_ours:
        parts.append(f"{len(only_ours)} failing only with wsproto6455")
    only_base = sorted(base.bad - ours.bad)
    if only_base:
        parts.append(f"{len(only_base)} failing only with real wsproto")
    for leg, name in ((base, "wsproto"), (ours, "wsproto6455")):
        if leg.flaky:
            parts.append(f"{len(leg.flaky)} flaky with {name} (failed, then passed on rerun)")
    if ours.stamp.get("real_wsproto_loaded"):
        parts.append("real wsproto was imported too")
    return "; ".join(p for p in parts if p)


def render(rows: list[tuple[Framework, Leg, Leg]]) -> str:
    lines = [
        "| framework | version | with wsproto 1.3.2 (pass / fail / error / skip) "
        "| with wsproto6455 (pass / fail / error / skip) | note |",
        "|---|---|---|---|---|",
    ]
    for fw, base, ours in rows:
        lines.append(f"| {fw.name} | {fw.version} | {base.cell()} | {ours.cell()} "
                     f"| {note_for(fw, base, ours)} |")
    details: list[str] = []
    for fw, base, ours in rows:
        for title, names in (
            ("fail only with wsproto6455", sorted(ours.bad - base.bad)),
            ("fail in both legs (framework environment)", sorted(base.bad & ours.bad)),
            ("fail only with real wsproto", sorted(base.bad - ours.bad)),
            ("flaky with real wsproto", sorted(base.flaky)),
            ("flaky with wsproto6455", sorted(ours.flaky)),
        ):
            if names:
                details.append(f"\n**{fw.name}: {title}**\n")
                details.extend(f"- `{n}`" for n in names)
    return "\n".join(lines + details) + "\n"


def write_results(table: str, rows: list[tuple[Framework, Leg, Leg]], path: Path) -> None:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    timing = ", ".join(f"{fw.name} {b.seconds:.0f}s + {o.seconds:.0f}s" for fw, b, o in rows)
    path.write_text(
        "# Framework suites: real wsproto vs wsproto6455.compat\n\n"
        "Produced by `python compat/run_framework_suites.py --write` "
        f"on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"Python {platform.python_version()}, {platform.machine()}, checkout {commit} "
        "(plus uncommitted work at the time of the run).\n\n"
        "Each framework is installed from its PyPI sdist into a throwaway venv with its "
        "test dependencies; its own tests run twice: once with real wsproto, once with "
        "`-p wsproto6455.compat.pytest_plugin` (every `import wsproto...` resolves to the "
        "layer). Counts are tests, parametrisations included, from the first run of each "
        "leg; failures are rerun once (`--lf`) and those that then pass are reported as "
        "flaky (timing-sensitive tests on a loaded machine), not as differences. A test "
        "failing in both legs comes from the framework's own environment.\n\n"
        + table
        + f"\nWall time (baseline + layer): {timing}.\n"
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", help="framework name (repeatable)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/wsproto6455-compat"))
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per pytest run")
    ap.add_argument("--fresh", action="store_true", help="rebuild the venvs")
    ap.add_argument("--layer-only", action="store_true", help="skip the baseline leg")
    ap.add_argument("--write", action="store_true", help="write compat/RESULTS.md")
    args = ap.parse_args(argv)

    selected = [fw for fw in FRAMEWORKS if not args.only or fw.name in args.only]
    if not selected:
        ap.error(f"unknown framework; choose from {[fw.name for fw in FRAMEWORKS]}")
    logs = args.work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[Framework, Leg, Leg]] = []
    for fw in selected:
        try:
            python, src = prepare(fw, args.work, reuse=not args.fresh)
        except subprocess.CalledProcessError as exc:
            failed = Leg(crashed=f"install failed: {exc.cmd[-1]}")
            rows.append((fw, failed, failed))
            continue
        base = Leg(crashed="skipped") if args.layer_only else run_leg(
            fw, python, src, False, args.timeout, logs)
        ours = run_leg(fw, python, src, True, args.timeout, logs)
        rows.append((fw, base, ours))
        print(f"{fw.name}: wsproto {base.cell()} | wsproto6455 {ours.cell()}", flush=True)
    table = render(rows)
    print()
    print(table)
    if args.write:
        write_results(table, rows, HERE / "RESULTS.md")
    regressions = any(ours.bad - base.bad or ours.crashed for _, base, ours in rows)
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
