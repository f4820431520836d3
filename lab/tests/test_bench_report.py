"""Unit tests of the scaling benchmark's report: `mistral-lab bench-compare` against its noise bound, the HTML,
PNG and Markdown report, fault runs as ratios to their baseline."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cluster.errors import LabError
from lab.bench import model as bench_model, report as bench_report
from lab.cli import _register_commands, app

runner = CliRunner()
_register_commands()


def _doc(exec_mean: float = 2.0, tput: float = 10.0, rel: float = 0.04, valid: bool = True,
         topology: str = "1x1x1", cpu_pct: float = 60.0) -> dict:
    half = rel / 2
    entry = {
        "workflow": "sequence", "topology": topology, "nemesis": "none", "valid": valid, "samples": 12,
        "exec_time_s": {"min": exec_mean * 0.8, "mean": exec_mean, "p50": exec_mean, "p95": exec_mean * 1.2,
                        "max": exec_mean * 1.3},
        "per_task_s": {"min": 0.0, "mean": 0.3, "p50": 0.0, "p95": 1.0, "max": 1.0},
        "tasks_per_s": tput, "executions_per_s": tput / 5,
        "spread": {"exec_time_mean": {"min": exec_mean * (1 - half), "max": exec_mean * (1 + half), "rel_range": rel},
                   "tasks_per_s": {"min": tput * (1 - half), "max": tput * (1 + half), "rel_range": rel},
                   "per_task_mean": {"min": 0.25, "max": 0.35, "rel_range": 0.33}},
        "cpu": {"cores": 2, "total_mean_pct": cpu_pct, "host_busy_pct": 150.0, "cpu_bound": cpu_pct >= 160,
                "by_role": {"engine": {"mean_pct": cpu_pct / 2}, "broker": {"mean_pct": cpu_pct / 2}},
                "cpu_s_per_task": {"total": 0.1}},
        "memory_mb": {"total_max": 800.0, "by_role": {"engine": 300.0, "broker": 500.0}},
    }
    if not valid:
        entry["invalid_reason"] = "1/3 repeats had failed or stuck executions"
    return {"machine": {"cores": 2, "mem_gb": 24}, "mistral_version": "23.0.0",
            "params": {"topologies": [topology], "concurrency": 2, "workflows": ["sequence"]}, "results": [entry]}


def _write(tmp_path: Path, name: str, document: dict) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def test_compare_same_results_is_ok(tmp_path: Path) -> None:
    a = _write(tmp_path, "a.json", _doc())
    result = runner.invoke(app, ["bench-compare", str(a), str(a)])
    assert result.exit_code == 0, result.output
    assert "no regression" in result.output


def test_compare_flags_a_regression_beyond_the_noise_bound(tmp_path: Path) -> None:
    a = _write(tmp_path, "a.json", _doc(exec_mean=2.0, tput=10.0))
    b = _write(tmp_path, "b.json", _doc(exec_mean=2.6, tput=7.7))     # 30 % slower, bound 8 %
    result = runner.invoke(app, ["bench-compare", str(a), str(b)])
    assert result.exit_code == 1, result.output
    assert "regression" in result.output and "1.300" in result.output


def test_compare_within_noise_is_not_a_regression() -> None:
    comparison = bench_report.compare(_doc(exec_mean=2.0, rel=0.2), _doc(exec_mean=2.6, rel=0.2))[0]
    assert comparison.exec_bound == pytest.approx(0.4) and comparison.status == "ok"
    assert comparison.exec_ratio == pytest.approx(1.3)


def test_compare_improvement_and_invalid_candidate() -> None:
    assert bench_report.compare(_doc(exec_mean=2.0), _doc(exec_mean=1.0, tput=20.0))[0].status == "improvement"
    invalid = bench_report.compare(_doc(), _doc(valid=False))[0]
    assert invalid.status == "invalid" and invalid.regression
    assert bench_report.compare(_doc(valid=False), _doc())[0].status == "baseline-invalid"


def test_compare_noise_floor_applies_with_a_single_repeat() -> None:
    comparison = bench_report.compare(_doc(exec_mean=2.0, rel=0.0), _doc(exec_mean=2.08, rel=0.0))[0]
    assert comparison.exec_bound == bench_report.DEFAULT_NOISE_FLOOR and comparison.status == "ok"


def test_compare_bad_files_exit_3(tmp_path: Path) -> None:
    a = _write(tmp_path, "a.json", _doc())
    other = _write(tmp_path, "other.json", _doc(topology="2x4x4"))
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    for args, message in (([str(a), str(tmp_path / "nope.json")], "no such file"),
                          ([str(a), str(junk)], "not a benchmark JSON file"),
                          ([str(a), str(other)], "share no (workflow, topology, nemesis) entry")):
        result = runner.invoke(app, ["bench-compare", *args])
        assert isinstance(result.exception, LabError) and message in str(result.exception)


def test_report_writes_html_png_and_honest_notes(tmp_path: Path) -> None:
    document = _doc(cpu_pct=170.0)
    second = copy.deepcopy(document["results"][0]) | {"topology": "1x2x2", "tasks_per_s": 12.0}
    document["results"].append(second)
    document["params"]["topologies"] = ["1x1x1", "1x2x2"]
    html_path, png_path = bench_report.write_report(document, tmp_path / "r.json")
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = html_path.read_text()
    assert "CPU-bound: in 2/2 measurements" in page and "<td>12.0</td>" in page and "data:image/png;base64," in page
    table = bench_report.markdown_table(document).splitlines()
    assert len(table) == 4 and "| sequence | 1x1x1 | none | yes | 12 | 2.00 |" in table[2]


def test_fault_run_is_reported_as_ratios_to_its_baseline() -> None:
    baseline = {"exec_time_s": {"mean": 2.0}, "tasks_per_s": 10.0}
    faulty = {"exec_time_s": {"mean": 3.0}, "tasks_per_s": 6.0}
    assert bench_model.versus(baseline, faulty) == {"exec_time_ratio": 1.5, "tasks_per_s_ratio": 0.6}
    assert bench_model.versus(baseline, {"exec_time_s": None, "tasks_per_s": None}) == {
        "exec_time_ratio": None, "tasks_per_s_ratio": None}
