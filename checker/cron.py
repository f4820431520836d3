"""Cron fires: every scheduled minute of every cron trigger started exactly one execution - none lost, none doubled.

    check_cron(files) -> {"valid": True | False | "unknown", "reason"?, "expected", "fired", "triggers": [...],
                          "fires": [...], "lost": [...], "doubled": [...], "late": [...], "pending": [...]}
    judge_cron(ops, rpc_timeout_s=60.0) -> the same, from the history's operations (workloads.cron's ops)

Mistral 23's cron semantics (mistral/services/periodic.py, services/triggers.py, db/v2/sqlalchemy/api.py):
- A loop runs every [cron_trigger] execution_interval (1 s) in every API node ([cron_trigger] run_in_api, the
  deprecated default) or in a periodic server - not in the engines. It takes the triggers whose
  next_execution_time < now + 2 s (triggers.get_next_cron_triggers): a fire may come up to 2 s early.
- advance_cron_trigger decrements remaining_executions and moves next_execution_time to the pattern's next
  time after max(now, next_execution_time), in one UPDATE ... WHERE next_execution_time = <the value it read>
  (update_cron_trigger with query_filter, oslo.db update_on_match). Of the loops racing for a minute exactly
  one wins, and only the winner starts the workflow: remaining_executions is Mistral's own count of fires.
- The winner starts the workflow with a synchronous RPC call to any engine (EngineClient.start_workflow,
  sync_call). oslo.messaging publishes it with expiration = rpc_response_timeout (60 s), the engine
  acknowledges it before processing it, and nothing retries (the exception is logged, the loop goes on). So
  an engine down for minutes costs no fire by itself - the call waits in the queue for whichever engine is up
  - but a call no engine takes within 60 s, or an engine that dies between taking it and committing the
  execution, leaves a minute Mistral counted as fired that never started an execution: LOST ("unstarted").
- If no loop ran for a while (every API node down, the database unreachable, every loop blocked in a 60 s RPC
  call), the overdue minute fires ONCE, late, and next_execution_time jumps to the first time after now ("In
  case the we are lagging or if the api stopped for some time we use the max of the current time or the next
  scheduled time"): the minutes in between are never fired, not even later. A late fire is not lost; the
  minutes it jumped over are LOST ("coalesced"). A minute still overdue when the trigger is deleted never
  fires: LOST ("overdue").

How a run is judged, per trigger, from the history alone:
- Mistral's books: every reading of the trigger (the create, read-trigger, the read inside delete-trigger)
  gives (next_execution_time, remaining_executions). Between two readings, the minutes next_execution_time
  moved past were "passed"; the drop of remaining_executions says how many of them Mistral fired, the rest it
  skipped. The first passed minute is always a fired one (an advance fires the minute it moves away from).
  After the last reading, the minutes after next_execution_time and before the reading were certainly skipped.
- Executions (the last list-executions, linked by description.triggered_by.id) are matched to fired minutes:
  an execution may serve minute s if created in [s - EARLY_S, advanced_by(s) + rpc_timeout + MARGIN_S], where
  advanced_by(s) is the first reading that had moved past s. The matching with the most executions, and
  among those the one closest to the schedule, decides; then:
  - a fired minute left without an execution is lost ("unstarted"), or pending if its window closes after the
    list was taken (not judged);
  - an execution no fired minute explains is doubled, listed with the execution of the minute it doubles -
    unless it was created at or after the last minute the books knew (a fire recorded after the last reading);
  - an execution created a minute or more after its minute is late (not a defect by itself).
"unknown": no trigger was created, the executions were never listed, no minute passed while the triggers
existed (cron fires at most once a minute: give the run time_limit_s >= 180), or Mistral fired nothing at all
(cron processing off: the lab renders [cron_trigger] enabled = false unless the spec turns it on).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from history.events import OK
from history.mistral import mistral_time
from history.pairing import Operation
from history.run_dir import RUN_FILE

EARLY_S = 3.0           # a loop fires up to 2 s early; Mistral's timestamps are whole seconds
MARGIN_S = 10.0         # the engine creating the execution after taking the call, under load
OVERDUE_S = 10.0        # a minute this late at the delete had no loop to fire it (loops run every second)
DEFAULT_RPC_TIMEOUT_S = 60.0
MAX_LISTED = 50


@dataclass(frozen=True)
class Reading:
    """Mistral's books for one trigger at wall time `at`; `final`: the read just before a delete that removed it."""

    at: float
    next: float
    remaining: int | None
    final: bool = False


@dataclass
class Book:
    name: str
    id: str | None = None
    pattern: str | None = None
    readings: list[Reading] = field(default_factory=list)


@dataclass
class Minute:
    """One scheduled minute of a trigger, as Mistral's books have it."""

    at: float
    fired: bool
    advanced_by: float | None = None  # first reading that had moved past it (fired minutes)


# ---------------------------------------------------------------- patterns and times
def period_s(pattern: str | None) -> float | None:
    """`* * * * *` -> 60, `*/N * * * *` (N dividing 60) -> 60 N; anything else is not judged."""
    fields = str(pattern or "").split()
    if len(fields) != 5 or fields[1:] != ["*", "*", "*", "*"]:
        return None
    if fields[0] == "*":
        return 60.0
    step = fields[0][2:] if fields[0].startswith("*/") else ""
    return 60.0 * int(step) if step.isdigit() and 0 < int(step) <= 60 and 60 % int(step) == 0 else None


def minutes_between(start: float, end: float, period: float) -> list[float]:
    """start, start + period, ... before end (start is a cron time: Mistral's next_execution_time)."""
    count = max(0, math.ceil((end - start) / period - 1e-9))
    return [start + k * period for k in range(count)]


def stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------- the history
def _reading(value: Any, final: bool = False) -> Reading | None:
    if not isinstance(value, dict) or not value.get("exists", True):
        return None
    next_at, at = mistral_time(value.get("next_execution_time")), value.get("at")
    if next_at is None or not isinstance(at, (int, float)):
        return None
    remaining = value.get("remaining_executions")
    return Reading(float(at), next_at, remaining if isinstance(remaining, int) else None, final)


def books_of(ops: Iterable[Operation], list_at: float) -> dict[str, Book]:
    """Trigger name -> its readings taken before the list (a later one cannot be compared with it)."""
    books: dict[str, Book] = {}
    for op in ops:
        if op.status != OK or op.f not in ("create-trigger", "read-trigger", "delete-trigger"):
            continue
        value = op.value if isinstance(op.value, dict) else {}
        name = str(value.get("name") or op.key)
        if op.f == "delete-trigger":
            last = value.get("last")
            reading = _reading(last, final=bool(value.get("existed")))
            source = last if isinstance(last, dict) else {}
        else:
            reading, source = _reading(value), value
        if op.f == "create-trigger" or name in books or reading is not None:
            book = books.setdefault(name, Book(name))
            book.id = book.id or source.get("id")
            book.pattern = book.pattern or source.get("pattern")
            if reading is not None and reading.at <= list_at:
                book.readings.append(reading)
    for book in books.values():
        book.readings.sort(key=lambda r: r.at)
    return books


def last_listing(ops: Iterable[Operation]) -> dict[str, Any] | None:
    listings = [op.value for op in ops if op.status == OK and op.f == "list-executions"
                and isinstance(op.value, dict) and isinstance(op.value.get("at"), (int, float))]
    return max(listings, key=lambda v: v["at"]) if listings else None


# ---------------------------------------------------------------- Mistral's books -> minutes
def minutes_of(book: Book, period: float, created: list[float], notes: list[str]) -> list[Minute]:
    """Every minute the books passed, fired or skipped, in order; `created`: this trigger's execution times
    (only to pick which minutes of an ambiguous stretch were the fired ones)."""
    minutes: list[Minute] = []
    for before, after in zip(book.readings, book.readings[1:]):
        if after.next < before.next:
            notes.append(f"{book.name}: next_execution_time went back from {stamp(before.next)} to "
                         f"{stamp(after.next)}")
            continue
        passed = minutes_between(before.next, after.next, period)
        if not passed:
            continue
        fires = _fires(book.name, before, after, len(passed), notes)
        chosen = _fired_ones(passed, fires, period, created)
        minutes += [Minute(at, at in chosen, after.at) for at in passed]
    if book.readings:  # after the last reading: an advance then jumps past every minute before it
        last = book.readings[-1]
        minutes += [Minute(at, False) for at in minutes_between(last.next + period, last.at - 1.0, period)]
    return minutes


def _fires(name: str, before: Reading, after: Reading, passed: int, notes: list[str]) -> int:
    if before.remaining is None or after.remaining is None:
        return passed  # no count: take every passed minute as fired (its execution must then exist)
    fires = before.remaining - after.remaining
    if not 1 <= fires <= passed:
        notes.append(f"{name}: remaining_executions fell by {fires} while next_execution_time passed {passed} "
                     f"minute(s) ({stamp(before.next)} -> {stamp(after.next)}); every advance fires once")
    return min(max(fires, 1), passed)


def _fired_ones(passed: list[float], fires: int, period: float, created: list[float]) -> set[float]:
    """The first passed minute fired (an advance fires the minute it leaves); of the others, prefer those
    with an execution in their own minute, then the earliest."""
    rest = passed[1:]
    with_execution = [at for at in rest if any(at - EARLY_S <= c < at + period - EARLY_S for c in created)]
    ordered = with_execution + [at for at in rest if at not in with_execution]
    return {passed[0], *ordered[:fires - 1]}


# ---------------------------------------------------------------- matching executions to fired minutes
def match(fired: list[Minute], executions: list[dict[str, Any]], late_s: float
          ) -> tuple[dict[float, dict[str, Any]], list[dict[str, Any]]]:
    """The most executions matched to fired minutes, each inside its minute's window; among those matchings,
    the one closest to the schedule (least total |created - minute|), so a finding names the right minute.
    Windows start and end in the minutes' order, so an order-preserving matching is optimal: a dynamic
    programme over (executions, minutes), both in time order. Returns (minute -> execution, the rest)."""
    windows = [(m.at - EARLY_S, (m.advanced_by or m.at) + late_s, m.at) for m in fired]
    times = [e["created_s"] for e in executions]
    best = [[(0, 0.0)] * (len(windows) + 1) for _ in range(len(times) + 1)]  # (matches, -distance)
    step = [[""] * (len(windows) + 1) for _ in range(len(times) + 1)]
    for i in range(1, len(times) + 1):
        for j in range(1, len(windows) + 1):
            lo, hi, at = windows[j - 1]
            options = [(best[i - 1][j], "skip-execution"), (best[i][j - 1], "skip-minute")]
            if lo <= times[i - 1] <= hi:
                count, distance = best[i - 1][j - 1]
                options.append(((count + 1, distance - abs(times[i - 1] - at)), "match"))
            best[i][j], step[i][j] = max(options, key=lambda option: option[0])
    matched: dict[float, dict[str, Any]] = {}
    i, j = len(times), len(windows)
    while i and j:
        if step[i][j] == "match":
            matched[windows[j - 1][2]] = executions[i - 1]
            i, j = i - 1, j - 1
        elif step[i][j] == "skip-execution":
            i -= 1
        else:
            j -= 1
    used = {id(e) for e in matched.values()}
    return matched, [e for e in executions if id(e) not in used]


# ---------------------------------------------------------------- one trigger
def judge_trigger(book: Book, executions: list[dict[str, Any]], list_at: float, late_s: float
                  ) -> dict[str, Any]:
    """What happened to one trigger's minutes: fires, lost, doubled, late, pending (see the module doc)."""
    notes: list[str] = []
    period = period_s(book.pattern)
    mine = sorted((e for e in executions if book.id and e.get("trigger_id") == book.id),
                  key=lambda e: (e["created_s"], str(e.get("id"))))
    report: dict[str, Any] = {"trigger": book.name, "trigger_id": book.id, "pattern": book.pattern,
                              "readings": len(book.readings), "executions": len(mine), "fires": [], "lost": [],
                              "doubled": [], "late": [], "pending": [], "unjudged": [], "notes": notes}
    if period is None or not book.readings:
        notes.append(f"{book.name}: " + ("pattern not judged: " + str(book.pattern) if period is None
                                         else "never read: Mistral's books for it are unknown"))
        report.update(expected=0, fired=0, fired_by_mistral=0, skipped=0)
        return report
    minutes = minutes_of(book, period, [e["created_s"] for e in mine], notes)
    fired = [m for m in minutes if m.fired]
    matched, left = match(fired, mine, late_s)
    first, last = book.readings[0], book.readings[-1]
    explained_after = [e for e in left if e["created_s"] >= last.next - EARLY_S]
    _fires_and_late(report, book, fired, matched, period)
    _unstarted(report, book, fired, matched, list_at, late_s)
    _skipped(report, book, minutes, period)
    _overdue(report, book, last, bool(explained_after))
    _doubled(report, book, [e for e in left if first.next - EARLY_S <= e["created_s"] < last.next - EARLY_S],
             fired, matched, period)
    report["unjudged"] = [{"execution_id": e["id"], "created_at": e.get("created_at"),
                           "why": "before the first minute the books know" if e["created_s"] < first.next
                           else "after the last minute the books know (a fire not read yet)"}
                          for e in left if e["created_s"] < first.next - EARLY_S or e in explained_after]
    report.update(expected=len(report["fires"]) + len(report["lost"]), fired=len(report["fires"]),
                  fired_by_mistral=len(fired), skipped=sum(1 for m in minutes if not m.fired))
    return report


def _entry(book: Book, at: float, **extra: Any) -> dict[str, Any]:
    return {"trigger": book.name, "trigger_id": book.id, "minute": stamp(at), "minute_s": at, **extra}


def _fires_and_late(report: dict[str, Any], book: Book, fired: list[Minute], matched: dict[float, dict],
                    period: float) -> None:
    for minute in fired:
        execution = matched.get(minute.at)
        if execution is None:
            continue
        delay = round(execution["created_s"] - minute.at, 1)
        fire = _entry(book, minute.at, execution_id=execution["id"], created_at=execution.get("created_at"),
                      delay_s=delay)
        report["fires"].append(fire)
        if delay >= period - EARLY_S:
            report["late"].append(fire)


def _unstarted(report: dict[str, Any], book: Book, fired: list[Minute], matched: dict[float, dict],
               list_at: float, late_s: float) -> None:
    for minute in fired:
        if minute.at in matched:
            continue
        closes = (minute.advanced_by or minute.at) + late_s
        entry = _entry(book, minute.at, window=[minute.at - EARLY_S, closes])
        if closes > list_at:
            report["pending"].append({**entry, "reason": "its execution may still come: the list was taken "
                                                        f"{closes - list_at:.0f} s before its window closed"})
        else:
            report["lost"].append({**entry, "kind": "unstarted",
                                   "reason": f"Mistral counted the fire of {stamp(minute.at)} (remaining_executions "
                                             "fell) but no execution was started for it: the start call to the "
                                             "engines was lost"})


def _skipped(report: dict[str, Any], book: Book, minutes: list[Minute], period: float) -> None:
    for minute in minutes:
        if not minute.fired:
            report["lost"].append(_entry(book, minute.at, kind="coalesced", window=[minute.at - EARLY_S,
                                                                                    minute.at + period],
                                         reason=f"Mistral never fired {stamp(minute.at)}: no cron loop fired it in "
                                                "time, and a late fire jumps past the minutes it missed"))


def _overdue(report: dict[str, Any], book: Book, last: Reading, explained: bool) -> None:
    if last.final and last.at - last.next > OVERDUE_S and not explained:
        report["lost"].append(_entry(book, last.next, kind="overdue", window=[last.next - EARLY_S, last.at],
                                     reason=f"{stamp(last.next)} was {last.at - last.next:.0f} s overdue when the "
                                            "trigger was deleted: no cron loop fired it"))


def _doubled(report: dict[str, Any], book: Book, surplus: list[dict[str, Any]], fired: list[Minute],
             matched: dict[float, dict], period: float) -> None:
    """Each execution no fired minute explains doubles the latest fired minute it could belong to (or, before
    any, the minute it was created in)."""
    origin = book.readings[0].next
    groups: dict[float, list[dict[str, Any]]] = {}
    for execution in surplus:
        created = execution["created_s"]
        candidates = [m.at for m in fired if m.at - EARLY_S <= created]
        at = max(candidates) if candidates else origin + period * math.floor((created + EARLY_S - origin) / period)
        groups.setdefault(at, []).append(execution)
    for at, extra in sorted(groups.items()):
        same = ([matched[at]] if at in matched else []) + extra
        report["doubled"].append(_entry(book, at, execution_ids=[e["id"] for e in same],
                                        created_at=[e.get("created_at") for e in same],
                                        window=[at - EARLY_S, max(e["created_s"] for e in same) + MARGIN_S]))


# ---------------------------------------------------------------- the run
def judge_cron(ops: list[Operation], rpc_timeout_s: float = DEFAULT_RPC_TIMEOUT_S) -> dict[str, Any]:
    listing = last_listing(ops)
    books = books_of(ops, listing["at"] if listing else math.inf)
    if not books:
        return _unknown("no cron trigger was created (no create-trigger op completed ok)")
    if listing is None:
        return _unknown("the executions were never listed (no list-executions op completed ok)",
                        triggers=sorted(books))
    executions = [{**e, "created_s": mistral_time(e.get("created_at"))} for e in listing.get("executions") or []
                  if isinstance(e, dict)]
    executions = [e for e in executions if e["created_s"] is not None]
    late_s = rpc_timeout_s + MARGIN_S
    reports = [judge_trigger(book, executions, listing["at"], late_s) for book in books.values()]
    result = _merge(reports)
    result["unlinked_executions"] = sum(1 for e in executions if not e.get("trigger_id"))
    result.update(_verdict(result, reports))
    return result


def check_cron(files: Any) -> dict[str, Any]:
    """The checker on a run directory (history.run_dir.RunFiles): the history, and run.json's overrides for
    Mistral's RPC timeout."""
    overrides = (files.run.get("overrides") or {}) if files.has(RUN_FILE) else {}
    return judge_cron(files.ops, rpc_timeout(overrides))


def rpc_timeout(overrides: dict[str, dict[str, Any]]) -> float:
    try:
        return float((overrides.get("DEFAULT") or {}).get("rpc_response_timeout", DEFAULT_RPC_TIMEOUT_S))
    except (TypeError, ValueError):
        return DEFAULT_RPC_TIMEOUT_S


def _merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"expected": sum(r["expected"] for r in reports),
                              "fired": sum(r["fired"] for r in reports)}
    for key in ("fires", "lost", "doubled", "late", "pending", "unjudged", "notes"):
        every = [item for r in reports for item in r[key]]
        merged[key] = every[:MAX_LISTED]
        merged[f"{key}_count"] = len(every)
    merged["triggers"] = [{k: v for k, v in r.items() if not isinstance(v, list)} for r in reports]
    return merged


def _verdict(result: dict[str, Any], reports: list[dict[str, Any]]) -> dict[str, Any]:
    if result["doubled_count"] or result["lost_count"]:
        if not any(r["fired_by_mistral"] or r["executions"] for r in reports):
            return {"valid": "unknown", "reason": "Mistral fired none of the triggers in "
                    f"{result['expected']} scheduled minute(s): is cron processing on? (the lab renders "
                    "[cron_trigger] enabled = false; set mistral_config cron_trigger.enabled: true)"}
        return {"valid": False, "reason": _defects(result)}
    if result["expected"] == 0:
        pending = f" ({result['pending_count']} pending)" if result["pending_count"] else ""
        return {"valid": "unknown", "reason": "too short: no scheduled minute could be judged" + pending +
                "; cron fires at most once a minute, give the run time_limit_s >= 180"}
    return {"valid": True}


def _defects(result: dict[str, Any]) -> str:
    parts = []
    if result["doubled_count"]:
        first = result["doubled"][0]
        parts.append(f"{result['doubled_count']} minute(s) started 2+ executions; first: trigger "
                     f"{first['trigger']!r} at {first['minute']}: {', '.join(first['execution_ids'])}")
    if result["lost_count"]:
        first = result["lost"][0]
        parts.append(f"{result['lost_count']} of {result['expected']} scheduled minute(s) started no execution; "
                     f"first: trigger {first['trigger']!r} at {first['minute']} ({first['kind']})")
    return "; ".join(parts)


def _unknown(reason: str, **extra: Any) -> dict[str, Any]:
    return {"valid": "unknown", "reason": reason, "expected": 0, "fired": 0, "fires": [], "lost": [],
            "doubled": [], "late": [], "pending": [], **extra}


# ---------------------------------------------------------------- named anomalies
def from_cron(ctx: Any, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The findings as named anomalies (ctx: checker.anomalies.Context): duplicate-cron-fire (safety: always a
    defect) and lost-cron-fire (a defect when every fault around the minute stayed inside the promise)."""
    found = []
    for dup in result.get("doubled") or []:
        found.append(ctx.make(
            "duplicate-cron-fire", "doubled", "cron",
            f"cron trigger {dup['trigger']!r} started {len(dup['execution_ids'])} executions for {dup['minute']}: "
            f"{', '.join(dup['execution_ids'])}", execution_id=dup["execution_ids"][0], evidence=[dup],
            faults=_around(ctx, dup["window"])))
    for lost in result.get("lost") or []:
        found.append(ctx.make("lost-cron-fire", lost["kind"], "cron",
                              f"cron trigger {lost['trigger']!r}: {lost['reason']}", evidence=[lost],
                              faults=_around(ctx, lost["window"])))
    return found


def _around(ctx: Any, window: list[float]) -> list[Any]:
    return [w for w in ctx.windows if w.overlaps(window[0], window[1])]


__all__ = ["EARLY_S", "check_cron", "from_cron", "judge_cron", "judge_trigger", "period_s"]
