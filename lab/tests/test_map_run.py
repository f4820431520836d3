"""The map loop with a fake run function (no Docker): map.json after every cell, resume, Ctrl-C, cells the lab
cannot exercise, progress lines, exit codes, and the command's input checks."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cluster.errors import LabError
from lab.cli import _register_commands, app
from lab.cli.map import make_map
from lab.map.cell_spec import cell_seed
from lab.map.cells import Cell, select_cells
from lab.map.classify import CANNOT, DEFECT, INCONCLUSIVE, NO_EFFECT, NOT_EXERCISED
from lab.map.run import (EXIT_DONE, EXIT_INTERRUPTED, EXIT_UNANSWERED, MAP_FILE, Settings, exit_code, load_map,
                         new_map, replay_command, resumed_settings, run_map)
from lab.run import RunOutcome
from lab.tests.map_fixtures import rpc_run
from lab.judge import judge_run_dir

CELLS = [Cell("run_action", "receive", "drop"), Cell("run_action", "receive", "delay"),
         Cell("start_task", "send", "crash-after")]


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> dict[str, Path]:
    """Run directories the real judge has judged, one per behaviour a fake run copies."""
    base = tmp_path_factory.mktemp("judged")
    runs = {"ok": rpc_run(base, "dedup"), "unmatched": rpc_run(base, "unmatched"),
            "defect": rpc_run(base, "duplicate")}
    for run_dir in runs.values():
        judge_run_dir(run_dir)
    return runs


class FakeRuns:
    """A run function: each call stores a judged run under store/<spec>/tryN, or behaves as `script` says for
    the call's number (1-based): a stored kind, "interrupted", "lab-error" or "ctrl-c" (raised)."""

    def __init__(self, stored: dict[str, Path], out_dir: Path, script: dict[int, str] | None = None) -> None:
        self.stored, self.out_dir, self.script = stored, out_dir, script or {}
        self.specs: list[Any] = []
        self.cells_on_disk: list[int] = []

    def __call__(self, spec, store: Path, **_: Any) -> RunOutcome:
        self.specs.append(spec)
        path = self.out_dir / MAP_FILE
        self.cells_on_disk.append(len(json.loads(path.read_text())["cells"]) if path.exists() else 0)
        what = self.script.get(len(self.specs), "ok")
        if what == "ctrl-c":
            raise KeyboardInterrupt
        if what == "lab-error":
            raise LabError("a lab named map-1 already exists")
        run_dir = store / spec.name / f"try{len(self.specs)}"
        shutil.copytree(self.stored["ok" if what == "interrupted" else what], run_dir)
        return RunOutcome(run_dir, True, interrupted=what == "interrupted")


def _map(tmp_path: Path, fake: FakeRuns, cells=CELLS, doc=None, settings=Settings(), said=None) -> dict:
    return run_map(cells, doc or new_map(settings, "mistral-lab map"), tmp_path / "out", tmp_path / "store", fake,
                   (said if said is not None else []).append)


def test_map_json_is_written_after_every_cell_with_each_cell_s_class_and_run(tmp_path: Path, stored) -> None:
    fake = FakeRuns(stored, tmp_path / "out", {2: "unmatched", 3: "defect"})
    doc = _map(tmp_path, fake)
    assert fake.cells_on_disk == [0, 1, 2]  # each run started with every earlier cell already saved
    on_disk = json.loads((tmp_path / "out" / MAP_FILE).read_text())
    assert on_disk["cells"] == json.loads(json.dumps(doc["cells"]))
    classes = [on_disk["cells"][c.key]["class"] for c in CELLS]
    assert classes == [NO_EFFECT, NOT_EXERCISED, DEFECT]
    first = on_disk["cells"]["run_action/receive/drop"]
    assert first["seed"] == cell_seed(1, CELLS[0]) == fake.specs[0].seed
    assert first["replay"] == f"mistral-lab run --replay {first['run_dir']}"
    assert first["report"] == str(Path(first["run_dir"]) / "report.html")
    assert on_disk["cells"]["start_task/send/crash-after"]["new"] is True
    assert (tmp_path / "out" / "map.html").exists() and on_disk["stopped"] is None
    assert exit_code(doc, CELLS) == EXIT_UNANSWERED  # a cell is not exercised


def test_resume_skips_the_cells_already_in_map_json(tmp_path: Path, stored) -> None:
    _map(tmp_path, FakeRuns(stored, tmp_path / "out"), cells=CELLS[:2])
    fake, said = FakeRuns(stored, tmp_path / "out"), []
    doc = _map(tmp_path, fake, cells=CELLS, doc=load_map(tmp_path / "out"), said=said)
    assert [s.name for s in fake.specs] == ["map-start_task-send-crash-after"]
    assert said[0] == "resuming: 2 of 3 selected cells already in map.json, 1 to go"
    assert set(doc["cells"]) == {c.key for c in CELLS} and exit_code(doc, CELLS) == EXIT_DONE


def test_an_interrupted_run_stops_the_map_unrecorded_and_a_resume_runs_it_again(tmp_path: Path, stored) -> None:
    doc = _map(tmp_path, FakeRuns(stored, tmp_path / "out", {2: "interrupted"}))
    assert list(doc["cells"]) == ["run_action/receive/drop"] and "run_action/receive/delay" in doc["stopped"]
    assert exit_code(doc, CELLS) == EXIT_INTERRUPTED
    assert json.loads((tmp_path / "out" / MAP_FILE).read_text())["stopped"] == doc["stopped"]
    fake = FakeRuns(stored, tmp_path / "out")
    doc = _map(tmp_path, fake, doc=load_map(tmp_path / "out"))
    assert [s.name for s in fake.specs] == ["map-run_action-receive-delay", "map-start_task-send-crash-after"]
    assert doc["stopped"] is None and exit_code(doc, CELLS) == EXIT_DONE


def test_ctrl_c_between_runs_keeps_what_is_done(tmp_path: Path, stored) -> None:
    doc = _map(tmp_path, FakeRuns(stored, tmp_path / "out", {3: "ctrl-c"}))
    on_disk = json.loads((tmp_path / "out" / MAP_FILE).read_text())
    assert len(on_disk["cells"]) == 2 and on_disk["stopped"] == "interrupted between runs"
    assert exit_code(doc, CELLS) == EXIT_INTERRUPTED


def test_a_cell_the_lab_cannot_exercise_is_recorded_without_a_run(tmp_path: Path, stored) -> None:
    cells = [Cell("rollback_workflow", "receive", "drop"), CELLS[0]]
    fake = FakeRuns(stored, tmp_path / "out")
    doc = _map(tmp_path, fake, cells=cells)
    assert len(fake.specs) == 1
    entry = doc["cells"]["rollback_workflow/receive/drop"]
    assert entry["class"] == CANNOT and "rollback_workflow" in entry["reason"] and entry["tries"] == []
    assert exit_code(doc, cells) == EXIT_DONE  # an answer: the lab says why it cannot


def test_a_refused_run_is_inconclusive_and_the_map_goes_on(tmp_path: Path, stored) -> None:
    doc = _map(tmp_path, FakeRuns(stored, tmp_path / "out", {1: "lab-error"}))
    first = doc["cells"]["run_action/receive/drop"]
    assert first["class"] == INCONCLUSIVE and first["reason"] == "lab failure: a lab named map-1 already exists"
    assert len(doc["cells"]) == 3


def test_several_tries_run_consecutive_seeds_and_show_the_most_severe_class(tmp_path: Path, stored) -> None:
    fake = FakeRuns(stored, tmp_path / "out", {2: "defect"})
    doc = _map(tmp_path, fake, cells=CELLS[:1], settings=Settings(base_seed=3, tries=2))
    assert [s.seed for s in fake.specs] == [cell_seed(3, CELLS[0]), cell_seed(3, CELLS[0]) + 1]
    entry = doc["cells"][CELLS[0].key]
    assert entry["class"] == DEFECT and entry["seed"] == fake.specs[1].seed and len(entry["tries"]) == 2


def test_progress_says_cell_k_of_n_the_elapsed_time_and_an_estimate(tmp_path: Path, stored) -> None:
    ticks = iter(range(0, 10_000, 60))
    said: list[str] = []
    cells = [CELLS[0], Cell("rollback_workflow", "send", "drop"), CELLS[1]]
    run_map(cells, new_map(Settings(), "x"), tmp_path / "out", tmp_path / "store",
            FakeRuns(stored, tmp_path / "out"), said.append, clock=lambda: float(next(ticks)))
    assert said[0] == "cell 1 of 3: run_action/receive/drop ..."
    assert said[1].startswith("cell 1 of 3: run_action/receive/drop: no effect (")
    assert "elapsed 1.0 min, about " in said[1] and " left for 1 run cell(s)" in said[1]
    assert said[2].startswith("cell 2 of 3: rollback_workflow/send/drop: cannot exercise")
    assert said[-1].endswith("left for 0 run cell(s)")


def test_a_map_of_a_source_tree_says_its_replay_command_uses_the_release(tmp_path: Path) -> None:
    assert replay_command("store/r1", Settings()) == "mistral-lab run --replay store/r1"
    command = replay_command("store/r1", Settings(mistral_src=str(tmp_path)))
    assert command.startswith("mistral-lab run --replay store/r1  # ") and str(tmp_path) in command


def test_a_resumed_map_keeps_its_settings(tmp_path: Path) -> None:
    doc = new_map(Settings(base_seed=9, tries=2), "x")
    assert resumed_settings(doc, {"base_seed": None, "tries": None, "mistral_version": None}) == \
        Settings(base_seed=9, tries=2)
    with pytest.raises(LabError, match="made with base_seed=9, not 4"):
        resumed_settings(doc, {"base_seed": 4})


def _settings(**given: Any) -> dict[str, Any]:
    return {"base_seed": None, "tries": None, "mistral_version": None, "mistral_src": None, **given}


@pytest.mark.parametrize("kwargs, message", [
    ({"methods": "nope"}, "unknown method 'nope'"),
    ({"settings": _settings(tries=0)}, "--tries 0: must be at least 1"),
    ({"settings": _settings(mistral_version="23.0.0", mistral_src="/tmp")}, "either --version or --mistral-src"),
    ({"resume": Path("elsewhere")}, "give either --out (a new map) or --resume DIR"),
])
def test_the_command_refuses_bad_input_before_any_run(tmp_path: Path, stored, kwargs: dict, message: str) -> None:
    fake = FakeRuns(stored, tmp_path / "out")
    args = {"methods": None, "sides": None, "actions": None, "quick": False, "settings": _settings(),
            "out": tmp_path / "out", "resume": None, "store": tmp_path / "store", "run_fn": fake, **kwargs}
    with pytest.raises(LabError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_map(**args)
    assert fake.specs == [] and not (tmp_path / "out").exists() and not (tmp_path / "store").exists()


def test_the_command_runs_a_map_and_resumes_it_with_its_own_settings(tmp_path: Path, stored) -> None:
    fake = FakeRuns(stored, tmp_path / "out", {1: "ctrl-c"})
    common = {"methods": "run_action", "sides": "receive", "actions": "drop,delay", "quick": False,
              "store": tmp_path / "store", "run_fn": fake}
    code = make_map(settings=_settings(base_seed=5), out=tmp_path / "out", resume=None, **common)
    assert code == EXIT_INTERRUPTED and load_map(tmp_path / "out")["settings"]["base_seed"] == 5
    with pytest.raises(LabError, match="already holds a map.json: --resume"):
        make_map(settings=_settings(), out=tmp_path / "out", resume=None, **common)
    code = make_map(settings=_settings(), out=None, resume=tmp_path / "out", **common)
    assert code == EXIT_DONE and [s.seed for s in fake.specs[1:]] == [cell_seed(5, c) for c in CELLS[:2]]


def test_the_cells_run_through_warm_labs(tmp_path: Path, stored, monkeypatch) -> None:
    calls: list[dict] = []
    fake = FakeRuns(stored, tmp_path / "out")

    def run_test(spec, store, **kwargs):
        calls.append(kwargs)
        return fake(spec, store)

    monkeypatch.setattr("lab.warm._run_test", lambda: run_test)
    code = make_map("start_task", "send", "drop", False, _settings(), tmp_path / "out", None, tmp_path / "store",
                    fresh=True)
    assert code == EXIT_DONE and calls == [{"lab_name": None, "lab_start": "fresh"}]


def test_mistral_lab_map_with_a_bad_method_is_exit_3() -> None:
    _register_commands()
    result = CliRunner().invoke(app, ["map", "--methods", "run_action,teleport"])
    assert isinstance(result.exception, LabError) and result.exception.exit_code == 3
    assert "unknown method 'teleport'" in str(result.exception)


def test_the_quick_selection_is_what_the_command_runs(tmp_path: Path, stored) -> None:
    fake = FakeRuns(stored, tmp_path / "out")
    make_map(None, "send", "drop", True, _settings(), tmp_path / "out", None, tmp_path / "store", run_fn=fake)
    assert [s.name for s in fake.specs] == [f"map-{c.method}-{c.side}-{c.action}"
                                            for c in select_cells(sides="send", actions="drop", quick=True)]
