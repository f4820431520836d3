"""CLI for the scaling benchmark: `mistral-lab bench` and `mistral-lab bench-compare`.

This module is imported whenever the CLI is built (even for --help), so the benchmark itself (HTTP, Docker,
Mistral and workload modules) is imported inside the command that runs it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.table import Table

from lab.bench.report import (DEFAULT_NOISE_FLOOR, TABLE_HEADER, compare, host_lines, load_results,
                              markdown_table, notes, table_rows, write_report)
from cluster.errors import LabError
from cluster.topology import NAME_RE

if TYPE_CHECKING:
    from lab.bench.model import NemesisConfig

out = Console()


def bench(
    workflows: str = typer.Option("sequence,parallel", help="Comma-separated reference workflows: sequence, "
                                  "parallel, par-sequences, join, seq-join, with-items, complex."),
    n: int = typer.Option(5, "--n", help="Tasks per sequence / fan-out / with-items."),
    x: int = typer.Option(2, "--x", help="Parallel sequences (par-sequences, seq-join, complex)."),
    seconds: float = typer.Option(0.0, help="Seconds each action sleeps (0: measure Mistral alone)."),
    topologies: str = typer.Option("1x1x1,1x2x2", help="Comma-separated APISxENGINESxEXECUTORS."),
    concurrency: int = typer.Option(2, help="Client threads, each pinned round-robin to one API node."),
    repeat: int = typer.Option(3, help="Repeats per measurement (their spread is the noise bound)."),
    executions: int = typer.Option(6, help="Executions per repeat."),
    warmup: int = typer.Option(1, help="Uncounted executions before each measurement."),
    timeout: float = typer.Option(120.0, help="Seconds before an execution counts as stuck."),
    poll: float = typer.Option(0.2, help="Seconds between completion polls (the exec-time resolution)."),
    nemesis: str = typer.Option("none", help="A fault from the nemesis registry to repeat each measurement "
                                "under (kill, pause, stop, partition, ...), or none."),
    nemesis_target: Optional[str] = typer.Option(None, help="Fault target: node, role, random or random:<role>."),
    nemesis_option: list[str] = typer.Option([], help="Fault option key=value (repeatable)."),
    nemesis_interval: float = typer.Option(3.0, help="Quiet seconds before each injection."),
    nemesis_duration: float = typer.Option(5.0, help="Seconds each injection lasts before heal."),
    out_file: Path = typer.Option(Path("bench.json"), "--out", help="Result JSON; .html, .png and .md beside it."),
    name: Optional[str] = typer.Option(None, "--name", help="Cluster name (default bn-<random>)."),
    backend: str = typer.Option("compose", "--backend", help="compose or swarm (a single-node swarm here)."),
    hosts: Optional[Path] = typer.Option(None, "--hosts", help="swarm: hosts file of the other swarm nodes' "
                                         "DOCKER_HOSTs (see mistral-lab up --hosts)."),
    placement: str = typer.Option("spread", "--placement", help="swarm: spread, pack or labels."),
    mistral_src: Optional[Path] = typer.Option(None, help="Mistral source tree to build (a patch under test); "
                                               "compare with bench-compare against the release's bench.json."),
) -> None:
    """Benchmark reference workflows across topologies (one cluster, resized), optionally under a fault.

    Exit 0 when every fault-free measurement is valid, 1 when one is not, 3 on bad input.
    """
    from lab.bench.faults import check_nemesis
    from lab.bench.model import BenchParams, parse_topologies, parse_workflows
    from lab.progress import phase

    params = BenchParams(
        workflows=parse_workflows(workflows), topologies=parse_topologies(topologies), n=n, x=x, seconds=seconds,
        concurrency=concurrency, repeat=repeat, executions=executions, warmup=warmup, timeout_s=timeout,
        poll_s=poll, nemesis=_nemesis_config(nemesis, nemesis_target, nemesis_option, nemesis_interval,
                                             nemesis_duration)).validate()
    check_nemesis(params.nemesis)
    _validate_where(backend, hosts, name, out_file, mistral_src)
    from lab.bench.scaling import Bench  # after every offline check: bad input fails fast, without the Docker modules

    with phase("bench") as report:
        document = Bench(params, report, name, backend, str(hosts) if hosts else None, placement,
                         str(mistral_src) if mistral_src else None).run()
    out_file.write_text(json.dumps(document, indent=2) + "\n")
    html_path, png_path = write_report(document, out_file)
    out_file.with_suffix(".md").write_text(markdown_table(document) + "\n")
    _print_results(document)
    out.print(f"results: {out_file}  report: {html_path}  plot: {png_path}  table: {out_file.with_suffix('.md')}")
    if any(not e["valid"] for e in document["results"] if e["nemesis"] == "none"):
        raise typer.Exit(1)


def _validate_where(backend: str, hosts: Path | None, name: str | None, out_file: Path,
                    mistral_src: Path | None = None) -> None:
    """The cluster options and the output path, offline: a LabError before anything is started."""
    if backend not in ("compose", "swarm"):
        raise LabError(f"--backend {backend}: choose one of compose, swarm")
    if hosts is not None and backend != "swarm":
        raise LabError("--hosts needs --backend swarm")
    if hosts is not None and not hosts.is_file():
        raise LabError(f"--hosts {hosts}: no such file")
    if name is not None and not NAME_RE.match(name):
        raise LabError(f"invalid name {name!r}: use lowercase letters, digits, '-' or '_' (max 41)")
    if not out_file.parent.exists():
        raise LabError(f"--out {out_file}: directory {out_file.parent} does not exist")
    if mistral_src is not None and not mistral_src.is_dir():
        raise LabError(f"--mistral-src {mistral_src}: not a directory")


def _nemesis_config(name: str, target: str | None, options: list[str], interval: float,
                    duration: float) -> NemesisConfig:
    from lab.bench.model import NemesisConfig

    if name == "none":
        return NemesisConfig()
    from nemesis.base import parse_option_items

    return NemesisConfig(name=name, target=target, options=parse_option_items(options), interval_s=interval,
                         duration_s=duration)


# The console shows what fits 80 characters; the .md/.html files carry the full table.
CONSOLE_COLUMNS = (("workflow", "workflow"), ("topology", "topo"), ("nemesis", "fault"), ("valid", "ok"),
                   ("exec mean s", "mean s"), ("exec p95 s", "p95 s"), ("per-task mean s", "task s"),
                   ("tasks/s", "tasks/s"), ("CPU % lab / machine (of cores)", "CPU % lab/all"))


def _print_results(document: dict) -> None:
    cores = document["machine"]["cores"]
    table = Table(title=f"bench: Mistral {document.get('mistral_version')}, {cores} cores "
                        f"(CPU %: 100 = one core, * = CPU-bound)")
    faults = any(e["nemesis"] != "none" for e in document["results"])
    columns = [c for c in CONSOLE_COLUMNS if faults or c[0] != "nemesis"]  # no fault column without faults
    picked = [TABLE_HEADER.index(full) for full, _ in columns]
    for _, short in columns:
        table.add_column(short, no_wrap=True)
    for row in table_rows(document):
        cells = [row[i] for i in picked]
        cells[-1] = cells[-1].split(" (of")[0].replace(" / ", "/") + ("*" if "CPU-bound" in cells[-1] else "")
        table.add_row(*cells)
    out.print(table)
    for line in host_lines(document):
        out.print(f"by host: {line}", highlight=False, markup=False)
    for note in notes(document):
        out.print(f"[yellow]note:[/] {note}", highlight=False)


def bench_compare(
    baseline: Path = typer.Argument(..., help="Result JSON A (the reference)."),
    candidate: Path = typer.Argument(..., help="Result JSON B (compared against A)."),
    floor: float = typer.Option(DEFAULT_NOISE_FLOOR, help="Smallest relative difference ever flagged."),
) -> None:
    """Ratios B/A per (workflow, topology, nemesis); exit 1 when B regressed beyond the repeats' noise."""
    if not 0 <= floor < 10:
        raise LabError(f"--floor {floor}: must be a fraction between 0 and 10, e.g. 0.05")
    results = compare(load_results(baseline), load_results(candidate), floor)
    table = Table(title=f"bench-compare {baseline} -> {candidate} (tput = tasks/s; noise = exec/tput bounds)")
    for column in ("workflow", "topo", "fault", "exec B/A", "tput B/A", "noise ±", "verdict"):
        table.add_column(column, no_wrap=True)
    for c in results:
        bound = f"{c.exec_bound:.0%}/{c.tput_bound:.0%}" if c.exec_bound is not None else "-"
        colour = "red" if c.regression else "green" if c.status == "improvement" else ""
        table.add_row(*c.key, _ratio(c.exec_ratio), _ratio(c.tput_ratio), bound,
                      f"[{colour}]{c.status}[/]" if colour else c.status)
    out.print(table)
    regressions = [c for c in results if c.regression]
    if regressions:
        out.print(f"[red]{len(regressions)} regression(s) beyond the noise bound[/]")
        raise typer.Exit(1)
    out.print("no regression beyond the noise bound")


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def register(app: typer.Typer) -> None:
    app.command()(bench)
    app.command("bench-compare")(bench_compare)
