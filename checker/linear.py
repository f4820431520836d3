"""Linearizability search in the Wing-Gong / Lowe / Porcupine (WGL) family, for one sub-history.

Calls and returns sit in a doubly linked list in real-time order; a call met before any return may be
linearized next, and (linearized set, model state) is cached. The additions to the textbook algorithm (optional
info ops, superset pruning, effect twins, greedy pure ops, sliced search): docs/verdicts.md#the-search.
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


@dataclass
class _Facts:
    """What the search reads of each op, by op number."""

    required: list[bool]  # ok ops: every one must be linearized
    pure: list[bool]  # ok ops that change no state: committed greedily, skipped over on backtrack
    free: list[bool]  # info ops without a return: optional, and they never constrain another op
    bit: list[int]
    twin_bit: list[int]  # the bit of the op's earlier interchangeable info twin, else 0


def _facts(ops: list[Operation], model: Model) -> _Facts:
    required = [op.status == OK for op in ops]
    pure = [required[i] and model.is_pure(op) for i, op in enumerate(ops)]
    # Only info ops that never return (as pairing makes them) are free: a return would constrain others.
    free = [_free(op) for op in ops]
    bit = [1 << number for number in range(len(ops))]
    twin_bit = [0 if twin < 0 else 1 << twin for twin in _info_twins(ops, model)]
    return _Facts(required, pure, free, bit, twin_bit)


class _Longest:
    """The longest partial linearizations met so far (op numbers) and the state after the first.

    An empty prefix in the initial state until something longer is found: a history whose first op is already
    impossible still gets a counterexample.
    """

    __slots__ = ("prefixes", "state", "depth", "ties")

    def __init__(self, state: Any) -> None:
        self.prefixes: list[list[int]] = [[]]
        self.state = state
        self.depth = self.ties = 0

    def note(self, stack: list[tuple[int, Any]], state: Any, node_op: list[int]) -> None:
        """A backtrack at `stack` (as deep as the longest or deeper): keep its prefix if it is the longest yet,
        or as one more of the longest."""
        depth = len(stack)
        if depth > self.depth:
            self.prefixes, self.state, self.depth, self.ties = [[node_op[node] for node, _ in stack]], state, depth, 0
        elif len(self.prefixes) < MAX_LONGEST and self.ties < MAX_TIES:
            self.ties += 1  # only a few equal-length prefixes are compared: this runs on hot backtracks
            prefix = [node_op[node] for node, _ in stack]
            if all(set(prefix) != set(other) for other in self.prefixes):
                self.prefixes.append(prefix)

    def outcome(self, ops: list[Operation], steps: int) -> SearchOutcome:
        """The failed search's outcome: these prefixes as ops."""
        return SearchOutcome(False, steps, [[ops[i] for i in prefix] for prefix in self.prefixes], self.state)


@dataclass
class _Walk:
    """Where a search stands between two slices."""

    state: Any
    remaining: int  # ok ops not linearized yet
    longest: _Longest
    entry: int
    budget: int  # steps left in this slice
    done: int = 0  # bitsets of the other ops and of the free info ops linearized so far
    info_done: int = 0
    # (done, state) -> the minimal info_done set(s) seen with it
    cache: dict[tuple[int, Any], int | list[int]] = field(default_factory=dict)
    stack: list[tuple[int, Any]] = field(default_factory=list)  # (call node, state before it)

    def park(self, state: Any, remaining: int, entry: int, budget: int, done: int, info_done: int) -> None:
        self.state, self.remaining, self.entry, self.budget, self.done, self.info_done = \
            state, remaining, entry, budget, done, info_done


def search(
    ops: list[Operation], model: Model, *, slice_steps: int = 20_000, stats: SearchStats | None = None
) -> Generator[None, None, SearchOutcome]:
    """Decide whether `ops` (no fail ops) is linearizable; yields every `slice_steps` steps."""
    stats = stats if stats is not None else SearchStats()
    if not ops:
        return SearchOutcome(True)
    line, facts, state = _timeline(ops), _facts(ops, model), model.init()
    walk = _Walk(state, sum(facts.required), _Longest(state), line.nxt[0], slice_steps)
    slices = 0
    while (linearizable := _walk(walk, ops, model.step, line, facts)) is None:
        slices += 1
        stats.steps, stats.cache_size = slices * slice_steps, len(walk.cache)
        yield
        walk.budget = slice_steps + 1  # the step that found the budget spent runs first, on the new one
    stats.steps, stats.cache_size = slices * slice_steps + slice_steps - walk.budget, len(walk.cache)
    return SearchOutcome(True, stats.steps) if linearizable else walk.longest.outcome(ops, stats.steps)


def _walk(walk: _Walk, ops: list[Operation], step: Any, line: _Timeline, facts: _Facts) -> bool | None:
    """Search on until the slice's budget is spent (None; `walk` keeps the place) or the search ends: True when
    every ok op is linearized, False when there is nothing left to backtrack."""
    nxt, prv, node_op, is_call, match = line.nxt, line.prv, line.node_op, line.is_call, line.match
    required, pure, free, bit, twin_bit = facts.required, facts.pure, facts.free, facts.bit, facts.twin_bit
    state, remaining, longest, entry, budget = walk.state, walk.remaining, walk.longest, walk.entry, walk.budget
    done, info_done, cache, stack = walk.done, walk.info_done, walk.cache, walk.stack
    while remaining:
        budget -= 1
        if not budget:
            break
        if is_call[entry]:
            number = node_op[entry]
            if (twin := twin_bit[number]) and not info_done & twin:
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
                elif seen == new_info or not _fresh(cache, key, seen, new_info):  # the exact repeat inline
                    entry = nxt[entry]
                    continue
                stack.append((entry, state))
                state, done, info_done = new_state, new_done, new_info
                remaining -= required[number]
                ret = match[entry]  # lift the call and its return out of the list
                nxt[prv[entry]], prv[nxt[entry]] = nxt[entry], prv[entry]
                nxt[prv[ret]], prv[nxt[ret]] = nxt[ret], prv[ret]
                entry = nxt[0]
                continue
            entry = nxt[entry]
            continue
        if len(stack) >= longest.depth:  # a return entry (or the tail): nothing left can go first
            longest.note(stack, state, node_op)
        while True:  # backtrack
            if not stack:
                walk.budget = budget
                return False
            call, state = stack.pop()
            number = node_op[call]
            if free[number]:  # xor clears the bit: cheaper on long bitsets than and-not
                info_done ^= bit[number]
            else:
                done ^= bit[number]
            remaining += required[number]
            ret = match[call]  # put the return back, then the call
            nxt[prv[ret]] = prv[nxt[ret]] = ret
            nxt[prv[call]] = prv[nxt[call]] = call
            if not pure[number]:
                break
        entry = nxt[call]
    walk.park(state, remaining, entry, budget, done, info_done)
    return None if remaining else True
