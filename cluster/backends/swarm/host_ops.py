"""Node-level control of a swarm lab (a whole swarm node, not one container): cut a host off, drain it, stop
its engine; cluster.backends.swarm.hosts has the pure parts (HostRef, the iptables scripts, which host).
"""
from __future__ import annotations

import json
import re
import subprocess
import time

import docker.errors

from cluster.backends.swarm.hosts import (HostRef, chain_name, choose_host, control_port, cut_script, peers_of,
                                          restore_script)
from cluster.backends.swarm.state import SwarmState, host_client
from cluster.docker_env import engine
from cluster.errors import LabError

ENGINE_COMMAND_S = 120.0  # a host's engine-stop / engine-start command, and the wait for its engine after


class SwarmHostOps(SwarmState):
    """What the host faults (nemesis/host.py) ask of a swarm lab: its hosts, and acting on one of them."""

    # ------------------------------------------------------------ node-level control (a whole swarm node)
    def swarm_hosts(self) -> list[HostRef]:
        local = self._local_node_id()
        saved = {h["node_id"]: h for h in self._hosts() if h.get("node_id")}
        return [HostRef(node.id, node.attrs.get("Description", {}).get("Hostname", node.id[:12]),
                        node.attrs.get("Status", {}).get("Addr", ""),
                        node.attrs.get("Spec", {}).get("Role") == "manager",
                        "" if node.id == local else saved.get(node.id, {}).get("docker_host", ""),
                        saved.get(node.id, {}).get("engine_stop", ""), saved.get(node.id, {}).get("engine_start", ""))
                for node in engine().nodes.list()]

    def host_of(self, node: str, fault: str) -> HostRef:
        host = choose_host(self.swarm_hosts(), self._node_id_of(node), node, fault)
        if not host.docker_host:
            raise LabError(f"{fault}: {node} runs on {host.label}, whose engine the lab cannot reach (name it "
                           "in --hosts)")
        return host

    def nodes_on(self, host: HostRef) -> list[str]:
        """The lab's nodes whose newest task is on `host`."""
        return [n.name for n in self.nodes() if self._node_id_of(n.name) == host.node_id]

    def _host_helper(self, host: HostRef, script: str) -> str:
        """A throw-away container with the host's own network and NET_ADMIN, through that host's engine."""
        image = json.loads((self.state_dir / "images.json").read_text())["mistral"]
        try:
            output = self._engine_for(host.node_id).containers.run(
                image, ["-c", script], entrypoint=["sh"], network_mode="host", cap_add=["NET_ADMIN", "NET_RAW"],
                remove=True, labels={"mistral-lab.helper": self.name})
        except docker.errors.ContainerError as exc:
            detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
            raise LabError(f"iptables on {host.label} failed: {detail[-1] if detail else exc.exit_status}") from exc
        except docker.errors.DockerException as exc:
            raise LabError(f"cannot reach the engine of {host.label}: {str(exc).splitlines()[0][:200]}") from exc
        return output.decode(errors="replace") if isinstance(output, bytes) else str(output)

    def cut_host(self, host: HostRef) -> list[str]:
        """Drop every packet between `host` and its swarm peers; returns the peers cut off."""
        peers = peers_of(self.swarm_hosts(), host)
        self._host_helper(host, cut_script(chain_name(self.name), peers, control_port(host.docker_host)))
        return peers

    def restore_host(self, host: HostRef) -> int:
        """Undo cut_host; the number of iptables jumps removed (0: nothing was cut)."""
        output = self._host_helper(host, restore_script(chain_name(self.name)))
        found = re.search(r"removed=(\d+)", output)
        return int(found[1]) if found else 0

    def set_availability(self, host: HostRef, availability: str) -> None:
        """`docker node update --availability active|drain` (the whole spec is sent back: labels stay)."""
        node = engine().nodes.get(host.node_id)
        spec = dict(node.attrs.get("Spec") or {})
        spec["Availability"] = availability
        node.update(spec)

    def availability(self, host: HostRef) -> str:
        return engine().nodes.get(host.node_id).attrs.get("Spec", {}).get("Availability", "")

    def node_status(self, host: HostRef) -> str:
        """The manager's view of a swarm node: ready, down, unknown, disconnected."""
        return engine().nodes.get(host.node_id).attrs.get("Status", {}).get("State", "unknown")

    def run_engine_command(self, host: HostRef, which: str) -> None:
        """Run the hosts file's engine-stop / engine-start command for `host` on this machine."""
        command = host.engine_stop if which == "stop" else host.engine_start
        if not command:
            raise LabError(f"host-engine-stop: {host.label} has no engine-stop / engine-start command in the hosts "
                           "file (e.g. engine-stop=\"ssh lab@HOST sudo systemctl stop docker\")")
        try:
            result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=ENGINE_COMMAND_S)
        except subprocess.TimeoutExpired:
            raise LabError(f"engine-{which} for {host.label} did not finish in {ENGINE_COMMAND_S:.0f} s") from None
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise LabError(f"engine-{which} for {host.label} failed: {detail[-1] if detail else result.returncode}")

    def wait_engine(self, host: HostRef, timeout: float = ENGINE_COMMAND_S) -> None:
        """Until the host's engine answers and the manager sees its swarm node ready again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                host_client(host.docker_host).ping()
                if self.node_status(host) == "ready":
                    self._clients.pop(host.node_id, None)  # the old client's connections died with the engine
                    return
            except Exception:  # not up yet: connection refused, ssh failure
                pass
            time.sleep(1.0)
        raise LabError(f"the engine of {host.label} did not come back in {timeout:.0f} s")
