"""The soak loop: seeded choice of tests, carries on after failures, keeps failing runs, writes summaries."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab import run as lab_run
from cluster.errors import LabError
from lab.run import RunOutcome
from lab.soak import parse_duration, soak_loop


def test_parse_duration() -> None:
    assert parse_duration("90m") == 5400 and parse_duration("8h") == 28800 and parse_duration("30") == 30
    for bad in ("0", "-1h", "8 hours", ""):
        with pytest.raises(LabError, match="--duration"):
            parse_duration(bad)


def _fake_runs(monkeypatch, tmp_path: Path, verdicts: list) -> list:
    calls = []
    over = {"now": False}
    monkeypatch.setattr("lab.soak.time.monotonic", lambda: 1e12 if over["now"] else 0.0)

    def fake_run_test(spec, store, lab_name=None, live=True, **_):
        run_dir = tmp_path / "store" / spec.name / f"run{len(calls)}"
        run_dir.mkdir(parents=True)
        calls.append((spec.name, spec.seed))
        valid = verdicts[len(calls) - 1]
        over["now"] = len(calls) == len(verdicts)  # then the duration is over
        return RunOutcome(run_dir, valid)

    monkeypatch.setattr(lab_run, "run_test", fake_run_test)
    return calls


def test_soak_carries_on_after_failures_and_keeps_only_failing_runs(monkeypatch, tmp_path: Path) -> None:
    calls = _fake_runs(monkeypatch, tmp_path, [True, False, "unknown", True])
    failed = soak_loop(3600, ["kill-executors", "chaos"], seed=7, store=tmp_path / "store", time_limit=None, fresh=True)
    assert len(calls) == 4
    assert [r["valid"] for r in failed] == [False, "unknown"]
    summary = json.loads((tmp_path / "store" / "soak-summary.json").read_text())
    assert summary["runs_total"] == 4 and summary["runs_failed"] == 2
    kept = [Path(r["run_dir"]).exists() for r in summary["runs"]]
    assert kept == [False, True, True, False]  # passing runs pruned, failing ones kept
    assert "2 of 4 runs failed" in (tmp_path / "store" / "soak-summary.html").read_text()


def test_soak_is_seeded(monkeypatch, tmp_path: Path) -> None:
    first = _fake_runs(monkeypatch, tmp_path / "a", [True, True, True])
    soak_loop(3600, ["kill-executors", "chaos", "db-outage"], seed=3, store=tmp_path / "a", time_limit=None, fresh=True)
    second = _fake_runs(monkeypatch, tmp_path / "b", [True, True, True])
    soak_loop(3600, ["kill-executors", "chaos", "db-outage"], seed=3, store=tmp_path / "b", time_limit=None, fresh=True)
    assert first == second


def test_soak_rejects_an_unknown_test_before_running(monkeypatch, tmp_path: Path) -> None:
    calls = _fake_runs(monkeypatch, tmp_path, [True])
    with pytest.raises(LabError, match="unknown test 'nope'"):
        soak_loop(60, ["chaos", "nope"], seed=1, store=tmp_path / "store", time_limit=None, fresh=True)
    assert calls == []


def test_every_spec_make_hunt_draws_from_loads() -> None:
    import re

    from lab.spec import load_spec

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    lines = re.findall(r"(?m)^HUNT_TESTS \?\+?= (.*)$|^HUNT_TESTS \+= (.*)$", makefile)
    names = [n for pair in lines for part in pair for n in re.split(r"[ ,]+", part.strip()) if n]
    assert len(names) >= 14 and len(set(names)) == len(names)
    for name in names:
        assert load_spec(name).name == name


# ---------------------------------------------------------------- runs with defects are never deleted
RUN_FILES = ("results.json", "history.jsonl", "witness.jsonl", "run.json", "test.yaml", "report.html",
             "mistral-snapshot.json")


def _stored_run(run_dir: Path, defect: bool) -> Path:
    """A stored run directory as the run pipeline leaves it: a checked results.json (with a known defect, set
    aside by the catalogue, or none), the history and the node logs."""
    (run_dir / "logs").mkdir(parents=True)
    anomalies = [{"class": "abandoned-action", "kind": "heartbeat", "defect": True, "summary": "a1 failed"}] \
        if defect else []
    results = {"valid": not defect, "anomalies": anomalies, "verdict_after_catalogue": True,
               "known_findings": [{"id": "exec-stop", "title": "t", "anomalies": [0]}] if defect else [],
               "new_defects": [], "gates": {"faults": {"valid": True}}}
    for name in RUN_FILES:
        (run_dir / name).write_text(json.dumps(results) if name == "results.json" else f"{name}\n")
    for node in ("engine-1", "executor-2"):
        (run_dir / "logs" / f"{node}.log").write_text("a big log line\n" * 1000)
    return run_dir


def test_a_passing_run_with_known_defects_is_kept_compacted_and_counted(monkeypatch, tmp_path: Path) -> None:
    plan = [True, False, True]  # does run k show a (known) defect
    calls: list[int] = []
    monkeypatch.setattr("lab.soak.time.monotonic", lambda: 1e12 if len(calls) >= len(plan) else 0.0)

    def fake_run_test(spec, store, lab_name=None, live=True, **_):
        defect = plan[len(calls)]
        run_dir = _stored_run(tmp_path / "store" / spec.name / f"run{len(calls)}", defect)
        calls.append(1)
        known = [{"id": "exec-stop", "title": "t", "anomalies": [0]}] if defect else []
        return RunOutcome(run_dir, not defect, after_catalogue=True, known=known)

    monkeypatch.setattr(lab_run, "run_test", fake_run_test)
    failed = soak_loop(3600, ["chaos"], seed=2, store=tmp_path / "store", time_limit=None, fresh=True)
    summary = json.loads((tmp_path / "store" / "soak-summary.json").read_text())
    assert failed == [] and [r["kept"] for r in summary["runs"]] == ["compact", "pruned", "compact"]
    kept = [Path(r["run_dir"]) for r in summary["runs"]]
    for run_dir in (kept[0], kept[2]):
        assert sorted(p.name for p in run_dir.iterdir()) == sorted(RUN_FILES)  # logs/ dropped, the rest kept
    assert not kept[1].exists()  # no defect: pruned as before
    assert summary["runs_kept_with_known_defects"] == 2 and summary["kept_known_findings"] == {"exec-stop": 2}
    page = (tmp_path / "store" / "soak-summary.html").read_text()
    assert "2 passing run(s) kept with known defects" in page and "exec-stop x2" in page


def test_a_run_is_kept_when_only_its_results_show_a_defect(tmp_path: Path) -> None:
    from lab.soak import keep_or_prune

    run_dir = _stored_run(tmp_path / "run", defect=True)
    # The entry names no finding (a catalogue that failed to load, say): results.json still shows the defect.
    assert keep_or_prune({"run_dir": str(run_dir), "verdict": True, "known": [], "new": 0}) == "compact"
    assert (run_dir / "results.json").exists() and not (run_dir / "logs").exists()
    failing = _stored_run(tmp_path / "failing", defect=True)
    assert keep_or_prune({"run_dir": str(failing), "verdict": False, "known": [], "new": 1}) == "full"
    assert (failing / "logs" / "engine-1.log").exists()
    assert keep_or_prune({"run_dir": None, "verdict": "lab-error"}) == "none"


def test_the_hunt_on_another_release_or_a_tree_runs_every_spec_there(monkeypatch, tmp_path: Path) -> None:
    seen = []
    monkeypatch.setattr("lab.soak.time.monotonic", lambda: 1e12 if len(seen) >= 2 else 0.0)

    def fake_run_test(spec, store, **_):
        seen.append(spec.topology("x"))
        (tmp_path / "store" / f"r{len(seen)}").mkdir(parents=True)
        return RunOutcome(tmp_path / "store" / f"r{len(seen)}", True)

    monkeypatch.setattr(lab_run, "run_test", fake_run_test)
    soak_loop(3600, ["chaos"], seed=1, store=tmp_path / "store", time_limit=None, fresh=True,
              mistral_version="20.2.0")
    assert [t.mistral_version for t in seen] == ["20.2.0", "20.2.0"]
    seen.clear()
    soak_loop(3600, ["chaos"], seed=1, store=tmp_path / "store", time_limit=None, fresh=True, mistral_src=tmp_path)
    assert [t.mistral_src for t in seen] == [str(tmp_path), str(tmp_path)]
    with pytest.raises(LabError, match="either --mistral-version or --mistral-src"):
        soak_loop(1, ["chaos"], seed=1, store=tmp_path / "store", time_limit=None, fresh=True,
                  mistral_version="20.2.0", mistral_src=tmp_path)
