"""CLI commands for the cluster lifecycle: up, status, scale, down, reset, logs, images."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.table import Table

from cluster.errors import LabError
from lab.progress import phase
from cluster.topology import (BACKENDS, DEFAULT_MISTRAL_VERSION, DATABASES, PLACEMENTS, Topology, parse_overrides,
                              validate_count, validate_role)


if TYPE_CHECKING:
    from cluster.control import Cluster


def _lab(name: str) -> Cluster:
    """Docker is imported only by the commands that talk to it, so `--help` and offline commands stay fast."""
    from cluster.control import Cluster

    return Cluster(name)


def _labs_here() -> str:
    from cluster.control import list_labs

    return ", ".join(list_labs()) or "none"

out = Console()
NameOption = typer.Option("mistral-lab", "--name", "-n", help="Lab (compose project) name.")


def up(
    name: str = NameOption,
    apis: int = typer.Option(1, help="API nodes."),
    engines: int = typer.Option(1, help="Engine nodes."),
    executors: int = typer.Option(1, help="Executor nodes."),
    notifiers: int = typer.Option(0, help="Notifier nodes."),
    db: str = typer.Option("mariadb", help=f"Database: {' or '.join(DATABASES)}."),
    mistral_version: str = typer.Option(DEFAULT_MISTRAL_VERSION, help="Mistral release from PyPI."),
    mistral_src: Optional[Path] = typer.Option(None, help="Local Mistral source tree to test a patch."),
    set_: list[str] = typer.Option([], "--set", help="Override a mistral.conf option: section.option=value."),
    timeout: float = typer.Option(300.0, help="Seconds to wait for every node to be ready."),
    backend: str = typer.Option("compose", help=f"What runs the containers: {' or '.join(BACKENDS)}."),
    placement: str = typer.Option("spread", help=f"swarm: {', '.join(PLACEMENTS)} (engines and executors across "
                                  "the hosts, all on one, or by node labels mistral-lab.<role>=true)."),
    hosts: Optional[Path] = typer.Option(None, help="swarm: a file naming each swarm node's DOCKER_HOST "
                                         "(ssh:// or tcp://), one a line; default: this engine only."),
) -> None:
    """Bring up a Mistral cluster and wait until every node is ready."""
    topology = Topology(name=name, apis=apis, engines=engines, executors=executors, notifiers=notifiers, db=db,
                        mistral_version=mistral_version, mistral_src=str(mistral_src) if mistral_src else None,
                        overrides=parse_overrides(set_), backend=backend, placement=placement,
                        hosts=str(hosts.resolve()) if hosts else None).validate()
    cluster = _lab(name)
    with phase(f"up {name}") as report:
        cluster.up(topology, report, ready_timeout=timeout)
    _print_status(cluster)


def status(name: str = NameOption, as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """Show every node of a lab: role, state, health and API URL."""
    cluster = _lab(name)
    if not cluster.exists():
        raise LabError(f"no lab named {name!r} is running (labs here: {_labs_here()})")
    document = status_document(cluster)
    if as_json:
        print(json.dumps(document))
        return
    _print_status(cluster, document)


def status_document(cluster: Cluster) -> dict:
    from cluster.render import API_PORT

    health = cluster.health()
    nodes = []
    for node in cluster.nodes():
        entry = {"name": node.name, "role": node.role, "state": node.state, "healthy": health.get(node.name, False),
                 "host": node.host or None}
        if node.role == "api":
            entry["url"] = cluster.published_url(node.name, API_PORT) if node.running else None
        nodes.append(entry)
    return {"name": cluster.name, "backend": cluster.backend_kind, "nodes": nodes}


def _print_status(cluster: Cluster, document: dict | None = None) -> None:
    document = document or status_document(cluster)
    table = Table(title=f"lab {cluster.name} ({document.get('backend', 'compose')})")
    hosts = any(node.get("host") for node in document["nodes"])
    for column in ("node", "role", "state", "healthy", *(("host",) if hosts else ()), "url"):
        table.add_column(column)
    for node in document["nodes"]:
        table.add_row(node["name"], node["role"], node["state"], "yes" if node["healthy"] else "[red]no[/]",
                      *((node.get("host") or "",) if hosts else ()), node.get("url") or "")
    out.print(table)


def scale(
    role: str = typer.Argument(..., help="api, engine, executor or notifier."),
    count: int = typer.Argument(..., help="The new number of nodes of that role."),
    name: str = NameOption,
    kill: bool = typer.Option(False, "--kill", help="Remove abruptly (SIGKILL) instead of SIGTERM."),
    drain: bool = typer.Option(False, "--drain", help="Before SIGTERM, wait until a removed executor runs no "
                               "witnessed action (Mistral 23 abandons in-flight actions on SIGTERM)."),
) -> None:
    """Add or remove nodes of one role while workflows run."""
    validate_role(role)
    validate_count(role, count)
    cluster = _lab(name)
    if not cluster.exists():
        raise LabError(f"no lab named {name!r} is running")
    with phase(f"scale {role} to {count}") as report:
        changed = cluster.scale(role, count, kill=kill, report=report, drain=drain)
    out.print(f"{role}: {count} ({'changed ' + ', '.join(changed) if changed else 'unchanged'})")


def down(name: str = NameOption) -> None:
    """Remove every container, network and volume of a lab (idempotent); on swarm also its services, configs,
    and the swarm itself when the lab created it."""
    cluster = _lab(name)
    with phase(f"down {name}") as report:
        cluster.down(report)


def reset(name: str = NameOption) -> None:
    """Bring a running lab back to the state of a fresh `up` (database from its template, broker emptied, every
    fault healed, witness log emptied, every Mistral node restarted), in seconds."""
    from lab.reset import reset_lab

    cluster = _lab(name)
    if not cluster.exists():
        raise LabError(f"no lab named {name!r} is running (labs here: {_labs_here()})")
    with phase(f"reset {name}") as report:
        done = reset_lab(cluster, report)
    steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in done.timings.items())
    out.print(f"reset {name} in {done.total_s:.1f} s ({steps})", highlight=False)


def logs(node: str = typer.Argument(..., help="Node name, e.g. engine-1."), name: str = NameOption,
         tail: str = typer.Option("all", help="Number of lines from the end, or all.")) -> None:
    """Print one node's log."""
    print(_lab(name).logs(node, tail=int(tail) if tail.isdigit() else "all"), end="")


def images(mistral_version: str = typer.Option(DEFAULT_MISTRAL_VERSION),
           mistral_src: Optional[Path] = typer.Option(None)) -> None:
    """Build (or find) the lab's images without starting anything."""
    from cluster.images import ensure_images

    with phase("images") as report:
        built = ensure_images(mistral_version, mistral_src, report)
    out.print(f"mistral: {built.mistral}\ninfra:   {built.infra}")


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(status)
    app.command()(scale)
    app.command()(down)
    app.command()(reset)
    app.command()(logs)
    app.command()(images)
