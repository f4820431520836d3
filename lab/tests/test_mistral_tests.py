"""Mistral's own unit tests for a patch (lab.findings.mistral_tests): which test modules a patch selects, the
test requirements, the container command, the runner's records and the report, with no Docker and no network
(docker and host pip are replaced; the runner script itself runs for real on a tiny test package)."""
from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from cluster.errors import LabError
from lab.findings import mistral_tests
from lab.findings.catalogue import DEFAULT_DIR
from lab.findings.mistral_tests import (MARK, RUNNER, Job, Selected, docker_command, dotted_test_module, import_index,
                                        main, module_imports, parse_results, plan, requirement_wheels, requirements,
                                        run_container, run_job, select_modules, tally, touched_files)

PATCH = """Fix the claim.
--- a/mistral/engine/policies.py
+++ b/mistral/engine/policies.py
@@ -1 +1 @@
-x = 1
+x = 2
--- /dev/null
+++ b/mistral/tests/unit/engine/test_claim.py\t2026-12-01
@@ -0,0 +1 @@
+import unittest
--- a/mistral/tasks.py
+++ b/mistral/tasks.py
@@ -1 +1 @@
-y = 1
+y = 2
--- /dev/null
+++ b/releasenotes/notes/claim.yaml
@@ -0,0 +1 @@
+fixes: []
"""
TESTS = {  # test module -> its source: what selection reads
    "engine/test_policies.py": "from mistral.engine import policies\n",
    "engine/test_claim.py": "import unittest\n",
    "engine/test_other.py": "from mistral.engine import base\nimport mistral.engine.policy_util\n",
    "engine/base.py": "from mistral.engine import policies\n",  # a helper, not a test module: not followed
    "services/test_tasks.py": "import os\n",   # named after mistral/tasks.py
    "api/v2/test_tasks.py": "import os\n",     # named after a REST resource: not by name
    "lang/v2/test_tasks.py": "from mistral.tasks import Y\n",  # ... but by import
}
REQUIREMENTS = """hacking>=6.1.0,<6.2.0 # Apache-2.0

coverage!=4.4,>=4.0 # Apache-2.0
fixtures>=3.0.0 # Apache-2.0/BSD
stestr>=2.0.0 # Apache-2.0
tempest>=21.0.0 # Apache-2.0
WebTest>= 3.0.0 # Apache-2.0
"""


def _tree(root: Path) -> Path:
    tree = root / "mistral-23.0.0"
    for name, text in TESTS.items():
        path = tree / "mistral/tests/unit" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tree / "PKG-INFO").write_text("Name: mistral\nVersion: 23.0.0\n")
    (tree / "test-requirements.txt").write_text(REQUIREMENTS)
    return tree


# ---------------------------------------------------------------- selection
def test_a_patch_names_the_files_it_touches_and_its_test_modules() -> None:
    assert touched_files(PATCH) == ["mistral/engine/policies.py", "mistral/tests/unit/engine/test_claim.py",
                                    "mistral/tasks.py", "releasenotes/notes/claim.yaml"]
    assert dotted_test_module("mistral/tests/unit/engine/test_claim.py") == "mistral.tests.unit.engine.test_claim"
    assert dotted_test_module("mistral/tests/unit/engine/base.py") is None
    assert dotted_test_module("mistral/engine/test_like.py") is None
    assert module_imports("import a.b as c\nfrom mistral import config\nfrom .x import y\n") == \
        {"a.b", "mistral", "mistral.config"}


def test_selection_is_the_patch_s_tests_its_modules_importers_and_namesakes(tmp_path: Path) -> None:
    chosen = select_modules(PATCH, import_index(_tree(tmp_path)))
    assert chosen == [
        Selected("mistral.tests.unit.engine.test_claim", "the patch adds or changes it"),
        Selected("mistral.tests.unit.engine.test_policies", "imports mistral.engine.policies"),
        Selected("mistral.tests.unit.lang.v2.test_tasks", "imports mistral.tasks"),
        Selected("mistral.tests.unit.services.test_tasks", "named after mistral/tasks.py"),
    ]  # not engine/test_other (policy_util is another module), nor api/v2/test_tasks, nor base.py's importers


def test_every_committed_patch_selects_its_own_new_tests() -> None:
    for patch in sorted((DEFAULT_DIR / "patches").glob("*.patch")):
        own = [f for f in touched_files(patch.read_text()) if dotted_test_module(f)]
        index = {dotted_test_module(f): set() for f in own}
        assert [s.module for s in select_modules(patch.read_text(), index)] == sorted(index)
    text = (DEFAULT_DIR / "patches" / "run-action-lost-with-its-engine.patch").read_text()
    assert "mistral/tests/unit/engine/test_action_claim.py" in touched_files(text)


def test_only_the_needed_test_requirements_are_installed() -> None:
    assert requirements(REQUIREMENTS, {"mistral", "fixtures"}) == ["fixtures>=3.0.0", "WebTest>=3.0.0"]
    assert requirements(REQUIREMENTS, {"tempest.lib.common"}) == ["fixtures>=3.0.0", "tempest>=21.0.0",
                                                                  "WebTest>=3.0.0"]


# ---------------------------------------------------------------- the runner and its records
def _package(root: Path) -> None:
    (root / "demo_ok.py").write_text(
        "import unittest\n"
        "class T(unittest.TestCase):\n"
        "    def test_pass(self): pass\n"
        "    def test_fail(self): self.assertEqual(1, 2)\n"
        "    def test_error(self): raise RuntimeError('boom')\n"
        "    @unittest.skip('not here')\n"
        "    def test_skip(self): pass\n"
        "    @unittest.expectedFailure\n"
        "    def test_xfail(self): self.fail()\n"
        "    def test_noisy(self): print('MLAB noise ' + 'x' * 5)\n"
        "class Broken(unittest.TestCase):\n"
        "    @classmethod\n"
        "    def setUpClass(cls): raise RuntimeError('no db')\n"
        "    def test_never(self): pass\n")
    (root / "demo_bad.py").write_text("import no_such_module_here\n")


def test_the_runner_reports_every_outcome_and_a_module_that_does_not_import(tmp_path: Path) -> None:
    _package(tmp_path)
    (tmp_path / "runner.py").write_text(RUNNER)
    proc = subprocess.run([sys.executable, str(tmp_path / "runner.py"), "demo_ok", "demo_bad"], cwd=tmp_path,
                          capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path)}, timeout=60)
    records = parse_results(proc.stdout)
    outcomes = {r["id"]: r["outcome"] for r in records}
    assert outcomes == {"demo_ok.T.test_pass": "pass", "demo_ok.T.test_fail": "fail",
                        "demo_ok.T.test_error": "error", "demo_ok.T.test_skip": "skip",
                        "demo_ok.T.test_xfail": "xfail", "demo_ok.T.test_noisy": "pass",
                        "setUpClass (demo_ok.Broken)": "error", "demo_bad": "error"}
    assert "no_such_module_here" in next(r["detail"] for r in records if r["id"] == "demo_bad")
    counts = tally(records, ["demo_ok"])
    assert (counts.passed, counts.failed, counts.skipped) == (3, 3, 1)
    assert tally(records, ["demo_bad"]).failed == 1 and tally(records, ["demo"]).ran == 0


def test_only_marked_lines_are_records() -> None:
    out = f"noise\n{MARK}{{\"id\": \"m.T.t\", \"outcome\": \"pass\", \"detail\": \"\"}}\n  {MARK}{{bad\n"
    assert parse_results(out) == [{"id": "m.T.t", "outcome": "pass", "detail": ""}]


# ---------------------------------------------------------------- the container
def test_the_container_is_limited_named_offline_and_read_only(tmp_path: Path) -> None:
    cmd = docker_command("mlab-unittests-ab12", "mistral-lab/mistral:x", tmp_path / "pkg", tmp_path / "w",
                         tmp_path / "run", ["m.one", "m.two"])
    assert cmd[:6] == ["docker", "run", "--rm", "--name", "mlab-unittests-ab12", "--cpus"] and cmd[6] == "0.5"
    assert cmd[cmd.index("--network") + 1] == "none" and cmd[-2:] == ["m.one", "m.two"]
    assert f"{(tmp_path / 'pkg').resolve()}:/src/mistral:ro" in cmd and "MISTRAL_LAB_RPC_HOOK=0" in cmd
    assert "--no-index --find-links /mlab/wheels" in cmd[cmd.index("-c") + 1]
    assert mistral_tests.DEFAULT_CPUS == "0.5"


def test_a_container_past_its_time_is_removed_by_its_name(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        if cmd[1] == "run":
            raise subprocess.TimeoutExpired(cmd, kwargs["timeout"])
        return subprocess.CompletedProcess(cmd, 0, "", "")

    cmd = docker_command("mlab-unittests-ab12", "img", tmp_path, tmp_path, tmp_path, ["m"])
    with pytest.raises(LabError, match="did not finish in 5 s"):
        run_container(cmd, 5, run)
    assert calls[1] == ["docker", "rm", "-f", "mlab-unittests-ab12"]


def test_the_wheels_are_fetched_on_the_host_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_LAB_CACHE", str(tmp_path / "cache"))
    tree, calls = _tree(tmp_path), []

    def pip(cmd, **_):
        calls.append(cmd)
        Path(cmd[cmd.index("--wheel-dir") + 1], "fixtures-4.3.2-py3-none-any.whl").write_text("")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    house = requirement_wheels(tree, ["fixtures>=3.0.0"], pip)
    assert requirement_wheels(tree, ["fixtures>=3.0.0"], pip) == house and len(calls) == 1
    assert calls[0][calls[0].index("--constraint") + 1].endswith("2026.2.txt") and calls[0][-1] == "fixtures>=3.0.0"
    assert (house / "requirements.txt").read_text() == "fixtures>=3.0.0\n"
    failing = lambda cmd, **_: subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution\n")  # noqa
    with pytest.raises(LabError, match="No matching distribution"):
        requirement_wheels(tree, ["WebTest>=3.0.0"], failing)
    assert sorted(p.name for p in house.parent.iterdir()) == [house.name]  # no half-made folder


def _record(test_id: str, outcome: str) -> str:
    return MARK + f'{{"id": "{test_id}", "outcome": "{outcome}", "detail": "Traceback\\nAssertionError: 1 != 2"}}'


def test_a_job_prints_each_module_and_patch_with_its_figures(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    selections = {"b": [Selected("mistral.tests.unit.engine.test_claim", "imports x"),
                        Selected("mistral.tests.unit.engine.test_policies", "imports y")],
                  "a": [Selected("mistral.tests.unit.engine.test_claim", "the patch adds or changes it")]}
    job = Job("patched tree", tree, "img", tree / "mistral", selections)
    out = "\n".join([_record("mistral.tests.unit.engine.test_claim.T.test_a", "pass"),
                     _record("mistral.tests.unit.engine.test_claim.T.test_b", "fail"), "log line",
                     _record("mistral.tests.unit.engine.test_claim.T.test_c", "skip")])
    seen: list[list[str]] = []

    def docker(cmd, **_):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, out, "")

    lines: list[str] = []
    records = run_job(job, tmp_path, "0.5", 60, lines.append, docker, wheels=lambda t, w: tmp_path)
    assert len(records) == 3 and seen[0][-2:] == ["mistral.tests.unit.engine.test_claim",
                                                  "mistral.tests.unit.engine.test_policies"]
    text = "\n".join(lines)
    assert "patch a: 1 modules, 1 passed, 1 failed, 1 skipped" in text
    assert "patch b: 2 modules, 1 passed, 1 failed, 1 skipped" in text
    claim = next(line for line in lines if line.startswith("  mistral.tests.unit.engine.test_claim "))
    assert claim.split()[1:4] == ["1", "1", "1"] and claim.endswith("a: the patch adds or changes it")
    assert next(line for line in lines if "engine.test_policies " in line).endswith("b: imports y  RAN NOTHING")
    assert "SKIP: mistral.tests.unit.engine.test_claim.T.test_c" in text
    assert "FAIL: mistral.tests.unit.engine.test_claim.T.test_b: AssertionError: 1 != 2" in text
    silent = lambda cmd, **_: subprocess.CompletedProcess(cmd, 1, "", "pip: no matching wheel\n")  # noqa
    with pytest.raises(LabError, match=r"reported no test \(exit 1\): pip: no matching wheel"):
        run_job(job, tmp_path, "0.5", 60, lines.append, silent, wheels=lambda t, w: tmp_path)


# ---------------------------------------------------------------- plans and the command line
def _sdist(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (("mistral-23.0.0/PKG-INFO", "Name: mistral\nVersion: 23.0.0\n"),
                           ("mistral-23.0.0/mistral/engine/policies.py", "x = 1\n"),
                           ("mistral-23.0.0/mistral/tasks.py", "y = 1\n"),
                           ("mistral-23.0.0/mistral/tests/unit/engine/test_policies.py",
                            TESTS["engine/test_policies.py"]),
                           ("mistral-23.0.0/test-requirements.txt", REQUIREMENTS)):
            info = tarfile.TarInfo(name)
            info.size = len(data.encode())
            tar.addfile(info, io.BytesIO(data.encode()))
    return path


def _catalogue(tmp_path: Path) -> Path:
    from lab.tests.test_patches import _catalogue as catalogue

    directory = catalogue(tmp_path)
    (directory / "patches" / "exec-stop.patch").write_text(PATCH)
    return directory


def test_the_unpatched_plan_runs_the_same_modules_on_the_plain_sdist_with_the_patch_s_tests(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_LAB_CACHE", str(tmp_path / "cache"))
    directory, archive = _catalogue(tmp_path), _sdist(tmp_path / "mistral-23.0.0.tar.gz")
    images: list[tuple[str, Path | None]] = []
    image_for = lambda version, tree: images.append((version, tree)) or "img"  # noqa: E731
    patched = plan(["exec-stop"], False, False, tmp_path / "s1", image_for, directory, fetch=lambda v: archive)
    plain = plan([], False, True, tmp_path / "s2", image_for, directory, fetch=lambda v: archive)
    assert [j.modules() for j in plain] == [j.modules() for j in patched] == [[
        "mistral.tests.unit.engine.test_claim", "mistral.tests.unit.engine.test_policies"]]
    assert images[0] == ("23.0.0", patched[0].tree) and images[1] == ("23.0.0", None)  # the release's image
    assert (patched[0].package / "engine/policies.py").read_text() == "x = 2\n"
    assert (plain[0].package / "engine/policies.py").read_text() == "x = 1\n"
    assert (plain[0].package / "tests/unit/engine/test_claim.py").read_text() == "import unittest\n"
    with pytest.raises(LabError, match="unknown patch id 'nope' \\(known: exec-stop\\)"):
        plan(["nope"], False, False, tmp_path, image_for, directory)


@pytest.mark.parametrize("argv, said", [([], "name PATCH_IDs, or --series"),
                                        (["--series", "executor-sigterm-abandons-actions"], "not both"),
                                        (["no-such-patch"], "unknown patch id 'no-such-patch'")])
def test_bad_input_is_one_line_and_exit_3(argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1


def test_exit_0_only_when_every_test_passed_and_always_for_the_unpatched_run(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MISTRAL_LAB_CACHE", str(tmp_path / "cache"))
    job = Job("j", tmp_path, "img", tmp_path, {"a": [Selected("m.test_a", "x"), Selected("m.test_b", "y")]})
    monkeypatch.setattr(mistral_tests, "plan", lambda *a: [job])
    outcomes = {"m.test_a.T.t": "pass", "m.test_b.T.t": "pass"}
    monkeypatch.setattr(mistral_tests, "run_job", lambda *a: [{"id": i, "outcome": o} for i, o in outcomes.items()])
    assert main(["--series"]) == 0
    assert "PASS: 2 passed, 0 failed, 0 skipped, 0 modules ran nothing" in capsys.readouterr().out
    outcomes["m.test_b.T.t"] = "error"
    assert main(["--series"]) == 1
    assert main(["--unpatched"]) == 0 and "expected to fail without the patches" in capsys.readouterr().out
    del outcomes["m.test_b.T.t"]
    outcomes["m.test_a.T.u"] = "skip"
    assert main(["--series"]) == 1
    assert "FAIL: 1 passed, 0 failed, 1 skipped, 1 modules ran nothing" in capsys.readouterr().out
