"""Replaying catalogued findings: N tries asked, each on a fresh cluster, and only conclusive tries count.

    replay_finding(finding, tries, run_fn, store) -> Replay     attempt k runs with seed + k - 1
    record_replay(replay) -> bool                               tries / reproduced / replayed written back

When a try is conclusive, how inconclusive tries are replaced and how a replay is judged:
docs/findings.md#replaying-make-findings--mistral-lab-findings.
"""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lab.findings.catalogue import Finding, load_finding
from lab.spec import SourceSpec, TestSpec, apply_overrides, load_spec, with_mistral_source
from history.run_dir import read_results  # noqa: F401 - re-exported: the one loader of results.json

REPRODUCES, BELOW, INCONCLUSIVE = "reproduces", "below min_rate", "inconclusive"
STILL_THERE, GONE = "still there", "gone"  # against a patched Mistral (--mistral-src)
CAP_TEXT = "an inconclusive try is replaced by the next seed, at most N extra attempts for N tries asked"


def extra_attempts(tries: int) -> int:
    """The cap on replacements: as many extra attempts as tries asked (a broken lab must not loop for ever)."""
    return tries


# ---------------------------------------------------------------- the spec of a try
def finding_spec(finding: Finding, seed: int, mistral_version: str | None = None,
                 mistral_src: Path | None = None, mistral_config: dict[str, str] | None = None) -> TestSpec:
    """The finding's spec at `seed`, against its own Mistral version unless told otherwise; `mistral_config`
    (section.option: value) is added to the spec's own options, and wins over them (a release-matrix column)."""
    spec = apply_overrides(load_spec(str(finding.spec)), seed=seed)
    spec.mistral_version = mistral_version or finding.mistral_version
    spec.mistral_config = {**spec.mistral_config, **(mistral_config or {})}
    return with_mistral_source(spec, mistral_src)


# ---------------------------------------------------------------- one try
@dataclass
class Try:
    seed: int
    run_dir: str | None
    matched: bool  # a defect anomaly matched the signature (conclusive or not)
    valid: Any = None
    anomaly_counts: dict[str, int] = field(default_factory=dict)
    lab_error: str | None = None
    interrupted: bool = False
    faults_gate: Any = None  # results.json gates.faults.valid: true when every planned fault applied

    @property
    def decided(self) -> bool:
        """It ran to a verdict: valid true or false, no lab failure, not cut short."""
        return (self.valid is True or self.valid is False) and not self.lab_error and not self.interrupted

    @property
    def conclusive(self) -> bool:
        return self.decided and self.faults_gate is True

    @property
    def reproduced(self) -> bool:
        return self.matched and self.conclusive

    def why_inconclusive(self) -> str | None:
        if self.interrupted:
            return "interrupted"
        if self.lab_error:
            return f"lab failure: {self.lab_error}"
        if not self.decided:
            return f"verdict {self.valid}"
        if self.faults_gate is not True:
            return f"faults gate {self.faults_gate}: not every planned fault applied"
        return None

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "conclusive": self.conclusive, "reproduced": self.reproduced,
                "inconclusive_because": self.why_inconclusive()}


def faults_gate_of(results: dict[str, Any]) -> Any:
    gate = (results.get("gates") or {}).get("faults") if isinstance(results.get("gates"), dict) else None
    return gate.get("valid") if isinstance(gate, dict) else None


def judge_try(finding: Finding, seed: int, outcome: Any) -> Try:
    """One try from its stored results.json: did a defect matching the signature show up, and does it count?"""
    run_dir = getattr(outcome, "run_dir", None)
    results = read_results(run_dir)
    matched = any(a.get("defect") and finding.signature.matches(a) for a in results.get("anomalies") or [])
    return Try(seed=seed, run_dir=str(run_dir) if run_dir else None, matched=matched, valid=results.get("valid"),
               anomaly_counts=dict(results.get("anomaly_counts") or {}), faults_gate=faults_gate_of(results),
               lab_error=getattr(outcome, "lab_error", None), interrupted=bool(getattr(outcome, "interrupted", False)))


# ---------------------------------------------------------------- a replay
@dataclass
class Replay:
    finding: Finding
    asked: int  # --tries N: the denominator of every rate
    tries: list[Try] = field(default_factory=list)  # every attempt, conclusive or not

    @property
    def cap(self) -> int:
        return self.asked + extra_attempts(self.asked)

    @property
    def counted(self) -> list[Try]:
        return [t for t in self.tries if t.conclusive]

    @property
    def inconclusive(self) -> int:
        return len(self.tries) - len(self.counted)

    @property
    def reproduced(self) -> int:
        return sum(t.reproduced for t in self.tries)

    @property
    def required(self) -> int:
        return self.finding.required(self.asked)

    @property
    def complete(self) -> bool:
        """Every asked try is conclusive: only then is there a rate to judge."""
        return len(self.counted) >= self.asked

    @property
    def ok(self) -> bool:
        return self.complete and self.reproduced >= self.required

    @property
    def exit_code(self) -> int:
        return 2 if not self.complete else 0 if self.ok else 1

    def status(self, patched: bool = False) -> str:
        if not self.complete:
            return INCONCLUSIVE
        if patched:  # against a patched Mistral the question is whether the defect is gone
            return STILL_THERE if self.reproduced else GONE
        return REPRODUCES if self.ok else BELOW

    def rule(self, patched: bool = False) -> str:
        """The status with the figures and the rule that gave it."""
        status, rate = self.status(patched), f"{self.reproduced} of {self.asked} asked"
        bar = f"min_rate {self.finding.min_rate} -> {self.required} required"
        if status == INCONCLUSIVE:
            stop = "interrupted" if any(t.interrupted for t in self.tries) else f"cap {self.cap} attempts"
            return (f"{status}: {len(self.counted)} of {self.asked} asked conclusive after {len(self.tries)} "
                    f"attempts ({stop}); no rate judged, nothing recorded")
        if status == GONE:
            return f"{status}: 0 of {self.asked} asked reproduced, all {self.asked} conclusive"
        if status == STILL_THERE:
            return f"{status}: {rate} reproduced, all {self.asked} conclusive"
        return f"{status}: {rate} {'>=' if status == REPRODUCES else '<'} {bar}"

    @property
    def anomaly_counts(self) -> dict[str, int]:
        """Summed over the conclusive tries."""
        total: dict[str, int] = {}
        for one in self.counted:
            for cls, n in one.anomaly_counts.items():
                total[cls] = total.get(cls, 0) + n
        return dict(sorted(total.items()))

    def to_json(self, patched: bool = False) -> dict[str, Any]:
        finding = self.finding
        return {"id": finding.id, "class": finding.cls, "kind": finding.kind, "tries": self.asked,
                "conclusive": len(self.counted), "inconclusive": self.inconclusive, "attempts": len(self.tries),
                "cap": self.cap, "reproduced": self.reproduced, "required": self.required,
                "min_rate": str(finding.min_rate), "provisional": finding.provisional,
                "min_rate_basis": finding.min_rate_basis.__dict__, "ok": self.ok, "status": self.status(patched),
                "rule": self.rule(patched), "anomaly_counts": self.anomaly_counts,
                "runs": [t.to_json() for t in self.tries]}


RunFn = Callable[[TestSpec, Path], Any]  # (spec, store) -> an outcome with run_dir, lab_error, interrupted


def replay_finding(finding: Finding, tries: int, run_fn: RunFn, store: Path, mistral_version: str | None = None,
                   mistral_src: Path | None = None, on_try: Callable[[Finding, Try], None] | None = None,
                   mistral_config: dict[str, str] | None = None) -> Replay:
    """Run the finding's spec until `tries` tries were conclusive or the cap is reached, each on a fresh cluster:
    attempt 1 with the catalogued seed, attempt k with seed + k - 1. Stops at a Ctrl-C'd run."""
    replay = Replay(finding, tries)
    for k in range(replay.cap):
        if replay.complete:
            break
        seed = finding.seed + k
        spec = finding_spec(finding, seed, mistral_version, mistral_src, mistral_config)
        one = judge_try(finding, seed, run_fn(spec, store))
        replay.tries.append(one)
        if on_try is not None:
            on_try(finding, one)
        if one.interrupted:
            break
    return replay


def record_replay(replay: Replay, today: datetime.date | None = None) -> bool:
    """Write tries (asked), reproduced (conclusive reproductions) and replayed back into the finding's file,
    keeping every other line as is (min_rate is never touched). An inconclusive replay records nothing: False."""
    if not replay.complete:
        return False
    values = {"tries": str(replay.asked), "reproduced": str(replay.reproduced),
              "replayed": (today or datetime.date.today()).isoformat()}
    path = replay.finding.path
    text = path.read_text()
    for key, value in values.items():
        pattern = re.compile(rf"^{key}:.*$", re.MULTILINE)
        text = pattern.sub(f"{key}: {value}", text, count=1) if pattern.search(text) else \
            text.rstrip("\n") + f"\n{key}: {value}\n"
    path.write_text(text)
    load_finding(path)  # what was written must still load
    return True


def latest_matching_run(finding: Finding, store: Path) -> Path | None:
    """The newest stored run whose defects include one matching the finding's signature. Runs are stored under
    the spec's name, which several findings may share (each then matches its own signature); the finding's id
    is searched too, for replays made when it had a spec copy of its own."""
    folders = dict.fromkeys([load_spec(str(finding.spec)).name, finding.id])
    found = [r for name in folders for r in (store / name).glob("*/results.json")]
    for results in sorted(found, key=lambda r: r.parent.name, reverse=True):
        anomalies = read_results(results.parent).get("anomalies") or []
        if any(a.get("defect") and finding.signature.matches(a) for a in anomalies):
            return results.parent
    return None


__all__ = ["BELOW", "CAP_TEXT", "GONE", "INCONCLUSIVE", "REPRODUCES", "Replay", "STILL_THERE", "SourceSpec", "Try",
           "extra_attempts", "faults_gate_of", "finding_spec", "judge_try", "latest_matching_run", "read_results",
           "record_replay", "replay_finding"]
