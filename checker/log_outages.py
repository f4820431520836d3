"""Outage episodes of one node towards the broker or the DB, from its failure and reconnect lines.

    Outages.fail / .recover / .finish, then outage_json(outages, kind, start_wall) -> the "reconnects" entry of
    checker.logs: "count", "first"/"last" (seconds since start_wall), "first_time"/"last_time" (epoch),
    "outage_s" (failure to its "Reconnected" line; None for the DB, oslo.db logs no reconnect),
    "failure_span_s" (first-to-last line of each episode, a lower bound), "episodes", "recovered",
    "reconnected_lines".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_EPISODES = 20
STORM_GAP_S = 30.0           # DB failures further apart than this are separate outages (no recovery line)


@dataclass
class Outages:
    """One node's failure and reconnect lines towards one service, grouped into outage episodes.

    An episode opens at the first failure and closes when every connection that failed in it has logged its
    reconnect (impl_rabbit pairs them by connection id). The DB has no reconnect line, so its episodes end at
    their last failure: a quiet gap of STORM_GAP_S ends one. So does a restart of the node (`finish`), whose
    old connections never log their reconnect.
    """

    count: int = 0
    reconnected_lines: int = 0
    first: float | None = None
    last: float | None = None
    down: set[str | None] = field(default_factory=set)   # connection ids still down in the open episode
    open_at: float | None = None
    is_open: bool = False
    last_event: float | None = None
    episodes: list[tuple[float | None, float | None, bool]] = field(default_factory=list)

    def fail(self, time: float | None, cid: str | None) -> None:
        self.count += 1
        self.first = time if self.first is None else self.first
        self.last = time if time is not None else self.last
        if self.is_open and self.down <= {None} and _gap(self.last_event, time) > STORM_GAP_S:
            self._close(self.last_event, recovered=False)  # a quiet gap: that outage ended unseen
        if not self.is_open:
            self.is_open, self.open_at = True, time
        self.down.add(cid)
        self.last_event = time if time is not None else self.last_event

    def recover(self, time: float | None, cid: str | None) -> None:
        self.reconnected_lines += 1
        if not self.is_open:
            return  # a first connect, or a reconnect of a connection never seen failing
        self.down.discard(cid)
        self.down.discard(None)  # failures without an id ("Connection failed: ...") end with any reconnect
        self.last_event = time if time is not None else self.last_event
        if not self.down:
            self._close(time, recovered=True)

    def finish(self) -> None:
        if self.is_open:
            self._close(self.last_event, recovered=False)

    def _close(self, end: float | None, recovered: bool) -> None:
        self.episodes.append((self.open_at, end, recovered))
        self.is_open, self.open_at, self.down = False, None, set()


def _gap(earlier: float | None, later: float | None) -> float:
    return later - earlier if earlier is not None and later is not None else 0.0


def rel(time: float | None, start_wall: float | None) -> float | None:
    return None if time is None or start_wall is None else round(time - start_wall, 3)


def outage_json(outages: Outages | None, kind: str, start_wall: float | None) -> dict[str, Any]:
    outages = outages or Outages()
    outages.finish()
    pairs = kind == "broker"  # oslo.db logs no reconnect: a DB episode's recovery is never seen
    paired = [end - start for start, end, ok in outages.episodes if ok and start is not None and end is not None]
    spans = [end - start for start, end, _ok in outages.episodes if start is not None and end is not None]
    return {
        "count": outages.count,
        "first": rel(outages.first, start_wall),
        "last": rel(outages.last, start_wall),
        "first_time": outages.first,
        "last_time": outages.last,
        # first failure to its matching "Reconnected" line, summed over the episodes that have one
        "outage_s": round(sum(paired), 3) if paired else None,
        # first to last line of each episode: a lower bound, and all there is for the DB
        "failure_span_s": round(sum(spans), 3) if spans else None,
        "episodes": [{"start": rel(start, start_wall), "end": rel(end, start_wall),
                      "recovered": ok if pairs else None} for start, end, ok in outages.episodes[:MAX_EPISODES]],
        "recovered": all(ok for _s, _e, ok in outages.episodes) if pairs and outages.episodes else None,
        "reconnected_lines": outages.reconnected_lines,
    }


__all__ = ["Outages", "outage_json", "rel"]
