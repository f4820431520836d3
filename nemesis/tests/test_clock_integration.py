"""The clock fault against the shared 2/2/2 cluster: one engine's Mistral processes see a skewed wall clock,
the other engine and the host do not, the skewed node keeps serving, and heal restores the true time."""
from __future__ import annotations

import random
import time

import pytest

from cluster.control import Cluster
from nemesis import clock, make_fault
from nemesis.heal import heal_cluster, leftovers

pytestmark = pytest.mark.docker



def test_clock_skews_one_engine_only_and_heal_restores_it(cluster: Cluster) -> None:
    fault = make_fault("clock", {"offset_s": "120"}, "engine-1")
    done = fault.start(cluster, random.Random(1))
    try:
        assert done["nodes"] == ["engine-1"] and done["offset"] == "+120"
        assert abs(done["measured_skew_s"]["engine-1"] - 120) < 2
        assert abs(clock.measured_skew(cluster, "engine-2")) < 2
        assert abs(clock.measured_skew(cluster, "executor-1")) < 2
        assert "engine-1: clock skew +120" in leftovers(cluster)
        time.sleep(3)  # timers and RPC keep working under the skew (monotonic clock untouched)
        assert cluster.health()["engine-1"], "the skewed engine must keep consuming its RPC queue"
    finally:
        healed = fault.heal(cluster)
    assert healed == {"restored": ["engine-1"]}
    assert abs(clock.measured_skew(cluster, "engine-1")) < 2


def test_clock_strobe_flips_and_a_whole_cluster_heal_stops_it(cluster: Cluster) -> None:
    fault = make_fault("clock", {"offset_s": "-300", "mode": "strobe", "period_ms": "1000"}, "executor-2")
    fault.start(cluster, random.Random(2))
    seen = {round(clock.measured_skew(cluster, "executor-2") / 100) * 100 for _ in range(6) if not time.sleep(0.4)}
    assert seen == {0, -300}
    repaired = heal_cluster(cluster, timeout=120)
    assert "executor-2: removed clock strobe" in repaired
    time.sleep(clock.PICKUP_S)
    assert abs(clock.measured_skew(cluster, "executor-2")) < 2
