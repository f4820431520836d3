"""Run a workload against a cluster, phase by phase, into one history and run.json.

`WorkloadRun` holds the phases - setup, main (clients until the time limit, a stop or the generator's end, then
the finish ops), settle, final reads, close (run.json) and collect (witness log and Mistral snapshot) - and the
caller says when each runs: the run pipeline (lab/run.py) puts the nemesis and its heal between them.
`run_workload` runs them in order with no nemesis. "Started" is history.started's rule: the settle wait polls
acknowledged and indeterminate starts alike, and run.json records them (started_executions).
"""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TYPE_CHECKING

from history.mistral import default_settle_s, unlisted_grace_s
from history.run_dir import HISTORY_FILE, RUN_FILE
from cluster.errors import LabError
from cluster.mistral_api import NodeClient
from workloads.collect import collect_run_files
from workloads.core import RunContext, Workload
from workloads.recorder import HistoryRecorder
from workloads.session import OpSession, run_clients, run_pinned
from workloads.settle import wait_settled

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster


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
    # Why the load phase stopped before its time limit (Mistral refused every start alike), else None.
    load_aborted: str | None = None
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



class WorkloadRun:
    """One run of `workload` on `cluster` into `out_dir`, a method per phase. `stop_event` ends it early;
    `recorder` is a history the caller shares (the nemesis records into it too), else history.jsonl is opened
    here. close() must run whatever happened (it writes run.json); collect() only after a run that was not
    cut short by an error."""

    def __init__(self, cluster: Cluster, workload: Workload, out_dir: str | Path, options: RunOptions = RunOptions(),
                 *, stop_event: threading.Event | None = None, recorder: HistoryRecorder | None = None) -> None:
        if options.time_limit <= 0 or options.concurrency <= 0 or (options.rate is not None and options.rate < 0):
            raise LabError("time limit and concurrency must be > 0 and rate >= 0")
        self.cluster, self.workload, self.options = cluster, workload, options
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.urls = cluster.api_urls()
        if not self.urls:
            raise LabError(f"lab {cluster.name!r} has no running API node")
        self.own_recorder = recorder is None
        self.recorder = recorder or HistoryRecorder(self.out / HISTORY_FILE)
        self.stop = stop_event or threading.Event()
        self.record = _new_record(cluster, workload, self.out, self.urls, options, self.recorder)
        timeout = options.client_timeout
        self.ctx = RunContext(self.record.run_id, self.urls, self.out,
                              lambda node: NodeClient(node, self.urls[node], timeout), options.seed)
        self.session = OpSession(workload, self.recorder, None)

    def setup(self) -> None:
        """The workload's own setup; the pipeline starts the nemesis only after it (no fault may hit it)."""
        self.workload.setup(self.ctx)
        self.record.workload = self.workload.describe()  # with what setup learned (the workflow's probe)

    def main(self) -> None:
        """The clients until the time limit (or a stop, the generator's end, or Mistral refusing every op
        alike: `load_aborted`), then the finish ops."""
        o = self.options
        run_clients(self.session, self.urls, self.stop, time_limit=o.time_limit, concurrency=o.concurrency,
                    rate=o.rate, seed=o.seed, timeout=o.client_timeout)
        self.record.main_end_wall = time.time()
        self.record.load_aborted = self.session.refusals.reason
        run_pinned(self.session, self.urls, self.workload.finish_ops(self.ctx), o.client_timeout, self.stop)

    def settle(self) -> None:
        """Wait until every started execution (history.started) is terminal, or the settle window passes; the
        window counts from the later of the main phase's end and the last nemesis event."""
        record, stop = self.record, self.stop
        quiet = lambda: max(record.main_end_wall, self.recorder.last_nemesis_wall() or 0.0)  # noqa: E731
        if self.workload.starts_executions:
            record.started_executions = record.executions = self.session.started()
            record.settled_wall, record.unsettled = wait_settled(
                self.urls, record.started_executions, quiet, record.settle_s, stop,
                unlisted_grace_s=unlisted_grace_s(record.overrides))
            if record.settled_wall is not None or not stop.is_set():  # not cut short by a stop or Ctrl-C
                record.quiet_since_wall, record.settle_finished = quiet(), True
        elif not stop.is_set():
            record.quiet_since_wall, record.settle_finished = quiet(), True

    def final_reads(self) -> None:
        run_pinned(self.session, self.urls, self.workload.final_reads(self.ctx), self.options.client_timeout,
                   self.stop)

    def close(self) -> RunRecord:
        """What the run did, saved as run.json whatever ended it; closes a history opened here."""
        self.recorder.close() if self.own_recorder else self.recorder.flush()
        record = self.record
        record.counts = dict(self.session.counts)
        record.started_executions = record.executions = self.session.started()
        record.attempted_executions = self.session.attempted()
        record.files["history"] = str(self.recorder.path)
        record.save(self.out)
        return record

    def collect(self) -> RunRecord:
        """The witness log and the Mistral snapshot of every started or attempted execution, named in run.json."""
        paths = collect_run_files(self.cluster, self.out, self.record.snapshot_ids())
        self.record.files.update({name: str(path) for name, path in paths.items()})
        self.record.snapshot_wall = json.loads(paths["snapshot"].read_text())["taken_at"]
        self.record.save(self.out)
        return self.record


def run_workload(cluster: Cluster, workload: Workload, out_dir: str | Path, options: RunOptions = RunOptions(),
                 *, stop_event: threading.Event | None = None, recorder: HistoryRecorder | None = None
                 ) -> RunRecord:
    """Every phase in order with no nemesis: history.jsonl (unless `recorder` is given), run.json and, with
    `options.collect`, witness.jsonl and mistral-snapshot.json in out_dir."""
    run = WorkloadRun(cluster, workload, out_dir, options, stop_event=stop_event, recorder=recorder)
    try:
        run.setup()
        run.main()
        run.settle()
        run.final_reads()
    finally:
        run.close()
    return run.collect() if options.collect else run.record


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


def _action_seconds(workload: Workload) -> float:
    return float(workload.params.get("seconds", 0.0) or 0.0)


__all__ = ["HISTORY_FILE", "RUN_FILE", "RunOptions", "RunRecord", "WorkloadRun", "collect_run_files", "run_workload",
           "wait_settled"]
