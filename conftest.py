"""Shared pytest fixtures: Docker detection and one shared 2/2/2 cluster for the integration tests.

Integration tests are marked `docker`. Without a Docker daemon they skip with a reason, except in CI
(MISTRAL_LAB_REQUIRE_DOCKER=1, set by .ci/run), where a missing daemon is a failure: they must run there.
"""
from __future__ import annotations

import os
import uuid

import pytest

SHARED_OVERRIDES = [
    # Short heartbeat windows so a lost executor is noticed in seconds, not the default 300 s.
    "action_heartbeat.check_interval=2",
    "action_heartbeat.max_missed_heartbeats=5",
    "action_heartbeat.first_heartbeat_timeout=30",
    # A run's settle waits rpc_response_timeout + 10 s for a start an API kill left indeterminate (it may still
    # become an execution): 30 s here instead of 70 s. A start_workflow call on this lab answers in about a second.
    "DEFAULT.rpc_response_timeout=20",
]


def _docker_or_skip() -> None:
    from cluster.docker_env import docker_available

    if docker_available():
        return
    if os.environ.get("MISTRAL_LAB_REQUIRE_DOCKER") == "1":
        pytest.fail("MISTRAL_LAB_REQUIRE_DOCKER=1 but no Docker daemon answers")
    pytest.skip("no Docker daemon answers: integration tests need one (set DOCKER_HOST or start dockerd)")


@pytest.fixture(scope="session")
def docker_ready() -> None:
    _docker_or_skip()


def unique_lab_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def shared_cluster(docker_ready):
    """A 2 api / 2 engine / 2 executor cluster shared by every test that does not need its own."""
    from cluster.control import Cluster
    from cluster.topology import Topology, parse_overrides

    name = unique_lab_name("labtest")
    cluster = Cluster(name)
    topology = Topology(name=name, apis=2, engines=2, executors=2, overrides=parse_overrides(SHARED_OVERRIDES))
    cluster.up(topology, report=lambda m: print(f"[{name}] {m}", flush=True))
    try:
        yield cluster
    finally:
        cluster.down()
