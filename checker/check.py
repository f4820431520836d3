"""Check a whole history: split it into independent keys, search them interleaved under a budget.

Verdicts: True (linearizable), False (with a counterexample), "unknown" (the budget ran out first).
An invalid key stops the check at once - the other keys cannot change the verdict.
"""
from __future__ import annotations

import gc
import os
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Literal

from checker.counterexample import build_counterexample
from checker.linear import SearchStats, search
from checker.models import Model, get_model
from history.events import FAIL, Event, HistoryError
from history.pairing import Operation, pair_operations

Verdict = bool | Literal["unknown"]
UNKNOWN: Literal["unknown"] = "unknown"


@dataclass
class Budget:
    """Limits for one check; when one runs out the verdict is "unknown", never a crash or swap."""

    time_limit_s: float | None = None
    max_steps: int | None = None
    max_memory_mb: float | None = 2048.0


@dataclass
class CheckResult:
    valid: Verdict
    model: str
    ops: int
    keys: int
    elapsed_s: float
    steps: int = 0
    file: str | None = None
    reason: str | None = None  # why the verdict is "unknown" (or a note for valid histories)
    error: str | None = None  # the exception, when the checker itself crashed (the verdict is then "unknown")
    counterexample: dict[str, Any] | None = None
    # Not serialised: the failing key's operations, for the HTML view.
    failing_ops: list[Operation] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "valid": self.valid,
            "model": self.model,
            "ops": self.ops,
            "keys": self.keys,
            "elapsed_s": round(self.elapsed_s, 6),
            "steps": self.steps,
        }
        if self.file is None:
            del out["file"]
        if self.reason:
            out["reason"] = self.reason
        if self.error:
            out["error"] = self.error
        if self.counterexample is not None:
            out["counterexample"] = self.counterexample
        return out


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def _checkable_ops(ops: Iterable[Operation], model: Model) -> list[Operation]:
    """Validate every op for the model; drop fail ops and info ops that can never matter."""
    kept = []
    for op in ops:
        problem = model.check_op(op)
        if problem:
            raise HistoryError(problem, line=op.line)
        if op.status == FAIL or (op.is_info and model.is_pure(op)):
            continue
        kept.append(model.prepare(op))
    return kept


def check_history(
    history: list[Event] | list[Operation],
    model: str | Model = "cas-register",
    *,
    time_limit: float | None = None,
    budget: Budget | None = None,
    slice_steps: int = 20_000,
) -> CheckResult:
    """Check events (or already paired operations) against a model; see CheckResult."""
    started = time.perf_counter()
    model = get_model(model) if isinstance(model, str) else model
    budget = budget or Budget()
    if time_limit is not None:
        budget.time_limit_s = time_limit
    ops = pair_operations(history) if history and isinstance(history[0], Event) else list(history)  # type: ignore[arg-type]
    partitions = [(key, part) for key, part in model.partition(_checkable_ops(ops, model)) if part]
    result = CheckResult(valid=True, model=model.name, ops=len(ops), keys=len(partitions), elapsed_s=0.0)
    if not ops:
        result.reason = "empty history: nothing to contradict, so valid"
    _run_interleaved(partitions, model, budget, slice_steps, started, result)
    result.elapsed_s = time.perf_counter() - started
    return result


def _run_interleaved(
    partitions: list[tuple[Any, list[Operation]]],
    model: Model,
    budget: Budget,
    slice_steps: int,
    started: float,
    result: CheckResult,
) -> None:
    running = deque()
    for key, part in sorted(partitions, key=lambda kp: len(kp[1])):  # easy keys first
        stats = SearchStats()
        running.append((key, part, search(part, model, slice_steps=slice_steps, stats=stats), stats))
    finished_steps = 0
    while running:
        key, part, searching, stats = running.popleft()
        try:
            next(searching)
        except StopIteration as stop:
            outcome = stop.value
            finished_steps += outcome.steps
            if not outcome.linearizable:
                result.valid = False
                result.counterexample = build_counterexample(key, part, outcome, model)
                result.failing_ops = part
                break
            continue
        running.append((key, part, searching, stats))
        reason = _over_budget(budget, started, finished_steps + sum(s.steps for *_, s in running))
        if reason:
            result.valid = UNKNOWN
            result.reason = f"{reason} with {len(running)} of {len(partitions)} keys undecided"
            break
    result.steps = finished_steps + sum(s.steps for *_, s in running)


def _over_budget(budget: Budget, started: float, steps: int) -> str | None:
    if budget.time_limit_s is not None and time.perf_counter() - started > budget.time_limit_s:
        return f"time limit of {budget.time_limit_s:g} s reached"
    if budget.max_steps is not None and steps > budget.max_steps:
        return f"step limit of {budget.max_steps} reached"
    if budget.max_memory_mb is not None and _rss_mb() > budget.max_memory_mb:
        return f"memory limit of {budget.max_memory_mb:g} MB reached"
    return None


def check_file(
    path: str, fmt: str = "jsonl", model: str | Model = "cas-register", **kwargs: Any
) -> CheckResult:
    """Load one history file and check it (HistoryError if it is malformed)."""
    from history.importers import load

    with _gc_paused():
        events = load(path, fmt, validate=False)  # check_history pairs them, which validates them once
        try:
            result = check_history(events, model, **kwargs)
        except HistoryError as exc:
            raise exc.located(path) from None
    result.file = path
    return result


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC while loading and checking: everything allocated then stays alive until the end
    (the worst case for a generational collector, about a quarter of the time on big histories),
    and none of it forms cycles, so reference counting alone frees it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def crashed_result(model: str, exc: BaseException, file: str | None = None) -> CheckResult:
    """The verdict for a check that raised something other than a HistoryError: a checker bug,
    so "unknown" with the error, never a traceback in place of an answer."""
    error = f"{type(exc).__name__}: {exc}"
    return CheckResult(valid=UNKNOWN, model=model, ops=0, keys=0, elapsed_s=0.0, file=file,
                       reason=f"the checker crashed ({error})", error=error)
