"""Free loopback ports for the servers the tests start."""

from __future__ import annotations

import random
import socket

# Redis Cluster listens on its bus at port + 10,000, so a node's port must be at
# most 55,535 and both ports must be free.
CLUSTER_BUS_OFFSET = 10_000
HIGHEST_CLUSTER_PORT = 65_535 - CLUSTER_BUS_OFFSET


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out on ``host`` (free unless raced)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_cluster_port(host: str = "127.0.0.1") -> int:
    """A port ≤ 55,535 that is free together with its cluster bus port."""
    # The kernel's ephemeral range usually starts above 32,768 and reaches past
    # 55,535, so ask for a port in a range below it instead.
    for _ in range(1000):
        port = random.randint(20_000, HIGHEST_CLUSTER_PORT)
        if port_is_free(port, host) and port_is_free(port + CLUSTER_BUS_OFFSET, host):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")
