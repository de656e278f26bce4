#!/usr/bin/env python
"""WebSocket echo throughput of a framework with wsproto vs with wsproto6455.

Starts the framework's server (uvicorn ``--ws wsproto``, or hypercorn) on
127.0.0.1 with an echo ASGI app, once with real wsproto and once with
``WSPROTO6455_AS_WSPROTO=1`` (the facade), and drives it from one client
(the ``websockets`` library, the same in both runs, so only the server's
protocol layer changes). Reports round trips per second and MB/s for a few
message sizes. Runs in the venv that compat/run_framework_suites.py built
for the framework (``--python``).

    python compat/bench_framework_echo.py --framework uvicorn
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SITE_DIR = REPO / "wsproto6455" / "compat" / "_site"

APP = '''
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "websocket"
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "bytes": message.get("bytes"),
                    "text": message.get("text")})
'''

CLIENT = '''
import json, sys, time
from websockets.sync.client import connect
port, sizes, seconds = int(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
out = {}
with connect(f"ws://127.0.0.1:{port}/", max_size=None, compression=None) as ws:
    for size in sizes:
        payload = b"x" * size
        for _ in range(50):  # warm-up
            ws.send(payload); ws.recv()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            ws.send(payload); ws.recv(); n += 1
        out[size] = n / (time.perf_counter() - start)
print(json.dumps(out))
'''

SERVERS = {
    "uvicorn": ["-m", "uvicorn", "echo_app:app", "--ws", "wsproto", "--host", "127.0.0.1",
                "--log-level", "warning", "--ws-max-size", str(64 << 20), "--port"],
    "hypercorn": ["-m", "hypercorn", "echo_app:app", "--log-level", "warning", "--bind"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def run_once(framework: str, python: Path, client_python: Path, layer: bool, sizes: list[int],
             seconds: float, workdir: Path) -> dict[str, float]:
    port = free_port()
    args = SERVERS[framework]
    target = str(port) if framework == "uvicorn" else f"127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WSPROTO6455_AS_WSPROTO")}
    env["PYTHONPATH"] = str(workdir)
    if layer:
        env["PYTHONPATH"] = os.pathsep.join([str(SITE_DIR), str(REPO), str(workdir)])
        env["WSPROTO6455_AS_WSPROTO"] = "1"
    server = subprocess.Popen([str(python), *args, target], cwd=workdir, env=env)
    try:
        wait_for(port)
        out = subprocess.run([str(client_python), "-c", CLIENT, str(port), json.dumps(sizes), str(seconds)],
                             capture_output=True, text=True, timeout=60 + seconds * len(sizes) * 2)
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["?"])[-1]
            raise RuntimeError(f"{framework} {'wsproto6455' if layer else 'wsproto'} leg: {last}")
        result: dict[str, float] = json.loads(out.stdout)
        return result
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--framework", choices=sorted(SERVERS), default="uvicorn")
    ap.add_argument("--python", type=Path, help="venv python (default: the suite runner's venv)")
    ap.add_argument("--client-python", type=Path,
                    default=Path("/tmp/wsproto6455-compat/uvicorn/venv/bin/python"),
                    help="a python with the websockets library (default: the uvicorn venv)")
    ap.add_argument("--sizes", default="64,4096,65536,1048576")
    ap.add_argument("--seconds", type=float, default=3.0, help="per size and leg")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternate the legs this many times; the best round counts (noise)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    python = args.python or Path(f"/tmp/wsproto6455-compat/{args.framework}/venv/bin/python")
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(f"/tmp/wsproto6455-compat/bench-{args.framework}")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "echo_app.py").write_text(APP)
    legs: dict[str, dict[str, float]] = {"wsproto": {}, "wsproto6455": {}}
    try:
        for _ in range(args.rounds):
            for leg, best in legs.items():
                result = run_once(args.framework, python, args.client_python,
                                  leg == "wsproto6455", sizes, args.seconds, workdir)
                for key, rate in result.items():
                    best[key] = max(best.get(key, 0.0), rate)
    except RuntimeError as exc:
        print(f"echo benchmark failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(legs))
        return 0
    print(f"{args.framework} echo, one client (websockets), {args.seconds:g} s per size, "
          f"best of {args.rounds} alternating rounds, round trips/s (MB/s each way)")
    print("| message size | with wsproto | with wsproto6455 | ratio |")
    print("|---:|---:|---:|---:|")
    for size in sizes:
        base, ours = legs["wsproto"][str(size)], legs["wsproto6455"][str(size)]
        print(f"| {size} B | {base:,.0f} ({base * size / 1e6:.1f}) | {ours:,.0f} "
              f"({ours * size / 1e6:.1f}) | {ours / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
