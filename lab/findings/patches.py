"""Candidate fixes to Mistral, checked against the findings they should remove: findings/patches/<id>.patch, or
the patch a finding's `patch:` field names (one patch serving several findings).

A patch is a unified diff against the sdist of the finding's `mistral_version`, applied with `patch -p1`
inside the unpacked mistral-<version>/ tree; `check_patch` replays the finding against the patched tree.
When a check passes, fails or is inconclusive: docs/findings.md#candidate-fixes-make-findings-patch-check.

    python -m lab.findings.patches ID [--also ID ...] [--tries N] [--store DIR] [--strict]   (exit 0 pass, 1 fail, 2 inconclusive)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cluster.errors import LabError
from cluster.paths import cache_dir

PATCHES_DIR = "patches"  # findings/patches/<id>.patch, beside the finding files
DEFAULT_STORE = Path("store") / "patch-check"  # patched runs kept apart: findings-bundles never picks one
COMPLETE = ".complete"


# ---------------------------------------------------------------- the sdist
def sdist_name(version: str) -> str:
    return f"mistral-{version}.tar.gz"


def fetch_sdist(version: str, cache: Path | None = None) -> Path:
    """mistral-<version>.tar.gz from the package index, fetched on the host (its pip trusts the host's CA, as
    for the wheels) into the cache once."""
    from cluster.wheels import pip_command as _pip, pip_failure  # docker-free callers (the unit tests) never need this

    folder = (cache or cache_dir()) / "sdists"
    archive = folder / sdist_name(version)
    if archive.is_file():
        return archive
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sdist-", dir=folder) as scratch:
        proc = subprocess.run(_pip("download", "--no-deps", "--no-binary", ":all:", "--dest", scratch,
                                   f"mistral=={version}"), capture_output=True, text=True)
        got = Path(scratch) / sdist_name(version)
        if proc.returncode != 0 or not got.is_file():
            raise LabError(pip_failure(version, proc.stderr or proc.stdout))
        os.replace(got, archive)  # atomic: a concurrent fetch never sees half a file
    return archive


def unpack_sdist(archive: Path, dest: Path) -> Path:
    """Unpack the sdist under `dest`; returns its one top folder (mistral-<version>/)."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            tops = {Path(m.name).parts[0] for m in tar.getmembers() if m.name not in ("", ".")}
            if len(tops) != 1:
                raise LabError(f"{archive}: an sdist has one top folder, found {len(tops)}")
            tar.extractall(dest, filter="data")  # no absolute paths, links out of dest or device files
    except (tarfile.TarError, OSError) as exc:
        raise LabError(f"{archive}: cannot unpack: {exc}") from None
    return dest / tops.pop()


# ---------------------------------------------------------------- patches
def patch_file(finding_id: str, directory: Path | None = None) -> Path:
    from lab.findings.catalogue import catalogue_dir

    return (directory or catalogue_dir()) / PATCHES_DIR / f"{finding_id}.patch"


def apply_patch(tree: Path, patch: Path) -> None:
    """Apply a unified diff with `patch -p1` inside `tree`: a dry run first, so a patch that does not apply
    leaves the tree untouched; its failure is one LabError line with patch's own words."""
    if not patch.is_file():
        raise LabError(f"{patch}: no such patch")
    if shutil.which("patch") is not None:
        steps = [["patch", "-p1", "--forward", "--batch", "--silent", *extra, "-d", str(tree), "-i",
                  str(patch.resolve())] for extra in (["--dry-run"], [])]
    elif shutil.which("git") is not None:  # git apply outside a repository works like patch -p1
        steps = [["git", "-C", str(tree), "apply", "-p1", *extra, str(patch.resolve())] for extra in (["--check"], [])]
    else:
        raise LabError("neither `patch` nor `git` is installed (apt-get install patch)")
    for step in steps:
        proc = subprocess.run(step, capture_output=True, text=True, env={**os.environ, "GIT_CEILING_DIRECTORIES":
                                                                          str(tree.resolve().parent)})
        if proc.returncode != 0:
            said = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:]) or f"exit {proc.returncode}"
            raise LabError(f"{patch.name} does not apply to {tree}: {said}")


def patched_tree(finding_id: str, directory: Path | None = None, cache: Path | None = None,
                 fetch: Callable[[str], Path] | None = None) -> Path:
    """The finding's Mistral sdist, unpacked and patched with findings/patches/<id>.patch.

    Kept under the cache by a hash of the sdist and the patch: the same inputs give the same path and the same
    bytes, so the wheel built from it and the Mistral image are built once (replays, tests and a second run
    reuse them) and a changed patch gets a tree of its own. Made in a scratch folder and renamed into place."""
    from lab.findings.catalogue import load_catalogue

    finding = load_catalogue(directory, [finding_id])[0]
    patch = finding.patch or patch_file(finding_id, directory)  # its own, or the one its `patch` field names
    if not patch.is_file():
        raise LabError(f"finding {finding_id!r} has no patch: {patch} does not exist")
    archive = (fetch or (lambda v: fetch_sdist(v, cache)))(finding.mistral_version)
    digest = hashlib.sha256(archive.read_bytes() + b"\0" + patch.read_bytes()).hexdigest()[:12]
    return build_tree(archive, [patch], (cache or cache_dir()) / "patched" / f"{finding_id}-{digest}",
                      finding.mistral_version)


def build_tree(archive: Path, patches: list[Path], root: Path, version: str) -> Path:
    """root/mistral-<version>: the sdist unpacked with `patches` applied in order (each all or nothing: the first
    that does not apply names itself), their names in root/patches. Made once, in a scratch folder renamed into
    place, so a concurrent maker never leaves half a tree; `root` must name its inputs (a digest)."""
    tree = root / f"mistral-{version}"
    if (root / COMPLETE).exists() and tree.is_dir():
        return tree
    root.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        made = unpack_sdist(archive, scratch)
        if made.name != tree.name:
            raise LabError(f"{archive}: unpacks to {made.name}/, expected {tree.name}/")
        for patch in patches:
            apply_patch(made, patch)
        (scratch / "patches").write_text("".join(f"{patch.name}\n" for patch in patches))
        (scratch / COMPLETE).touch()
        try:
            os.rename(scratch, root)
        except OSError:  # another process made it first (same inputs, same contents)
            if not (root / COMPLETE).exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return tree


# ---------------------------------------------------------------- the check
@dataclass
class Outcome:
    """One finding of a patch check: the replay's JSON line plus what its runs' results.json show."""

    id: str
    status: str
    reproduced: int
    tries: int  # asked
    conclusive: int = 0  # a line without this count proves nothing
    rule: str = ""
    other_findings: list[str] = field(default_factory=list)  # catalogued findings, other than this one, seen
    new_defects: list[str] = field(default_factory=list)     # "<class>/<kind>: <summary>" per uncatalogued defect
    runs: list[str] = field(default_factory=list)  # the replay's run directories, for evidence read later


def read_outcome(line: dict[str, Any]) -> Outcome:
    """An Outcome from one `mistral-lab findings --json` line, reading each run's results.json."""
    from lab.findings.replay import read_results

    outcome = Outcome(id=line["id"], status=str(line.get("status")), reproduced=int(line.get("reproduced", 0)),
                      tries=int(line.get("tries", 0)), conclusive=int(line.get("conclusive", 0)),
                      rule=str(line.get("rule") or ""))
    for run in line.get("runs") or []:
        if run.get("run_dir"):
            outcome.runs.append(str(run["run_dir"]))
        results = read_results(Path(run["run_dir"])) if run.get("run_dir") else {}
        for known in results.get("known_findings") or []:
            if known.get("id") != outcome.id and known.get("id") not in outcome.other_findings:
                outcome.other_findings.append(str(known.get("id")))
        for new in results.get("new_defects") or []:
            outcome.new_defects.append(f"{new.get('class')}/{new.get('kind')}: {new.get('summary')}")
    return outcome


def settled(outcome: Outcome) -> bool:
    """Every asked try was conclusive: only then may a replay say gone (or still there)."""
    return outcome.tries > 0 and outcome.conclusive >= outcome.tries and outcome.status in ("gone", "still there")


def judge(target: str, outcomes: list[Outcome], strict: bool = False) -> tuple[int, list[str], list[str]]:
    """(exit code, reasons, notes). 0 when `target` is gone; 1 when it is still there; 2 when its replay was
    inconclusive (fewer conclusive tries than asked). Other catalogued findings in its runs and uncatalogued
    defects in any patched run are notes: they may be there without the patch too, which only an unpatched
    replay of the same seeds tells (the check does not run one). With `strict` they fail the check as well."""
    mine = next((o for o in outcomes if o.id == target), None)
    if mine is None:
        return 2, [f"{target}: not replayed"], []
    if not settled(mine):
        return 2, [f"{target}: inconclusive ({mine.conclusive} of {mine.tries} asked tries conclusive)"], []
    reasons = [] if mine.status == "gone" and mine.reproduced == 0 else \
        [f"{target}: still there ({mine.reproduced} of {mine.tries} asked tries)"]
    notes = [f"{target}: its patched runs show another finding, {other}" for other in mine.other_findings]
    for outcome in outcomes:
        kinds: dict[str, int] = {}
        for defect in outcome.new_defects:
            kind = defect.split(":", 1)[0]
            kinds[kind] = kinds.get(kind, 0) + 1
        notes += [f"{outcome.id}: uncatalogued defect {kind} x{n} in its patched runs" for kind, n in kinds.items()]
        if outcome.id != target and not settled(outcome):
            notes.append(f"{outcome.id}: inconclusive")
    if strict:
        reasons, notes = reasons + notes, []
    return (1 if reasons else 0), reasons, notes


def others_text(outcome: Outcome) -> str:
    kinds: dict[str, int] = {}
    for defect in outcome.new_defects:
        kinds[defect.split(":", 1)[0]] = kinds.get(defect.split(":", 1)[0], 0) + 1
    return ", ".join(outcome.other_findings + [f"NEW {kind} x{n}" for kind, n in kinds.items()]) or "none"


def findings_command(ids: list[str], tree: Path, tries: int, store: Path | None) -> list[str]:
    """`mistral-lab findings ID... --mistral-src TREE --tries N --json` with this interpreter's mistral-lab."""
    here = Path(sys.executable).parent / "mistral-lab"
    lab = [str(here)] if here.exists() else [sys.executable, "-c", "from lab.cli import main; main()"]
    return [*lab, "findings", *ids, "--tries", str(tries), "--mistral-src", str(tree), "--json",
            *(["--store", str(store)] if store is not None else [])]


Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


def run_streaming_stderr(cmd: list[str]) -> "subprocess.CompletedProcess[str]":
    """Run the replay; its stderr (progress) goes to the terminal. On Ctrl-C the replay gets SIGINT and time to
    heal and take its cluster down (subprocess.run would kill it a quarter of a second later, leaving the lab)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = proc.communicate()
    except KeyboardInterrupt:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, None)


def check_patch(finding_id: str, also: list[str] = (), tries: int = 3, store: Path | None = None,
                directory: Path | None = None, runner: Runner = run_streaming_stderr,
                say: Callable[[str], None] = print, strict: bool = False) -> int:
    """Build the patched tree, replay the finding (and `also`) against it, print a table, return the verdict."""
    if tries < 1:
        raise LabError(f"--tries {tries}: must be at least 1")
    tree = patched_tree(finding_id, directory)
    say(f"patched tree: {tree}")
    outcomes = []
    for ident in [finding_id, *[i for i in dict.fromkeys(also) if i != finding_id]]:
        # One replay per finding: a lab failure in one (a name in use, say) leaves the others' results.
        cmd = findings_command([ident], tree, tries, store)
        say("replaying: " + " ".join(cmd))
        proc = runner(cmd)
        lines = [json.loads(text) for text in (proc.stdout or "").splitlines() if text.strip().startswith("{")]
        if not lines:
            say(f"{ident}: `mistral-lab findings` printed no result (exit {proc.returncode}): inconclusive")
        outcomes += [read_outcome(line) for line in lines] or [Outcome(ident, "inconclusive", 0, tries)]
    say(f"{'finding':<44} {'reproduced':<22} {'status':<14} other findings / uncatalogued defects in its runs")
    for o in outcomes:
        figures = f"{o.reproduced} of {o.tries} ({o.conclusive} concl.)"
        say(f"{o.id:<44} {figures:<22} {o.status:<14} {others_text(o)}" + (f"\n    {o.rule}" if o.rule else ""))
    code, reasons, notes = judge(finding_id, outcomes, strict)
    verdict = {0: "PASS", 1: "FAIL", 2: "INCONCLUSIVE"}[code]
    say(f"patch check {finding_id}: {verdict}" + "".join(f"\n  {r}" for r in reasons))
    if notes:
        say("not judged (compare with an unpatched replay of the same seeds: mistral-lab findings ID --tries N):"
            + "".join(f"\n  {n}" for n in notes))
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.findings.patches", description=__doc__.split("\n\n")[0])
    parser.add_argument("finding", help="the finding whose findings/patches/<id>.patch is checked")
    parser.add_argument("--also", action="append", default=[], metavar="ID",
                        help="another finding to replay against the same patched tree (repeatable)")
    parser.add_argument("--tries", type=int, default=3,
                        help="tries asked per finding; gone only when all N are conclusive and none reproduced; an "
                             "inconclusive try is replaced, at most N extra attempts (default 3)")
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE,
                        help="run store for the patched replays (default store/patch-check)")
    parser.add_argument("--strict", action="store_true",
                        help="also fail on other findings or uncatalogued defects in the patched runs")
    parser.add_argument("--tree-only", action="store_true", help="print the patched tree's path and stop")
    args = parser.parse_args(argv)
    try:
        if args.tree_only:
            print(patched_tree(args.finding))
            return 0
        return check_patch(args.finding, args.also, args.tries, args.store, strict=args.strict)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
