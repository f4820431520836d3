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


def replay_all(ids: list[str], tries: int, store: Path, as_json: bool = False, mistral_version: str | None = None,
               mistral_src: Path | None = None, record: bool = False,
               run_fn: Callable[[Any, Path], Any] | None = None, directory: Path | None = None,
               fresh: bool = False) -> int:
    """Replay each selected finding: `tries` conclusive tries asked, inconclusive ones replaced up to the cap;
    print a table (or JSON lines). Exit 0 when every finding reproduces at its min_rate, 1 when one is below it,
    2 when one is inconclusive and none is below. Tries share one warm lab per topology, reset between them
    (lab.warm), unless `fresh`. `run_fn` is injectable so tests need no Docker."""
    from lab.warm import WarmLabs

    with WarmLabs("findings", fresh=fresh, say=_say) as warm:
        return _replay_all(ids, tries, store, as_json, mistral_version, mistral_src, record, run_fn or warm.run,
                           directory)


def _replay_all(ids: list[str], tries: int, store: Path, as_json: bool, mistral_version: str | None,
                mistral_src: Path | None, record: bool, run_fn: Callable[[Any, Path], Any],
                directory: Path | None) -> int:
    from lab.findings.catalogue import load_catalogue
    from lab.findings.replay import CAP_TEXT, extra_attempts, finding_spec, record_replay, replay_finding

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
    replays = []
    for finding in catalogue:
        _say(f"{finding.id}: {tries} tries asked from seed {finding.seed}; {CAP_TEXT} "
             f"(cap {tries + extra_attempts(tries)} attempts)")
        replay = replay_finding(finding, tries, run_fn, store, mistral_version, mistral_src,
                                on_try=_say_try)
        replays.append(replay)
        # Only a conclusive replay of the catalogued version may update the catalogue.
        if record and mistral_src is None and mistral_version in (None, finding.mistral_version):
            _say(f"{finding.id}: recorded in {finding.path.name}" if record_replay(replay) else
                 f"{finding.id}: inconclusive, nothing recorded in {finding.path.name}")
        if any(t.interrupted for t in replay.tries):
            break
    patched = mistral_src is not None
    if as_json:
        for replay in replays:
            print(json.dumps(replay.to_json(patched), default=str))
    else:
        _table(replays, patched, mistral_version, mistral_src)
    return exit_code(replays, len(catalogue))


def exit_code(replays: list, selected: int) -> int:
    """1 when a finding is below its min_rate; else 2 when one is inconclusive (or was never replayed after a
    Ctrl-C); else 0."""
    codes = [r.exit_code for r in replays] + [2] * (selected - len(replays))
    return 1 if 1 in codes else 2 if 2 in codes else 0


def _say(text: str) -> None:
    err.print(f"[findings] {text}", markup=False, highlight=False, soft_wrap=True)


def _say_try(finding, one) -> None:
    why = one.why_inconclusive()
    what = ("reproduced" if one.matched else "no match") if why is None else \
        f"{'matched but ' if one.matched else ''}inconclusive ({why}): not counted"
    _say(f"{finding.id} seed {one.seed}: {what} ({one.run_dir})")


def _table(replays: list, patched: bool, version: str | None, src: Path | None) -> None:
    from lab.findings.catalogue import FIRM_BASIS_TRIES
    from lab.findings.replay import CAP_TEXT, GONE, INCONCLUSIVE, REPRODUCES

    against = f"Mistral source {src}" if src else f"Mistral {version}" if version else "the catalogued versions"
    show = lambda text: out.print(text, highlight=False, soft_wrap=True)  # noqa: E731
    show(f"findings replayed against {escape(against)}; a try counts when its faults gate passed and it reached "
         f"a verdict; {CAP_TEXT}:")
    show(f"{'finding':<42} {'asked':>5} {'conclusive':>10} {'inconclusive':>12} {'reproduced':>10} "
         f"{'required':>8}  status")
    for replay in replays:
        status = replay.status(patched)
        colour = {REPRODUCES: "green", GONE: "green", INCONCLUSIVE: "yellow"}.get(status, "red")
        basis = replay.finding.min_rate_basis
        show(f"{escape(replay.finding.id):<42} {replay.asked:>5} {len(replay.counted):>10} {replay.inconclusive:>12} "
             f"{replay.reproduced:>10} {replay.required:>8}  [{colour}]{status}[/]"
             + (f" (provisional: min_rate from {basis.tries} tries)" if replay.finding.provisional else ""))
        counts = ", ".join(f"{c} {n}" for c, n in replay.anomaly_counts.items()) or "none"
        show(f"    {escape(replay.rule(patched))}; anomalies in the conclusive tries: {escape(counts)}")
    if any(r.finding.provisional for r in replays):
        show(f"provisional: min_rate was fixed from fewer than {FIRM_BASIS_TRIES} tries (min_rate_basis); it stands "
             "until a replay of at least that many fixes it (findings/README.md)")


def findings(
    ids: Optional[list[str]] = typer.Argument(None, help="Finding ids (default: every finding in findings/)."),
    tries: Optional[int] = typer.Option(None, "--tries", help="Tries asked per finding (default 3), on one warm "
                                        "lab reset between tries (--fresh: a new cluster each); every rate is "
                                        "over them. A try counts when its faults gate passed and it reached a "
                                        "verdict; an inconclusive one is replaced, at most N extra attempts; fewer "
                                        "than N conclusive is inconclusive (exit 2)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per finding per line."),
    mistral_version: Optional[str] = typer.Option(None, "--mistral-version",
                                                  help="Replay against this Mistral release (default: each finding's)."),
    mistral_src: Optional[Path] = typer.Option(None, "--mistral-src",
                                               help="Replay against a local Mistral tree (a patch): gone or still there."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="Run store directory."),
    record: bool = typer.Option(False, "--record",
                                help="Write tries (asked) and reproduced back into each findings/<id>.yaml; an "
                                     "inconclusive replay records nothing."),
    fresh: bool = typer.Option(False, "--fresh", help="A new cluster for every try instead of a reset warm lab."),
    versions: Optional[str] = typer.Option(None, "--versions", help="The release matrix: replay on each column "
                                           "of a comma-separated list, VERSION or VERSION+kombu (adds "
                                           "DEFAULT.rpc_implementation=kombu), e.g. 20.2.0,20.2.0+kombu,23.0.0; "
                                           "versions.json and versions.html in --out."),
    out: Optional[Path] = typer.Option(None, "--out", help="With --versions: the matrix's directory (default "
                                       "STORE/versions/<time>)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Go on with the matrix in DIR: cells already in "
                                          "its versions.json are skipped (its columns and findings unless given)."),
) -> None:
    """Replay catalogued defects: try 1 uses the finding's seed, try k seed + k - 1.

    Exit 0 when every finding reproduces in at least its min_rate of the tries asked (2 of 3 by default), 1 when
    one is below its min_rate, 2 when one is inconclusive (fewer conclusive tries than asked at the cap).

    With --versions (or --resume) a matrix finding x release, one cell each, written after every cell: exit 0
    when every cell has a rate (reproduces, below min_rate, gone), 2 when one is inconclusive or cannot run,
    130 when stopped by Ctrl-C (--resume DIR goes on), 3 for bad input."""
    if versions is not None or resume is not None or out is not None:
        raise typer.Exit(_matrix(list(ids or []), versions, tries, out, resume, store, fresh,
                                 (mistral_version, mistral_src, record, as_json)))
    code = replay_all(list(ids or []), 3 if tries is None else tries, store, as_json, mistral_version, mistral_src,
                      record, fresh=fresh)
    raise typer.Exit(code)


def _matrix(ids: list[str], versions: str | None, tries: int | None, out: Path | None, resume: Path | None,
            store: Path, fresh: bool, refused: tuple) -> int:
    """The release matrix (lab.cli.findings_versions); `refused` are the replay-only flags, which it rejects."""
    import shlex
    import sys

    from lab.cli.findings_versions import make_matrix, matrix_conflicts

    matrix_conflicts(*refused)
    command = "mistral-lab findings " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    return make_matrix(ids, versions, tries, out, resume, store, fresh, command=command.strip())


def findings_bundles(
    ids: Optional[list[str]] = typer.Argument(None, help="Finding ids (default: every finding)."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="Run store directory."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Directory for the bundles (default STORE/findings)."),
) -> None:
    """One scrubbed tar.gz per finding, from the newest stored run of its spec that shows it.

    Exit 1 when some finding has no such run (replay it first: `mistral-lab findings ID`)."""
    from lab.bundle import make_bundle
    from lab.findings.catalogue import load_catalogue
    from lab.findings.replay import latest_matching_run

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
