"""The workload interface: operations, completions, parameters and the context a run gives a workload.

A workload is one small module: it says which operations to generate (`next_op`), how one client performs
an operation against its pinned API node (`invoke`), what to do once the time limit is reached (`finish_ops`,
`final_reads`), and which checkers judge its history. The runner (workloads.runner) does the rest.
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from history.events import FAIL, INFO, OK, Key
from cluster.errors import LabError

if TYPE_CHECKING:
    from cluster.mistral_api import NodeClient


@dataclass(frozen=True)
class Op:
    """One operation to invoke. `node` pins a final op to one API node (None: the worker's own node)."""

    f: str
    value: Any = None
    key: Key = None
    node: str | None = None


@dataclass(frozen=True)
class Completion:
    """What the client saw: ok (happened), fail (certainly did not happen), info (unknown)."""

    type: str
    value: Any = None
    error: str | None = None

    @classmethod
    def ok(cls, value: Any = None) -> "Completion":
        return cls(OK, value)

    @classmethod
    def fail(cls, error: str, value: Any = None) -> "Completion":
        return cls(FAIL, value, error)

    @classmethod
    def info(cls, error: str, value: Any = None) -> "Completion":
        return cls(INFO, value, error)


@dataclass
class RunContext:
    """What a workload may use during a run: the API nodes, a clients factory, the run's id and directory."""

    run_id: str
    api_urls: dict[str, str]
    out_dir: Path
    client_for: Callable[[str], "NodeClient"]
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def nodes(self) -> list[str]:
        return sorted(self.api_urls)


@dataclass(frozen=True)
class Param:
    """A workload parameter: its default decides its type; `check` returns why a value is bad, or None."""

    default: Any
    help: str
    check: Callable[[Any], str | None] | None = None


def positive(value: Any) -> str | None:
    return None if value > 0 else "must be > 0"


def non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be >= 0"


def _convert(name: str, raw: Any, default: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        if isinstance(default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError:
        raise LabError(f"parameter {name}={raw!r}: expected {type(default).__name__}") from None
    return raw


class Workload:
    """Base class. Subclasses set name, PARAMS, checkers (and model) and implement next_op and invoke."""

    name: ClassVar[str] = "workload"
    description: ClassVar[str] = ""
    PARAMS: ClassVar[dict[str, Param]] = {}
    # Checker names of checker.run_checks that judge this workload's runs.
    checkers: ClassVar[tuple[str, ...]] = ("perf",)
    model: ClassVar[str | None] = None         # linearizability model, if "linearizable" is a checker
    starts_executions: ClassVar[bool] = False  # does the runner wait for executions to settle?
    # Ops whose same 4xx from every API node, several times in a row, ends the load early (workloads.refusals).
    aborts_on_refusal: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.PARAMS))
        if unknown:
            known = ", ".join(sorted(self.PARAMS)) or "none"
            raise LabError(f"unknown parameter {unknown[0]!r} for workload {self.name} (known: {known})")
        self.params: dict[str, Any] = {}
        for pname, spec in self.PARAMS.items():
            value = _convert(pname, params.get(pname, spec.default), spec.default)
            problem = spec.check(value) if spec.check else None
            if problem:
                raise LabError(f"parameter {pname}={value!r} for workload {self.name}: {problem}")
            self.params[pname] = value
        self.lock = threading.Lock()  # the runner holds it around next_op: generators keep shared state

    def setup(self, ctx: RunContext) -> None:
        """Prepare the cluster (create workflows...) before any client starts."""

    def next_op(self, rng: random.Random, process: int, node: str) -> Op | None:
        """The next operation for `process` (pinned to `node`), or None when the generator is exhausted."""
        raise NotImplementedError

    def invoke(self, client: "NodeClient", op: Op) -> Completion:
        """Perform `op` through `client`; raise requests exceptions freely (the runner makes them info)."""
        raise NotImplementedError

    def observe(self, op: Op, completion: Completion) -> None:
        """Learn from a completion (e.g. which executions exist); called under `lock`."""

    def finish_ops(self, ctx: RunContext) -> list[Op]:
        """Ops to run once the time limit is reached, before the settle wait (e.g. resume what is paused)."""
        return []

    def final_reads(self, ctx: RunContext) -> list[Op]:
        """Ops to run after the settle wait (e.g. read every key from every node)."""
        return []

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params), "checkers": list(self.checkers),
                "model": self.model}


__all__ = ["Completion", "Op", "Param", "RunContext", "Workload", "non_negative", "positive", "FAIL", "INFO", "OK"]
