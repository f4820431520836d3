"""Picks a lab's backend by kind: compose (cluster.compose_backend) or swarm (cluster.swarm).

Apart from cluster.backend, which holds the seam (Backend, Node, ContainerOps) that both backends import: a
factory there, importing the backends, was an import cycle.
"""
from __future__ import annotations

from pathlib import Path

from cluster.backend import Backend
from cluster.errors import LabError
from cluster.topology import BACKENDS


def make_backend(kind: str, name: str, state_dir: Path) -> Backend:
    """The backend of one lab; imported lazily so a compose lab never loads the swarm machinery."""
    if kind == "compose":
        from cluster.compose_backend import ComposeBackend

        return ComposeBackend(name, state_dir)
    if kind == "swarm":
        from cluster.swarm import SwarmBackend

        return SwarmBackend(name, state_dir)
    raise LabError(f"unknown backend {kind!r}: choose one of {', '.join(BACKENDS)}")
