"""Cron workload: K cron triggers start a one-task workflow every minute while faults come and go.

Ops: create-trigger, read-trigger (the main phase), delete-trigger, then the final list-executions and deletes;
checker.cron judges them. A spec needs `mistral_config: {cron_trigger.enabled: true}` and time_limit_s >= 180.
The ops, the timing rules and how Mistral links executions to triggers: docs/specs.md#the-cron-workload.
"""
from __future__ import annotations

import json
import random
import time
from typing import Any

import requests

from history.mistral import mistral_time
from cluster.mistral_api import HttpError, NodeClient
from workloads.collect import fetch_all
from workloads.core import OK, Completion, Op, Param, RunContext, Workload, non_negative, positive
from workloads.reference_load import ensure_workflows

WORKFLOW = "lab_cron_tick"
DEFINITION = f"""---
version: '2.0'
{WORKFLOW}:
  description: started by the cron workload's triggers (mistral-lab)
  tasks:
    tick:
      action: std.noop
"""
LIST_FIELDS = "id,workflow_name,created_at,state,description"
LIST_SINCE_MARGIN_S = 120.0  # list executions created from a little before setup: clocks and rounding


def check_pattern(value: Any) -> str | None:
    """Only patterns checker.cron can turn into minutes: `* * * * *` and `*/N * * * *` with N dividing 60."""
    return None if pattern_period_s(str(value)) else "use '* * * * *' or '*/N * * * *' with N dividing 60"


def pattern_period_s(pattern: str) -> float | None:
    fields = pattern.split()
    if len(fields) != 5 or fields[1:] != ["*", "*", "*", "*"]:
        return None
    minute = fields[0]
    if minute == "*":
        return 60.0
    step = minute[2:] if minute.startswith("*/") else ""
    if step.isdigit() and 0 < int(step) <= 60 and 60 % int(step) == 0:
        return 60.0 * int(step)
    return None


class CronWorkload(Workload):
    name = "cron"
    description = ("cron triggers start a one-task workflow every minute; each scheduled minute must start "
                   "exactly one execution (needs time_limit_s >= 180 and cron_trigger.enabled: true)")
    PARAMS = {
        "triggers": Param(2, "cron triggers to create", positive),
        "pattern": Param("* * * * *", "cron pattern of every trigger (a minute is Mistral's resolution)",
                         check_pattern),
        "fire_s": Param(0.0, "seconds the triggers live before the main phase deletes them (0: until it ends); "
                             "leave >= 90 s after it for late fires to land", non_negative),
        "count": Param(240, "remaining_executions of each trigger: Mistral counts fires down from it and deletes "
                            "the trigger at 0 (a bound on what a failed cleanup leaves firing)", positive),
    }
    checkers = ("cron", "perf")

    def setup(self, ctx: RunContext) -> None:
        ensure_workflows(ctx.client_for(ctx.nodes[0]), [DEFINITION])
        self.names = [f"lab-cron-{ctx.run_id}-{i}" for i in range(1, self.params["triggers"] + 1)]
        self.to_create = list(self.names)
        self.to_delete = list(self.names)
        self.since = time.time() - LIST_SINCE_MARGIN_S
        self.first_op_at: float | None = None

    # ------------------------------------------------------------ generator
    def next_op(self, rng: random.Random, process: int, node: str) -> Op | None:
        now = time.monotonic()
        if self.to_create:
            self.first_op_at = self.first_op_at or now
            name = self.to_create.pop(0)
            return Op("create-trigger", {"name": name, "pattern": self.params["pattern"], "workflow": WORKFLOW,
                                         "remaining_executions": self.params["count"]}, name)
        fire_s = self.params["fire_s"]
        if fire_s and self.to_delete and now - (self.first_op_at or now) >= fire_s:
            name = self.to_delete.pop(0)
            return Op("delete-trigger", {"name": name}, name)
        name = rng.choice(self.names)  # never None: an idle generator would end the main phase early
        return Op("read-trigger", {"name": name}, name)

    def observe(self, op: Op, completion: Completion) -> None:
        # A main-phase delete refused or unanswered during a fault is tried again (a trigger must not outlive
        # fire_s by more than the fault); the final cleanup catches whatever is still left.
        if op.f == "delete-trigger" and completion.type != OK and not op.value.get("cleanup") \
                and op.key not in self.to_delete:
            self.to_delete.append(str(op.key))

    def finish_ops(self, ctx: RunContext) -> list[Op]:
        """Stop every trigger still firing before the nemesis heals and the final list is taken."""
        pending, self.to_delete = self.to_delete, []
        return [Op("delete-trigger", {"name": name}, name) for name in pending]

    def final_reads(self, ctx: RunContext) -> list[Op]:
        listing = Op("list-executions", {"workflow": WORKFLOW, "since": self.since})
        # Cleanup again: a delete that failed during a fault must not leave a trigger firing after the run.
        return [listing, *[Op("delete-trigger", {"name": name, "cleanup": True}, name) for name in self.names]]

    # ------------------------------------------------------------ client side
    def invoke(self, client: NodeClient, op: Op) -> Completion:
        if op.f == "create-trigger":
            return create_trigger(client, op.value)
        if op.f == "read-trigger":
            return read_trigger(client, op.value["name"])
        if op.f == "delete-trigger":
            return delete_trigger(client, op.value["name"])
        if op.f == "list-executions":
            return list_executions(client, op.value["workflow"], op.value["since"])
        return Completion.fail(f"unknown op {op.f!r}")


def reading(trigger: dict[str, Any], at: float) -> dict[str, Any]:
    """What the history keeps of a trigger: Mistral's books (next fire, fires left) and when they were seen."""
    return {"name": trigger.get("name"), "id": trigger.get("id"), "exists": True, "pattern": trigger.get("pattern"),
            "first_execution_time": trigger.get("first_execution_time"),
            "next_execution_time": trigger.get("next_execution_time"),
            "remaining_executions": trigger.get("remaining_executions"),
            "created_at": trigger.get("created_at"), "at": at}


def _refused(exc: HttpError) -> Completion:
    # A 4xx is Mistral's decision (it did nothing); a 5xx may come after the change was committed.
    return Completion.fail(str(exc)) if 400 <= exc.status < 500 else Completion.info(str(exc))


def create_trigger(client: NodeClient, value: dict[str, Any]) -> Completion:
    body = {"name": value["name"], "workflow_name": value["workflow"], "pattern": value["pattern"],
            "remaining_executions": value["remaining_executions"]}
    try:
        trigger = client.call("POST", "/v2/cron_triggers", body)
    except HttpError as exc:
        return _refused(exc)
    return Completion.ok(reading(trigger, time.time()))


def read_trigger(client: NodeClient, name: str) -> Completion:
    try:
        trigger = client.call("GET", f"/v2/cron_triggers/{name}")
    except HttpError as exc:
        if exc.status == 404:
            return Completion.ok({"name": name, "exists": False, "at": time.time()})
        return Completion.fail(str(exc))  # a read changes nothing: a refused read certainly did not happen
    return Completion.ok(reading(trigger, time.time()))


def delete_trigger(client: NodeClient, name: str) -> Completion:
    """Read the trigger, then delete it: the value keeps Mistral's last books (`last`) before the delete."""
    read = read_trigger(client, name)
    if read.type != "ok":
        return Completion.fail(f"read before delete: {read.error}")
    if not read.value["exists"]:
        return Completion.ok({"name": name, "existed": False, "at": read.value["at"]})
    try:
        client.call("DELETE", f"/v2/cron_triggers/{name}")
    except HttpError as exc:
        if exc.status == 404:  # gone between the read and the delete (another delete, or its last fire)
            return Completion.ok({"name": name, "existed": False, "last": read.value, "at": time.time()})
        return _refused(exc)
    return Completion.ok({"name": name, "existed": True, "last": read.value, "at": time.time()})


def list_executions(client: NodeClient, workflow: str, since: float) -> Completion:
    """Every execution of `workflow` created since `since`, each with the trigger that started it."""
    at = time.time()  # before the request: whatever was committed by now is in the answer
    try:
        rows = fetch_all(client, "/v2/executions", "executions", {"workflow_name": workflow, "fields": LIST_FIELDS})
    except requests.HTTPError as exc:
        return Completion.fail(f"HTTP {exc.response.status_code if exc.response is not None else '?'}: {exc}")
    executions = [execution_row(row) for row in rows]
    return Completion.ok({"workflow": workflow, "at": at,
                          "executions": [e for e in executions if _created_s(e) is None or _created_s(e) >= since]})


def execution_row(row: dict[str, Any]) -> dict[str, Any]:
    trigger = triggered_by(row.get("description"))
    return {"id": row.get("id"), "workflow_name": row.get("workflow_name"), "created_at": row.get("created_at"),
            "state": row.get("state"), "trigger_type": trigger.get("type"), "trigger_id": trigger.get("id")}


def triggered_by(description: Any) -> dict[str, Any]:
    """Mistral 23's link from an execution to its trigger: description = {"triggered_by": {"type", "id"}}."""
    try:
        data = json.loads(description) if isinstance(description, str) else None
    except ValueError:
        return {}
    found = data.get("triggered_by") if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}


def _created_s(execution: dict[str, Any]) -> float | None:
    return mistral_time(execution.get("created_at"))


__all__ = ["CronWorkload", "DEFINITION", "WORKFLOW", "create_trigger", "delete_trigger", "execution_row",
           "list_executions", "pattern_period_s", "read_trigger", "triggered_by"]
