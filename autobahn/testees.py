"""Start the testees as subprocesses (their timings then exclude the runner's work).

Each testee imports ``wsproto6455`` from this checkout (after any PYTHONPATH
the caller set), with the backend chosen through ``WSPROTO6455_NO_SPEEDUPS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
HOST = "127.0.0.1"
BACKENDS = ("speedups", "pure")

#: How long a testee may take to import and bind before we give up.
STARTUP_TIMEOUT = 30.0
#: How long a testee gets to exit after SIGTERM before SIGKILL.
STOP_TIMEOUT = 5.0


def testee_env(backend: str) -> dict[str, str]:
    """The environment of a testee subprocess for ``backend``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}")
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([*paths, str(REPO)])
    env.pop("WSPROTO6455_NO_SPEEDUPS", None)
    if backend == "pure":
        env["WSPROTO6455_NO_SPEEDUPS"] = "1"
    return env


_PROBE = (
    "import json, wsproto6455 as w; "
    "print(json.dumps({'version': w.__version__, 'speedups': bool(w.SPEEDUPS), 'file': w.__file__}))"
)


def probe(env: dict[str, str]) -> dict[str, Any]:
    """What a testee with ``env`` would import: version, backend, location."""
    import subprocess  # only here: the rest of the module is asyncio

    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
        timeout=STARTUP_TIMEOUT, check=False, cwd=HERE,  # sys.path[0] as for the testees
    )
    if out.returncode != 0:
        raise RuntimeError(f"cannot import wsproto6455 for the testee:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


async def stop(process: asyncio.subprocess.Process) -> None:
    """Terminate one testee we started (by its pid), killing it if it lingers."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def server_testee(env: dict[str, str], log: IO[bytes]) -> AsyncIterator[int]:
    """Run testee_server.py on a free port; yields the port once it listens."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "testee_server.py"), "--host", HOST, "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=log, env=env, cwd=REPO,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT)
        if not line.startswith(b"listening on "):
            raise RuntimeError(f"testee server did not start (see {log.name})")
        yield int(line.rsplit(b":", 1)[1])
    finally:
        await stop(process)


@contextlib.asynccontextmanager
async def client_testee(
    url: str, env: dict[str, str], log: IO[bytes], concurrency: int = 1
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run testee_client.py against ``url`` (``concurrency`` cases at once);
    it is stopped on the way out."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "testee_client.py"), url, f"--concurrency={concurrency}",
        stdout=log, stderr=log, env=env, cwd=REPO,
    )
    try:
        yield process
    finally:
        await stop(process)
