"""mistral-lab: bring up real multi-node Mistral clusters, break them on purpose, check what they did.

The `lab` package is the CLI and the cluster control API (find, start, stop, kill, pause, resume, scale nodes).
"""
from cluster.errors import LabError

__all__ = ["LabError"]
