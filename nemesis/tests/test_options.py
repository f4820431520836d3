"""Bad fault input fails with one clear line before anything reaches Docker."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from lab.cli import _register_commands, app
from cluster.errors import LabError
from nemesis import make_fault
from nemesis.base import FAULTS, parse_option_items

runner = CliRunner()
_register_commands()


@pytest.mark.parametrize("fault, options, target, message", [
    ("explode", {}, None, "unknown fault 'explode'"),
    ("kill", {"signal": "9"}, None, "kill: unknown option 'signal'"),
    ("kill", {}, "witness", "witness is never a fault target"),
    ("kill", {}, "random:witness", "witness is never a fault target"),
    ("kill", {}, "frontend-1", "unknown target 'frontend-1'"),
    ("kill", {}, "engine-0", "unknown target 'engine-0'"),
    ("partition", {}, None, "partition isolate needs a --target"),
    ("partition", {"topology": "halves"}, "engine-1", "takes no --target"),
    ("partition", {"topology": "star"}, None, "must be one of isolate, halves, ring, bridge"),
    ("partition", {"from": "witness"}, "engine-1", "witness is never a fault target"),
    ("packet-loss", {"probability": "1.5"}, None, "must be between 0 and 1"),
    ("packet-loss", {"probability": "lots"}, None, "must be a float"),
    ("packet-loss", {"probability": "0"}, None, "probability must be > 0"),
    ("bandwidth", {"rate": "fast"}, None, "option rate='fast' is malformed"),
    ("netem", {"delay_ms": "0"}, None, "set at least one of"),
    ("netem", {"reorder_pct": "5", "delay_ms": "0"}, None, "reorder_pct needs delay_ms"),
    ("scale", {"delta": "0"}, "engine", "delta must not be 0"),
    ("scale", {}, "engine-1", "scale takes a role"),
    ("scale", {}, "broker", "not allowed here"),
    ("scale", {"kill": "maybe"}, "engine", "must be true or false"),
    ("broker", {}, "engine-1", "broker takes no --target"),
    ("db", {"mode": "melt"}, None, "must be one of stop, kill, pause, isolate"),
    ("message-loss", {}, "api", "not allowed here"),
    ("message-loss", {}, "engine-1", "message-loss takes one role"),
    ("message-loss", {"mode": "ttl"}, "engine", "unknown option 'mode'"),
])
def test_bad_fault_input_is_one_clear_error(fault: str, options: dict, target: str | None, message: str) -> None:
    with pytest.raises(LabError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_fault(fault, options, target)


def test_good_input_builds_every_fault_with_a_description() -> None:
    targets = {"scale": "engine", "message-loss": "executor", "partition": "api-1", "broker": None, "db": None}
    for name in FAULTS:
        fault = make_fault(name, {"delay_ms": "50"} if name == "netem" else {}, targets.get(name, "engine-1"))
        assert fault.describe() and fault.name == name


def test_options_are_typed() -> None:
    fault = make_fault("scale", {"delta": "2", "kill": "yes"}, "executor")
    assert fault.options == {"delta": 2, "kill": True, "drain": False}
    assert parse_option_items(["probability=0.3", "mode = ttl"]) == {"probability": "0.3", "mode": "ttl"}
    with pytest.raises(LabError, match="malformed --option 'oops'"):
        parse_option_items(["oops"])


@pytest.mark.parametrize("args, message", [
    (["nemesis", "explode"], "unknown fault 'explode'"),
    (["nemesis", "kill", "--duration", "0"], "--duration must be > 0 seconds, got 0"),
    (["nemesis", "kill", "--duration", "-3"], "--duration must be > 0 seconds, got -3"),
    (["nemesis", "kill", "--target", "nosuch"], "unknown target 'nosuch'"),
    (["nemesis", "packet-loss", "-o", "probability"], "malformed --option 'probability'"),
])
def test_cli_refuses_bad_input_before_touching_docker(args: list[str], message: str, monkeypatch) -> None:
    from cluster import docker_env

    docker_env.engine.cache_clear()
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # any Docker call would fail differently
    try:
        result = runner.invoke(app, args)
    finally:
        docker_env.engine.cache_clear()
    assert result.exit_code != 0
    assert isinstance(result.exception, LabError) and message in str(result.exception)
