"""`mistral-lab reset`: a running lab back to the state a fresh `up` leaves, in seconds instead of a new cluster.

In order: heal every fault (nemesis.heal: paused and stopped nodes, network rules, RPC rules, clock offsets),
scale each role back to its count at `up` without waiting for the new nodes, stop every Mistral server
(cluster.warm_restart: SIGKILL to the server inside its container, or the container when that cannot); then,
side by side, load the database from its template (cluster.db_template), delete the broker's queues and
exchanges (its virtual host, recreated empty) and empty the witness log; start a fresh Mistral server in
every node and wait until each serves. What "as fresh" means is pinned down by
lab/tests/test_reset_integration.py, which compares a reset lab with a fresh one.
"""
from __future__ import annotations

import io
import json
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

from cluster import db_template, removed_logs, warm_restart
from cluster.control import Cluster
from cluster.errors import LabError
from cluster.images import Images
from cluster.topology import Topology

Report = Callable[[str], None]
TEMPLATE_IN_DB = "/tmp/lab-reset-template.sql"
DB_RESET_SCRIPTS = {
    "mariadb": ("mariadb --protocol=socket -e 'DROP DATABASE IF EXISTS mistral; "
                "CREATE DATABASE mistral CHARACTER SET utf8mb4;' && mariadb --protocol=socket mistral < {path}"),
    "postgres": ('export PGPASSWORD="$DB_PASSWORD"; P="psql -q -v ON_ERROR_STOP=1 -h /var/run/postgresql"; '
                 "$P -U postgres -d postgres -c 'DROP DATABASE IF EXISTS mistral WITH (FORCE)' "
                 "-c 'CREATE DATABASE mistral OWNER mistral' && $P -U mistral -d mistral -f {path} >/dev/null"),
}
# One Erlang call (each rabbitmqctl start costs about 1-3 s); the three plain commands if the API differs.
BROKER_RESET_SCRIPT = (
    "rabbitmqctl -q eval 'ok = rabbit_vhost:delete(<<\"/\">>, <<\"mistral-lab\">>), "
    "ok = rabbit_vhost:add(<<\"/\">>, <<\"mistral-lab\">>), "
    "ok = rabbit_auth_backend_internal:set_permissions(<<\"mistral\">>, <<\"/\">>, <<\".*\">>, <<\".*\">>, "
    "<<\".*\">>, <<\"mistral-lab\">>), done.' | grep -qx done "
    "|| { rabbitmqctl -q delete_vhost / ; rabbitmqctl -q add_vhost / "
    "&& rabbitmqctl -q set_permissions -p / mistral '.*' '.*' '.*'; }")


def _noop(_: str) -> None:
    pass


@dataclass
class ResetReport:
    """What a reset did: seconds per step, and what the heal repaired on the way."""

    timings: dict[str, float] = field(default_factory=dict)
    repaired: list[str] = field(default_factory=list)
    cold: list[str] = field(default_factory=list)  # nodes restarted with their container, not warm

    @property
    def total_s(self) -> float:
        return round(sum(self.timings.values()), 2)


def reset_lab(cluster: Cluster, report: Report = _noop, ready_timeout: float = 180.0) -> ResetReport:
    """Reset `cluster` in place; LabError when it cannot (the caller then takes a fresh cluster)."""
    from nemesis.heal import heal_cluster

    if not cluster.exists():
        raise LabError(f"no lab named {cluster.name!r} is running")
    topology = cluster.topology()
    template = _template_of(cluster, topology)
    done = ResetReport()

    def step(name: str, action: Callable[[], object]) -> object:
        report(name)
        started = time.monotonic()
        result = action()
        done.timings[name] = round(time.monotonic() - started, 2)
        return result

    done.repaired = step("heal", lambda: heal_cluster(cluster, report, wait=False,  # type: ignore[assignment]
                                                      restore_scale=False))
    step("scale to the topology at up", lambda: _restore_up_counts(cluster, report))
    mistral = [name for name, _ in cluster.topology().mistral_nodes()]
    stopped: dict[str, str] = step(  # type: ignore[assignment]
        "stop Mistral servers", lambda: _each(mistral, lambda node: warm_restart.stop_server(cluster, node)))
    # Three containers, three independent resets: the step waits for the slowest (the database load).
    step("database, broker and witness log", lambda: _each([
        lambda: _reset_database(cluster, topology.db, template),
        lambda: _exec(cluster, "broker", BROKER_RESET_SCRIPT),
        lambda: _reset_witness(cluster), lambda: _drop_removed_logs(cluster)], lambda reset: reset()))
    step("start Mistral servers", lambda: _each(mistral, lambda node: warm_restart.start_server(
        cluster, node, stopped[node])))
    done.cold = sorted(node for node, how in stopped.items() if how == warm_restart.COLD)
    step("ready", lambda: cluster.wait_ready(report, timeout=ready_timeout))
    return done


def _template_of(cluster: Cluster, topology: Topology) -> Path:
    images = Images(**json.loads((cluster.state_dir / "images.json").read_text()))
    path = db_template.template_path(images, topology.db)
    if not path.exists():
        raise LabError(f"lab {cluster.name!r} has no database template to reset to ({path.name}); "
                       "bring up a fresh lab instead")
    return path


def _restore_up_counts(cluster: Cluster, report: Report) -> None:
    """The roles back to their counts at `up`, without waiting for the new nodes: the reset restarts every
    Mistral node next and waits once for all of them (a scale that waited would boot them twice)."""
    from nemesis.scale import save_baseline

    at_up, now = cluster.topology_at_up(), cluster.topology()
    wanted = [name for name, _ in at_up.mistral_nodes()]
    running = [name for name, _ in now.mistral_nodes()]
    missing = [name for name in wanted if name not in running]
    extra = [name for name in running if name not in wanted]
    if extra:
        report(f"removing {', '.join(extra)}")
        cluster.backend.remove(extra)
    if missing or extra:
        cluster.backend.render(at_up, Images(**json.loads((cluster.state_dir / "images.json").read_text())))
    if missing:
        report(f"creating {', '.join(missing)}")
        cluster.backend.deploy(report, services=missing)
    save_baseline(cluster, {})  # nothing left for a later heal to scale back


def _each(items: list[Any], action: Callable[[Any], object]) -> dict[Any, object]:
    """`action` on every item in parallel, {item: result}: a reset waits for the slowest, not their sum."""
    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        return dict(zip(items, pool.map(action, items)))


def _reset_database(cluster: Cluster, db: str, template: Path) -> None:
    container = cluster.container("db")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        tar.add(template, arcname=Path(TEMPLATE_IN_DB).name)
    if not container.put_archive(str(Path(TEMPLATE_IN_DB).parent), archive.getvalue()):
        raise LabError("could not copy the database template into the db container")
    _exec(cluster, "db", DB_RESET_SCRIPTS[db].format(path=TEMPLATE_IN_DB))


def _exec(cluster: Cluster, node: str, script: str) -> None:
    code, output = cluster.exec(node, ["sh", "-c", script])
    if code != 0:
        last = output.strip().splitlines()[-1:] or [f"exit {code}"]
        raise LabError(f"reset failed in {node}: {last[0][:300]}")


def _drop_removed_logs(cluster: Cluster) -> None:
    for kept in removed_logs.take(cluster.state_dir):  # a fresh lab has removed no node
        kept.unlink(missing_ok=True)


def _reset_witness(cluster: Cluster) -> None:
    try:
        requests.post(f"{cluster.witness_url()}/reset", timeout=10).raise_for_status()
    except requests.RequestException as exc:
        raise LabError(f"could not empty the witness log: {exc}") from exc
