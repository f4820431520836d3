"""Generate linearizable cas-register histories (for benchmarks and tests).

Clients hit per-key atomic registers; each op takes effect at its completion, so the history is
linearizable by construction. A few ops end in info (applied or not, at random), retiring the process.
"""
from __future__ import annotations

import random

from history.events import Event
from history.writer import HistoryWriter


def generate_cas_history(
    path: str, *, ops: int = 100_000, keys: int = 100, processes: int = 50, seed: int = 0, info_rate: float = 0.002
) -> int:
    rng = random.Random(seed)
    registers: dict[str, int | None] = {}
    open_ops: dict[int, tuple[str, str, object]] = {}
    live = list(range(processes))
    next_process = processes
    started = 0
    time = 0
    with HistoryWriter(path) as writer:
        while started < ops or open_ops:
            slot = rng.randrange(len(live))
            process = live[slot]
            time += rng.randint(1, 1000)
            if process in open_ops:
                key, f, value = open_ops.pop(process)
                if rng.random() < info_rate:
                    if rng.random() < 0.5 and f != "read":
                        _apply(registers, key, f, value)
                    writer.write_event(Event(0, time, process, "info", f, value, key))
                    live[slot] = next_process  # an info retires the process id
                    next_process += 1
                    continue
                ok, result = _apply(registers, key, f, value)
                writer.write_event(Event(0, time, process, "ok" if ok else "fail", f, result, key))
            elif started < ops:
                key = f"k{rng.randrange(keys)}"
                f = rng.choice(("read", "read", "write", "cas"))
                value = None if f == "read" else rng.randrange(5) if f == "write" else [rng.randrange(5), rng.randrange(5)]
                open_ops[process] = (key, f, value)
                writer.write_event(Event(0, time, process, "invoke", f, value, key))
                started += 1
    return started


def _apply(registers: dict[str, int | None], key: str, f: str, value: object) -> tuple[bool, object]:
    current = registers.get(key)
    if f == "read":
        return True, current
    if f == "write":
        registers[key] = value  # type: ignore[assignment]
        return True, value
    old, new = value  # type: ignore[misc]
    if current == old:
        registers[key] = new
        return True, value
    return False, value
