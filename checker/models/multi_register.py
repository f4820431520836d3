"""Knossos's multi-register: txns of [read k v] / [write k v] over registers that start at 0.

A read whose value is nil (e.g. in an info txn) accepts anything.
"""
from __future__ import annotations

from typing import Any

from checker.models import Model, frozen
from history.pairing import Operation

State = tuple[tuple[Any, Any], ...]  # sorted (register, value) pairs that differ from 0


class MultiRegister(Model):
    name = "multi-register"
    fs = frozenset({"txn"})

    def init(self) -> State:
        return ()

    def step(self, state: State, op: Operation) -> tuple[bool, State]:
        registers = dict(state)
        for kind, register, value in op.value:
            if kind == "read":
                if value is not None and registers.get(register, 0) != frozen(value) and op.status != "info":
                    return False, state
            else:
                registers[register] = frozen(value)
        return True, tuple(sorted((k, v) for k, v in registers.items() if v != 0))

    def check_op(self, op: Operation) -> str | None:
        if op.f != "txn":
            return f"unknown f {op.f!r} for model {self.name} (expected txn)"
        micro_ops = op.value
        if not isinstance(micro_ops, list) or not all(
            isinstance(m, list) and len(m) == 3 and m[0] in ("read", "write") for m in micro_ops
        ):
            return f"txn value must be a list of [read|write, register, value], got {micro_ops!r}"
        return None

    def is_pure(self, op: Operation) -> bool:
        return all(kind == "read" for kind, _, _ in op.value)

    def partition(self, ops: list[Operation]) -> list[tuple[Any, list[Operation]]]:
        return [(None, ops)]  # txns span registers, so they are not independent

    def describe_state(self, state: State) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in state) or "all registers 0"
        return f"registers: {shown}"
