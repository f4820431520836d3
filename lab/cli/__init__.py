"""The `mistral-lab` command line. Each concept registers its own commands from its own module."""
from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from cluster.errors import LabError

app = typer.Typer(
    name="mistral-lab",
    help="Fault-injection and benchmark lab for multi-node OpenStack Mistral clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


_registered = False


def _register_commands() -> None:
    """Each concept adds its own commands; idempotent so tests may call it freely."""
    global _registered
    if _registered:
        return
    from lab.cli import bench, checker, cluster, doctor, findings, map, nemesis, operators, run, shrink, workloads

    for module in (doctor, cluster, run, checker, workloads, nemesis, bench, findings, shrink, map, operators):
        module.register(app)
    _registered = True


def main() -> None:
    _register_commands()
    try:
        app()
    except LabError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
