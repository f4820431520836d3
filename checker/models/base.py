"""The base of every model: `Model` (defaults for the optional hooks) and `frozen` (hashable values).
The package (checker.models) keeps the registry; the protocol: docs/architecture.md#a-linearizability-model."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Hashable, Iterable

from history.pairing import Operation


class Model:
    """Defaults for the optional hooks; subclasses set name, fs and implement init and step."""

    name: str = "model"
    fs: frozenset[str] = frozenset()

    def init(self) -> Hashable:
        raise NotImplementedError

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        raise NotImplementedError

    def check_op(self, op: Operation) -> str | None:
        return None

    def prepare(self, op: Operation) -> Operation:
        return op

    def is_pure(self, op: Operation) -> bool:
        return False

    def partition(self, ops: list[Operation]) -> list[tuple[Any, list[Operation]]]:
        by_key: dict[Any, list[Operation]] = defaultdict(list)
        for op in ops:
            by_key[op.key].append(op)
        return list(by_key.items())

    def effect(self, op: Operation) -> Hashable | None:
        try:
            hash(op.value)
        except TypeError:
            return None  # an unfrozen list or dict: no twin detection, only a slower search
        return (op.f, op.value, op.status)

    def describe_op(self, op: Operation) -> str:
        value = "" if op.value is None else f" {op.value!r}"
        return f"{op.f}{value}"

    def describe_state(self, state: Any) -> str:
        return repr(state)


def frozen(value: Any) -> Hashable:
    """A hashable version of a JSON value (lists become tuples, objects sorted item tuples)."""
    if isinstance(value, list):
        return tuple(frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, frozen(v)) for k, v in value.items()))
    return value
