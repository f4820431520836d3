"""Run a workload against a cluster: N client threads pinned to API nodes, a paced generator, one history.

Phases: setup -> main (until time limit / stop_event / generator exhausted) -> finish ops -> settle wait
(executions the clients started reach a terminal state, or the settle window after the last fault passes)
-> final reads -> collect witness log and Mistral snapshot -> run.json.

"Started" is history.started's rule, the one the completion checker judges by: acknowledged and
indeterminate starts alike. The settle wait polls all of them and run.json records them (started_executions).

A call that times out or loses its connection completes as info; that process is retired and the worker
carries on under a fresh process id (Jepsen's rule: an info op may still take effect at any later time).
"""
from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, TYPE_CHECKING

import requests

from history.mistral import TERMINAL_STATES as TERMINAL
from history.mistral import default_settle_s, unlisted_grace_s
from history.events import FAIL, INFO, INVOKE, OK, Event
from cluster.errors import LabError
from cluster.mistral_api import INDETERMINATE, NodeClient
from workloads.collect import collect_run_files, fetch_all
from workloads.core import Completion, Op, RunContext, Workload
from workloads.recorder import HistoryRecorder
from history.started import attempted_executions, counts_as_started, started_executions
from history.run_dir import HISTORY_FILE, RUN_FILE  # noqa: F401 - re-exported

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster


OnOp = Callable[[Event], None]
StatesFn = Callable[[], "dict[str, str] | None"]


@dataclass
class RunRecord:
    """What a run did, and where its files are; saved as run.json for the offline checkers."""

    run_id: str
    lab: str
    workload: dict[str, Any]
    out_dir: str
    api_nodes: list[str]
    concurrency: int
    rate: float | None
    seed: int
    time_limit: float
    start_wall: float
    main_end_wall: float = 0.0
    # The later of main end and the last nemesis event; None until the settle wait finished (an interrupted
    # or cut-short run has no settle window to judge by, so whatever needed it is "unknown").
    quiet_since_wall: float | None = None
    settle_s: float = 0.0
    settled_wall: float | None = None   # when every started execution was terminal (None: never)
    settle_finished: bool = False       # the settle wait ran to its end (all terminal, or the window passed)
    snapshot_wall: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    # Every execution the run started (history.started): what the settle wait polled and the snapshot holds.
    started_executions: list[str] = field(default_factory=list)
    executions: list[str] = field(default_factory=list)  # the same list under its old name, for older readers
    # Every execution id a client tried to start, failed starts included: a failed start that still created
    # an execution (failed-but-created) is only seen if its id is looked up in the snapshot.
    attempted_executions: list[str] = field(default_factory=list)
    unsettled: list[str] = field(default_factory=list)
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def save(self, out_dir: Path) -> Path:
        """Written to a temporary file and renamed: a crash or Ctrl-C never leaves half a run.json."""
        path = out_dir / RUN_FILE
        temporary = path.with_name(f".{RUN_FILE}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")
        os.replace(temporary, path)
        return path

    def snapshot_ids(self) -> list[str]:
        """What the final snapshot looks up: every started execution, then the failed attempts."""
        return list(dict.fromkeys([*self.started_executions, *self.attempted_executions]))


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


class _Session:
    """Shared state of one run: recorder, workload, counters, fresh process ids."""

    def __init__(self, workload: Workload, recorder: HistoryRecorder, on_op: OnOp | None) -> None:
        self.workload = workload
        self.recorder = recorder
        self.on_op = on_op
        self.counts = {OK: 0, FAIL: 0, INFO: 0}
        self.starts: list[_StartOp] = []  # every start op with a key, from its invoke on
        self.lock = threading.Lock()
        self.fresh = itertools.count(1_000_000)  # final-phase processes never collide with workers'

    def perform(self, client: NodeClient, process: int, op: Op) -> Completion:
        """Record invoke, call, record completion. Anything unexpected is info: the outcome is unknown."""
        self.recorder.record(process, INVOKE, op.f, op.value, key=op.key, node=client.node)
        start = self._track_start(op)  # after the invoke is in the history, as the checker will see it
        try:
            completion = self.workload.invoke(client, op)
        except INDETERMINATE as exc:
            completion = Completion.info(f"{type(exc).__name__}: {_short(exc)}")
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


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _worker(session: _Session, slot: int, concurrency: int, node: str, url: str, seed: int, deadline: float,
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
    finally:
        client.close()


def _run_main(session: _Session, urls: dict[str, str], options: RunOptions, stop: threading.Event) -> None:
    nodes = sorted(urls)
    concurrency, seed, timeout = options.concurrency, options.seed, options.client_timeout
    deadline = time.monotonic() + options.time_limit
    pacer = Pacer(options.rate, stop)
    threads = [threading.Thread(target=_worker, name=f"client-{slot}", daemon=True,
                                args=(session, slot, concurrency, nodes[slot % len(nodes)],
                                      urls[nodes[slot % len(nodes)]], seed, deadline, pacer, timeout))
               for slot in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:  # a worker finishes its op in flight: at most one client timeout past the deadline
        thread.join(max(0.0, deadline - time.monotonic()) + timeout * 3 + 5)


def _run_pinned(session: _Session, urls: dict[str, str], ops: list[Op], timeout: float,
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


def wait_settled(urls: dict[str, str], execution_ids: list[str], quiet_since: Callable[[], float],
                 settle_s: float, stop: threading.Event, poll_s: float = 2.0, timeout: float = 10.0,
                 read_states: StatesFn | None = None, unlisted_grace_s: float | None = None
                 ) -> tuple[float | None, list[str]]:
    """Poll until every started execution is terminal, or `settle_s` have passed since `quiet_since()`.
    Returns (when settled or None, unsettled ids). An execution Mistral does not list (yet) is not terminal:
    an indeterminate start may still be created later, and the completion checker judges it if it is; once
    `unlisted_grace_s` have passed since quiet_since() with every listed one terminal, the rest never will be
    (history.mistral.unlisted_grace_s). `read_states` (id -> state, None when no node answers) defaults to
    listing through `urls`."""
    read = read_states or (lambda: _execution_states(urls, timeout))
    pending = set(execution_ids)
    grace = float("inf") if unlisted_grace_s is None or unlisted_grace_s >= settle_s else unlisted_grace_s
    while True:
        states = read()
        if states is not None:
            pending = {i for i in pending if states.get(i) not in TERMINAL}
            listed = {i for i in pending if i in states}
            if not pending or (not listed and time.time() >= quiet_since() + grace):
                return time.time(), []
        left = quiet_since() + settle_s - time.time()
        if left <= 0 or stop.wait(min(poll_s, left)):  # the last poll comes when the window ends
            return None, sorted(pending)


def _execution_states(urls: dict[str, str], timeout: float) -> dict[str, str] | None:
    """id -> state through the first API node that answers; None if none does (a fault may still be on)."""
    for node, url in sorted(urls.items()):
        client = NodeClient(node, url, timeout)
        try:
            rows = fetch_all(client, "/v2/executions", "executions", {"fields": "id,state"})
            return {row["id"]: row["state"] for row in rows}
        except (requests.RequestException, ValueError, LabError):
            continue
        finally:
            client.close()
    return None


@dataclass(frozen=True)
class RunOptions:
    """The plain settings of one run."""

    time_limit: float = 30.0         # seconds of the main phase
    concurrency: int = 4             # client threads, pinned round-robin to the API nodes
    rate: float | None = 10.0        # ops per second over all clients; None or 0: unpaced
    seed: int = 0
    settle_s: float | None = None    # the settle window; None: history.mistral.default_settle_s for the lab
    collect: bool = True             # witness.jsonl and mistral-snapshot.json after the run
    client_timeout: float = 10.0     # per API call; a call that runs out completes as info


@dataclass(frozen=True)
class RunHooks:
    """Where a caller joins the run. `after_setup` runs once the workload is set up (the run pipeline starts the
    nemesis there: no fault may hit the setup); `before_settle` runs between the main phase and the settle wait
    (the pipeline waits there for the nemesis to finish and heal); `on_phase` hears the phases after the settle
    wait ("final reads", "collect"), so an interruption there is recorded with its phase; `on_op` hears every
    completed op's event."""

    after_setup: Callable[[], None] | None = None
    before_settle: Callable[[], None] | None = None
    on_phase: Callable[[str], None] | None = None
    on_op: OnOp | None = None


def run_workload(cluster: Cluster, workload: Workload, out_dir: str | Path, options: RunOptions = RunOptions(),
                 hooks: RunHooks = RunHooks(), *, stop_event: threading.Event | None = None,
                 recorder: HistoryRecorder | None = None) -> RunRecord:
    """Run `workload` against `cluster`; writes history.jsonl (unless `recorder` is given), run.json and,
    with `options.collect`, witness.jsonl and mistral-snapshot.json into out_dir. `stop_event` ends the run
    early; `recorder` is a history the caller shares (the nemesis records into it too). Returns the RunRecord."""
    if options.time_limit <= 0 or options.concurrency <= 0 or (options.rate is not None and options.rate < 0):
        raise LabError("time limit and concurrency must be > 0 and rate >= 0")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    urls = cluster.api_urls()
    if not urls:
        raise LabError(f"lab {cluster.name!r} has no running API node")
    own_recorder = recorder is None
    recorder = recorder or HistoryRecorder(out / HISTORY_FILE)
    stop = stop_event or threading.Event()
    phase = hooks.on_phase or (lambda name: None)
    timeout = options.client_timeout
    record = _new_record(cluster, workload, out, urls, options, recorder)
    ctx = RunContext(record.run_id, urls, out, lambda node: NodeClient(node, urls[node], timeout), options.seed)
    session = _Session(workload, recorder, hooks.on_op)
    try:
        workload.setup(ctx)
        if hooks.after_setup is not None:  # the run pipeline starts the nemesis here: no fault may hit the setup
            hooks.after_setup()
        _run_main(session, urls, options, stop)
        record.main_end_wall = time.time()
        _run_pinned(session, urls, workload.finish_ops(ctx), timeout, stop)
        if hooks.before_settle is not None:
            hooks.before_settle()
        _settle(record, session, urls, recorder, stop)
        phase("final reads")
        _run_pinned(session, urls, workload.final_reads(ctx), timeout, stop)
    finally:
        recorder.close() if own_recorder else recorder.flush()
        _close_record(record, session, recorder, out)
    if options.collect:
        phase("collect")
        paths = collect_run_files(cluster, out, record.snapshot_ids())
        record.files.update({name: str(path) for name, path in paths.items()})
        record.snapshot_wall = json.loads(paths["snapshot"].read_text())["taken_at"]
        record.save(out)
    return record


def _new_record(cluster: Cluster, workload: Workload, out: Path, urls: dict[str, str], options: RunOptions,
                recorder: HistoryRecorder) -> RunRecord:
    overrides = cluster.topology().overrides
    settle_s = options.settle_s
    if settle_s is None:
        settle_s = default_settle_s(overrides, _action_seconds(workload))
    return RunRecord(run_id=uuid.uuid4().hex[:8], lab=cluster.name, workload=workload.describe(),
                     out_dir=str(out), api_nodes=sorted(urls), concurrency=options.concurrency,
                     rate=options.rate or None, seed=options.seed, time_limit=options.time_limit,
                     start_wall=recorder.start_wall, overrides=overrides, settle_s=settle_s)


def _close_record(record: RunRecord, session: _Session, recorder: HistoryRecorder, out: Path) -> None:
    """What the run did, saved as run.json whatever ended it."""
    record.counts = dict(session.counts)
    record.started_executions = record.executions = session.started()
    record.attempted_executions = session.attempted()
    record.files["history"] = str(recorder.path)
    record.save(out)


def _settle(record: RunRecord, session: _Session, urls: dict[str, str], recorder: HistoryRecorder,
            stop: threading.Event) -> None:
    """The settle wait over every started execution (history.started), recorded in `record`."""
    quiet = lambda: max(record.main_end_wall, recorder.last_nemesis_wall() or 0.0)  # noqa: E731
    if session.workload.starts_executions:
        record.started_executions = record.executions = session.started()
        record.settled_wall, record.unsettled = wait_settled(
            urls, record.started_executions, quiet, record.settle_s, stop,
            unlisted_grace_s=unlisted_grace_s(record.overrides))
        if record.settled_wall is not None or not stop.is_set():  # not cut short by a stop or Ctrl-C
            record.quiet_since_wall, record.settle_finished = quiet(), True
    elif not stop.is_set():
        record.quiet_since_wall, record.settle_finished = quiet(), True


def _action_seconds(workload: Workload) -> float:
    return float(workload.params.get("seconds", 0.0) or 0.0)


__all__ = ["HISTORY_FILE", "RUN_FILE", "RunHooks", "RunOptions", "RunRecord", "collect_run_files", "run_workload",
           "wait_settled"]
