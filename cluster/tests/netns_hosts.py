"""Several Docker hosts on one machine, for the multi-host swarm test: each host is a network namespace with its
own dockerd (own data root, exec root and containerd), joined by a Linux bridge in the root namespace.

Not Docker-in-Docker: every dockerd runs on this machine's kernel with root's capabilities, only its network is
its own, so a host can be cut off (iptables in its namespace, as on a real machine) or lose its engine (the
dockerd process stopped) while the others run. Root only. Everything is named by a tag so a leftover from a
crashed test never collides with the next one, and `remove_hosts` takes a half-built set down as well.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path("/var/lib/mistral-lab-hosts")
ENGINE_PORT = 2375
START_TIMEOUT_S = 90.0


@dataclass
class SimHost:
    tag: str
    index: int
    subnet: int  # third octet of 10.213.<subnet>.0/24

    @property
    def name(self) -> str:
        return f"mlh{self.tag}-{self.index}"

    @property
    def address(self) -> str:
        return f"10.213.{self.subnet}.{self.index}"

    @property
    def docker_host(self) -> str:
        return f"tcp://{self.address}:{ENGINE_PORT}"

    @property
    def exec_root(self) -> Path:
        return Path("/run") / self.name

    @property
    def data_root(self) -> Path:
        return DATA / self.name

    @property
    def pid_file(self) -> Path:
        return self.exec_root / "dockerd.pid"


@dataclass
class SimHosts:
    tag: str
    subnet: int
    hosts: list[SimHost] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"mlh{self.tag}br"

    @property
    def gateway(self) -> str:
        return f"10.213.{self.subnet}.254"


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True)


def _forward_rule(bridge: str) -> list[str]:
    # Docker sets FORWARD's policy to DROP and bridged frames pass iptables (br_netfilter): let the hosts talk.
    return ["DOCKER-USER", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]


def create_hosts(tag: str, count: int, subnet: int = 77) -> SimHosts:
    """Bridge, namespaces and one dockerd per host; returns once every engine answers."""
    sim = SimHosts(tag, subnet, [SimHost(tag, i, subnet) for i in range(1, count + 1)])
    try:
        _run("ip", "link", "add", sim.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{sim.gateway}/24", "dev", sim.bridge)
        _run("ip", "link", "set", sim.bridge, "up")
        _run("iptables", "-I", *_forward_rule(sim.bridge))
        for host in sim.hosts:
            _plumb(sim, host)
            start_engine(host)
        for host in sim.hosts:
            wait_engine(host)
    except BaseException:
        remove_hosts(sim)
        raise
    return sim


def _plumb(sim: SimHosts, host: SimHost) -> None:
    outside, inside = f"{host.name}o", f"{host.name}i"
    _run("ip", "netns", "add", host.name)
    _run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
    _run("ip", "link", "set", inside, "netns", host.name)
    _run("ip", "link", "set", outside, "master", sim.bridge)
    _run("ip", "link", "set", outside, "up")
    inns = ["ip", "netns", "exec", host.name]
    _run(*inns, "ip", "addr", "add", f"{host.address}/24", "dev", inside)
    _run(*inns, "ip", "link", "set", inside, "up")
    _run(*inns, "ip", "link", "set", "lo", "up")
    _run(*inns, "ip", "route", "add", "default", "via", sim.gateway)


def start_engine(host: SimHost) -> None:
    """dockerd in the host's network namespace only (nsenter --net keeps the machine's /sys and cgroups)."""
    host.exec_root.mkdir(parents=True, exist_ok=True)
    host.data_root.mkdir(parents=True, exist_ok=True)
    config = host.exec_root / "daemon.json"
    config.write_text('{"mtu": 1400}')  # the machine's daemon.json names /var/lib/docker: each host has its own
    log = open(host.exec_root / "dockerd.log", "ab")  # noqa: SIM115 - the daemon keeps it
    dockerd = ["dockerd", "--config-file", str(config), "--data-root", str(host.data_root),
               "--exec-root", str(host.exec_root), "--pidfile", str(host.pid_file),
               "-H", f"unix://{host.exec_root}/docker.sock", "-H", host.docker_host, "--tls=false",
               "--storage-driver", "fuse-overlayfs", "--cgroup-parent", f"/{host.name}"]
    # Its own UTS namespace too, so the swarm node's hostname (what `status` shows) is the host's name.
    subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{host.name}", "unshare", "--uts", "sh", "-c",
         f'hostname {host.name} && exec "$@"', "dockerd", *dockerd],
        stdout=log, stderr=log, start_new_session=True)


def wait_engine(host: SimHost, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _run("docker", "-H", host.docker_host, "info", "--format", "{{.ID}}", check=False).returncode == 0:
            return
        time.sleep(1)
    raise RuntimeError(f"{host.name}: dockerd did not answer in {timeout:.0f} s (see {host.exec_root}/dockerd.log)")


def stop_engine(host: SimHost, timeout: float = 60.0) -> None:
    """Stop the host's dockerd (SIGTERM, as `systemctl stop docker` does); its containers stop with it."""
    pid = _pid(host)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.5)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def _pid(host: SimHost) -> int | None:
    try:
        return int(host.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def remove_hosts(sim: SimHosts) -> None:
    """Engines, mounts, namespaces, links, the forward rule and the data roots; safe on a half-built set."""
    for host in sim.hosts:
        stop_engine(host)
        _unmount_under(host.data_root)
        _unmount_under(host.exec_root)
        _run("ip", "netns", "del", host.name, check=False)
        _run("ip", "link", "del", f"{host.name}o", check=False)
        shutil.rmtree(host.data_root, ignore_errors=True)
        shutil.rmtree(host.exec_root, ignore_errors=True)
    while _run("iptables", "-D", *_forward_rule(sim.bridge), check=False).returncode == 0:
        pass
    _run("ip", "link", "del", sim.bridge, check=False)


def _unmount_under(root: Path) -> None:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
              if len(line.split()) > 1 and line.split()[1].startswith(str(root))]
    for mount in sorted(mounts, key=len, reverse=True):
        _run("umount", "-l", mount, check=False)


def load_images(sim_host: SimHost, images: list[str]) -> None:
    """Copy images from this machine's engine into a host's engine (no registry)."""
    save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
    try:
        _run_stdin(["docker", "-H", sim_host.docker_host, "load", "-q"], save)
    finally:
        save.wait()


def _run_stdin(cmd: list[str], source: subprocess.Popen) -> None:
    result = subprocess.run(cmd, stdin=source.stdout, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {result.stderr.strip()}")


def make_swarm(sim: SimHosts) -> None:
    """Host 1 inits a swarm on its own address; every other host joins it as a worker."""
    manager = sim.hosts[0]
    _run("docker", "-H", manager.docker_host, "swarm", "init", "--advertise-addr", manager.address)
    token = _run("docker", "-H", manager.docker_host, "swarm", "join-token", "-q", "worker").stdout.strip()
    for host in sim.hosts[1:]:
        _run("docker", "-H", host.docker_host, "swarm", "join", "--token", token, f"{manager.address}:2377")


def hosts_file(sim: SimHosts, path: Path) -> Path:
    """The lab's --hosts file: every worker through its own DOCKER_HOST, with the commands that stop and start
    its engine (this file run as a script: what `ssh HOST sudo systemctl stop docker` is on real machines)."""
    def command(verb: str, host: SimHost) -> str:
        return shlex.quote(f"{sys.executable} {Path(__file__).resolve()} {verb} {host.tag} {host.index} {host.subnet}")

    path.write_text("".join(f"{host.docker_host} engine-stop={command('stop-engine', host)} "
                            f"engine-start={command('start-engine', host)}\n" for host in sim.hosts[1:]))
    return path


def main(argv: list[str]) -> int:
    """`stop-engine|start-engine TAG INDEX SUBNET`: the hosts file's engine commands for one simulated host."""
    verb, tag, index, subnet = argv
    host = SimHost(tag, int(index), int(subnet))
    if verb == "stop-engine":
        stop_engine(host)
    elif verb == "start-engine":
        start_engine(host)
        wait_engine(host)
    else:
        print(f"unknown verb {verb!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


__all__ = ["SimHost", "SimHosts", "create_hosts", "hosts_file", "load_images", "make_swarm", "remove_hosts",
           "start_engine", "stop_engine", "wait_engine"]
