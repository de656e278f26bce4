"""What the run prints and writes: machine facts, tables, JSON, Markdown."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import re
import sys
import zlib
from typing import Any, Callable, Iterable, Optional

from . import targets
from .harness import Result
from .payloads import size_label

#: Column order of every table; a table shows the columns it has results for.
COLUMNS = [
    "wsproto6455 (speedups)", "wsproto6455 (speedups, whole)", "wsproto6455 (pure)",
    "wsproto6455 (pure, whole)", "wsproto", "websockets", "aiohttp",
    "aiohttp (py)", "picows", "bytes.decode", "wsaccel", "zlib alone",
]
_DISTRIBUTIONS = ["wsproto6455", "wsproto", "websockets", "aiohttp", "picows", "wsaccel"]
_KERNELS = {"masking", "utf8"}  # figures are MB/s already


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or model
    versions = {}
    for name in _DISTRIBUTIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = _module_version(name)
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": model,
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "versions": versions,
    }


def _module_version(name: str) -> str:
    """For a package used from a checkout (not installed): its __version__."""
    try:
        return str(importlib.import_module(name).__version__) + " (checkout)"
    except (ImportError, AttributeError):
        return "not installed"


def _human(value: float) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _megabytes(mb: float) -> str:
    return f"{mb / 1000:.3g} GB/s" if mb >= 1000 else f"{mb:.3g} MB/s"


def cell_text(res: Result) -> str:
    if res.value is None:
        return "–"
    if res.family in _KERNELS:
        text = _megabytes(res.value)
    elif res.lower_is_better:
        text = f"{res.value / 1024:.1f} KiB"
    else:
        text = _human(res.value)
        if res.mb_per_s is not None and res.size >= 1024:
            text += f" · {_megabytes(res.mb_per_s)}"
    return f"{text} ({res.ratio:.2f})" if res.ratio is not None else text


def _table(results: list[Result]) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, rows of cell texts, and the notes of one family's results."""
    present = {r.column for r in results}
    columns = [c for c in COLUMNS if c in present] + sorted(present - set(COLUMNS))
    grid: dict[tuple[str, int], dict[str, Result]] = {}
    for res in results:
        grid.setdefault((res.case, res.size), {})[res.column] = res
    rows = [
        [case, size_label(size) if size else ""] + [cell_text(cells[c]) if c in cells else "" for c in columns]
        for (case, size), cells in grid.items()
    ]
    notes = sorted({f"{r.column}: {r.note}" for r in results if r.note})
    return ["case", "size"] + columns, rows, notes


def _by_family(results: list[Result], titles: dict[str, str]) -> Iterable[tuple[str, list[Result]]]:
    for family, title in titles.items():
        members = [r for r in results if r.family == family]
        if members:
            yield title, members


def _render(
    results: list[Result], titles: dict[str, str],
    table: Callable[[list[str], list[list[str]]], list[str]], heading: Callable[[str], str],
) -> list[str]:
    lines = []
    for title, members in _by_family(results, titles):
        header, rows, notes = _table(members)
        lines += ["", heading(title), ""] + table(header, rows)
        lines += [""] + [f"- {note}" for note in notes] if notes else []
    return lines


def _aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        return "  ".join(text.ljust(width) for text, width in zip(row, widths)).rstrip()

    return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(row) for row in rows]


def _markdown(header: list[str], rows: list[list[str]]) -> list[str]:
    def fmt(row: list[str]) -> str:
        return "| " + " | ".join(row) + " |"

    return [fmt(header), fmt(["---"] * len(header))] + [fmt(row) for row in rows]


LEGEND = (
    "Each cell: the median over interleaved repeats, and in parentheses its ratio to "
    "the best library of its row (rates: fraction of the fastest; memory: multiple of the "
    "smallest; 'zlib alone' is a floor, not a contender). Message rates count messages; "
    "MB/s counts payload bytes (10^6)."
)

#: How each figure is obtained (written at the top of RESULTS.md).
METHOD = """\
How to read these figures:

- Same process, same inputs: every column of a table is timed in the same rounds (order
  rotated each round, median of the rounds), on identical bytes built by `benchmarks/wire.py`.
  The exception is **wsproto6455 (pure)** in the connection-level tables: the backend is
  chosen at import, so a subprocess with `WSPROTO6455_NO_SPEEDUPS=1` measures it, again
  beside all the peers; its ratio is to the best library of that subprocess's row, and the
  targets compare it with the peers of that subprocess (they are in the JSON as
  `pure_run_peers`). The pure kernels (masking, UTF-8) are imported directly and measured
  in-process. "(…, whole)": wsproto6455 with `whole_messages=True` (one event per message,
  as websockets and aiohttp deliver them); the default is wsproto's frame-by-frame delivery.
- The machine is shared (2 cores, other jobs running): absolute figures move between runs;
  the ratios within one table are what count.
- Parsing: a server connection after a real handshake is fed masked client text frames
  (each with its own random key), whole or in 4 KiB reads cut anywhere, and every message
  event is taken. wsproto6455 and wsproto: `receive_data` + `events()` (default, frame-by-frame
  delivery). websockets: `ServerProtocol.receive_data` + `events_received()` + decoding the
  text (its sans-IO core leaves UTF-8 to its I/O layer). aiohttp: its `WebSocketReader` (the
  compiled `reader_c`, and `reader_py` as "aiohttp (py)", which still uses the compiled mask)
  fed through `feed_data`, each message taken with `WebSocketDataQueue.read()`, as
  `ws.receive()` does.
- Serialization: one text message (`str`) per call, encoded by the library or as its
  `send(str)` does; client frames are masked with a fresh random key. aiohttp: its
  `WebSocketWriter.send_frame` on a collecting transport.
- permessage-deflate: negotiated in a real handshake from a browser's offer
  (`permessage-deflate; client_max_window_bits`), each library configured as its own server
  does by default (websockets: `serve()`'s 12-bit windows and memLevel 5; wsproto6455, wsproto:
  `PerMessageDeflate()`; aiohttp: `compress=15`). Client messages are compressed like a
  browser's (zlib defaults, context takeover). aiohttp compresses at level 1 (Z_BEST_SPEED),
  the others at zlib's default level 6: that, not framing, is its lead on large messages;
  its large compressions run in an executor, as aiohttp does. "zlib alone" does only the
  (de)compression of the same messages (level 6, 15-bit window).
- Handshake: a new connection per call; the client case includes a shared helper that
  computes the 101 from the request's key (same cost in every column). aiohttp has no sans-IO
  handshake.
- Echo: one common client (pre-built masked frames, counts echoed frames) against each
  library's documented echo server with default options, each server in its own subprocess
  on 127.0.0.1 (TCP_NODELAY on both ends). Round trips: one message in flight, from a
  socket of its own that the client spins on (send, then poll until the echo is back; a
  sleeping vCPU on these machines takes tens of microseconds to wake, which would swamp the
  servers' differences), so the server's latency is what is measured; idle connections answer
  the servers' keepalive pings between measurements. Pipelined: up to 256 in flight, from a
  raw asyncio protocol.
- Memory: tracemalloc, per server connection after the handshake and one message each way,
  keeping only the library's connection object. "lean": 10-bit windows both ways and
  memLevel 4 where the library can set them (wsproto cannot set memLevel).
"""


def _targets(
    table: Callable[[list[str], list[list[str]]], list[str]], heading: str, results: list[Result],
    pure_peers: list[Result],
) -> list[str]:
    met = targets.rows(results, pure_peers)
    if not met:
        return []
    note = ("A goal in msg/s was set next to a peer's figure on these machines; it is restated as a "
            "ratio to that peer measured in this run, which decides 'met'.")
    return ["", heading, "", note, ""] + table(targets.HEADER, met)


def _facts(meta: dict[str, Any]) -> list[str]:
    m = meta["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    return [
        f"machine: {m['nproc']} CPUs ({m['usable_cpus']} usable), {m['cpu']}, {m['platform']}",
        f"python: {m['python']}, zlib {m['zlib']}; wsproto6455 speedups built: {meta['speedups']}",
        f"versions: {versions}",
        f"mode: {meta['mode']}; command: {meta['command']}",
    ] + ([meta["cpu_share"]] if meta.get("cpu_share") else [])


def text(meta: dict[str, Any], results: list[Result], pure_peers: list[Result], titles: dict[str, str],
         missing: dict[str, str]) -> str:
    lines = _facts(meta) + [f"not available: {c}: {n}" for c, n in missing.items()] + ["", LEGEND]
    lines += _render(results, titles, _aligned, lambda title: f"== {title} ==")
    lines += _targets(_aligned, "== Targets (issues 2, 3, 4, 6, 15) ==", results, pure_peers)
    return "\n".join(lines) + "\n"


#: RESULTS.md: sections written by other benchmarks sit between
#: ``<!-- name:begin -->`` and ``<!-- name:end -->`` lines; a rewrite of the
#: generated part keeps them (e.g. benchmarks/broadcast.py's realtime section).
_MARKED = re.compile(r"^<!-- ([\w.-]+):begin -->$.*?^<!-- \1:end -->$", re.M | re.S)


def keep_marked_sections(generated: str, previous: Optional[str]) -> str:
    """``generated``, followed by the marked sections of ``previous``."""
    kept = [m.group(0) for m in _MARKED.finditer(previous or "")]
    return generated + "".join("\n" + section + "\n" for section in kept)


def markdown(
    meta: dict[str, Any], results: list[Result], pure_peers: list[Result], titles: dict[str, str],
    missing: dict[str, str], preamble: Optional[str] = None,
) -> str:
    lines = ["# Benchmark results", ""]
    if preamble:
        lines += [preamble, ""]
    lines += [f"- {fact}" for fact in _facts(meta)]
    lines += [f"- not available: {c}: {n}" for c, n in missing.items()]
    lines += _targets(_markdown, "## Targets (issues 2, 3, 4, 6, 15)", results, pure_peers)
    lines += ["", LEGEND, "", METHOD]
    lines += _render(results, titles, _markdown, lambda title: f"## {title}")
    return "\n".join(lines) + "\n"
