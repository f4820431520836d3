"""One lock that starts free: acquire takes it (only if free), release frees it (only if held)."""
from __future__ import annotations

from checker.models.base import Model
from history.pairing import Operation


class Mutex(Model):
    name = "mutex"
    fs = frozenset({"acquire", "release"})

    def init(self) -> bool:
        return False  # held?

    def step(self, state: bool, op: Operation) -> tuple[bool, bool]:
        if op.f == "acquire":
            return (not state), True
        return state, False

    def check_op(self, op: Operation) -> str | None:
        if op.f not in self.fs:
            return f"unknown f {op.f!r} for model {self.name} (expected acquire or release)"
        return None

    def describe_state(self, state: bool) -> str:
        return "the lock is held" if state else "the lock is free"
