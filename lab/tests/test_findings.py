"""The findings catalogue: parsing (one clear line per bad field), signature matching, known versus new defects
in results.json, exit codes with --strict. Replays are in test_findings_replay.py, the committed catalogue's own
consistency in test_findings_catalogue.py."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from checker.tests.runfixtures import action, execution, snapshot, task, witness
from checker.tests.test_anomalies import _fault, _run
from cluster.errors import LabError
from lab.cli import _register_commands, app
from lab.findings.catalogue import (DEFAULT_DIR, FINDINGS_ENV, Signature, apply_catalogue, load_catalogue,
                                    load_finding, match_anomalies, parse_label, verdict_after_catalogue)
from lab.findings.replay import finding_spec
from lab.judge import judge_run_dir
from lab.run import RunOutcome, build_parts, planned_schedule
from lab.report import render_report
from lab.tests.findings_fixtures import GOOD, anomaly as _anomaly, catalogue as _catalogue

runner = CliRunner()
_register_commands()


# ---------------------------------------------------------------- the catalogue files
def test_the_seeded_catalogue_loads_and_every_spec_builds() -> None:
    found = {f.id: f for f in load_catalogue(DEFAULT_DIR)}
    assert set(found) == {"stuck-after-engine-scale-down", "executor-sigterm-abandons-actions",
                          "retry-duplicates-non-idempotent-action", "lost-result-after-engine-scale-down",
                          "join-stuck-after-engine-scale-down", "lost-start-task-leaves-execution-running",
                          "run-action-lost-with-its-engine"}
    for finding in found.values():
        # The last recorded replay as measured: it may have reproduced nothing (lost-result, 0 of 3 on
        # 2026-12-07), which the README's table shows; the finding still names where it was first seen.
        assert finding.mistral_version == "23.0.0" and 0 <= finding.reproduced <= finding.tries, finding.id
        assert finding.tries > 0 and finding.first_seen.get("date") and finding.first_seen.get("run"), finding.id
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
    ({"kind": ""}, "kind", "the anomaly kind"),
    ({"kind": None}, "kind", "the anomaly kind"),
    ({"signature": {"class": "abandoned-action"}}, "signature.kind", "required"),
    ({"mistral_version": "23"}, "mistral_version", "a version like 23.0.0"),
    ({"spec": "specs/none.yaml"}, "spec", "no such file"),
    ({"spec": "../x-spec.yaml"}, "spec", "directly in"),
    ({"seed": "eight"}, "seed", "integer"),
    ({"signature": "abandoned-action"}, "signature", "a mapping"),
    ({"signature": {"kind": "heartbeat", "class": "duplicate-run"}}, "signature.class", "differs from the finding's"),
    ({"signature": {"kind": "other"}}, "signature.kind", "differs from the finding's kind"),
    ({"signature": {"kind": "heartbeat", "role": "pilot"}}, "signature.role", "one of api, engine"),
    ({"signature": {"kind": "heartbeat", "fault": "Scale Fault"}}, "signature.fault", "a fault name"),
    ({"signature": {"kind": "heartbeat", "summary": "(unclosed"}}, "signature.summary", "not a regular expr"),
    ({"signature": {"kind": "heartbeat", "node": "x"}}, "signature.node", "unknown field"),
    ({"breaks": "sometimes"}, "breaks", "designed or spec"),
    ({"what_happens": ""}, "what_happens", "non-empty string"),
    ({"evidence": {"nodes": "engine-2"}}, "evidence.nodes", "a list of strings"),
    ({"first_seen": {"date": "yesterday"}}, "first_seen.date", "YYYY-MM-DD"),
    ({"min_rate": "3/2"}, "min_rate", "in (0, 1]"),
    ({"tries": -1}, "tries", "integer >= 0"),
    ({"min_rate_basis": "6 tries"}, "min_rate_basis", "a mapping"),
    ({"min_rate_basis": {"tries": 6, "reproduced": 5}}, "min_rate_basis.date", "YYYY-MM-DD"),
    ({"min_rate_basis": {"tries": 6, "date": "2026-11-25"}}, "min_rate_basis.reproduced", "required"),
    ({"min_rate_basis": {"tries": 2, "reproduced": 3, "date": "2026-11-25"}}, "min_rate_basis.reproduced",
     "more than tries"),
    ({"min_rate_basis": {"tries": 6, "reproduced": 2, "date": "2026-11-25"}}, "min_rate", "more than its basis"),
    ({"min_rate_basis": {**GOOD["min_rate_basis"], "by": "me"}}, "min_rate_basis.by", "unknown field"),
    ({"provisional": True}, "provisional", "unknown field"),
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


def test_signature_class_and_kind_only() -> None:
    signature = Signature("abandoned-action", "heartbeat")
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
    signature = Signature("duplicate-run", "task-rerun", summary=r"task 'side_effect' ran \d+ times")
    assert signature.matches(_anomaly(cls="duplicate-run", kind="task-rerun",
                                      summary="non-idempotent task 'side_effect' ran 2 times"))
    assert not signature.matches(_anomaly(cls="duplicate-run", kind="task-rerun",
                                          summary="non-idempotent task 't_1' ran 2 times"))


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
    results = judge_run_dir(run_dir)
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
    other_fault = {"kind": "heartbeat", "fault": "pause", "role": "executor"}  # the run's fault is a scale
    monkeypatch.setenv(FINDINGS_ENV, str(_catalogue(tmp_path, {**GOOD, "signature": other_fault})))
    run_dir = _executor_stop_run(tmp_path)
    results = judge_run_dir(run_dir)
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
    failed = soak_loop(60, ["smoke"], seed=1, store=tmp_path / "store", time_limit=None, fresh=True)
    summary = json.loads((tmp_path / "store" / "soak-summary.json").read_text())
    assert [r["known"] for r in summary["runs"]] == [["exec-stop"], ["exec-stop"], []]
    assert [r["new"] for r in summary["runs"]] == [0, 1, 0]
    assert [r["valid"] for r in summary["runs"]] == [False, False, True]  # raw verdicts kept
    assert len(failed) == 1 and failed[0]["new"] == 1
    assert summary["runs_with_new_defects"] == 1 and summary["runs_with_known_only"] == 1
    assert "<b>NEW</b>: 1" in (tmp_path / "store" / "soak-summary.html").read_text()
    calls.clear()
    strict = soak_loop(60, ["smoke"], seed=1, store=tmp_path / "strict", time_limit=None, strict=True, fresh=True)
    assert len(strict) == 2
