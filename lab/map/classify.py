"""A map cell's class from its run's results.json alone, never by hand; the rules and why they are these:
docs/protocol-map.md#classes.

    classify(results, interrupted=False, lab_error=None) -> {"class", "reason", "anomalies", "reported",
                                                             "consequences", "findings", "new", "matched"}
    combine(tries) -> the cell's entry from its attempts' entries
"""
from __future__ import annotations

from typing import Any

from history.anomaly import Anomaly
from history.verdict import label

NOT_EXERCISED, NO_EFFECT, DESIGNED, HA_GAP, DEFECT = (
    "not exercised", "no effect", "designed degradation", "HA gap", "defect")
INCONCLUSIVE, CANNOT = "inconclusive", "cannot exercise"
# Knowledge: what a conclusive run says, mildest first; a cell with several tries shows its most severe.
SEVERITY = (NO_EFFECT, DESIGNED, HA_GAP, DEFECT)
CLASSES = (*SEVERITY, NOT_EXERCISED, INCONCLUSIVE, CANNOT)
UNANSWERED = (NOT_EXERCISED, INCONCLUSIVE)  # the map does not know these cells yet


def classify(results: dict[str, Any], interrupted: bool = False, lab_error: str | None = None) -> dict[str, Any]:
    """The class of one run, with its evidence (see the module docstring for the fields)."""
    entry = evidence(results)
    cls, reason = _class_of(results, entry, interrupted, lab_error)
    return {"class": cls, "reason": reason, **entry}


def _class_of(results: dict[str, Any], entry: dict[str, Any], interrupted: bool,
              lab_error: str | None) -> tuple[str, str]:
    if interrupted or results.get("interrupted"):
        phase = results.get("interrupted_phase")
        return INCONCLUSIVE, "interrupted" + (f" in phase {phase}" if phase else "")
    if lab_error or results.get("lab_error"):
        return INCONCLUSIVE, f"lab failure: {lab_error or results.get('lab_error')}"
    if not results:
        return INCONCLUSIVE, "no results.json: the run was never judged"
    exercised = _exercised(results)
    if exercised is not None:
        return exercised
    judged = [a for a in _anomalies(results) if not _reported_only(a)]
    defects = [a for a in judged if a.get("defect")]
    valid = results.get("valid")
    if defects:
        return DEFECT, _named(defects, "defect")
    if valid is not True:
        return INCONCLUSIVE, (f"verdict {label(valid)} without a defect anomaly: "
                              f"{_first_reason(results) or 'no reason recorded'}")
    gaps = [a for a in judged if Anomaly.of(a).ha_gap]
    if gaps:
        return HA_GAP, _named(gaps, "outside the designed promise, inside the spec's")
    if judged:
        return DESIGNED, _named(judged, "expected degradation: every fault touching it was beyond both promise "
                                        "levels")
    return NO_EFFECT, f"VALID and no anomaly after {entry['matched']} matched message(s)"


def _exercised(results: dict[str, Any]) -> tuple[str, str] | None:
    """None when the cell's rpc rule applied (matched a message and healed); else the class that says why not.
    A rule that touched nothing makes the cell unknown, never "no effect"."""
    gate = (results.get("gates") or {}).get("faults")
    if not isinstance(gate, dict):
        return INCONCLUSIVE, "no faults gate in results.json: the checkers did not run"
    rows = [r for r in gate.get("faults") or [] if isinstance(r, dict) and r.get("fault") == "rpc"]
    if not rows:
        return NOT_EXERCISED, f"no rpc fault ran: {gate.get('reason') or 'none planned or started'}"
    missed = [r for r in rows if not r.get("applied")]
    if missed:
        why = missed[0].get("reason") or "no reason recorded"
        if _unanswered(results, missed[0].get("index")):
            return INCONCLUSIVE, f"whether the rpc rule matched a message is unknown: {why}"
        return NOT_EXERCISED, f"the rpc rule did not apply: {why}"
    if gate.get("valid") is not True:
        return INCONCLUSIVE, f"faults gate {label(gate.get('valid'))}: {gate.get('reason') or 'no reason'}"
    return None


def _unanswered(results: dict[str, Any], index: Any) -> bool:
    """The fault's window (results' promise) started, or may have, but its heal never answered or failed: the
    matches it would have returned are unknown, so the rule may well have matched."""
    windows = ((results.get("promise") or {}).get("windows")) or []
    window = next((w for w in windows if isinstance(w, dict) and w.get("index") == index), None)
    if window is None:
        return False
    return window.get("started") is None or (window.get("started") is True and window.get("healed") is not True)


def _reported_only(anomaly: dict[str, Any]) -> bool:
    """Log findings the log checker reports but does not judge (tracebacks, missed heartbeats, a retried
    deadlock; docs/verdicts.md#the-log-checker): noise of any fault, not a consequence of the message."""
    return anomaly.get("class") == "log" and not anomaly.get("defect")


def _anomalies(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in results.get("anomalies") or [] if isinstance(a, dict)]


def _named(anomalies: list[dict[str, Any]], why: str) -> str:
    follows = sum(1 for a in anomalies if a.get("rpc_messages"))
    names = ", ".join(dict.fromkeys(_name(a) for a in anomalies))
    return f"{len(anomalies)} anomal{'y' if len(anomalies) == 1 else 'ies'} ({names}), {why}; " \
           f"{follows} cite the matched message"


def _name(anomaly: dict[str, Any]) -> str:
    return f"{anomaly.get('class')}/{anomaly.get('kind')}"


def _first_reason(results: dict[str, Any]) -> str | None:
    lines = [r for r in results.get("reasons") or [] if isinstance(r, str) and not r.startswith("EXPECTED")]
    return lines[0] if lines else results.get("note")


def evidence(results: dict[str, Any]) -> dict[str, Any]:
    """What the map shows beside the class: the anomalies (class/kind, and whether each cites the matched
    message), the log findings only reported, the rpc checker's consequences, the catalogued findings matched
    and whether a defect is NEW."""
    anomalies = _anomalies(results)
    rpc = (results.get("checkers") or {}).get("rpc") or {}
    messages = [m for m in rpc.get("messages") or [] if isinstance(m, dict)]
    return {
        "anomalies": [{"name": _name(a), "defect": bool(a.get("defect")), "inside": a.get("inside") or {},
                       "follows_message": bool(a.get("rpc_messages")), "summary": str(a.get("summary") or "")[:300]}
                      for a in anomalies if not _reported_only(a)],
        "reported": sorted({_name(a) for a in anomalies if _reported_only(a)}),
        "consequences": [str(m.get("consequence")) for m in messages if m.get("consequence")],
        "matched": int(rpc.get("matched") or len(messages)),
        "findings": [str(k.get("id")) for k in results.get("known_findings") or [] if isinstance(k, dict)],
        "new": bool(results.get("new_defects")),
        "valid": results.get("valid"),
    }


def combine(tries: list[dict[str, Any]]) -> dict[str, Any]:
    """A cell from its attempts: the most severe class among the conclusive ones (the others are counted);
    with none conclusive, not exercised if any attempt was, else inconclusive. The shown try is the one that
    gave the class."""
    conclusive = [t for t in tries if t["class"] in SEVERITY]
    if conclusive:
        shown = max(conclusive, key=lambda t: SEVERITY.index(t["class"]))
    else:
        shown = next((t for t in tries if t["class"] == NOT_EXERCISED), tries[-1])
    cell = {**shown, "tries": tries, "conclusive": len(conclusive)}
    if len(tries) > 1:
        counts = ", ".join(f"{n} {c}" for c, n in _counts(tries).items())
        cell["reason"] = f"{shown['reason']} ({len(conclusive)} of {len(tries)} tries conclusive: {counts})"
    return cell


def _counts(tries: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for one in tries:
        counts[one["class"]] = counts.get(one["class"], 0) + 1
    return counts


__all__ = ["CANNOT", "CLASSES", "DEFECT", "DESIGNED", "HA_GAP", "INCONCLUSIVE", "NOT_EXERCISED", "NO_EFFECT",
           "SEVERITY", "UNANSWERED", "classify", "combine", "evidence"]
