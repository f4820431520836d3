"""Named anomalies: every finding of every checker, classed and placed against both promise levels.

Each anomaly is one dict (history.anomaly): class, kind, defect, inside {designed, spec}, the ids, nodes, the
fault windows that touched it, summary and evidence. The classes, when each is a defect, and when a fault
touches an anomaly: docs/verdicts.md#named-anomalies.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Iterable

from checker.cron import from_cron
from checker.promise import FaultWindow, role_of
from checker.start_task_log import idle_task_note
from checker.rpc import Lookup, cite, concerned_executions
from history.anomaly import Anomaly, FaultTouch
from history.mistral import ERROR, TERMINAL_STATES, mistral_time
from history.witness import WitnessRun

SAFETY = {"duplicate-run", "phantom-run", "missing-run", "lost-start", "failed-but-created", "non-linearizable",
          "stuck-execution", "duplicate-cron-fire"}
# Every class an anomaly can have: the safety ones above, and those judged against the promise.
CLASSES = tuple(sorted(SAFETY | {"abandoned-action", "lost-result", "errored-inside-promise", "lost-cron-fire", "log",
                                 "unclassified"}))
HEARTBEAT = "Heartbeat wasn't received"
# The kombu RPC driver (rpc_implementation = kombu, before 21.0.0) acknowledges after processing: a run_action
# whose executor was lost is redelivered, flagged, and Mistral's executor fails it rather than run it twice
# (mistral/executors/default_executor.py, unless the action is safe_rerun).
REDELIVERED = "was redelivered, but it cannot be re-run safely"
MARGIN_S = 2.0  # Mistral's timestamps have 1 s resolution


class Context:
    """What classification needs from a run: the snapshot indexed, witness runs, fault windows, the level."""

    def __init__(self, snapshot: dict[str, Any] | None, runs: list[WitnessRun], windows: list[FaultWindow],
                 level: str, start_tasks_received: dict[str, str] | None = None) -> None:
        snapshot = snapshot or {"executions": [], "tasks": [], "action_executions": []}
        self.start_tasks_received = start_tasks_received  # None: no engine logs (checker.start_task_log)
        self.executions = {e["id"]: e for e in snapshot["executions"]}
        self.tasks = {t["id"]: t for t in snapshot["tasks"]}
        self.tasks_of: dict[str, list[dict]] = defaultdict(list)
        for task in snapshot["tasks"]:
            self.tasks_of[task.get("workflow_execution_id")].append(task)
        self.actions_of: dict[str, list[dict]] = defaultdict(list)
        for action in snapshot["action_executions"]:
            self.actions_of[action.get("task_execution_id")].append(action)
        self.runs_of: dict[str, list[WitnessRun]] = defaultdict(list)
        for run in runs:
            self.runs_of[str(run.action_execution_id)].append(run)
        self.windows, self.level = windows, level
        self.taken_at = snapshot.get("taken_at")
        self.lookup = Lookup(self.executions, self.tasks, {a["id"]: a for a in snapshot["action_executions"]})
        # An rpc fault that dropped, delayed or duplicated messages touched only the executions they carried.
        self.only = {id(w): concerned_executions(w, self.lookup) for w in windows}

    def lifetime(self, execution_id: str | None) -> tuple[float, float] | None:
        execution = self.executions.get(execution_id or "")
        if not execution:
            return None
        start, end = mistral_time(execution.get("created_at")), mistral_time(execution.get("updated_at"))
        if start is None:
            return None
        if execution.get("state") not in TERMINAL_STATES and isinstance(self.taken_at, (int, float)):
            end = self.taken_at  # still running: every fault up to the snapshot touched it
        return start - MARGIN_S, (end if end is not None else start) + MARGIN_S

    def touching(self, execution_id: str | None, nodes: Iterable[str] = (), roles: Iterable[str] = ()
                 ) -> list[FaultWindow]:
        """Fault windows overlapping the execution that acted on the anomaly: on one of its `nodes`, on a node of
        one of its unnamed `roles` (a message any node of the role could have taken), or on the whole cluster's
        communication (broker, database, network). With neither nodes nor roles, every overlapping window."""
        span = self.lifetime(execution_id)
        if span is None:
            return []
        overlapping = [w for w in self.windows if w.overlaps(*span)
                       and (self.only.get(id(w)) is None or execution_id in self.only[id(w)])]
        wanted, unnamed = set(nodes), set(roles)
        if not wanted and not unnamed:
            return overlapping
        return [w for w in overlapping if acted_on(w, wanted, unnamed)]

    def make(self, cls: str, kind: str, checker: str, summary: str, *, execution_id: str | None = None,
             task_execution_id: str | None = None, action_execution_ids: Iterable[str] = (),
             nodes: Iterable[str] = (), evidence: Iterable[Any] = (), faults: list[FaultWindow] | None = None
             ) -> dict[str, Any]:
        nodes = sorted(set(nodes))
        roles = unnamed_roles(cls, nodes)
        touching = faults if faults is not None else self.touching(execution_id, nodes, roles)
        inside = {level: all(w.inside.get(level, True) for w in touching) for level in ("designed", "spec")}
        defect = cls in SAFETY or cls in ("log", "unclassified") or inside.get(self.level, True)
        return Anomaly(cls, kind, bool(defect), inside, checker, summary, execution_id, task_execution_id,
                       sorted(set(action_execution_ids)), nodes, sorted(roles),
                       [fault_touch(w, set(nodes), roles) for w in touching], list(evidence)[:5]).to_json()


# The roles an anomaly is about whose node the lab cannot name: its messages went to a topic that every node of
# the role consumes (results and heartbeats to the engines; run_action to the executors when no run was seen).
UNNAMED_ROLES = {"abandoned-action": ("engine",), "lost-result": ("engine",), "stuck-execution": ("engine",),
                 "errored-inside-promise": ("engine", "executor"), "missing-run": ("engine", "executor"),
                 "lost-start": ("api", "engine"), "failed-but-created": ("engine",)}
ACTION_CLASSES = ("abandoned-action", "stuck-execution", "missing-run")


def unnamed_roles(cls: str, nodes: Iterable[str]) -> set[str]:
    roles = set(UNNAMED_ROLES.get(cls, ()))
    if cls in ACTION_CLASSES and not any(role_of(n) == "executor" for n in nodes):
        roles.add("executor")  # no witnessed run names the executor that took its run_action
    return roles - {role_of(n) for n in nodes}


def acted_on(window: FaultWindow, nodes: set[str], roles: set[str]) -> list[str]:
    """What of the anomaly the window acted on: its own nodes, "any <role>" for an unnamed role, or "the
    cluster" for a broker, database or network fault; [] when it acted on none of it."""
    hit = sorted(nodes & set(window.nodes))
    hit += sorted({f"any {role_of(n)}" for n in window.nodes if role_of(n) in roles and n not in nodes})
    return hit + (["the cluster"] if window.cluster_wide else [])


def fault_touch(window: FaultWindow, nodes: set[str], roles: set[str]) -> FaultTouch:
    return FaultTouch(window.label, window.fault, window.index, list(window.nodes),
                      acted_on(window, nodes, roles) if (nodes or roles) else ["overlapped (nothing named)"],
                      window.inside, window.reasons)


def fault_entry(window: FaultWindow, nodes: set[str], roles: set[str]) -> dict[str, Any]:
    """The touch as results.json stores it."""
    return vars(fault_touch(window, nodes, roles)).copy()


# ---------------------------------------------------------------- per checker
def from_exactly_once(ctx: Context, result: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for dup in result.get("duplicates") or []:
        if dup.get("legal"):
            continue
        ids = [dup["action_execution_id"]] if dup.get("action_execution_id") else list(dup.get("action_executions")
                                                                                       or [])
        runs = dup.get("runs") or [r for a in (dup.get("action_executions") or {}).values() for r in a["runs"]]
        executors = [r.get("executor") for r in runs if r.get("executor")]
        found.append(ctx.make(
            "duplicate-run", dup.get("kind", "duplicate"), "exactly-once",
            f"non-idempotent task {dup.get('task')!r} ran {len(runs)} times ({dup.get('kind')}) on "
            f"{', '.join(sorted(set(executors))) or 'unknown executors'}",
            execution_id=dup.get("workflow_execution_id"), task_execution_id=dup.get("task_execution_id"),
            action_execution_ids=ids, nodes=executors, evidence=runs))
    for phantom in result.get("phantoms") or []:
        found.append(ctx.make("phantom-run", "unknown-action", "exactly-once", phantom.get("reason", "phantom"),
                              execution_id=phantom.get("workflow_execution_id"),
                              task_execution_id=phantom.get("task_execution_id"),
                              action_execution_ids=[phantom.get("action_execution_id")],
                              nodes=[phantom.get("executor")] if phantom.get("executor") else [],
                              evidence=[phantom]))
    for missing in result.get("missing") or []:
        found.append(ctx.make("missing-run", "unwitnessed-success", "exactly-once", missing.get("reason", "missing"),
                              execution_id=missing.get("workflow_execution_id"),
                              task_execution_id=missing.get("task_execution_id"),
                              action_execution_ids=[a for a in [missing.get("action_execution_id")] if a],
                              evidence=[missing]))
    return found


def from_completion(ctx: Context, result: dict[str, Any]) -> list[dict[str, Any]]:
    found = [ctx.make("lost-start", "acknowledged-unknown", "completion",
                      "the API acknowledged this start but Mistral does not know the execution", execution_id=ex)
             for ex in result.get("lost") or []]
    # completion lists each failed-but-created start as {"id", "node", "error", "state"}
    found += [ctx.make("failed-but-created", "failed-start", "completion",
                       "the API answered this start with an error, yet the execution exists",
                       execution_id=ex.get("id") if isinstance(ex, dict) else ex,
                       nodes=[ex["node"]] if isinstance(ex, dict) and ex.get("node") else [],
                       evidence=[ex] if isinstance(ex, dict) else [])
              for ex in result.get("failed_but_created") or []]
    if result.get("valid") is False:  # stuck only counts once the settle window has passed
        for stuck in result.get("stuck") or []:
            kind = stuck_kind(stuck)
            idle = [t for t in ctx.tasks_of.get(stuck["id"], []) if t.get("state") == "IDLE"]
            note = idle_task_note(idle, ctx.start_tasks_received) if kind == "idle-task" else None
            found.append(ctx.make(
                "stuck-execution", kind, "completion",
                f"execution {stuck['id']} still {stuck.get('state')} after the settle window ({kind})"
                + (f"; {note}" if note else ""),
                execution_id=stuck["id"],
                action_execution_ids=[a["id"] for a in stuck.get("action_executions") or []],
                nodes=(stuck.get("nodes") or {}).get("executors") or [],
                evidence=[{"tasks": [(t.get("name"), t.get("state")) for t in stuck.get("tasks") or []],
                           "state_info": stuck.get("state_info")}]))
    return found


def stuck_kind(stuck: dict[str, Any]) -> str:
    """Why an execution is not terminal, from its tasks and action executions."""
    tasks = stuck.get("tasks") or []
    states = Counter(t.get("state") for t in tasks)
    if states.get("WAITING"):
        return "waiting-join"
    if any(a.get("state") == "RUNNING" for a in stuck.get("action_executions") or []):
        return "running-action"
    if states.get("IDLE") or not tasks:
        return "idle-task"
    if all(t.get("state") in ("SUCCESS", "ERROR", "CANCELLED") for t in tasks):
        return "unfinished-workflow"
    return "running-task"


def from_errors(ctx: Context, built_to_succeed: set[str]) -> list[dict[str, Any]]:
    """Every ERROR execution of a workflow built to succeed, classed by its deepest cause."""
    found = []
    for ex_id in sorted(built_to_succeed):
        execution = ctx.executions.get(ex_id)
        if not execution or execution.get("state") != ERROR:
            continue
        found.append(_classify_error(ctx, execution))
    return found


def _classify_error(ctx: Context, execution: dict[str, Any]) -> dict[str, Any]:
    actions = [a for t in ctx.tasks_of[execution["id"]] for a in ctx.actions_of[t["id"]]]
    failed = [a for a in actions if a.get("state") == ERROR]
    for action in failed:
        runs = ctx.runs_of.get(action["id"], [])
        executors = [r.executor for r in runs if r.executor]
        # Mistral's API often leaves an action's state_info empty; the task carries the reason then.
        task = ctx.tasks.get(action.get("task_execution_id"), {})
        info = str(action.get("state_info") or task.get("state_info") or "")
        if any(r.completed for r in runs):
            cls, kind = "lost-result", "completed-run-failed"
            summary = (f"the witness saw action execution {action['id']} complete on {', '.join(executors) or '?'}, "
                       f"Mistral recorded ERROR: {info[:120]}")
        elif HEARTBEAT in info or REDELIVERED in info:
            cls, kind = "abandoned-action", "heartbeat" if HEARTBEAT in info else "redelivered"
            by = "the heartbeat check" if kind == "heartbeat" else "its executor on redelivery (kombu)"
            summary = (f"action execution {action['id']} on {', '.join(executors) or 'no witnessed executor'} was "
                       f"failed by {by} ({'run interrupted' if runs else 'never ran'})")
        else:
            continue
        return ctx.make(cls, kind, "succeeded-despite-faults", summary, execution_id=execution["id"],
                        task_execution_id=action.get("task_execution_id"), action_execution_ids=[action["id"]],
                        nodes=executors, evidence=[info[:300], *[r.summary() for r in runs]])
    cause = str((failed[0].get("state_info") if failed else None) or execution.get("state_info") or "no state_info")
    return ctx.make("errored-inside-promise", "error", "succeeded-despite-faults",
                    f"execution {execution['id']} ended ERROR: {cause.splitlines()[0][:160] if cause else ''}",
                    execution_id=execution["id"], action_execution_ids=[a["id"] for a in failed],
                    evidence=[cause[:300]])


def from_linearizable(ctx: Context, result: dict[str, Any]) -> list[dict[str, Any]]:
    if result.get("valid") is not False:
        return []
    example = result.get("counterexample") or {}
    key = example.get("key")
    return [ctx.make("non-linearizable", "history", "linearizable",
                     f"key {key!r}: {example.get('explanation') or 'no linearization exists'}",
                     execution_id=key if isinstance(key, str) and key in ctx.executions else None,
                     evidence=[example], faults=[] if key not in ctx.executions else None)]


def from_expected_work(ctx: Context, gate: dict[str, Any]) -> list[dict[str, Any]]:
    return [ctx.make("missing-run", "expected-work", "expected-work",
                     f"SUCCESS execution {w['execution_id']} did not do what its workflow must: "
                     + ", ".join(f"{k} {v['found']} (expected {v['expected']})" for k, v in w.items()
                                 if isinstance(v, dict)),
                     execution_id=w["execution_id"], evidence=[w]) for w in gate.get("wrong") or []]


def from_logs(ctx: Context, result: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for anomaly in result.get("anomalies") or []:
        nodes = anomaly.get("nodes") or []
        touching = [w for w in ctx.windows if set(nodes) & set(w.nodes)]
        entry = ctx.make("log", anomaly.get("kind", "log"), "logs", anomaly.get("summary", ""), nodes=nodes,
                         evidence=anomaly.get("evidence") or [], faults=touching)
        entry["defect"] = bool(anomaly.get("defect"))
        found.append(entry)
    return found


# ---------------------------------------------------------------- everything
def classify(ctx: Context, results: dict[str, dict[str, Any]], gates: dict[str, dict[str, Any]],
             built_to_succeed: set[str]) -> list[dict[str, Any]]:
    anomalies: list[dict[str, Any]] = []
    if "exactly-once" in results:
        anomalies += from_exactly_once(ctx, results["exactly-once"])
    if "completion" in results:
        anomalies += from_completion(ctx, results["completion"])
    if "succeeded-despite-faults" in results:
        anomalies += from_errors(ctx, built_to_succeed)
    if "linearizable" in results:
        anomalies += from_linearizable(ctx, results["linearizable"])
    if "logs" in results:
        anomalies += from_logs(ctx, results["logs"])
    if "cron" in results:
        anomalies += from_cron(ctx, results["cron"])
    anomalies += from_expected_work(ctx, gates.get("expected-work") or {})
    named = {a["checker"] for a in anomalies}
    for name, result in results.items():
        if result.get("valid") is False and name not in named and name != "succeeded-despite-faults":
            anomalies.append(ctx.make("unclassified", name, name, result.get("reason") or f"{name} failed",
                                      evidence=[result.get("reason")], faults=[]))
    cite(anomalies, ctx.windows, ctx.lookup)
    for anomaly in anomalies:
        place_lab_duplicate(ctx, anomaly)
    return anomalies


def place_lab_duplicate(ctx: Context, anomaly: dict[str, Any]) -> None:
    """A duplicate run the lab itself caused by delivering run_action twice (rpc action=duplicate) is outside
    the designed promise - Mistral 23's transport acknowledges before dispatch and never delivers twice - but
    inside the spec's (a non-idempotent action never runs twice, even on redelivery): an HA gap at the designed
    level, a defect at the spec level. Only when the injected deliveries explain every extra run: one more run
    than that is Mistral's own and stays a defect."""
    if anomaly.get("class") != "duplicate-run":
        return
    injected = [m for m in anomaly.get("rpc_messages") or []
                if m.get("action") == "duplicate" and m.get("method") == "run_action"]
    if not injected:
        return
    runs = sum(len(ctx.runs_of.get(a, [])) for a in anomaly.get("action_execution_ids") or [])
    actions = len(anomaly.get("action_execution_ids") or []) or 1
    if runs > actions + len(injected):
        return
    anomaly["inside"] = {"designed": False, "spec": True}
    anomaly["defect"] = ctx.level == "spec"
    anomaly["evidence"] = ["the lab delivered run_action twice (rpc duplicate): outside the designed promise "
                           "(ack before dispatch never redelivers), inside the spec's (never twice)",
                           *(anomaly.get("evidence") or [])][:6]


def summary(anomalies: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per class, and the split a reader needs: defects, HA gaps, expected degradation."""
    defects = [a for a in anomalies if a["defect"]]
    gaps = [a for a in anomalies if Anomaly.of(a).ha_gap]
    return {"anomaly_counts": dict(sorted(Counter(a["class"] for a in anomalies).items())),
            "defect_count": len(defects), "ha_gap_count": len(gaps),
            "expected_degradation_count": len(anomalies) - len(defects)}


def nodes_of_roles(nodes: Iterable[str]) -> dict[str, list[str]]:
    by_role: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        by_role[role_of(node)].append(node)
    return dict(by_role)


__all__ = ["CLASSES", "Context", "SAFETY", "classify", "stuck_kind", "summary"]
