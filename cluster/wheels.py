"""Mistral's Python side, fetched on the host (its pip trusts the host's CA): the wheelhouse of a Mistral release
or source tree that the image installs offline, and the check that the package index has the release at all.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from cluster.constraints import constraints_file, tree_version
from cluster.errors import LabError
from cluster.paths import cache_dir

Report = Callable[[str], None]
# Python packages installed beside Mistral: DB drivers for both databases (the lab's witness action pack and
# the in-process hook of the rpc and clock faults are added by cluster.images, which builds them).
EXTRA_REQUIREMENTS = ["PyMySQL", "psycopg2-binary"]
BUILD_LEFTOVERS = ("build", "dist", "__pycache__", "*.egg-info", "*.pyc")


def _noop(_: str) -> None:
    pass


def pip_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]


def mistral_wheelhouse(version: str, src: Path | None, report: Report = _noop) -> Path:
    """Wheels for Mistral and everything it needs, built on the host; cached per version."""
    constraints = constraints_file(tree_version(src) if src is not None else version)
    if src is not None:
        # Keyed by the tree's contents: an unchanged tree (a replay's next try, a patched sdist) reuses its
        # wheels, and any edit gets a wheelhouse of its own.
        house = cache_dir() / "wheels" / f"src-{source_digest(src)}"
        prune_source_wheelhouses(keep=house)
        target = str(src.resolve())
    else:
        house = wheelhouse_dir(version)
        target = f"mistral=={version}"
    done = house / ".complete"
    if not done.exists():
        report(f"fetching wheels for {target} on the host"
               + (f" ({constraints.stem} upper-constraints)" if constraints else " (no upper-constraints known)"))
        house.mkdir(parents=True, exist_ok=True)
        pinned = ["--constraint", str(constraints)] if constraints else []
        with tempfile.TemporaryDirectory(prefix="mistral-src-") as scratch:
            if src is not None and not (src / ".git").exists():  # a checkout: pbr lists its files from git
                target = str(buildable_copy(src, Path(scratch)))
            proc = subprocess.run(pip_command("wheel", "--wheel-dir", str(house), *pinned, target,
                                              *EXTRA_REQUIREMENTS), capture_output=True, text=True, env=pbr_env(src))
        if proc.returncode != 0:
            shutil.rmtree(house, ignore_errors=True)
            if src is None and "No matching distribution" in proc.stderr:
                raise LabError(f"unknown Mistral version {version}: no mistral=={version} on the package index")
            tail = proc.stderr.strip().splitlines()[-2:]
            raise LabError(f"fetching wheels for {target} failed: {' | '.join(tail)}")
        done.touch()
    return house


def buildable_copy(src: Path, scratch: Path) -> Path:
    """A copy of the tree to build from, without build leftovers (the user's tree gets no build/ of ours).

    An sdist tree (no .git) builds from its egg-info's SOURCES.txt: pbr has no git to list files, and the sdist's
    setup.cfg names no packages, so a file a patch adds (a module, a migration, a test) would be left out of the
    wheel without a word. The copy's SOURCES.txt gets every file under the top folders it already lists."""
    copy = scratch / src.resolve().name
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns(*[p for p in BUILD_LEFTOVERS if p != "*.egg-info"]),
                    symlinks=True)
    for sources in copy.glob("*.egg-info/SOURCES.txt"):
        listed = [line for line in sources.read_text().splitlines() if line.strip()]
        tops = {line.split("/", 1)[0] for line in listed if "/" in line}
        skip = shutil.ignore_patterns(*BUILD_LEFTOVERS)
        found = []
        for top in sorted(t for t in tops if (copy / t).is_dir()):
            for here, dirs, files in os.walk(copy / top):
                dirs[:] = sorted(d for d in dirs if d not in skip(here, dirs))
                found += [str((Path(here) / f).relative_to(copy)) for f in sorted(files) if f not in skip(here, files)]
        missing = sorted(set(found) - set(listed))
        if missing:
            sources.write_text("\n".join(listed + missing) + "\n")
    return copy


SOURCE_WHEELHOUSES_KEPT = 4  # src-* wheelhouses (about 30 MB each) kept besides the one in use
BUILD_RECIPE = b"sources-completed\0"  # changes when a tree's build changes, so no wheelhouse of the old one is reused


def source_digest(src: Path) -> str:
    """A hash of a source tree's files, build leftovers (build/, *.egg-info, ...) and .git excluded; a git
    checkout adds its HEAD commit, which pbr turns into the version."""
    leftovers = shutil.ignore_patterns(*BUILD_LEFTOVERS, ".git")
    digest = hashlib.sha256(BUILD_RECIPE)
    root = src.resolve()
    for here, dirs, files in os.walk(root):
        skip = leftovers(here, dirs + files)
        dirs[:] = sorted(d for d in dirs if d not in skip)
        for name in sorted(f for f in files if f not in skip):
            path = Path(here) / name
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    if (root / ".git").exists():
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
        digest.update(head.stdout.strip().encode())
    return digest.hexdigest()[:12]


def prune_source_wheelhouses(keep: Path) -> None:
    houses = sorted((p for p in keep.parent.glob("src-*") if p != keep), key=lambda p: p.stat().st_mtime)
    for old in houses[:max(0, len(houses) - SOURCE_WHEELHOUSES_KEPT)]:
        shutil.rmtree(old, ignore_errors=True)


def pbr_env(src: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if src is not None and not (src / ".git").exists():
        env.setdefault("PBR_VERSION", "0.0.0.dev0")  # pbr needs a version when the tree is not a git checkout
    if src is not None:
        # Fixed zip timestamps: an unchanged tree gives a byte-identical wheel, hence the same image tag, so a
        # --mistral-src replay builds the image once instead of once per try.
        env.setdefault("SOURCE_DATE_EPOCH", "315532800")
    return env


def wheelhouse_dir(version: str) -> Path:
    """Per release and the upper-constraints it is resolved with (a house from before them is not reused)."""
    constraints = constraints_file(version)
    return cache_dir() / "wheels" / (f"mistral-{version}-uc{constraints.stem}" if constraints else f"mistral-{version}")


def wheelhouse_complete(version: str) -> bool:
    return (wheelhouse_dir(version) / ".complete").exists()


def check_mistral_version(version: str) -> None:
    """Fail fast (before anything is created) when PyPI has no such Mistral release, or cannot be reached."""
    if wheelhouse_complete(version):
        return
    with tempfile.TemporaryDirectory(prefix="mistral-version-") as scratch:  # the probe's wheel is not kept
        proc = subprocess.run(pip_command("download", "--no-deps", "--dest", scratch, f"mistral=={version}"),
                              capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabError(pip_failure(version, proc.stderr))


# pip's words when the index never answered (it then also says "No matching distribution", from versions: none).
UNREACHABLE_MARKS = ("Retrying (", "NewConnectionError", "Max retries exceeded", "Failed to establish",
                     "ProxyError", "SSLError", "Temporary failure in name resolution", "Name or service not known",
                     "Network is unreachable", "Connection refused", "(from versions: none)")


def pip_failure(version: str, stderr: str) -> str:
    """One line telling "the index cannot be reached" from "no such version" (pip says the latter for both)."""
    tail = stderr.strip().splitlines()[-1:] or ["no output"]
    if any(mark in stderr for mark in UNREACHABLE_MARKS):
        return (f"cannot reach the package index to check mistral=={version} (is the network or proxy up? "
                f"`mistral-lab doctor` checks it): {tail[0][:200]}")
    if "No matching distribution" in stderr or "Invalid requirement" in stderr:
        return f"unknown Mistral version {version}: no mistral=={version} on the package index"
    return f"pip could not fetch mistral=={version}: {tail[0][:200]}"
