"""The clients of one run: one op at a time recorded invoke -> call -> completion, paced worker threads for
the main phase, and one sequential thread per node for the final-phase ops.

A call that times out or loses its connection completes as info; that process is retired and the worker
carries on under a fresh process id (Jepsen's rule: an info op may still take effect at any later time).
"""
from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from history.events import FAIL, INFO, INVOKE, OK, Event
from history.started import attempted_executions, counts_as_started, started_executions
from cluster.mistral_api import INDETERMINATE, APIException, HttpError, NodeClient
from workloads.core import Completion, Op, Workload
from workloads.recorder import HistoryRecorder
from workloads.refusals import RefusalWatch

OnOp = Callable[[Event], None]


@dataclass
class _StartOp:
    """One start op as history.started reads it; status is info until it completes (open counts as info)."""

    f: str
    key: Any
    status: str = INFO


class Pacer:
    """A global rate limit shared by all workers: each call waits for the next free slot."""

    def __init__(self, rate: float | None, stop: threading.Event) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_at = time.monotonic()
        self.lock = threading.Lock()
        self.stop = stop

    def wait(self, deadline: float) -> bool:
        """False when the run should stop before the slot comes."""
        if self.interval:
            with self.lock:
                slot = max(self.next_at, time.monotonic())
                self.next_at = slot + self.interval
            delay = slot - time.monotonic()
            if slot > deadline:
                return False
            if delay > 0 and self.stop.wait(delay):
                return False
        return not self.stop.is_set() and time.monotonic() < deadline


class OpSession:
    """Shared state of one run: recorder, workload, counters, fresh process ids."""

    def __init__(self, workload: Workload, recorder: HistoryRecorder, on_op: OnOp | None) -> None:
        self.workload = workload
        self.recorder = recorder
        self.on_op = on_op
        self.counts = {OK: 0, FAIL: 0, INFO: 0}
        self.starts: list[_StartOp] = []  # every start op with a key, from its invoke on
        self.lock = threading.Lock()
        self.fresh = itertools.count(1_000_000)  # final-phase processes never collide with workers'
        self.refusals = RefusalWatch(workload.aborts_on_refusal)  # armed by run_clients for the main phase

    def perform(self, client: NodeClient, process: int, op: Op) -> Completion:
        """Record invoke, call, record completion. Anything unexpected is info: the outcome is unknown."""
        self.recorder.record(process, INVOKE, op.f, op.value, key=op.key, node=client.node)
        start = self._track_start(op)  # after the invoke is in the history, as the checker will see it
        try:
            completion = self.workload.invoke(client, op)
        except INDETERMINATE as exc:
            completion = Completion.info(f"{type(exc).__name__}: {_short(exc)}")
        except (HttpError, APIException) as exc:
            completion = _answered(exc)
        except Exception as exc:  # noqa: BLE001 - an unknown error never proves the op did not happen
            completion = Completion.info(f"unexpected {type(exc).__name__}: {_short(exc)}")
        event = self.recorder.record(process, completion.type, op.f, completion.value, key=op.key,
                                     node=client.node, error=completion.error)
        with self.lock:
            self.counts[completion.type] += 1
            if start is not None:
                start.status = completion.type
        with self.workload.lock:
            self.workload.observe(op, completion)
        self.refusals.see(op.f, client.node, completion)
        if self.on_op is not None:
            self.on_op(event)
        return completion

    def _track_start(self, op: Op) -> _StartOp | None:
        """Tracked from the invoke on: a start still open when the run ends counts, as in the history."""
        if not counts_as_started(op.f, op.key, INFO):
            return None
        start = _StartOp(op.f, op.key)
        with self.lock:
            self.starts.append(start)
        return start

    def started(self) -> list[str]:
        with self.lock:
            return started_executions(self.starts)

    def attempted(self) -> list[str]:
        with self.lock:
            return attempted_executions(self.starts)


def _short(exc: object) -> str:
    return " ".join(str(exc).split())[:200]


def _answered(exc: HttpError | APIException) -> Completion:
    """An error answer a workload let through: a 4xx is Mistral's refusal, so the op certainly did not happen
    (fail, never info); a 5xx may have taken effect (info)."""
    if isinstance(exc, HttpError):
        status, message = exc.status, exc.message
    else:
        status, message = int(exc.error_code or 0), exc.error_message or exc
    if 400 <= status < 500 and status != 408:  # 408: the server gave up waiting, not a decision
        return Completion.fail(f"HTTP {status}: {_short(message)}")
    return Completion.info(f"{type(exc).__name__}: {_short(exc)}")


def _worker(session: OpSession, slot: int, concurrency: int, node: str, url: str, seed: int, deadline: float,
            pacer: Pacer, timeout: float) -> None:
    client = NodeClient(node, url, timeout)
    rng = random.Random(seed * 7919 + slot)
    process = slot
    try:
        while pacer.wait(deadline):
            with session.workload.lock:
                op = session.workload.next_op(rng, process, node)
            if op is None:
                return
            if session.perform(client, process, op).type == INFO:
                process += concurrency  # retire the process; a fresh id takes its place
            if session.refusals.reason is not None:  # Mistral refuses every op alike: stop the load early
                return
    finally:
        client.close()


def run_clients(session: OpSession, urls: dict[str, str], stop: threading.Event, *, time_limit: float,
                concurrency: int, rate: float | None, seed: int, timeout: float) -> None:
    """The main phase: `concurrency` client threads pinned round-robin to the API nodes, paced together."""
    nodes = sorted(urls)
    deadline = time.monotonic() + time_limit
    pacer = Pacer(rate, stop)
    session.refusals.arm(nodes[slot % len(nodes)] for slot in range(concurrency))
    threads = [threading.Thread(target=_worker, name=f"client-{slot}", daemon=True,
                                args=(session, slot, concurrency, nodes[slot % len(nodes)],
                                      urls[nodes[slot % len(nodes)]], seed, deadline, pacer, timeout))
               for slot in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:  # a worker finishes its op in flight: at most one client timeout past the deadline
        thread.join(max(0.0, deadline - time.monotonic()) + timeout * 3 + 5)


def run_pinned(session: OpSession, urls: dict[str, str], ops: list[Op], timeout: float,
                stop: threading.Event) -> None:
    """Run final-phase ops: one sequential thread per node, each op on its `node` (default: the first)."""
    by_node: dict[str, list[Op]] = {}
    for op in ops:
        node = op.node if op.node in urls else sorted(urls)[0]
        by_node.setdefault(node, []).append(op)

    def run(node: str, node_ops: list[Op]) -> None:
        client = NodeClient(node, urls[node], timeout)
        process = next(session.fresh)
        try:
            for op in node_ops:
                if stop.is_set():
                    return
                if session.perform(client, process, op).type == INFO:
                    process = next(session.fresh)
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in by_node.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout * (len(ops) + 1) + 5)
