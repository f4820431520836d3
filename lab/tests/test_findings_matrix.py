"""The release matrix (`mistral-lab findings --versions`) with a fake run function (no Docker): the column
parser and its errors, the kombu column's spec, each cell's status from the replay rules (a cell that cannot run
is never gone), versions.json after every cell, resume, Ctrl-C, versions.html and the progress lines."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cluster.errors import LabError
from lab.cli import _register_commands, app
from lab.cli.findings_versions import make_matrix
from lab.findings.catalogue import load_catalogue
from lab.findings.columns import parse_columns
from lab.findings.matrix import (EXIT_DONE, EXIT_INTERRUPTED, EXIT_UNANSWERED, MATRIX_FILE, Progress, load_matrix,
                                 new_matrix, run_matrix)
from lab.findings.matrix_cell import CANNOT_RUN
from lab.findings.matrix_html import COLOURS, HTML_FILE, MEANING
from lab.findings.replay import BELOW, GONE, INCONCLUSIVE, REPRODUCES
from lab.run import RunOutcome
from lab.tests.findings_fixtures import GOOD, FakeRuns, catalogue

KOMBU = ("DEFAULT.rpc_implementation", "kombu")
NO_KOMBU = "Mistral 21.0.0 has no option DEFAULT.rpc_implementation (its mistral/config.py does not register it)"
UNKNOWN_RELEASE = "unknown Mistral version 20.2.0: no mistral==20.2.0 on the package index"
NOT_READY = "the cluster was not ready within 300 s: engine-2 unhealthy"


def column_of(spec: Any) -> str:
    """The column a spec was built for, as the fake sees it: its release, +kombu when it carries the option."""
    return spec.mistral_version + ("+kombu" if spec.mistral_config.get(KOMBU[0]) == KOMBU[1] else "")


class ColumnRuns:
    """A run function whose tries go as `patterns[column]` says (cycled): FakeRuns' True / False / None /
    "faults" / "unknown", or "bring-up" (a run that failed while its cluster came up, as lab.run records it),
    "refused" (a LabError before any run), "interrupted" (a run stopped by Ctrl-C), "ctrl-c" (raised between
    runs). Records each spec and how many cells versions.json held when the call came."""

    def __init__(self, tmp_path: Path, patterns: dict[str, list], out_dir: Path | None = None) -> None:
        self.tmp_path, self.patterns, self.out_dir = tmp_path, patterns, out_dir or tmp_path / "out"
        self.specs: list[Any] = []
        self.cells_on_disk: list[int] = []
        self.calls: dict[str, int] = {}

    def __call__(self, spec: Any, store: Path, **_: Any) -> RunOutcome:
        self.specs.append(spec)
        path = self.out_dir / MATRIX_FILE
        self.cells_on_disk.append(len(json.loads(path.read_text())["cells"]) if path.exists() else 0)
        column = column_of(spec)
        pattern = self.patterns[column]
        self.calls[column] = self.calls.get(column, 0) + 1
        what = pattern[(self.calls[column] - 1) % len(pattern)]
        if what == "ctrl-c":
            raise KeyboardInterrupt
        if what == "refused":
            raise LabError(UNKNOWN_RELEASE)
        if what == "lab-exists":
            raise LabError("a lab named versions-1 already exists")
        outcome = FakeRuns(self.tmp_path, [None if what in ("bring-up", "not-ready") else
                                           True if what == "interrupted" else what])(spec, store)
        if what in ("bring-up", "not-ready"):
            error = NO_KOMBU if what == "bring-up" else NOT_READY
            (outcome.run_dir / "run.json").write_text(json.dumps({"lab_error": error, "lab_error_phase": "up"}))
            return RunOutcome(outcome.run_dir, "unknown", lab_error=error)
        if what == "interrupted":
            return RunOutcome(outcome.run_dir, "unknown", interrupted=True)
        return outcome


def _matrix(tmp_path: Path, fake: ColumnRuns, versions: str, findings: tuple[dict, ...] = (GOOD,), tries: int = 3,
            doc: dict | None = None, said: list | None = None) -> dict:
    directory = catalogue(tmp_path, *findings)
    return run_matrix(load_catalogue(directory), parse_columns(versions), doc or new_matrix(tries, "test"),
                      tmp_path / "out", tmp_path / "store", fake, (said if said is not None else []).append)


# ---------------------------------------------------------------- the columns
def test_columns_are_releases_and_the_kombu_variant_adds_its_option() -> None:
    columns = parse_columns(" 20.2.0, 20.2.0+kombu,23.0.0")
    assert [(c.label, c.version, c.mistral_config) for c in columns] == [
        ("20.2.0", "20.2.0", {}), ("20.2.0+kombu", "20.2.0", {KOMBU[0]: KOMBU[1]}), ("23.0.0", "23.0.0", {})]


@pytest.mark.parametrize("text, message", [
    ("", "give at least one column"),
    ("20.2", "'20.2' is not a release like 23.0.0"),
    ("v20.2.0", "'v20.2.0' is not a release"),
    ("+kombu", "'' is not a release"),
    ("20.2.0+grpc", "unknown variant 'grpc' (known: kombu = DEFAULT.rpc_implementation=kombu)"),
    ("20.2.0+kombu+kombu", "variant 'kombu' given twice"),
    ("20.2.0,,21.0.0", "an empty column"),
    ("20.2.0,", "an empty column"),
    ("20.2.0,21.0.0,20.2.0", "column '20.2.0' given twice"),
])
def test_each_malformed_column_list_is_one_error_line(text: str, message: str) -> None:
    with pytest.raises(LabError) as raised:
        parse_columns(text)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_malformed_column_is_exit_3_before_anything_runs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MISTRAL_LAB_FINDINGS", str(catalogue(tmp_path, GOOD)))
    _register_commands()
    result = CliRunner().invoke(app, ["findings", "--versions", "20.2.0,21.0", "--out", str(tmp_path / "out"),
                                      "--store", str(tmp_path / "store")])
    assert isinstance(result.exception, LabError) and result.exception.exit_code == 3
    assert "column '21.0'" in str(result.exception)
    fake = ColumnRuns(tmp_path, {"20.2.0": [True]})
    with pytest.raises(LabError, match="unknown variant"):
        make_matrix([], "20.2.0,20.2.0+grpc", 1, tmp_path / "out", None, tmp_path / "store", run_fn=fake,
                    directory=tmp_path / "findings")
    assert fake.specs == [] and not (tmp_path / "out").exists() and not (tmp_path / "store").exists()


@pytest.mark.parametrize("flags, message", [
    (["--record"], "not with --record"),
    (["--mistral-version", "23.0.0", "--json"], "not with --mistral-version, --json"),
])
def test_the_matrix_refuses_the_replay_only_flags(tmp_path: Path, flags: list[str], message: str) -> None:
    _register_commands()
    result = CliRunner().invoke(app, ["findings", "--versions", "23.0.0", *flags, "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, LabError) and message in str(result.exception)
    assert not (tmp_path / "o").exists()


def test_the_kombu_column_s_spec_carries_the_rpc_option(tmp_path: Path) -> None:
    fake = ColumnRuns(tmp_path, {"20.2.0": [True], "20.2.0+kombu": [True]})
    _matrix(tmp_path, fake, "20.2.0,20.2.0+kombu", tries=1)
    plain, kombu = fake.specs
    assert (plain.mistral_version, kombu.mistral_version) == ("20.2.0", "20.2.0")
    assert KOMBU[0] not in plain.mistral_config and kombu.mistral_config[KOMBU[0]] == "kombu"
    assert kombu.topology("x").overrides["DEFAULT"]["rpc_implementation"] == "kombu"  # what up checks and renders


# ---------------------------------------------------------------- each cell's status
def test_each_cell_s_status_follows_the_replay_rules(tmp_path: Path) -> None:
    fake = ColumnRuns(tmp_path, {"20.2.0": [True, True, False], "21.0.0": [True, False, False], "22.0.0": [False],
                                 "23.0.0": [None], "21.0.0+kombu": ["bring-up"]})
    doc = _matrix(tmp_path, fake, "20.2.0,21.0.0,22.0.0,23.0.0,21.0.0+kombu")
    cells = {key.split("@")[1]: cell for key, cell in doc["cells"].items()}
    figures = {c: (e["status"], e["asked"], e["conclusive"], e["reproduced"], e["attempts"], e["rate"])
               for c, e in cells.items()}
    assert figures == {"20.2.0": (REPRODUCES, 3, 3, 2, 3, 0.667), "21.0.0": (BELOW, 3, 3, 1, 3, 0.333),
                       "22.0.0": (GONE, 3, 3, 0, 3, 0.0), "23.0.0": (INCONCLUSIVE, 3, 0, 0, 6, 0.0),
                       "21.0.0+kombu": (CANNOT_RUN, 3, 0, 0, 1, None)}
    assert cells["22.0.0"]["rule"] == "gone: 0 of 3 asked reproduced, all 3 conclusive"
    assert cells["21.0.0"]["rule"] == "below min_rate: 1 of 3 asked < min_rate 2/3 -> 2 required"
    assert cells["21.0.0+kombu"]["reason"] == NO_KOMBU and cells["21.0.0+kombu"]["rule"] == f"cannot run: {NO_KOMBU}"
    assert all(t["run_dir"] and t["report"].endswith("report.html") for c in cells.values() for t in c["tries"])
    assert [Path(t["run_dir"]).name for t in cells["20.2.0"]["tries"]] == ["try1", "try2", "try3"]
    assert [s.seed for s in fake.specs if column_of(s) == "23.0.0"] == [8, 9, 10, 11, 12, 13]
    assert fake.calls["21.0.0+kombu"] == 1  # bring-up's refusal is not replaced by the next seed
    assert (doc["stopped"], EXIT_UNANSWERED) == (None, 2)


def test_a_cell_that_cannot_run_is_never_gone(tmp_path: Path) -> None:
    other = {**GOOD, "id": "exec-stop-2"}  # the same spec, so the same cluster as exec-stop
    fake = ColumnRuns(tmp_path, {"21.0.0+kombu": ["bring-up", False], "20.2.0": ["refused", False]})
    doc = _matrix(tmp_path, fake, "21.0.0+kombu,20.2.0", findings=(GOOD, other))
    statuses = {key: cell["status"] for key, cell in doc["cells"].items()}
    assert set(statuses.values()) == {CANNOT_RUN}  # none of these tries reproduced, and none is gone
    assert fake.calls == {"21.0.0+kombu": 1, "20.2.0": 1}  # the second finding's cells are not brought up again
    second = doc["cells"]["exec-stop-2@21.0.0+kombu"]
    assert second["reason"].startswith(NO_KOMBU) and "exec-stop@21.0.0+kombu" in second["reason"]
    assert doc["cells"]["exec-stop@20.2.0"]["reason"] == UNKNOWN_RELEASE
    assert doc["cells"]["exec-stop@20.2.0"]["tries"] == [{"seed": 8, "run_dir": None, "lab_error": UNKNOWN_RELEASE}]


def test_a_bring_up_failure_the_column_does_not_cause_is_never_cannot_run(tmp_path: Path) -> None:
    """A readiness timeout on a busy machine is an inconclusive try replaced by the next seed; a LabError that
    is the user's (a lab of that name exists) stops the matrix in one line instead of becoming a cell."""
    fake = ColumnRuns(tmp_path, {"23.0.0": ["not-ready", False, False, False]})
    (cell,) = _matrix(tmp_path, fake, "23.0.0")["cells"].values()
    assert (cell["status"], cell["conclusive"], cell["attempts"]) == (GONE, 3, 4)
    assert cell["tries"][0]["inconclusive_because"] == f"lab failure: {NOT_READY}"
    with pytest.raises(LabError, match="already exists"):
        _matrix(tmp_path / "second", ColumnRuns(tmp_path / "second", {"23.0.0": ["lab-exists"]}), "23.0.0")


def test_a_bring_up_failure_after_a_try_ran_is_an_ordinary_inconclusive_try(tmp_path: Path) -> None:
    fake = ColumnRuns(tmp_path, {"23.0.0": [False, "bring-up", False, False]})
    (cell,) = _matrix(tmp_path, fake, "23.0.0")["cells"].values()
    assert (cell["status"], cell["conclusive"], cell["attempts"]) == (GONE, 3, 4)
    assert cell["tries"][1]["inconclusive_because"] == f"lab failure: {NO_KOMBU}"


# ---------------------------------------------------------------- versions.json, Ctrl-C and resume
def test_versions_json_is_written_after_every_cell(tmp_path: Path) -> None:
    fake = ColumnRuns(tmp_path, {"20.2.0": [True], "21.0.0": [False], "22.0.0": [True, "ctrl-c"]})
    doc = _matrix(tmp_path, fake, "20.2.0,21.0.0,22.0.0", tries=2)
    assert fake.cells_on_disk == [0, 0, 1, 1, 2, 2]  # each call sees every cell finished before it
    stored = load_matrix(tmp_path / "out")
    assert list(stored["cells"]) == ["exec-stop@20.2.0", "exec-stop@21.0.0"] and stored["stopped"]
    assert stored["selected"] == [f"exec-stop@{c}" for c in ("20.2.0", "21.0.0", "22.0.0")]
    assert doc["stopped"].startswith("interrupted between runs")


def test_an_interrupted_try_leaves_its_cell_unrecorded(tmp_path: Path) -> None:
    fake = ColumnRuns(tmp_path, {"20.2.0": [True], "21.0.0": ["interrupted"], "22.0.0": [True]})
    doc = _matrix(tmp_path, fake, "20.2.0,21.0.0,22.0.0", tries=1)
    assert list(doc["cells"]) == ["exec-stop@20.2.0"] and "exec-stop@21.0.0" in doc["stopped"]
    assert "22.0.0" not in fake.calls


def test_resume_skips_the_cells_already_in_versions_json(tmp_path: Path) -> None:
    directory = catalogue(tmp_path, GOOD)
    first = ColumnRuns(tmp_path, {"20.2.0": [True], "20.2.0+kombu": ["ctrl-c"], "23.0.0": [True]})
    code = make_matrix([], "20.2.0,20.2.0+kombu,23.0.0", 1, tmp_path / "out", None, tmp_path / "store",
                       run_fn=first, directory=directory)
    assert code == EXIT_INTERRUPTED and list(load_matrix(tmp_path / "out")["cells"]) == ["exec-stop@20.2.0"]
    with pytest.raises(LabError, match="already holds a versions.json: --resume"):
        make_matrix([], "20.2.0", 1, tmp_path / "out", None, tmp_path / "store", run_fn=first, directory=directory)
    with pytest.raises(LabError, match="made with --tries 1, not 3"):
        make_matrix([], None, 3, None, tmp_path / "out", tmp_path / "store", run_fn=first, directory=directory)
    again = ColumnRuns(tmp_path, {"20.2.0": [False], "20.2.0+kombu": [True], "23.0.0": [False]})
    code = make_matrix([], None, None, None, tmp_path / "out", tmp_path / "store", run_fn=again,
                       directory=directory)
    doc = load_matrix(tmp_path / "out")
    assert [column_of(s) for s in again.specs] == ["20.2.0+kombu", "23.0.0"]  # the done cell was skipped
    assert {k: c["status"] for k, c in doc["cells"].items()} == {
        "exec-stop@20.2.0": REPRODUCES, "exec-stop@20.2.0+kombu": REPRODUCES, "exec-stop@23.0.0": GONE}
    assert code == EXIT_DONE and doc["stopped"] is None


def test_resume_without_a_matrix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="no versions.json there to resume"):
        make_matrix([], None, None, None, tmp_path / "nothing", tmp_path / "store",
                    run_fn=ColumnRuns(tmp_path, {}), directory=catalogue(tmp_path, GOOD))


# ---------------------------------------------------------------- versions.html and progress
def test_versions_html_colours_each_status_and_links_every_try_relatively(tmp_path: Path) -> None:
    fake = ColumnRuns(tmp_path, {"20.2.0": [True], "21.0.0+kombu": ["bring-up"]})
    _matrix(tmp_path, fake, "20.2.0,21.0.0+kombu", tries=1)
    page = (tmp_path / "out" / HTML_FILE).read_text()
    assert "href='../store/x-spec/try1/report.html'" in page and "href='../store/x-spec/try2/report.html'" in page
    assert f"background:{COLOURS[REPRODUCES]}" in page and f"background:{COLOURS[CANNOT_RUN]}" in page
    assert "DEFAULT.rpc_implementation=kombu" in page and "seed 8: bring-up failed" in page
    assert set(COLOURS) == set(MEANING) == {REPRODUCES, BELOW, GONE, INCONCLUSIVE, CANNOT_RUN}


def test_progress_says_cell_k_of_n_the_elapsed_time_and_an_estimate() -> None:
    said: list[str] = []
    ticks = iter([0.0, 120.0, 125.0])
    progress = Progress(3, said.append, clock=lambda: next(ticks))
    progress.before(1, "a@20.2.0")
    progress.after(1, "a@20.2.0", {"status": REPRODUCES, "rule": "reproduces: 3 of 3", "seconds": 120.0})
    progress.after(2, "a@21.0.0+kombu", {"status": CANNOT_RUN, "rule": "cannot run: no option", "seconds": 5.0})
    assert said == ["cell 1 of 3: a@20.2.0 ...",
                    "cell 1 of 3: a@20.2.0: reproduces: 3 of 3; elapsed 2.0 min, about 4.0 min left for 2 cell(s)",
                    "cell 2 of 3: a@21.0.0+kombu: cannot run: no option; elapsed 2.1 min, about 2.0 min left for "
                    "1 cell(s)"]


def test_the_matrix_runs_through_warm_labs(tmp_path: Path, monkeypatch) -> None:
    calls: list[dict] = []
    fake = ColumnRuns(tmp_path, {"23.0.0": [True]})

    def run_test(spec, store, **kwargs):
        calls.append(kwargs)
        return fake(spec, store)

    monkeypatch.setattr("lab.warm._run_test", lambda: run_test)
    code = make_matrix([], "23.0.0", 1, tmp_path / "out", None, tmp_path / "store", fresh=True,
                       directory=catalogue(tmp_path, GOOD))
    assert code == EXIT_DONE and calls == [{"lab_name": None, "lab_start": "fresh"}]


@pytest.mark.parametrize("holds_matrix, flag", [(False, "--out"), (True, "--resume")])
def test_make_versions_resumes_when_out_holds_a_matrix(tmp_path: Path, holds_matrix: bool, flag: str) -> None:
    if holds_matrix:
        (tmp_path / MATRIX_FILE).write_text("{}")
    root = Path(__file__).resolve().parents[2]
    printed = subprocess.run(["make", "-n", "-C", str(root), "versions", f"OUT={tmp_path}", "TRIES=2"],
                             capture_output=True, text=True, check=True).stdout
    (line,) = [text for text in printed.splitlines() if " findings " in text]
    assert f"{flag} {tmp_path}" in line and "--versions 20.2.0,20.2.0+kombu,21.0.0,22.0.0,23.0.0" in line
    assert "--tries 2" in line
