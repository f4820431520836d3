"""Mistral's books of a cron trigger, read from the history, turned into its scheduled minutes, and the
executions matched to the fired ones (the rules: docs/verdicts.md#cron-fires).

    books_of(ops, list_at) -> trigger name -> Book (its readings of next_execution_time, remaining_executions)
    minutes_of(book, period, created, notes) -> every Minute the books passed, fired or skipped
    match(fired, executions, late_s) -> (minute -> execution, the executions no fired minute explains)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from history.events import OK
from history.mistral import mistral_time
from history.pairing import Operation

EARLY_S = 3.0           # a loop fires up to 2 s early; Mistral's timestamps are whole seconds


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


__all__ = ["EARLY_S", "Book", "Minute", "Reading", "books_of", "last_listing", "match", "minutes_between",
           "minutes_of", "period_s", "stamp"]
