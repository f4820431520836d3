"""Local image builds, tagged by a hash of their inputs so an unchanged image is never rebuilt.

There is no registry to pull from: the base image is `debian:bookworm-slim` when the engine has (or can pull)
it, otherwise a debootstrap minbase imported with `docker import`. Mistral's Python wheels are fetched on the
host (its pip trusts the host's CA) into a wheelhouse inside the build context and installed offline.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import docker.errors

from cluster.docker_env import engine
from cluster.errors import LabError
from cluster.paths import COMPOSE_DIR, cache_dir

Report = Callable[[str], None]
from cluster.topology import DEFAULT_MISTRAL_VERSION
# Python packages installed beside Mistral: DB drivers for both databases, the lab's witness action pack.
EXTRA_REQUIREMENTS = ["PyMySQL", "psycopg2-binary"]
WITNESS_PACK = COMPOSE_DIR / "witness_pack"
BASE_REPO = "mistral-lab/base"


@dataclass(frozen=True)
class Images:
    mistral: str
    infra: str


def _noop(_: str) -> None:
    pass


def _image_exists(tag: str) -> bool:
    try:
        engine().images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _hash_tree(root: Path, extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


# ---------------------------------------------------------------- base image
def ensure_base(report: Report = _noop) -> str:
    """Return a tag of a Debian bookworm base image, making one if needed (about 40 s)."""
    for candidate in ("debian:bookworm-slim", f"{BASE_REPO}:bookworm"):
        if _image_exists(candidate):
            return candidate
    report("pulling debian:bookworm-slim")
    try:
        engine().images.pull("debian", tag="bookworm-slim")
        return "debian:bookworm-slim"
    except docker.errors.APIError:
        pass  # no registry here: build it
    report("no registry: building a bookworm base with debootstrap (about 40 s)")
    _debootstrap_base(f"{BASE_REPO}:bookworm")
    return f"{BASE_REPO}:bookworm"


def _debootstrap_base(tag: str) -> None:
    if shutil.which("debootstrap") is None:
        raise LabError("no base image and no debootstrap: install it (apt-get install debootstrap) "
                       "or load debian:bookworm-slim into the engine")
    if os.geteuid() != 0:
        raise LabError("building the base image with debootstrap needs root; run as root once "
                       "or load debian:bookworm-slim into the engine")
    with tempfile.TemporaryDirectory(prefix="mistral-lab-base-") as tmp:
        root = Path(tmp) / "root"
        _run(["debootstrap", "--variant=minbase", "bookworm", str(root), "http://deb.debian.org/debian"],
             "debootstrap")
        # Keep the image small and apt quiet; the packages lists are fetched again at build time.
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        _run(["docker", "import", "-", tag], "docker import", stdin=tar.stdout)
        tar.wait()


def _run(cmd: list[str], what: str, stdin=None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, stdin=stdin, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise LabError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return proc.stdout


# ---------------------------------------------------------------- wheelhouse
def _pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]


def mistral_wheelhouse(version: str, src: Path | None, report: Report = _noop) -> Path:
    """Wheels for Mistral and everything it needs, built on the host; cached per version."""
    if src is not None:
        house = cache_dir() / "wheels" / f"src-{hashlib.sha256(str(src.resolve()).encode()).hexdigest()[:10]}"
        shutil.rmtree(house, ignore_errors=True)  # a source tree changes; always rebuild its wheel
        target = str(src.resolve())
    else:
        house = cache_dir() / "wheels" / f"mistral-{version}"
        target = f"mistral=={version}"
    done = house / ".complete"
    if not done.exists():
        report(f"fetching wheels for {target} on the host")
        house.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(_pip("wheel", "--wheel-dir", str(house), target, *EXTRA_REQUIREMENTS),
                              capture_output=True, text=True, env=_pbr_env(src))
        if proc.returncode != 0:
            shutil.rmtree(house, ignore_errors=True)
            if src is None and "No matching distribution" in proc.stderr:
                raise LabError(f"unknown Mistral version {version}: no mistral=={version} on the package index")
            tail = proc.stderr.strip().splitlines()[-2:]
            raise LabError(f"fetching wheels for {target} failed: {' | '.join(tail)}")
        done.touch()
    return house


def _pbr_env(src: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if src is not None and not (src / ".git").exists():
        env.setdefault("PBR_VERSION", "0.0.0.dev0")  # pbr needs a version when the tree is not a git checkout
    return env


def check_mistral_version(version: str) -> None:
    """Fail fast (before anything is created) when PyPI has no such Mistral release."""
    if (cache_dir() / "wheels" / f"mistral-{version}" / ".complete").exists():
        return
    proc = subprocess.run(_pip("download", "--no-deps", "--dest", tempfile.gettempdir(), f"mistral=={version}"),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        if "No matching distribution" in proc.stderr or "Invalid requirement" in proc.stderr:
            raise LabError(f"unknown Mistral version {version}: no mistral=={version} on the package index")
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise LabError(f"cannot reach the package index to fetch mistral=={version}: {tail[0]}")


def _witness_wheel(dest: Path) -> None:
    if not WITNESS_PACK.exists():
        return
    # A fixed SOURCE_DATE_EPOCH makes the wheel byte-identical between builds, so the image hash is stable.
    env = {**os.environ, "SOURCE_DATE_EPOCH": "315532800"}
    _run(_pip("wheel", "--no-deps", "--wheel-dir", str(dest), str(WITNESS_PACK)),
         "building the witness action pack", env=env)


# ---------------------------------------------------------------- builds
def _build(context: Path, tag: str, report: Report) -> None:
    api = engine().api
    for chunk in api.build(path=str(context), tag=tag, rm=True, forcerm=True, decode=True, pull=False):
        if "error" in chunk:
            raise LabError(f"building {tag} failed: {chunk['error'].strip()}")
        line = (chunk.get("stream") or "").strip()
        if line.startswith("Step "):
            report(f"{tag}: {line[:100]}")


def _build_from(template_dir: Path, base: str, tag_repo: str, report: Report,
                wheels: Path | None = None, requirements: str = "") -> str:
    with tempfile.TemporaryDirectory(prefix="mistral-lab-build-") as tmp:
        context = Path(tmp)
        for item in template_dir.iterdir():
            if item.is_file():
                shutil.copy2(item, context / item.name)
        dockerfile = (template_dir / "Dockerfile").read_text()
        (context / "Dockerfile").write_text(dockerfile.replace("{base}", base).replace("{requirements}", requirements))
        if wheels is not None:
            shutil.copytree(wheels, context / "wheels", ignore=shutil.ignore_patterns(".complete"))
            _witness_wheel(context / "wheels")
        tag = f"{tag_repo}:{_hash_tree(context, extra=_image_id(base))}"
        if _image_exists(tag):
            return tag
        report(f"building {tag}")
        _build(context, tag, report)
        return tag


def _image_id(tag: str) -> str:
    return engine().images.get(tag).id


def ensure_images(mistral_version: str = DEFAULT_MISTRAL_VERSION, mistral_src: Path | None = None,
                  report: Report = _noop) -> Images:
    """Build (or find) the mistral and infra images for this version; returns their tags."""
    base = ensure_base(report)
    infra = _build_from(COMPOSE_DIR / "infra", base, "mistral-lab/infra", report)
    wheels = mistral_wheelhouse(mistral_version, mistral_src, report)
    pack = " mistral-lab-witness" if WITNESS_PACK.exists() else ""
    target = "mistral" if mistral_src is not None else f"mistral=={mistral_version}"
    requirements = f"'{target}' {' '.join(EXTRA_REQUIREMENTS)}{pack}"
    mistral = _build_from(COMPOSE_DIR / "mistral", base, "mistral-lab/mistral", report, wheels, requirements)
    return Images(mistral=mistral, infra=infra)
