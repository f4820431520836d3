"""The committed catalogue does not contradict itself: no finding reproduced in a replay is called unseen, every
finding names its kind, no spec file is a copy of another under a new name, min_rate has a basis (provisional
below 6 tries) and was never lowered in the change that recorded a lower rate."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cluster.errors import LabError
from lab.findings.catalogue import (DEFAULT_DIR, FIRM_BASIS_TRIES, contradictions, load_catalogue, load_finding,
                                    min_rate_change_problems)
from lab.tests.findings_fixtures import GOOD, SPEC, catalogue

REPO = DEFAULT_DIR.parent
# Changes made before the rule existed, kept as history: (finding id, commit prefix). cef8a9e lowered
# stuck-after-engine-scale-down's min_rate 2/3 -> 1/3 with the replay that recorded 1 of 3.
GRANDFATHERED = {("stuck-after-engine-scale-down", "cef8a9e")}


# ---------------------------------------------------------------- the text against the figures
def test_no_committed_finding_contradicts_its_recorded_reproductions() -> None:
    findings = load_catalogue(DEFAULT_DIR)
    # Every finding was seen in a run (first_seen); its last recorded replay is kept as measured, even when it
    # reproduced nothing (lost-result, 0 of 3 on 2026-12-07: the README's table shows it below its min_rate).
    assert findings and all((f.first_seen or {}).get("run") for f in findings)
    problems = [p for f in findings for p in contradictions(f)]
    assert problems == []


@pytest.mark.parametrize("text, first_seen, expected", [
    ("  Expected, to be confirmed by replays: an executor is paused.", {"date": "2026-11-25"}, "to be confirmed"),
    ("  Candidate, not yet seen in a run.", {"date": "2026-11-25"}, "not yet seen"),
    ("  It was never seen twice.", {"date": "2026-11-25"}, "never seen"),
    ("  An executor is paused.", None, "first_seen is null"),
])
def test_a_reproduced_finding_called_unseen_or_without_first_seen_is_caught(tmp_path: Path, text: str,
                                                                          first_seen: dict | None,
                                                                          expected: str) -> None:
    data = {**GOOD, "what_happens": text + "\n", "first_seen": first_seen, "tries": 3, "reproduced": 2}
    (finding,) = load_catalogue(catalogue(tmp_path, data))
    problems = contradictions(finding)
    assert len(problems) == 1 and expected in problems[0] and "2 of 3 tries reproduced it" in problems[0]
    unreplayed = load_finding(catalogue(tmp_path / "b", {**data, "tries": 0, "reproduced": 0}) / "exec-stop.yaml")
    assert contradictions(unreplayed) == []  # a candidate nobody replayed yet may say so


def test_the_retry_finding_names_the_exactly_once_kind_and_when_it_was_first_seen() -> None:
    (retry,) = load_catalogue(DEFAULT_DIR, ["retry-duplicates-non-idempotent-action"])
    assert (retry.kind, retry.signature.kind) == ("task-rerun", "task-rerun")
    assert retry.first_seen and retry.first_seen["date"] == "2026-11-25"
    kinds = (REPO / "checker" / "exactly_once.py").read_text()
    assert '"kind": "task-rerun"' in kinds  # the kind the exactly-once checker gives a task run twice


def test_every_finding_names_its_kind_in_the_signature() -> None:
    for finding in load_catalogue(DEFAULT_DIR):
        assert finding.kind and finding.signature.kind == finding.kind, finding.id


# ---------------------------------------------------------------- one spec, several findings
def test_the_scale_down_findings_share_one_spec_and_no_spec_is_a_copy() -> None:
    by_id = {f.id: f for f in load_catalogue(DEFAULT_DIR)}
    shared = {by_id[i].spec.name for i in ("stuck-after-engine-scale-down", "lost-result-after-engine-scale-down",
                                            "join-stuck-after-engine-scale-down")}
    assert shared == {"stuck-after-engine-scale-down.yaml"}
    assert not (DEFAULT_DIR / "specs" / "lost-result-after-engine-scale-down.yaml").exists()


def test_a_spec_copied_under_another_name_is_rejected(tmp_path: Path) -> None:
    directory = catalogue(tmp_path, GOOD)
    (directory / "specs" / "y-spec.yaml").write_text(yaml.safe_dump({**SPEC, "name": "y-spec"}))
    with pytest.raises(LabError, match=r"y-spec.yaml: the same spec as x-spec.yaml under another name") as caught:
        load_catalogue(directory)
    assert "\n" not in str(caught.value)
    (directory / "specs" / "y-spec.yaml").write_text(yaml.safe_dump({**SPEC, "name": "y-spec", "seed": 9}))
    assert len(load_catalogue(directory)) == 1  # another seed is another spec
    shutil.copy(directory / "specs" / "x-spec.yaml", directory / "specs" / "z-spec.yaml")
    with pytest.raises(LabError, match="z-spec.yaml: the same spec as x-spec.yaml"):  # a byte copy too
        load_catalogue(directory)


# ---------------------------------------------------------------- min_rate and its basis
def test_provisional_follows_the_basis_and_the_committed_basis_is_shown() -> None:
    for finding in load_catalogue(DEFAULT_DIR):
        assert finding.provisional == (finding.min_rate_basis.tries < FIRM_BASIS_TRIES), finding.id
        text = finding.path.read_text()
        assert f"tries: {finding.min_rate_basis.tries}, reproduced: {finding.min_rate_basis.reproduced}" in text


def _finding_text(min_rate: str, tries: int, reproduced: int, basis: str = "{tries: 6, reproduced: 4}") -> str:
    return f"min_rate: {min_rate}\nmin_rate_basis: {basis}\ntries: {tries}\nreproduced: {reproduced}\n"


def test_min_rate_is_not_lowered_with_the_replay_that_measured_less() -> None:
    before = _finding_text("2/3", 3, 3)
    assert min_rate_change_problems(before, _finding_text("2/3", 3, 1)) == []  # a low replay alone is recorded
    lowered = min_rate_change_problems(before, _finding_text("1/3", 3, 1, "{tries: 9, reproduced: 4}"))
    assert lowered == ["min_rate lowered 2/3 -> 1/3 in the change that records reproduced"]
    same_basis = min_rate_change_problems(before, _finding_text("1/3", 3, 3))
    assert same_basis == ["min_rate changed 2/3 -> 1/3 with the same min_rate_basis"]
    assert min_rate_change_problems(before, _finding_text("1/3", 3, 3, "{tries: 9, reproduced: 4}")) == []


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout


def _history_pairs(path: str) -> list[tuple[str, str, str]]:
    """(commit, text before, text after) for every commit that changed the file, and the uncommitted change."""
    pairs = []
    for commit in _git("log", "--format=%H", "--", path).split():
        try:
            before = _git("show", f"{commit}^:{path}")
        except subprocess.CalledProcessError:
            continue  # the commit that added the file (or a root commit)
        pairs.append((commit, before, _git("show", f"{commit}:{path}")))
    committed = _git("show", f"HEAD:{path}") if _git("ls-files", path).strip() else None
    if committed is not None and (REPO / path).exists():
        pairs.append(("working tree", committed, (REPO / path).read_text()))
    return pairs


def test_no_change_to_the_catalogue_lowered_min_rate_with_its_replay() -> None:
    try:
        _git("rev-parse", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    found = []
    for finding in load_catalogue(DEFAULT_DIR):
        path = str(finding.path.relative_to(REPO))
        for commit, before, after in _history_pairs(path):
            if any(finding.id == ident and commit.startswith(prefix) for ident, prefix in GRANDFATHERED):
                continue
            found += [f"{path} {commit[:7]}: {p}" for p in min_rate_change_problems(before, after)]
    assert found == []


# ---------------------------------------------------------------- patches (issue 27)
def _with_patches(tmp_path: Path, *findings: dict) -> Path:
    directory = catalogue(tmp_path, *findings)
    (directory / "patches").mkdir()
    (directory / "patches" / "exec-stop.patch").write_text("--- a/x\n+++ b/x\n")
    return directory


def test_a_finding_has_its_own_patch_names_the_one_that_serves_it_or_says_why_none_can(tmp_path: Path) -> None:
    shared = {**GOOD, "id": "other", "patch": "patches/exec-stop.patch"}
    none = {**GOOD, "id": "unfixable", "no_patch_reason": "A paused executor looks dead; the design: fencing."}
    directory = _with_patches(tmp_path, GOOD, shared, none, {**GOOD, "id": "bare"})
    by_id = {f.id: f for f in load_catalogue(directory)}
    own = (directory / "patches" / "exec-stop.patch").resolve()
    assert by_id["exec-stop"].patch == own and by_id["other"].patch == own
    assert by_id["unfixable"].patch is None and by_id["unfixable"].no_patch_reason.startswith("A paused")
    assert by_id["bare"].patch is None and by_id["bare"].no_patch_reason is None


@pytest.mark.parametrize("extra, message", [
    ({"patch": "exec-stop.patch"}, r"field 'patch': 'exec-stop.patch': must be a \.patch file directly in"),
    ({"patch": "patches/none.patch"}, r"field 'patch': 'patches/none.patch': no such file"),
    ({"patch": "patches/exec-stop.patch", "no_patch_reason": "x"}, "a finding with a patch has no no_patch_reason"),
    ({"no_patch_reason": "   "}, "field 'no_patch_reason': must be a non-empty string"),
])
def test_a_wrong_patch_field_is_one_line_naming_it(tmp_path: Path, extra: dict, message: str) -> None:
    directory = _with_patches(tmp_path, {**GOOD, "id": "other", **extra})
    with pytest.raises(LabError, match=message):
        load_finding(directory / "other.yaml")


def test_a_finding_with_its_own_patch_names_no_other_and_gives_no_reason(tmp_path: Path) -> None:
    directory = _with_patches(tmp_path, {**GOOD, "no_patch_reason": "none"})
    with pytest.raises(LabError, match="exec-stop.patch exists: the finding has a patch"):
        load_finding(directory / "exec-stop.yaml")
    (directory / "patches" / "other.patch").write_text("--- a/y\n+++ b/y\n")
    (directory / "exec-stop.yaml").write_text(yaml.safe_dump({**GOOD, "patch": "patches/other.patch"}))
    with pytest.raises(LabError, match="the finding has its own exec-stop.patch"):
        load_finding(directory / "exec-stop.yaml")


def test_every_committed_finding_has_a_patch_or_the_reason_no_patch_can_fix_it() -> None:
    for finding in load_catalogue(DEFAULT_DIR):
        assert finding.patch is not None or finding.no_patch_reason, finding.id
        assert finding.patch is None or finding.patch.is_file(), finding.id
