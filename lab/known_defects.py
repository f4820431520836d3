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
        if anomaly.get("class") != self.cls or (self.kind is not None and anomaly.get("kind") != self.kind):
            return False
        if self.summary is not None and not re.search(self.summary, str(anomaly.get("summary") or "")):
            return False
        faults = [parsed for parsed in (parse_label(f.get("label", "")) for f in anomaly.get("faults") or [])
                  if parsed is not None]
        if self.fault is not None:
            faults = [f for f in faults if f[0] == self.fault]
            if not faults:
                return False
        if self.role is None:
            return True
        # The role shows in the anomaly's nodes, or among the nodes of a (matching) fault that touched it.
        roles = {role_of(str(n)) for n in anomaly.get("nodes") or []} | {r for _, rs in faults for r in rs}
        return self.role in roles

    def to_json(self) -> dict[str, Any]:
        data = {"class": self.cls, "kind": self.kind, "fault": self.fault, "role": self.role,
                "summary": self.summary}
        return {k: v for k, v in data.items() if v is not None}



def parse_label(label: str) -> tuple[str, set[str]] | None:
    """("scale", {"executor"}) from a fault label "#1 scale executor-2"; targets may be nodes, roles or
    random:<role>."""
    match = LABEL_RE.match(label.strip())
    if not match:
        return None
    targets = [t.strip() for t in (match["targets"] or "").split(",") if t.strip()]
    return match["fault"], {role_of(t.split(":", 1)[-1]) for t in targets}



def match_anomalies(anomalies: list[dict[str, Any]], catalogue: list[Finding]) -> dict[str, list[dict]]:
    """Each defect anomaly (by its index in `anomalies`) to the findings whose signature it matches."""
    known: dict[str, dict[str, Any]] = {}
    new: list[dict[str, Any]] = []
    for index, anomaly in enumerate(anomalies):
        if not anomaly.get("defect"):
            continue
        hits = [f for f in catalogue if f.signature.matches(anomaly)]
        for finding in hits:
            known.setdefault(finding.id, {"id": finding.id, "title": finding.title, "anomalies": []})
            known[finding.id]["anomalies"].append(index)
        if not hits:
            new.append({"index": index, "class": anomaly.get("class"), "kind": anomaly.get("kind"),
                        "summary": anomaly.get("summary")})
    return {"known_findings": list(known.values()), "new_defects": new}


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
