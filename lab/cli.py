"""The `mistral-lab` command line. Each concept registers its own commands from its own module."""
from __future__ import annotations

import sys

import typer
from rich.console import Console

from lab.errors import LabError

app = typer.Typer(
    name="mistral-lab",
    help="Fault-injection and benchmark lab for multi-node OpenStack Mistral clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


def _register_commands() -> None:
    from checker import cli as checker_cli
    from lab import cluster_cli

    cluster_cli.register(app)
    checker_cli.register(app)


def main() -> None:
    _register_commands()
    try:
        app()
    except LabError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
