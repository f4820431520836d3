"""Collect a run's evidence from the cluster: the witness log and a snapshot of Mistral's own view.

`mistral-snapshot.json` holds executions, task executions and action executions (states, state_info, times)
read through the API with pagination, plus each action execution's last heartbeat read from the database
(the API does not expose it; best effort, recorded as null when the database cannot answer).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterable, TYPE_CHECKING

import requests

from history.mistral import mistral_time
from history.run_dir import SNAPSHOT_FILE, WITNESS_FILE  # noqa: F401 - re-exported
from cluster.errors import LabError
from cluster.mistral_api import NodeClient

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster


PAGE = 500
MAX_PAGES = 200  # bound: 100k rows per collection


def fetch_all(client: NodeClient, path: str, key: str, params: dict[str, Any] | None = None) -> list[dict]:
    """Every row of a Mistral list endpoint, following its `next` links (bounded by MAX_PAGES)."""
    rows: list[dict] = []
    query = {"limit": PAGE, **(params or {})}
    url = f"{client.url}{path}"
    for _ in range(MAX_PAGES):
        response = client.session.get(url, params=query)
        response.raise_for_status()
        data = response.json()
        rows.extend(data.get(key, []))
        url = data.get("next")
        if not url or not data.get(key):
            return rows
        query = None  # the next link carries the whole query
    raise LabError(f"{path}: more than {MAX_PAGES * PAGE} rows; refusing to page further")


def _pick_client(cluster: Cluster, timeout: float) -> NodeClient:
    for node, url in cluster.api_urls().items():
        client = NodeClient(node, url, timeout)
        try:
            client.call("GET", "/v2/workflows", params={"limit": 1})
            return client
        except (requests.RequestException, Exception):
            client.close()
    raise LabError(f"no API node of lab {cluster.name!r} answers: cannot snapshot Mistral")


def _heartbeats(cluster: Cluster) -> dict[str, str | None]:
    """action execution id -> last_heartbeat, straight from the database ({} if it cannot answer)."""
    query = "SELECT id, last_heartbeat FROM action_executions_v2"
    try:
        if cluster.topology().db == "postgres":
            cmd = ["su", "postgres", "-c", f"psql -d mistral -tA -F '\t' -c \"{query}\""]
        else:
            cmd = ["mariadb", "--protocol=socket", "-N", "-B", "mistral", "-e", query]
        code, out = cluster.exec("db", cmd)
    except Exception:  # the database may be down in a fault run; the heartbeat is context, not evidence
        return {}
    if code != 0:
        return {}
    beats: dict[str, str | None] = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 2:
            beats[parts[0]] = None if parts[1] in ("NULL", "") else parts[1]
    return beats


def snapshot(cluster: Cluster, execution_ids: Iterable[str] | None = None, timeout: float = 30.0) -> dict:
    """Mistral's view of the executions (all, or only `execution_ids`), their tasks and action executions."""
    client = _pick_client(cluster, timeout)
    try:
        wanted = set(execution_ids) if execution_ids is not None else None
        executions = [e for e in fetch_all(client, "/v2/executions", "executions")
                      if wanted is None or e["id"] in wanted]
        ex_ids = {e["id"] for e in executions}
        tasks = [t for t in fetch_all(client, "/v2/tasks", "tasks")
                 if t.get("workflow_execution_id") in ex_ids] if ex_ids else []
        task_ids = {t["id"] for t in tasks}
        actions = [a for a in fetch_all(client, "/v2/action_executions", "action_executions")
                   if a.get("task_execution_id") in task_ids] if task_ids else []
        served_by = client.node
    finally:
        client.close()
    beats = _heartbeats(cluster)
    for action in actions:
        action["last_heartbeat"] = beats.get(action["id"])
    return {"taken_at": time.time(), "lab": cluster.name, "served_by": served_by,
            "heartbeats_known": bool(beats), "executions": executions, "tasks": tasks,
            "action_executions": actions}


def witness_log(cluster: Cluster, timeout: float = 30.0) -> bytes:
    try:
        response = requests.get(f"{cluster.witness_url()}/records", timeout=timeout)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise LabError(f"cannot read the witness log of lab {cluster.name!r}: {exc}") from None
    return response.content


def collect_run_files(cluster: Cluster, out_dir: str | Path, execution_ids: Iterable[str] | None = None
                      ) -> dict[str, Path]:
    """Write witness.jsonl and mistral-snapshot.json into out_dir; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Snapshot first, witness log second: an action Mistral already calls SUCCESS has its end record in the
    # witness log (the action posts it before it returns), so a run still moving cannot fake a missing run.
    snapshot_path = out / SNAPSHOT_FILE
    data = snapshot(cluster, execution_ids)
    tmp = snapshot_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(snapshot_path)  # a crash never leaves a half-written snapshot behind
    witness_path = out / WITNESS_FILE
    witness_path.write_bytes(witness_log(cluster))
    return {"witness": witness_path, "snapshot": snapshot_path}


__all__ = ["SNAPSHOT_FILE", "WITNESS_FILE", "collect_run_files", "fetch_all", "mistral_time", "snapshot",
           "witness_log"]
