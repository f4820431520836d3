"""Clock skew of single Mistral nodes, without touching the host's clock: libfaketime inside the processes.

The image preloads libfaketime into mistral-server; this fault writes the offset file it re-reads
(/run/lab-clock/faketime): mode=bump holds `+S` until heal, mode=strobe flips between `+S` and the true time.
Heal writes "+0". The libfaketime settings and the defects worked around: docs/faults.md#clock.
"""
from __future__ import annotations

import random
import time
from typing import Any, TYPE_CHECKING

from cluster.errors import LabError
from cluster.topology import MISTRAL_ROLES
from nemesis.base import Fault, Opt, exec_script, register
from nemesis.nodes import state_of

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster

CLOCK_DIR = "/run/lab-clock"
CLOCK_FILE = f"{CLOCK_DIR}/faketime"
STROBE_PID = f"{CLOCK_DIR}/strobe.pid"
PICKUP_S = 1.3  # FAKETIME_CACHE_DURATION=1: a new offset is seen within a second
MODES = ("bump", "strobe")
# The environment entrypoint.sh gives mistral-server; probes run under the same one to read the node's clock.
FAKETIME_ENV = {
    "FAKETIME_TIMESTAMP_FILE": CLOCK_FILE,
    "FAKETIME_CACHE_DURATION": "1",
    "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    "FAKETIME_FORCE_MONOTONIC_FIX": "0",
}
FIND_LIB = "ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -n1"
PRELOADED = "grep -l libfaketime /proc/[0-9]*/maps 2>/dev/null | head -n1"


def offset_spec(seconds: int) -> str:
    return f"{seconds:+d}"


def write_script(spec: str) -> str:
    """Set a node's offset atomically (libfaketime may read the file at any moment)."""
    return (f"mkdir -p {CLOCK_DIR} && printf '%s\\n' '{spec}' > {CLOCK_FILE}.tmp "
            f"&& mv {CLOCK_FILE}.tmp {CLOCK_FILE}\n")


def strobe_script(spec: str, period_ms: int) -> str:
    """A loop flipping between the offset and true time; its pid file lets heal stop it."""
    half = f"{period_ms / 1000:.3f}"
    return (f"mkdir -p {CLOCK_DIR} && echo $$ > {STROBE_PID}\n"
            f"while :; do {write_script(spec).strip()}; sleep {half}; {write_script('+0').strip()}; "
            f"sleep {half}; done\n")


def restore_script() -> str:
    """Stop a strobe loop and restore the true time; prints what it undid (nothing when the clock was true)."""
    # Kill the pid only if it still is the loop: after a restart the number may belong to another process.
    return (f"if [ -f {STROBE_PID} ]; then p=$(cat {STROBE_PID}); "
            f"grep -q lab-clock /proc/$p/cmdline 2>/dev/null && kill $p && echo 'clock strobe'; "
            f"rm -f {STROBE_PID}; fi\n"
            f"if [ -f {CLOCK_FILE} ] && [ \"$(cat {CLOCK_FILE})\" != '+0' ]; then "
            f"echo \"clock skew $(cat {CLOCK_FILE})\"; {write_script('+0').strip()}; fi\ntrue\n")


def list_script() -> str:
    """Prints `clock ...` when a node's clock is skewed or strobing."""
    return (f"[ -f {STROBE_PID} ] && echo 'clock strobe running'\n"
            f"[ -f {CLOCK_FILE} ] && [ \"$(cat {CLOCK_FILE})\" != '+0' ] && echo \"clock skew $(cat {CLOCK_FILE})\"\n"
            "true\n")


def probe_command(code: str, faked: bool = True) -> list[str]:
    """`python3 -c code` inside a node, under the node's libfaketime environment when `faked`."""
    if not faked:
        return ["python3", "-c", code]
    env = " ".join(f"{k}={v}" for k, v in FAKETIME_ENV.items())
    return ["sh", "-c", f'exec env LD_PRELOAD="$({FIND_LIB})" {env} python3 -c "$0"', code]


def measured_skew(cluster: Cluster, node: str) -> float:
    """The node's faked wall clock minus the true one, in seconds, as its Mistral processes see it."""
    code = "import time; print(repr(time.time()))"
    readings = []
    for faked in (True, False):
        status, out = cluster.exec(node, probe_command(code, faked))
        if status != 0:
            raise LabError(f"cannot read the clock of {node}: {out.strip()[-200:]}")
        readings.append(float(out.strip().splitlines()[-1]))
    return round(readings[0] - readings[1], 2)


@register
class Clock(Fault):
    name = "clock"
    summary = "skew nodes' wall clocks (libfaketime in the Mistral processes, host untouched); heal restores"
    OPTIONS = {
        "offset_s": Opt(int, 60, "seconds added to the node's wall clock (negative: behind)",
                        low=-31_536_000, high=31_536_000),
        "mode": Opt(str, "bump", "bump: skewed until heal; strobe: flip between skewed and true time",
                    choices=MODES),
        "period_ms": Opt(int, 2000, "strobe: milliseconds between flips (libfaketime re-reads once a second)",
                         low=1000, high=600_000),
    }
    ROLES = MISTRAL_ROLES
    DEFAULT_TARGET = "random"

    def validate(self) -> None:
        if self.options["offset_s"] == 0:
            raise LabError("clock: offset_s=0 is no skew; give a positive or negative number of seconds")
        if "period_ms" in self.given_options and self.options["mode"] != "strobe":
            raise LabError("clock: period_ms only applies to mode=strobe")
        self.skewed: list[str] = []

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        nodes = self._targets(cluster, rng)
        for node in nodes:  # every check before any change
            if not exec_script(cluster, node.name, PRELOADED).strip():
                raise LabError(f"clock: libfaketime is not preloaded in {node.name}'s Mistral processes (image "
                               "built before the clock fault?): run `mistral-lab images` and recreate the lab")
        spec = offset_spec(self.options["offset_s"])
        for node in nodes:
            self.skewed.append(node.name)
            if self.options["mode"] == "strobe":
                cluster.container(node.name).exec_run(
                    ["sh", "-c", strobe_script(spec, self.options["period_ms"])], detach=True)
            else:
                exec_script(cluster, node.name, write_script(spec))
        time.sleep(PICKUP_S)
        done: dict[str, Any] = {"nodes": [n.name for n in nodes], "offset": spec, "mode": self.options["mode"]}
        if self.options["mode"] == "bump":
            done["measured_skew_s"] = {n.name: measured_skew(cluster, n.name) for n in nodes}
        return done

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        restored = []
        for node in self.skewed:
            if state_of(cluster, node) == "running":
                exec_script(cluster, node, restore_script())
                restored.append(node)
        if restored:
            time.sleep(PICKUP_S)
        self.skewed = []
        return {"restored": restored}

    def describe(self) -> str:
        o = self.options
        if o["mode"] == "strobe":
            return (f"clock: flip {self.target} between {offset_spec(o['offset_s'])} s and true time every "
                    f"{o['period_ms']} ms, restore on heal")
        return f"clock: skew {self.target} by {offset_spec(o['offset_s'])} s, restore on heal"
