"""Mistral's own unit tests for the modules a candidate patch touches, run on the patched tree inside the lab's
Mistral image (issue 27: a fix that breaks Mistral's own tests is not a fix).

Which tests, per patch (select_modules, printed with the reason for each): the test modules the patch adds or
changes; every test module that imports a touched module directly; and test_<module>.py named after a touched
module (outside api/ and lang/, whose tests are named after REST resources and DSL parts). Imports through helper
modules are not followed: mistral/tests/unit/engine/base.py imports both servers, so that would be every engine test.

The tree's own `mistral` package (code and tests) is mounted read-only on PYTHONPATH in front of the installed
one: the image's wheel follows the sdist's file list (mistral.egg-info/SOURCES.txt) and leaves out the test
modules a patch adds. The image gives Python, Mistral's dependencies and its entry points. The test requirements are
wheels fetched on the host (pip in a container cannot verify TLS), installed offline in each throwaway container.
`--unpatched` runs the same modules on the plain sdist (in the release's image) with the patches' own test files
copied in: their new tests are expected to fail there.

    python -m lab.findings.mistral_tests [--series | PATCH_ID ...] [--unpatched] [--cpus 0.5]
    (exit 0 every test passed, or the unpatched run completed; 1 a test failed or ran nothing; 3 bad input)
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cluster.constraints import constraints_file, tree_version
from cluster.errors import LabError
from cluster.paths import cache_dir
from lab.findings import patches as _patches
from lab.findings.patch_series import series_patches, series_tree

DEFAULT_CPUS = "0.5"  # the machine is shared with long replays: a unit-test run never takes more than half a core
DEFAULT_TIMEOUT_S = 3600
CONTAINER_PREFIX = "mlab-unittests-"
TESTS_ROOT = "mistral/tests/unit"
NAME_MATCH_EXCLUDED = ("api", "lang")
# Not installed unless a selected module imports them: linters, coverage, tempest; stestr because the modules
# run under stdlib unittest (stestr discovers every test module, and the hacking ones need pycodestyle).
SKIPPED_REQUIREMENTS = {"hacking": "hacking", "doc8": "doc8", "coverage": "coverage", "tempest": "tempest",
                        "stestr": "stestr"}
MARK = "MLAB-UNITTEST "
OWN = "the patch adds or changes it"
PASSED, SKIPPED = {"pass", "xfail"}, {"skip"}  # anything else (fail, error, uxsuccess) fails
RUNNER = r'''import importlib, json, sys, traceback, unittest
def emit(test_id, outcome, detail=""):
    sys.__stdout__.write("MLAB-UNITTEST " + json.dumps({"id": test_id, "outcome": outcome,
                                                        "detail": detail[-1500:]}) + "\n")
    sys.__stdout__.flush()
class Result(unittest.TextTestResult):
    def addSuccess(self, t): super().addSuccess(t); emit(t.id(), "pass")
    def addFailure(self, t, e): super().addFailure(t, e); emit(t.id(), "fail", self._exc_info_to_string(e, t))
    def addError(self, t, e): super().addError(t, e); emit(t.id(), "error", self._exc_info_to_string(e, t))
    def addSkip(self, t, r): super().addSkip(t, r); emit(t.id(), "skip", str(r))
    def addExpectedFailure(self, t, e): super().addExpectedFailure(t, e); emit(t.id(), "xfail")
    def addUnexpectedSuccess(self, t): super().addUnexpectedSuccess(t); emit(t.id(), "uxsuccess")
    def addSubTest(self, t, s, e):
        super().addSubTest(t, s, e)
        if e is not None: emit(s.id(), "fail", self._exc_info_to_string(e, t))
suite = unittest.TestSuite()
for name in sys.argv[1:]:
    try:
        suite.addTests(unittest.defaultTestLoader.loadTestsFromModule(importlib.import_module(name)))
    except Exception:
        emit(name, "error", traceback.format_exc())
unittest.TextTestRunner(stream=sys.stderr, verbosity=0, resultclass=Result).run(suite)
'''

Run = Callable[..., "subprocess.CompletedProcess[str]"]
Say = Callable[[str], None]


# ---------------------------------------------------------------- which tests
@dataclass(frozen=True)
class Selected:
    module: str  # dotted: mistral.tests.unit.engine.test_policies
    why: str


def touched_files(patch_text: str) -> list[str]:
    """The tree paths a unified diff changes or adds (its `+++ b/` lines), in patch order."""
    found = [line[6:].split("\t")[0].strip() for line in patch_text.splitlines() if line.startswith("+++ b/")]
    return list(dict.fromkeys(found))


def dotted_test_module(path: str) -> str | None:
    """mistral/tests/unit/engine/test_x.py -> mistral.tests.unit.engine.test_x; None for any other file."""
    p = Path(path)
    if p.suffix != ".py" or not p.name.startswith("test_") or not path.startswith(TESTS_ROOT + "/"):
        return None
    return ".".join(p.with_suffix("").parts)


def module_imports(source: str) -> set[str]:
    """Every dotted name an absolute import binds: `from mistral.engine import policies` gives mistral.engine
    and mistral.engine.policies."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def import_index(tree: Path) -> dict[str, set[str]]:
    """Every test module of the tree (dotted name) -> the names it imports; sorted, so selection is stable."""
    index = {}
    for path in sorted((tree / TESTS_ROOT).rglob("test_*.py")):
        name = dotted_test_module(str(path.relative_to(tree)))
        if name is not None:
            index[name] = module_imports(path.read_text())
    return index


def select_modules(patch_text: str, index: dict[str, set[str]]) -> list[Selected]:
    """The test modules for one patch, each with its first reason, sorted by module name."""
    reasons: dict[str, str] = {}
    files = touched_files(patch_text)
    for path in files:
        if (own := dotted_test_module(path)) is not None:
            reasons.setdefault(own, OWN)
    sources = [p for p in files if p.startswith("mistral/") and p.endswith(".py") and "/tests/" not in p
               and not p.endswith("__init__.py")]
    for source in sources:
        dotted = ".".join(Path(source).with_suffix("").parts)
        stem = Path(source).stem
        for test, imported in index.items():
            if dotted in imported:
                reasons.setdefault(test, f"imports {dotted}")
            parts = test.split(".")
            if parts[-1] == f"test_{stem}" and parts[3] not in NAME_MATCH_EXCLUDED:
                reasons.setdefault(test, f"named after {source}")
    return [Selected(module, reasons[module]) for module in sorted(reasons)]


def requirements(text: str, imported: set[str]) -> list[str]:
    """test-requirements.txt lines to install: comments dropped, SKIPPED_REQUIREMENTS unless imported."""
    wanted = []
    for line in text.splitlines():
        spec = line.split("#", 1)[0].strip()
        match = re.match(r"[A-Za-z0-9._-]+", spec)
        if not match:
            continue
        top = SKIPPED_REQUIREMENTS.get(match.group(0).lower())
        if top is None or any(name == top or name.startswith(top + ".") for name in imported):
            wanted.append(spec.replace(" ", ""))
    return wanted


# ---------------------------------------------------------------- results
@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, outcome: str) -> None:
        kind = "passed" if outcome in PASSED else "skipped" if outcome in SKIPPED else "failed"
        setattr(self, kind, getattr(self, kind) + 1)

    @property
    def ran(self) -> int:
        return self.passed + self.failed + self.skipped


def parse_results(stdout: str) -> list[dict[str, str]]:
    """The runner's records (one JSON per marked line); a test's own output never carries the mark."""
    return [json.loads(line[len(MARK):]) for line in stdout.splitlines() if line.startswith(MARK)]


def belongs(test_id: str, module: str) -> bool:
    """A test id of `module`: module.Class.test, the module itself (its import failed), or a class fixture's
    error holder, `setUpClass (module.Class)`."""
    return test_id == module or test_id.startswith(module + ".") or f"({module}." in test_id


def tally(records: list[dict[str, str]], modules: list[str]) -> Counts:
    counts = Counts()
    for record in records:
        if any(belongs(record["id"], module) for module in modules):
            counts.add(record["outcome"])
    return counts


# ---------------------------------------------------------------- host wheels and the container
def requirement_wheels(tree: Path, wanted: list[str], run: Run = subprocess.run) -> Path:
    """The test requirements as wheels, fetched on the host with the release's upper-constraints; cached by the
    requirement list and the constraints (a folder holds requirements.txt beside its wheels)."""
    from cluster.wheels import pip_command  # only a run needs host pip

    constraints = constraints_file(tree_version(tree))
    key = "\n".join(wanted) + "\0" + (constraints.read_text() if constraints else "")
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    house = cache_dir() / "test-wheels" / f"{tree_version(tree) or 'src'}-{digest}"
    if (house / ".complete").exists():
        return house
    house.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".test-wheels-", dir=house.parent))
    try:
        pinned = ["--constraint", str(constraints)] if constraints else []
        proc = run(pip_command("wheel", "--wheel-dir", str(scratch), *pinned, *wanted), capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            raise LabError(f"fetching the test requirements' wheels on the host failed: {tail[0][:200]}")
        (scratch / "requirements.txt").write_text("".join(f"{spec}\n" for spec in wanted))
        (scratch / ".complete").touch()
        shutil.rmtree(house, ignore_errors=True)
        scratch.rename(house)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return house


def docker_command(name: str, image: str, package: Path, wheels: Path, run_dir: Path, modules: list[str],
                   cpus: str = DEFAULT_CPUS) -> list[str]:
    """One throwaway container, no network: install the wheels offline, then run the modules with the tree's
    package first on the path. The rpc fault hook of the image stays off; the env is tox's for Mistral."""
    env = {"PYTHONPATH": "/src", "PYTHONDONTWRITEBYTECODE": "1", "MISTRAL_LAB_RPC_HOOK": "0",
           "OS_STDOUT_CAPTURE": "1", "OS_STDERR_CAPTURE": "1", "OS_TEST_TIMEOUT": "160"}
    script = ("python -m pip install --quiet --no-index --find-links /mlab/wheels -r /mlab/wheels/requirements.txt"
              ' && exec python /mlab/run/runner.py "$@"')
    return ["docker", "run", "--rm", "--name", name, "--cpus", cpus, "--network", "none", "-w", "/tmp",
            *[arg for key, value in env.items() for arg in ("-e", f"{key}={value}")],
            "-v", f"{package.resolve()}:/src/mistral:ro", "-v", f"{wheels.resolve()}:/mlab/wheels:ro",
            "-v", f"{run_dir.resolve()}:/mlab/run:ro", "--entrypoint", "sh", image, "-c", script, "sh", *modules]


def run_container(cmd: list[str], timeout: float, run: Run = subprocess.run) -> "subprocess.CompletedProcess[str]":
    """Run it; past the timeout remove the container (ours, by its name) and say so."""
    try:
        return run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        run(["docker", "rm", "-f", cmd[cmd.index("--name") + 1]], capture_output=True, text=True)
        raise LabError(f"Mistral's unit tests did not finish in {timeout:.0f} s (container removed)") from None


# ---------------------------------------------------------------- jobs
@dataclass
class Job:
    """One container run: a package folder, the image it runs in, and the patches whose modules it runs."""

    label: str
    tree: Path  # the tree the modules were selected from (and test-requirements.txt read from)
    image: str
    package: Path  # the `mistral` folder mounted at /src/mistral
    selections: dict[str, list[Selected]] = field(default_factory=dict)  # patch id -> its modules

    def modules(self) -> list[str]:
        return sorted({s.module for chosen in self.selections.values() for s in chosen})


def patch_ids(directory: Path | None = None) -> list[str]:
    return [p.stem for p in series_patches(directory)]


def check_ids(ids: list[str], directory: Path | None = None) -> None:
    known = patch_ids(directory)
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise LabError(f"unknown patch id {unknown[0]!r} (known: {', '.join(known)})")


def selections(tree: Path, ids: list[str], directory: Path | None = None) -> dict[str, list[Selected]]:
    index = import_index(tree)
    return {i: select_modules(_patches.patch_file(i, directory).read_text(), index) for i in ids}


def unpatched_package(tree: Path, own: list[str], scratch: Path, fetch: Callable[[str], Path]) -> Path:
    """The plain sdist's `mistral` folder with the patches' own test modules copied in from `tree`."""
    plain = _patches.unpack_sdist(fetch(tree_version(tree) or ""), scratch / "unpatched")
    for module in own:
        relative = Path(*module.split(".")).with_suffix(".py")
        shutil.copyfile(tree / relative, plain / relative)
    return plain / "mistral"


# ---------------------------------------------------------------- running and reporting
def run_job(job: Job, run_dir: Path, cpus: str, timeout: float, say: Say, run: Run = subprocess.run,
            wheels: Callable[[Path, list[str]], Path] | None = None) -> list[dict[str, str]]:
    """Run the job's modules in one container, print its tables and return the runner's records."""
    modules = job.modules()
    index = import_index(job.tree)
    imported = set().union(*(index.get(m, set()) for m in modules))
    wanted = requirements((job.tree / "test-requirements.txt").read_text(), imported)
    house = (wheels or (lambda t, w: requirement_wheels(t, w, run)))(job.tree, wanted)
    (run_dir / "runner.py").write_text(RUNNER)
    cmd = docker_command(CONTAINER_PREFIX + secrets.token_hex(4), job.image, job.package, house, run_dir,
                         modules, cpus)
    say(f"{job.label}: {len(modules)} modules in {job.image}\n  running: {shlex.join(cmd[:-len(modules)])} "
        f"<the {len(modules)} modules below>")
    started = time.monotonic()
    proc = run_container(cmd, timeout, run)
    records = parse_results(proc.stdout or "")
    if not records:
        tail = " | ".join((proc.stderr or "").strip().splitlines()[-3:]) or "no output"
        raise LabError(f"the test container reported no test (exit {proc.returncode}): {tail[:300]}")
    say(f"  wall time {time.monotonic() - started:.0f} s, container exit {proc.returncode}")
    report_job(job, records, say)
    return records


def report_job(job: Job, records: list[dict[str, str]], say: Say) -> None:
    say(f"  {'module':<66} {'passed':>6} {'failed':>6} {'skipped':>7}  why (the first patch that selects it)")
    reasons: dict[str, str] = {}
    for patch, chosen in job.selections.items():
        for s in chosen:  # the patch that adds or changes a test module is the reason it is there
            if s.module not in reasons or (s.why == OWN and f": {OWN}" not in reasons[s.module]):
                reasons[s.module] = f"{patch}: {s.why}"
    for module in job.modules():
        c = tally(records, [module])
        say(f"  {module:<66} {c.passed:>6} {c.failed:>6} {c.skipped:>7}  {reasons[module]}"
            + ("  RAN NOTHING" if c.ran == 0 else ""))
    for patch, chosen in job.selections.items():
        c = tally(records, [s.module for s in chosen])
        say(f"  patch {patch}: {len(chosen)} modules, {c.passed} passed, {c.failed} failed, {c.skipped} skipped")
    for record in records:
        if record["outcome"] not in PASSED:
            last = (record.get("detail") or "").strip().splitlines()[-1:] or [""]
            say(f"  {record['outcome'].upper()}: {record['id']}: {last[0][:160]}")


def plan(ids: list[str], series: bool, unpatched: bool, scratch: Path,
         image_for: Callable[[str, Path | None], str], directory: Path | None = None,
         fetch: Callable[[str], Path] = _patches.fetch_sdist) -> list[Job]:
    """The container runs asked for: the series tree once, each patch's own tree, or the plain sdist."""
    if series and ids:
        raise LabError("name PATCH_IDs or --series, not both")
    if not (series or ids or unpatched):
        raise LabError("name PATCH_IDs, or --series for every patch at once (or --unpatched)")
    check_ids(ids, directory)
    if series or (unpatched and not ids):
        trees = [(patch_ids(directory), series_tree(directory, fetch=fetch), "series")]
    else:
        trees = [([i], _patches.patched_tree(i, directory, fetch=fetch), i) for i in ids]
    jobs = []
    for chosen, tree, name in trees:
        picked = selections(tree, chosen, directory)
        if unpatched:
            own = sorted({s.module for mine in picked.values() for s in mine if s.why == OWN})
            package = unpatched_package(tree, own, scratch / name, fetch)
            jobs.append(Job(f"unpatched {tree.name} sdist + the patches' own tests ({name})", tree,
                            image_for(tree_version(tree) or "", None), package, picked))
        else:
            jobs.append(Job(f"patched tree {tree}", tree, image_for(tree_version(tree) or "", tree),
                            tree / "mistral", picked))
    return jobs


def _image_for(version: str, tree: Path | None) -> str:
    """The lab's Mistral image for the tree (or, for None, for the release); built only when missing."""
    from cluster.images import ensure_images  # needs Docker: imported only when a run is asked for

    return ensure_images(version, tree, lambda line: print(f"  images: {line}", file=sys.stderr)).mistral


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.findings.mistral_tests",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("ids", nargs="*", metavar="PATCH_ID", help="patches (findings/patches/<id>.patch)")
    parser.add_argument("--series", action="store_true", help="every patch, applied as one series")
    parser.add_argument("--unpatched", action="store_true",
                        help="the same modules on the plain sdist, with the patches' own tests (failures expected)")
    parser.add_argument("--cpus", default=DEFAULT_CPUS, help=f"docker run --cpus (default {DEFAULT_CPUS})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per container")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="unittests-", dir=cache_dir()) as tmp:
            jobs = plan(args.ids, args.series, args.unpatched, Path(tmp), _image_for)
            total, empty = Counts(), 0
            for job in jobs:
                records = run_job(job, Path(tmp), args.cpus, args.timeout, lambda line: print(line, flush=True))
                for record in records:
                    total.add(record["outcome"])  # each test once, though several patches may share its module
                empty += sum(tally(records, [m]).ran == 0 for m in job.modules())
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    verdict = "PASS" if total.failed == 0 and empty == 0 else "FAIL"  # a module that ran nothing tested nothing
    print(f"mistral unit tests ({'unpatched' if args.unpatched else 'patched'}): {verdict}: {total.passed} passed, "
          f"{total.failed} failed, {total.skipped} skipped, {empty} modules ran nothing "
          f"({time.monotonic() - started:.0f} s)"
          + (" (expected to fail without the patches: not an error)" if args.unpatched and total.failed else ""))
    return 0 if args.unpatched or verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
