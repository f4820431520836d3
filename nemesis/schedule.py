"""Seeded fault schedules and the thread that applies one to a cluster.

A `Schedule` turns (spec, seed, interval, duration, node inventory) into a deterministic list of decisions:
when each fault starts, which fault, with which options and on which node. The same inputs always give the
same decisions, so a run can be replayed. `NemesisRunner` applies them one at a time (a fault is healed before
the next starts), records every step as nemesis ops, and heals everything in `finally`.
"""
from __future__ import annotations

import contextlib
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, TYPE_CHECKING

from cluster.errors import LabError
from cluster.topology import MISTRAL_ROLES, Topology
from nemesis.base import FAULTS, Fault, make_fault
from nemesis.pinned import pinned_steps

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster

Record = Callable[..., Any]  # record(process, type, f, value), e.g. HistoryWriter.append
CHAOS = "chaos"
NODE_TARGETED = ("kill", "pause", "stop", "packet-loss", "bandwidth", "netem")
ROLE_PAIRS = (("engine", "broker"), ("executor", "broker"), ("api", "db"), ("engine", "db"),
              ("executor", "engine"))


@dataclass(frozen=True)
class FaultSpec:
    """One entry of a schedule spec: a fault name, its target (or None) and options."""

    fault: str
    target: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, item: "FaultSpec | str | Mapping[str, Any]") -> "FaultSpec":
        if isinstance(item, FaultSpec):
            return item
        if isinstance(item, str):
            return cls(item)
        data = dict(item)
        return cls(data.pop("fault"), data.pop("target", None), data.pop("options", {}))


@dataclass(frozen=True)
class Decision:
    """One scheduled fault: start `at_s` seconds after the runner starts, heal `duration_s` later."""

    index: int
    at_s: float
    fault: str
    target: str | None
    options: dict[str, Any]
    duration_s: float
    seed: int  # seeds the fault's own choices (e.g. which half a node lands in)

    def as_value(self) -> dict[str, Any]:
        return {"index": self.index, "at_s": self.at_s, "target": self.target, "options": self.options,
                "duration_s": self.duration_s, "seed": self.seed}


Inventory = dict[str, list[str]]  # role -> node names


def inventory_of(topology: Topology) -> Inventory:
    nodes: Inventory = {role: topology.node_names(role) for role in MISTRAL_ROLES}
    nodes.update({"broker": ["broker"], "db": ["db"]})
    return nodes


class Schedule:
    """Deterministic fault decisions from a spec and a seed.

    spec: fault names, FaultSpec / dicts, or "chaos" (every fault kind with random options; `exclude` names
    kinds to leave out). With `cover` (the default) the first decisions run every listed fault once, in a
    seeded order, before any is drawn at random: a short test runs each fault it names. With an inventory
    (role -> nodes), `random` targets become node names here, so the decision list says what happens to which node.
    """

    def __init__(self, spec: list[FaultSpec | str | Mapping[str, Any]] | str, seed: int, interval_s: float = 30.0,
                 duration_s: float = 10.0, start_s: float | None = None, inventory: Inventory | None = None,
                 exclude: tuple[str, ...] = ("netem",), jitter: float = 0.2, cover: bool = True) -> None:
        if duration_s <= 0 or interval_s <= 0:
            raise LabError(f"fault duration and interval must be > 0 s (got {duration_s:g} and {interval_s:g})")
        if duration_s >= interval_s:
            raise LabError(f"fault duration {duration_s:g}s must be shorter than the interval {interval_s:g}s: "
                           "each fault is healed before the next starts")
        if not 0 <= jitter < 1:
            raise LabError(f"jitter must be in [0, 1), got {jitter}")
        items = [FaultSpec.of(i) for i in ([spec] if isinstance(spec, str) else list(spec))]
        if not items:
            raise LabError("empty nemesis spec: name at least one fault or chaos")
        chaos = [i for i in items if i.fault == CHAOS]
        self.chaos = bool(chaos)
        self.specs = [i for i in items if i.fault != CHAOS]
        if chaos and "exclude" in chaos[0].options:  # {"fault": "chaos", "options": {"exclude": [...]}}
            exclude = tuple(chaos[0].options["exclude"])
        for s in self.specs:
            make_fault(s.fault, s.options, s.target)  # LabError on bad input, before any run
        self.seed, self.interval_s, self.duration_s, self.jitter = seed, interval_s, duration_s, jitter
        self.start_s = interval_s / 2 if start_s is None else start_s
        self.inventory = inventory
        unknown = sorted(set(exclude) - set(FAULTS))
        if unknown:
            raise LabError(f"chaos exclude: unknown fault {unknown[0]!r}: choose among {', '.join(sorted(FAULTS))}")
        self.exclude = tuple(exclude)
        self.cover = cover

    def decisions(self, total_s: float | None = None) -> Iterator[Decision]:
        """Decisions in time order; endless without total_s, else those whose fault ends within total_s."""
        rng = random.Random(self.seed)
        first_round = list(range(len(self.specs))) if self.cover else []
        rng.shuffle(first_round)
        index = 0
        while True:
            at = round(self.start_s + index * self.interval_s + rng.uniform(0, self.slack_s), 3)
            if total_s is not None and at + self.duration_s > total_s:
                return
            spec = self.specs[first_round[index]] if index < len(first_round) else self._pick(rng)
            yield Decision(index, at, spec.fault, self._resolve_target(spec, rng), dict(spec.options),
                           self.duration_s, rng.getrandbits(32))
            index += 1

    @property
    def slack_s(self) -> float:
        """The most a slot's fault starts late: jitter stays inside the slot, so it heals before the next."""
        return min(self.jitter * self.interval_s, self.interval_s - self.duration_s)

    def holds(self, total_s: float) -> int:
        """Faults total_s has room for: slots whose fault ends in time when no jitter delays it."""
        room = total_s - self.start_s - self.duration_s
        return 0 if room < 0 else int(room // self.interval_s) + 1

    def no_fit(self, total_s: float) -> str | None:
        """Why some seed plans no fault within total_s (the arithmetic, one line); None when every seed plans one."""
        start = (f"the first slot starts at {self.start_s:g} s"
                 + (f" (interval {self.interval_s:g} s / 2)" if self.start_s == self.interval_s / 2 else ""))
        end, verb = self.start_s + self.duration_s, "would"
        if end <= total_s < end + self.slack_s:  # the seed's jitter decides: refuse, a soak draws other seeds
            start, end, verb = f"{start} plus up to {self.slack_s:g} s of seeded jitter", end + self.slack_s, "could"
        elif end <= total_s:
            return None
        return (f"{start}, a {self.duration_s:g} s fault {verb} end at {end:g} s, after the time limit of "
                f"{total_s:g} s; lower duration_s or interval_s, or raise time_limit_s")

    def _pick(self, rng: random.Random) -> FaultSpec:
        menu_size = len(self.specs) + (1 if self.chaos else 0)
        choice = rng.randrange(menu_size)
        if choice < len(self.specs):
            return self.specs[choice]
        return chaos_pick(rng, self.inventory, self.exclude)

    def _resolve_target(self, spec: FaultSpec, rng: random.Random) -> str | None:
        target = spec.target
        # scale and message-loss take roles: their `random` is resolved when the fault starts.
        if self.inventory is None or target is None or not target.startswith("random") \
                or spec.fault in ("scale", "message-loss"):
            return target
        fault = make_fault(spec.fault, spec.options, target)
        roles = fault.ROLES if target == "random" else (target.split(":", 1)[1],)
        names = [n for role in roles for n in self.inventory.get(role, [])]
        return rng.choice(names) if names else target


class PinnedSchedule:
    """An explicit schedule: exactly these faults, in this order, on these targets, at these offsets.

    Each step is a mapping {at_s, fault, target, options, duration_s, seed} (target, options and seed are
    optional; seed seeds the fault's own choices, as in a drawn Decision). A spec gives one as
    `nemesis: {schedule: [...]}` instead of `faults`; `mistral-lab shrink` writes them from a run's history, so a
    replay applies what ran, not what a seed would draw on a different inventory. Same interface as Schedule.
    """

    def __init__(self, steps: list[Mapping[str, Any]]) -> None:
        self.steps = pinned_steps(steps)

    def decisions(self, total_s: float | None = None) -> Iterator[Decision]:
        for index, step in enumerate(self.steps):
            if total_s is not None and step["at_s"] + step["duration_s"] > total_s:
                return
            yield Decision(index, step["at_s"], step["fault"], step["target"], dict(step["options"]),
                           step["duration_s"], step["seed"])

    def holds(self, total_s: float) -> int:
        return len(self.steps)  # the steps it lists: those ending after total_s are dropped from the plan

    def no_fit(self, total_s: float) -> str | None:
        first = self.steps[0] if self.steps else None
        if first is None or first["at_s"] + first["duration_s"] <= total_s:
            return None
        return (f"step 1 starts at {first['at_s']:g} s, its {first['duration_s']:g} s fault would end at "
                f"{first['at_s'] + first['duration_s']:g} s, after the time limit of {total_s:g} s; "
                "raise time_limit_s or start the step earlier")


@dataclass(frozen=True)
class FaultCount:
    """A schedule within a time limit: how many faults it has room for and how many it plans."""

    holds: int
    plans: int


def fault_count(schedule: Schedule | PinnedSchedule, total_s: float) -> FaultCount:
    """Room vs plan; plans < holds when jitter (or a pinned step that ends too late) drops a fault."""
    return FaultCount(schedule.holds(total_s), sum(1 for _ in schedule.decisions(total_s)))


def require_a_fault(schedule: Schedule | PinnedSchedule, total_s: float) -> None:
    """LabError, one line with the arithmetic, unless the schedule plans a fault within total_s for any seed:
    a run without its faults would pass its fault gate with "0 of 0 applied"."""
    reason = schedule.no_fit(total_s)
    if reason:
        raise LabError(f"nemesis: no fault fits: {reason}")


def chaos_pick(rng: random.Random, inventory: Inventory | None, exclude: tuple[str, ...] = ()) -> FaultSpec:
    """One random fault with random options, for the composite chaos schedule."""
    def count(role: str) -> int:
        return len(inventory.get(role, [])) if inventory else 2

    menu: list[Callable[[], FaultSpec]] = [
        lambda: FaultSpec("partition", "random", {"topology": "isolate"}),
        lambda: _role_partition(rng),
        lambda: FaultSpec("partition", None, {"topology": rng.choice(("halves", "ring", "bridge"))}),
        lambda: FaultSpec("kill", "random"),
        lambda: FaultSpec("pause", "random"),
        lambda: FaultSpec("stop", "random"),
        lambda: _scale(rng, count),
        lambda: FaultSpec("broker", None, {"mode": rng.choice(("stop", "kill", "pause", "isolate"))}),
        lambda: FaultSpec("db", None, {"mode": rng.choice(("stop", "kill", "pause", "isolate"))}),
        lambda: FaultSpec("message-loss", rng.choice(("engine", "executor"))),
        lambda: FaultSpec("packet-loss", "random", {"probability": rng.choice((0.1, 0.3, 0.5))}),
        lambda: FaultSpec("bandwidth", "random", {"rate": rng.choice(("256kbit", "1mbit"))}),
        lambda: FaultSpec("netem", "random", {"delay_ms": rng.choice((50, 200)), "jitter_ms": 20}),
    ]
    kinds = ["partition", "partition", "partition", "kill", "pause", "stop", "scale", "broker", "db",
             "message-loss", "packet-loss", "bandwidth", "netem"]
    allowed = [make for make, kind in zip(menu, kinds) if kind not in exclude]
    if not allowed:
        raise LabError("chaos: every fault kind is excluded")
    spec = rng.choice(allowed)()
    if spec.target == "random" and inventory is not None:
        fault = make_fault(spec.fault, spec.options, spec.target)
        names = [n for role in fault.ROLES for n in inventory.get(role, [])]
        spec = FaultSpec(spec.fault, rng.choice(names), spec.options)
    return spec


def _role_partition(rng: random.Random) -> FaultSpec:
    side, other = rng.choice(ROLE_PAIRS)
    return FaultSpec("partition", side, {"topology": "isolate", "from": other})


def _scale(rng: random.Random, count: Callable[[str], int]) -> FaultSpec:
    role = rng.choice(("api", "engine", "executor"))
    delta = rng.choice((-1, 1)) if count(role) > 1 else 1
    return FaultSpec("scale", role, {"delta": delta, "kill": rng.random() < 0.5})


# ------------------------------------------------------------------ the runner
@dataclass
class ActiveFault:
    decision: Decision
    fault: Fault
    started_at: float
    done: dict[str, Any]


class NemesisRunner(threading.Thread):
    """Applies a schedule to a cluster until it ends or `stop_event` is set; always heals on the way out.

    Every step is recorded with record("nemesis", type, f, value): invoke/ok (or info when it failed) for the
    start and for the heal of each fault, f = the fault's name, and a final f="heal" for the whole-cluster heal.
    """

    def __init__(self, cluster: Cluster, schedule: Schedule, record: Record, stop_event: threading.Event | None = None,
                 total_s: float | None = None, final_heal: bool = True, heal_timeout: float = 300.0,
                 report: Callable[[str], None] = lambda _: None) -> None:
        super().__init__(name="nemesis", daemon=True)
        self.cluster, self.schedule, self.record = cluster, schedule, record
        self.stop_event = stop_event or threading.Event()
        self.total_s, self.final_heal, self.heal_timeout = total_s, final_heal, heal_timeout
        self.report = report
        self._lock = threading.Lock()
        self._active: list[ActiveFault] = []
        self.errors: list[str] = []
        self.injected = 0

    # --- live view ---------------------------------------------------------------------------
    def active_faults(self) -> list[dict[str, Any]]:
        """What is injected right now (for a live display)."""
        with self._lock:
            return [{"fault": a.decision.fault, "description": a.fault.describe(), "since": a.started_at,
                     "done": a.done} for a in self._active]

    def stop(self) -> None:
        self.stop_event.set()

    # --- the loop ----------------------------------------------------------------------------
    def run(self) -> None:
        started = time.monotonic()
        try:
            for decision in self.schedule.decisions(self.total_s):
                if self.stop_event.wait(max(0.0, started + decision.at_s - time.monotonic())):
                    break
                late_s = time.monotonic() - started - decision.at_s
                if late_s > 1.0:
                    # A slow heal delayed it; still inject it, so a replay applies the same faults in the
                    # same order (the run pipeline waits for the nemesis before it settles).
                    self.report(f"nemesis: {decision.fault} starts {late_s:.1f} s late after a slow heal")
                active = self._inject(decision)
                if active is None:
                    continue
                self.stop_event.wait(decision.duration_s)
                self._heal(active)
                if self.stop_event.is_set():
                    break
        except Exception as exc:  # never let the thread die with faults in place
            self.errors.append(f"{exc.__class__.__name__}: {exc}")
        finally:
            self._heal_everything()

    def _inject(self, decision: Decision) -> ActiveFault | None:
        fault = make_fault(decision.fault, decision.options, decision.target)
        self.record("nemesis", "invoke", decision.fault, {"action": "start", **decision.as_value(),
                                                          "description": fault.describe()})
        active = ActiveFault(decision, fault, time.time(), {})
        with self._lock:
            self._active.append(active)  # before start: a partial start must be healed too
        try:
            active.done = fault.start(self.cluster, random.Random(decision.seed))
        except Exception as exc:
            self.record("nemesis", "info", decision.fault, {"action": "start", "error": _one_line(exc)})
            self.report(f"{decision.fault}: start failed: {_one_line(exc)}")
            self._heal(active, quiet=True)
            return None
        self.injected += 1
        self.record("nemesis", "ok", decision.fault, {"action": "start", **active.done})
        self.report(f"{fault.describe()}: {active.done}")
        return active

    def _heal(self, active: ActiveFault, quiet: bool = False) -> None:
        name = active.decision.fault
        if not quiet:
            self.record("nemesis", "invoke", name, {"action": "heal", "index": active.decision.index})
        try:
            healed = active.fault.heal(self.cluster)
            if not quiet:
                self.record("nemesis", "ok", name, {"action": "heal", **healed})
        except Exception as exc:
            self.errors.append(f"heal {name}: {_one_line(exc)}")
            if not quiet:
                self.record("nemesis", "info", name, {"action": "heal", "error": _one_line(exc)})
        finally:
            with self._lock:
                if active in self._active:
                    self._active.remove(active)

    def _heal_everything(self) -> None:
        from nemesis.heal import heal_cluster

        for active in reversed(list(self._active)):
            self._heal(active)
        if not self.final_heal:
            return
        self.record("nemesis", "invoke", "heal", {"action": "heal-cluster"})
        try:
            repaired = heal_cluster(self.cluster, timeout=self.heal_timeout)
            self.record("nemesis", "ok", "heal", {"action": "heal-cluster", "repaired": repaired})
        except Exception as exc:
            self.errors.append(f"heal cluster: {_one_line(exc)}")
            self.record("nemesis", "info", "heal", {"action": "heal-cluster", "error": _one_line(exc)})


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0][:300] if text else ''}"


@contextlib.contextmanager
def nemesis_running(cluster: Cluster, schedule: Schedule, record: Record, total_s: float | None = None,
                    **kwargs: Any) -> Iterator[NemesisRunner]:
    """Run a schedule in the background for the duration of a with-block; on leaving it (normally, on an
    exception or on Ctrl-C) stop the runner and wait until it has healed the cluster."""
    from nemesis.heal import shielded

    runner = NemesisRunner(cluster, schedule, record, total_s=total_s, **kwargs)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()
        with shielded():
            runner.join()
