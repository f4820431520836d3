"""A findings try's overhead, read from the runs it left in the store: everything a try costs beyond the spec's
time limit and the settle it needed. `python -m lab.bench.try_overhead RUN_DIR... [--log FILE]`.

Per run: from test.yaml (written before the lab comes up) to results.json (the judgement), minus the time limit,
minus the settle it needed (main end to every execution terminal, or the whole window when it never settled).
A run on a reset lab also paid for the reset before test.yaml was written: `--log` reads the "reset in N s"
lines the warm labs printed (lab.warm) and adds their median to those runs. Target: <= 20 s.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

from history.run_dir import RESULTS_FILE, RUN_FILE, SPEC_FILE, read_spec

RESET_LINE = re.compile(r"reset in (\d+(?:\.\d+)?) s")


def needed_settle_s(run: dict) -> float:
    """Main end to settled; the whole window when the run never settled (it needed all of it)."""
    main_end = float(run.get("main_end_wall") or 0.0)
    settled = run.get("settled_wall")
    if settled is not None and main_end:
        return max(0.0, float(settled) - main_end)
    return float(run.get("settle_s") or 0.0)


def run_overhead_s(run_dir: Path) -> tuple[str, float] | None:
    """(how the lab started, overhead without a reset) of one run; None for a run without a judgement, or one
    interrupted or stopped by a lab failure (it did not pay for a whole try)."""
    spec_path, results_path = run_dir / SPEC_FILE, run_dir / RESULTS_FILE
    if not spec_path.exists() or not results_path.exists() or not (run_dir / RUN_FILE).exists():
        return None
    results = json.loads(results_path.read_text())
    if results.get("interrupted") or results.get("lab_error"):
        return None
    spec = read_spec(run_dir)
    run = json.loads((run_dir / RUN_FILE).read_text())
    wall = results_path.stat().st_mtime - spec_path.stat().st_mtime
    limit = float(spec.get("time_limit_s") or 0.0)
    return str(spec.get("lab_start") or "fresh"), wall - limit - needed_settle_s(run)


def median_line(what: str, values: list[float]) -> str:
    return f"median {what} {statistics.median(values):.1f} s (min {min(values):.1f}, max {max(values):.1f}, " \
           f"n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--log", type=Path, help="The findings/soak output with the warm labs' reset lines.")
    args = parser.parse_args()
    resets = [float(m[1]) for m in RESET_LINE.finditer(args.log.read_text())] if args.log else []
    by_start: dict[str, list[float]] = {}
    for run_dir in args.run_dirs:
        found = run_overhead_s(run_dir)
        if found is not None:
            by_start.setdefault(found[0], []).append(found[1])
    if resets:
        print(median_line("reset", resets))
    reset_s = statistics.median(resets) if resets else 0.0
    for start, values in sorted(by_start.items()):
        paid = [v + reset_s for v in values] if start == "reset" else values
        print(median_line(f"try overhead on a {start} lab", paid) + " (target <= 20 s)")


if __name__ == "__main__":
    main()
