"""The cells of the protocol map: method x side x action from the `rpc` fault's own lists, and the selection
the command line asks for (--methods, --sides, --actions, --quick). Bad input is one LabError line."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from cluster.errors import LabError
from nemesis.rpc import ACTIONS, METHODS, SIDES

# --quick: the action path's messages lost or followed by a crash (issue 25's quick map).
QUICK_METHODS = ("run_action", "on_action_complete", "start_task", "start_workflow")
QUICK_ACTIONS = ("drop", "crash-after")
# Sides no lab process plays: the event engine receives the event-trigger methods and the lab runs none, so a
# rule there could only ever match nothing.
NO_SIDE = {(method, "receive"): "received by Mistral's event engine, which the lab does not run"
           for method in ("create_event_trigger", "delete_event_trigger", "update_event_trigger")}


@dataclass(frozen=True)
class Cell:
    method: str
    side: str
    action: str

    @property
    def key(self) -> str:
        return f"{self.method}/{self.side}/{self.action}"

    @classmethod
    def of(cls, key: str) -> "Cell":
        method, side, action = key.split("/")
        return cls(method, side, action)


def has_side(method: str, side: str) -> bool:
    return (method, side) not in NO_SIDE


def all_cells() -> list[Cell]:
    """Every cell the lab can set up, method-major in nemesis.rpc's order (cells of one topology stay together,
    so a warm lab serves them one after another)."""
    return [Cell(m, s, a) for m in METHODS for s in SIDES for a in ACTIONS if has_side(m, s)]


def parse_names(text: str | Iterable[str] | None, known: tuple[str, ...], what: str) -> list[str] | None:
    """'a,b' (or repeated options) -> ['a', 'b'] checked against `known`; None when nothing was given."""
    if text is None:
        return None
    items = [text] if isinstance(text, str) else list(text)
    names = [n.strip() for item in items for n in item.split(",") if n.strip()]
    if not names:
        raise LabError(f"--{what}s: give at least one {what} ({', '.join(known)})")
    for name in names:
        if name not in known:
            raise LabError(f"unknown {what} {name!r}: choose among {', '.join(known)}")
    return list(dict.fromkeys(names))


def select_cells(methods: str | Iterable[str] | None = None, sides: str | Iterable[str] | None = None,
                 actions: str | Iterable[str] | None = None, quick: bool = False) -> list[Cell]:
    """The cells asked for. --quick presets the methods and actions; an explicit --methods or --actions replaces
    its half of the preset. Naming a method and a side it does not have (both given explicitly) is an error."""
    chosen_methods = parse_names(methods, METHODS, "method")
    chosen_sides = parse_names(sides, SIDES, "side")
    chosen_actions = parse_names(actions, ACTIONS, "action")
    if chosen_methods is not None and chosen_sides is not None:
        for method in chosen_methods:
            missing = [s for s in chosen_sides if not has_side(method, s)]
            if missing:
                raise LabError(f"method {method} has no {missing[0]} side in the lab: "
                               f"{NO_SIDE[(method, missing[0])]}")
    wanted_methods = chosen_methods or list(QUICK_METHODS if quick else METHODS)
    wanted_sides = chosen_sides or list(SIDES)
    wanted_actions = chosen_actions or list(QUICK_ACTIONS if quick else ACTIONS)
    cells = [c for c in all_cells() if c.method in wanted_methods and c.side in wanted_sides
             and c.action in wanted_actions]
    if not cells:
        raise LabError("the selection leaves no cell to run: every chosen method lacks the chosen sides")
    return cells


__all__ = ["Cell", "NO_SIDE", "QUICK_ACTIONS", "QUICK_METHODS", "all_cells", "has_side", "parse_names",
           "select_cells"]
