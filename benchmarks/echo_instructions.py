"""Instructions per echo round trip in each echo server, counted by callgrind.

``python -m benchmarks.echo_instructions [NAME ...]`` starts each library's
echo server (``benchmarks.echo_server``) under ``valgrind --tool=callgrind``,
makes ``FEW`` and then, in a fresh server, ``MANY`` 16-byte round trips from
a blocking client, and prints the difference of the two totals divided by
``MANY - FEW``: the server's instructions per round trip, start-up excluded.
Instruction counts do not depend on what else the machine runs, unlike the
timings of the echo case; they count CPU work, not the system calls' time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .cases.echo import FRAME, BlockingClient
from .echo_server import SERVERS

FEW, MANY = 1000, 4000
ECHO_SIZE = 18  # the 16-byte text frame as the server sends it back


def _total_instructions(name: str, round_trips: int, directory: Path) -> int:
    out = directory / f"callgrind.{name}.{round_trips}"
    root = str(Path(__file__).resolve().parents[1])
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
         sys.executable, "-m", "benchmarks.echo_server", name],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=root,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        line = server.stdout.readline().strip()
        if not line.isdigit():
            raise RuntimeError(f"{name}: {line or 'server exited'}")
        client = BlockingClient(int(line))
        client.sock.setblocking(True)
        for _ in range(round_trips):
            client.sock.sendall(FRAME)
            received = 0
            while received < ECHO_SIZE:
                received += len(client.sock.recv(ECHO_SIZE - received))
        client.close()
    finally:
        server.stdin.close()  # the server exits; callgrind writes its totals
        server.wait()
    for text in out.read_text().splitlines():
        if text.startswith(("summary:", "totals:")):
            return int(text.split()[1])
    raise RuntimeError(f"{name}: no totals in {out}")


def main() -> int:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed", file=sys.stderr)
        return 1
    names = sys.argv[1:] or ["wsproto6455", "picows"]
    unknown = [name for name in names if name not in SERVERS]
    if unknown:
        print(f"unknown servers {unknown}; choose from {sorted(SERVERS)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            try:
                few = _total_instructions(name, FEW, Path(tmp))
                many = _total_instructions(name, MANY, Path(tmp))
            except (RuntimeError, OSError) as exc:
                print(f"{name:12} unavailable: {exc}")
                continue
            print(f"{name:12} {(many - few) / (MANY - FEW):10,.0f} instructions per round trip")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")  # the same dict layouts in every run
    sys.exit(main())
