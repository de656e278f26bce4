"""``python -m benchmarks``: run the cases, print the tables, write JSON/Markdown.

Everything runs in this process, except the wsproto6455 (pure) column of the
cases that go through a connection: that backend is chosen at import, so a
subprocess with ``WSPROTO6455_NO_SPEEDUPS=1`` measures it and its results
are merged here. The echo servers run in subprocesses of their own.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # ``python benchmarks/run.py``: run it as the package instead.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.run import main as _main

    sys.exit(_main())

import argparse
import json
import os
import shlex
import subprocess
import tempfile
import time
from typing import Any, Optional, Sequence

from . import adapters, report
from .cpu_share import CpuShare
from .adapters import ours
from .cases import FAMILIES, Context, Family
from .harness import MODES, Result, add_ratios, note_for

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--quick", action="store_true", help="short runs (under a minute)")
    speed.add_argument("--smoke", action="store_true", help="one call per case: checks that everything runs")
    parser.add_argument("--only", nargs="+", metavar="CASE", choices=[f.name for f in FAMILIES],
                        help="case families to run (default: all): %(choices)s")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="write the tables as Markdown (RESULTS.md)")
    parser.add_argument("--no-pure", action="store_true",
                        help="skip the pure-backend subprocess for the wsproto6455 (pure) column")
    parser.add_argument("--pure-child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _mode_name(args: argparse.Namespace) -> str:
    return "smoke" if args.smoke else "quick" if args.quick else "full"


def _run_families(families: list[Family], ctx: Context) -> list[Result]:
    results = []
    for family in families:
        started = time.perf_counter()
        print(f"[{family.name}] ...", file=sys.stderr, flush=True)
        try:
            results += family.run(ctx)
        except Exception as exc:  # noqa: BLE001 - one broken family must not lose the others
            results.append(Result(family.name, "(all)", 0, "(run)", "", note=note_for(exc)))
        print(f"[{family.name}] {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return results


def _pure_run(families: list[Family], mode: str) -> tuple[list[Result], list[Result]]:
    """The wsproto6455 (pure) columns, measured in a subprocess beside the
    peers (so that their ratios are same-run ratios), and those peers."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pure.json"
        command = [sys.executable, "-m", "benchmarks", "--pure-child", "--json", str(out),
                   "--only", *[f.name for f in families]]
        if mode != "full":
            command.append(f"--{mode}")
        env = {**os.environ, "WSPROTO6455_NO_SPEEDUPS": "1"}
        subprocess.run(command, cwd=ROOT, env=env, check=True)
        results = [Result(**record) for record in json.loads(out.read_text())["results"]]
    ours = [r for r in results if r.column.startswith("wsproto6455 (pure")]
    return ours, [r for r in results if not r.column.startswith("wsproto6455")]


def _speedups() -> Optional[bool]:
    try:
        return ours.speedups_active()
    except ImportError:
        return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    mode = MODES[_mode_name(args)]
    families = [f for f in FAMILIES if not args.only or f.name in args.only]
    if args.pure_child:
        families = [f for f in families if f.backend_bound]
    peers, missing = adapters.load()
    started = time.time()
    cpu = CpuShare()
    results = _run_families(families, Context(mode, peers, pure_child=args.pure_child))

    speedups = _speedups()
    bound = [f for f in families if f.backend_bound]
    pure_peers: list[Result] = []  # the peers as measured beside the pure backend
    if speedups and bound and not (args.pure_child or args.no_pure):
        print("[wsproto6455 (pure)] subprocess ...", file=sys.stderr, flush=True)
        try:
            pure, pure_peers = _pure_run(bound, mode.name)
            results += pure
        except (OSError, subprocess.CalledProcessError, ValueError) as exc:
            missing["wsproto6455 (pure)"] = f"pure-backend subprocess failed: {exc}"
    add_ratios(results)

    meta: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)]),
        "mode": mode.name,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "speedups": speedups,
        "machine": report.machine(),
        "cpu_share": cpu.describe(),
    }
    titles = {f.name: f.title for f in FAMILIES}
    payload = {
        "meta": meta, "missing": missing, "results": [r.as_json() for r in results],
        "pure_run_peers": [r.as_json() for r in pure_peers],
    }
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=1) + "\n")
    if not args.pure_child:
        sys.stdout.write(report.text(meta, results, pure_peers, titles, missing))
    if args.markdown:
        path = Path(args.markdown)
        previous = path.read_text() if path.exists() else None
        generated = report.markdown(meta, results, pure_peers, titles, missing)
        path.write_text(report.keep_marked_sections(generated, previous))
    return 0


if __name__ == "__main__":
    sys.exit(main())
