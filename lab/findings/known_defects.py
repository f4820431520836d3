"""Known versus new: whether a run's defect anomaly is a catalogued finding, decided from the anomaly alone.

    Signature(cls, kind, fault, role, summary).matches(anomaly) -> bool
    Signature.decide(anomaly) -> Decision(matched, reason)
    match_anomalies(anomalies, catalogue) -> {"known_findings", "new_defects", "catalogue_decisions"}
    verdict_after_catalogue(results, new_defects) -> the verdict once known defects are set aside
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from checker.promise import role_of
from history.anomaly import Anomaly, FaultTouch

LABEL_RE = re.compile(r"^#\S*\s+(?P<fault>\S+)(?:\s+(?P<targets>\S.*))?$")  # "#1 scale executor-2"


@dataclass(frozen=True)
class Signature:
    """What identifies a finding among a run's anomalies; every given part must match."""

    cls: str
    kind: str | None = None
    fault: str | None = None
    role: str | None = None
    summary: str | None = None

    def matches(self, anomaly: dict[str, Any]) -> bool:
        return self.decide(anomaly)[0]

    def decide(self, anomaly: dict[str, Any]) -> tuple[bool, str]:
        """(matched, why). Class and kind must be equal (a signature without a kind matches nothing: it could
        excuse any defect of its class); the summary regex must match; and the named fault must have acted on
        the anomaly itself: on one of its own nodes, or on a node of a role whose node the anomaly cannot name
        (a message every node of the role consumes), of the named role when one is given."""
        if anomaly.get("class") != self.cls:
            return False, f"class {anomaly.get('class')} is not {self.cls}"
        if self.kind is None or anomaly.get("kind") != self.kind:
            return False, (f"kind {anomaly.get('kind')} is not {self.kind}" if self.kind else
                           "the finding names no kind, so it cannot tell this defect from another of its class")
        if self.summary is not None and not re.search(self.summary, str(anomaly.get("summary") or "")):
            return False, f"the summary does not match {self.summary!r}"
        if self.fault is None:
            return True, f"{self.cls}/{self.kind}" + (f" and the summary matches {self.summary!r}"
                                                      if self.summary else "")
        return self._fault_acted(anomaly)

    def _fault_acted(self, anomaly: dict[str, Any]) -> tuple[bool, str]:
        record = Anomaly.of(anomaly)
        named = [f for f in record.faults if _fault_name(f) == self.fault]
        if not named:
            return False, f"no {self.fault} fault touched it"
        if any(f.acted_on is None for f in named):
            return False, ("judged before the lab recorded what each fault acted on: re-judge the run "
                           "(mistral-lab check RUN_DIR) to match it against the catalogue")
        for touch in named:
            hits = [h for h in touch.acted_on or [] if self._role_fits(h)]
            if hits:
                return True, f"{touch.label} acted on {', '.join(hits)} of the anomaly"
        where = "; ".join(f"{f.label} acted on {', '.join(f.acted_on or []) or 'none of its nodes'}" for f in named)
        whose = ", ".join(record.nodes) or "no named node"
        needs = f" (the finding needs an {self.role})" if self.role else ""
        return False, f"{where}; the anomaly is about {whose}{needs}"

    def _role_fits(self, hit: str) -> bool:
        if hit == "the cluster" or hit.startswith("overlapped"):
            return False  # a broker, database or network fault is not this finding's fault on this node
        role = hit[len("any "):] if hit.startswith("any ") else role_of(hit)
        return self.role is None or role == self.role

    def to_json(self) -> dict[str, Any]:
        data = {"class": self.cls, "kind": self.kind, "fault": self.fault, "role": self.role,
                "summary": self.summary}
        return {k: v for k, v in data.items() if v is not None}



def _fault_name(touch: FaultTouch) -> str | None:
    if touch.fault:
        return touch.fault
    parsed = parse_label(touch.label)
    return parsed[0] if parsed else None


def parse_label(label: str) -> tuple[str, set[str]] | None:
    """("scale", {"executor"}) from a fault label "#1 scale executor-2"; targets may be nodes, roles or
    random:<role>."""
    match = LABEL_RE.match(label.strip())
    if not match:
        return None
    targets = [t.strip() for t in (match["targets"] or "").split(",") if t.strip()]
    return match["fault"], {role_of(t.split(":", 1)[-1]) for t in targets}



def match_anomalies(anomalies: list[dict[str, Any]], catalogue: list[Any]) -> dict[str, list[dict]]:
    """Each defect anomaly (by its index in `anomalies`) to the findings whose signature it matches, and every
    known-versus-new decision with its reason (for each finding of the anomaly's class: matched or why not)."""
    known: dict[str, dict[str, Any]] = {}
    new: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    for index, anomaly in enumerate(anomalies):
        if not anomaly.get("defect"):
            continue
        judged = [(f, *f.signature.decide(anomaly)) for f in catalogue]
        hits = [f for f, matched, _ in judged if matched]
        for finding in hits:
            known.setdefault(finding.id, {"id": finding.id, "title": finding.title, "anomalies": []})
            known[finding.id]["anomalies"].append(index)
        decisions.append({"index": index, "class": anomaly.get("class"), "kind": anomaly.get("kind"),
                          "nodes": anomaly.get("nodes") or [], "known": [f.id for f in hits],
                          "reasons": {f.id: why for f, _, why in judged if f.signature.cls == anomaly.get("class")}})
        if not hits:
            new.append({"index": index, "class": anomaly.get("class"), "kind": anomaly.get("kind"),
                        "summary": anomaly.get("summary")})
    return {"known_findings": list(known.values()), "new_defects": new, "catalogue_decisions": decisions}


def verdict_after_catalogue(results: dict[str, Any], new_defects: list[dict]) -> Any:
    """The verdict once known defects are set aside: the raw verdict when it is not INVALID or a new defect
    stands; else what the run would say without its (all known) defects."""
    valid = results.get("valid")
    defects = [a for a in results.get("anomalies") or [] if a.get("defect")]
    if valid is not False or new_defects or not defects:
        return valid  # nothing known to set aside (an INVALID without a named defect stays INVALID)
    decided = [r.get("valid") for group in ("checkers", "gates") for r in (results.get(group) or {}).values()]
    if results.get("interrupted") or results.get("classifier_error") or any(v not in (True, False) for v in decided):
        return "unknown"
    return True


__all__ = ["Signature", "match_anomalies", "parse_label", "verdict_after_catalogue"]
