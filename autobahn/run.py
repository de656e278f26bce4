"""Run the Autobahn suite against wsproto6455 with kosoku, in both roles.

    python autobahn/run.py                          # full suite, both sides, speedups
    python autobahn/run.py --quick --backend pure   # sections 1-10 only
    python autobahn/run.py --mode server --cases '6.4.*' --exclude 6.4.4
    python autobahn/run.py --ci                     # both sides, and the server side pure, at once

Writes Autobahn-format reports (``index.json``, per-case JSON/HTML) and a
``SUMMARY.md`` to ``autobahn/reports/servers`` (our server under test) and
``autobahn/reports/clients`` (our client under test). Exits non-zero on any
FAILED, UNIMPLEMENTED or missing case, and on NON-STRICT in 6.4.x.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from kosoku import FailureError, run_fuzzingclient, run_fuzzingserver
from kosoku._report import write_reports  # kosoku's Autobahn-format writer, as its CLI uses it

import selection
import summary
import testees

FULL_SUITE = 517
#: side (the role of our testee) -> report folder, as Autobahn names them.
SIDE_DIRS = {"server": "servers", "client": "clients"}
DEFAULT_OUT = testees.HERE / "reports"
#: Server side cases in parallel: 4 was no faster than 2 on 2 cores here,
#: and the verdicts were identical at 1, 2 and 4.
SERVER_CONCURRENCY = 2
#: Client side cases in parallel (our client testee opens this many case
#: connections at once): a case is mostly round trips, so one at a time
#: leaves the cores idle between them.
CLIENT_CONCURRENCY = 2
#: Outer bound per side: kosoku has no handshake timeout and get_result()
#: waits forever. A full side takes 5-7 minutes here.
DEFAULT_TIMEOUT = 1800.0


@dataclass
class SideRun:
    side: str
    summary: summary.Summary
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.summary.problems()


def _kosoku_cases(case_ids: Sequence[str]) -> Optional[list[str]]:
    """Exact ids for kosoku, or None for the whole suite (same thing, shorter)."""
    return None if tuple(case_ids) == selection.ALL_CASES else list(case_ids)


async def _server_side(case_ids: Sequence[str], env: dict[str, str], log: Any, timeout: float) -> list[Any]:
    """kosoku as fuzzing client against testee_server.py."""
    async with testees.server_testee(env, log) as port:
        run = run_fuzzingclient(
            f"ws://{testees.HOST}:{port}", _kosoku_cases(case_ids), None,
            concurrency=SERVER_CONCURRENCY,
        )
        try:
            return list(await asyncio.wait_for(run, timeout))
        except FailureError as failure:
            return list(failure.results)


async def _client_side(case_ids: Sequence[str], env: dict[str, str], log: Any, timeout: float) -> list[Any]:
    """kosoku as fuzzing server for testee_client.py."""
    results: Optional[list[Any]] = None
    async with run_fuzzingserver(_kosoku_cases(case_ids), None, host=testees.HOST, port=0) as server:
        async with testees.client_testee(f"ws://{testees.HOST}:{server.port}", env, log,
                                         CLIENT_CONCURRENCY):
            try:
                results = list(await asyncio.wait_for(server.get_result(), timeout))
            except FailureError as failure:
                results = list(failure.results)
    if results is None:  # FuzzingServer.__aexit__ may swallow what went wrong
        raise RuntimeError("kosoku's fuzzing server stopped without results")
    return results


def _clear(outdir: Path) -> None:
    """Remove the previous run's files so no stale case survives into this report."""
    outdir.mkdir(parents=True, exist_ok=True)
    for pattern in ("*_case_*.json", "*_case_*.html", "index.json", "index.html", "SUMMARY.md", "testee.log"):
        for path in outdir.glob(pattern):
            path.unlink()


def _selection_text(case_ids: Sequence[str], how: str) -> str:
    if tuple(case_ids) == selection.ALL_CASES:
        return f"all {len(case_ids)} cases"
    return f"{len(case_ids)} of {len(selection.ALL_CASES)} cases ({how})"


def _meta(side: str, backend: str, found: dict[str, Any], results: list[Any], chosen: str) -> dict[str, str]:
    """What SUMMARY.md records about a run besides the verdicts."""
    return {
        "side": f"{side} (kosoku is the fuzzing {'client' if side == 'server' else 'server'})",
        "agent": str(results[0].agent) if results else "-",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "backend": f"{backend} (wsproto6455.SPEEDUPS={found['speedups']})",
        "versions": (
            f"wsproto6455 {found['version']}, kosoku {importlib.metadata.version('kosoku')}, "
            f"Python {platform.python_version()}, {platform.system()} {platform.machine()}, "
            f"{os.cpu_count()} CPUs"
        ),
        "selection": chosen,
    }


async def run_side(
    side: str,
    case_ids: Sequence[str],
    backend: str = "speedups",
    outdir: Path = DEFAULT_OUT,
    timeout: float = DEFAULT_TIMEOUT,
    how: str = "",
) -> SideRun:
    """Run ``case_ids`` with our testee in role ``side``; write reports under
    ``outdir/servers`` or ``outdir/clients`` and return the summary."""
    env = testees.testee_env(backend)
    found = testees.probe(env)
    if (backend == "speedups") != found["speedups"]:
        raise RuntimeError(
            f"backend {backend!r} requested but the testee imports {found['file']} "
            f"with SPEEDUPS={found['speedups']} (build the extension: pip install -e .)"
        )
    side_dir = outdir / SIDE_DIRS[side]
    _clear(side_dir)
    started, load_before = time.monotonic(), os.getloadavg()[0]
    outcome = "finished"
    with open(side_dir / "testee.log", "wb") as log:
        runner = _server_side if side == "server" else _client_side
        try:
            results = await runner(case_ids, env, log, timeout)
        except asyncio.TimeoutError:
            results, outcome = [], f"TIMED OUT after {timeout:g} s (no results)"
    wall = time.monotonic() - started
    if results:
        write_reports(results, str(side_dir))
        found_summary = summary.load(side_dir, case_ids)
    else:
        found_summary = summary.Summary(expected=list(case_ids), entries={})
    meta = _meta(side, backend, found, results, _selection_text(case_ids, how))
    meta["load average (1 min)"] = f"{load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    meta["run"] = f"{outcome} in {wall:.1f} s wall" + (
        _concurrency_text(SERVER_CONCURRENCY if side == "server" else CLIENT_CONCURRENCY)
    )
    problems = found_summary.problems()
    meta["verdict"] = f"FAIL: {len(problems)} problem(s)" if problems else "PASS"
    title = f"Autobahn results, wsproto6455 as the {side}"
    (side_dir / "SUMMARY.md").write_text(found_summary.markdown(title, meta))
    return SideRun(side, found_summary, meta)


def _concurrency_text(cases_at_once: int) -> str:
    return f", {cases_at_once} cases in parallel" if cases_at_once > 1 else ", one case at a time"


def _report(run: SideRun) -> None:
    print(f"\n== {run.meta['side']}, {run.meta['backend']}: {run.meta['selection']}, {run.meta['run']} -> {run.meta['verdict']}")
    print(run.summary.table())
    slowest = ", ".join(f"{c} {ms} ms" for c, ms in run.summary.slowest())
    if slowest:
        print(f"slowest: {slowest}")
    perf = run.summary.durations("9.")
    if perf:
        case, ms = max(perf, key=lambda item: item[1])
        print(f"9.x: {len(perf)} cases, slowest {case} {ms} ms, total {sum(ms for _, ms in perf)} ms")
    for line in run.summary.problem_lines():
        print(line)
    lenient = run.summary.non_strict_elsewhere()
    if lenient:
        print("NON-STRICT outside 6.4.x (allowed, explain each):", ", ".join(lenient))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run the Autobahn suite against wsproto6455 with kosoku.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--mode", choices=("server", "client", "both"), default="both",
                        help="which of our roles to test")
    parser.add_argument("--backend", choices=testees.BACKENDS, default="speedups")
    parser.add_argument("--cases", action="append", default=[], metavar="PATTERN",
                        help="case id, N.* or N.M.* (repeatable; default: all)")
    parser.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                        help="case id, N.* or N.M.* to leave out (repeatable)")
    parser.add_argument("--quick", action="store_true", help="sections 1-10 only (no 12.x, 13.x)")
    parser.add_argument("--outdir", type=Path, default=DEFAULT_OUT,
                        help="reports go to OUTDIR/servers and OUTDIR/clients")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per side")
    parser.add_argument("--ci", action="store_true",
                        help="both sides with speedups and the server side with the pure "
                             "backend (its reports go to OUTDIR/pure), as three processes at once")
    return parser


def _plan(args: argparse.Namespace) -> list[tuple[str, str, Path]]:
    """(side, backend, outdir) for each run, in order."""
    if args.ci:
        return [("server", "speedups", args.outdir), ("client", "speedups", args.outdir),
                ("server", "pure", args.outdir / "pure")]
    sides = ("server", "client") if args.mode == "both" else (args.mode,)
    return [(side, args.backend, args.outdir) for side in sides]


async def amain(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if len(selection.ALL_CASES) != FULL_SUITE:
        print(f"kosoku knows {len(selection.ALL_CASES)} cases, expected {FULL_SUITE}", file=sys.stderr)
        return 2
    try:
        case_ids = selection.select(args.cases, args.exclude, args.quick)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    how = " ".join(
        ["--quick"] * args.quick + [f"--cases {p}" for p in args.cases] + [f"--exclude {p}" for p in args.exclude]
    )
    if args.ci:
        return await _run_in_parallel(args)
    runs = []
    for side, backend, outdir in _plan(args):
        try:
            run = await run_side(side, case_ids, backend, outdir, args.timeout, how)
        except RuntimeError as exc:  # no testee to run: nothing to report
            print(f"{side} side: {exc}", file=sys.stderr)
            return 2
        _report(run)
        runs.append(run)
    return 0 if all(run.ok for run in runs) else 1


async def _run_in_parallel(args: argparse.Namespace) -> int:
    """Each run of the plan in a process of its own, all at once; their
    outputs are printed whole, in plan order.

    One run keeps about one core busy (the testee; the runner's Python case
    code shares its process's GIL), so on CI's two cores three runs at once
    take about half the wall time of three in a row. Every case still runs,
    with its own timeout; only the wall times in SUMMARY.md are inflated.
    """
    selection_args = (["--quick"] * args.quick + [f"--cases={p}" for p in args.cases]
                      + [f"--exclude={p}" for p in args.exclude] + [f"--timeout={args.timeout}"])
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--mode", side, "--backend", backend, "--outdir", str(outdir),
            *selection_args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        for side, backend, outdir in _plan(args)
    ]
    outputs = await asyncio.gather(*(child.communicate() for child in children))
    for (output, _), child in zip(outputs, children):
        sys.stdout.write(output.decode(errors="replace"))
        print(f"(exit status {child.returncode})")
    return max(child.returncode or 0 for child in children)


def main() -> None:
    sys.exit(asyncio.run(amain()))


if __name__ == "__main__":
    main()
