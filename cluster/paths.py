"""Where the lab keeps its files: the repo's compose/ templates, a build cache and per-cluster state."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_DIR = REPO_ROOT / "compose"


def cache_dir() -> Path:
    """Wheelhouses and image build contexts; safe to delete (everything is rebuilt from PyPI/Debian)."""
    base = os.environ.get("MISTRAL_LAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mistral-lab"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_root() -> Path:
    """Per-cluster state (rendered compose.yaml, configs, topology.json, witness log)."""
    base = os.environ.get("MISTRAL_LAB_STATE") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "mistral-lab"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cluster_dir(name: str) -> Path:
    return state_root() / name
