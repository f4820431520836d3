"""`make gate-test`: the Zuul job's playbooks run on this machine as a Zuul executor would run them, then checked.

What Zuul gives a job is made here under --gate-dir (default .lab-cache/gate/):
  src/opendev.org/openstack/mistral/  the "change under test": a Mistral sdist unpacked (a checkout of a release)
  job/work/logs/                      zuul.executor.log_root, where the post playbook puts the artifacts
  job/work/results.json               what zuul_return returns (Zuul's own action plugin writes it)
  action_plugins/zuul_return.py       that plugin, linked from the zuul package of the tool venv
  zuul-vars.json                      the `zuul` variable (projects and their src_dir, executor dirs) + the job vars
pre, run and post then run with `ansible-playbook -i localhost, -c local`; post runs whatever run did, as in
Zuul. The check: run exited 0, the lab-test run in the store is VALID with every file a `make lab-test` run has,
and every artifact zuul_return listed resolves (Zuul's own resolution against the log url) to a file in the logs.

Runs in the gate's tool venv (ansible-core, zuul); exit 0 when every check passes, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

LAB_PROJECT = "opendev.org/openstack/mistral-lab"
MISTRAL_PROJECT = "opendev.org/openstack/mistral"
PLAYBOOKS = Path("playbooks") / "mistral-lab"
LOG_FOLDER = "mistral-lab"  # roles/mistral_lab/defaults/main.yaml: mistral_lab_log_folder
# The files of a finished `make lab-test` run (README, "The store"); logs/ is a folder.
RUN_FILES = ("test.yaml", "compose.yaml", "mistral.conf", "history.jsonl", "witness.jsonl", "mistral-snapshot.json",
             "run.json", "results.json", "report.html", "timeline.png", "latency.png", "throughput.png", "logs")
# Short enough for a machine of 2 cores, and every step still runs: one finding, one try; one map cell.
LOCAL_VARS: dict[str, Any] = {
    "mistral_lab_steps": ["tests", "findings", "map"],
    "mistral_lab_tests": ["lab-test"],
    "mistral_lab_findings": ["lost-start-task-leaves-execution-running"],
    "mistral_lab_findings_tries": 1,
    "mistral_lab_map_methods": "start_task",
    "mistral_lab_map_actions": "drop",
}


def zuul_vars(lab_dir: Path, mistral_src: Path, gate_dir: Path, store: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """The variables Zuul would give the job: `zuul` (absolute src_dirs: path_join keeps them as they are)."""
    work = gate_dir / "job" / "work"
    zuul = {
        "build": "local", "job": "mistral-lab-ha", "pipeline": "local",
        "project": {"canonical_name": LAB_PROJECT},
        "projects": {LAB_PROJECT: {"src_dir": str(lab_dir)}, MISTRAL_PROJECT: {"src_dir": str(mistral_src)}},
        "executor": {"log_root": str(work / "logs"), "work_root": str(work)},
    }
    # The modules run with the system's Python where there is one (apt's bindings are there), not a shim on PATH.
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    return {"zuul": zuul, "ansible_python_interpreter": python, "mistral_lab_project": LAB_PROJECT,
            "mistral_lab_mistral_project": MISTRAL_PROJECT, "mistral_lab_store": str(store), **LOCAL_VARS, **extra}


def mistral_tree(lab_dir: Path, gate_dir: Path, version: str) -> Path:
    """The Mistral sdist of `version` (fetched and cached by the lab's own code) unpacked where Zuul would put
    the change's checkout; a fresh copy each time, as a node is."""
    python = lab_dir / ".venv" / "bin" / "python"
    fetch = "import sys; from lab.findings.patches import fetch_sdist; print(fetch_sdist(sys.argv[1]))"
    proc = subprocess.run([str(python), "-c", fetch, version], capture_output=True, text=True, cwd=lab_dir)
    if proc.returncode != 0:
        raise SystemExit(f"[gate-test] cannot fetch the sdist of Mistral {version}: {proc.stderr.strip()[-500:]}")
    archive = Path(proc.stdout.strip())
    dest = gate_dir / "src" / MISTRAL_PROJECT
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        top = tar.getmembers()[0].name.split("/")[0]
        tar.extractall(dest.parent, filter="data")
    (dest.parent / top).rename(dest)
    return dest


def prepare(lab_dir: Path, gate_dir: Path, store: Path | None, variables: dict[str, Any]) -> dict[str, str]:
    """A clean job dir (and store, when given: a node starts with none), the zuul_return plugin and the vars
    file; returns the environment for ansible-playbook."""
    import zuul

    for stale in (gate_dir / "job", store):
        if stale is not None:
            shutil.rmtree(stale, ignore_errors=True)
    logs = gate_dir / "job" / "work" / "logs"
    logs.mkdir(parents=True)
    (logs.parent / "results.json").write_text("")  # Zuul creates it empty; zuul_return merges into it
    plugins = gate_dir / "action_plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    link = plugins / "zuul_return.py"
    link.unlink(missing_ok=True)
    link.symlink_to(Path(zuul.__file__).parent / "ansible" / "base" / "action" / "zuul_return.py")
    (gate_dir / "zuul-vars.json").write_text(json.dumps(variables, indent=2) + "\n")
    tools = Path(sys.executable).parent
    return {**os.environ, "ANSIBLE_ROLES_PATH": str(lab_dir / "roles"), "ANSIBLE_ACTION_PLUGINS": str(plugins),
            "ZUUL_JOBDIR": str(gate_dir / "job"), "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"}


def play(lab_dir: Path, name: str, gate_dir: Path, env: dict[str, str]) -> int:
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
               "-e", f"@{gate_dir / 'zuul-vars.json'}", str(lab_dir / PLAYBOOKS / f"{name}.yaml")]
    print(f"[gate-test] {' '.join(command)}", flush=True)
    return subprocess.run(command, env=env).returncode


def check_store(store: Path, test: str = "lab-test") -> list[str]:
    """What is wrong with the gate's store, compared with what `make lab-test` leaves: none when it is the same."""
    runs = sorted((store / test).glob("*/results.json"))
    if not runs:
        return [f"no {test} run in {store}"]
    run_dir = runs[-1].parent
    problems = [f"{run_dir}: no {name}" for name in RUN_FILES if not (run_dir / name).exists()]
    valid = json.loads(runs[-1].read_text()).get("valid")
    if valid is not True:
        problems.append(f"{run_dir}: valid is {valid!r}, not True")
    problems += [f"{store}: no {name}" for name in ("latest", "index.html") if not (store / name).exists()]
    return problems


def print_steps(store: Path) -> None:
    """Each step's exit as the run playbook recorded it, with its log (the command's whole output)."""
    summary = store / "zuul" / "summary.json"
    steps = json.loads(summary.read_text())["steps"] if summary.is_file() else []
    for step in steps:
        print(f"[gate-test] {step['step']} {step['name']}: exit {step['rc']}, output in {store / step['log']}")


def check_artifacts(gate_dir: Path, store: Path, test: str = "lab-test") -> list[str]:
    """Every artifact zuul_return listed, resolved against the log url as Zuul resolves it, is a file in the logs;
    the test's report is among them."""
    from zuul.lib.result_data import get_artifacts_from_result_data

    work = gate_dir / "job" / "work"
    text = (work / "results.json").read_text()
    data = json.loads(text)["data"] if text.strip() else {}
    data.setdefault("zuul", {})["log_url"] = (work / "logs").as_uri() + "/"
    listed = get_artifacts_from_result_data(data)
    if not listed:
        return [f"zuul_return listed no artifact in {work / 'results.json'}"]
    problems = [f"artifact {a['name']!r}: no file at {a['url']}" for a in listed
                if not Path(a["url"].removeprefix("file://")).is_file()]
    if not any(a["name"].startswith(f"{test}: ") for a in listed):
        problems.append(f"no {test} report among the artifacts")
    shown = work / "logs" / LOG_FOLDER / store.name
    print(f"[gate-test] {len(listed)} artifact(s) in {shown}: " + "; ".join(a["name"] for a in listed[:6]), flush=True)
    return problems


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the Zuul job's playbooks here and check what they left.")
    parser.add_argument("--lab-dir", type=Path, default=Path.cwd())
    parser.add_argument("--gate-dir", type=Path, default=Path(".lab-cache") / "gate")
    parser.add_argument("--store", type=Path, default=Path("store") / "gate-test")
    parser.add_argument("--mistral-version", default="23.0.0", help="the release whose sdist plays the change")
    parser.add_argument("--post-only", action="store_true",
                        help="only the post playbook, on the store as it is (no Docker): collect and check artifacts")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=JSON",
                        help="a job variable (its value as JSON, else a string), e.g. mistral_lab_steps='[\"tests\"]'")
    return parser.parse_args(argv)


def extra_vars(pairs: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--var {pair}: give NAME=VALUE")
        try:
            found[name] = json.loads(value)
        except ValueError:
            found[name] = value
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    lab_dir, gate_dir, store = (p.resolve() for p in (args.lab_dir, args.gate_dir, args.store))
    if args.post_only:
        src = gate_dir / "src" / MISTRAL_PROJECT
    else:
        src = mistral_tree(lab_dir, gate_dir, args.mistral_version)
    variables = zuul_vars(lab_dir, src, gate_dir, store, extra_vars(args.var))
    env = prepare(lab_dir, gate_dir, None if args.post_only else store, variables)
    codes = {} if args.post_only else {"pre": play(lab_dir, "pre", gate_dir, env)}
    if codes.get("pre") == 0:
        codes["run"] = play(lab_dir, "run", gate_dir, env)
    codes["post"] = play(lab_dir, "post", gate_dir, env)  # as in Zuul: post runs whatever pre and run did
    problems = [f"{name} playbook exited {code}" for name, code in codes.items() if code != 0]
    if codes.get("pre") == 0:
        print_steps(store)
        problems += check_store(store)
    if codes["post"] == 0:
        problems += check_artifacts(gate_dir, store)
    for line in problems:
        print(f"[gate-test] FAIL {line}", flush=True)
    print(f"[gate-test] {'FAILED' if problems else 'PASSED'}: store {store}, logs {gate_dir / 'job/work/logs'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
