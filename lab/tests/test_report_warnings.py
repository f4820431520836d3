"""Writing a report prints nothing on the console: no matplotlib warning about a legend with no labels."""
from __future__ import annotations

import warnings
from pathlib import Path

import yaml

from lab.report import NemesisPeriod, plot_latency, plot_throughput, render_report


def test_plots_without_labelled_series_warn_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any library warning fails the test
        for periods in ([], [NemesisPeriod(1.0, 2.0, "kill api-1")]):
            assert plot_latency([], periods).startswith(b"\x89PNG")
            assert plot_throughput([], periods).startswith(b"\x89PNG")


def test_rendering_a_run_without_operations_is_silent(tmp_path: Path, capfd):
    (tmp_path / "test.yaml").write_text(yaml.safe_dump({"name": "smoke", "seed": 1}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert render_report(tmp_path).exists()
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
