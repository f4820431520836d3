"""Which OpenStack upper-constraints a Mistral release is installed with.

A Mistral release declares loose lower bounds (`SQLAlchemy>=1.2.5`); what a deployment of it runs is fixed by
its OpenStack series' upper-constraints. Installed without them, pip takes today's newest libraries, which no
release was tested with: Mistral 20.2.0 under SQLAlchemy 2.1 raises DetachedInstanceError on its scheduled
jobs, a defect of the combination, not of Mistral. So every release's wheels are resolved with its series'
file (cluster/constraints/<series>.txt, copied unchanged from openstack/requirements; the header line says
from where), and a source tree with the newest series'.
"""
from __future__ import annotations

from pathlib import Path

CONSTRAINTS_DIR = Path(__file__).resolve().parent / "constraints"
SERIES_BY_MAJOR = {20: "2025.1", 21: "2025.2", 22: "2026.1", 23: "2026.2"}  # Mistral's release per series
NEWEST_SERIES = SERIES_BY_MAJOR[max(SERIES_BY_MAJOR)]


def series_of(version: str | None) -> str | None:
    """The OpenStack series of a Mistral release; the newest for a source tree (None); None when unknown."""
    if version is None:
        return NEWEST_SERIES
    head = version.split(".", 1)[0]
    return SERIES_BY_MAJOR.get(int(head)) if head.isdigit() else None


def constraints_file(version: str | None) -> Path | None:
    """The upper-constraints file to resolve `version`'s wheels with, or None (a release the lab has none for)."""
    series = series_of(version)
    path = CONSTRAINTS_DIR / f"{series}.txt" if series else None
    return path if path is not None and path.exists() else None


def tree_version(src: Path) -> str | None:
    """The release an unpacked sdist (or a tree made from one) is: its PKG-INFO's Version; None for a checkout."""
    info = src / "PKG-INFO"
    if not info.exists():
        return None
    for line in info.read_text(errors="replace").splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


def constraints_source(path: Path) -> str:
    """The header line that says where a constraints file comes from."""
    return path.read_text().splitlines()[0].lstrip("# ").strip()
