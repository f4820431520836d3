"""Replaying findings with a fake run function (no Docker): rates over the tries asked, only conclusive tries
count (faults gate passed and a decided verdict), replacements up to the stated cap, the status and its rule,
exit codes 0 / 1 / 2, what --record writes, JSON lines, and the newest run that shows a finding."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cluster.errors import LabError
from lab.cli import _register_commands, app
from lab.findings.catalogue import DEFAULT_DIR, FINDINGS_ENV, load_catalogue
from lab.cli.findings import replay_all
from lab.findings.replay import (BELOW, GONE, INCONCLUSIVE, REPRODUCES, STILL_THERE, judge_try,
                                 latest_matching_run, record_replay, replay_finding)
from lab.run import RunOutcome
from lab.tests.findings_fixtures import GOOD, FakeRuns, anomaly, catalogue

runner = CliRunner()
_register_commands()


def _replay(tmp_path: Path, pattern: list, tries: int = 3, finding: dict = GOOD):
    (one,) = load_catalogue(catalogue(tmp_path, finding))
    fake = FakeRuns(tmp_path, pattern)
    return replay_finding(one, tries, fake, tmp_path / "store"), fake


# ---------------------------------------------------------------- what a try is worth
def test_a_try_counts_only_with_its_faults_gate_passed_and_a_decided_verdict(tmp_path: Path) -> None:
    (finding,) = load_catalogue(catalogue(tmp_path, GOOD))
    fake = FakeRuns(tmp_path, [True, False, None, "faults", "unknown"])
    tries = [judge_try(finding, 8 + k, fake(type("S", (), {"name": "x"})(), tmp_path / "s")) for k in range(5)]
    assert [(t.matched, t.conclusive, t.reproduced) for t in tries] == [
        (True, True, True), (False, True, False), (False, False, False),
        (True, False, False),  # matched, but not every planned fault applied: the defect may come from elsewhere
        (False, False, False)]
    assert [t.why_inconclusive() for t in tries][2:] == [
        "lab failure: OSError: the build broke", "faults gate unknown: not every planned fault applied",
        "verdict unknown"]


def test_a_stored_run_without_a_faults_gate_is_inconclusive(tmp_path: Path) -> None:
    (finding,) = load_catalogue(catalogue(tmp_path, GOOD))
    run_dir = tmp_path / "old-run"
    run_dir.mkdir()
    (run_dir / "results.json").write_text(json.dumps({"valid": False, "anomalies": [anomaly()]}))
    one = judge_try(finding, 8, RunOutcome(run_dir, False))
    assert one.matched and not one.conclusive and one.faults_gate is None


# ---------------------------------------------------------------- rates over the tries asked
def test_replay_uses_seed_then_seed_plus_k(tmp_path: Path) -> None:
    replay, fake = _replay(tmp_path, [True, False, True])
    assert [s.seed for s in fake.specs] == [8, 9, 10]
    assert all(s.mistral_version == "23.0.0" for s in fake.specs)
    assert (replay.reproduced, replay.required, replay.status(), replay.exit_code) == (2, 2, REPRODUCES, 0)
    assert replay.rule() == "reproduces: 2 of 3 asked >= min_rate 2/3 -> 2 required"
    assert replay.anomaly_counts == {"abandoned-action": 2, "log": 6, "stuck-execution": 1}


def test_one_reproduction_among_inconclusive_tries_is_inconclusive_not_two_thirds(tmp_path: Path) -> None:
    replay, fake = _replay(tmp_path, [True, None, None, None, None, None])
    assert len(fake.specs) == 6 == replay.cap  # 3 asked + at most 3 replacements
    assert (len(replay.counted), replay.inconclusive, replay.reproduced) == (1, 5, 1)
    assert (replay.status(), replay.status(patched=True), replay.exit_code) == (INCONCLUSIVE, INCONCLUSIVE, 2)
    assert replay.rule() == ("inconclusive: 1 of 3 asked conclusive after 6 attempts (cap 6 attempts); no rate "
                             "judged, nothing recorded")


def test_a_match_without_the_faults_gate_neither_counts_nor_fills_a_try(tmp_path: Path) -> None:
    replay, fake = _replay(tmp_path, ["faults", True, "faults", True, False])
    assert [s.seed for s in fake.specs] == [8, 9, 10, 11, 12]
    assert (len(replay.counted), replay.reproduced, replay.status()) == (3, 2, REPRODUCES)
    assert [r["conclusive"] for r in replay.to_json()["runs"]] == [False, True, False, True, True]


def test_one_conclusive_miss_among_inconclusive_tries_is_not_gone(tmp_path: Path) -> None:
    replay, _ = _replay(tmp_path, [False, None])
    assert (len(replay.counted), replay.reproduced, replay.status(patched=True)) == (3, 0, GONE)
    short, _ = _replay(tmp_path / "b", [False, None, None, None, None, None])
    assert short.status(patched=True) == INCONCLUSIVE and short.exit_code == 2
    there, _ = _replay(tmp_path / "c", [False, True, False])
    assert there.status(patched=True) == STILL_THERE
    assert there.rule(patched=True) == "still there: 1 of 3 asked reproduced, all 3 conclusive"


def test_below_min_rate_names_its_rule(tmp_path: Path) -> None:
    replay, _ = _replay(tmp_path, [True, False, False])
    assert (replay.status(), replay.exit_code) == (BELOW, 1)
    assert replay.rule() == "below min_rate: 1 of 3 asked < min_rate 2/3 -> 2 required"


@pytest.mark.parametrize("patterns, code", [
    ([[True, True, False], [True]], 0),
    ([[True, False, False], [True]], 1),
    ([[None], [True]], 2),                 # one inconclusive, none below: 2
    ([[None], [False]], 1),                # one below min_rate wins over an inconclusive one
])
def test_findings_exit_code_0_1_2(tmp_path: Path, monkeypatch, patterns: list, code: int) -> None:
    import lab.findings.replay as replay_module

    directory = catalogue(tmp_path, GOOD, {**GOOD, "id": "exec-stop-2"})
    by_id = dict(zip(["exec-stop", "exec-stop-2"], patterns))
    real = replay_module.replay_finding

    def per_finding(finding, tries, _run_fn, store, *args, **kwargs):  # each finding its own pattern of tries
        return real(finding, tries, FakeRuns(tmp_path, by_id[finding.id]), store, *args, **kwargs)

    monkeypatch.setattr(replay_module, "replay_finding", per_finding)
    assert replay_all([], 3, tmp_path / "store", run_fn=FakeRuns(tmp_path, [True]), directory=directory) == code


# ---------------------------------------------------------------- --record
def test_record_writes_tries_asked_and_conclusive_reproductions(tmp_path: Path) -> None:
    directory = catalogue(tmp_path)
    catalogued = (DEFAULT_DIR / "executor-sigterm-abandons-actions.yaml").read_text()
    fresh = re.sub(r"(?m)^replayed: .*\n", "", re.sub(r"(?m)^reproduced: \d+", "reproduced: 0",
                                                       re.sub(r"(?m)^tries: \d+", "tries: 0", catalogued)))
    (directory / "executor-sigterm-abandons-actions.yaml").write_text(fresh)  # as if never replayed
    shutil.copy(DEFAULT_DIR / "specs" / "executor-sigterm-abandons-actions.yaml", directory / "specs")
    before = (directory / "executor-sigterm-abandons-actions.yaml").read_text()
    code = replay_all([], 3, tmp_path / "store", record=True, run_fn=FakeRuns(tmp_path, [True, None, "faults", True,
                                                                                       False]), directory=directory)
    after = (directory / "executor-sigterm-abandons-actions.yaml").read_text()
    finding = load_catalogue(directory, ["executor-sigterm-abandons-actions"])[0]
    assert code == 0 and (finding.tries, finding.reproduced) == (3, 2) and finding.replayed
    assert after.replace("tries: 3", "tries: 0").replace("reproduced: 2", "reproduced: 0").rsplit("replayed:", 1)[0] \
        == before  # comments, min_rate and every other line kept
    # A replay against another version never rewrites the catalogue.
    replay_all([], 1, tmp_path / "store", record=True, mistral_version="24.0.0",
               run_fn=FakeRuns(tmp_path, [False]), directory=directory)
    assert load_catalogue(directory, ["executor-sigterm-abandons-actions"])[0].tries == 3


def test_an_inconclusive_replay_records_nothing_and_says_so(tmp_path: Path, capsys) -> None:
    directory = catalogue(tmp_path, GOOD)
    before = (directory / "exec-stop.yaml").read_text()
    fake = FakeRuns(tmp_path, [True, None, None, None])
    code = replay_all([], 2, tmp_path / "store", record=True, run_fn=fake, directory=directory)
    printed = capsys.readouterr()
    assert code == 2 and len(fake.specs) == 4  # bounded: at most `tries` extra attempts
    assert "inconclusive: 2 of 2 asked" not in printed.out and "inconclusive: 1 of 2 asked conclusive" in printed.out
    assert "exec-stop: inconclusive, nothing recorded in exec-stop.yaml" in printed.err
    assert (directory / "exec-stop.yaml").read_text() == before
    (finding,) = load_catalogue(directory)
    replay = replay_finding(finding, 2, FakeRuns(tmp_path, [None]), tmp_path / "store")
    assert record_replay(replay) is False and (directory / "exec-stop.yaml").read_text() == before


# ---------------------------------------------------------------- output
def test_the_table_prints_every_count_the_status_and_its_rule(tmp_path: Path, capsys) -> None:
    provisional = {**GOOD, "id": "exec-stop-2", "min_rate": "1/3",
                   "min_rate_basis": {"tries": 2, "reproduced": 1, "date": "2026-11-25"}}
    directory = catalogue(tmp_path, GOOD, provisional)
    replay_all([], 3, tmp_path / "store", run_fn=FakeRuns(tmp_path, [True, None, False, True]), directory=directory)
    out = capsys.readouterr().out
    assert "at most N extra attempts for N tries asked" in out
    header = next(line for line in out.splitlines() if line.split()[:1] == ["finding"])
    assert header.split() == ["finding", "asked", "conclusive", "inconclusive", "reproduced", "required", "status"]
    row = next(line for line in out.splitlines() if line.startswith("exec-stop "))
    assert row.split()[1:7] == ["3", "3", "1", "2", "2", "reproduces"] and "provisional" not in row
    assert "reproduces: 2 of 3 asked >= min_rate 2/3 -> 2 required" in out
    second = next(line for line in out.splitlines() if line.startswith("exec-stop-2"))
    assert "provisional: min_rate from 2 tries" in second and "fewer than 6 tries" in out


def test_findings_json_prints_one_object_per_finding(tmp_path: Path, monkeypatch) -> None:
    import lab.warm

    second = {**GOOD, "id": "exec-stop-2", "min_rate": "1/3",
              "min_rate_basis": {"tries": 6, "reproduced": 2, "date": "2026-11-25"}}
    monkeypatch.setenv(FINDINGS_ENV, str(catalogue(tmp_path, GOOD, second)))
    fake = FakeRuns(tmp_path, [True, False, False])
    monkeypatch.setattr(lab.warm.WarmLabs, "run", lambda self, spec, store, **_: fake(spec, store))
    result = runner.invoke(app, ["findings", "--json", "--tries", "3", "--store", str(tmp_path / "store")])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [(o["id"], o["tries"], o["conclusive"], o["reproduced"], o["required"], o["status"]) for o in lines] == \
        [("exec-stop", 3, 3, 1, 2, BELOW), ("exec-stop-2", 3, 3, 1, 1, REPRODUCES)]
    assert lines[1]["rule"] == "reproduces: 1 of 3 asked >= min_rate 1/3 -> 1 required"
    assert lines[0]["anomaly_counts"] == {"abandoned-action": 1, "log": 6, "stuck-execution": 2}
    assert [r["seed"] for r in lines[0]["runs"]] == [8, 9, 10] and lines[0]["provisional"] is False
    assert result.exit_code == 1  # exec-stop reproduced 1 of 3, below 2/3
    assert "at most N extra attempts" in runner.invoke(app, ["findings", "--help"]).stdout


def test_findings_table_against_a_patched_source_says_gone_or_still_there(tmp_path: Path, capsys) -> None:
    engine = {**GOOD, "id": "exec-stop-2", "signature": {**GOOD["signature"], "role": "engine"}}
    directory = catalogue(tmp_path, GOOD, engine)
    src = tmp_path / "mistral-src"
    src.mkdir()
    fake = FakeRuns(tmp_path, [True])
    code = replay_all([], 2, tmp_path / "store", mistral_src=src, run_fn=fake, directory=directory)
    table = capsys.readouterr().out
    assert "still there: 2 of 2 asked reproduced" in table and "gone: 0 of 2 asked reproduced" in table
    assert code == 1  # exec-stop-2 does not reproduce
    assert fake.specs[0].topology("x").mistral_src == str(src)
    assert "mistral_src" not in fake.specs[0].to_dict()  # test.yaml stays a plain spec


def test_findings_rejects_bad_options_before_any_run(tmp_path: Path) -> None:
    directory = catalogue(tmp_path, GOOD)
    fake = FakeRuns(tmp_path, [True])
    for kwargs, message in (({"mistral_version": "24.0.0", "mistral_src": tmp_path}, "not both"),
                            ({"mistral_src": tmp_path / "none"}, "not a directory")):
        with pytest.raises(LabError, match=message):
            replay_all([], 3, tmp_path / "store", run_fn=fake, directory=directory, **kwargs)
    with pytest.raises(LabError, match="--tries 0"):
        replay_all([], 0, tmp_path / "store", run_fn=fake, directory=directory)
    assert fake.specs == []


# ---------------------------------------------------------------- the newest run that shows a finding
def test_findings_bundles_picks_the_newest_run_that_shows_the_finding(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(FINDINGS_ENV, str(catalogue(tmp_path, GOOD)))
    store = tmp_path / "store"
    (finding,) = load_catalogue()
    replay_finding(finding, 2, FakeRuns(tmp_path, [True, False]), store)
    result = runner.invoke(app, ["findings-bundles", "--store", str(store)])
    assert result.exit_code == 0, result.stdout
    assert (store / "findings" / "exec-stop.tar.gz").exists() and "try1" in result.stdout


def test_two_findings_sharing_a_spec_each_find_their_own_run(tmp_path: Path) -> None:
    stuck = {**GOOD, "id": "stuck", "class": "stuck-execution", "kind": "idle-task",
             "signature": {"class": "stuck-execution", "kind": "idle-task", "fault": "scale", "role": "executor"}}
    directory = catalogue(tmp_path, GOOD, stuck)
    store = tmp_path / "store"
    exec_stop, stuck_finding = load_catalogue(directory, ["exec-stop", "stuck"])
    replay_finding(exec_stop, 3, FakeRuns(tmp_path, [True, False, False]), store)  # try1 shows exec-stop only
    assert latest_matching_run(exec_stop, store) == store / "x-spec" / "try1"
    assert latest_matching_run(stuck_finding, store) == store / "x-spec" / "try3"  # the newest with idle-task
    legacy = store / "stuck" / "try9"  # a replay stored under the finding's own (former) spec name
    shutil.copytree(store / "x-spec" / "try2", legacy)
    assert latest_matching_run(stuck_finding, store) == legacy
