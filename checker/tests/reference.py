"""Exhaustive reference: try every order of the ops that respects real time (no cache, no tricks)."""
from __future__ import annotations

from history.pairing import Operation


def brute_force_linearizable(ops: list[Operation], model) -> bool:
    ops = [model.prepare(op) for op in ops if op.status != "fail"]
    for _, part in model.partition(ops):
        if not _part_linearizable(part, model):
            return False
    return True


def _part_linearizable(ops: list[Operation], model) -> bool:
    must_precede = {
        op.id: [o.id for o in ops if o.ret is not None and o.ret < op.call] for op in ops
    }

    def extend(state, done: frozenset[int]) -> bool:
        if all(op.status != "ok" or op.id in done for op in ops):
            return True  # info ops are optional
        for op in ops:
            if op.id in done or any(p not in done for p in must_precede[op.id]):
                continue
            ok, new_state = model.step(state, op)
            if ok and extend(new_state, done | {op.id}):
                return True
        return False

    return extend(model.init(), frozenset())
