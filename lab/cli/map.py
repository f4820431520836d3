"""`mistral-lab map`: the protocol map, every Mistral RPC method under every message fault (lab.map).

Docker and the map's modules are imported inside the command, so `mistral-lab --help` stays fast."""
from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape

from cluster.errors import LabError
from lab.store import DEFAULT_STORE

err = Console(stderr=True)


def _say(line: str) -> None:
    err.print(f"\\[map] {escape(line)}", highlight=False, soft_wrap=True)


def _out_dir(out: Path | None, resume: Path | None, store: Path) -> Path:
    if resume is not None:
        if out is not None and Path(out).resolve() != Path(resume).resolve():
            raise LabError("give either --out (a new map) or --resume DIR (go on with the map in DIR), not both")
        return Path(resume)
    if out is not None:
        if (Path(out) / "map.json").exists():
            raise LabError(f"--out {out} already holds a map.json: --resume {out} goes on with it")
        return Path(out)
    return store / "maps" / time.strftime("%Y%m%dT%H%M%S")


def make_map(methods: str | None, sides: str | None, actions: str | None, quick: bool, settings: dict[str, Any],
             out: Path | None, resume: Path | None, store: Path, fresh: bool = False,
             run_fn: Callable[[Any, Path], Any] | None = None, command: str = "mistral-lab map") -> int:
    """Check every input, then run the selected cells (through warm labs unless `run_fn` is given, as tests
    do) and return the exit code; every bad input is a LabError before anything starts."""
    from lab.map.cells import select_cells
    from lab.map.run import Settings, exit_code, load_map, new_map, resumed_settings, run_map
    from lab.store import check_writable

    cells = select_cells(methods, sides, actions, quick)
    out_dir = _out_dir(out, resume, store)
    if resume is not None:
        doc = load_map(out_dir)
        chosen = resumed_settings(doc, settings)
    else:
        chosen = Settings(**{k: v for k, v in settings.items() if v is not None})
        doc = new_map(chosen, command)
    chosen.check()
    check_writable(store)
    _say(f"{len(cells)} cell(s), {chosen.tries} tr{'y' if chosen.tries == 1 else 'ies'} each, base seed "
         f"{chosen.base_seed}; map in {out_dir}")
    if run_fn is not None:
        doc = run_map(cells, doc, out_dir, store, run_fn, _say)
    else:
        from lab.warm import WarmLabs

        with WarmLabs("map", fresh=fresh, say=_say) as warm:
            doc = run_map(cells, doc, out_dir, store, warm.run, _say)
    _say(f"map.json and map.html in {out_dir}" + (f"; {doc['stopped']}" if doc.get("stopped") else ""))
    return exit_code(doc, cells)


def map_command(
    version: Optional[str] = typer.Option(None, "--version", "--mistral-version",
                                          help="Mistral release from PyPI (default: the lab's, 23.0.0)."),
    mistral_src: Optional[Path] = typer.Option(None, "--mistral-src", help="A local Mistral tree instead."),
    methods: Optional[str] = typer.Option(None, "--methods", help="Comma-separated RPC methods (default: all)."),
    sides: Optional[str] = typer.Option(None, "--sides", help="receive, send (default: both)."),
    actions: Optional[str] = typer.Option(None, "--actions",
                                          help="drop, delay, duplicate, crash-after (default: all)."),
    tries: Optional[int] = typer.Option(None, "--tries", help="Seeded runs per cell (default 1); the cell shows "
                                        "the most severe class among its conclusive runs."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Base seed (default 1); each cell's seed derives "
                                       "from it and the cell's name."),
    quick: bool = typer.Option(False, "--quick", help="Only drop and crash-after on run_action, "
                               "on_action_complete, start_task and start_workflow (--methods / --actions replace "
                               "their half)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Directory for map.json and map.html (default "
                                       "STORE/maps/<time>)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Go on with the map in DIR: cells already in "
                                          "its map.json are skipped."),
    fresh: bool = typer.Option(False, "--fresh", help="A new cluster per cell instead of a reset warm lab."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="Run store for the cells' runs."),
) -> None:
    """Map what Mistral does when each RPC message is lost, late, doubled or followed by a crash.

    One short seeded run per cell (method x side x action), classified from the run's own judgement: no effect,
    designed degradation, HA gap, defect; not exercised or inconclusive when the run cannot say; cannot
    exercise where the lab cannot make Mistral send the method. Writes map.json after every cell and map.html.

    Exit 0 when every selected cell has an answer (defects included: the map is knowledge, not a pass), 2 when
    some are still not exercised or inconclusive, 130 when stopped by Ctrl-C (--resume DIR goes on), 3 for bad
    input."""
    settings = {"base_seed": seed, "tries": tries, "mistral_version": version,
                "mistral_src": str(mistral_src) if mistral_src is not None else None}
    command = "mistral-lab map " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    raise typer.Exit(make_map(methods, sides, actions, quick, settings, out, resume, store, fresh,
                              command=command.strip()))


def register(app: typer.Typer) -> None:
    app.command("map")(map_command)
