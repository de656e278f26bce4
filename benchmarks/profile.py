"""Profile wsproto6455 on one benchmark case with cProfile.

``python -m benchmarks.profile parse "4 KiB" 16`` runs the cell the benchmark
times for wsproto6455 (same inputs, same calls) for a few seconds under
cProfile and prints the top entries. ``--pure`` selects the pure-Python
backend, ``--whole`` the ``whole_messages=True`` setting.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from typing import Callable, Optional, Sequence

FAMILIES = ["parse", "deflate-parse", "serialize", "deflate-serialize", "handshake"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n")[0])
    parser.add_argument("family", choices=FAMILIES)
    parser.add_argument("case", help="part of the case name, e.g. 'whole', '4 KiB', 'client'")
    parser.add_argument("size", type=int, nargs="?", default=16, help="payload bytes (default 16)")
    parser.add_argument("--pure", action="store_true", help="pure-Python backend")
    parser.add_argument("--whole", action="store_true", help="whole_messages=True")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--sort", default="tottime", help="pstats sort key (default tottime)")
    args = parser.parse_args(argv)
    if args.pure:  # before wsproto6455 is imported: the backend is chosen then
        os.environ["WSPROTO6455_NO_SPEEDUPS"] = "1"

    from .adapters import ours
    from .cases import handshake, parsing, serializing

    deflate = "default" if args.family.startswith("deflate") else None
    module = {"parse": parsing, "serialize": serializing, "handshake": handshake}[args.family.split("-")[-1]]
    builders = module.cases(deflate)
    matches = [name for name in builders if name.startswith(args.case)]
    matches = matches or [name for name in builders if args.case in name]
    if len(matches) != 1:
        parser.error(f"case must match one of {list(builders)}")
    cell = builders[matches[0]](ours.peer(whole_messages=args.whole), args.size)
    print(f"{args.family} / {matches[0]} / {args.size} B / {cell.column}", file=sys.stderr)
    _profile(cell.fn, args.seconds).sort_stats(args.sort).print_stats(args.top)
    return 0


def _profile(fn: Callable[[], object], seconds: float) -> pstats.Stats:
    profiler = cProfile.Profile()
    deadline = time.perf_counter() + seconds
    profiler.enable()
    while time.perf_counter() < deadline:
        fn()
    profiler.disable()
    return pstats.Stats(profiler)


if __name__ == "__main__":
    sys.exit(main())
