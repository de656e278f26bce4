"""The broadcast benchmark runs end to end (tiny sizes) and writes only its section."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_broadcast_benchmark_smoke(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\nother sections\n")
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.broadcast", "--connections", "20", "--rounds", "1",
         "--slow-count", "300", "--markdown", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    text = results.read_text()
    assert text.startswith("# Benchmark results\n\nother sections\n")
    assert text.count("<!-- realtime:begin -->") == 1
    for row in ("| 20 | 200 B | plain |", "| 20 | 2 KiB | deflate |", "| wsproto6455 | 300 |",
                "| websockets | 300 |"):
        assert row in text, row
