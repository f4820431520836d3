"""Bad input to the cluster commands: one clear line, exit 3, nothing created."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from lab.cli import _register_commands, app
from cluster.errors import LabError
from cluster.topology import Topology, parse_overrides

runner = CliRunner()
_register_commands()


@pytest.mark.parametrize("args, message", [
    (["--apis", "0"], "invalid api count 0"),
    (["--engines", "-1"], "invalid engine count -1"),
    (["--executors", "0"], "invalid executor count 0"),
    (["--set", "nodot=1"], "malformed --set 'nodot=1'"),
    (["--set", "api.port"], "malformed --set 'api.port'"),
    (["--db", "oracle"], "unknown database 'oracle'"),
    (["--name", "Bad Name"], "invalid name 'Bad Name'"),
])
def test_up_rejects_bad_input_before_touching_docker(args: list[str], message: str, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # proves nothing reached the engine
    result = runner.invoke(app, ["up", *args])
    assert result.exit_code != 0
    assert isinstance(result.exception, LabError)
    assert message in str(result.exception)


def test_scale_rejects_unknown_role_and_bad_count() -> None:
    for args, message in ((["broker", "2"], "unknown role 'broker'"), (["engine", "0"], "invalid engine count 0")):
        result = runner.invoke(app, ["scale", *args])
        assert isinstance(result.exception, LabError) and message in str(result.exception)


def test_no_docker_daemon_is_one_clear_line(monkeypatch) -> None:
    from cluster import docker_env

    docker_env.engine.cache_clear()
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    try:
        result = runner.invoke(app, ["status", "--name", "nothere"])
        assert isinstance(result.exception, LabError)
        assert "no Docker daemon answers at unix:///nonexistent/docker.sock" in str(result.exception)
    finally:
        docker_env.engine.cache_clear()


@pytest.mark.network  # asks PyPI; an unreachable index gives its own message (cluster/tests/test_mistral_version.py)
def test_unknown_mistral_version_is_rejected(monkeypatch) -> None:
    from cluster import wheels

    with pytest.raises(LabError, match="unknown Mistral version 99.0.0"):
        wheels.check_mistral_version("99.0.0")


def test_overrides_parse_into_sections() -> None:
    assert parse_overrides(["action_heartbeat.check_interval=2", "DEFAULT.debug=true"]) == {
        "action_heartbeat": {"check_interval": "2"}, "DEFAULT": {"debug": "true"}}


def test_topology_node_names_are_stable() -> None:
    topology = Topology(apis=2, engines=1, executors=3)
    assert topology.mistral_nodes() == [("api-1", "api"), ("api-2", "api"), ("engine-1", "engine"),
                                        ("executor-1", "executor"), ("executor-2", "executor"),
                                        ("executor-3", "executor")]


def test_the_real_command_prints_one_line_and_exits_3() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "lab", "up", "--engines", "0"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 3
    assert proc.stderr.strip() == "error: invalid engine count 0: must be between 1 and 32"
    assert proc.stdout == ""


@pytest.mark.parametrize("args, message", [
    (["--mistral-version", "20.2.0", "--mistral-src", "."], "give either --mistral-version or --mistral-src"),
    (["--mistral-src", "/nonexistent/mistral"], "--mistral-src /nonexistent/mistral: not a directory"),
])
def test_run_rejects_conflicting_or_missing_mistral_source(args: list[str], message: str, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # proves nothing reached the engine
    result = runner.invoke(app, ["run", "lab-test", *args])
    assert isinstance(result.exception, LabError)
    assert message in str(result.exception)


def test_run_passes_the_mistral_version_and_source_to_the_cluster(monkeypatch, tmp_path) -> None:
    import lab.run

    seen = []
    monkeypatch.setattr(lab.run, "run_test", lambda spec, *a, **k: seen.append(spec) or _Exit())
    runner.invoke(app, ["run", "lab-test", "--mistral-version", "20.2.0"])
    runner.invoke(app, ["run", "lab-test", "--mistral-src", str(tmp_path)])
    assert seen[0].topology("t").mistral_version == "20.2.0"
    assert seen[1].topology("t").mistral_src == str(tmp_path)


class _Exit:
    new = known = ()
    run_dir = __import__("pathlib").Path("run")
    valid, interrupted = True, False

    def verdict(self, strict: bool = False) -> bool:
        return True

    def exit_for(self, strict: bool = False) -> int:
        return 0
