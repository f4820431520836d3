"""A compare-and-set register that starts unset (None): read, write v, cas [old, new]."""
from __future__ import annotations

from typing import Any

from checker.models.base import Model, frozen
from history.pairing import Operation


class CasRegister(Model):
    name = "cas-register"
    fs = frozenset({"read", "write", "cas"})

    def init(self) -> Any:
        return None

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        # op.value is already hashable: prepare() froze it.
        f = op.f
        if f == "read":
            return (op.value == state or op.status == "info"), state
        if f == "write":
            return True, op.value
        old, new = op.value  # cas: swaps only if the register holds `old`
        if old == state:
            return True, new
        return False, state

    def prepare(self, op: Operation) -> Operation:
        if isinstance(op.value, (list, dict)):
            return op.with_value(frozen(op.value))
        return op

    def check_op(self, op: Operation) -> str | None:
        if op.f not in self.fs:
            return f"unknown f {op.f!r} for model {self.name} (expected one of {', '.join(sorted(self.fs))})"
        if op.f == "cas" and not (isinstance(op.value, (list, tuple)) and len(op.value) == 2):
            return f"cas value must be [old, new], got {op.value!r}"
        return None

    def is_pure(self, op: Operation) -> bool:
        return op.f == "read"

    def describe_op(self, op: Operation) -> str:
        if op.f == "read":
            return "read (outcome unknown)" if op.status == "info" else f"read {_show(op.value)}"
        if op.f == "write":
            return f"write {_show(op.value)}"
        old, new = op.value
        return f"cas {_show(old)}->{_show(new)}"

    def describe_state(self, state: Any) -> str:
        return f"the register holds {_show(state)}"


def _show(value: Any) -> str:
    return "nil" if value is None else repr(value) if isinstance(value, str) else str(value)
