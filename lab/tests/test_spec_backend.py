"""`backend:` in a spec and `run --backend`: checked offline, carried into the topology the lab saves."""
from __future__ import annotations

import pytest

from cluster.errors import LabError
from lab.spec import apply_overrides, validate_spec


def test_spec_backend_reaches_the_topology() -> None:
    spec = validate_spec({"name": "t", "cluster": {"apis": 1, "engines": 1, "executors": 1, "backend": "swarm",
                                                   "placement": "pack"}})
    topology = spec.topology("lab1")
    assert (topology.backend, topology.placement, topology.hosts) == ("swarm", "pack", None)
    topology.validate()


def test_default_backend_is_compose_and_run_flag_overrides() -> None:
    spec = validate_spec({"name": "t"})
    assert spec.topology("lab1").backend == "compose"
    assert apply_overrides(spec, backend="swarm").topology("lab1").backend == "swarm"
    assert spec.cluster.get("backend") is None  # the override copies


@pytest.mark.parametrize("cluster, fragment", [
    ({"backend": "nomad"}, "backend must be one of compose, swarm"),
    ({"placement": "random"}, "placement must be one of spread, pack, labels"),
    ({"hosts": 3}, "hosts must be the path of a hosts file"),
])
def test_bad_backend_fields_are_one_line(cluster: dict, fragment: str) -> None:
    with pytest.raises(LabError, match=fragment):
        validate_spec({"name": "t", "cluster": cluster})


def test_bad_run_backend_flag() -> None:
    with pytest.raises(LabError, match="--backend k8s: choose one of compose, swarm"):
        apply_overrides(validate_spec({"name": "t"}), backend="k8s")


def test_a_reused_lab_with_other_mistral_settings_is_named_option_by_option() -> None:
    from lab.run import config_drift

    wanted = {"action_heartbeat": {"check_interval": "2", "first_heartbeat_timeout": "30"}}
    running = {"action_heartbeat": {"check_interval": "2"}}
    assert config_drift(wanted, running) == [
        "warning: the reused lab runs action_heartbeat.first_heartbeat_timeout=(Mistral default), the spec asks 30;"
        " the lab's value applies (up a new lab to get the spec's)"]
    assert config_drift(wanted, wanted) == []
