"""The OpenStack gate checked with the tools OpenStack CI runs it with: Zuul's own config loader on .zuul.yaml,
ansible-lint and ansible-playbook on the playbooks and role, the pre playbook in check mode on this machine, and
the post playbook for real on a made-up store (no Docker), with Zuul's own zuul_return and artifact resolution.

The tools live in their own venv (`make gate-tools`, which `make test` makes first); a test that finds it missing
makes it from PyPI, hence the network mark.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gate_fixtures import GateStore, make_gate_store
import yaml

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parent.parent
GATE_VENV = ROOT / ".lab-cache" / "gate-tools"
PLAYBOOKS = sorted((ROOT / "playbooks" / "mistral-lab").glob("*.yaml"))
HA, HUNT = "mistral-lab-ha", "mistral-lab-hunt"


@pytest.fixture
def gate_store(tmp_path: Path) -> GateStore:
    return make_gate_store(tmp_path)


@pytest.fixture(scope="module")
def gate_bin() -> Path:
    if not (GATE_VENV / ".installed").exists():
        subprocess.run(["make", "gate-tools"], cwd=ROOT, check=True)
    return GATE_VENV / "bin"


def tool(gate_bin: Path, *argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{gate_bin}{os.pathsep}{os.environ['PATH']}",
           "ANSIBLE_ROLES_PATH": str(ROOT / "roles"), "PYTHONWARNINGS": "ignore", "NO_COLOR": "1"}
    return subprocess.run([str(gate_bin / argv[0]), *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def zuul_config(gate_bin: Path) -> dict[str, Any]:
    proc = tool(gate_bin, "python", "tools/gate/zuul_config.py", ".zuul.yaml")
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def _jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["name"]: job for job in config["jobs"]}


def test_zuul_loads_the_config_without_errors(zuul_config: dict[str, Any]) -> None:
    assert zuul_config["errors"] == []
    assert sorted(_jobs(zuul_config)) == [HA, HUNT]


def test_the_ha_job_is_non_voting_and_runs_the_three_playbooks_on_an_ubuntu_node(zuul_config: dict[str, Any]) -> None:
    job = _jobs(zuul_config)[HA]
    assert job["voting"] is False
    assert (job["pre_run"], job["run"], job["post_run"]) == (
        ["playbooks/mistral-lab/pre.yaml"], ["playbooks/mistral-lab/run.yaml"], ["playbooks/mistral-lab/post.yaml"])
    for playbook in job["pre_run"] + job["run"] + job["post_run"]:
        assert (ROOT / playbook).is_file(), playbook
    assert job["nodeset"].startswith(("ubuntu-", "debian-"))
    assert job["vars"]["mistral_lab_mistral_project"] in job["required_projects"]
    assert job["vars"]["mistral_lab_project"] in job["required_projects"]


def test_reviewers_trigger_ha_in_experimental_and_hunt_runs_periodically(zuul_config: dict[str, Any]) -> None:
    (project,) = zuul_config["projects"]
    assert project["pipelines"] == {"experimental": [HA], "periodic": [HUNT]}
    hunt = _jobs(zuul_config)[HUNT]
    assert hunt["parent"] == HA and hunt["vars"]["mistral_lab_steps"] == ["hunt"]


def test_every_job_variable_is_a_role_default_and_documented_in_the_ha_description(
        zuul_config: dict[str, Any]) -> None:
    defaults = yaml.safe_load((ROOT / "roles" / "mistral_lab" / "defaults" / "main.yaml").read_text())
    description = _jobs(zuul_config)[HA]["description"]
    for job in zuul_config["jobs"]:
        for name in job["vars"]:
            assert name in defaults, f"{job['name']}: {name} is no variable of roles/mistral_lab"
            assert name in description, f"{name} is not documented in {HA}'s description"


def test_zuul_reports_a_misspelled_job_attribute(gate_bin: Path, tmp_path: Path) -> None:
    broken = tmp_path / ".zuul.yaml"
    broken.write_text((ROOT / ".zuul.yaml").read_text().replace("    voting: false", "    votng: false"))
    proc = tool(gate_bin, "python", "tools/gate/zuul_config.py", str(broken))
    assert proc.returncode == 1
    assert any("extra keys not allowed @ data['votng']" in e for e in json.loads(proc.stdout)["errors"])


def test_ansible_lint_passes_on_the_playbooks_and_the_role(gate_bin: Path) -> None:
    proc = tool(gate_bin, "ansible-lint", "--offline", "playbooks", "roles")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Profile 'production' was required, and it passed" in proc.stdout + proc.stderr


def test_ansible_lint_fails_a_task_that_breaks_its_rules(gate_bin: Path, tmp_path: Path) -> None:
    shutil.copy(ROOT / ".ansible-lint", tmp_path / ".ansible-lint")
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "bad.yaml").write_text("---\n- hosts: all\n  tasks:\n    - command: rm -rf /tmp/x\n")
    proc = tool(gate_bin, "ansible-lint", "--offline", "playbooks", cwd=tmp_path)
    assert proc.returncode != 0
    assert "name[play]" in proc.stdout and "fqcn[action-core]" in proc.stdout


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_the_playbook_passes_ansible_s_syntax_check(gate_bin: Path, playbook: Path) -> None:
    proc = tool(gate_bin, "ansible-playbook", "-i", "localhost,", "--syntax-check", str(playbook))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.docker
def test_the_pre_playbook_would_change_nothing_on_a_prepared_machine(gate_bin: Path, docker_ready: None,
                                                                    tmp_path: Path) -> None:
    """This machine has Docker, the host tools and an installed lab: pre probes each and installs none."""
    variables = {"zuul": {"projects": {"opendev.org/openstack/mistral-lab": {"src_dir": str(ROOT)}}},
                 "ansible_python_interpreter": "/usr/bin/python3"}
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    proc = tool(gate_bin, "ansible-playbook", "-i", "localhost,", "-c", "local", "--check", "-e",
                f"@{tmp_path / 'vars.json'}", "playbooks/mistral-lab/pre.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "changed=0" in proc.stdout and "failed=0" in proc.stdout
    tasks = {chunk.split("]", 1)[0]: chunk for chunk in proc.stdout.split("TASK [mistral_lab : ")[1:]}
    for installing in ("Install what is missing", "Start the Docker daemon", "Install the lab (make install)"):
        assert "skipping: [localhost]" in tasks[installing], tasks[installing]


def test_the_post_playbook_puts_the_store_in_the_logs_and_links_it(gate_bin: Path, gate_store: GateStore,
                                                                  tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    proc = tool(gate_bin, "python", "tools/gate/local_zuul.py", "--post-only", "--store", str(gate_store.path),
                "--gate-dir", str(gate))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASSED" in proc.stdout
    logs = gate / "job" / "work" / "logs" / "mistral-lab" / "store"
    assert (logs / gate_store.valid_run / "report.html").is_file()
    assert (logs / "bundles" / f"{gate_store.invalid_run.replace('/', '-')}.tar.gz").is_file()
    assert not list(logs.rglob(".secrets.json"))
    assert not any(gate_store.secret in p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file()
                   and p.suffix != ".gz")
    returned = json.loads((gate / "job" / "work" / "results.json").read_text())["data"]["zuul"]
    assert {"name": "lab-test: VALID", "url": f"mistral-lab/store/{gate_store.valid_run}/report.html",
            "metadata": {"type": "report"}} in returned["artifacts"]
    assert len(returned["warnings"]) == 1
