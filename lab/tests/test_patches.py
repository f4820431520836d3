"""Candidate fixes (findings/patches/<id>.patch): unpacking an sdist, applying a patch all or nothing, the cached
patched tree, and judging a patched replay from `mistral-lab findings --json` lines, with no Docker and no
network; two network tests apply every catalogued patch to the real sdist, alone and all together."""
from __future__ import annotations

import io
import json
import py_compile
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster.errors import LabError
from lab.findings import patches
from lab.findings.catalogue import DEFAULT_DIR, load_catalogue
from lab.findings.patches import (Outcome, apply_patch, check_patch, fetch_sdist, findings_command, judge,
                                  patch_file, patched_tree, read_outcome, unpack_sdist)

ORIGINAL = "def stop(self):\n    heartbeats.stop()\n    rpc.stop()\n"
PATCH = """--- a/mistral/executors/executor_server.py
+++ b/mistral/executors/executor_server.py
@@ -1,3 +1,3 @@
 def stop(self):
-    heartbeats.stop()
     rpc.stop()
+    heartbeats.stop()
"""
SPEC = {"name": "x-spec", "cluster": {"apis": 1, "engines": 1, "executors": 2}, "workload": {"name": "reference"},
        "nemesis": {"faults": [{"fault": "scale", "target": "executor"}], "interval_s": 25, "duration_s": 15},
        "time_limit_s": 60, "seed": 8}
FINDING = {"id": "exec-stop", "title": "An executor stop abandons actions", "class": "abandoned-action",
           "kind": "heartbeat", "mistral_version": "23.0.0", "spec": "specs/x-spec.yaml", "seed": 8,
           "signature": {"class": "abandoned-action", "kind": "heartbeat"}, "breaks": "designed",
           "what_happens": "x", "why": "y", "min_rate_basis": {"tries": 6, "reproduced": 6, "date": "2026-11-25"},
           "tries": 0, "reproduced": 0}


def _sdist(path: Path, top: str = "mistral-23.0.0", text: str = ORIGINAL) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in ((f"{top}/PKG-INFO", "Name: mistral\n"),
                           (f"{top}/mistral/executors/executor_server.py", text)):
            info = tarfile.TarInfo(name)
            info.size = len(data.encode())
            tar.addfile(info, io.BytesIO(data.encode()))
    return path


def _catalogue(tmp_path: Path, patch: str | None = PATCH) -> Path:
    directory = tmp_path / "findings"
    (directory / "specs").mkdir(parents=True)
    (directory / "specs" / "x-spec.yaml").write_text(yaml.safe_dump(SPEC))
    (directory / "exec-stop.yaml").write_text(yaml.safe_dump(FINDING, sort_keys=False))
    if patch is not None:
        (directory / "patches").mkdir()
        (directory / "patches" / "exec-stop.patch").write_text(patch)
    return directory


# ---------------------------------------------------------------- unpack and apply
def test_an_sdist_unpacks_to_its_one_top_folder_and_the_patch_applies(tmp_path: Path) -> None:
    tree = unpack_sdist(_sdist(tmp_path / "m.tar.gz"), tmp_path / "out")
    assert tree == tmp_path / "out" / "mistral-23.0.0"
    patch = tmp_path / "p.patch"
    patch.write_text(PATCH)
    apply_patch(tree, patch)
    assert (tree / "mistral/executors/executor_server.py").read_text() == \
        "def stop(self):\n    rpc.stop()\n    heartbeats.stop()\n"


def test_a_patch_that_does_not_apply_leaves_the_tree_as_it_was(tmp_path: Path) -> None:
    other = "def stop(self):\n    something_else()\n    rpc.stop()\n"
    tree = unpack_sdist(_sdist(tmp_path / "m.tar.gz", text=other), tmp_path / "out")
    patch = tmp_path / "p.patch"
    patch.write_text(PATCH)
    with pytest.raises(LabError, match=r"^p\.patch does not apply to .*mistral-23\.0\.0: "):
        apply_patch(tree, patch)
    assert (tree / "mistral/executors/executor_server.py").read_text() == other
    assert not list(tree.rglob("*.rej")) and not list(tree.rglob("*.orig"))
    with pytest.raises(LabError, match="no such patch"):
        apply_patch(tree, tmp_path / "none.patch")


def test_an_archive_with_two_top_folders_is_no_sdist(tmp_path: Path) -> None:
    archive = tmp_path / "m.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("a/x", "b/y"):
            info = tarfile.TarInfo(name)
            tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(LabError, match="one top folder, found 2"):
        unpack_sdist(archive, tmp_path / "out")


# ---------------------------------------------------------------- the patched tree
def test_the_patched_tree_is_made_once_per_sdist_and_patch(tmp_path: Path) -> None:
    directory = _catalogue(tmp_path)
    archive = _sdist(tmp_path / "mistral-23.0.0.tar.gz")
    asked: list[str] = []

    def fetch(version: str) -> Path:
        asked.append(version)
        return archive

    tree = patched_tree("exec-stop", directory, cache=tmp_path / "cache", fetch=fetch)
    assert asked == ["23.0.0"] and tree.name == "mistral-23.0.0" and tree.parent.parent == tmp_path / "cache/patched"
    assert (tree / "mistral/executors/executor_server.py").read_text().endswith("rpc.stop()\n    heartbeats.stop()\n")
    (tree / "build-leftover").write_text("kept")  # a second call reuses the tree as it is
    assert patched_tree("exec-stop", directory, cache=tmp_path / "cache", fetch=fetch) == tree
    assert (tree / "build-leftover").exists()
    # A changed patch is another tree; nothing half-made is left behind.
    (directory / "patches" / "exec-stop.patch").write_text(PATCH.replace("+    heartbeats.stop()",
                                                                         "+    heartbeats.stop()  # last"))
    other = patched_tree("exec-stop", directory, cache=tmp_path / "cache", fetch=fetch)
    assert other != tree and sorted(p.name for p in (tmp_path / "cache/patched").iterdir()) == \
        sorted([tree.parent.name, other.parent.name])


def test_a_finding_without_a_patch_or_an_unknown_finding_is_one_line(tmp_path: Path) -> None:
    directory = _catalogue(tmp_path, patch=None)
    with pytest.raises(LabError, match=r"finding 'exec-stop' has no patch: .*exec-stop\.patch does not exist"):
        patched_tree("exec-stop", directory, cache=tmp_path, fetch=lambda v: pytest.fail("fetched"))
    with pytest.raises(LabError, match="unknown finding 'nope'"):
        patched_tree("nope", directory, cache=tmp_path, fetch=lambda v: pytest.fail("fetched"))


def test_a_broken_patch_leaves_no_tree(tmp_path: Path) -> None:
    directory = _catalogue(tmp_path, patch=PATCH.replace("heartbeats.stop()", "beats.go()"))
    archive = _sdist(tmp_path / "mistral-23.0.0.tar.gz")
    with pytest.raises(LabError, match="does not apply"):
        patched_tree("exec-stop", directory, cache=tmp_path / "cache", fetch=lambda v: archive)
    assert list((tmp_path / "cache/patched").iterdir()) == []


def test_the_sdist_comes_from_the_cache_or_pip_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess:
        calls.append(cmd)
        if "mistral==99.0.0" in cmd:
            return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for mistral==99.0.0")
        dest = Path(cmd[cmd.index("--dest") + 1])
        _sdist(dest / "mistral-23.0.0.tar.gz")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(patches.subprocess, "run", fake_run)
    got = fetch_sdist("23.0.0", cache=tmp_path)
    assert got == tmp_path / "sdists" / "mistral-23.0.0.tar.gz" and got.is_file()
    assert {"download", "--no-deps", "--no-binary", ":all:", "mistral==23.0.0"} <= set(calls[0])
    assert fetch_sdist("23.0.0", cache=tmp_path) == got and len(calls) == 1  # cached: pip is not asked again
    with pytest.raises(LabError, match="unknown Mistral version 99.0.0"):
        fetch_sdist("99.0.0", cache=tmp_path)
    assert sorted(p.name for p in (tmp_path / "sdists").iterdir()) == ["mistral-23.0.0.tar.gz"]


# ---------------------------------------------------------------- judging a patched replay
def _run_dir(tmp_path: Path, name: str, known=(), new=()) -> str:
    run = tmp_path / "store" / name
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps({
        "valid": not (known or new), "known_findings": [{"id": k, "title": k, "anomalies": [0]} for k in known],
        "new_defects": [{"index": 0, "class": c, "kind": "k", "summary": "s"} for c in new]}))
    return str(run)


def _line(ident: str, status: str, runs: list[str], reproduced: int = 0, conclusive: int | None = None
          ) -> dict[str, Any]:
    """A `mistral-lab findings --json` line; every run conclusive unless told otherwise."""
    return {"id": ident, "class": "c", "tries": len(runs), "reproduced": reproduced, "status": status,
            "conclusive": len(runs) if conclusive is None else conclusive, "rule": f"{status}: the rule",
            "runs": [{"seed": 8 + i, "run_dir": r, "matched": False} for i, r in enumerate(runs)]}


def test_gone_passes_and_another_finding_still_there_is_fine(tmp_path: Path) -> None:
    mine = read_outcome(_line("a", "gone", [_run_dir(tmp_path, "1"), _run_dir(tmp_path, "2")]))
    other = read_outcome(_line("b", "still there", [_run_dir(tmp_path, "3", known=["b"])], reproduced=1))
    assert mine == Outcome("a", "gone", 0, 2, 2, "gone: the rule", runs=[str(tmp_path / "store" / "1"),
                                                                        str(tmp_path / "store" / "2")])
    assert other.other_findings == []
    assert judge("a", [mine, other]) == (0, [], [])


def test_still_there_fails_and_other_defects_are_listed_not_judged_unless_strict(tmp_path: Path) -> None:
    there = read_outcome(_line("a", "still there", [_run_dir(tmp_path, "1", known=["a"])], reproduced=1))
    assert judge("a", [there]) == (1, ["a: still there (1 of 1 asked tries)"], [])
    shifted = read_outcome(_line("a", "gone", [_run_dir(tmp_path, "2", known=["c"], new=["lost-result"]),
                                               _run_dir(tmp_path, "4", new=["lost-result"])]))
    new = read_outcome(_line("b", "still there", [_run_dir(tmp_path, "3", known=["b"], new=["missing-run"])], 1))
    notes = ["a: its patched runs show another finding, c", "a: uncatalogued defect lost-result/k x2 in its patched runs",
             "b: uncatalogued defect missing-run/k x1 in its patched runs"]
    assert judge("a", [shifted, new]) == (0, [], notes)
    assert judge("a", [shifted, new], strict=True) == (1, notes, [])


def test_an_inconclusive_replay_is_neither_pass_nor_fail(tmp_path: Path) -> None:
    assert judge("a", [Outcome("a", "inconclusive", 0, 3, 1)]) == \
        (2, ["a: inconclusive (1 of 3 asked tries conclusive)"], [])
    assert judge("a", [Outcome("b", "gone", 0, 1, 1)])[0] == 2  # a not replayed at all
    assert judge("a", [Outcome("a", "gone", 0, 2, 2), Outcome("b", "inconclusive", 0, 3, 0)]) == \
        (0, [], ["b: inconclusive"])


def test_gone_needs_every_asked_try_conclusive(tmp_path: Path) -> None:
    # One conclusive miss and the rest inconclusive is not gone, whatever the status line says.
    short = read_outcome(_line("a", "gone", [_run_dir(tmp_path, "1"), _run_dir(tmp_path, "2")], conclusive=1))
    assert judge("a", [short])[0] == 2
    old_format = {k: v for k, v in _line("a", "gone", [_run_dir(tmp_path, "3")]).items() if k != "conclusive"}
    assert judge("a", [read_outcome(old_format)])[0] == 2  # a line without the count proves nothing
    assert judge("a", [read_outcome(_line("a", "gone", [_run_dir(tmp_path, "4")]))])[0] == 0


def test_check_patch_replays_the_patched_tree_and_judges_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    directory = _catalogue(tmp_path)
    archive = _sdist(tmp_path / "mistral-23.0.0.tar.gz")
    monkeypatch.setattr(patches, "fetch_sdist", lambda version, cache=None: archive)
    monkeypatch.setenv("MISTRAL_LAB_CACHE", str(tmp_path / "cache"))
    seen: list[list[str]] = []
    runs = [_run_dir(tmp_path, "1", new=["lost-result"]), _run_dir(tmp_path, "2", known=["other"])]

    def runner(cmd: list[str]) -> subprocess.CompletedProcess:
        seen.append(cmd)
        ident = cmd[cmd.index("findings") + 1]
        if ident == "broken":  # e.g. its lab name is in use: exit 3, no JSON
            return subprocess.CompletedProcess(cmd, 3, "", None)
        line = _line("exec-stop", "gone", runs[:1]) if ident == "exec-stop" else \
            _line("other", "still there", runs[1:], 1)
        return subprocess.CompletedProcess(cmd, 1, json.dumps(line) + "\n", None)

    said: list[str] = []
    code = check_patch("exec-stop", ["other", "exec-stop"], tries=1, store=tmp_path / "store", directory=directory,
                       runner=runner, say=said.append)
    assert code == 0, said
    assert [cmd[cmd.index("findings") + 1:cmd.index("--tries")] for cmd in seen] == [["exec-stop"], ["other"]]
    cmd = seen[0]
    tree = Path(cmd[cmd.index("--mistral-src") + 1])
    assert tree.name == "mistral-23.0.0" and (tree / "mistral/executors/executor_server.py").is_file()
    assert "--json" in cmd and cmd[cmd.index("--tries") + 1] == "1"
    assert any(line.startswith("exec-stop") and "gone" in line and "NEW lost-result/k x1" in line for line in said)
    assert said[-2:] == ["patch check exec-stop: PASS", "not judged (compare with an unpatched replay of the same "
                         "seeds: mistral-lab findings ID --tries N):\n  exec-stop: uncatalogued defect "
                         "lost-result/k x1 in its patched runs"]
    assert any(line.startswith("exec-stop") and "gone" in line for line in said)
    said.clear()
    assert check_patch("exec-stop", ["broken"], tries=1, directory=directory, runner=runner, say=said.append) == 0
    assert "broken: `mistral-lab findings` printed no result (exit 3): inconclusive" in said
    assert said[-1].endswith("broken: inconclusive")
    with pytest.raises(LabError, match="--tries 0"):
        check_patch("exec-stop", tries=0, directory=directory, runner=runner)


def test_the_findings_command_is_mistral_lab_findings_with_the_tree(tmp_path: Path) -> None:
    cmd = findings_command(["a", "b"], tmp_path, 3, None)
    assert cmd[-8:] == ["findings", "a", "b", "--tries", "3", "--mistral-src", str(tmp_path), "--json"]


def test_every_catalogued_patch_belongs_to_a_finding() -> None:
    ids = {p.stem for p in DEFAULT_DIR.glob("*.yaml")}
    found = sorted((DEFAULT_DIR / "patches").glob("*.patch"))
    assert found, "at least one candidate fix is catalogued"
    for patch in found:
        assert patch.stem in ids, patch
        assert patch_file(patch.stem) == patch


# ---------------------------------------------------------------- the real sdist
@pytest.mark.network
def test_every_catalogued_patch_applies_to_its_mistral_sdist(tmp_path: Path) -> None:
    for patch in sorted((DEFAULT_DIR / "patches").glob("*.patch")):
        tree = patched_tree(patch.stem, cache=tmp_path, fetch=fetch_sdist)  # the sdist from the shared cache
        for changed in {line[6:].strip() for line in patch.read_text().splitlines() if line.startswith("+++ b/")}:
            assert (tree / changed).is_file()
            if changed.endswith(".py"):
                py_compile.compile(str(tree / changed), doraise=True)


@pytest.mark.network
def test_the_catalogued_patches_apply_together_as_a_series(tmp_path: Path) -> None:
    """Issue 27 applies every patch to one tree: in file-name order each still applies (offsets allowed)."""
    versions = {f.mistral_version for f in load_catalogue(DEFAULT_DIR) if f.patch is not None}
    assert versions == {"23.0.0"}
    tree = unpack_sdist(fetch_sdist("23.0.0"), tmp_path)
    for patch in sorted((DEFAULT_DIR / "patches").glob("*.patch")):
        apply_patch(tree, patch)
    assert not list(tree.rglob("*.rej"))


def test_ctrl_c_gives_the_replay_time_to_take_its_cluster_down(tmp_path: Path) -> None:
    """subprocess.run would SIGKILL the replay 0.25 s after Ctrl-C and leave its lab running."""
    import os
    import signal
    import sys
    import threading

    from lab.findings.patches import run_streaming_stderr

    marker = tmp_path / "cleaned-up"
    child = (f"import signal, sys, time, pathlib\n"
             f"def bye(*_):\n    time.sleep(1.0); pathlib.Path({str(marker)!r}).write_text('down'); sys.exit(130)\n"
             f"signal.signal(signal.SIGINT, bye)\nprint('ready', flush=True)\ntime.sleep(30)\n")
    # Ctrl-C must raise KeyboardInterrupt here whatever an earlier test left installed (the lab's own Ctrl-C
    # shields replace the handler), and the child must have its handler before the signal comes (3 s: a loaded
    # machine starts Python slowly).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            run_streaming_stderr([sys.executable, "-c", child])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert marker.read_text() == "down"


def test_without_patch_git_apply_does_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil as real_shutil

    if real_shutil.which("git") is None:
        pytest.skip("no git")
    which = real_shutil.which
    monkeypatch.setattr(patches.shutil, "which", lambda name: None if name == "patch" else which(name))
    tree = unpack_sdist(_sdist(tmp_path / "m.tar.gz"), tmp_path / "out")
    patch = tmp_path / "p.patch"
    patch.write_text(PATCH)
    apply_patch(tree, patch)
    assert (tree / "mistral/executors/executor_server.py").read_text().endswith("rpc.stop()\n    heartbeats.stop()\n")
    with pytest.raises(LabError, match="does not apply"):
        apply_patch(tree, patch)  # already applied


def test_a_finding_served_by_another_findings_patch_gets_a_tree_patched_with_it(tmp_path: Path) -> None:
    directory = _catalogue(tmp_path)
    (directory / "other.yaml").write_text(yaml.safe_dump({**FINDING, "id": "other",
                                                          "patch": "patches/exec-stop.patch"}, sort_keys=False))
    archive = _sdist(tmp_path / "mistral-23.0.0.tar.gz")
    tree = patched_tree("other", directory, cache=tmp_path / "cache", fetch=lambda v: archive)
    assert tree.parent.name.startswith("other-")
    assert (tree / "mistral/executors/executor_server.py").read_text().endswith("rpc.stop()\n    heartbeats.stop()\n")
