"""The swarm backend: a lab as a Docker Swarm stack, one service per node (api-1, engine-2, ...), one replica.

Deploys run in phases (swarm has no depends_on): database, broker and witness; then the schema job; then every
Mistral node. Faults act on a task's container through the engine of the swarm node that runs it (the local
engine, or the host's DOCKER_HOST from the hosts file); `start` is a forced service update, because a swarm
task that stopped is never started again (restart policy none: a killed node stays down until healed).

The parts: the swarm's owner record (owner), the lab's saved state and discovery (state), the deploy (deploy),
node-level control (host_ops); the pure decisions are in hosts and plan.
"""
from __future__ import annotations

import time

from cluster.backends.swarm.deploy import SwarmDeploy
from cluster.backends.swarm.host_ops import SwarmHostOps
from cluster.backends.swarm.plan import task_state
from cluster.errors import LabError

NEW_TASK_TIMEOUT_S = 60.0


class SwarmBackend(SwarmDeploy, SwarmHostOps):
    kind = "swarm"

    # ------------------------------------------------------------ per-node control
    def start(self, node: str) -> None:
        """A stopped swarm task never runs again: a forced update gives the service a new task (and container)."""
        service = self._service(node)
        if service is None:
            raise LabError(f"no node {node!r} in lab {self.name!r}")
        task = self._newest_task(node, service)
        container, _ = self._task_container(task)
        alive = task_state((task or {}).get("Status", {}).get("State", "shutdown"),
                           container.status if container is not None else None) in ("created", "running", "paused")
        # A task swarm means to stop (its node drained, or back from an engine restart) may still report
        # running: only one it still wants running is left alone.
        if alive and (task or {}).get("DesiredState", "running") == "running":
            return  # a task is starting or runs already: a second forced update would restart it
        service.force_update()
        # The new task appears asynchronously; until it does, the node still shows its old, exited task (after
        # a drained host or a restarted engine, its container may even be gone), which callers read as a
        # node that failed to start.
        old = (task or {}).get("ID")
        deadline = time.monotonic() + NEW_TASK_TIMEOUT_S
        while time.monotonic() < deadline:
            newest = self._newest_task(node, service)
            if newest is not None and newest.get("ID") != old:
                return
            time.sleep(0.5)
        raise LabError(f"{node}: swarm made no new task within {NEW_TASK_TIMEOUT_S:.0f} s of a forced update")
