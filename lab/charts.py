"""matplotlib for the lab's charts: the run report (lab.report) and the benchmark report (lab.bench.report).

matplotlib itself is imported on the first chart, not with this module: building the CLI stays fast.
"""
from __future__ import annotations


def pyplot():
    """matplotlib without a display (the report is rendered on servers and in CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


__all__ = ["pyplot"]
