"""docs/protocol-map.md's results come from map.json through lab.map.markdown, never by hand."""
from __future__ import annotations

from lab.map.markdown import main, render, results_table
from lab.map.run import Settings, new_map, save


def _doc() -> dict:
    doc = new_map(Settings(base_seed=1, tries=1), "mistral-lab map --out m")
    doc["started"], doc["updated"] = "2026-12-07T17:07:02Z", "2026-12-07T18:30:00Z"
    doc["selected"] = ["start_task/send/drop", "run_action/receive/drop", "notify/send/delay", "start_action/send/drop"]
    doc["cells"] = {
        "start_task/send/drop": {"class": "defect", "new": True, "findings": [], "tries": [{}], "conclusive": 1,
                                 "anomalies": [{"name": "stuck-execution/idle-task", "follows_message": True}],
                                 "consequences": ["start_task lost | the workflow stays RUNNING " + "x" * 300]},
        "run_action/receive/drop": {"class": "HA gap", "findings": [], "tries": [{}, {}], "conclusive": 2,
                                    "anomalies": [{"name": "abandoned-action/heartbeat", "follows_message": False}],
                                    "consequences": ["run_action lost", "another"]},
        "start_action/send/drop": {"class": "cannot exercise", "tries": [], "conclusive": 0},
    }
    return doc


def test_each_selected_cell_is_one_row_with_its_class_and_evidence() -> None:
    rows = results_table(_doc()).splitlines()
    assert len(rows) == 2 + 3
    stuck, lost, unrun = rows[2:]
    assert "| start_task | send | drop | **defect, NEW** | 1 (1) | stuck-execution/idle-task * |" in stuck
    assert "start_task lost \\| the workflow" in stuck and stuck.endswith("… |") and len(stuck) < 400
    assert "| HA gap | 2 (2) | abandoned-action/heartbeat | run_action lost (+1 more) |" in lost
    assert "| notify | send | delay | not run yet | 0 | - | - |" == unrun


def test_a_defect_matching_a_finding_names_it_and_the_header_carries_command_and_date(tmp_path, capsys) -> None:
    doc = _doc()
    doc["cells"]["start_task/send/drop"].update(new=False, findings=["lost-start-task"])
    text = render(doc)
    assert "**defect, lost-start-task**" in text
    assert text.startswith("`mistral-lab map --out m`, started 2026-12-07 17:07 UTC, last cell 2026-12-07 18:30 UTC")
    assert "Cells: 1 HA gap, 1 defect, 1 cannot exercise, 1 not run yet." in text
    assert "| start_action |" not in text and "cannot exercise (the workload table below says why): " \
        "start_action (1 cell)." in text
    save(tmp_path, doc)
    assert main([str(tmp_path)]) == 0 and "lost-start-task" in capsys.readouterr().out
    assert main([str(tmp_path / "map.json")]) == 0 and "lost-start-task" in capsys.readouterr().out  # the file too
    assert main([str(tmp_path / "none")]) == 3  # one line, no traceback
    assert capsys.readouterr().err.startswith("error: ")
    assert main([]) == 3
