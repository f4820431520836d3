"""The findings catalogue: parsing (one clear line per bad field), signature matching, replay counting with a
fake run function (no Docker), known versus new defects in results.json, exit codes with --strict, JSON."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from checker.tests.runfixtures import action, execution, snapshot, task, witness
from checker.tests.test_anomalies import _fault, _run
from cluster.errors import LabError
from lab.cli import _register_commands, app
from lab.findings import (DEFAULT_DIR, FINDINGS_ENV, Signature, apply_catalogue, finding_spec, load_catalogue,
                          load_finding, match_anomalies, parse_label, replay_finding, verdict_after_catalogue)
from lab.findings_cli import replay_all
from lab.run import RunOutcome, build_parts, check_run_dir, planned_schedule
from lab.report import render_report

runner = CliRunner()
_register_commands()

SPEC = {"name": "x-spec", "cluster": {"apis": 1, "engines": 2, "executors": 2}, "workload": {"name": "reference"},
        "nemesis": {"faults": [{"fault": "scale", "target": "executor"}], "interval_s": 25, "duration_s": 15},
        "time_limit_s": 60, "seed": 8}
GOOD = {"id": "exec-stop", "title": "An executor stop abandons actions", "class": "abandoned-action",
        "kind": "heartbeat", "mistral_version": "23.0.0", "spec": "specs/x-spec.yaml", "seed": 8,
        "signature": {"class": "abandoned-action", "kind": "heartbeat", "fault": "scale", "role": "executor"},
        "breaks": "designed", "what_happens": "executor-2 stops; actions fail by heartbeat.",
        "why": "ExecutorServer.stop stops heartbeats first.", "first_seen": {"date": "2026-11-25", "run": "x"},
        "tries": 0, "reproduced": 0}


def _catalogue(tmp_path: Path, *findings: dict[str, Any]) -> Path:
    directory = tmp_path / "findings"
    (directory / "specs").mkdir(parents=True, exist_ok=True)
    (directory / "specs" / "x-spec.yaml").write_text(yaml.safe_dump(SPEC))
    for data in findings:
        (directory / f"{data['id']}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return directory


def _anomaly(cls: str = "abandoned-action", kind: str = "heartbeat", nodes=("executor-2",),
             labels=("#1 scale executor-2",), summary: str = "action execution a1 failed by the heartbeat check",
             defect: bool = True) -> dict[str, Any]:
    return {"class": cls, "kind": kind, "defect": defect, "inside": {"designed": True, "spec": False},
            "nodes": list(nodes), "faults": [{"label": label, "inside": {}, "reasons": {}} for label in labels],
            "summary": summary}


# ---------------------------------------------------------------- the catalogue files
def test_the_seeded_catalogue_loads_and_every_spec_builds() -> None:
    found = {f.id: f for f in load_catalogue(DEFAULT_DIR)}
    assert set(found) == {"stuck-after-engine-scale-down", "executor-sigterm-abandons-actions",
                          "retry-duplicates-non-idempotent-action", "lost-result-after-engine-scale-down",
                          "join-stuck-after-engine-scale-down"}
    for finding in found.values():
        assert finding.mistral_version == "23.0.0" and 0 < finding.reproduced <= finding.tries, finding.id
        spec = finding_spec(finding, finding.seed)
        assert spec.seed == finding.seed and spec.mistral_version == "23.0.0"
        plan = planned_schedule(build_parts(spec, "x")[1], spec.time_limit_s)
        assert plan and finding.signature.fault in {p["fault"] for p in plan}, finding.id
    retry = found["retry-duplicates-non-idempotent-action"]
    params = finding_spec(retry, 4).workload["params"]
    assert (Path(params["base_dir"]) / params["file"]).is_file()  # the copied workflow, named relative to the spec
    assert found["stuck-after-engine-scale-down"].signature == Signature("stuck-execution", "idle-task", "scale",
                                                                         "engine")


def test_a_good_file_loads_with_defaults(tmp_path: Path) -> None:
    (finding,) = load_catalogue(_catalogue(tmp_path, GOOD))
    assert (finding.id, finding.cls, finding.kind, finding.seed, finding.breaks) == \
        ("exec-stop", "abandoned-action", "heartbeat", 8, "designed")
    assert finding.required(3) == 2 and finding.required(1) == 1 and finding.required(5) == 4
    assert finding.first_seen == {"date": "2026-11-25", "run": "x"}
    assert finding.spec == (tmp_path / "findings" / "specs" / "x-spec.yaml").resolve()


@pytest.mark.parametrize("change, field, reason", [
    ({"title": None}, "title", "non-empty string"),
    ({"id": "other"}, "id", "must match the file name"),
    ({"class": "slow"}, "class", "unknown anomaly class 'slow'"),
    ({"kind": ""}, "kind", "non-empty string"),
    ({"mistral_version": "23"}, "mistral_version", "a version like 23.0.0"),
    ({"spec": "specs/none.yaml"}, "spec", "no such file"),
    ({"spec": "../x-spec.yaml"}, "spec", "directly in"),
    ({"seed": "eight"}, "seed", "integer"),
    ({"signature": "abandoned-action"}, "signature", "a mapping"),
    ({"signature": {"class": "duplicate-run"}}, "signature.class", "differs from the finding's class"),
    ({"signature": {"kind": "other"}}, "signature.kind", "differs from the finding's kind"),
    ({"signature": {"role": "pilot"}}, "signature.role", "one of api, engine"),
    ({"signature": {"fault": "Scale Fault"}}, "signature.fault", "a fault name"),
    ({"signature": {"summary": "(unclosed"}}, "signature.summary", "not a regular expression"),
    ({"signature": {"node": "x"}}, "signature.node", "unknown field"),
    ({"breaks": "sometimes"}, "breaks", "designed or spec"),
    ({"what_happens": ""}, "what_happens", "non-empty string"),
    ({"evidence": {"nodes": "engine-2"}}, "evidence.nodes", "a list of strings"),
    ({"first_seen": {"date": "yesterday"}}, "first_seen.date", "YYYY-MM-DD"),
    ({"min_rate": "3/2"}, "min_rate", "in (0, 1]"),
    ({"tries": -1}, "tries", "integer >= 0"),
    ({"tries": 1, "reproduced": 2}, "reproduced", "more than tries"),
    ({"colour": "red"}, "colour", "unknown field"),
])
def test_each_bad_field_is_one_line_naming_file_and_field(tmp_path: Path, change: dict, field: str,
                                                          reason: str) -> None:
    directory = _catalogue(tmp_path, {**GOOD, **change, "id": "exec-stop"})
    path = directory / "exec-stop.yaml"
    if "id" in change:
        path.write_text(yaml.safe_dump({**GOOD, **change}))
    with pytest.raises(LabError) as caught:
        load_finding(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and f"field {field!r}" in message and reason in message, message
    assert "\n" not in message


def test_a_missing_field_and_broken_yaml_are_one_line(tmp_path: Path) -> None:
    directory = _catalogue(tmp_path, {k: v for k, v in GOOD.items() if k != "why"})
    with pytest.raises(LabError, match=r"exec-stop.yaml: field 'why': required"):
        load_catalogue(directory)
    (directory / "exec-stop.yaml").write_text("id: [unclosed\n")
    with pytest.raises(LabError, match=r"exec-stop.yaml:\d+: invalid YAML"):
        load_catalogue(directory)


def test_an_error_names_the_line(tmp_path: Path) -> None:
    directory = _catalogue(tmp_path, {**GOOD, "signature": {**GOOD["signature"], "role": "pilot"}})
    lines = (directory / "exec-stop.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.strip().startswith("role:"))
    with pytest.raises(LabError, match=rf"exec-stop.yaml:{line}: field 'signature.role'"):
        load_catalogue(directory)


def test_selecting_an_unknown_finding_names_the_catalogued_ones(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="unknown finding 'nope' .*catalogued: exec-stop"):
        load_catalogue(_catalogue(tmp_path, GOOD), ["nope"])


# ---------------------------------------------------------------- signatures
def test_fault_labels_parse_to_fault_and_roles() -> None:
    assert parse_label("#1 scale executor-2") == ("scale", {"executor"})
    assert parse_label("#0 partition engine-1,db") == ("partition", {"engine", "db"})
    assert parse_label("#None scale random:engine") == ("scale", {"engine"})
    assert parse_label("#3 heal") == ("heal", set())
    assert parse_label("nonsense") is None


def test_signature_class_only() -> None:
    signature = Signature("abandoned-action")
    assert signature.matches(_anomaly())
    assert signature.matches(_anomaly(nodes=(), labels=()))
    assert not signature.matches(_anomaly(cls="duplicate-run"))


def test_signature_class_fault_and_role() -> None:
    signature = Signature("abandoned-action", "heartbeat", "scale", "executor")
    assert signature.matches(_anomaly())
    assert signature.matches(_anomaly(nodes=()))  # the role is in the fault label
    assert signature.matches(_anomaly(labels=("#1 scale executor",)))  # a role target
    assert not signature.matches(_anomaly(kind="completed-run-failed"))
    assert not signature.matches(_anomaly(labels=("#1 pause executor-2",)))  # another fault
    assert not signature.matches(_anomaly(labels=()))  # no fault at all
    engine = Signature("stuck-execution", "idle-task", "scale", "engine")
    stuck = _anomaly(cls="stuck-execution", kind="idle-task", nodes=("executor-1",), labels=("#2 scale engine-2",))
    assert engine.matches(stuck)
    # The role must come from the anomaly's nodes or the matching fault, not from some other fault.
    other = _anomaly(cls="stuck-execution", kind="idle-task", nodes=("executor-1",),
                     labels=("#2 scale executor-2", "#3 pause engine-1"))
    assert not engine.matches(other)


def test_signature_summary_regex() -> None:
    signature = Signature("duplicate-run", summary=r"task 'side_effect' ran \d+ times")
    assert signature.matches(_anomaly(cls="duplicate-run", summary="non-idempotent task 'side_effect' ran 2 times"))
    assert not signature.matches(_anomaly(cls="duplicate-run", summary="non-idempotent task 't_1' ran 2 times"))


def test_only_defects_are_matched_and_the_rest_are_new(tmp_path: Path) -> None:
    catalogue = load_catalogue(_catalogue(tmp_path, GOOD))
    anomalies = [_anomaly(), _anomaly(defect=False), _anomaly(cls="duplicate-run", kind="task-rerun",
                                                             summary="ran twice"), _anomaly()]
    matched = match_anomalies(anomalies, catalogue)
    assert matched["known_findings"] == [{"id": "exec-stop", "title": GOOD["title"], "anomalies": [0, 3]}]
    assert matched["new_defects"] == [{"index": 2, "class": "duplicate-run", "kind": "task-rerun",
                                       "summary": "ran twice"}]


# ---------------------------------------------------------------- the verdict after the catalogue
def _results(valid: Any, anomalies: list[dict], gate: Any = True, **extra: Any) -> dict[str, Any]:
    return {"valid": valid, "anomalies": anomalies, "checkers": {"completion": {"valid": False}},
            "gates": {"progress": {"valid": gate}}, **extra}


def test_verdict_after_catalogue() -> None:
    known = [_anomaly()]
    assert verdict_after_catalogue(_results(False, known), []) is True
    assert verdict_after_catalogue(_results(False, known), [{"index": 0}]) is False
    assert verdict_after_catalogue(_results(False, known, gate="unknown"), []) == "unknown"
    assert verdict_after_catalogue(_results(False, known, interrupted=True), []) == "unknown"
    assert verdict_after_catalogue(_results(False, []), []) is False  # INVALID with no named defect stays so
    assert verdict_after_catalogue(_results("unknown", []), []) == "unknown"
    assert verdict_after_catalogue(_results(True, []), []) is True


def test_a_broken_catalogue_leaves_every_defect_new_and_says_so(tmp_path: Path) -> None:
    directory = _catalogue(tmp_path, {**GOOD, "class": "slow"})
    fields = apply_catalogue(_results(False, [_anomaly()]), directory)
    assert fields["known_findings"] == [] and len(fields["new_defects"]) == 1
    assert fields["verdict_after_catalogue"] is False and "field 'class'" in fields["catalogue_error"]
    empty = apply_catalogue(_results(False, [_anomaly()]), tmp_path / "nothing-here")
    assert empty["verdict_after_catalogue"] is False and "catalogue_error" not in empty


def _executor_stop_run(tmp_path: Path) -> Path:
    """A stored run: executor-1 stopped gracefully (scale) while it ran a1; Mistral failed a1 by heartbeat."""
    snap = snapshot([execution(state="ERROR", state_info="Failure caused by error in tasks: t_1")],
                    [task("t1", state="ERROR")],
                    [action("a1", "t1", state="ERROR", state_info="Heartbeat wasn't received.")])
    run_dir = _run(tmp_path, snap, witness("r1", "a1", "t1", phase_end=False),
                   _fault("scale", 1, 1.0, 3.0, {"role": "executor", "from": 2, "to": 1, "stopped": ["executor-1"]}))
    (run_dir / "test.yaml").write_text(yaml.safe_dump({"name": "x-spec", "seed": 8}))
    return run_dir


def test_a_checked_run_records_known_findings_and_keeps_valid_raw(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(FINDINGS_ENV, str(_catalogue(tmp_path, GOOD)))
    run_dir = _executor_stop_run(tmp_path)
    results = check_run_dir(run_dir)
    defects = [i for i, a in enumerate(results["anomalies"]) if a["defect"]]
    assert defects and results["valid"] is False  # the raw verdict stays honest
    assert results["known_findings"] == [{"id": "exec-stop", "title": GOOD["title"], "anomalies": defects}]
    assert results["new_defects"] == []
    assert results["verdict_after_catalogue"] == "unknown"  # the known defect set aside, the progress gate decides
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["valid"] is False and saved["known_findings"] == results["known_findings"]
    page = render_report(run_dir).read_text()
    assert "Known and new defects" in page and "known: <b>exec-stop</b>" in page and ">NEW<" not in page


def test_an_uncatalogued_defect_is_new_in_results_and_report(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(FINDINGS_ENV, str(_catalogue(tmp_path, {**GOOD, "signature": {"role": "engine"}})))
    run_dir = _executor_stop_run(tmp_path)
    results = check_run_dir(run_dir)
    assert results["known_findings"] == [] and results["new_defects"][0]["class"] == "abandoned-action"
    assert results["verdict_after_catalogue"] is False
    assert ">NEW</b> defect abandoned-action/heartbeat" in render_report(run_dir).read_text()


# ---------------------------------------------------------------- run exit codes: known, new, --strict
KNOWN = [{"id": "exec-stop", "title": "An executor stop abandons actions", "anomalies": [0]}]
NEW = [{"index": 1, "class": "duplicate-run", "kind": "task-rerun", "summary": "task 'x' ran [2] times"}]


@pytest.mark.parametrize("after, known, new, strict, code, shown", [
    (True, KNOWN, [], False, 0, ["known: exec-stop An executor stop abandons actions", "raw verdict INVALID"]),
    (True, KNOWN, [], True, 1, ["known: exec-stop", "failed by --strict"]),
    (False, KNOWN, NEW, False, 1, ["NEW", "known: exec-stop", "task 'x' ran [2] times"]),
    (False, [], NEW, False, 1, ["NEW: 1 new defect(s)"]),
    ("unknown", KNOWN, [], False, 2, ["known: exec-stop"]),
])
def test_run_exits_on_the_verdict_after_the_catalogue(monkeypatch, tmp_path: Path, after: Any, known: list,
                                                      new: list, strict: bool, code: int, shown: list[str]) -> None:
    import lab.run

    def fake_run_test(spec, store, **_: Any) -> RunOutcome:
        return RunOutcome(tmp_path, False, after_catalogue=after, known=known, new=new)

    monkeypatch.setattr(lab.run, "run_test", fake_run_test)
    result = runner.invoke(app, ["run", "smoke", *(["--strict"] if strict else [])])
    assert result.exit_code == code, (result.stdout, result.exception)
    for text in shown:
        assert text in result.stdout, result.stdout


def test_a_run_without_catalogue_fields_exits_on_its_raw_verdict(tmp_path: Path) -> None:
    assert RunOutcome(tmp_path, False).exit_code == 1 and RunOutcome(tmp_path, True).exit_code == 0
    lab_failed = RunOutcome(tmp_path, False, lab_error="boom", after_catalogue=True, known=KNOWN)
    assert lab_failed.exit_for() == 3 and lab_failed.exit_for(strict=True) == 1


def test_soak_counts_known_only_runs_as_passing_unless_strict(monkeypatch, tmp_path: Path) -> None:
    import lab.run
    from lab.soak import soak_loop

    outcomes = [(False, True, KNOWN, []), (False, False, KNOWN, NEW), (True, True, [], [])]
    calls: list[int] = []

    def fake_run_test(spec, store, **_: Any) -> RunOutcome:
        valid, after, known, new = outcomes[len(calls) % 3]
        run_dir = store / spec.name / f"run{len(calls)}"
        run_dir.mkdir(parents=True)
        calls.append(1)
        return RunOutcome(run_dir, valid, after_catalogue=after, known=known, new=new)

    monkeypatch.setattr(lab.run, "run_test", fake_run_test)
    monkeypatch.setattr("lab.soak.time.monotonic", lambda: 1e12 if len(calls) >= 3 else 0.0)
    failed = soak_loop(60, ["smoke"], seed=1, store=tmp_path / "store", time_limit=None)
    summary = json.loads((tmp_path / "store" / "soak-summary.json").read_text())
    assert [r["known"] for r in summary["runs"]] == [["exec-stop"], ["exec-stop"], []]
    assert [r["new"] for r in summary["runs"]] == [0, 1, 0]
    assert [r["valid"] for r in summary["runs"]] == [False, False, True]  # raw verdicts kept
    assert len(failed) == 1 and failed[0]["new"] == 1
    assert summary["runs_with_new_defects"] == 1 and summary["runs_with_known_only"] == 1
    assert "<b>NEW</b>: 1" in (tmp_path / "store" / "soak-summary.html").read_text()
    calls.clear()
    strict = soak_loop(60, ["smoke"], seed=1, store=tmp_path / "strict", time_limit=None, strict=True)
    assert len(strict) == 2


# ---------------------------------------------------------------- replays
class FakeRuns:
    """A run function that writes a stored results.json per try: reproduces where `pattern` says so."""

    def __init__(self, tmp_path: Path, pattern: list[bool | None]) -> None:
        self.tmp_path, self.pattern, self.specs = tmp_path, pattern, []

    def __call__(self, spec, store: Path) -> RunOutcome:
        self.specs.append(spec)
        parent = store / spec.name
        run_dir = parent / f"try{len(list(parent.glob('try*'))) + 1}"  # unique, like the run store's
        run_dir.mkdir(parents=True)
        hit = self.pattern[(len(self.specs) - 1) % len(self.pattern)]
        if hit is None:  # a try that never got going: UNKNOWN, nothing checked, a lab failure
            (run_dir / "results.json").write_text(json.dumps({"valid": "unknown", "checkers": {}}))
            return RunOutcome(run_dir, False, lab_error="OSError: the build broke")
        anomalies = [_anomaly()] if hit else [_anomaly(cls="stuck-execution", kind="idle-task")]
        results = {"valid": False, "anomalies": anomalies,
                   "anomaly_counts": {anomalies[0]["class"]: 1, "log": 2}}
        (run_dir / "results.json").write_text(json.dumps(results))
        return RunOutcome(run_dir, False)


def test_replay_uses_seed_then_seed_plus_k(tmp_path: Path) -> None:
    (finding,) = load_catalogue(_catalogue(tmp_path, GOOD))
    fake = FakeRuns(tmp_path, [True, False, True])
    replay = replay_finding(finding, 3, fake, tmp_path / "store")
    assert [s.seed for s in fake.specs] == [8, 9, 10]
    assert all(s.mistral_version == "23.0.0" for s in fake.specs)
    assert (replay.reproduced, replay.required, replay.ok) == (2, 2, True)
    assert replay.anomaly_counts == {"abandoned-action": 2, "log": 6, "stuck-execution": 1}


@pytest.mark.parametrize("pattern, code", [([True, True, False], 0), ([True, False, False], 1),
                                           ([False], 1), ([True], 0)])
def test_findings_exit_code_follows_the_reproduction_rate(tmp_path: Path, pattern: list[bool], code: int) -> None:
    directory = _catalogue(tmp_path, GOOD)
    assert replay_all([], 3, tmp_path / "store", run_fn=FakeRuns(tmp_path, pattern), directory=directory) == code


def test_an_inconclusive_try_is_replaced_and_not_counted(tmp_path: Path) -> None:
    (finding,) = load_catalogue(_catalogue(tmp_path, GOOD))
    fake = FakeRuns(tmp_path, [None, True, None, True, False])
    replay = replay_finding(finding, 3, fake, tmp_path / "store")
    assert [s.seed for s in fake.specs] == [8, 9, 10, 11, 12]  # two extra attempts for the two failures
    assert (len(replay.counted), replay.inconclusive, replay.reproduced, replay.ok) == (3, 2, 2, True)
    assert [r["conclusive"] for r in replay.to_json()["runs"]] == [False, True, False, True, True]


def test_a_replay_of_only_failed_runs_is_inconclusive_and_records_nothing(tmp_path: Path, capsys) -> None:
    directory = _catalogue(tmp_path, GOOD)
    before = (directory / "exec-stop.yaml").read_text()
    fake = FakeRuns(tmp_path, [None])
    code = replay_all([], 2, tmp_path / "store", record=True, run_fn=fake, directory=directory)
    assert code == 1 and len(fake.specs) == 4  # bounded: at most `tries` extra attempts
    assert "INCONCLUSIVE" in capsys.readouterr().out
    assert (directory / "exec-stop.yaml").read_text() == before  # no 0-of-N recorded from broken runs


def test_findings_json_prints_one_object_per_finding(tmp_path: Path, monkeypatch) -> None:
    import lab.findings_cli

    second = {**GOOD, "id": "exec-stop-2", "min_rate": "1/3"}
    monkeypatch.setenv(FINDINGS_ENV, str(_catalogue(tmp_path, GOOD, second)))
    fake = FakeRuns(tmp_path, [True, False, False])
    monkeypatch.setattr(lab.findings_cli, "_default_run", fake)
    result = runner.invoke(app, ["findings", "--json", "--tries", "3", "--store", str(tmp_path / "store")])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [(o["id"], o["class"], o["tries"], o["reproduced"], o["ok"]) for o in lines] == \
        [("exec-stop", "abandoned-action", 3, 1, False), ("exec-stop-2", "abandoned-action", 3, 1, True)]
    assert lines[0]["anomaly_counts"] == {"abandoned-action": 1, "log": 6, "stuck-execution": 2}
    assert [r["seed"] for r in lines[0]["runs"]] == [8, 9, 10]
    assert result.exit_code == 1  # exec-stop reproduced 1 of 3, below 2/3


def test_findings_table_against_a_patched_source_says_gone_or_still_there(tmp_path: Path, monkeypatch,
                                                                          capsys) -> None:
    directory = _catalogue(tmp_path, GOOD, {**GOOD, "id": "exec-stop-2", "signature": {"role": "engine"}})
    src = tmp_path / "mistral-src"
    src.mkdir()
    fake = FakeRuns(tmp_path, [True])
    code = replay_all([], 2, tmp_path / "store", mistral_src=src, run_fn=fake, directory=directory)
    table = capsys.readouterr().out
    assert "exec-stop " in table and "still there" in table and "gone" in table
    assert code == 1  # exec-stop-2 does not reproduce
    assert fake.specs[0].topology("x").mistral_src == str(src)
    assert "mistral_src" not in fake.specs[0].to_dict()  # test.yaml stays a plain spec


def test_findings_rejects_bad_options_before_any_run(tmp_path: Path) -> None:
    directory = _catalogue(tmp_path, GOOD)
    fake = FakeRuns(tmp_path, [True])
    for kwargs, message in (({"mistral_version": "24.0.0", "mistral_src": tmp_path}, "not both"),
                            ({"mistral_src": tmp_path / "none"}, "not a directory")):
        with pytest.raises(LabError, match=message):
            replay_all([], 3, tmp_path / "store", run_fn=fake, directory=directory, **kwargs)
    with pytest.raises(LabError, match="--tries 0"):
        replay_all([], 0, tmp_path / "store", run_fn=fake, directory=directory)
    assert fake.specs == []


def test_record_writes_tries_and_reproduced_back_keeping_the_rest(tmp_path: Path) -> None:
    directory = _catalogue(tmp_path)
    catalogued = (DEFAULT_DIR / "executor-sigterm-abandons-actions.yaml").read_text()
    fresh = re.sub(r"(?m)^replayed: .*\n", "", re.sub(r"(?m)^reproduced: \d+", "reproduced: 0",
                                                       re.sub(r"(?m)^tries: \d+", "tries: 0", catalogued)))
    (directory / "executor-sigterm-abandons-actions.yaml").write_text(fresh)  # as if never replayed
    shutil.copy(DEFAULT_DIR / "specs" / "executor-sigterm-abandons-actions.yaml", directory / "specs")
    before = (directory / "executor-sigterm-abandons-actions.yaml").read_text()
    code = replay_all([], 3, tmp_path / "store", record=True, run_fn=FakeRuns(tmp_path, [True, True, False]),
                      directory=directory)
    after = (directory / "executor-sigterm-abandons-actions.yaml").read_text()
    (finding,) = load_catalogue(directory)
    assert code == 0 and (finding.tries, finding.reproduced) == (3, 2) and finding.replayed
    assert after.replace("tries: 3", "tries: 0").replace("reproduced: 2", "reproduced: 0").rsplit("replayed:", 1)[0] \
        == before  # comments and every other line kept
    # A replay against another version never rewrites the catalogue.
    replay_all([], 1, tmp_path / "store", record=True, mistral_version="24.0.0",
               run_fn=FakeRuns(tmp_path, [False]), directory=directory)
    assert load_catalogue(directory)[0].tries == 3


def test_findings_bundles_picks_the_newest_run_that_shows_the_finding(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(FINDINGS_ENV, str(_catalogue(tmp_path, GOOD)))
    store = tmp_path / "store"
    fake = FakeRuns(tmp_path, [True, False])
    (finding,) = load_catalogue()
    replay_finding(finding, 2, fake, store)
    result = runner.invoke(app, ["findings-bundles", "--store", str(store)])
    assert result.exit_code == 0, result.stdout
    assert (store / "findings" / "exec-stop.tar.gz").exists() and "try1" in result.stdout
