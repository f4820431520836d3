"""The post playbook's collector, run on the node with the lab's Python: index the store's runs (index.html, as
`mistral-lab runs` writes it), bundle every run that was not VALID (`mistral-lab bundle`: passwords scrubbed)
into <store>/bundles/, write <store>/zuul/artifacts.json (the links and warnings the build page shows) and pack
the whole store for the logs, scrubbed as a bundle is: every run's passwords masked, no .secrets.json.

    collect_store.py --store STORE [--prefix mistral-lab/store/] [--pack OUT.tar.gz]

Artifact urls are relative to the build's log url: --prefix is where the store lands under the logs.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tarfile
from pathlib import Path
from typing import Any

from lab.bundle import SECRETS_FILE, TEXT_SUFFIXES, known_secrets, make_bundle, scrub
from lab.store import RunSummary, list_runs, write_index

SUMMARY = Path("zuul") / "summary.json"  # written by the run playbook (roles/mistral_lab/tasks/run.yaml)
ARTIFACTS = Path("zuul") / "artifacts.json"
BUNDLES = "bundles"
# What a step's non-zero exit means, for the build page (exit codes: docs/openstack-gate.md).
MEANING = {
    ("tests", 1): "INVALID: a defect no finding matches (NEW), or a catalogued one under mistral_lab_strict",
    ("tests", 2): "UNKNOWN: the run could not reach a verdict",
    ("tests", 3): "the lab failed (the cluster or the input), not Mistral",
    ("findings", 1): "a finding reproduced below its min_rate: the change may fix it",
    ("findings", 2): "a finding's replay was inconclusive (too few tries that tested anything)",
    ("map", 2): "some map cells were not exercised or inconclusive",
}


def verdict(valid: Any) -> str:
    return {True: "VALID", False: "INVALID"}.get(valid, "UNKNOWN") if isinstance(valid, bool) else "UNKNOWN"


def load_steps(store: Path) -> list[dict[str, Any]]:
    """The run playbook's record of each step; none when the run stopped before writing it."""
    path = store / SUMMARY
    if not path.is_file():
        return []
    return list(json.loads(path.read_text()).get("steps", []))


def bundle_failed(store: Path, runs: list[RunSummary]) -> list[Path]:
    """One scrubbed tar.gz per run that was not VALID, in <store>/bundles/."""
    made = []
    for run in runs:
        if run.valid is True:
            continue
        target = store / BUNDLES / f"{run.test}-{run.started}.tar.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        made.append(make_bundle(run.path, target))
    return made


def newest_run(runs: list[RunSummary], test: str) -> RunSummary | None:
    found = [r for r in runs if r.test == test]
    return max(found, key=lambda r: r.started) if found else None


def artifacts(store: Path, runs: list[RunSummary], steps: list[dict[str, Any]], bundles: list[Path],
              prefix: str) -> list[dict[str, Any]]:
    """The build page's links: the index, each test's report, the map, each step's log, each bundle."""
    def link(name: str, path: Path, kind: str) -> dict[str, Any]:
        return {"name": name, "url": prefix + path.relative_to(store).as_posix(), "metadata": {"type": kind}}

    found = [link("mistral-lab: every run", store / "index.html", "index")]
    for step in steps:
        run = newest_run(runs, step["name"]) if step["step"] == "tests" else None
        if run is not None:
            found.append(link(f"{step['name']}: {verdict(run.valid)}", run.path / "report.html", "report"))
    maps = sorted(store.glob("maps/*/map.html"))
    if maps:
        found.append(link("quick protocol map", maps[-1], "map"))
    found += [link(f"log: {s['step']} {s['name']} (exit {s['rc']})", store / s["log"], "log") for s in steps]
    found += [link(f"bundle: {b.name}", b, "bundle") for b in bundles]
    return found


def warnings(steps: list[dict[str, Any]]) -> list[str]:
    """One line per step that exited non-zero, with what its exit means."""
    lines = []
    for step in steps:
        if step["rc"] != 0:
            meaning = MEANING.get((step["step"], step["rc"]), "see its log")
            lines.append(f"mistral-lab {step['step']} {step['name']}: exit {step['rc']} - {meaning}")
    return lines


def collect(store: Path, prefix: str) -> dict[str, Any]:
    runs = list_runs(store)
    write_index(store, runs)
    steps = load_steps(store)
    listed = {"artifacts": artifacts(store, runs, steps, bundle_failed(store, runs), prefix),
              "warnings": warnings(steps)}
    out = store / ARTIFACTS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(listed, indent=2) + "\n")
    return listed


def pack(store: Path, out: Path) -> Path:
    """The store as one tar.gz, top folder the store's name: text scrubbed with every run's known secrets and the
    password patterns; .secrets.json and symlinks (latest) left out, as log storage may not keep a link."""
    secrets = sorted({s for f in store.rglob(SECRETS_FILE) for s in known_secrets(f.parent)}, key=len, reverse=True)
    with tarfile.open(out, "w:gz") as tar:
        for here, dirs, files in os.walk(store):  # a symlinked folder is listed, never entered
            dirs.sort()
            for name in sorted(files):
                path = Path(here) / name
                arcname = f"{store.name}/{path.relative_to(store).as_posix()}"
                if not path.is_symlink() and path.is_file() and name != SECRETS_FILE:
                    data = path.read_bytes()
                    if path.suffix in TEXT_SUFFIXES:
                        data = scrub(data.decode("utf-8", errors="replace"), secrets).encode()
                    info = tar.gettarinfo(str(path), arcname)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--prefix", default="mistral-lab/store/")
    parser.add_argument("--pack", type=Path, help="also pack the scrubbed store into this tar.gz")
    args = parser.parse_args(argv)
    if not args.store.is_dir():
        print(f"no store at {args.store}", file=sys.stderr)
        return 3
    listed = collect(args.store, args.prefix)
    print(f"{len(listed['artifacts'])} artifact(s), {len(listed['warnings'])} warning(s) in {args.store / ARTIFACTS}")
    if args.pack is not None:
        print(f"store packed, scrubbed, in {pack(args.store, args.pack)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
