"""A small exact subset of the Autobahn suite, both roles, through autobahn/run.py.

The full suite is ``python autobahn/run.py`` (minutes); this is the check that
runs with every test run (seconds). It uses the backend this test process has
(the Makefile runs the suite once per backend) and kosoku, the same runner.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("kosoku")

AUTOBAHN = Path(__file__).resolve().parent.parent / "autobahn"
sys.path.insert(0, str(AUTOBAHN))  # autobahn/ is a folder of scripts, not a package

import run  # noqa: E402
import wsproto6455  # noqa: E402

#: One or more cases from each area: frames of every size class, control
#: frames, reserved bits and opcodes, fragmentation, fail-fast UTF-8 (6.4.x),
#: close codes, a performance case, and permessage-deflate with and without
#: context takeover (13.2.1 needs client_no_context_takeover in our offer).
CASES = [
    "1.1.1", "1.1.6", "1.2.8", "2.3", "2.10", "3.2", "4.2.3", "5.6", "5.15",
    "6.2.3", "6.4.1", "6.4.3", "7.1.5", "7.5.1", "7.9.6", "9.1.1", "10.1.1",
    "12.1.1", "13.1.1", "13.2.1",
]
BACKEND = "speedups" if wsproto6455.SPEEDUPS else "pure"


@pytest.mark.parametrize("side", ["server", "client"])
def test_quick_subset_passes(side: str, tmp_path: Path) -> None:
    result = asyncio.run(run.run_side(side, CASES, BACKEND, tmp_path, timeout=120.0))

    verdicts = result.summary.verdicts()
    assert sorted(verdicts) == sorted(CASES), result.summary.missing
    bad = {case: v for case, v in verdicts.items() if v not in ("OK", "INFORMATIONAL")}
    assert not bad, "\n".join(result.summary.problem_lines())
    assert result.ok

    # The reports are Autobahn's format and name our library.
    report_dir = tmp_path / run.SIDE_DIRS[side]
    index = json.loads((report_dir / "index.json").read_text())
    (agent,) = index
    assert agent.startswith("wsproto6455/")
    assert set(index[agent]) == set(CASES)
    summary_md = (report_dir / "SUMMARY.md").read_text()
    assert "verdict: PASS" in summary_md
    assert f"backend: {BACKEND}" in summary_md


def test_ci_mode_runs_both_sides_and_the_pure_server_at_once(tmp_path: Path) -> None:
    # --ci is what CI runs: three runs in three processes at once, each
    # writing its own reports; the exit status is the worst of the three.
    completed = run_script("--ci", "--cases=1.1.1", "--cases=12.1.1", f"--outdir={tmp_path}")
    assert completed.returncode == 0, completed.stdout
    for report_dir, backend in ((tmp_path / "servers", "speedups"), (tmp_path / "clients", "speedups"),
                                (tmp_path / "pure" / "servers", "pure")):
        summary_md = (report_dir / "SUMMARY.md").read_text()
        assert "verdict: PASS" in summary_md
        assert f"backend: {backend}" in summary_md
        assert set(json.loads((report_dir / "index.json").read_text()).popitem()[1]) == {"1.1.1", "12.1.1"}
    assert completed.stdout.count("-> PASS") == 3


def test_ci_mode_fails_when_one_run_fails(tmp_path: Path) -> None:
    # A timeout shorter than the client testee's start: the client side
    # reports TIMED OUT and fails, and so does the whole.
    completed = run_script("--ci", "--cases=1.1.1", "--timeout=0.01", f"--outdir={tmp_path}")
    assert completed.returncode == 1, completed.stdout
    assert "TIMED OUT" in completed.stdout
    assert "(exit status 1)" in completed.stdout


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(AUTOBAHN / "run.py"), *args], capture_output=True,
                          text=True, timeout=300)
