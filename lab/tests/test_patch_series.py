"""Every candidate fix at once (lab.findings.patch_series): the series tree, judging every finding against it,
and a stopped check resuming from its record; no Docker and no network (a real-sdist test is marked network)."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from cluster.errors import LabError
from lab.findings import patch_series, patches
from lab.findings.catalogue import DEFAULT_DIR
from lab.findings.patch_series import check_series, judge_series, load_record, series_patches, series_tree
from lab.findings.patches import Outcome, fetch_sdist
from lab.tests.test_patches import FINDING, ORIGINAL, PATCH, _catalogue, _line, _run_dir, _sdist

SECOND = """--- a/mistral/executors/executor_server.py
+++ b/mistral/executors/executor_server.py
@@ -1,3 +1,4 @@
 def stop(self):
     rpc.stop()
     heartbeats.stop()
+    pool.wait()
"""


def _two_findings(tmp_path: Path, second: str = SECOND) -> Path:
    """exec-stop (patch 1) and later-fix (patch 2, which only applies after patch 1), same spec and release."""
    directory = _catalogue(tmp_path)
    (directory / "later-fix.yaml").write_text(yaml.safe_dump({**FINDING, "id": "later-fix", "tries": 6,
                                                              "reproduced": 4}, sort_keys=False))
    (directory / "patches" / "later-fix.patch").write_text(second)
    return directory


def _fetch(tmp_path: Path):
    """One sdist per test: a second tar.gz made a second later differs (gzip's time stamp), so would its digest."""
    archive = tmp_path / "mistral-23.0.0.tar.gz"
    if not archive.exists():
        _sdist(archive)
    return lambda version: archive


def test_the_series_applies_every_patch_in_file_name_order_once(tmp_path: Path) -> None:
    directory = _two_findings(tmp_path)
    assert [p.name for p in series_patches(directory)] == ["exec-stop.patch", "later-fix.patch"]
    tree = series_tree(directory, cache=tmp_path / "cache", fetch=_fetch(tmp_path))
    assert (tree / "mistral/executors/executor_server.py").read_text() == \
        "def stop(self):\n    rpc.stop()\n    heartbeats.stop()\n    pool.wait()\n"
    assert (tree.parent / "patches").read_text() == "exec-stop.patch\nlater-fix.patch\n"
    again = series_tree(directory, cache=tmp_path / "cache", fetch=_fetch(tmp_path))
    assert again == tree
    (directory / "patches" / "later-fix.patch").write_text(SECOND.replace("pool.wait()", "pool.join()"))
    assert series_tree(directory, cache=tmp_path / "cache", fetch=_fetch(tmp_path)) != tree  # a changed patch


def test_a_patch_that_does_not_apply_after_the_others_names_itself_and_leaves_no_tree(tmp_path: Path) -> None:
    directory = _two_findings(tmp_path, second=SECOND.replace("     heartbeats.stop()\n+", "-    never.there()\n+"))
    with pytest.raises(LabError, match=r"^later-fix\.patch does not apply"):
        series_tree(directory, cache=tmp_path / "cache", fetch=_fetch(tmp_path))
    assert not list((tmp_path / "cache" / "patched").iterdir())


def test_a_series_is_against_one_release(tmp_path: Path) -> None:
    directory = _two_findings(tmp_path)
    data = yaml.safe_load((directory / "later-fix.yaml").read_text())
    (directory / "later-fix.yaml").write_text(yaml.safe_dump({**data, "mistral_version": "22.0.0"}))
    with pytest.raises(LabError, match="one Mistral release"):
        series_tree(directory, cache=tmp_path / "cache", fetch=_fetch(tmp_path))


def test_the_series_passes_only_when_every_finding_is_gone_in_every_asked_try() -> None:
    always = {"a": (3, 3), "b": (6, 6)}  # both reproduced in every unpatched try
    gone = Outcome("a", "gone", 0, 5, 5)
    assert judge_series([gone, Outcome("b", "gone", 0, 5, 5)], baselines=always) == (0, [], [])
    assert judge_series([gone, Outcome("b", "still there", 2, 5, 5)], baselines=always) == \
        (1, ["b: still there (2 of 5 asked tries)"], [])
    assert judge_series([gone, Outcome("b", "gone", 0, 5, 4)], baselines=always) == \
        (2, ["b: inconclusive (4 of 5 asked tries conclusive)"], [])
    assert judge_series([gone, Outcome("b", "not replayed", 0, 5)], baselines=always)[0] == 2
    noisy = Outcome("b", "gone", 0, 5, 5, new_defects=["lost-result/x: s"])
    assert judge_series([gone, noisy], baselines=always) == (0, [], ["b: its runs show NEW lost-result/x x1"])
    assert judge_series([gone, noisy], strict=True, baselines=always)[0] == 1


def test_gone_is_shown_only_when_an_unchanged_defect_would_rarely_miss_every_try() -> None:
    assert patch_series.miss_chance((3, 3), 5) == pytest.approx(0.2 ** 5)  # 3 of 3 is no certainty: rate 4/5
    assert patch_series.miss_chance((3, 6), 5) == pytest.approx(0.03125)
    assert patch_series.miss_chance((1, 3), 5) == pytest.approx(0.6 ** 5)  # 7.8 %
    assert patch_series.miss_chance((0, 3), 5) == 1.0 and patch_series.miss_chance((0, 0), 5) == 1.0
    rare, never = Outcome("rare", "gone", 0, 5, 5), Outcome("never", "gone", 0, 5, 5)
    code, reasons, _ = judge_series([rare, never], baselines={"rare": (1, 3), "never": (0, 3)})
    assert code == 2
    assert reasons == ["rare: gone, not shown: unchanged at its unpatched rate it would miss all 5 tries with chance "
                       "8% (at most 5% shows it)", "never: gone, not shown: unchanged at its unpatched rate it "
                       "would miss all 5 tries with chance 100% (at most 5% shows it)"]
    assert judge_series([rare], baselines={"rare": (3, 6)})[0] == 0
    assert judge_series([rare])[0] == 2  # no baseline: nothing shown
    assert patch_series.status_text(rare, (3, 6)) == "gone (miss chance 3.1%)"
    assert patch_series.status_text(rare, (3, 3)) == "gone (miss chance < 0.1%)"  # 0.2 ** 5 = 0.03 %
    assert patch_series.status_text(rare, (1, 3)) == "gone, not shown (miss chance 8%)"
    assert patch_series.status_text(Outcome("x", "still there", 1, 5, 5), (3, 3)) == "still there"


def test_check_series_replays_each_finding_on_the_tree_and_resumes_from_its_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = _two_findings(tmp_path)
    monkeypatch.setattr(patches, "fetch_sdist", lambda version, cache=None: _fetch(tmp_path)(version))
    monkeypatch.setenv("MISTRAL_LAB_CACHE", str(tmp_path / "cache"))
    asked: list[str] = []

    def runner(cmd: list[str]) -> subprocess.CompletedProcess:
        ident = cmd[cmd.index("findings") + 1]
        asked.append(ident)
        if ident == "later-fix" and asked.count("later-fix") == 1:  # the first attempt dies (Ctrl-C, lab error)
            return subprocess.CompletedProcess(cmd, 3, "", None)
        reproduced = 1 if ident == "later-fix" else 0
        line = _line(ident, "still there" if reproduced else "gone",
                     [_run_dir(tmp_path, f"{ident}-{len(asked)}", known=[ident] if reproduced else [])], reproduced)
        return subprocess.CompletedProcess(cmd, 0, json.dumps(line) + "\n", None)

    store, said = tmp_path / "store", []
    assert check_series([], tries=1, store=store, directory=directory, runner=runner, say=said.append) == 2
    record = next(store.glob("series-*/series-1-tries.json"))
    assert list(load_record(record, 1)) == ["exec-stop"] and load_record(record, 5) == {}
    assert check_series([], tries=1, store=store, directory=directory, runner=runner, say=said.append) == 1
    assert asked == ["exec-stop", "later-fix", "later-fix"]  # exec-stop was not replayed again
    assert said[-1] == ("patch series: FAIL\n  later-fix: still there (1 of 1 asked tries)\n  exec-stop: gone, not "
                        "shown: unchanged at its unpatched rate it would miss all 1 tries with chance 100% (at most "
                        "5% shows it)")  # exec-stop's file records no unpatched reproduction
    assert any(line.startswith("later-fix") and "4 of 6" in line and "1 of 1 (1 concl.)" in line for line in said)
    assert json.loads(record.read_text())["patches"] == ["exec-stop.patch", "later-fix.patch"]


def test_every_catalogued_patch_is_in_the_series() -> None:
    assert {p.stem for p in series_patches(DEFAULT_DIR)} == {p.stem for p in (DEFAULT_DIR / "patches").glob("*.patch")}
    assert patch_series.series_version(DEFAULT_DIR) == "23.0.0"


@pytest.mark.network
def test_the_catalogued_series_builds_from_the_real_sdist(tmp_path: Path) -> None:
    tree = series_tree(cache=tmp_path, fetch=fetch_sdist)
    assert (tree / "mistral/tests/unit/engine/test_action_claim.py").is_file()
    assert not list(tree.rglob("*.rej")) and ORIGINAL not in (tree / "mistral/executors/executor_server.py").read_text()


def test_the_markdown_table_has_every_finding_with_its_series_figures(tmp_path: Path) -> None:
    directory = _two_findings(tmp_path)
    record = tmp_path / "series.json"
    record.write_text(json.dumps({"patches": ["exec-stop.patch", "later-fix.patch"], "tries": 5,
                                  "updated": "2026-12-07T23:59:00+00:00",
                                  "outcomes": [{"id": "later-fix", "status": "gone", "reproduced": 0, "tries": 5,
                                                "conclusive": 5, "rule": "r", "other_findings": [],
                                                "new_defects": ["lost-result/x: s"]}]}))
    table = patch_series.series_markdown(record, directory).splitlines()
    assert table[0].startswith("Series of 2 patches (exec-stop.patch, later-fix.patch), 5 tries asked")
    assert table[-2] == "| `exec-stop` | `exec-stop.patch` | 0 of 0 | - | not replayed | - | - |"
    assert table[-1] == ("| `later-fix` | `later-fix.patch` | 4 of 6 | 0 of 5 (5 conclusive) | "
                         "gone (miss chance 0.7%) | "
                         "runs not recorded | NEW lost-result/x x1 |")  # 4 of 6: rate 5/8


def test_repairs_are_counted_from_the_patches_log_lines_in_each_run(tmp_path: Path) -> None:
    runs = []
    for name, engine_log in (("1", "x likely stuck in IDLE state because its start request was lost, will\n"),
                             ("2", "nothing\n"), ("3", "Engine server stopped while requests were still in\n")):
        (tmp_path / name / "logs").mkdir(parents=True)
        (tmp_path / name / "logs" / "engine-1.log").write_text(engine_log)
        (tmp_path / name / "logs" / "db.log").write_text("Not retried: action execution (not a Mistral log)\n")
        runs.append(str(tmp_path / name))
    applied = ["lost-start-task-leaves-execution-running.patch", "lost-result-after-engine-scale-down.patch",
               "retry-duplicates-non-idempotent-action.patch"]
    assert patch_series.repair_evidence(runs, applied) == {
        "IDLE task started again": 1, "engine stop cut short": 1, "retry refused": 0}
    outcome = Outcome("a", "gone", 0, 3, 3, runs=runs)
    assert patch_series.evidence_text(outcome, applied) == \
        "IDLE task started again in 1 of 3 runs, engine stop cut short in 1 of 3 runs"
    assert patch_series.evidence_text(Outcome("a", "gone", 0, 3, 3, runs=runs[1:2]), applied) == "none"


def test_a_repair_logged_before_the_run_started_is_an_earlier_tries(tmp_path: Path) -> None:
    """On a lab reset between tries a container's log holds the earlier tries: only the run's own lines count."""
    import calendar

    run = tmp_path / "run"
    (run / "logs").mkdir(parents=True)
    start = calendar.timegm((2026, 12, 8, 0, 20, 0, 0, 0, 0))
    (run / "run.json").write_text(json.dumps({"start_wall": start}))
    line = "WARNING x Found a task execution that is likely stuck in IDLE state because its start request was lost\n"
    (run / "logs" / "engine-1.log").write_text("2026-12-08 00:19:00.000 12 " + line)  # a minute before: not its
    applied = ["lost-start-task-leaves-execution-running.patch"]
    assert patch_series.repair_evidence([str(run)], applied) == {"IDLE task started again": 0}
    (run / "logs" / "removed").mkdir()
    (run / "logs" / "removed" / "engine-2-1.log").write_text("2026-12-08 00:20:30.000 12 " + line)
    assert patch_series.repair_evidence([str(run)], applied) == {"IDLE task started again": 1}


def test_every_patch_has_its_repair_lines_and_each_is_in_its_patch() -> None:
    for patch in series_patches(DEFAULT_DIR):
        lines = patch_series.REPAIR_LINES[patch.name]
        # Python joins adjacent string literals: so does this, over the patch's added lines.
        added = "".join(literal for line in patch.read_text().splitlines() if line.startswith("+")
                        for literal in re.findall(r'"((?:[^"\\]|\\.)*)"', line))
        for text in lines.values():
            assert text in added, (patch.name, text)
