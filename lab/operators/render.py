"""How inspect and recover speak: the JSON document, the Rich table, the dry-run listing and the record."""
from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from checker.stuck import Thresholds
from lab.operators.plan import Call, Plan

RULES_DOC = "docs/operators.md#the-rules"


def inspect_document(source: str, snapshot: dict[str, Any], now: float, thresholds: Thresholds,
                     items: list[dict[str, Any]]) -> dict[str, Any]:
    """`inspect --json`: where it looked, with which thresholds, what it read and every item found."""
    return {
        "source": source, "now": _iso(now), "now_source": snapshot.get("now_source", "snapshot"),
        "thresholds": thresholds.as_json(), "rules": RULES_DOC,
        "read": {key: len(snapshot.get(key) or []) for key in ("executions", "tasks", "action_executions")},
        "stuck_count": len(items),
        "counts": dict(sorted(Counter(f"{i['class']}/{i['kind']}" for i in items).items())),
        "items": items,
    }


def print_table(console: Console, document: dict[str, Any]) -> None:
    items = document["items"]
    if not items:
        read = document["read"]
        console.print(f"nothing stuck at {escape(document['source'])} ({read['executions']} executions, "
                      f"{read['tasks']} tasks, {read['action_executions']} action executions read; "
                      f"now {document['now']} from the {document['now_source']} clock)")
        return
    table = Table(title=f"{len(items)} item(s) that cannot finish by themselves at {escape(document['source'])}",
                  title_justify="left")
    table.add_column("class / kind", no_wrap=True)  # names an operator greps for: never folded
    table.add_column("execution / workflow", overflow="fold", min_width=12)
    table.add_column("state / for", no_wrap=True)
    table.add_column("evidence", overflow="fold", ratio=1)
    for item in items:
        table.add_row(f"{item['class']}\n{item['kind']}",
                      f"{item['execution_id'] or '?'}\n{escape(str(item['workflow']))}",
                      f"{item['state']}\n{_for(item.get('for_s'))}", escape(evidence_line(item)))
    console.print(table)
    console.print(f"now {document['now']} ({document['now_source']} clock); thresholds: heartbeat window "
                  f"{document['thresholds']['heartbeat_window_s']:g} s, first heartbeat "
                  f"{document['thresholds']['first_heartbeat_timeout_s']:g} s, quiet "
                  f"{document['thresholds']['quiet_s']:g} s ({RULES_DOC})")


def evidence_line(item: dict[str, Any]) -> str:
    """The states and times that make the item what it is, in one line."""
    evidence = item["evidence"]
    if item["class"] == "abandoned-action":
        task = evidence["task"]
        return (f"task {task['name']} ERROR at {task['updated_at']}: {evidence['state_info']}; "
                f"failed action(s) {', '.join(item['action_execution_ids']) or 'unknown'}")
    tasks = ", ".join(f"{t['name']} {t['state']}" for t in evidence["tasks"][:6]) or "no task"
    if len(evidence["tasks"]) > 6:
        tasks += f", +{len(evidence['tasks']) - 6} more"
    parts = [f"tasks: {tasks}", f"last change {item['since']}"]
    for action in evidence["running_actions"][:3]:
        beat = action["last_heartbeat"] or f"<= {action['last_heartbeat_bound']} ({action['last_heartbeat_source']})"
        parts.append(f"{action['name']} {action['id'][:8]} RUNNING, last heartbeat {beat}, "
                     + (f"{_for(action['overdue_s'])} past the window" if action["expired"] else "within the window"))
    if evidence["sub_workflows_not_terminal"]:
        parts.append(f"sub-workflows not terminal: {', '.join(evidence['sub_workflows_not_terminal'])}")
    return "; ".join(parts)


def describe_precondition(pre: dict[str, Any]) -> str:
    kind = pre.get("kind")
    if kind == "action-running":
        return f"action execution {pre['id']} is still RUNNING"
    if kind == "task-error":
        return f"task {pre['id']} is ERROR" + (" (waits for the engine to fail it)" if pre.get("wait") else "")
    if kind == "execution-unchanged":
        text = f"execution {pre['id']} is not terminal and unchanged since inspect (updated_at {pre.get('updated_at')})"
        return text + (", after its failed sub-workflows had time to reach it" if pre.get("sub_workflows") else "")
    return "always"


def print_plan(console: Console, plan: Plan, url: str, applying: bool) -> None:
    mode = "these calls will be made" if applying else "dry run: nothing changed; --apply makes these calls"
    console.print(f"recover at {escape(url)}: {len(plan.calls)} call(s) ({mode})")
    for number, call in enumerate(plan.calls, 1):
        console.print(f"  {number}. {escape(call.line())}", soft_wrap=True, highlight=False)
        console.print(f"       why: {escape(call.why)}", soft_wrap=True, highlight=False)
        console.print(f"       only if: {escape(describe_precondition(call.precondition))}", soft_wrap=True,
                      highlight=False)
    for note in plan.notes:
        console.print(f"  note: {escape(note)}", soft_wrap=True, highlight=False)


def print_outcomes(console: Console, outcomes: list[dict[str, Any]], record: Path) -> None:
    for number, outcome in enumerate(outcomes, 1):
        detail = outcome.get("error") or outcome.get("precondition_seen") or ""
        console.print(f"  {number}. {outcome['outcome']}: {escape(Call(**_call_fields(outcome)).line())}"
                      + (f" ({escape(str(detail))})" if detail else ""), soft_wrap=True, highlight=False)
    console.print(f"record: {escape(str(record))}")


def write_record(path: Path, document: dict[str, Any]) -> Path:
    """The record of what recover changed, written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=1, sort_keys=True))
    os.replace(tmp, path)
    return path


def default_record_path(now: float) -> Path:
    return Path(f"mistral-recover-{datetime.fromtimestamp(now, timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json")


def _call_fields(outcome: dict[str, Any]) -> dict[str, Any]:
    return {key: outcome[key] for key in ("method", "path", "body", "why", "execution_id", "precondition")}


def _for(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


__all__ = ["default_record_path", "describe_precondition", "evidence_line", "inspect_document", "print_outcomes",
           "print_plan", "print_table", "write_record"]
