"""Which executions a run started: the one rule the settle wait, run.json and the completion checker share.

A start op counts when it names an execution id (its key) and did not fail: acknowledged (ok) and
indeterminate (info, or still open) starts alike, since Mistral may create an indeterminate one at any later
time. A failed start is only "attempted": the snapshot still looks it up (failed-but-created).

At the bottom of the layers so the workloads (settle wait, run.json) and the checkers (completion, gates)
read the same rule.
"""
from __future__ import annotations

from typing import Any, Iterable, Protocol

from history.events import FAIL

START = "start"


class StartLike(Protocol):
    """What the rule reads of an op: history.pairing.Operation has these, so has the runner's record."""

    f: str
    key: Any
    status: str


def counts_as_started(f: str, key: Any, status: str) -> bool:
    """A start op with an execution id that did not fail (ok, info, or still open)."""
    return f == START and key is not None and status != FAIL


def started_executions(ops: Iterable[StartLike]) -> list[str]:
    """Execution ids the run started, in first-start order, each once."""
    return list(dict.fromkeys(str(op.key) for op in ops if counts_as_started(op.f, op.key, op.status)))


def attempted_executions(ops: Iterable[StartLike]) -> list[str]:
    """Every execution id a start was tried with, failed ones too, in first-start order."""
    return list(dict.fromkeys(str(op.key) for op in ops if op.f == START and op.key is not None))


__all__ = ["StartLike", "attempted_executions", "counts_as_started", "started_executions"]
