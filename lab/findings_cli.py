"""`mistral-lab findings`: replay the catalogued defects (findings/) and say whether each still reproduces;
`mistral-lab findings-bundles`: one bug-report tar.gz per finding from its newest reproducing run."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape

from cluster.errors import LabError
from lab.store import DEFAULT_STORE

out = Console()
err = Console(stderr=True)


def _default_run(spec, store: Path) -> Any:
    from lab.run import run_test

    return run_test(spec, store)  # a fresh cluster per try: run_test brings one up and takes it down


def status_of(replay, patched: bool) -> str:
    if not replay.counted:  # every try crashed, was cut short or exercised nothing
        return "INCONCLUSIVE"
    if patched:  # against a patched Mistral the question is whether the defect is gone
        return "still there" if replay.reproduced else "gone"
    return "reproduces" if replay.ok else "NOT REPRODUCED"


def replay_all(ids: list[str], tries: int, store: Path, as_json: bool = False, mistral_version: str | None = None,
               mistral_src: Path | None = None, record: bool = False,
               run_fn: Callable[[Any, Path], Any] | None = None, directory: Path | None = None) -> int:
    """Replay each selected finding `tries` times; print a table (or JSON lines); 0 when every finding
    reproduces at its min_rate, 1 otherwise. `run_fn` is injectable so tests need no Docker."""
    from lab.findings import finding_spec, load_catalogue, record_replay, replay_finding

    if tries < 1:
        raise LabError(f"--tries {tries}: must be at least 1")
    if mistral_version is not None and mistral_src is not None:
        raise LabError("give either --mistral-version or --mistral-src, not both")
    if mistral_src is not None and not mistral_src.is_dir():
        raise LabError(f"--mistral-src {mistral_src}: not a directory")
    catalogue = load_catalogue(directory, ids)
    if not catalogue:
        raise LabError(f"no findings in {directory or 'the catalogue'}")
    for finding in catalogue:  # every spec validated before the first cluster starts
        finding_spec(finding, finding.seed, mistral_version, mistral_src)
    run = run_fn or _default_run
    replays = []
    for finding in catalogue:
        err.print(f"[findings] {finding.id}: {tries} tries from seed {finding.seed}", markup=False, highlight=False,
                  soft_wrap=True)
        replay = replay_finding(finding, tries, run, store, mistral_version, mistral_src, on_try=_say_try)
        replays.append(replay)
        # Only a replay of the catalogued version may update the catalogue.
        if record and mistral_src is None and mistral_version in (None, finding.mistral_version):
            record_replay(replay)
        if any(t.interrupted for t in replay.tries):
            break
    patched = mistral_src is not None
    if as_json:
        for replay in replays:
            print(json.dumps(replay.to_json(status_of(replay, patched)), default=str))
    else:
        _table(replays, patched, mistral_version, mistral_src)
    complete = len(replays) == len(catalogue)
    return 0 if complete and all(r.ok for r in replays) else 1


def _say_try(finding, one) -> None:
    what = "matched" if one.matched else "no match" if one.conclusive else \
        f"inconclusive (verdict {one.valid}), not counted"
    extra = f"; lab failure: {one.lab_error}" if one.lab_error else ""
    err.print(f"[findings] {finding.id} seed {one.seed}: {what} ({one.run_dir}){extra}", markup=False,
              highlight=False, soft_wrap=True)


def _table(replays: list, patched: bool, version: str | None, src: Path | None) -> None:
    against = f"Mistral source {src}" if src else f"Mistral {version}" if version else "the catalogued versions"
    out.print(f"findings replayed against {escape(against)}:", highlight=False, soft_wrap=True)
    out.print(f"{'finding':<44} {'class':<18} {'reproduced':<12} {'status':<15} anomalies", highlight=False,
              soft_wrap=True)
    for replay in replays:
        counts = ", ".join(f"{c} {n}" for c, n in replay.anomaly_counts.items()) or "none"
        status = status_of(replay, patched)
        colour = "green" if status in ("reproduces", "gone") else "red"
        note = f" ({replay.inconclusive} inconclusive tries not counted)" if replay.inconclusive else ""
        out.print(f"{escape(replay.finding.id):<44} {replay.finding.cls:<18} "
                  f"{replay.reproduced} of {len(replay.counted):<7} [{colour}]{status:<15}[/] {escape(counts)}{note}",
                  highlight=False, soft_wrap=True)


def findings(
    ids: Optional[list[str]] = typer.Argument(None, help="Finding ids (default: every finding in findings/)."),
    tries: int = typer.Option(3, "--tries", help="Runs per finding, each on a fresh cluster."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per finding per line."),
    mistral_version: Optional[str] = typer.Option(None, "--mistral-version",
                                                  help="Replay against this Mistral release (default: each finding's)."),
    mistral_src: Optional[Path] = typer.Option(None, "--mistral-src",
                                               help="Replay against a local Mistral tree (a patch): gone or still there."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="Run store directory."),
    record: bool = typer.Option(False, "--record",
                                help="Write tries and reproduced back into each findings/<id>.yaml."),
) -> None:
    """Replay catalogued defects: try 1 uses the finding's seed, try k seed + k - 1.

    Exit 0 when every finding reproduces in at least its min_rate of the tries (2 of 3 by default), else 1."""
    code = replay_all(list(ids or []), tries, store, as_json, mistral_version, mistral_src, record)
    raise typer.Exit(code)


def findings_bundles(
    ids: Optional[list[str]] = typer.Argument(None, help="Finding ids (default: every finding)."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="Run store directory."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Directory for the bundles (default STORE/findings)."),
) -> None:
    """One scrubbed tar.gz per finding, from the newest stored run of its spec that shows it.

    Exit 1 when some finding has no such run (replay it first: `mistral-lab findings ID`)."""
    from lab.bundle import make_bundle
    from lab.findings import latest_matching_run, load_catalogue

    target = out_dir or store / "findings"
    target.mkdir(parents=True, exist_ok=True)
    missing = 0
    for finding in load_catalogue(None, list(ids or [])):
        run_dir = latest_matching_run(finding, store)
        if run_dir is None:
            missing += 1
            out.print(f"{finding.id}: no stored run shows it in {store}", markup=False, highlight=False, soft_wrap=True)
            continue
        bundle = make_bundle(run_dir, target / f"{finding.id}.tar.gz")
        out.print(f"{finding.id}: {bundle} (from {run_dir})", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1 if missing else 0)


def register(app: typer.Typer) -> None:
    app.command("findings")(findings)
    app.command("findings-bundles")(findings_bundles)
