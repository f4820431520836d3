"""The in-process fault tests' cluster: the shared one, healed after each test and proven clean."""
from __future__ import annotations

import pytest

from nemesis.heal import heal_cluster, leftovers


@pytest.fixture
def cluster(shared_cluster):
    try:
        yield shared_cluster
    finally:
        heal_cluster(shared_cluster, timeout=240)
        assert leftovers(shared_cluster) == []
