"""Real Redis processes for the tests: one server, or a 3-node cluster.

Each is started on free loopback ports, without persistence, in a temporary
directory, and killed afterwards. Without the ``redis-server`` binary a test
that needs it is skipped, unless ``CI=true`` (as in ``.ci/run``), where the
skip becomes a failure: CI must never pass by skipping the Redis tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional

import pytest

from port_helpers import free_cluster_port, free_port

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip locally; fail under CI=true."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def require_redis_binaries() -> None:
    if REDIS_SERVER is None or REDIS_CLI is None:
        skip_or_fail("redis-server/redis-cli are not installed (apt-get install redis-server redis-tools)")


def ping(port: int, timeout: float = 0.5) -> bool:
    """True when a Redis on 127.0.0.1:port answers PING with +PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def wait_until(predicate: "object", timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class RedisServer:
    """One redis-server process; ``kill()`` and ``start()`` keep the port."""

    port: int
    directory: str
    extra_args: List[str] = field(default_factory=list)
    process: Optional["subprocess.Popen[bytes]"] = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        assert REDIS_SERVER is not None
        args = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self.directory,
            "--logfile", os.path.join(self.directory, "redis.log"),
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_until(lambda: self.process.poll() is not None or ping(self.port), 10.0,
                       f"redis-server on port {self.port}")
        except TimeoutError:
            self.kill()
            raise
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server on port {self.port} exited: {self.log_tail()}")
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would (no shutdown, no goodbye to clients)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def cli(self, *args: str) -> str:
        assert REDIS_CLI is not None
        out = subprocess.run(
            [REDIS_CLI, "-p", str(self.port), *args],
            check=True, capture_output=True, timeout=10,
        )
        return out.stdout.decode()

    def log_tail(self) -> str:
        try:
            with open(os.path.join(self.directory, "redis.log")) as log:
                return "".join(log.readlines()[-10:])
        except OSError:
            return "(no log)"


def start_server(extra_args: Optional[List[str]] = None) -> RedisServer:
    require_redis_binaries()
    return start_server_in(
        tempfile.mkdtemp(prefix="wsproto6455-redis-"), free_port, list(extra_args or [])
    )


def stop_server(server: RedisServer) -> None:
    server.kill()
    shutil.rmtree(server.directory, ignore_errors=True)


@dataclass
class RedisCluster:
    """Three master nodes, no replicas, every slot assigned."""

    nodes: List[RedisServer]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    @property
    def startup_nodes(self) -> List[str]:
        return [f"127.0.0.1:{node.port}" for node in self.nodes]


def start_cluster(size: int = 3) -> RedisCluster:
    require_redis_binaries()
    assert REDIS_CLI is not None
    nodes: List[RedisServer] = []
    try:
        for _ in range(size):
            directory = tempfile.mkdtemp(prefix="wsproto6455-redis-cluster-")
            nodes.append(start_server_in(directory, free_cluster_port, [
                "--cluster-enabled", "yes",
                "--cluster-config-file", os.path.join(directory, "nodes.conf"),
                "--cluster-node-timeout", "2000",
            ]))
        subprocess.run(
            [REDIS_CLI, "--cluster", "create",
             *(f"127.0.0.1:{node.port}" for node in nodes),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )
        wait_until(lambda: all("cluster_state:ok" in node.cli("cluster", "info") for node in nodes),
                   20.0, "cluster_state:ok on every node")
        return RedisCluster(nodes)
    except BaseException:
        for node in nodes:
            stop_server(node)
        raise


def start_server_in(
    directory: str, choose_port: Callable[[], int], extra_args: List[str]
) -> RedisServer:
    # A free port can be taken between the probe and the bind: retry.
    for attempt in range(3):
        server = RedisServer(choose_port(), directory, extra_args)
        try:
            return server.start()
        except (TimeoutError, RuntimeError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def stop_cluster(cluster: RedisCluster) -> None:
    for node in cluster.nodes:
        stop_server(node)


# Fixtures: test modules import them by name (``from redis_helpers import redis_server``).

@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server per test (a test may kill and restart it)."""
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisCluster]:
    """A 3-node Redis Cluster shared by a module's tests (it takes ~1 s to form)."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
