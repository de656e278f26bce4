"""The benchmark suite runs and reports well-formed results.

Speed is never asserted here: ``--smoke`` makes one call per case, only to
check that every case family runs and that the JSON has the documented
shape. The real figures come from ``python -m benchmarks``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import wire
from benchmarks.cases import FAMILIES
from benchmarks.harness import REFERENCES, Result, add_ratios

ROOT = Path(__file__).resolve().parents[1]
RESULT_KEYS = {
    "family", "case", "size", "column", "unit", "value", "mb_per_s", "best",
    "lower_is_better", "ratio", "repeats", "note",
}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    markdown = out.with_suffix(".md")
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--json", str(out), "--markdown", str(markdown)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert "== Masking" in run.stdout
    assert markdown.read_text().startswith("# Benchmark results")
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_meta_describes_the_run(smoke: dict[str, Any]) -> None:
    meta = smoke["meta"]
    assert meta["mode"] == "smoke"
    assert meta["command"].startswith("python -m benchmarks")
    machine = meta["machine"]
    assert machine["nproc"] >= 1 and machine["cpu"] and machine["python"]
    assert {"wsproto6455", "wsproto", "websockets", "aiohttp"} <= set(machine["versions"])
    assert isinstance(smoke["missing"], dict)


def test_every_family_reports(smoke: dict[str, Any]) -> None:
    families = {record["family"] for record in smoke["results"]}
    assert families == {family.name for family in FAMILIES}


def test_records_are_well_formed(smoke: dict[str, Any]) -> None:
    for record in smoke["results"]:
        assert set(record) == RESULT_KEYS, record
        # A figure, or a note saying why there is none.
        assert (record["value"] is None) != (record["note"] is None), record
        if record["value"] is not None:
            assert record["value"] > 0 and record["ratio"] > 0, record
            capped = not (record["lower_is_better"] or record["column"] in REFERENCES)
            assert record["ratio"] <= 1.0 + 1e-9 or not capped, record


def test_wsproto6455_columns_are_measured(smoke: dict[str, Any]) -> None:
    measured = {r["column"] for r in smoke["results"] if r["family"] == "parse" and r["value"]}
    assert measured & {"wsproto6455 (speedups)", "wsproto6455 (pure)"}, measured


def test_no_case_failed(smoke: dict[str, Any]) -> None:
    # A case that raises is reported as an "error: ..." note instead of a
    # figure, and the run goes on: here such a note is a failure (it once hid
    # a ReferenceError in our own parse columns).
    errors = [r for r in smoke["results"] if (r["note"] or "").startswith("error")]
    assert not errors, errors


def test_ratios_are_relative_to_the_best_of_each_row() -> None:
    results = [
        Result("parse", "fed whole", 16, "a", "msg/s", value=200.0),
        Result("parse", "fed whole", 16, "b", "msg/s", value=100.0),
        Result("memory", "idle", 0, "a", "bytes/conn", value=300.0, lower_is_better=True),
        Result("memory", "idle", 0, "b", "bytes/conn", value=100.0, lower_is_better=True),
        Result("memory", "idle", 0, "c", "bytes/conn", note="not installed"),
        Result("parse", "fed whole", 16, "zlib alone", "msg/s", value=400.0),  # a floor, not a contender
    ]
    add_ratios(results)
    assert [r.ratio for r in results] == [1.0, 0.5, 3.0, 1.0, None, 2.0]


def test_input_frames_match_rfc6455_examples() -> None:
    # RFC 6455 §5.7: a single-frame masked text message "Hello".
    assert wire.frame(b"Hello", mask=b"\x37\xfa\x21\x3d") == bytes.fromhex("8185 37fa213d 7f9f4d5158")
    assert wire.frame(b"Hello") == bytes.fromhex("8105 48656c6c6f")
    assert wire.accept_value(wire.KEY) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3


def test_rewriting_results_keeps_other_benchmarks_sections() -> None:
    """RESULTS.md's generated part is replaced; sections other benchmarks
    wrote between ``<!-- name:begin -->`` / ``<!-- name:end -->`` survive."""
    from benchmarks import report

    realtime = "<!-- realtime:begin -->\n## Broadcast\n| a |\n<!-- realtime:end -->"
    redis = "<!-- redis:begin -->\n## Redis\n<!-- redis:end -->"
    previous = f"# Benchmark results\nold tables\n\n{realtime}\n\nstray text\n{redis}\n"
    rewritten = report.keep_marked_sections("# Benchmark results\nnew tables\n", previous)
    assert rewritten.startswith("# Benchmark results\nnew tables\n")
    assert "old tables" not in rewritten and "stray text" not in rewritten
    assert realtime in rewritten and redis in rewritten
    assert rewritten.index(realtime) < rewritten.index(redis)
    assert report.keep_marked_sections("new\n", None) == "new\n"
