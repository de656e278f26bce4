"""The test infrastructure's own contract: real Redis processes, started and stopped."""

from __future__ import annotations

import pytest

from port_helpers import CLUSTER_BUS_OFFSET, HIGHEST_CLUSTER_PORT, free_cluster_port, port_is_free
from redis_helpers import (  # noqa: F401  (fixtures)
    RedisCluster, RedisServer, in_ci, ping, redis_cluster, redis_server, skip_or_fail, wait_until,
)


def test_server_answers_and_has_no_persistence(redis_server: RedisServer) -> None:
    assert ping(redis_server.port)
    assert redis_server.cli("config", "get", "save").split()[1:] in ([], [""])
    assert "appendonly\nno" in redis_server.cli("config", "get", "appendonly")


def test_server_killed_and_restarted_on_the_same_port(redis_server: RedisServer) -> None:
    port = redis_server.port
    redis_server.cli("set", "k", "v")
    redis_server.kill()
    assert not ping(port)
    redis_server.start()
    assert redis_server.port == port and ping(port)
    # No persistence: a crash loses everything, as the broker's docs assume.
    assert redis_server.cli("get", "k").strip() == ""


def test_cluster_has_three_masters_covering_every_slot(redis_cluster: RedisCluster) -> None:
    info = redis_cluster.nodes[0].cli("cluster", "info")
    assert "cluster_state:ok" in info
    assert "cluster_slots_assigned:16384" in info
    assert "cluster_known_nodes:3" in info
    masters = [line for line in redis_cluster.nodes[0].cli("cluster", "nodes").splitlines()
               if "master" in line]
    assert len(masters) == 3


def test_missing_binary_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert in_ci()
    with pytest.raises(pytest.fail.Exception):
        skip_or_fail("redis-server is missing")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        skip_or_fail("redis-server is missing")


def test_wait_until_times_out() -> None:
    with pytest.raises(TimeoutError):
        wait_until(lambda: False, 0.05, "nothing")


def test_cluster_ports_leave_room_for_the_bus_port() -> None:
    # Redis refuses a cluster port above 55,535 (its bus listens 10,000 higher);
    # the kernel's ephemeral ports often are, which once failed CI.
    for _ in range(200):
        port = free_cluster_port()
        assert 1024 < port <= HIGHEST_CLUSTER_PORT
        assert port_is_free(port) and port_is_free(port + CLUSTER_BUS_OFFSET)
