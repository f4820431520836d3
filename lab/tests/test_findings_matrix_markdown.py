"""docs/versions.md's table comes from versions.json (python -m lab.findings.matrix_markdown), never by hand."""
from __future__ import annotations

from pathlib import Path

from lab.findings.matrix import new_matrix, save
from lab.findings.matrix_markdown import main, render
from lab.tests.test_findings_matrix import ColumnRuns, _matrix


def test_each_cell_says_its_status_and_figures_and_a_refused_cell_its_reason(tmp_path: Path) -> None:
    fake = ColumnRuns(tmp_path, {"20.2.0": [True, True, False], "22.0.0": [False], "23.0.0": [None],
                                 "21.0.0+kombu": ["bring-up"]})
    doc = _matrix(tmp_path, fake, "20.2.0,21.0.0+kombu,22.0.0,23.0.0")
    text = render(doc)
    head, counts, header, rule, row = [line for line in text.splitlines() if line][:5]
    assert head.startswith("`test`, started 20") and "3 tries asked per cell" in head
    assert counts == "Cells: 1 reproduces, 1 gone, 1 inconclusive, 1 cannot run."
    assert header == "| finding | 20.2.0 | 21.0.0+kombu (DEFAULT.rpc_implementation=kombu) | 22.0.0 | 23.0.0 |"
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[0] == "exec-stop" and cells[1] == "**reproduces** 2/3" and cells[3] == "gone 0/3"
    assert cells[2].startswith("cannot run: Mistral 21.0.0 has no option DEFAULT.rpc_implementation")
    assert cells[4] == "inconclusive (0 of 3 conclusive)"


def test_a_matrix_in_progress_says_what_is_not_run_yet(tmp_path: Path, capsys) -> None:
    doc = new_matrix(1, "mistral-lab findings --versions 20.2.0")
    doc.update(columns={"20.2.0": {"mistral_version": "20.2.0"}}, findings=["a"], selected=["a@20.2.0"])
    save(tmp_path, doc)
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Cells: 1 not run yet." in out and "| a | not run yet |" in out
    assert main([]) == 3
