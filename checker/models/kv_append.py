"""Porcupine's kv model: per-key strings that start as "", with get, put and append."""
from __future__ import annotations

from checker.models.base import Model
from history.pairing import Operation


class KvAppend(Model):
    name = "kv-append"
    fs = frozenset({"get", "put", "append"})

    def init(self) -> str:
        return ""  # partition() makes every key its own sub-history, so the state is one string

    def step(self, state: str, op: Operation) -> tuple[bool, str]:
        f = op.f
        if f == "get":
            return (op.status == "info" or (op.value or "") == state), state
        if f == "put":
            return True, op.value or ""
        return True, state + (op.value or "")

    def check_op(self, op: Operation) -> str | None:
        if op.f not in self.fs:
            return f"unknown f {op.f!r} for model {self.name} (expected get, put or append)"
        if op.value is not None and not isinstance(op.value, str):
            return f"{op.f} value must be a string, got {op.value!r}"
        return None

    def is_pure(self, op: Operation) -> bool:
        return op.f == "get"

    def describe_op(self, op: Operation) -> str:
        if op.f == "get":
            return "get (outcome unknown)" if op.status == "info" else f"get -> {op.value or ''!r}"
        return f"{op.f} {op.value or ''!r}"

    def describe_state(self, state: str) -> str:
        return f"the value is {state!r}"
