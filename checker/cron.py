"""Cron fires: every scheduled minute of every cron trigger started exactly one execution - none lost, none doubled.

    check_cron(files) -> {"valid": True | False | "unknown", "reason"?, "expected", "fired", "lost", "doubled", ...}
    judge_cron(ops, rpc_timeout_s=60.0) -> the same, from the history's operations (workloads.cron's ops)

Mistral 23's cron semantics and how a run is judged, in full: docs/verdicts.md#cron-fires. Reading the books
into minutes and matching the executions to them: checker.cron_books.
"""
from __future__ import annotations

import math
from typing import Any

from checker.cron_books import (EARLY_S, Book, Minute, Reading, books_of, last_listing, match, minutes_of,
                                period_s, stamp)
from history.mistral import mistral_time
from history.pairing import Operation
from history.run_dir import RUN_FILE

MARGIN_S = 10.0         # the engine creating the execution after taking the call, under load
OVERDUE_S = 10.0        # a minute this late at the delete had no loop to fire it (loops run every second)
DEFAULT_RPC_TIMEOUT_S = 60.0
MAX_LISTED = 50


# ---------------------------------------------------------------- one trigger
def judge_trigger(book: Book, executions: list[dict[str, Any]], list_at: float, late_s: float
                  ) -> dict[str, Any]:
    """What happened to one trigger's minutes: fires, lost, doubled, late, pending (the rules:
    docs/verdicts.md#how-a-run-is-judged)."""
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
