"""Log checker: scans every node's log (logs/<node>.log) for DB deadlocks, duplicate-key races, unhandled
tracebacks, missed action heartbeats and reconnect storms to the broker or the DB.

    check_logs(run_dir) -> {"valid": True|False|"unknown", "counts", "events", "reconnects", "anomalies", ...}

What is judged, which records count and the result's fields: docs/verdicts.md#the-log-checker. Reading the
lines into records and the patterns: checker.log_records; outage episodes: checker.log_outages.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from checker.log_outages import Outages, outage_json, rel
from checker.log_records import HEARTBEAT, MAX_LINE, RETRIED, Record, records
from history.run_dir import RUN_FILE

DEFECTS = ("deadlock", "duplicate-key")
PATTERNS = ("deadlock", "deadlock-retried", "duplicate-key", "traceback", "heartbeat-missed", "broker-reconnect",
            "db-reconnect", "api-duplicate")
ANOMALY_PATTERNS = ("deadlock", "deadlock-retried", "duplicate-key", "traceback", "heartbeat-missed")
LABELS = {
    "deadlock": "DB deadlock(s) (DBDeadlock)",
    "deadlock-retried": "DB deadlock(s) Mistral retried (DB error detected, operation will be retried)",
    "duplicate-key": "DBDuplicateEntry (duplicate-key race)",
    "traceback": "traceback(s) of ERROR/CRITICAL records",
    "heartbeat-missed": "action execution(s) failed for a missed heartbeat",
}
MAX_EVENTS = 200
MAX_EVENTS_PER_KEY = 25      # one node's storm must not push every other event out of the 200
MAX_IDS = 50
START_SLACK_S = 1.0
ERROR_LEVELS = ("ERROR", "CRITICAL", "FATAL", "PANIC")


# --- Tallying ---------------------------------------------------------------------------------------------

@dataclass
class _Event:
    node: str
    pattern: str
    time: float | None
    line: str
    header: str | None = None


@dataclass
class _Tally:
    """Everything found in the run's part of the logs, and counts of the part before it."""

    start_wall: float | None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    before: dict[str, int] = field(default_factory=dict)
    events: dict[tuple[str, str], list[_Event]] = field(default_factory=dict)
    outages: dict[tuple[str, str], Outages] = field(default_factory=dict)
    action_ids: dict[str, list[str]] = field(default_factory=dict)   # node -> heartbeat-missed action ids
    pids: dict[str, set[str]] = field(default_factory=dict)           # node -> processes seen so far

    def add(self, node: str, record: Record) -> None:
        self._watch_process(node, record)
        found = _patterns_of(record)
        if not found and record.broker is None:
            return
        if self._before_start(record.time):
            for pattern, _line in found:
                self.before[pattern] = self.before.get(pattern, 0) + 1
            if record.broker and record.broker[0] == "down":
                self.before["broker-reconnect"] = self.before.get("broker-reconnect", 0) + 1
            return
        if record.broker:
            self._broker(node, record, *record.broker)
        for pattern, line in found:
            self._count(node, pattern, record, line)
            if pattern == "db-reconnect":
                self._outage(node, "db").fail(record.time, None)

    def _watch_process(self, node: str, record: Record) -> None:
        # A pid first seen after others is a restarted node (the workers of one start all log at boot): the
        # old process's connections never log their reconnect, so its open outages end there, unrecovered.
        pids = self.pids.setdefault(node, set())
        pid = record.oslo_key[1] if record.oslo_key else None
        if pid is None or pid in pids:
            return
        pids.add(pid)
        for kind in ("broker", "db"):
            if len(pids) > 1 and (node, kind) in self.outages:
                self.outages[(node, kind)].finish()

    def _before_start(self, time: float | None) -> bool:
        return self.start_wall is not None and time is not None and time < self.start_wall - START_SLACK_S

    def _broker(self, node: str, record: Record, kind: str, cid: str | None) -> None:
        outages = self._outage(node, "broker")
        if kind == "down":
            outages.fail(record.time, cid)
            self._count(node, "broker-reconnect", record, record.header)
        else:
            outages.recover(record.time, cid)

    def _count(self, node: str, pattern: str, record: Record, line: str) -> None:
        per_node = self.counts.setdefault(node, {})
        per_node[pattern] = per_node.get(pattern, 0) + 1
        kept = self.events.setdefault((node, pattern), [])
        if len(kept) < MAX_EVENTS_PER_KEY:
            header = record.header if pattern == "traceback" else None
            kept.append(_Event(node, pattern, record.time, line[:MAX_LINE], header))
        if pattern == "heartbeat-missed":
            found = HEARTBEAT.search(line)
            ids = self.action_ids.setdefault(node, [])
            if found and found.group("id") and len(ids) < MAX_IDS:
                ids.append(found.group("id"))

    def _outage(self, node: str, kind: str) -> Outages:
        return self.outages.setdefault((node, kind), Outages())


def _patterns_of(record: Record) -> list[tuple[str, str]]:
    """(pattern, evidence line) of every pattern the record shows, each once."""
    found = []
    for pattern, line in record.matches.items():
        if pattern == "duplicate-key" and record.api_call:
            pattern = "api-duplicate"
        if pattern == "deadlock" and RETRIED in record.header:
            pattern = "deadlock-retried"  # mistral/db/utils.py logs this, then tenacity runs the operation again
        found.append((pattern, line))
    if record.tracebacks and (record.level is None or record.level in ERROR_LEVELS):
        found.append(("traceback", record.exception_line or record.header))
    return found


# --- Output -----------------------------------------------------------------------------------------------

def _events(tally: _Tally) -> tuple[list[dict[str, Any]], int]:
    everything = [event for kept in tally.events.values() for event in kept]
    everything.sort(key=lambda e: (e.time is None, e.time or 0.0, e.node))
    shown = []
    for event in everything[:MAX_EVENTS]:
        item = {"node": event.node, "pattern": event.pattern,
                "time": None if event.time is None else round(event.time, 3),
                "t_s": rel(event.time, tally.start_wall), "line": event.line}
        if event.header is not None:
            item["header"] = event.header
        shown.append(item)
    total = sum(n for per_node in tally.counts.values() for n in per_node.values())
    return shown, total - len(shown)


def _reconnects(tally: _Tally) -> dict[str, dict[str, Any]]:
    nodes = sorted({node for (node, _kind), o in tally.outages.items() if o.count})
    return {node: {kind: outage_json(tally.outages.get((node, kind)), kind, tally.start_wall)
                   for kind in ("broker", "db")} for node in nodes}


def _anomalies(tally: _Tally) -> list[dict[str, Any]]:
    found = []
    for node in sorted(tally.counts):
        for pattern in ANOMALY_PATTERNS:
            count = tally.counts[node].get(pattern, 0)
            if count:
                ids = tally.action_ids.get(node, []) if pattern == "heartbeat-missed" else []
                found.append(_anomaly(node, pattern, count, tally.events[(node, pattern)], ids, tally.start_wall))
    return found


def _anomaly(node: str, pattern: str, count: int, events: list[_Event], action_ids: list[str],
             start_wall: float | None) -> dict[str, Any]:
    t_s = rel(events[0].time, start_wall)
    when = f"t={t_s:.1f} s" if t_s is not None else "an unknown time"
    summary = f"{node}: {count} {LABELS[pattern]}, first at {when}"
    if pattern == "traceback":
        summary += f"; first exception: {events[0].line[:150]}"
    return {"class": "log", "kind": pattern, "defect": pattern in DEFECTS,
            "inside": {"designed": None, "spec": None}, "checker": "logs", "execution_id": None,
            "task_execution_id": None, "action_execution_ids": action_ids, "nodes": [node], "faults": [],
            "summary": summary, "evidence": [event.line for event in events[:3]]}


def _start_wall(run_dir: Path) -> float | None:
    try:
        value = json.loads((run_dir / RUN_FILE).read_text()).get("start_wall")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _unknown(reason: str, nodes: int = 0) -> dict[str, Any]:
    return {"valid": "unknown", "nodes_scanned": nodes, "counts": {}, "totals": {}, "events": [],
            "reconnects": {}, "anomalies": [], "reason": reason}


def _scan_file(path: Path, tally: _Tally) -> bool:
    """Tally one log; False if it cannot be read."""
    node = path.stem
    try:
        for record in records(path):
            tally.add(node, record)
    except OSError:
        return False
    return True


def check_logs(run_dir: Path) -> dict[str, Any]:
    logs = Path(run_dir) / "logs"
    if not logs.is_dir():
        return _unknown(f"no logs directory in {run_dir}")
    files = sorted(p for p in logs.glob("*.log") if p.is_file())
    if not files:
        return _unknown(f"no log file in {logs}")
    tally = _Tally(start_wall=_start_wall(Path(run_dir)))
    unreadable = [p.stem for p in files if not _scan_file(p, tally)]
    scanned = len(files) - len(unreadable)
    if not scanned:
        return {**_unknown(f"no readable log file in {logs}"), "unreadable": unreadable}
    totals = {p: n for p in PATTERNS if (n := sum(c.get(p, 0) for c in tally.counts.values()))}
    events, dropped = _events(tally)
    result: dict[str, Any] = {
        "valid": not any(totals.get(p) for p in DEFECTS),
        "nodes_scanned": scanned,
        "counts": {node: dict(sorted(c.items())) for node, c in sorted(tally.counts.items())},
        "totals": totals,
        "events": events,
        "events_not_listed": dropped,
        "reconnects": _reconnects(tally),
        "anomalies": _anomalies(tally),
        "before_start": dict(sorted(tally.before.items())),
        "start_wall": tally.start_wall,
        "unreadable": unreadable,
    }
    if result["valid"] is not True:
        result["reason"] = "; ".join(a["summary"] for a in result["anomalies"] if a["defect"])
    return result


__all__ = ["check_logs", "PATTERNS", "DEFECTS"]
