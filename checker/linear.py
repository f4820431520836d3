"""Linearizability search in the Wing-Gong / Lowe / Porcupine (WGL) family, for one sub-history.

Calls and returns sit in a doubly linked list in real-time order. Scanning from the head, a call
entry met before any return entry may be linearized next; we try it against the model, and push it
if (linearized set, model state) is new - the cache is what makes WGL fast. Meeting a return entry
means no remaining op can go first, so we backtrack. Additions to the textbook algorithm:

- info ops return "at infinity" and are optional: success is when every ok op is linearized;
- pure ops (reads) that succeed are committed greedily: if prefix+read has no linearization then
  neither has the prefix (the read can always move to the front: it changes no state, and nothing
  that must precede it is left), so backtracking skips over them instead of trying alternatives;
- the search is a generator that yields every `slice_steps` steps, so a driver can interleave many
  keys (one hard key cannot starve the rest) and enforce a budget between slices.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generator

from checker.models import Model
from history.events import OK
from history.pairing import Operation


@dataclass
class SearchOutcome:
    """How one sub-history's search ended."""

    linearizable: bool
    steps: int = 0
    # For failures: the longest partial linearizations found (op lists) and the state after them.
    longest: list[list[Operation]] = field(default_factory=list)
    longest_state: Any = None


@dataclass
class SearchStats:
    steps: int = 0
    cache_size: int = 0


MAX_LONGEST = 3  # how many distinct longest partial linearizations a counterexample shows
MAX_TIES = 64


def search(
    ops: list[Operation], model: Model, *, slice_steps: int = 20_000, stats: SearchStats | None = None
) -> Generator[None, None, SearchOutcome]:
    """Decide whether `ops` (no fail ops) is linearizable; yields every `slice_steps` steps."""
    stats = stats if stats is not None else SearchStats()
    n = len(ops)
    if n == 0:
        return SearchOutcome(True)
    # --- entries: node 0 is the head, 1..2n calls/returns in real-time order, 2n+1 the tail ----
    timeline: list[tuple[float, int, int]] = []  # (position, is_return, op number)
    for number, op in enumerate(ops):
        timeline.append((op.call, 0, number))
        timeline.append((op.ret if op.ret is not None else float("inf"), 1, number))
    timeline.sort()
    tail = 2 * n + 1
    nxt = list(range(1, tail + 1)) + [tail]
    prv = [0] + list(range(0, tail))
    node_op = [-1] * (tail + 1)
    is_call = [False] * (tail + 1)
    match = [0] * (tail + 1)
    call_node = [0] * n
    for node, (_, is_return, number) in enumerate(timeline, start=1):
        node_op[node] = number
        if is_return:
            match[call_node[number]] = node
        else:
            is_call[node] = True
            call_node[number] = node
    bit = [1 << number for number in range(n)]
    required = [op.status == OK for op in ops]
    pure = [required[i] and model.is_pure(op) for i, op in enumerate(ops)]
    step = model.step

    state: Any = model.init()
    linearized = 0
    remaining = sum(required)
    cache: set[tuple[int, Any]] = set()
    stack: list[tuple[int, Any]] = []  # (call node, state before it)
    longest: list[list[int]] = []
    longest_state: Any = None
    longest_depth = ties = 0
    entry = nxt[0]
    steps = 0
    budget = slice_steps
    while remaining:
        budget -= 1
        if not budget:
            stats.steps, stats.cache_size = steps, len(cache)
            yield
            budget = slice_steps
        steps += 1
        if is_call[entry]:
            number = node_op[entry]
            ok, new_state = step(state, ops[number])
            if ok:
                key = (linearized | bit[number], new_state)
                if key not in cache:
                    cache.add(key)
                    stack.append((entry, state))
                    state = new_state
                    linearized = key[0]
                    if required[number]:
                        remaining -= 1
                    # lift the call and its return out of the list
                    ret = match[entry]
                    before, after = prv[entry], nxt[entry]
                    nxt[before] = after
                    prv[after] = before
                    before, after = prv[ret], nxt[ret]
                    nxt[before] = after
                    prv[after] = before
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
            continue
        # A return entry (or the tail): nothing left can go first. Note the longest prefix, backtrack.
        depth = len(stack)
        if depth > longest_depth:
            longest, longest_state, longest_depth, ties = [[node_op[node] for node, _ in stack]], state, depth, 0
        elif depth == longest_depth and len(longest) < MAX_LONGEST and ties < MAX_TIES:
            ties += 1  # only a few equal-length prefixes are compared: this runs on hot backtracks
            prefix = [node_op[node] for node, _ in stack]
            if all(set(prefix) != set(other) for other in longest):
                longest.append(prefix)
        while True:
            if not stack:
                stats.steps, stats.cache_size = steps, len(cache)
                return SearchOutcome(
                    False, steps, [[ops[i] for i in prefix] for prefix in longest], longest_state
                )
            call, state = stack.pop()
            number = node_op[call]
            linearized ^= bit[number]
            if required[number]:
                remaining += 1
            # unlift: put the return back, then the call
            ret = match[call]
            before, after = prv[ret], nxt[ret]
            nxt[before] = ret
            prv[after] = ret
            before, after = prv[call], nxt[call]
            nxt[before] = call
            prv[after] = call
            if not pure[number]:
                break
        entry = nxt[call]
    stats.steps, stats.cache_size = steps, len(cache)
    return SearchOutcome(True, steps)
