"""Knossos's multi-register: txns of [read k v] / [write k v] over registers that start at 0.

A read whose value is nil (e.g. in an info txn) accepts anything.
"""
from __future__ import annotations

from typing import Any, Hashable

from checker.models.base import Model, frozen
from history.pairing import Operation

# The (register, value) pairs that differ from 0. A frozenset, not a sorted tuple: register names of
# different types (1 and "x") do not sort, and the search only needs equality and a hash.
State = frozenset[tuple[Hashable, Hashable]]


class MultiRegister(Model):
    name = "multi-register"
    fs = frozenset({"txn"})

    def init(self) -> State:
        return frozenset()

    def step(self, state: State, op: Operation) -> tuple[bool, State]:
        # op.value is a tuple of (kind, register, value) with hashable parts: prepare() froze it.
        registers = dict(state)
        lenient = op.status == "info"
        for kind, register, value in op.value:
            if kind == "read":
                if value is not None and not lenient and registers.get(register, 0) != value:
                    return False, state
            else:
                registers[register] = value
        return True, frozenset((k, v) for k, v in registers.items() if v != 0)

    def prepare(self, op: Operation) -> Operation:
        return op.with_value(tuple((kind, frozen(register), frozen(value)) for kind, register, value in op.value))

    def check_op(self, op: Operation) -> str | None:
        if op.f != "txn":
            return f"unknown f {op.f!r} for model {self.name} (expected txn)"
        micro_ops = op.value
        if not isinstance(micro_ops, (list, tuple)) or not all(
            isinstance(m, (list, tuple)) and len(m) == 3 and m[0] in ("read", "write") for m in micro_ops
        ):
            return f"txn value must be a list of [read|write, register, value], got {micro_ops!r}"
        if not all(isinstance(m[1], (str, int, float, bool)) for m in micro_ops):
            return f"txn registers must be names or numbers, got {micro_ops!r}"
        return None

    def is_pure(self, op: Operation) -> bool:
        return all(kind == "read" for kind, _, _ in op.value)

    def partition(self, ops: list[Operation]) -> list[tuple[Any, list[Operation]]]:
        return [(None, ops)]  # txns span registers, so they are not independent

    def describe_op(self, op: Operation) -> str:
        micro_ops = ", ".join(f"{kind} {register} {'nil' if value is None else value}" for kind, register, value in op.value)
        return f"txn [{micro_ops}]" + (" (outcome unknown)" if op.status != "ok" else "")

    def describe_state(self, state: State) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(state, key=repr)) or "all registers 0"
        return f"registers: {shown}"
