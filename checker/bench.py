"""Checker speed figures (`make bench-checker` runs `python -m checker.bench`).

1. all Porcupine etcd histories (load + check), total wall on 2 processes, median of a few runs;
2. Porcupine kv c50-bad: time to the verdict and the peak RSS of a fresh process;
3. a generated 100k-op linearizable cas-register history over 100 keys (load + check).
Each figure runs in a fresh interpreter so peak RSS is its own.
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
    for name in ("etcd", "kv", "gen"):
        figure = _run_fresh(name)
        target = f" (target <= {figure['target_s']} s)"
        extra = {k: v for k, v in figure.items() if k not in ("figure", "seconds", "target_s", "runs")}
        print(f"{figure['figure']}: {figure['seconds']:.3f} s{target}  {json.dumps(extra)}", flush=True)


if __name__ == "__main__":
    main()
