"""The load phase's early stop: Mistral refusing every start the same way, from every API node.

A 4xx is Mistral's decision about the request, not a fault's: when each API node the clients use has answered
the same client error to the last `in_a_row` ops of a watched kind (a workload's `aborts_on_refusal`, "start"
for the workloads that start executions), every further op would be refused too, and the run would test
nothing. The watch then gives the reason, with Mistral's own message; the clients stop and the run is judged
UNKNOWN with it. Any other outcome on a node (ok, info, another error) resets that node's count: a fault that
takes one node away never adds up to a refusal.
"""
from __future__ import annotations

import re
import threading
from typing import Iterable

from history.events import FAIL
from workloads.core import Completion

REFUSALS_IN_A_ROW = 3
_CLIENT_ERROR = re.compile(r"^HTTP (4\d\d): ")
_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def refusal_of(completion: Completion) -> str | None:
    """The refusal a completion carries ("HTTP 400: ..." with execution ids masked, so two starts refused for
    one reason compare equal); None unless it is a fail with a 4xx."""
    if completion.type != FAIL or not completion.error or not _CLIENT_ERROR.match(completion.error):
        return None
    return _IDS.sub("<id>", completion.error)


class RefusalWatch:
    """Counts, per API node, the same refusal in a row for the watched ops; thread-safe (every client feeds it)."""

    def __init__(self, ops: Iterable[str], in_a_row: int = REFUSALS_IN_A_ROW) -> None:
        self.ops = frozenset(ops)
        self.in_a_row = in_a_row
        self.nodes: tuple[str, ...] = ()
        self.streaks: dict[str, tuple[str | None, int]] = {}
        self.message = ""
        self.reason: str | None = None
        self.lock = threading.Lock()

    def arm(self, nodes: Iterable[str]) -> None:
        """Watch these nodes (the ones the clients are pinned to) from now on."""
        with self.lock:
            self.nodes = tuple(sorted(set(nodes)))
            self.streaks = {node: (None, 0) for node in self.nodes}

    def see(self, f: str, node: str, completion: Completion) -> None:
        if f not in self.ops:
            return
        refusal = refusal_of(completion)
        with self.lock:
            if node not in self.streaks or self.reason is not None:
                return
            last, count = self.streaks[node]
            self.streaks[node] = (refusal, count + 1 if refusal is not None and refusal == last else 1)
            if refusal is not None:
                self.message = completion.error or refusal
            if self._refused_everywhere():
                self.reason = (f"Mistral refused every {f}: {', '.join(self.nodes)} each answered the same client "
                               f"error {self.in_a_row} times in a row: {self.message}")

    def _refused_everywhere(self) -> bool:
        seen = {self.streaks[node] for node in self.nodes}
        refusals = {refusal for refusal, _ in seen}
        return bool(self.nodes) and len(refusals) == 1 and None not in refusals and \
            all(count >= self.in_a_row for _, count in seen)


__all__ = ["REFUSALS_IN_A_ROW", "RefusalWatch", "refusal_of"]
