"""Checker speed figures (`make bench-checker` runs `python -m checker.bench`).

1. `mistral-lab --help` as a whole process: the CLI start-up every command pays, median of several runs;
2. `mistral-lab check --format jepsen-log --model cas-register` on all Porcupine etcd histories as a whole
   process (start-up, parsing, pairing, search, output), median of several runs - Porcupine takes 0.96 s;
3. all Porcupine etcd histories (load + check), total wall on 2 processes, median of a few runs;
4. Porcupine kv c50-bad: time to the verdict and the peak RSS of a fresh process;
5. a generated 100k-op linearizable cas-register history over 100 keys (load + check).
Figures 3-5 run in a fresh interpreter so peak RSS is its own. Whole-process figures also give the median
CPU time (user + sys), which a busy machine inflates far less than the wall time.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VALIDATION = os.path.join(REPO, "tests", "data", "validation")
REPEATS = 3
PROCESS_REPEATS = 7


def _cli() -> list[str]:
    """The installed console script next to this interpreter, else `python -m lab`."""
    script = os.path.join(os.path.dirname(sys.executable), "mistral-lab")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "lab"]


def _time_process(argv: list[str], expected_code: int) -> tuple[float, float, str]:
    """(wall s, user+sys CPU s, stdout) of one whole process; its exit code must be `expected_code`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != expected_code:
        raise RuntimeError(f"{' '.join(argv[:4])} ... exited {proc.returncode}, expected {expected_code}: {proc.stderr[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def _process_figure(name: str, argv: list[str], expected_code: int, target_s: float | None) -> dict:
    runs = [_time_process(argv, expected_code) for _ in range(PROCESS_REPEATS)]
    walls = [wall for wall, _, _ in runs]
    return {"figure": name, "seconds": statistics.median(walls), "runs": walls,
            "cpu_s": round(statistics.median(cpu for _, cpu, _ in runs), 3), "target_s": target_s,
            "stdout": runs[-1][2]}


def bench_cli_startup() -> dict:
    figure = _process_figure(f"mistral-lab --help, whole process, median of {PROCESS_REPEATS}", [*_cli(), "--help"], 0, None)
    del figure["stdout"]
    return figure


def bench_etcd_cli() -> dict:
    """The end-to-end figure a user sees, to compare with Porcupine's 0.96 s in Go."""
    rows = [row for row in validation_rows() if row["file"].startswith("porcupine-etcd/")]
    paths = [os.path.join(VALIDATION, row["file"]) for row in rows]
    argv = [*_cli(), "check", "--format", "jepsen-log", "--model", "cas-register", *paths]
    figure = _process_figure(f"mistral-lab check etcd x{len(paths)}, whole process, median of {PROCESS_REPEATS}",
                             argv, 1, 1.0)
    invalid = sum(": INVALID (" in line for line in figure.pop("stdout").splitlines())
    expected = sum(row["expected"] == "invalid" for row in rows)
    if invalid != expected:
        raise RuntimeError(f"etcd: {invalid} histories reported invalid, verdicts.tsv says {expected}")
    figure["invalid"] = invalid
    return figure


def validation_rows() -> list[dict[str, str]]:
    """The rows of verdicts.tsv: file, format, model, expected (etcd_095 is empty upstream and not listed)."""
    with open(os.path.join(VALIDATION, "verdicts.tsv"), encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_etcd(jobs: int = 2) -> dict:
    from checker.batch import check_paths

    paths = [os.path.join(VALIDATION, row["file"]) for row in validation_rows() if row["file"].startswith("porcupine-etcd/")]
    walls = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        outcomes = list(check_paths(paths, "jepsen-log", "cas-register", jobs=jobs))
        walls.append(time.perf_counter() - started)
    invalid = sum(1 for o in outcomes if o.result and o.result.valid is False)
    return {"figure": f"porcupine etcd x{len(paths)}, {jobs} processes, total wall", "seconds": statistics.median(walls),
            "runs": walls, "invalid": invalid, "target_s": 1.0}


def bench_kv_c50_bad() -> dict:
    from checker.check import check_file

    started = time.perf_counter()
    result = check_file(os.path.join(VALIDATION, "porcupine-kv", "c50-bad.txt"), "porcupine-kv", "kv-append")
    return {"figure": "porcupine kv c50-bad, verdict", "seconds": time.perf_counter() - started,
            "valid": result.valid, "peak_rss_mb": _peak_rss_mb(), "target_s": 1.0, "target_rss_mb": 500}


def bench_generated_100k() -> dict:
    from checker.check import check_file
    from checker.generate import generate_cas_history

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cas-100k.jsonl")
        generate_cas_history(path, ops=100_000, keys=100)
        started = time.perf_counter()
        result = check_file(path, "jsonl", "cas-register")
        seconds = time.perf_counter() - started
    return {"figure": "generated cas-register 100k ops / 100 keys, load + check", "seconds": seconds,
            "valid": result.valid, "ops": result.ops, "keys": result.keys, "peak_rss_mb": _peak_rss_mb(), "target_s": 10.0}


FIGURES = {"etcd": bench_etcd, "kv": bench_kv_c50_bad, "gen": bench_generated_100k}
# These time whole child processes themselves, so they run from the parent interpreter.
PROCESS_FIGURES = {"startup": bench_cli_startup, "etcd-cli": bench_etcd_cli}


def _run_fresh(name: str) -> dict:
    output = subprocess.run(
        [sys.executable, "-m", "checker.bench", "--one", name], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", choices=sorted(FIGURES), help="run one figure in this process and print it as JSON")
    args = parser.parse_args()
    if args.one:
        figure = FIGURES[args.one]()
        figure.setdefault("peak_rss_mb", _peak_rss_mb())
        print(json.dumps(figure))
        return
    for name in ("startup", "etcd-cli", "etcd", "kv", "gen"):
        figure = PROCESS_FIGURES[name]() if name in PROCESS_FIGURES else _run_fresh(name)
        print(_line(figure), flush=True)


def _line(figure: dict) -> str:
    target = f" (target <= {figure['target_s']} s)" if figure.get("target_s") is not None else ""
    extra = {k: v for k, v in figure.items() if k not in ("figure", "seconds", "target_s", "runs")}
    return f"{figure['figure']}: {figure['seconds']:.3f} s{target}  {json.dumps(extra)}"


if __name__ == "__main__":
    main()
