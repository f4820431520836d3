"""The Anomaly record: one named finding of a checker in a run, placed against both promise levels.

Made by checker.anomalies, stored in results.json as a JSON object (key "class" for `cls`), rendered by the
report and matched by the catalogue through `Anomaly.of(stored)`, which also reads results.json files written
before a field existed (a missing field takes its empty value).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class FaultTouch:
    """A fault window that touched the anomaly, and what of the anomaly it acted on."""

    label: str
    fault: str | None = None
    index: int | None = None
    nodes: list[str] = field(default_factory=list)
    acted_on: list[str] | None = None   # None: judged before the lab recorded it
    inside: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, data: dict[str, Any]) -> "FaultTouch":
        known = {f.name for f in fields(cls)}
        # acted_on keeps its None: a run judged before it was recorded matches no finding until re-judged.
        return cls(**{k: v for k, v in data.items() if k in known and (v is not None or k == "acted_on")})


@dataclass
class Anomaly:
    cls: str
    kind: str
    defect: bool
    inside: dict[str, bool]
    checker: str
    summary: str
    execution_id: str | None = None
    task_execution_id: str | None = None
    action_execution_ids: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)          # the nodes the evidence names
    unnamed_roles: list[str] = field(default_factory=list)  # roles whose node it is about but cannot name
    faults: list[FaultTouch] = field(default_factory=list)
    evidence: list[Any] = field(default_factory=list)
    rpc_messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ha_gap(self) -> bool:
        return not self.defect and self.inside.get("spec") is not False and self.inside.get("designed") is False

    @classmethod
    def of(cls, data: dict[str, Any]) -> "Anomaly":
        known = {f.name for f in fields(cls)} - {"cls", "faults"}
        values = {k: v for k, v in data.items() if k in known and v is not None}
        return cls(cls=str(data.get("class")), kind=str(data.get("kind")), defect=bool(data.get("defect")),
                   inside=dict(data.get("inside") or {}), checker=str(data.get("checker") or ""),
                   summary=str(data.get("summary") or ""),
                   faults=[FaultTouch.of(f) for f in data.get("faults") or [] if isinstance(f, dict)],
                   **{k: v for k, v in values.items() if k not in ("defect", "inside", "checker", "summary", "kind")})

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"class": self.cls, "kind": self.kind, "defect": self.defect, "inside": self.inside,
                                "checker": self.checker, "execution_id": self.execution_id,
                                "task_execution_id": self.task_execution_id,
                                "action_execution_ids": self.action_execution_ids, "nodes": self.nodes,
                                "unnamed_roles": self.unnamed_roles,
                                "faults": [vars(f).copy() for f in self.faults], "summary": self.summary,
                                "evidence": self.evidence}
        if self.rpc_messages:
            data["rpc_messages"] = self.rpc_messages
        return data


__all__ = ["Anomaly", "FaultTouch"]
