"""Linearizability search in the Wing-Gong / Lowe / Porcupine (WGL) family, for one sub-history.

Calls and returns sit in a doubly linked list in real-time order. Scanning from the head, a call
entry met before any return entry may be linearized next; we try it against the model, and push it
if (linearized set, model state) is new - the cache is what makes WGL fast. Meeting a return entry
means no remaining op can go first, so we backtrack. Additions to the textbook algorithm:

- info ops return "at infinity" and are optional: success is when every ok op is linearized;
- info ops never constrain another op (they have no return), so a configuration that differs from a
  visited one only by having linearized *more* info ops has no future the visited one lacks: the
  cache keeps, per (ok ops linearized, state), the minimal sets of info ops seen, and prunes supersets;
- info ops with the same effect (model.effect: f, value) are interchangeable, so only the earliest
  open one of such twins is tried (Jepsen's etcd runs time out the same write again and again);
- pure ops (reads) that succeed are committed greedily: if prefix+read has no linearization then
  neither has the prefix (the read can always move to the front: it changes no state, and nothing
  that must precede it is left), so backtracking skips over them instead of trying alternatives;
- states are used as they are (no interning or transition memo: most (op, state) pairs are met only
  once, as in kv histories, and str and frozenset states cache their own hashes); a model whose step
  is costly memoises it itself (execution-state);
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
    # When no op can go first these are one empty prefix and the model's initial state.
    longest: list[list[Operation]] = field(default_factory=list)
    longest_state: Any = None


@dataclass
class SearchStats:
    steps: int = 0
    cache_size: int = 0


MAX_LONGEST = 3  # how many distinct longest partial linearizations a counterexample shows
MAX_TIES = 64


@dataclass
class _Timeline:
    """The doubly linked list of call and return entries: node 0 is the head, 2n+1 the tail."""

    nxt: list[int]
    prv: list[int]
    node_op: list[int]  # op number of each entry (-1 for head and tail)
    is_call: list[bool]
    match: list[int]  # call entry -> its return entry


def _timeline(ops: list[Operation]) -> _Timeline:
    entries: list[tuple[float, int, int]] = []  # (position, is_return, op number)
    for number, op in enumerate(ops):
        entries.append((op.call, 0, number))
        entries.append((op.ret if op.ret is not None else float("inf"), 1, number))
    entries.sort()
    tail = 2 * len(ops) + 1
    line = _Timeline(list(range(1, tail + 1)) + [tail], [0] + list(range(0, tail)),
                     [-1] * (tail + 1), [False] * (tail + 1), [0] * (tail + 1))
    call_node = [0] * len(ops)
    for node, (_, is_return, number) in enumerate(entries, start=1):
        line.node_op[node] = number
        if is_return:
            line.match[call_node[number]] = node
        else:
            line.is_call[node] = True
            call_node[number] = node
    return line


def _fresh(cache: dict[tuple[int, Any], int | list[int]], key: tuple[int, Any], seen: int | list[int],
           info: int) -> bool:
    """Whether no info set recorded under `key` is a subset of `info`; if so record it, keeping only
    the minimal sets. One set is stored as a bare int (nearly always), several as a list."""
    recorded = [seen] if type(seen) is int else seen
    for old in recorded:
        if not old & ~info:
            return False
    kept = [old for old in recorded if info & ~old]  # drop supersets of the new set
    cache[key] = [*kept, info] if kept else info
    return True


def _free(op: Operation) -> bool:
    """An op the search may leave out that never constrains another: an info op without a return."""
    return op.status != OK and op.ret is None


def _info_twins(ops: list[Operation], model: Model) -> list[int]:
    """For each info op, the info op with the same effect called just before it (else -1).

    Such twins are interchangeable - neither ever has to precede anything, and whenever the later one
    could be linearized so could the earlier one - so the search only tries the earliest open one.
    """
    twins = [-1] * len(ops)
    last: dict[Any, int] = {}
    for number in sorted(range(len(ops)), key=lambda i: ops[i].call):
        op = ops[number]
        if not _free(op):
            continue
        effect = model.effect(op)
        if effect is None:
            continue
        twins[number] = last.get(effect, -1)
        last[effect] = number
    return twins


def search(
    ops: list[Operation], model: Model, *, slice_steps: int = 20_000, stats: SearchStats | None = None
) -> Generator[None, None, SearchOutcome]:
    """Decide whether `ops` (no fail ops) is linearizable; yields every `slice_steps` steps."""
    stats = stats if stats is not None else SearchStats()
    n = len(ops)
    if n == 0:
        return SearchOutcome(True)
    line = _timeline(ops)
    nxt, prv, node_op, is_call, match = line.nxt, line.prv, line.node_op, line.is_call, line.match
    step = model.step
    required = [op.status == OK for op in ops]
    pure = [required[i] and model.is_pure(op) for i, op in enumerate(ops)]
    # Only info ops that never return (as pairing makes them) are free: a return would constrain others.
    free = [_free(op) for op in ops]
    bit = [1 << number for number in range(n)]
    twin_bit = [0 if twin < 0 else 1 << twin for twin in _info_twins(ops, model)]

    state: Any = model.init()
    done = info_done = 0  # bitsets of the other ops and of the free info ops linearized so far
    remaining = sum(required)
    cache: dict[tuple[int, Any], int | list[int]] = {}  # (done, state) -> minimal info_done set(s) seen
    stack: list[tuple[int, Any]] = []  # (call node, state before it)
    # An empty prefix in the initial state until something longer is found: a history whose
    # first op is already impossible still gets a counterexample.
    longest: list[list[int]] = [[]]
    longest_state = state
    longest_depth = ties = 0
    entry = nxt[0]
    slices = 0
    budget = slice_steps
    while remaining:
        budget -= 1
        if not budget:
            slices += 1
            stats.steps, stats.cache_size = slices * slice_steps, len(cache)
            yield
            budget = slice_steps
        if is_call[entry]:
            number = node_op[entry]
            twin = twin_bit[number]
            if twin and not info_done & twin:
                entry = nxt[entry]  # its earlier twin is still open: trying this one too is redundant
                continue
            ok, new_state = step(state, ops[number])
            if ok:
                if free[number]:
                    new_done, new_info = done, info_done | bit[number]
                else:
                    new_done, new_info = done | bit[number], info_done
                key = (new_done, new_state)
                seen = cache.get(key)
                if seen is None:
                    cache[key] = new_info
                    fresh = True
                elif seen == new_info:  # the common exact repeat, decided inline
                    fresh = False
                else:
                    fresh = _fresh(cache, key, seen, new_info)
                if fresh:
                    stack.append((entry, state))
                    state, done, info_done = new_state, new_done, new_info
                    remaining -= required[number]
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
                steps = slices * slice_steps + slice_steps - budget
                stats.steps, stats.cache_size = steps, len(cache)
                return SearchOutcome(False, steps, [[ops[i] for i in prefix] for prefix in longest], longest_state)
            call, state = stack.pop()
            number = node_op[call]
            if free[number]:  # xor clears the bit: cheaper on long bitsets than and-not
                info_done ^= bit[number]
            else:
                done ^= bit[number]
            remaining += required[number]
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
    steps = slices * slice_steps + slice_steps - budget
    stats.steps, stats.cache_size = steps, len(cache)
    return SearchOutcome(True, steps)
