"""A map cell's class from its run's results.json alone: each class from a run the real judge wrote (and a few
hand-made edges), a rule that matched nothing never 'no effect', and several tries combined."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from lab.findings.catalogue import apply_catalogue
from lab.map.classify import (DEFECT, DESIGNED, HA_GAP, INCONCLUSIVE, NO_EFFECT, NOT_EXERCISED, classify,
                              combine)
from lab.tests.findings_fixtures import GOOD, catalogue
from lab.tests.map_fixtures import judged


@pytest.mark.parametrize("case, cls, reason", [
    ("dedup", NO_EFFECT, "VALID and no anomaly after 1 matched message(s)"),
    ("send-drop", DESIGNED, "abandoned-action/heartbeat"),
    ("lost-result", HA_GAP, "lost-result/completed-run-failed"),
    ("duplicate", DEFECT, "duplicate-run/redelivered"),
    ("unmatched", NOT_EXERCISED, "healed, but touched nothing (matches: empty)"),
    ("start-failed", NOT_EXERCISED, "start failed: rpc: no rule file dir"),
    ("heal-failed", INCONCLUSIVE, "whether the rpc rule matched a message is unknown"),
])
def test_each_class_comes_from_the_judge_s_own_results(tmp_path: Path, case: str, cls: str, reason: str) -> None:
    cell = classify(judged(tmp_path, case))
    assert cell["class"] == cls, cell["reason"]
    assert reason in cell["reason"]


def test_a_rule_that_matched_nothing_is_not_exercised_even_though_nothing_went_wrong(tmp_path: Path) -> None:
    results = judged(tmp_path, "unmatched")
    assert results["anomalies"] == [] and results["gates"]["progress"]["valid"] is True  # a quiet, healthy run
    cell = classify(results)
    assert cell["class"] == NOT_EXERCISED and cell["class"] != NO_EFFECT
    assert cell["matched"] == 0
    # Even with the verdict forced to VALID, a rule that touched nothing answers nothing.
    assert classify({**results, "valid": True})["class"] == NOT_EXERCISED


def test_the_evidence_names_the_anomalies_the_consequence_and_whether_they_follow_the_message(tmp_path: Path
                                                                                             ) -> None:
    cell = classify(judged(tmp_path, "lost-result"))
    (anomaly,) = cell["anomalies"]
    assert anomaly["name"] == "lost-result/completed-run-failed" and anomaly["follows_message"] is True
    assert anomaly["inside"] == {"designed": False, "spec": True} and anomaly["defect"] is False
    (consequence,) = cell["consequences"]
    assert consequence.startswith("result lost: the witness saw the run complete")
    assert cell["matched"] == 1 and cell["findings"] == [] and cell["new"] is False


def test_a_defect_no_finding_matches_is_new_and_a_catalogued_one_names_its_finding(tmp_path: Path) -> None:
    results = judged(tmp_path, "duplicate")
    assert classify(results)["new"] is True and classify(results)["findings"] == []
    finding = {**GOOD, "id": "redelivered-run-action-runs-thrice", "class": "duplicate-run", "kind": "redelivered",
               "signature": {"class": "duplicate-run", "kind": "redelivered", "fault": "rpc",
                             "role": "executor"}}
    known = {**results, **apply_catalogue(copy.deepcopy(results), catalogue(tmp_path, finding))}
    cell = classify(known)
    assert cell["class"] == DEFECT and cell["findings"] == ["redelivered-run-action-runs-thrice"]
    assert cell["new"] is False


@pytest.mark.parametrize("outcome, reason", [
    ({"interrupted": True}, "interrupted"),
    ({"lab_error": "docker: no space left on device"}, "lab failure: docker: no space left on device"),
])
def test_an_interrupted_or_failed_run_is_inconclusive_whatever_it_showed(tmp_path: Path, outcome: dict,
                                                                        reason: str) -> None:
    results = judged(tmp_path, "duplicate", **outcome)
    assert results["anomalies"] and results["anomalies"][0]["defect"] is True  # the defect is there ...
    cell = classify(results)
    assert cell["class"] == INCONCLUSIVE and reason in cell["reason"]  # ... but the run never finished


def test_no_results_json_is_inconclusive() -> None:
    assert classify({})["class"] == INCONCLUSIVE
    assert classify({}, lab_error="a lab named x already exists")["reason"] == \
        "lab failure: a lab named x already exists"


def test_an_unknown_verdict_without_a_defect_is_inconclusive_not_a_class(tmp_path: Path) -> None:
    results = judged(tmp_path, "lost-result")
    results["valid"] = "unknown"
    results["reasons"] = ["UNKNOWN (checker linearizable): the search ran out of time"]
    cell = classify(results)
    assert cell["class"] == INCONCLUSIVE and "the search ran out of time" in cell["reason"]


def test_log_findings_that_are_only_reported_do_not_make_a_consequence(tmp_path: Path) -> None:
    results = judged(tmp_path, "dedup")
    traceback = {"class": "log", "kind": "traceback", "defect": False, "inside": {"designed": True, "spec": True},
                 "checker": "logs", "nodes": ["api-1"], "faults": [], "summary": "api-1: 1 traceback"}
    results["anomalies"] = [traceback]
    cell = classify(results)
    assert cell["class"] == NO_EFFECT and cell["reported"] == ["log/traceback"] and cell["anomalies"] == []
    results["anomalies"] = [{**traceback, "kind": "deadlock", "defect": True}]  # a logged defect counts
    assert classify({**results, "valid": False})["class"] == DEFECT


def test_a_heal_that_never_answered_is_inconclusive_not_unexercised(tmp_path: Path) -> None:
    results = judged(tmp_path, "unmatched")
    results["promise"]["windows"][0]["healed"] = None
    assert classify(results)["class"] == INCONCLUSIVE


def _try(cls: str, seed: int) -> dict:
    return {"class": cls, "reason": f"{cls} at {seed}", "seed": seed, "anomalies": []}


def test_a_cell_of_several_tries_shows_its_most_severe_conclusive_class() -> None:
    cell = combine([_try(NO_EFFECT, 1), _try(HA_GAP, 2), _try(NOT_EXERCISED, 3), _try(DESIGNED, 4)])
    assert cell["class"] == HA_GAP and cell["seed"] == 2 and cell["conclusive"] == 3
    assert "3 of 4 tries conclusive" in cell["reason"] and "1 not exercised" in cell["reason"]
    assert combine([_try(INCONCLUSIVE, 1), _try(NOT_EXERCISED, 2)])["class"] == NOT_EXERCISED
    assert combine([_try(INCONCLUSIVE, 1)])["class"] == INCONCLUSIVE
    assert combine([_try(DEFECT, 1), _try(NO_EFFECT, 2)])["class"] == DEFECT
