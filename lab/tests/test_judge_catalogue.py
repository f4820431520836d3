"""Known versus new, and the picture versus the verdict, on stored run directories (issue 22 cases 2 and 9):
a finding never excuses a defect its named fault did not act on, and the report draws the windows the verdict
was made from."""
from __future__ import annotations

import random
from pathlib import Path

from checker.anomalies import fault_entry
from checker.run_checks import check_run
from checker.tests.runfixtures import action, execution, snapshot, task, witness
from checker.tests.test_anomalies import START_WALL, _run
from history.faults import FaultWindow, read_faults, role_of
from history.reader import read_history
from lab.findings.catalogue import load_catalogue
from lab.findings.known_defects import Signature, match_anomalies
from lab.report import nemesis_periods

HEARTBEAT = "Heartbeat wasn't received."
SIGTERM_FINDING = "executor-sigterm-abandons-actions"


def _scale_down(node: str, start: float = 1.0, end: float = 11.0) -> list[tuple[str, str, dict, float]]:
    role = role_of(node)
    return [("invoke", "scale", {"action": "start", "index": 0, "target": role, "options": {}}, start),
            ("ok", "scale", {"action": "start", "role": role, "from": 2, "to": 1, "stopped": [node]}, start + 0.1),
            ("invoke", "scale", {"action": "heal", "index": 0}, end),
            ("ok", "scale", {"action": "heal", "added": [node]}, end + 0.1),
            ("invoke", "heal", {"action": "heal-cluster"}, end + 60.0),
            ("ok", "heal", {"action": "heal-cluster", "repaired": []}, end + 61.0)]


def _abandoned_on_executor_1(tmp_path: Path, fault: list) -> dict:
    snap = snapshot([execution(state="ERROR", state_info="Failure caused by error in tasks: t_1")],
                    [task("t1", state="ERROR", state_info=HEARTBEAT)],
                    [action("a1", "t1", state="ERROR", state_info=HEARTBEAT)], taken_at=START_WALL + 100)
    return check_run(_run(tmp_path, snap, witness("r1", "a1", "t1", phase_end=False, executor="executor-1"), fault))


# ---------------------------------------------------------------- 2. a signature excuses only its own defect
def test_an_engine_scale_down_never_excuses_an_action_abandoned_on_an_executor(tmp_path: Path) -> None:
    results = _abandoned_on_executor_1(tmp_path, _scale_down("engine-2"))
    (anomaly,) = results["anomalies"]
    assert anomaly["class"] == "abandoned-action" and anomaly["defect"] is True  # a graceful engine stop
    matched = match_anomalies(results["anomalies"], load_catalogue())
    assert matched["known_findings"] == [] and len(matched["new_defects"]) == 1
    (decision,) = matched["catalogue_decisions"]
    why = decision["reasons"][SIGTERM_FINDING]
    assert "engine-2" in why and "executor-1" in why, why


def test_the_same_abandoned_action_after_its_own_executor_was_stopped_is_the_known_finding(tmp_path: Path) -> None:
    results = _abandoned_on_executor_1(tmp_path, _scale_down("executor-1"))
    matched = match_anomalies(results["anomalies"], load_catalogue())
    assert [k["id"] for k in matched["known_findings"]] == [SIGTERM_FINDING]
    (decision,) = matched["catalogue_decisions"]
    assert decision["known"] == [SIGTERM_FINDING]
    assert decision["reasons"][SIGTERM_FINDING].startswith("#0 scale executor-1 acted on executor-1")


def test_a_signature_without_a_kind_matches_nothing() -> None:
    anomaly = {"class": "abandoned-action", "kind": "heartbeat", "defect": True, "nodes": ["executor-1"],
               "faults": []}
    assert Signature("abandoned-action").decide(anomaly) == (
        False, "the finding names no kind, so it cannot tell this defect from another of its class")


def test_a_run_judged_before_faults_recorded_what_they_acted_on_is_not_matched() -> None:
    anomaly = {"class": "abandoned-action", "kind": "heartbeat", "defect": True, "nodes": ["executor-1"],
               "faults": [{"label": "#0 scale executor-1", "inside": {}, "reasons": {}}]}
    matched, why = Signature("abandoned-action", "heartbeat", "scale", "executor").decide(anomaly)
    assert not matched and "re-judge" in why


NODES = ["api-1", "api-2", "engine-1", "engine-2", "executor-1", "executor-2", "broker", "db"]
FAULTS = ["scale", "kill", "pause", "stop", "partition", "broker", "rpc"]


def _random_case(rng: random.Random) -> tuple[dict, list[FaultWindow]]:
    nodes = set(rng.sample(NODES[:6], rng.randint(0, 2)))
    roles = set(rng.sample(["api", "engine", "executor"], rng.randint(0, 2))) - {role_of(n) for n in nodes}
    windows = [FaultWindow(i, rng.choice(FAULTS), None, {}, 0.0, 1.0, sorted(rng.sample(NODES, rng.randint(0, 2))))
               for i in range(rng.randint(0, 3))]
    anomaly = {"class": "abandoned-action", "kind": "heartbeat", "defect": True, "nodes": sorted(nodes),
               "unnamed_roles": sorted(roles), "faults": [fault_entry(w, nodes, roles) for w in windows]}
    return anomaly, windows


def test_property_a_signature_never_matches_an_anomaly_no_named_fault_touched() -> None:
    rng = random.Random(2212)
    matched_some = 0
    for _ in range(3000):
        anomaly, windows = _random_case(rng)
        signature = Signature("abandoned-action", "heartbeat", rng.choice(FAULTS),
                              rng.choice([None, "api", "engine", "executor"]))
        if not signature.matches(anomaly):
            continue
        matched_some += 1
        own, unnamed = set(anomaly["nodes"]), set(anomaly["unnamed_roles"])
        touched = [w for w in windows if w.fault == signature.fault and (
            own & set(w.nodes) or {role_of(n) for n in w.nodes} & unnamed)]
        assert touched, (signature, anomaly)
        if signature.role:
            assert any(role_of(n) == signature.role and (n in own or signature.role in unnamed)
                       for w in touched for n in w.nodes), (signature, anomaly)
    assert matched_some > 50  # the property was exercised, not vacuously true


# ---------------------------------------------------------------- 9. one reader of fault windows
def test_the_report_draws_the_windows_the_verdict_was_made_from(tmp_path: Path) -> None:
    nemesis = [("invoke", "pause", {"action": "start", "index": 0, "target": "executor-1", "options": {}}, 1.0),
               ("ok", "pause", {"action": "start", "paused": ["executor-1"]}, 1.1),
               ("invoke", "pause", {"action": "heal", "index": 0}, 61.0),
               ("info", "pause", {"action": "heal", "error": "docker unpause timed out"}, 61.1),
               ("invoke", "kill", {"action": "start", "index": 1, "target": "executor-1"}, 65.0),
               ("ok", "kill", {"action": "start", "killed": ["executor-1"]}, 65.1),
               ("invoke", "kill", {"action": "heal", "index": 1}, 70.0),
               ("ok", "kill", {"action": "heal", "restarted": ["executor-1"]}, 70.1),
               ("invoke", "heal", {"action": "heal-cluster"}, 80.0),
               ("ok", "heal", {"action": "heal-cluster", "repaired": []}, 81.0)]
    snap = snapshot([execution()], [task("t1")], [action("a1", "t1")], taken_at=START_WALL + 100)
    run_dir = _run(tmp_path, snap, witness("r1", "a1", "t1"), nemesis)
    result = check_run(run_dir)
    judged = [(round(w["start_s"], 1), round(w["end_s"], 1)) for w in result["promise"]["windows"]]
    events = read_history(run_dir / "history.jsonl")
    drawn = [(round(p.start_s, 1), round(p.end_s, 1)) for p in nemesis_periods(events, START_WALL, START_WALL + 100)]
    # The pause's heal failed: it ends when the kill's heal restarted the same node, for verdict and picture alike.
    assert judged == drawn == [(1.0, 70.1), (65.0, 70.1)]
    assert [w.end_rule for w in read_faults(events, START_WALL)] == ["healed with #1 kill", "healed"]
