"""Real ``examples/chat.py`` server processes for the tests and the benchmark.

Each server is its own Python process on a free loopback port (several of them
share one redis-server), started with the command line a user types, and
killed with SIGKILL when a test wants a crash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from port_helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
CHAT = ROOT / "examples" / "chat.py"


def http_get(port: int, path: str, headers: Optional[Dict[str, str]] = None,
             timeout: float = 5.0) -> Tuple[int, Dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def hs256_token(secret: str, claims: Dict[str, object]) -> str:
    """A JWT made here with the stdlib, independent of the server's code."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


@dataclass
class ChatServer:
    redis_url: Optional[str] = None
    extra_args: List[str] = field(default_factory=list)
    port: int = 0
    process: Optional["subprocess.Popen[bytes]"] = None
    log_path: Optional[Path] = None

    def start(self, log_dir: Path, timeout: float = 20.0) -> "ChatServer":
        if not self.port:
            self.port = free_port()
        args = [sys.executable, str(CHAT), "--port", str(self.port), "--host", "127.0.0.1"]
        if self.redis_url:
            args += ["--redis", self.redis_url]
        args += self.extra_args
        self.log_path = log_dir / f"chat-{self.port}.log"
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chat server exited with {self.process.returncode}: {self.log()}")
            try:
                if http_get(self.port, "/healthz", timeout=1.0)[0] in (200, 503):
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"chat server on {self.port} did not answer /healthz: {self.log()}")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, no goodbye to Redis or the clients."""
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        try:
            return self.log_path.read_text()[-3000:] if self.log_path else ""
        except OSError:
            return ""

    def ws_url(self, room: str, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/rooms/{room}" + (f"?{query}" if query else "")

    def metrics(self) -> Dict[str, float]:
        """``name{labels} value`` lines of /metrics, as a dict."""
        status, _, body = http_get(self.port, "/metrics")
        assert status == 200
        values: Dict[str, float] = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def rss_bytes(self) -> int:
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")
