"""`mistral-lab doctor`: every prerequisite of a run as one table of check / status / found / how to fix.

The checks live in cluster.doctor; this module adds what only the lab knows (the built-in specs, hence which
kernel features a missing one would break) and renders the table. Exit 0 when a run can work, 3 otherwise.
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Iterable

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # cluster.doctor loads the Docker clients: only the command imports it
    from cluster.doctor import CheckResult

out = Console()
STYLES = {"ok": "green", "warn": "yellow", "missing": "red"}
# Kernel features (cluster.doctor.FEATURES) each fault needs; faults not listed need none.
FAULT_FEATURES: dict[str, set[str]] = {
    "partition": {"tcp-reset"},  # and conntrack, but only to flush flows early: never required
    "packet-loss": {"statistic"},
    "bandwidth": {"tbf"},
    "netem": {"netem"},
}
ISOLATING_FAULTS = ("broker", "db")  # their `isolate` mode cuts links like a partition


def fault_features(fault: str, options: dict[str, Any] | None) -> set[str]:
    """Features one fault needs; options None means any options (a chaos draw)."""
    if fault in ISOLATING_FAULTS and (options is None or options.get("mode") == "isolate"):
        return set(FAULT_FEATURES["partition"])
    return set(FAULT_FEATURES.get(fault, ()))


def _chaos_default_exclude() -> tuple[str, ...]:
    from nemesis.schedule import Schedule

    return tuple(inspect.signature(Schedule).parameters["exclude"].default)  # netem: not every kernel has it


def nemesis_features(nemesis: dict[str, Any], all_faults: Iterable[str],
                     chaos_exclude: tuple[str, ...]) -> set[str]:
    """Features a spec's nemesis section needs (chaos: every fault kind it may draw)."""
    faults = nemesis.get("faults") or []
    needed: set[str] = set()
    for item in [faults] if isinstance(faults, str) else faults:
        name = item if isinstance(item, str) else item.get("fault", "")
        options = {} if isinstance(item, str) else (item.get("options") or {})
        if name == "chaos":
            exclude = tuple(options.get("exclude", chaos_exclude))
            for kind in all_faults:
                if kind not in exclude:
                    needed |= fault_features(kind, None)
        else:
            needed |= fault_features(name, options)
    return needed


def builtin_needs() -> tuple[set[str], list[str], list[str]]:
    """Kernel features the built-in specs need, the specs' names, and one error line per spec that fails."""
    from cluster.errors import LabError
    from lab.spec import builtin_names, load_spec
    from nemesis.base import FAULTS

    names, errors = builtin_names(), []
    exclude = _chaos_default_exclude()
    needed: set[str] = set()
    for name in names:
        try:
            needed |= nemesis_features(load_spec(name).nemesis, FAULTS, exclude)
        except LabError as exc:
            errors.append(str(exc))
    return needed, names, errors


def check_specs(names: list[str], errors: list[str]) -> CheckResult:
    from cluster.doctor import REINSTALL, missing, ok
    from lab.spec import SPECS_DIR

    if not names:
        return missing("built-in specs", f"none in {SPECS_DIR}", REINSTALL)
    if errors:
        return missing("built-in specs", "; ".join(errors), REINSTALL)
    return ok("built-in specs", f"{len(names)} in {SPECS_DIR}")


def doctor_table(results: list[CheckResult]) -> Table:
    table = Table(title="mistral-lab doctor", title_justify="left", show_lines=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("found")
    table.add_column("how to fix")
    for result in results:
        status = result.status.value
        table.add_row(result.check, f"[{STYLES[status]}]{status}[/]", result.found, result.fix or "-")
    return table


def verdict(results: list[CheckResult]) -> str:
    from cluster.doctor import exit_code

    if exit_code(results):
        return "[red]not ready[/]: fix the rows whose status is missing, then run `mistral-lab doctor` again"
    return "[green]ready[/]: a run can work on this machine"


def doctor() -> None:
    """Check every prerequisite of a run (Docker, Compose, base image, disk, kernel features) and say how to
    fix what is missing. Exit 0 when a run can work, 3 otherwise."""
    from cluster.doctor import exit_code, real_host, run_checks

    needed, names, errors = builtin_needs()
    results = run_checks(real_host(), needed, lab_rows=[check_specs(names, errors)])
    out.print(doctor_table(results))
    out.print(verdict(results))
    raise typer.Exit(exit_code(results))


def register(app: typer.Typer) -> None:
    app.command()(doctor)
