"""Stand-ins shared by the offline fault tests."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeNode:
    """A cluster node whose state a test can change (cluster.backends.base.Node is frozen)."""

    name: str
    role: str
    state: str = "running"

    @property
    def running(self) -> bool:
        return self.state == "running"
