"""Every candidate fix at once: the catalogue's patches applied to one Mistral tree as a series (file-name order,
as `patch -p1`), and every catalogued finding replayed against that tree.

The question is issue 27's: does the series leave any catalogued finding reproducing? A finding is `gone` only
when every try asked was conclusive and none reproduced it; `still there` fails the check; anything else is
inconclusive. Each finding's outcome is kept in <store>/series-<digest>/series-<N>-tries.json as soon as its
replay ends, so a stopped check resumes where it stopped (same tree, same tries: the digest names the sdist and
the patches), and a check with other tries keeps its own record.

    python -m lab.findings.patch_series [ID ...] [--tries N] [--store DIR] [--strict] [--tree-only]
    (exit 0 every finding gone, 1 one still there, 2 one inconclusive)
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from cluster.errors import LabError
from cluster.paths import cache_dir
from lab.findings import patches as _patches
from lab.findings.patches import (DEFAULT_STORE, PATCHES_DIR, Outcome, Runner, build_tree, findings_command,
                                  others_text, read_outcome, run_streaming_stderr, settled)


def record_file(tries: int) -> str:
    """One record per tries asked: a check with other tries never overwrites another's outcomes."""
    return f"series-{tries}-tries.json"


# What shows a patch acted in a run: a line it writes to a Mistral node's log, by patch file. A finding gone with
# none of them in its runs may be gone because the fault missed the window, not because a repair ran. The two
# graceful-stop patches log only when their bound cut the work short: that line counts against them.
REPAIR_LINES = {
    "lost-start-task-leaves-execution-running.patch": {
        "IDLE task started again": "likely stuck in IDLE state because its start request was lost"},
    "run-action-lost-with-its-engine.patch": {
        "unclaimed action sent again": "was never claimed by an executor",
        "late run_action refused": "or was claimed by another executor, not running it"},
    "retry-duplicates-non-idempotent-action.patch": {"retry refused": "Not retried: action execution"},
    "executor-sigterm-abandons-actions.patch": {
        "executor stop cut short": "Executor stopped with actions still running after"},
    "lost-result-after-engine-scale-down.patch": {"engine stop cut short": "Engine server stopped while"},
}
START_SLACK_S = 5.0  # clocks of the host and the containers: as the log checker allows
MISTRAL_LOGS = ("api-*.log", "engine-*.log", "executor-*.log", "removed/*.log")  # removed: nodes a scale-down took


def series_patches(directory: Path | None = None) -> list[Path]:
    """findings/patches/*.patch in file-name order: the order they are applied in."""
    from lab.findings.catalogue import catalogue_dir

    found = sorted(((directory or catalogue_dir()) / PATCHES_DIR).glob("*.patch"))
    if not found:
        raise LabError(f"{(directory or catalogue_dir()) / PATCHES_DIR}: no patch to apply")
    return found


def series_version(directory: Path | None = None) -> str:
    """The one Mistral release every patched finding was catalogued on: a series is against one sdist."""
    from lab.findings.catalogue import load_catalogue

    versions = {f.mistral_version for f in load_catalogue(directory) if f.patch is not None}
    if len(versions) != 1:
        raise LabError(f"a patch series needs one Mistral release; the patched findings name {sorted(versions)}")
    return versions.pop()


def series_digest(archive: Path, patches: list[Path]) -> str:
    digest = hashlib.sha256(archive.read_bytes())
    for patch in patches:
        digest.update(b"\0" + patch.name.encode() + b"\0" + patch.read_bytes())
    return digest.hexdigest()[:12]


def series_tree(directory: Path | None = None, cache: Path | None = None,
                fetch: Callable[[str], Path] | None = None) -> Path:
    """The sdist unpacked with every patch applied in order; cached by the digest (made in a scratch folder,
    renamed into place), so the wheel and image built from it are built once."""
    version = series_version(directory)
    patches = series_patches(directory)
    archive = (fetch or (lambda v: _patches.fetch_sdist(v, cache)))(version)
    root = (cache or cache_dir()) / "patched" / f"series-{series_digest(archive, patches)}"
    return build_tree(archive, patches, root, version)


def tree_patches(tree: Path) -> list[str]:
    """The names of the patches a tree was made with, in order (build_tree's root/patches)."""
    listed = tree.parent / "patches"
    return listed.read_text().split() if listed.is_file() else []


# ---------------------------------------------------------------- the record that lets a check resume
def load_record(path: Path, tries: int) -> dict[str, Outcome]:
    """The outcomes already replayed with `tries` asked (a record made with other tries is not reused)."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if data.get("tries") != tries:
        return {}
    return {o["id"]: Outcome(**o) for o in data.get("outcomes", [])}


def save_record(path: Path, tree: Path, tries: int, outcomes: dict[str, Outcome]) -> None:
    data = {"tree": str(tree), "patches": tree_patches(tree), "tries": tries,
            "updated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "outcomes": [asdict(o) for o in outcomes.values()]}
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(scratch, path)


# ---------------------------------------------------------------- evidence
def repair_evidence(runs: list[str], patches: list[str]) -> dict[str, int]:
    """Per repair of the applied `patches` (file names), how many of `runs` show its log line. Only records from
    the run's own start on count: a container's log on a lab reset between tries holds the earlier tries too."""
    wanted = {label: text for name in patches for label, text in REPAIR_LINES.get(name, {}).items()}
    seen = dict.fromkeys(wanted, 0)
    for run in runs:
        found = _lines_in_run(Path(run), set(wanted.values()))
        for label, line in wanted.items():
            seen[label] += line in found
    return seen


def _lines_in_run(run: Path, lines: set[str]) -> set[str]:
    """Which of `lines` a record of the run's Mistral logs holds, from its start (run.json's start_wall) on."""
    from checker.log_records import records
    from history.run_dir import RunFiles

    start = RunFiles.open(run).start_wall if (run / "run.json").exists() else 0.0
    found: set[str] = set()
    for log in (log for pattern in MISTRAL_LOGS for log in sorted((run / "logs").glob(pattern))):
        for record in records(log):
            if record.time is not None and record.time < start - START_SLACK_S:
                continue
            found |= {line for line in lines if line in record.header}
    return found


def evidence_text(outcome: Outcome, patches: list[str]) -> str:
    if not outcome.runs:
        return "runs not recorded"
    seen = {label: n for label, n in repair_evidence(outcome.runs, patches).items() if n}
    return ", ".join(f"{label} in {n} of {len(outcome.runs)} runs" for label, n in seen.items()) or "none"


# ---------------------------------------------------------------- judging
# "Gone" must be more than a defect that was rare anyway missing a few tries: the chance that the defect, unchanged,
# at its last unpatched rate, misses every patched try must be at most this. The rate is Laplace's estimate
# (reproduced + 1) / (tries + 2), so 3 of 3 unpatched is not taken for a certainty. Fixed on 2026-12-07 before the
# series' replays of the findings it decides were read.
MAX_MISS_CHANCE = 0.05


def miss_chance(baseline: tuple[int, int], tries: int) -> float:
    """(1 - rate) ** tries at the unpatched rate; 1.0 when the unpatched replay never showed the defect."""
    reproduced, asked = baseline
    if asked <= 0 or reproduced <= 0:
        return 1.0
    return (1 - (reproduced + 1) / (asked + 2)) ** tries


def gone_chance(o: Outcome, baseline: tuple[int, int]) -> float | None:
    """For a settled `gone`, the chance an unchanged defect would have missed every try; None otherwise."""
    return miss_chance(baseline, o.tries) if settled(o) and o.reproduced == 0 else None


def status_text(o: Outcome, baseline: tuple[int, int]) -> str:
    """The outcome's status, a `gone` with the chance that an unchanged defect would have missed every try."""
    chance = gone_chance(o, baseline)
    if chance is None:
        return o.status
    if chance > MAX_MISS_CHANCE:
        return f"gone, not shown (miss chance {chance:.0%})"
    return "gone (miss chance < 0.1%)" if chance < 0.001 else f"gone (miss chance {chance:.1%})"


def judge_series(outcomes: list[Outcome], strict: bool = False,
                 baselines: dict[str, tuple[int, int]] | None = None) -> tuple[int, list[str], list[str]]:
    """(exit code, reasons, notes): 1 when a finding is still there, else 2 when one is not settled or its
    `gone` is not shown (see MAX_MISS_CHANCE; `baselines` maps a finding to its unpatched (reproduced, tries)),
    else 0. Uncatalogued defects in the patched runs are notes (a patch may cause one, or it may be there
    unpatched too); `strict` makes them reasons."""
    still = [f"{o.id}: still there ({o.reproduced} of {o.tries} asked tries)" for o in outcomes
             if settled(o) and o.reproduced > 0]
    open_ = [f"{o.id}: inconclusive ({o.conclusive} of {o.tries} asked tries conclusive)" for o in outcomes
             if not settled(o)]
    for o in outcomes:
        chance = gone_chance(o, (baselines or {}).get(o.id, (0, 0)))
        if chance is not None and chance > MAX_MISS_CHANCE:
            open_.append(f"{o.id}: gone, not shown: unchanged at its unpatched rate it would miss all {o.tries} "
                         f"tries with chance {chance:.0%} (at most {MAX_MISS_CHANCE:.0%} shows it)")
    notes = [f"{o.id}: its runs show {others_text(o)}" for o in outcomes if o.other_findings or o.new_defects]
    if strict and notes:
        still, notes = still + notes, []
    if still:
        return 1, still + open_, notes
    return (2 if open_ else 0), open_, notes


def check_series(ids: list[str], tries: int = 5, store: Path = DEFAULT_STORE, directory: Path | None = None,
                 runner: Runner = run_streaming_stderr, say: Callable[[str], None] = print,
                 strict: bool = False, tree: Path | None = None) -> int:
    """Replay each finding (all, or `ids`) against the series tree, one `mistral-lab findings` each, skipping
    those the record already holds; print the table and return judge_series's code."""
    from lab.findings.catalogue import load_catalogue

    if tries < 1:
        raise LabError(f"--tries {tries}: must be at least 1")
    findings = load_catalogue(directory, ids)
    tree = tree or series_tree(directory)
    folder = store / tree.parent.name
    folder.mkdir(parents=True, exist_ok=True)
    record_path = folder / record_file(tries)
    outcomes = load_record(record_path, tries)
    say(f"series tree: {tree} ({len(outcomes)} of {len(findings)} findings already replayed, {record_path})")
    for finding in findings:
        if finding.id in outcomes:
            continue
        cmd = findings_command([finding.id], tree, tries, folder)
        say("replaying: " + " ".join(cmd))
        proc = runner(cmd)
        lines = [json.loads(text) for text in (proc.stdout or "").splitlines() if text.strip().startswith("{")]
        if not lines:
            say(f"{finding.id}: `mistral-lab findings` printed no result (exit {proc.returncode}): not recorded")
            continue  # not saved: the next check replays it
        outcomes[finding.id] = read_outcome(lines[0])
        save_record(record_path, tree, tries, outcomes)
    return _report(findings, outcomes, tries, strict, say, tree_patches(tree))


def _report(findings: list, outcomes: dict[str, Outcome], tries: int, strict: bool,
            say: Callable[[str], None], applied: list[str]) -> int:
    say(f"{'finding':<44} {'unpatched':<12} {'with the series':<24} {'status':<13} other findings / defects")
    shown = []
    for finding in findings:
        o = outcomes.get(finding.id) or Outcome(finding.id, "not replayed", 0, tries)
        shown.append(o)
        figures = f"{o.reproduced} of {o.tries} ({o.conclusive} concl.)"
        status = status_text(o, (finding.reproduced, finding.tries))
        say(f"{o.id:<44} {finding.reproduced} of {finding.tries:<7} {figures:<24} {status:<13} {others_text(o)}")
        if o.runs:
            say(f"    repairs logged: {evidence_text(o, applied)}")
    code, reasons, notes = judge_series(shown, strict, {f.id: (f.reproduced, f.tries) for f in findings})
    say("patch series: " + {0: "PASS", 1: "FAIL", 2: "INCONCLUSIVE"}[code] + "".join(f"\n  {r}" for r in reasons))
    if notes:
        say("not judged (an unpatched replay of the same seeds tells whether the series caused them):"
            + "".join(f"\n  {n}" for n in notes))
    return code


def series_markdown(record_path: Path, directory: Path | None = None) -> str:
    """docs/patches.md's table from a series record: per finding its patch, the catalogue's unpatched figures,
    the series replay's and its status; a finding the record lacks says `not replayed`."""
    from lab.findings.catalogue import load_catalogue

    data = json.loads(record_path.read_text())
    outcomes = {o["id"]: Outcome(**o) for o in data.get("outcomes", [])}
    lines = [f"Series of {len(data.get('patches', []))} patches ({', '.join(data.get('patches', []))}), "
             f"{data.get('tries')} tries asked per finding, record updated {data.get('updated')}.", "",
             "| finding | its patch | unpatched (catalogue) | with the series | status | repairs logged in its runs "
             "| other defects in its runs |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for finding in load_catalogue(directory):
        o = outcomes.get(finding.id)
        patch = f"`{finding.patch.name}`" if finding.patch else "none"
        figures = f"{o.reproduced} of {o.tries} ({o.conclusive} conclusive)" if o else "-"
        repairs = evidence_text(o, data.get("patches", [])) if o else "-"
        lines.append(f"| `{finding.id}` | {patch} | {finding.reproduced} of {finding.tries} | {figures} | "
                     f"{status_text(o, (finding.reproduced, finding.tries)) if o else 'not replayed'} | {repairs} | "
                     f"{others_text(o) if o else '-'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.findings.patch_series", description=__doc__.split("\n\n")[0])
    parser.add_argument("ids", nargs="*", metavar="ID", help="findings to replay (default: every one)")
    parser.add_argument("--tries", type=int, default=5, help="tries asked per finding (default 5)")
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help="run store (default store/patch-check)")
    parser.add_argument("--strict", action="store_true", help="also fail on other defects in the patched runs")
    parser.add_argument("--tree-only", action="store_true", help="print the series tree's path and stop")
    parser.add_argument("--markdown", type=Path, metavar="SERIES_JSON",
                        help="print docs/patches.md's table from a series record and stop")
    args = parser.parse_args(argv)
    try:
        if args.markdown is not None:
            print(series_markdown(args.markdown))
            return 0
        if args.tree_only:
            print(series_tree())
            return 0
        return check_series(args.ids, args.tries, args.store, strict=args.strict)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
