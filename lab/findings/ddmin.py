"""Zeller's delta debugging, nothing specific to shrinking: a 1-minimal subsequence that still passes a test."""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

T = TypeVar("T")


def ddmin(items: Sequence[T], test: Callable[[list[T]], bool]) -> list[T]:
    """Zeller's ddmin: a subsequence of `items` (which must pass `test`) that still passes, 1-minimal when
    `test` is monotone: dropping any single element of the result fails. Tries the n parts, then their
    complements, doubling n when neither passes; the empty list is tried once a single element is left.
    Repeated configurations are not re-tested. `test` may raise to stop the search (the caller keeps the best).
    """
    seen: dict[tuple[int, ...], bool] = {}

    def passes(indices: list[int]) -> bool:
        key = tuple(indices)
        if key not in seen:
            seen[key] = bool(test([items[i] for i in indices]))
        return seen[key]

    current = list(range(len(items)))
    n = 2
    while current:
        if len(current) == 1:
            return [] if passes([]) else [items[i] for i in current]
        n = min(n, len(current))
        chunks = _split(current, n)
        reduced = False
        for chunk in chunks:  # a part alone
            if len(chunks) > 1 and passes(chunk):
                current, n, reduced = chunk, 2, True
                break
        if not reduced:
            for chunk in chunks:  # everything but a part
                complement = [i for i in current if i not in chunk]
                if passes(complement):
                    current, n, reduced = complement, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(current):
                break
            n = min(2 * n, len(current))
    return [items[i] for i in current]


def _split(indices: list[int], n: int) -> list[list[int]]:
    size, extra = divmod(len(indices), n)
    chunks, start = [], 0
    for k in range(n):
        end = start + size + (1 if k < extra else 0)
        chunks.append(indices[start:end])
        start = end
    return [c for c in chunks if c]


__all__ = ["ddmin"]
