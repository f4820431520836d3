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
    failed = soak_loop(3600, ["kill-executors", "chaos"], seed=7, store=tmp_path / "store", time_limit=None)
    assert len(calls) == 4
    assert [r["valid"] for r in failed] == [False, "unknown"]
    summary = json.loads((tmp_path / "store" / "soak-summary.json").read_text())
    assert summary["runs_total"] == 4 and summary["runs_failed"] == 2
    kept = [Path(r["run_dir"]).exists() for r in summary["runs"]]
    assert kept == [False, True, True, False]  # passing runs pruned, failing ones kept
    assert "2 of 4 runs failed" in (tmp_path / "store" / "soak-summary.html").read_text()


def test_soak_is_seeded(monkeypatch, tmp_path: Path) -> None:
    first = _fake_runs(monkeypatch, tmp_path / "a", [True, True, True])
    soak_loop(3600, ["kill-executors", "chaos", "db-outage"], seed=3, store=tmp_path / "a", time_limit=None)
    second = _fake_runs(monkeypatch, tmp_path / "b", [True, True, True])
    soak_loop(3600, ["kill-executors", "chaos", "db-outage"], seed=3, store=tmp_path / "b", time_limit=None)
    assert first == second


def test_soak_rejects_an_unknown_test_before_running(monkeypatch, tmp_path: Path) -> None:
    calls = _fake_runs(monkeypatch, tmp_path, [True])
    with pytest.raises(LabError, match="unknown test 'nope'"):
        soak_loop(60, ["chaos", "nope"], seed=1, store=tmp_path / "store", time_limit=None)
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
