"""`mistral-lab nemesis FAULT` (inject one fault by hand, then heal) and `mistral-lab heal`."""
from __future__ import annotations

import json
import random
import time
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console

from cluster.errors import LabError
from lab.progress import phase
from nemesis.base import FAULTS, make_fault, parse_option_items
from nemesis.heal import heal_cluster, interrupts_raise, shielded

if TYPE_CHECKING:
    from cluster.control import Cluster

out = Console()
err = Console(stderr=True)


def _existing(name: str) -> Cluster:
    from cluster.control import Cluster, list_labs  # Docker only for commands that talk to it

    cluster = Cluster(name)
    if not cluster.exists():
        raise LabError(f"no lab named {name!r} is running (labs here: {', '.join(list_labs()) or 'none'})")
    return cluster


def _fault_help() -> str:
    import nemesis  # noqa: F401  (fills the registry)

    lines = []
    for name, cls in sorted(FAULTS.items()):
        options = ", ".join(f"{key} ({opt.default!r})" for key, opt in cls.OPTIONS.items())
        lines.append(f"{name}: {cls.summary}." + (f" Options: {options}." if options else ""))
    return "\n\n".join(lines)


def nemesis_command(
    fault: str = typer.Argument(..., help="Fault to inject (see `mistral-lab nemesis --help`)."),
    name: str = typer.Option("mistral-lab", "--name", "-n", help="Lab (compose project) name."),
    target: Optional[str] = typer.Option(None, "--target", "-t",
                                         help="Node (engine-1), role (engine), comma list, random or random:ROLE."),
    duration: float = typer.Option(10.0, "--duration", "-d", help="Seconds the fault lasts before it is healed."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for random choices (printed when not given)."),
    option: list[str] = typer.Option([], "--option", "-o", help="Fault option key=value (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print what was done as JSON lines."),
) -> None:
    """Inject one fault by hand (to reproduce a bug), keep it for --duration seconds, then heal.

    Ctrl-C or SIGTERM heals before exiting. The faults and their options are listed below.
    """
    if duration <= 0:
        raise LabError(f"--duration must be > 0 seconds, got {duration:g}")
    injected = make_fault(fault, parse_option_items(option), target)  # all offline checks, nothing touched yet
    cluster = _existing(name)
    seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
    _say(as_json, {"event": "plan", "fault": fault, "description": injected.describe(), "seed": seed})
    clean_exit = False
    try:
        with interrupts_raise():
            done = injected.start(cluster, random.Random(seed))
            _say(as_json, {"event": "started", "fault": fault, "done": done})
            time.sleep(duration)
            clean_exit = True
    except LabError:
        # start() refuses bad targets before touching anything; still undo whatever a partial start did.
        _heal_after_failure(cluster, injected, full=False)
        raise
    except KeyboardInterrupt:
        err.print("interrupted: healing the cluster before exiting")
        _heal_after_failure(cluster, injected, full=True)
        raise typer.Exit(130)
    except BaseException:
        _heal_after_failure(cluster, injected, full=True)
        raise
    if clean_exit:
        with shielded(err.print), phase(f"heal {fault}") as report:
            healed = injected.heal(cluster)
            report("waiting until every node serves")
            cluster.wait_ready(report, timeout=300)
        _say(as_json, {"event": "healed", "fault": fault, "done": healed})


def _heal_after_failure(cluster: Cluster, fault, full: bool) -> None:
    with shielded(err.print):
        try:
            fault.heal(cluster)
        finally:
            if full:
                with phase(f"heal {cluster.name}") as report:
                    heal_cluster(cluster, report)


def _say(as_json: bool, event: dict) -> None:
    if as_json:
        print(json.dumps(event, default=str), flush=True)
        return
    kind = event.pop("event")
    if kind == "plan":
        out.print(f"{event['description']} (seed {event['seed']})", highlight=False)
    else:
        out.print(f"{kind}: {json.dumps(event['done'], default=str)}", highlight=False)


def heal_command(
    name: str = typer.Option("mistral-lab", "--name", "-n", help="Lab (compose project) name."),
    timeout: float = typer.Option(300.0, help="Seconds to wait until every node serves again."),
) -> None:
    """Remove every fault the lab may have left: partitions, qdiscs, RPC rules, clock skew, paused/stopped nodes,
    scaling."""
    cluster = _existing(name)
    with shielded(err.print), phase(f"heal {name}") as report:
        repaired = heal_cluster(cluster, report, timeout=timeout)
    out.print("\n".join(repaired) if repaired else "nothing to heal", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("nemesis", epilog="Faults:\n\n" + _fault_help())(nemesis_command)
    app.command("heal")(heal_command)
