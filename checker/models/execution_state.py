"""The execution lifecycle as a linearizability model: one key per workflow execution.

A client must never observe a state the execution cannot be in (above all RUNNING after SUCCESS, ERROR or
CANCELLED); the model state is the set of states the execution may be in, closed under the engine's moves
before every step. The ops and the rules: docs/verdicts.md#the-execution-state-model.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, FrozenSet

from checker.models.base import Model
from history.mistral import CANCELLED, ERROR, SUCCESS
from history.pairing import Operation

ABSENT, IDLE, RUNNING, DELAYED, PAUSED = "ABSENT", "IDLE", "RUNNING", "RUNNING_DELAYED", "PAUSED"
STATES = frozenset({ABSENT, IDLE, RUNNING, DELAYED, PAUSED, SUCCESS, ERROR, CANCELLED})

# What the engine may do on its own, without any client asking.
ENGINE_MOVES: dict[str, frozenset[str]] = {
    IDLE: frozenset({RUNNING, ERROR}),
    RUNNING: frozenset({DELAYED, SUCCESS, ERROR}),
    DELAYED: frozenset({RUNNING, ERROR}),
    PAUSED: frozenset({ERROR}),
}

# What a successful client op does to each state it accepts (states absent here: the op is refused or no-op).
CLIENT_MOVES: dict[str, dict[str, str]] = {
    "start": {ABSENT: RUNNING},                       # an existing id: Mistral returns it unchanged
    "pause": {RUNNING: PAUSED, PAUSED: PAUSED},
    "resume": {PAUSED: RUNNING, IDLE: RUNNING},
    "cancel": {IDLE: CANCELLED, RUNNING: CANCELLED, DELAYED: CANCELLED, PAUSED: CANCELLED},
}

States = FrozenSet[str]


@lru_cache(maxsize=1024)  # the search asks again and again for the same few sets
def closure(states: States) -> States:
    """Every state reachable from `states` by engine moves alone."""
    seen = set(states)
    frontier = list(states)
    while frontier:
        for nxt in ENGINE_MOVES.get(frontier.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return frozenset(seen)


def _after(f: str, state: str) -> set[str]:
    """States `f` may leave behind when applied in `state` (it may always be a no-op)."""
    moved = CLIENT_MOVES[f].get(state)
    if f == "start" and moved:
        return {IDLE, RUNNING}
    return {state} | ({moved} if moved else set())


class ExecutionState(Model):
    name = "execution-state"
    fs = frozenset({"start", "read", "pause", "resume", "cancel"})

    def init(self) -> States:
        return frozenset({ABSENT})

    def step(self, state: States, op: Operation) -> tuple[bool, Any]:
        reachable = closure(state)
        if op.f == "read":
            if op.status != "ok":
                return True, reachable
            return (op.value in reachable), frozenset({op.value})
        after: set[str] = set()
        for current in reachable:
            after |= _after(op.f, current)
        if op.status != "ok":  # info: it may or may not have happened, at any time from now on
            return True, closure(frozenset(after) | reachable)
        if op.value in closure(frozenset(after)):  # the answer is read right after the op took effect
            return True, frozenset({op.value})
        return False, state

    def check_op(self, op: Operation) -> str | None:
        if op.f not in self.fs:
            return f"unknown f {op.f!r} for model {self.name} (expected one of {', '.join(sorted(self.fs))})"
        if op.key is None:
            return f"{op.f} needs a key (the execution id)"
        if op.status == "ok" and not (isinstance(op.value, str) and op.value in STATES):
            return f"{op.f} returned {op.value!r}, not an execution state ({', '.join(sorted(STATES))})"
        return None

    def is_pure(self, op: Operation) -> bool:
        # A read narrows the set of possible states, so it is not pure here: committing it greedily at the
        # earliest point could reject a history where it linearizes after a concurrent op.
        return False

    def describe_op(self, op: Operation) -> str:
        if op.status != "ok":
            return f"{op.f} (outcome unknown)"
        return f"{op.f} -> {op.value}"

    def describe_state(self, state: States) -> str:
        return "the execution may be " + "|".join(sorted(state))


__all__ = ["ExecutionState", "ENGINE_MOVES", "CLIENT_MOVES", "closure"]
