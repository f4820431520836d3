"""`mistral-lab run` against the shared real cluster: the store, the report in a headless browser, replay,
and Ctrl-C during the nemesis phase."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from history.reader import read_history
from cluster.control import Cluster
from lab.spec import load_spec
from nemesis.heal import leftovers

pytestmark = pytest.mark.docker
RUN_FILES = ("history.jsonl", "witness.jsonl", "results.json", "test.yaml", "compose.yaml", "report.html",
             "mistral-snapshot.json", "timeline.png", "latency.png", "throughput.png")


def _spec_file(tmp_path: Path, name: str, time_limit: float, faults: list, interval: float, duration: float) -> Path:
    spec = load_spec("lab-test").to_dict()
    spec.update(name=name, time_limit_s=time_limit, warmup_s=1,
                nemesis={"faults": faults, "interval_s": interval, "duration_s": duration})
    spec["workload"]["params"]["kinds"] = "sequence,parallel"
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _lab(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lab", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kwargs)


def _nemesis_ops(run_dir: Path) -> list[tuple]:
    return [(e.type, e.f, (e.value or {}).get("target"), (e.value or {}).get("at_s"))
            for e in read_history(run_dir / "history.jsonl")
            if e.process == "nemesis" and e.type == "invoke" and (e.value or {}).get("action") == "start"]


def _screenshot(report: Path, out: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("MISTRAL_LAB_REQUIRE_DOCKER") == "1":
            pytest.fail("chromium is needed to render report.html (.ci/run installs it)")
        pytest.skip("no chromium to render report.html")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={out}",
                    "--window-size=1280,2000", report.as_uri()], capture_output=True, timeout=120, check=True)


def test_run_with_faults_keeps_everything_and_replays_the_same_schedule(shared_cluster: Cluster,
                                                                          tmp_path: Path) -> None:
    # 14 s of load, slots at 3 s and 9 s (jitter 0.2 x 6 s): both faults end by 13.2 s, whatever the seed.
    spec = _spec_file(tmp_path, "it-run", 14, [{"fault": "pause", "target": "random:api"},
                                               {"fault": "kill", "target": "random:api"}], 6, 3)
    store = tmp_path / "store"
    proc = _lab("run", str(spec), "--lab", shared_cluster.name, "--reuse", "--store", str(store))
    output, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, output
    run_dir = (store / "latest").resolve()
    for name in RUN_FILES:
        assert (run_dir / name).exists(), name
    assert list((run_dir / "logs").glob("engine-*.log")) and list((run_dir / "logs").glob("api-*.log"))
    results = json.loads((run_dir / "results.json").read_text())
    assert list(results)[0] == "valid" and results["valid"] is True
    faults = _nemesis_ops(run_dir)
    assert len(faults) == 2
    html = (run_dir / "report.html").read_text()
    assert html.count('class="nemesis"') == 2 and "VALID" in html
    shot = tmp_path / "report.png"
    _screenshot(run_dir / "report.html", shot)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one

    assert subprocess.run([sys.executable, "-m", "lab", "check", str(run_dir)], capture_output=True,
                          timeout=300).returncode == 0
    replay = _lab("run", "--replay", str(run_dir), "--lab", shared_cluster.name, "--reuse", "--store", str(store))
    output, _ = replay.communicate(timeout=900)
    assert replay.returncode == 0, output
    replayed = (store / "latest").resolve()
    assert replayed != run_dir
    assert _nemesis_ops(replayed) == faults
    assert leftovers(shared_cluster) == []


def test_ctrl_c_during_the_nemesis_heals_and_keeps_the_history(shared_cluster: Cluster, tmp_path: Path,
                                                               request: pytest.FixtureRequest) -> None:
    # The pause starts 5-7 s in and lasts 8 s: time to see it and interrupt the run while it holds.
    spec = _spec_file(tmp_path, "it-interrupt", 60, [{"fault": "pause", "target": "random:executor"}], 10, 8)
    store = tmp_path / "store"
    proc = _lab("run", str(spec), "--lab", shared_cluster.name, "--reuse", "--store", str(store))
    request.addfinalizer(lambda: proc.poll() is None and proc.kill())
    deadline = time.monotonic() + 240
    paused = False
    while time.monotonic() < deadline and proc.poll() is None:  # wait until the pause is in place
        paused = any(n.state == "paused" for n in shared_cluster.nodes("executor"))
        if paused:
            break
        time.sleep(0.5)
    assert paused, "the fault never started"
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=600)
    run_dir = (store / "latest").resolve()
    results = json.loads((run_dir / "results.json").read_text())
    assert results.get("interrupted") is True, output
    # Cut short: the settle window never ran and planned faults never started, so the verdict is UNKNOWN.
    assert results["valid"] == "unknown", results.get("reasons")
    assert proc.returncode == 2, output
    assert read_history(run_dir / "history.jsonl")
    assert "interrupted" in (run_dir / "report.html").read_text()
    assert leftovers(shared_cluster) == []
    assert not any(n.state == "paused" for n in shared_cluster.nodes())
    shared_cluster.wait_ready(timeout=180)
