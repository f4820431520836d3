"""Fault windows: the one reader of the nemesis events, by schedule index. The promise, the faults gate, the
report, shrink and the catalogue all take a run's faults from here, so they cannot disagree on when one ended.

    read_faults(events, start_wall, snapshot_wall) -> [FaultWindow]   every scheduled fault, applied or not

A fault's window opens when its start is invoked (if the start answered ok) and ends:
  1. at its own successful heal;
  2. failing that (its heal failed or never answered), at the next successful heal of one of its nodes: a later
     fault's heal on the same node, or the whole-cluster heal;
  3. failing that, at the final snapshot; a run without a snapshot leaves it open (it overlaps everything after).
A failed heal is kept on the window (`heal_error`): the faults gate turns it into UNKNOWN, since the fault may
have lasted longer than anyone planned.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from history.events import INVOKE, NEMESIS, OK, Event

# Keys of a fault's start result that list the nodes it acted on; an empty list means it touched nothing.
TOUCHED_KEYS = ("killed", "paused", "stopped", "nodes")
INFRA = ("db", "broker")
# Faults whose effect is known only at heal, and the heal-result key that lists it. A start result may name its
# own key (`effect_at_heal`); rpc has always answered with its matched messages at heal.
EFFECT_AT_HEAL = "effect_at_heal"
EFFECT_AT_HEAL_BY_FAULT = {"rpc": "matches"}
# Faults that act on the whole cluster's communication rather than on a node's process; a partition or a netem
# fault does so only when it acts on the broker or the database alone (no Mistral node among what it cut).
CLUSTER_WIDE = ("broker", "db", "message-loss")
NETWORK = ("partition", "netem")


def role_of(node: str) -> str:
    return node.rsplit("-", 1)[0] if node.rsplit("-", 1)[-1].isdigit() else node


@dataclass
class FaultWindow:
    """One scheduled fault: what was planned, whether it applied, when it was on (epoch seconds), what it touched,
    and (filled in by checker.promise) whether it kept each promise level."""

    index: int | None
    fault: str
    target: str | None
    options: dict[str, Any]
    start: float
    end: float | None
    nodes: list[str]
    done: dict[str, Any] = field(default_factory=dict)  # what the fault's start reported
    fault_s: float = 0.0
    outage_s: float = 0.0
    inside: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    matches: list[dict[str, Any]] | None = None  # rpc: the matched messages its heal returned (None: unknown)
    started: bool | None = True       # start answered ok (True), failed (False), never answered (None)
    start_error: str | None = None
    healed: bool | None = None        # its own heal answered ok (True), failed (False), never ran (None)
    heal_error: str | None = None
    heal_result: dict[str, Any] = field(default_factory=dict)
    end_rule: str = "open"            # how the end was decided (see the module doc)
    description: str | None = None
    start_s: float = 0.0              # the same times, in seconds since the history began
    end_s: float | None = None
    plan: dict[str, Any] = field(default_factory=dict)  # the start's invoke: at_s, duration_s, seed, ...

    @property
    def kind(self) -> str:
        """The fault as the promise judges it (a node-level fault as its per-node equivalent)."""
        return {"host-partition": "partition", "host-drain": "stop", "host-engine-stop": "stop"}.get(
            self.fault, self.fault)

    @property
    def label(self) -> str:
        return f"#{self.index} {self.fault} {','.join(self.nodes) or self.target or ''}".strip()

    @property
    def applied(self) -> bool:
        return self.started is True

    @property
    def cluster_wide(self) -> bool:
        if self.kind in NETWORK:
            return not any(role_of(n) not in INFRA for n in self.nodes)
        return self.kind in CLUSTER_WIDE

    def overlaps(self, start: float, end: float) -> bool:
        return self.started is True and self.start <= end and (self.end is None or self.end >= start)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["label"] = self.label
        matches = data.pop("matches")
        if matches is not None:  # the messages themselves are in the history and the rpc checker's result
            data["matched"] = len(matches)
        return data


def touched_nodes(done: dict[str, Any], target: str | None) -> list[str]:
    """The nodes a fault acted on, from what its start reported (falling back to its target)."""
    nodes: list[str] = []
    for key in TOUCHED_KEYS:
        if isinstance(done.get(key), list):
            nodes += [str(n) for n in done[key]]
    if isinstance(done.get("cut"), dict):
        nodes += [str(n) for n in done["cut"]]
    if isinstance(done.get("node"), str):
        nodes.append(done["node"])
    if not nodes and target and not target.startswith("random"):  # a role name is not a node: skip it
        nodes = [t for t in (t.strip() for t in str(target).split(",")) if role_of(t) != t or t in INFRA]
    return sorted(set(nodes))


class _Reader:
    """Walks the nemesis events once; the nemesis runs one fault's start and heal at a time, so an answer
    belongs to the last invoke of the same action and fault name."""

    def __init__(self, start_wall: float) -> None:
        self.start_wall = start_wall
        self.windows: list[FaultWindow] = []
        self.starting: dict[str, FaultWindow] = {}
        self.open: dict[int, FaultWindow] = {}   # id(window) -> window: applied, not yet ended
        self.healing: dict[str, FaultWindow] = {}
        self.cluster_heal_error: str | None = None

    def wall(self, event: Event) -> float:
        return self.start_wall + event.time / 1e9

    last_s: float = 0.0  # the last nemesis event seen, in seconds since the history began

    def on_event(self, event: Event) -> None:
        value = event.value if isinstance(event.value, dict) else {}
        action = value.get("action")
        self.last_s = max(self.last_s, event.time / 1e9)
        if action == "start":
            self._start(event, value)
        elif action == "heal":
            self._heal(event, value)
        elif action == "heal-cluster" and event.type != INVOKE:
            if event.type == OK:
                self._close(list(self.open.values()), event, "whole-cluster heal")
            else:
                self.cluster_heal_error = str(value.get("error") or "no reason recorded")

    def _start(self, event: Event, value: dict[str, Any]) -> None:
        if event.type == INVOKE:
            window = FaultWindow(value.get("index"), event.f, value.get("target"), dict(value.get("options") or {}),
                                 self.wall(event), None, [], started=None, description=value.get("description"),
                                 start_s=event.time / 1e9, plan={k: v for k, v in value.items() if k != "action"})
            self.windows.append(window)
            self.starting[event.f] = window
            return
        window = self.starting.pop(event.f, None)
        if window is None:
            return
        done = {k: v for k, v in value.items() if k != "action"}
        if event.type == OK:
            window.started, window.done = True, done
            window.nodes = touched_nodes(done, window.target)
            self.open[id(window)] = window
        else:
            window.started, window.start_error = False, str(value.get("error") or "no reason recorded")

    def _heal(self, event: Event, value: dict[str, Any]) -> None:
        if event.type == INVOKE:
            window = next((w for w in reversed(self.windows) if w.fault == event.f and w.index == value.get("index")
                           and w.started), None)
            if window is not None:
                self.healing[event.f] = window
            return
        window = self.healing.pop(event.f, None)
        if window is None:
            return
        if event.type != OK:
            window.healed, window.heal_error = False, str(value.get("error") or "no reason recorded")
            return
        window.healed = True
        window.heal_result = {k: v for k, v in value.items() if k != "action"}
        if isinstance(value.get("matches"), list):
            window.matches = [m for m in value["matches"] if isinstance(m, dict)]
        if id(window) in self.open:
            self._close([window], event, "healed")
        # A successful heal of a node also ends an earlier fault on that node whose own heal failed.
        self._close([w for w in self.open.values() if w.healed is False and set(w.nodes) & set(window.nodes)],
                    event, f"healed with #{window.index} {window.fault}")

    def _close(self, windows: Iterable[FaultWindow], event: Event, rule: str) -> None:
        for window in list(windows):
            window.end, window.end_s, window.end_rule = self.wall(event), event.time / 1e9, rule
            self.open.pop(id(window), None)

    def finish(self, snapshot_wall: float | None, history_end_s: float | None) -> list[FaultWindow]:
        for window in self.starting.values():
            window.start_error = "started but never answered (the run was cut short)"
        for window in self.open.values():
            if snapshot_wall is not None:
                window.end, window.end_s = snapshot_wall, snapshot_wall - self.start_wall
                window.end_rule = "never healed: until the final snapshot"
            else:  # no snapshot: at least until the history ends (and after it, for all the lab knows)
                end_s = max(history_end_s or 0.0, self.last_s)
                window.end, window.end_s = self.start_wall + end_s, end_s
                window.end_rule = "never healed: until the end of the history (no snapshot)"
        for window in self.windows:
            if window.end is not None:
                window.fault_s = round(window.end - window.start, 2)
        return self.windows


def read_faults(events: Iterable[Event], start_wall: float = 0.0, snapshot_wall: float | None = None
                ) -> list[FaultWindow]:
    """Every fault the nemesis started (applied or not), in schedule order, with its window."""
    reader = _Reader(start_wall)
    history_end_s = 0.0
    for event in events:
        history_end_s = max(history_end_s, event.time / 1e9)
        if event.process == NEMESIS:
            reader.on_event(event)
    return reader.finish(snapshot_wall, history_end_s)


def fault_windows(events: Iterable[Event], start_wall: float = 0.0, snapshot_wall: float | None = None
                  ) -> list[FaultWindow]:
    """The applied faults only: the windows the promise and the anomalies are placed against."""
    return [w for w in read_faults(events, start_wall, snapshot_wall) if w.applied]


def effect_key(window: FaultWindow) -> str | None:
    """The heal-result key that says what a fault touched, for a fault whose effect is known only at heal."""
    named = window.done.get(EFFECT_AT_HEAL)
    return str(named) if named else EFFECT_AT_HEAL_BY_FAULT.get(window.fault)


__all__ = ["CLUSTER_WIDE", "EFFECT_AT_HEAL", "FaultWindow", "TOUCHED_KEYS", "effect_key", "fault_windows",
           "read_faults", "role_of", "touched_nodes"]
