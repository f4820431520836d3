"""Local image builds, tagged by a hash of their inputs so an unchanged image is never rebuilt.

The base image is `debian:bookworm-slim` when the engine has (or can pull) it, otherwise a debootstrap minbase
imported with `docker import` (debootstrap is installed with apt-get first when it is missing and we are root);
choose_base_route() is that decision as a pure function. Mistral's Python wheels are fetched on the
host (its pip trusts the host's CA; cluster.wheels) into a wheelhouse inside the build context and installed
offline, with the lab's own packs built as wheels beside them.
"""
from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import docker.errors

from cluster.docker_env import engine
from cluster.errors import LabError
from cluster.paths import COMPOSE_DIR, cache_dir
from cluster.topology import DEFAULT_MISTRAL_VERSION
from cluster.wheels import BUILD_LEFTOVERS, EXTRA_REQUIREMENTS, mistral_wheelhouse, pip_command

Report = Callable[[str], None]
WITNESS_PACK = COMPOSE_DIR / "witness_pack"
RPC_PACK = COMPOSE_DIR / "rpc_pack"  # the rpc fault's in-process hook (nemesis/rpc.py)
BASE_REPO = "mistral-lab/base"
DEBIAN_TAG = "debian:bookworm-slim"
BUILT_BASE = f"{BASE_REPO}:bookworm"


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
class BaseRoute(enum.Enum):
    """How the Debian bookworm base image is obtained, in order of preference."""

    LOCAL = "the engine has it"
    PULL = "pull debian:bookworm-slim"
    DEBOOTSTRAP = "debootstrap a bookworm minbase (about 40 s, once)"
    INSTALL_DEBOOTSTRAP = "apt-get install debootstrap, then debootstrap (about 1 min, once)"
    NONE = "no way to make one"


@dataclass(frozen=True)
class BaseFacts:
    """What the route depends on; `can_pull` only matters (and is only probed) without a local image."""

    has_image: bool
    can_pull: bool
    has_debootstrap: bool
    is_root: bool
    has_apt_get: bool


def choose_base_route(facts: BaseFacts) -> BaseRoute:
    """Pure: the first route that can work on this machine."""
    if facts.has_image:
        return BaseRoute.LOCAL
    if facts.can_pull:
        return BaseRoute.PULL
    if not facts.is_root:
        return BaseRoute.NONE  # debootstrap (and installing it) needs root
    if facts.has_debootstrap:
        return BaseRoute.DEBOOTSTRAP
    if facts.has_apt_get:
        return BaseRoute.INSTALL_DEBOOTSTRAP
    return BaseRoute.NONE


NO_ROUTE_WAYS_OUT = (f"load {DEBIAN_TAG} into the engine (`docker save` it where a registry is reachable, then "
                     "`docker load`), or install debootstrap and run `mistral-lab images` once as root")


def no_route_reason(facts: BaseFacts) -> str:
    why = ("building one with debootstrap needs root" if not facts.is_root
           else "debootstrap is not installed and there is no apt-get to install it")
    return f"the engine has no {DEBIAN_TAG} and cannot pull it, and {why}"


def no_route_message(facts: BaseFacts) -> str:
    """One line for BaseRoute.NONE: why, then the two ways out."""
    return f"no base image: {no_route_reason(facts)}. Either {NO_ROUTE_WAYS_OUT}"


def local_base() -> str | None:
    """The tag of a bookworm base the engine already has, if any."""
    return next((tag for tag in (DEBIAN_TAG, BUILT_BASE) if _image_exists(tag)), None)


def probe_pull() -> bool:
    """Whether the engine could pull the Debian image: asks the registry for the manifest only (a second,
    nothing downloaded). For `doctor`; ensure_base tries the pull itself."""
    try:
        engine().api.inspect_distribution(DEBIAN_TAG)
        return True
    except docker.errors.APIError:
        return False


def base_facts(can_pull: Callable[[], bool]) -> BaseFacts:
    """Gather the route's inputs; `can_pull` is only called when the engine has no base image yet."""
    has_image = local_base() is not None
    return BaseFacts(
        has_image=has_image,
        can_pull=not has_image and can_pull(),
        has_debootstrap=shutil.which("debootstrap") is not None,
        is_root=os.geteuid() == 0,
        has_apt_get=shutil.which("apt-get") is not None,
    )


def ensure_base(report: Report = _noop) -> str:
    """Return a tag of a Debian bookworm base image, making one if needed (about 40 s)."""

    def pull() -> bool:  # the pull is its own probe: a registry mirror may serve what a manifest query cannot
        report(f"pulling {DEBIAN_TAG}")
        try:
            engine().images.pull("debian", tag="bookworm-slim")
            return True
        except docker.errors.APIError:
            return False

    facts = base_facts(can_pull=pull)
    return take_base_route(choose_base_route(facts), facts, report)


def take_base_route(route: BaseRoute, facts: BaseFacts, report: Report) -> str:
    """The effects of a route (a PULL route has already pulled); returns the base image's tag."""
    if route is BaseRoute.LOCAL:
        return local_base() or DEBIAN_TAG
    if route is BaseRoute.PULL:
        return DEBIAN_TAG
    if route is BaseRoute.NONE:
        raise LabError(no_route_message(facts))
    if route is BaseRoute.INSTALL_DEBOOTSTRAP:
        report("installing debootstrap with apt-get (needed once, to build the base image without a registry)")
        _install_debootstrap()
    report("no registry: building a bookworm base with debootstrap (about 40 s)")
    _debootstrap_base(BUILT_BASE)
    return BUILT_BASE


def _install_debootstrap() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-q"], "apt-get update", env=env)
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "debootstrap"],
         "apt-get install debootstrap", env=env)


def _debootstrap_base(tag: str) -> None:
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


# ---------------------------------------------------------------- the lab's packs, as wheels
def witness_wheel(dest: Path) -> None:
    _pack_wheel(WITNESS_PACK, dest, "the witness action pack")


def _pack_wheel(pack: Path, dest: Path, what: str) -> None:
    """The pack's wheel into `dest`, built once per content of its source tree (a `pip wheel` costs 3-8 s on
    2 cores, and every `up` needs both packs to find the image's tag)."""
    if not pack.exists():
        return
    with tempfile.TemporaryDirectory(prefix=f"{pack.name}-", dir=cache_dir()) as tmp:
        source = Path(tmp) / pack.name
        copy_sources(pack, source)
        built = cache_dir() / "pack-wheels" / f"{pack.name}-{_hash_tree(source)}"
        if not built.is_dir():
            _build_pack_wheel(source, built, what)
        for wheel in built.glob("*.whl"):
            shutil.copy2(wheel, dest / wheel.name)


def _build_pack_wheel(source: Path, built: Path, what: str) -> None:
    # A fixed SOURCE_DATE_EPOCH makes the wheel byte-identical between builds, so the image hash is stable.
    # Built from a private copy: setuptools writes build/ and *.egg-info beside the sources, and an installed
    # package directory may be read-only or shared between users. Renamed into place: never half a cache entry.
    env = {**os.environ, "SOURCE_DATE_EPOCH": "315532800"}
    built.parent.mkdir(parents=True, exist_ok=True)
    scratch = built.with_name(f".{built.name}.{os.getpid()}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    _run(pip_command("wheel", "--no-deps", "--wheel-dir", str(scratch), str(source)), f"building {what}", env=env)
    try:
        os.replace(scratch, built)
    except OSError:  # another process put the same wheel there first
        shutil.rmtree(scratch, ignore_errors=True)


def copy_sources(src: Path, dst: Path) -> None:
    """Copy a source tree without build leftovers, every copy writable (the source may be read-only)."""
    leftovers = shutil.ignore_patterns(*BUILD_LEFTOVERS)
    for here, dirs, files in os.walk(src):
        skip = leftovers(here, dirs + files)
        dirs[:] = [d for d in dirs if d not in skip]
        target = dst / Path(here).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            if name not in skip:
                shutil.copyfile(Path(here) / name, target / name)  # contents only: no read-only mode bits


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
            witness_wheel(context / "wheels")
            _pack_wheel(RPC_PACK, context / "wheels", "the rpc fault hook")
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
    with build_lock(report):
        return _ensure_images(mistral_version, mistral_src, report)


@contextlib.contextmanager
def build_lock(report: Report = _noop) -> Iterator[None]:
    """One image build at a time on this machine: parallel runs (tests, findings, a second terminal) would
    otherwise debootstrap twice and write the same wheelhouse at once. The others wait, then find the images."""
    path = cache_dir() / "build.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            report("waiting for another mistral-lab process to finish building images")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock, also when the build fails


def _ensure_images(mistral_version: str, mistral_src: Path | None, report: Report) -> Images:
    """The cold path in parallel where it can be: the base image (debootstrap) beside the wheel fetch, then
    the infra and mistral builds side by side (both mostly wait on downloads and disk)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        base_job = pool.submit(ensure_base, report)
        wheels_job = pool.submit(mistral_wheelhouse, mistral_version, mistral_src, report)
        base = base_job.result()
        infra_job = pool.submit(_build_from, COMPOSE_DIR / "infra", base, "mistral-lab/infra", report)
        wheels = wheels_job.result()
        pack = (" mistral-lab-witness" if WITNESS_PACK.exists() else "") + \
            (" mistral-lab-rpc" if RPC_PACK.exists() else "")
        target = "mistral" if mistral_src is not None else f"mistral=={mistral_version}"
        requirements = f"'{target}' {' '.join(EXTRA_REQUIREMENTS)}{pack}"
        mistral = _build_from(COMPOSE_DIR / "mistral", base, "mistral-lab/mistral", report, wheels, requirements)
        return Images(mistral=mistral, infra=infra_job.result())
