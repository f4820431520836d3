"""`mistral-lab doctor`: which kernel features the built-in specs need, and a table that names each fix."""
from __future__ import annotations

from dataclasses import replace

from rich.console import Console
from typer.testing import CliRunner

from cluster import doctor
from cluster.images import BaseFacts
from cluster.tests.test_doctor import NEEDED, healthy_host
from lab.cli import doctor as doctor_cli
from lab.cli import _register_commands, app

runner = CliRunner()
_register_commands()


def render(results) -> str:
    console = Console(record=True, width=250)
    console.print(doctor_cli.doctor_table(results))
    return console.export_text()


def test_built_in_specs_need_reset_loss_and_bandwidth_but_not_netem():
    needed, names, errors = doctor_cli.builtin_needs()
    assert not errors and {"lab-test", "chaos", "smoke"} <= set(names)
    assert needed == NEEDED  # partition (lab-test), packet-loss and bandwidth via chaos; chaos leaves netem out


def test_spec_features_follow_faults_options_and_chaos_excludes():
    faults = ["partition", "kill", "packet-loss", "bandwidth", "netem", "broker", "db"]
    nemesis = doctor_cli.nemesis_features
    assert nemesis({"faults": [{"fault": "db", "options": {"mode": "stop"}}]}, faults, ("netem",)) == set()
    assert nemesis({"faults": [{"fault": "db", "options": {"mode": "isolate"}}]}, faults, ()) == {"tcp-reset"}
    assert nemesis({"faults": ["netem"]}, faults, ("netem",)) == {"netem"}  # named explicitly: needed
    assert nemesis({"faults": ["chaos"]}, faults, ("netem",)) == {"tcp-reset", "statistic", "tbf"}
    chaos_without_loss = {"faults": [{"fault": "chaos", "options": {"exclude": ["packet-loss", "bandwidth"]}}]}
    assert nemesis(chaos_without_loss, faults, ("netem",)) == {"tcp-reset", "netem"}
    assert nemesis({}, faults, ("netem",)) == set()


def test_on_a_machine_missing_tools_the_table_names_the_fix(tmp_path):
    host = replace(healthy_host(tmp_path), which=lambda name: None,
                   base_facts=lambda: BaseFacts(False, False, False, True, False), local_base=lambda: None,
                   probe_kernel=lambda _image: {**{f: True for f in doctor.FEATURES}, "netem": False})
    text = render(doctor.run_checks(host, NEEDED))
    assert "apt-get install docker.io" in text                      # no docker CLI
    assert "install debootstrap" in text and "docker load" in text  # no base image route
    assert "missing (faults that need it are skipped" in text and "modprobe sch_netem" in text
    for row in ("Docker CLI", "base image route", "kernel: netem qdisc"):
        assert row in text


def test_doctor_exits_3_when_a_run_cannot_work_and_0_otherwise(tmp_path, monkeypatch):
    monkeypatch.setattr(doctor, "real_host", lambda: replace(healthy_host(tmp_path), which=lambda name: None))
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 3, result.output
    assert "not ready" in result.output and "Docker CLI" in result.output
    monkeypatch.setattr(doctor, "real_host", lambda: healthy_host(tmp_path))
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "ready: a run can work" in result.output and "built-in specs" in result.output
