"""`mistral-lab run`: one test spec -> a verdict, with every artefact kept in the run store.

Phases: up (or reuse a running lab) -> warm-up -> setup -> load with the nemesis for the time limit -> heal
-> settle -> final reads -> collect (witness log, snapshot) -> logs -> down (unless --keep) -> judge -> report;
run_test and _run_load list them in this order. Ctrl-C (or SIGTERM) at any
point heals the cluster, keeps the history so far, checks it and marks the run interrupted.

What only the pipeline knows - interrupted and in which phase, a lab failure, the nemesis's errors - goes into
run.json before the run is judged (lab/judge.py), so `mistral-lab check RUN_DIR` applies it too.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from lab.bundle import SECRETS_FILE
from cluster import removed_logs
from cluster.control import Cluster
from cluster.errors import LabError
from history.run_dir import HISTORY_FILE, RUN_FILE, SPEC_FILE, WITNESS_FILE
from history.verdict import EXIT_BAD_INPUT, exit_code
from lab.report import render_report
from lab.spec import TestSpec, dump_spec, nemesis_schedule
from lab.judge import judge_run_dir, record_outcome
from lab.store import check_writable, new_run_dir

console = Console(stderr=True)
EXIT_LAB_FAILED = EXIT_BAD_INPUT  # the lab could not judge
NEMESIS_JOIN_TIMEOUT_S = 600.0  # a heal waits for restarted nodes to be ready; bounded all the same


@dataclass
class LiveState:
    """What the live display shows; updated from the workload's on_op callback and the nemesis runner."""

    phase: str = "starting"
    started: float = field(default_factory=time.monotonic)
    phase_started: float = field(default_factory=time.monotonic)
    ops: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    nemesis: Any = None

    def on_event(self, event) -> None:
        if event.type == "invoke":
            self.ops += 1
        elif event.type in ("ok", "fail", "info"):
            setattr(self, event.type, getattr(self, event.type) + 1)

    def enter(self, phase: str) -> None:
        self.phase, self.phase_started = phase, time.monotonic()
        if not console.is_terminal:  # CI and pipes get one line per phase instead of the live table
            console.print(f"[run] phase: {phase} ({time.monotonic() - self.started:.0f} s)", highlight=False)

    def render(self) -> Table:
        elapsed = max(1e-6, time.monotonic() - self.started)
        table = Table.grid(padding=(0, 2))
        table.add_row("[bold]phase[/]", f"{self.phase} ({time.monotonic() - self.phase_started:.0f} s)")
        table.add_row("[bold]ops[/]", f"{self.ops} invoked, {self.ops / elapsed:.1f}/s; ok {self.ok}, "
                                      f"fail {self.fail}, info {self.info}")
        faults = self.nemesis.active_faults() if self.nemesis is not None else []
        table.add_row("[bold]faults[/]", "; ".join(f["description"] for f in faults) or "none active")
        return table


@dataclass
class RunOutcome:
    run_dir: Path
    valid: Any  # the raw verdict: false on any defect, known or new
    interrupted: bool = False
    lab_error: str | None = None
    after_catalogue: Any = None  # the verdict with catalogued (known) defects set aside; None: not matched
    known: list[dict] = field(default_factory=list)  # results.json known_findings
    new: list[dict] = field(default_factory=list)  # results.json new_defects

    def verdict(self, strict: bool = False) -> Any:
        """What exit codes report: known defects alone pass unless `strict`."""
        return self.valid if strict or self.after_catalogue is None else self.after_catalogue

    def exit_for(self, strict: bool = False) -> int:
        verdict = self.verdict(strict)
        if self.lab_error is not None:  # a found bug still wins over the lab's own failure
            return exit_code(False) if verdict is False else EXIT_LAB_FAILED
        return exit_code(verdict)

    @property
    def exit_code(self) -> int:
        return self.exit_for(strict=False)


def build_parts(spec: TestSpec, lab_name: str):
    """Workload and nemesis schedule from the spec; every LabError here comes before anything starts (a spec
    whose faults fit in no slot included: shrink's candidates never went through load_spec)."""
    from nemesis.schedule import inventory_of, require_a_fault
    from workloads import make_workload

    workload = make_workload(spec.workload["name"], dict(spec.workload.get("params") or {}))
    schedule = nemesis_schedule(spec, inventory_of(spec.topology(lab_name)))
    if schedule is not None:
        require_a_fault(schedule, spec.time_limit_s)
    return workload, schedule


def planned_schedule(schedule, time_limit: float) -> list[dict]:
    return [{"index": d.index, "at_s": d.at_s, "fault": d.fault, "target": d.target, "options": d.options,
             "duration_s": d.duration_s} for d in schedule.decisions(time_limit)] if schedule else []


def fault_room(schedule, time_limit: float) -> dict[str, int] | None:
    """How many faults the schedule has room for and how many it plans, for test.yaml (the faults gate says so
    when a run planned fewer than its spec can hold)."""
    from nemesis.schedule import fault_count

    if schedule is None:
        return None
    count = fault_count(schedule, time_limit)
    return {"holds": count.holds, "plans": count.plans}


def config_drift(wanted: dict[str, dict[str, str]], running: dict[str, dict[str, str]]) -> list[str]:
    """One line per option the spec sets that a reused lab runs with another value: the lab's value is what
    Mistral does and what the checkers' windows (settle, heartbeat) are computed from."""
    lines = []
    for section, options in sorted(wanted.items()):
        for option, value in sorted(options.items()):
            have = running.get(section, {}).get(option)
            if have != value:
                lines.append(f"warning: the reused lab runs {section}.{option}="
                             f"{have if have is not None else '(Mistral default)'}, the spec asks {value}; "
                             "the lab's value applies (up a new lab to get the spec's)")
    return lines


def run_test(spec: TestSpec, store: Path, lab_name: str | None = None, keep: bool = False,
             reuse: bool = False, live: bool = True, lab_start: str | None = None) -> RunOutcome:
    """One run of `spec`, every phase in order (see the module docstring). `lab_start` says in test.yaml how
    the lab started (lab.warm: fresh, or reset); default: fresh, or reused for a running lab."""
    from nemesis.heal import interrupts_raise
    from nemesis.schedule import NemesisRunner
    from workloads.recorder import HistoryRecorder
    from workloads.runner import HISTORY_FILE

    lab_name = lab_name or f"run-{spec.name}"[:30].rstrip("-_")
    spec.topology(lab_name).validate()
    workload, schedule = build_parts(spec, lab_name)
    check_writable(store)
    cluster = Cluster(lab_name)
    reusing = reuse and cluster.exists()
    if cluster.exists() and not reusing:
        raise LabError(f"a lab named {lab_name!r} already exists; pass --reuse to run on it, or --lab NAME")
    run_dir = new_run_dir(store, spec.name)
    plan = planned_schedule(schedule, spec.time_limit_s)
    (run_dir / SPEC_FILE).write_text(dump_spec(spec, {
        "lab": lab_name, "lab_start": lab_start or ("reused" if reusing else "fresh"), "planned_faults": plan,
        "fault_room": fault_room(schedule, spec.time_limit_s)}))
    state = LiveState()
    stop = threading.Event()
    nemesis = None
    interrupted, lab_error, stopped_in = False, None, None
    with interrupts_raise():
        try:
            with _live_display(state, live):
                if not reusing:
                    state.enter("up")
                    cluster.up(spec.topology(lab_name), report=lambda m: _say(state, m))
                else:
                    for line in config_drift(spec.topology(lab_name).overrides, cluster.topology().overrides):
                        _say(state, line)
                _keep_cluster_files(cluster, run_dir)
                state.enter("warm-up")
                time.sleep(spec.warmup_s)
                recorder = HistoryRecorder(run_dir / HISTORY_FILE, on_event=state.on_event)
                if schedule is not None:
                    nemesis = NemesisRunner(cluster, schedule, recorder.record, stop_event=stop,
                                            total_s=spec.time_limit_s, report=lambda m: _say(state, m))
                    state.nemesis = nemesis  # started once the workload's setup is done
                _run_load(cluster, workload, run_dir, spec, stop, recorder, nemesis, state)
        except KeyboardInterrupt:
            interrupted, stopped_in = True, state.phase
            console.print("[yellow]interrupted: healing the cluster and keeping the history so far[/]")
        except Exception as exc:  # a LabError, or the lab itself broke: keep and check what exists, exit 3
            lab_error, stopped_in = _lab_error(exc), state.phase
            console.print(f"[red]lab failure:[/] {escape(lab_error)}")  # Mistral's messages hold [...]
        finally:
            stop.set()
            _wind_down(cluster, run_dir, nemesis, down=not keep and not reusing)
    return finish_run(run_dir, spec, interrupted, lab_error, nemesis, stopped_in)


def _lab_error(exc: Exception) -> str:
    if isinstance(exc, LabError):
        return str(exc)
    return f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _wind_down(cluster: Cluster, run_dir: Path, nemesis, down: bool) -> None:
    """Heal, keep the logs (and the snapshot, if the workload never took it), then down unless kept."""
    from nemesis.heal import heal_cluster

    if _started(nemesis):
        nemesis.join(timeout=NEMESIS_JOIN_TIMEOUT_S)
    if not cluster.exists():
        return
    try:
        heal_cluster(cluster, wait=False)
    except Exception as exc:  # healing must not hide the run's own outcome
        console.print(f"[red]heal failed:[/] {exc}")
    _collect_logs(cluster, run_dir)
    _collect_if_missing(cluster, run_dir)
    if down:
        cluster.down()


def _live_display(state: LiveState, live: bool):
    """The live table on a terminal; plain progress lines (see _say) in CI and pipes."""
    if live and console.is_terminal:
        return Live(console=console, refresh_per_second=2, transient=True, get_renderable=state.render)
    return contextlib.nullcontext()


def _say(state: LiveState, message: str) -> None:
    if not console.is_terminal:
        console.print(f"[{state.phase}] {message}", highlight=False)


def _run_load(cluster, workload, run_dir, spec, stop, recorder, nemesis, state) -> None:
    """The phases from the workload's setup to the snapshot, in order. The nemesis starts once the setup is
    done (no fault may hit it) and its schedule ends within the time limit with a whole-cluster heal, recorded
    in the same history: the settle window counts from that heal."""
    from workloads.runner import RunOptions, WorkloadRun

    load = spec.workload
    options = RunOptions(time_limit=spec.time_limit_s, concurrency=int(load.get("concurrency", 4)),
                         rate=load.get("rate", 10.0), seed=spec.seed, settle_s=spec.settle_s, collect=True)
    run = WorkloadRun(cluster, workload, run_dir, options, stop_event=stop, recorder=recorder)
    try:
        state.enter("setup")
        run.setup()
        if nemesis is not None:
            nemesis.start()
        state.enter("load + nemesis" if nemesis else "load")
        run.main()
        if run.record.load_aborted:  # Mistral refused every start: faults and the rest of the load test nothing
            console.print(f"[yellow]load stopped early:[/] {escape(run.record.load_aborted)}", highlight=False)
            if _started(nemesis):
                nemesis.stop()
        state.enter("heal")
        if _started(nemesis):
            nemesis.join(timeout=NEMESIS_JOIN_TIMEOUT_S)
        state.enter("settle")
        run.settle()
        state.enter("final reads")
        run.final_reads()
    finally:
        run.close()
        if _started(nemesis):
            nemesis.stop()
            nemesis.join(timeout=NEMESIS_JOIN_TIMEOUT_S)
        recorder.close()
    state.enter("collect")
    run.collect()


def _started(nemesis) -> bool:
    """A runner that never started (the workload's setup failed first) has nothing to join."""
    return nemesis is not None and nemesis.ident is not None


def _keep_cluster_files(cluster: Cluster, run_dir: Path) -> None:
    for name in ("compose.yaml", "stack.yaml", "mistral.conf", "topology.json", "images.json"):
        source = cluster.state_dir / name
        if source.exists():
            shutil.copy2(source, run_dir / name)
    secrets = cluster.state_dir / "secrets.json"
    if secrets.exists():  # kept so a bundle can scrub these exact values; never bundled itself
        shutil.copy2(secrets, run_dir / SECRETS_FILE)


def _collect_if_missing(cluster: Cluster, run_dir: Path) -> None:
    """An interrupted or failed run still gets its witness log and Mistral snapshot, so it can be checked."""
    from workloads.collect import collect_run_files

    run_file = run_dir / RUN_FILE
    if not run_file.exists() or (run_dir / WITNESS_FILE).exists():
        return
    try:
        run = json.loads(run_file.read_text())
        recorded = [*(run.get("started_executions") or run.get("executions") or []),
                    *(run.get("attempted_executions") or [])]
        ids = started_ids(run_dir, list(dict.fromkeys(recorded)))
        collect_run_files(cluster, run_dir, ids)
    except Exception as exc:  # the cluster may be too broken to answer; the history is still checked
        console.print(f"[yellow]could not collect the witness log and snapshot:[/] {exc}")


def started_ids(run_dir: Path, recorded: list[str]) -> list[str]:
    """Every execution id a client tried to start: run.json's list plus the history's starts. After Ctrl-C the
    clients go on starting executions after run.json was saved; a snapshot without them would make the
    witness runs of those executions look like phantoms."""
    from history.reader import read_history

    ids = dict.fromkeys(recorded)
    try:
        events = read_history(run_dir / HISTORY_FILE)
    except Exception:  # noqa: BLE001 - a torn or missing history: run.json's list is what there is
        return list(ids)
    ids.update(dict.fromkeys(str(e.key) for e in events if e.f == "start" and e.key is not None))
    return list(ids)


def _collect_logs(cluster: Cluster, run_dir: Path) -> None:
    (run_dir / "logs").mkdir(exist_ok=True)
    for node in cluster.nodes(include_jobs=True):
        try:
            (run_dir / "logs" / f"{node.name}.log").write_text(cluster.logs(node.name))
        except Exception as exc:  # a vanished container must not lose the other logs
            (run_dir / "logs" / f"{node.name}.log").write_text(f"(log unavailable: {exc})\n")
    # Nodes a scale-down removed during the run (logs/removed/, apart: the log checker reads the live nodes').
    for kept in removed_logs.take(cluster.state_dir):
        (run_dir / "logs" / "removed").mkdir(exist_ok=True)
        shutil.move(str(kept), run_dir / "logs" / "removed" / kept.name)


def finish_run(run_dir: Path, spec: TestSpec, interrupted: bool, lab_error: str | None, nemesis,
               phase: str | None = None) -> RunOutcome:
    errors = list(nemesis.errors) if nemesis is not None and nemesis.errors else []
    record_outcome(run_dir, interrupted, lab_error, phase, errors)
    results = judge_run_dir(run_dir, spec.checkers, interrupted, lab_error,
                            {"nemesis_errors": errors} if errors else None)
    render_report(run_dir)
    return RunOutcome(run_dir, results["valid"], interrupted, lab_error, results.get("verdict_after_catalogue"),
                      results.get("known_findings") or [], results.get("new_defects") or [])
