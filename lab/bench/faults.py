"""Fault runs of the benchmark: a measurement repeated under one fault from the nemesis registry, injected by
the nemesis package's own seeded scheduler (nemesis.schedule) rather than a loop of the benchmark's own.

The bench's options map onto a Schedule like this: quiet `interval_s`, then the fault for `duration_s`, then
heal, over and over, so a schedule slot is interval_s + duration_s long and the first fault starts after
interval_s. The schedule has no jitter (the bench asks for fixed quiet times) and its seed is recorded.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, TYPE_CHECKING

from cluster.errors import LabError
from lab.bench.model import NemesisConfig

if TYPE_CHECKING:  # the nemesis and cluster modules load only when a fault run needs them
    from cluster.control import Cluster
    from nemesis.schedule import Inventory, NemesisRunner, Schedule

Report = Callable[[str], None]
# Short heartbeat windows so a fault that loses an action is noticed in seconds (as the shared test cluster).
NEMESIS_OVERRIDES = {"action_heartbeat": {"check_interval": "2", "max_missed_heartbeats": "5",
                                          "first_heartbeat_timeout": "30"}}
RECOVER_TIMEOUT_S = 240.0


# ------------------------------------------------------------------ offline checks
def load_fault_registry() -> dict[str, type]:
    """nemesis.base.FAULTS with every fault module registered (importing the package registers them)."""
    try:
        import nemesis
    except ImportError as exc:
        raise LabError(f"--nemesis needs the nemesis package, which does not import: {exc}") from None
    return nemesis.FAULTS


def check_nemesis(config: NemesisConfig) -> None:
    """Build the fault and its schedule once offline: an unknown name, option or target fails before any
    cluster exists."""
    if not config.enabled:
        return
    registry = load_fault_registry()
    if config.name not in registry:
        raise LabError(f"unknown nemesis {config.name!r}: choose none or one of {', '.join(sorted(registry))}")
    from nemesis.base import make_fault

    make_fault(config.name, config.options, config.target)  # the fault's own message for a bad option/target
    for flag, value in (("--nemesis-interval", config.interval_s), ("--nemesis-duration", config.duration_s)):
        if value <= 0:
            raise LabError(f"{flag} {value}: must be > 0 seconds")
    fault_schedule(config, seed=0)


def fault_schedule(config: NemesisConfig, seed: int, inventory: Inventory | None = None) -> Schedule:
    """The nemesis schedule of one fault run: one fault kind, fixed quiet interval, no jitter."""
    from nemesis.schedule import FaultSpec, Schedule

    spec = FaultSpec(config.name, config.target, dict(config.options))
    return Schedule([spec], seed=seed, interval_s=config.interval_s + config.duration_s,
                    duration_s=config.duration_s, start_s=config.interval_s, inventory=inventory, jitter=0.0)


# ------------------------------------------------------------------ one fault run
class FaultRun:
    """Runs a fault schedule with nemesis.schedule.nemesis_running while a measurement is inside the with-block,
    and keeps what happened as the bench's event list: {"t", "action", "detail"} with action start,
    start-failed, heal or heal-failed (the entry's "faults"). Leaving the block heals the fault in place; the
    whole-cluster heal comes after the measurement (`recover`), so it does not count in the measured window."""

    def __init__(self, cluster: Cluster, config: NemesisConfig, seed: int, inventory: Inventory | None = None,
                 total_s: float | None = None, report: Report = lambda _: None) -> None:
        self.cluster, self.config, self.seed, self.total_s, self.report = cluster, config, seed, total_s, report
        self.schedule = fault_schedule(config, seed, inventory)
        self.events: list[dict[str, Any]] = []
        self.runner: NemesisRunner | None = None
        self._started = time.monotonic()
        self._description = ""
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> "FaultRun":
        from nemesis.schedule import nemesis_running

        self._started = time.monotonic()
        self.runner = self._stack.enter_context(
            nemesis_running(self.cluster, self.schedule, self.record, total_s=self.total_s, final_heal=False,
                            report=self.report))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()  # stops the runner and waits until it healed

    def record(self, process: str, type: str, f: str, value: Any = None, **_: Any) -> None:
        """NemesisRunner's record callback (the history Record signature), kept as bench events."""
        value = dict(value or {})
        action = value.pop("action", f)
        if type == "invoke":  # the outcome follows as ok/info; keep the description for it
            self._description = value.get("description", self._description)
        elif type == "info":
            self._log(f"{action}-failed", value.get("error", ""))
        elif action == "start":
            self._log("start", {"fault": self._description, **value})
        else:
            self._log(action, value)

    def _log(self, action: str, detail: Any) -> None:
        self.events.append({"t": round(time.monotonic() - self._started, 3), "action": action,
                            "detail": detail if isinstance(detail, (dict, str)) else str(detail)})


def recover(cluster: Cluster, report: Report) -> None:
    """After a fault run, heal whatever is left (nodes down, rules, qdiscs) and wait until every node
    serves, so the next baseline starts from a healthy cluster."""
    from nemesis.heal import heal_cluster

    repaired = heal_cluster(cluster, report, timeout=RECOVER_TIMEOUT_S)
    if repaired:
        report(f"after the fault run: {'; '.join(repaired)}")
