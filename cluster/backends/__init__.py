"""What runs a lab's containers: the backend seam (cluster.backends.base: Backend, Node, ContainerOps) and the
backends behind it, compose (cluster.backends.compose) and swarm (cluster.backends.swarm), picked by kind here.

The factory lives in the package, apart from the seam that both backends import: a factory in the seam's module,
importing the backends, was an import cycle.
"""
from __future__ import annotations

from pathlib import Path

from cluster.backends.base import Backend
from cluster.errors import LabError
from cluster.topology import BACKENDS


def make_backend(kind: str, name: str, state_dir: Path) -> Backend:
    """The backend of one lab; imported lazily so a compose lab never loads the swarm machinery."""
    if kind == "compose":
        from cluster.backends.compose import ComposeBackend

        return ComposeBackend(name, state_dir)
    if kind == "swarm":
        from cluster.backends.swarm.backend import SwarmBackend

        return SwarmBackend(name, state_dir)
    raise LabError(f"unknown backend {kind!r}: choose one of {', '.join(BACKENDS)}")
