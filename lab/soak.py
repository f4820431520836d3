"""`mistral-lab soak`: seeded random tests, one after another, until the duration ends.

Carries on after failures and writes store/soak-summary.json and .html with each run's known findings and new
defects. A run with known defects only passes unless --strict, but no run with a defect is ever deleted: failing
runs are kept whole, passing runs with known defects are kept compacted (logs/ dropped: results.json, history,
witness, snapshot, run.json, test.yaml and report.html stay), and only passing runs without a defect are pruned
to save disk. Ctrl-C ends the soak after healing the current run.
"""
from __future__ import annotations

import html
import json
import random
import re
import shutil
import time
from pathlib import Path
from typing import Callable

from rich.console import Console

from cluster.errors import LabError
from lab.findings.replay import read_results
from lab.spec import TestSpec, apply_overrides, load_spec, with_mistral_source

console = Console(stderr=True)
UNITS = {"s": 1, "m": 60, "h": 3600}
DROPPED_WHEN_COMPACT = ("logs",)  # the node logs: most of a run's size, and not needed to re-check it


def parse_duration(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match or float(match[1]) <= 0:
        raise LabError(f"--duration {text!r}: expected a positive number with s, m or h (e.g. 90m, 8h)")
    return float(match[1]) * UNITS[match[2] or "s"]


def soak_loop(duration_s: float, tests: list[str], seed: int, store: Path, time_limit: float | None,
              strict: bool = False, fresh: bool = False, mistral_version: str | None = None,
              mistral_src: Path | None = None) -> list[dict]:
    """Runs until the deadline; returns the failed runs. A run passes on its verdict after the catalogue (known
    defects alone pass, unless `strict`), the same rule as `mistral-lab run`. Runs share a warm lab per
    topology, reset between runs (lab.warm), unless `fresh`. `mistral_version` or `mistral_src` replaces every
    spec's Mistral (the hunt on another release, or on a change)."""
    from lab.warm import WarmLabs

    with WarmLabs(f"soak-{seed}", fresh=fresh, say=lambda line: console.print(f"soak: {line}", highlight=False)) \
            as warm:
        return _soak_loop(duration_s, tests, seed, store, time_limit, strict, warm.run,
                          lambda spec: with_mistral(spec, mistral_version, mistral_src))


def with_mistral(spec: TestSpec, mistral_version: str | None, mistral_src: Path | None) -> TestSpec:
    if mistral_version is not None and mistral_src is not None:
        raise LabError("give either --mistral-version or --mistral-src, not both")
    spec.mistral_version = mistral_version or spec.mistral_version
    return with_mistral_source(spec, mistral_src)


def _soak_loop(duration_s: float, tests: list[str], seed: int, store: Path, time_limit: float | None,
               strict: bool, run_test, mistral: Callable[[TestSpec], TestSpec] = lambda spec: spec) -> list[dict]:
    # Every test validated before the first run, with the time limit it will run at (a limit too short for its
    # faults is one LabError line now, not a crash mid-soak).
    specs = {name: mistral(apply_overrides(load_spec(name), time_limit=time_limit)) for name in tests}
    rng = random.Random(seed)
    deadline = time.monotonic() + duration_s
    runs: list[dict] = []
    try:
        while time.monotonic() < deadline:
            name = rng.choice(tests)
            spec = apply_overrides(specs[name], time_limit=time_limit, seed=rng.getrandbits(31))
            console.print(f"soak run {len(runs) + 1}: {name} seed {spec.seed}")
            try:
                outcome = run_test(spec, store, lab_name=f"soak-{seed}", live=False)
                entry = {"test": name, "seed": spec.seed, "valid": outcome.valid, "verdict": outcome.verdict(strict),
                         "run_dir": str(outcome.run_dir), "interrupted": outcome.interrupted,
                         "lab_error": outcome.lab_error, "known": [k["id"] for k in outcome.known],
                         "new": len(outcome.new)}
            except LabError as exc:
                entry = {"test": name, "seed": spec.seed, "valid": "lab-error", "verdict": "lab-error",
                         "run_dir": None, "lab_error": str(exc), "known": [], "new": 0}
            runs.append(entry)
            console.print(f"soak run {len(runs)}: verdict {entry['verdict']}"
                          + "".join(f"; known: {k}" for k in entry["known"])
                          + (f"; NEW: {entry['new']} new defect(s)" if entry["new"] else ""), highlight=False)
            entry["kept"] = keep_or_prune(entry)
            if entry["kept"] == "compact":
                console.print(f"soak run {len(runs)}: kept (known defects), {'/, '.join(DROPPED_WHEN_COMPACT)}/ "
                              "dropped", highlight=False)
            write_summary(store, runs, seed, duration_s)
            if entry.get("interrupted"):
                break
    except KeyboardInterrupt:
        console.print("soak interrupted")
    console.print("soak: " + kept_line(write_summary(store, runs, seed, duration_s)), highlight=False)
    return [r for r in runs if _verdict(r) is not True]


def has_defect(entry: dict) -> bool:
    """A defect, known or new, in the run's entry or its stored results.json."""
    if entry.get("known") or entry.get("new"):
        return True
    return any(a.get("defect") for a in read_results(entry.get("run_dir")).get("anomalies") or [])


def keep_or_prune(entry: dict) -> str:
    """"full" for a failing run, "compact" for a passing run with a (known) defect, "pruned" for a passing run
    without one; "none" when there is no run directory."""
    run_dir = Path(entry["run_dir"]) if entry.get("run_dir") else None
    if run_dir is None or not run_dir.is_dir():
        return "none"
    if entry["verdict"] is not True:
        return "full"
    if has_defect(entry):  # a known defect is evidence for its finding's rate: never deleted
        for name in DROPPED_WHEN_COMPACT:
            shutil.rmtree(run_dir / name, ignore_errors=True)
        return "compact"
    shutil.rmtree(run_dir, ignore_errors=True)  # keep disk for the runs that showed something
    return "pruned"


def _verdict(run: dict) -> object:
    return run.get("verdict", run["valid"])


def write_summary(store: Path, runs: list[dict], seed: int, duration_s: float) -> dict:
    failed = [r for r in runs if _verdict(r) is not True]
    kept_known = [r for r in runs if r.get("kept") == "compact"]
    findings: dict[str, int] = {}
    for run in kept_known:
        for ident in run.get("known") or []:
            findings[ident] = findings.get(ident, 0) + 1
    summary = {"seed": seed, "duration_s": duration_s, "runs_total": len(runs), "runs_failed": len(failed),
               "runs_with_new_defects": sum(1 for r in runs if r.get("new")),
               "runs_with_known_only": sum(1 for r in runs if r.get("known") and not r.get("new")),
               "runs_kept_with_known_defects": len(kept_known), "kept_known_findings": dict(sorted(findings.items())),
               "runs": runs}
    store.mkdir(parents=True, exist_ok=True)
    (store / "soak-summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    rows = "".join(f"<tr><td>{html.escape(r['test'])}</td><td>{r['seed']}</td><td>{html.escape(str(r['valid']))}"
                   f"</td><td>{html.escape(', '.join(r.get('known') or []))}</td>"
                   f"<td>{'<b>NEW</b>: ' + str(r['new']) if r.get('new') else ''}</td>"
                   f"<td>{html.escape(str(r.get('run_dir') or r.get('lab_error') or ''))}"
                   f"{' (kept compacted: known defects)' if r.get('kept') == 'compact' else ''}</td></tr>"
                   for r in runs)
    (store / "soak-summary.html").write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>soak</title></head><body>"
        f"<h1>soak: {len(failed)} of {len(runs)} runs failed</h1><p>{html.escape(kept_line(summary))}</p>"
        f"<table border=1><tr><th>test</th><th>seed</th>"
        f"<th>valid</th><th>known</th><th>new defects</th><th>run</th></tr>{rows}</table></body></html>")
    return summary


def kept_line(summary: dict) -> str:
    found = ", ".join(f"{ident} x{n}" for ident, n in summary["kept_known_findings"].items()) or "none"
    return (f"{summary['runs_kept_with_known_defects']} passing run(s) kept with known defects "
            f"(compacted: {', '.join(DROPPED_WHEN_COMPACT)}/ dropped); findings: {found}")
