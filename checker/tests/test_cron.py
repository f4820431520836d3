"""The cron checker on hand-made histories: one execution per minute is valid; a doubled minute, an unstarted
fire and a coalesced minute are not; a late fire is not lost; a short run, no list or cron switched off are
unknown; the findings become named anomalies judged against the faults around them."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from checker.anomalies import Context
from checker.cron import check_cron, from_cron, judge_cron, period_s
from checker.promise import FaultWindow
from history.run_dir import RunFiles
from history.pairing import pair_operations
from history.writer import HistoryWriter

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()  # a whole minute
NAME, TRIGGER_ID = "lab-cron-r1-1", "trig-1"


def stamp(offset: float) -> str:
    return datetime.fromtimestamp(T0 + offset, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def trigger(at: float, next_at: float, remaining: int) -> dict[str, Any]:
    """A reading as workloads.cron records it (offsets in seconds from T0)."""
    return {"name": NAME, "id": TRIGGER_ID, "exists": True, "pattern": "* * * * *",
            "next_execution_time": stamp(next_at), "remaining_executions": remaining, "at": T0 + at}


def execution(ex_id: str, created: float, trigger_id: str = TRIGGER_ID) -> dict[str, Any]:
    return {"id": ex_id, "workflow_name": "lab_cron_tick", "created_at": stamp(created), "state": "SUCCESS",
            "trigger_type": "cron_trigger", "trigger_id": trigger_id}


class History:
    """Ops in order, each invoked and completed by its own process."""

    def __init__(self) -> None:
        self.ops: list[tuple[str, Any, str, Any]] = []

    def op(self, f: str, value: Any, kind: str = "ok", invoke: Any = None) -> "History":
        self.ops.append((f, invoke if invoke is not None else {"name": NAME}, kind, value))
        return self

    def create(self, at: float = 10, next_at: float = 60, remaining: int = 240) -> "History":
        return self.op("create-trigger", trigger(at, next_at, remaining))

    def read(self, at: float, next_at: float, remaining: int) -> "History":
        return self.op("read-trigger", trigger(at, next_at, remaining))

    def delete(self, at: float, next_at: float, remaining: int) -> "History":
        return self.op("delete-trigger", {"name": NAME, "existed": True, "last": trigger(at, next_at, remaining),
                                          "at": T0 + at + 0.1})

    def listing(self, at: float, executions: list[dict[str, Any]]) -> "History":
        return self.op("list-executions", {"workflow": "lab_cron_tick", "at": T0 + at, "executions": executions},
                       invoke={"workflow": "lab_cron_tick"})

    def write(self, run_dir: Path) -> RunFiles:
        run_dir.mkdir(parents=True, exist_ok=True)
        with HistoryWriter(run_dir / "history.jsonl") as writer:
            for process, (f, invoke, kind, value) in enumerate(self.ops):
                writer.append(process, "invoke", f, invoke, key=invoke.get("name"), node="api-1")
                writer.append(process, kind, f, value, key=invoke.get("name"), node="api-1")
        return RunFiles.open(run_dir)

    def judge(self) -> dict[str, Any]:
        from history.events import Event

        events = []
        for process, (f, invoke, kind, value) in enumerate(self.ops):
            events.append(Event(len(events), len(events), process, "invoke", f, invoke, invoke.get("name")))
            events.append(Event(len(events), len(events), process, kind, f, value, invoke.get("name")))
        return judge_cron(pair_operations(events))


def on_time(reads_until: float = 200, fired_through: float = 180) -> History:
    """Created at T0+10; Mistral fires each minute one second late; read every 20 s; deleted at T0+215."""
    history = History().create()
    for at in range(20, int(reads_until) + 1, 20):
        fired = [m for m in range(60, int(fired_through) + 1, 60) if m + 1 <= at]
        history.read(at, 60 * (len(fired) + 1), 240 - len(fired))
    return history


def test_one_execution_per_minute_is_valid(tmp_path: Path) -> None:
    history = on_time().delete(215, 240, 237).listing(300, [execution("e1", 61), execution("e2", 121),
                                                            execution("e3", 181)])
    result = check_cron(history.write(tmp_path))
    assert result["valid"] is True, result
    assert (result["expected"], result["fired"]) == (3, 3)
    assert [f["execution_id"] for f in result["fires"]] == ["e1", "e2", "e3"]
    assert [f["minute"] for f in result["fires"]] == [stamp(60), stamp(120), stamp(180)]
    assert result["lost"] == [] and result["doubled"] == [] and result["late"] == []
    assert result["triggers"][0]["fired_by_mistral"] == 3


def test_a_doubled_minute_is_invalid_and_names_both_executions() -> None:
    history = on_time().delete(215, 240, 237).listing(300, [execution("e1", 61), execution("e2", 121),
                                                            execution("e2-again", 122), execution("e3", 181)])
    result = history.judge()
    assert result["valid"] is False
    assert [(d["minute"], d["execution_ids"]) for d in result["doubled"]] == [(stamp(120), ["e2", "e2-again"])]
    assert "e2-again" in result["reason"] and result["lost"] == []


def test_an_execution_from_another_trigger_is_not_a_double() -> None:
    history = on_time().delete(215, 240, 237).listing(300, [execution("e1", 61), execution("e2", 121),
                                                            execution("old", 121, "trig-of-another-run"),
                                                            execution("e3", 181)])
    assert history.judge()["valid"] is True


def test_a_fire_mistral_counted_without_an_execution_is_lost() -> None:
    history = on_time().delete(215, 240, 237).listing(300, [execution("e1", 61), execution("e3", 181)])
    result = history.judge()
    assert result["valid"] is False
    assert [(lost["minute"], lost["kind"]) for lost in result["lost"]] == [(stamp(120), "unstarted")]
    assert result["lost"][0]["window"][0] == T0 + 117  # where faults matter: from 3 s before the minute
    assert "1 of 3 scheduled minute(s)" in result["reason"]


def test_a_late_fire_is_not_lost_but_the_minutes_it_jumps_over_are() -> None:
    """The loop stalled from 12:01 to 12:03:05: Mistral fires 12:02 once, late, and skips 12:03."""
    history = History().create()
    history.read(20, 60, 240).read(80, 120, 239).read(140, 120, 239).read(190, 240, 238)
    history.read(250, 300, 237).delete(275, 300, 237)
    history.listing(400, [execution("e1", 61), execution("e2-late", 186), execution("e4", 241)])
    result = history.judge()
    assert result["valid"] is False
    assert [(lost["minute"], lost["kind"]) for lost in result["lost"]] == [(stamp(180), "coalesced")]
    assert [(f["minute"], f["execution_id"]) for f in result["fires"]] == [
        (stamp(60), "e1"), (stamp(120), "e2-late"), (stamp(240), "e4")]
    assert [late["execution_id"] for late in result["late"]] == ["e2-late"]


def test_a_minute_overdue_at_the_delete_is_lost() -> None:
    history = on_time(reads_until=160, fired_through=120).delete(215, 180, 238)
    result = history.listing(300, [execution("e1", 61), execution("e2", 121)]).judge()
    assert [(lost["minute"], lost["kind"]) for lost in result["lost"]] == [(stamp(180), "overdue")]


def test_a_fire_racing_the_delete_is_neither_doubled_nor_overdue() -> None:
    history = on_time().delete(239.5, 240, 237)
    result = history.listing(300, [execution("e1", 61), execution("e2", 121), execution("e3", 181),
                                   execution("e4", 240)]).judge()
    assert result["valid"] is True, result
    assert [u["execution_id"] for u in result["unjudged"]] == ["e4"]


def test_a_fire_whose_execution_may_still_come_is_pending_not_lost() -> None:
    history = on_time().delete(215, 240, 237).listing(216, [execution("e1", 61), execution("e2", 121)])
    result = history.judge()
    assert result["valid"] is True
    assert (result["expected"], [p["minute"] for p in result["pending"]]) == (2, [stamp(180)])


def test_too_short_for_one_fire_is_unknown() -> None:
    history = History().create(10, 60).read(30, 60, 240).delete(55, 60, 240).listing(56, [])
    result = history.judge()
    assert result["valid"] == "unknown" and "too short" in result["reason"] and "180" in result["reason"]


def test_no_trigger_or_no_list_is_unknown() -> None:
    assert "no cron trigger" in History().listing(100, []).judge()["reason"]
    result = on_time().delete(215, 240, 237).judge()
    assert result["valid"] == "unknown" and "never listed" in result["reason"]


def test_cron_switched_off_is_unknown_with_the_setting_named() -> None:
    history = History().create()
    for at in range(20, 201, 20):
        history.read(at, 60, 240)
    result = history.delete(215, 60, 240).listing(300, []).judge()
    assert result["valid"] == "unknown" and "cron_trigger.enabled" in result["reason"]


def test_a_failed_create_is_no_trigger_and_readings_after_the_list_are_ignored() -> None:
    history = History().op("create-trigger", "HTTP 400: no workflow", kind="fail").listing(100, [])
    assert history.judge()["valid"] == "unknown"
    history = on_time().listing(216, [execution("e1", 61), execution("e2", 121), execution("e3", 181)])
    history.delete(400, 420, 234)  # the cleanup after the list: its minutes cannot be judged from the list
    result = history.judge()
    assert result["valid"] is True and result["expected"] == 3


def test_patterns() -> None:
    assert (period_s("* * * * *"), period_s("*/5 * * * *"), period_s("*/7 * * * *"), period_s("0 * * * *")) == \
        (60.0, 300.0, None, None)


# ---------------------------------------------------------------- anomalies
def _window(start: float, end: float, inside: bool) -> FaultWindow:
    return FaultWindow(0, "stop", "random:engine", {}, T0 + start, T0 + end, ["engine-1"],
                       inside={"designed": inside, "spec": inside})


def test_findings_become_anomalies_judged_by_the_faults_around_them() -> None:
    lost = on_time().delete(215, 240, 237).listing(300, [execution("e1", 61), execution("e3", 181)]).judge()
    doubled = on_time().delete(215, 240, 237).listing(300, [execution("e1", 61), execution("e2", 121),
                                                            execution("e2b", 123), execution("e3", 181)]).judge()
    far = _window(0, 20, inside=False)
    beyond = Context(None, [], [_window(100, 140, inside=False), far], "designed")
    within = Context(None, [], [_window(100, 140, inside=True)], "designed")
    [outside_promise] = from_cron(beyond, lost)
    assert (outside_promise["class"], outside_promise["kind"], outside_promise["defect"]) == \
        ("lost-cron-fire", "unstarted", False)
    assert [f["label"] for f in outside_promise["faults"]] == ["#0 stop engine-1"]  # only the one around it
    assert from_cron(within, lost)[0]["defect"] is True
    [duplicate] = from_cron(beyond, doubled)
    assert (duplicate["class"], duplicate["execution_id"]) == ("duplicate-cron-fire", "e2")
    assert "e2, e2b" in duplicate["summary"]
