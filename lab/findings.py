"""The findings catalogue: every confirmed Mistral defect, how to replay it, and how to recognise it in a run.

    load_catalogue(directory=None) -> [Finding]          findings/<id>.yaml, each validated (one LabError line)
    match_anomalies(anomalies, catalogue) -> {"known_findings", "new_defects"}
    apply_catalogue(results) -> {"known_findings", "new_defects", "verdict_after_catalogue", ...}
    replay_finding(finding, tries, run_fn, store) -> Replay   (try k runs with seed + k - 1)

A run's defect anomaly is *known* when a finding's signature matches it (class, optional kind, fault, role,
summary regex); every other defect is *new*. `valid` in results.json stays the raw verdict; the catalogue
only adds `verdict_after_catalogue`, the verdict exit codes use (unless --strict).

The catalogue lives in the checkout's findings/ folder (it does not ship in the wheel); MISTRAL_LAB_FINDINGS
points elsewhere. A missing folder is an empty catalogue: every defect is then new.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from checker.anomalies import CLASSES
from cluster.errors import LabError
from cluster.topology import INFRA_ROLES, MISTRAL_ROLES
from lab.known_defects import Signature, match_anomalies, parse_label, verdict_after_catalogue  # noqa: F401 - re-exported
from lab.spec import TestSpec, apply_overrides, load_spec

FINDINGS_ENV = "MISTRAL_LAB_FINDINGS"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "findings"
LEVELS = ("designed", "spec")
ROLES = MISTRAL_ROLES + INFRA_ROLES
DEFAULT_MIN_RATE = Fraction(2, 3)
ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
WORD_RE = re.compile(r"^[a-z][a-z0-9-]*$")
REQUIRED = ("id", "title", "class", "mistral_version", "spec", "seed", "signature", "what_happens", "why", "breaks",
            "tries", "reproduced")
OPTIONAL = ("kind", "evidence", "first_seen", "min_rate", "replayed")
SIGNATURE_FIELDS = ("class", "kind", "fault", "role", "summary")
EVIDENCE_FIELDS = ("nodes", "rpc", "code_path", "log_lines")
RECORDED = ("tries", "reproduced", "replayed")  # the fields `findings --record` rewrites in place


# ---------------------------------------------------------------- model
@dataclass
class Finding:
    id: str
    title: str
    cls: str
    mistral_version: str
    spec: Path
    seed: int
    signature: Signature
    what_happens: str
    why: str
    breaks: str
    tries: int
    reproduced: int
    path: Path
    kind: str | None = None
    min_rate: Fraction = DEFAULT_MIN_RATE
    evidence: dict[str, list[str]] = field(default_factory=dict)
    first_seen: dict[str, str] | None = None
    replayed: str | None = None

    def required(self, tries: int) -> int:
        """How many of `tries` must reproduce for the finding to stand as catalogued."""
        return required_reproductions(self.min_rate, tries)


def required_reproductions(min_rate: Fraction, tries: int) -> int:
    return max(1, math.ceil(min_rate * tries)) if tries > 0 else 0


# ---------------------------------------------------------------- loading
def catalogue_dir() -> Path:
    return Path(os.environ[FINDINGS_ENV]) if os.environ.get(FINDINGS_ENV) else DEFAULT_DIR


def load_catalogue(directory: Path | None = None, ids: Iterable[str] = ()) -> list[Finding]:
    """Every findings/<id>.yaml, sorted by id; `ids` selects some (an unknown id is a LabError)."""
    directory = directory or catalogue_dir()
    found = sorted((load_finding(p) for p in directory.glob("*.yaml")), key=lambda f: f.id) \
        if directory.is_dir() else []
    wanted = list(ids)
    unknown = [i for i in wanted if i not in {f.id for f in found}]
    if unknown:
        known = ", ".join(f.id for f in found) or "none"
        raise LabError(f"unknown finding {unknown[0]!r} in {directory} (catalogued: {known})")
    return [f for f in found if f.id in wanted] if wanted else found


def _line_of(node: yaml.Node | None, path: tuple[str, ...]) -> int | None:
    """The 1-based line of a (nested) key in a YAML mapping node, for error messages."""
    line = None
    for key in path:
        if not isinstance(node, yaml.MappingNode):
            return line
        for key_node, value_node in node.value:
            if getattr(key_node, "value", None) == key:
                line, node = key_node.start_mark.line + 1, value_node
                break
        else:
            return line
    return line


class _Checker:
    """Validates one finding file; every failure is one LabError naming the file, line and field."""

    def __init__(self, path: Path, data: dict[str, Any], root: yaml.Node | None) -> None:
        self.path, self.data, self.root = path, data, root

    def fail(self, name: str, reason: str) -> LabError:
        line = _line_of(self.root, tuple(name.split(".")))
        return LabError(f"{self.path}{f':{line}' if line else ''}: field {name!r}: {reason}")

    def text(self, name: str, value: Any, pattern: re.Pattern | None = None, what: str = "a non-empty string"
             ) -> str:
        if not isinstance(value, str) or not value.strip() or (pattern is not None and not pattern.match(value)):
            raise self.fail(name, f"must be {what}")
        return value

    def count(self, name: str) -> int:
        value = self.data.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(name, "must be an integer >= 0")
        return value


def load_finding(path: Path) -> Finding:
    text = path.read_text()
    try:
        root, data = yaml.compose(text), yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise LabError(f"{path}{f':{mark.line + 1}' if mark else ''}: invalid YAML: "
                       f"{getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise LabError(f"{path}:1: a finding is a YAML mapping with fields {', '.join(REQUIRED)}")
    return _validate(_Checker(path, data, root))


def _validate(c: _Checker) -> Finding:
    data, path = c.data, c.path
    for key in data:
        if key not in REQUIRED + OPTIONAL:
            raise c.fail(str(key), f"unknown field (known: {', '.join(REQUIRED + OPTIONAL)})")
    for key in REQUIRED:
        if key not in data:
            raise LabError(f"{path}: field {key!r}: required")
    ident = c.text("id", data["id"], ID_RE, "lowercase letters, digits and '-'")
    if ident != path.stem:
        raise c.fail("id", f"{ident!r} must match the file name {path.stem!r}")
    cls = c.text("class", data["class"])
    if cls not in CLASSES:
        raise c.fail("class", f"unknown anomaly class {cls!r} (one of {', '.join(CLASSES)})")
    kind = c.text("kind", data["kind"]) if data.get("kind") is not None else None
    seed = data["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise c.fail("seed", "must be an integer")
    tries, reproduced = c.count("tries"), c.count("reproduced")
    if reproduced > tries:
        raise c.fail("reproduced", f"{reproduced} is more than tries ({tries})")
    breaks = data["breaks"]
    if breaks not in LEVELS:
        raise c.fail("breaks", "the promise level it breaks: designed or spec")
    return Finding(
        id=ident, title=c.text("title", data["title"]), cls=cls, kind=kind,
        mistral_version=c.text("mistral_version", str(data["mistral_version"]), VERSION_RE, "a version like 23.0.0"),
        spec=_spec_path(c), seed=seed, signature=_signature(c, cls, kind),
        what_happens=c.text("what_happens", data["what_happens"]), why=c.text("why", data["why"]), breaks=breaks,
        tries=tries, reproduced=reproduced, path=path, min_rate=_min_rate(c), evidence=_evidence(c),
        first_seen=_first_seen(c), replayed=str(data["replayed"]) if data.get("replayed") is not None else None)


def _spec_path(c: _Checker) -> Path:
    name = c.text("spec", c.data["spec"], what="a file in findings/specs/, e.g. specs/<id>.yaml")
    specs = (c.path.parent / "specs").resolve()
    spec = (c.path.parent / name).resolve()
    if spec.parent != specs or spec.suffix not in (".yaml", ".yml"):
        raise c.fail("spec", f"{name!r}: must be a .yaml file directly in {c.path.parent / 'specs'}")
    if not spec.is_file():
        raise c.fail("spec", f"{name!r}: no such file")
    return spec


def _signature(c: _Checker, cls: str, kind: str | None) -> Signature:
    raw = c.data["signature"]
    if not isinstance(raw, dict):
        raise c.fail("signature", f"a mapping with fields {', '.join(SIGNATURE_FIELDS)}")
    for key in raw:
        if key not in SIGNATURE_FIELDS:
            raise c.fail(f"signature.{key}", f"unknown field (known: {', '.join(SIGNATURE_FIELDS)})")
    parts: dict[str, str | None] = {}
    for key in SIGNATURE_FIELDS:
        value = raw.get(key)
        parts[key] = None if value is None else c.text(f"signature.{key}", value)
    if parts["class"] not in (None, cls):
        raise c.fail("signature.class", f"{parts['class']!r} differs from the finding's class {cls!r}")
    if parts["kind"] is not None and kind is not None and parts["kind"] != kind:
        raise c.fail("signature.kind", f"{parts['kind']!r} differs from the finding's kind {kind!r}")
    if parts["fault"] is not None and not WORD_RE.match(parts["fault"]):
        raise c.fail("signature.fault", "a fault name as in the anomaly's fault label (scale, pause, kill, ...)")
    if parts["role"] is not None and parts["role"] not in ROLES:
        raise c.fail("signature.role", f"one of {', '.join(ROLES)}")
    if parts["summary"] is not None:
        try:
            re.compile(parts["summary"])
        except re.error as exc:
            raise c.fail("signature.summary", f"not a regular expression: {exc}") from None
    return Signature(cls, parts["kind"], parts["fault"], parts["role"], parts["summary"])


def _min_rate(c: _Checker) -> Fraction:
    raw = c.data.get("min_rate")
    if raw is None:
        return DEFAULT_MIN_RATE
    try:
        rate = Fraction(str(raw).strip()) if not isinstance(raw, bool) else None
    except (ValueError, ZeroDivisionError):
        rate = None
    if rate is None or not 0 < rate <= 1:
        raise c.fail("min_rate", "a share of tries in (0, 1], e.g. 2/3 (the default) or 0.5")
    return rate


def _evidence(c: _Checker) -> dict[str, list[str]]:
    raw = c.data.get("evidence")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise c.fail("evidence", f"a mapping with lists {', '.join(EVIDENCE_FIELDS)}")
    for key, value in raw.items():
        if key not in EVIDENCE_FIELDS:
            raise c.fail(f"evidence.{key}", f"unknown field (known: {', '.join(EVIDENCE_FIELDS)})")
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise c.fail(f"evidence.{key}", "a list of strings")
    return dict(raw)


def _first_seen(c: _Checker) -> dict[str, str] | None:
    raw = c.data.get("first_seen")
    if raw is None:
        return None  # a candidate nobody has seen in a run yet
    if not isinstance(raw, dict) or set(raw) - {"date", "run"} or "date" not in raw:
        raise c.fail("first_seen", "a mapping with date (YYYY-MM-DD) and run (the run dir or test name)")
    date = raw["date"]
    if isinstance(date, str):
        try:
            date = datetime.date.fromisoformat(date)
        except ValueError:
            date = None
    if not isinstance(date, datetime.date):
        raise c.fail("first_seen.date", "a date, YYYY-MM-DD")
    run = raw.get("run")
    if run is not None:
        c.text("first_seen.run", run)
    return {"date": date.isoformat(), **({"run": run} if run else {})}


# ---------------------------------------------------------------- known versus new
def apply_catalogue(results: dict[str, Any], directory: Path | None = None) -> dict[str, Any]:
    """The fields the catalogue adds to results.json; a broken catalogue leaves every defect new, and says so."""
    extra: dict[str, Any] = {}
    try:
        catalogue = load_catalogue(directory)
    except (LabError, OSError) as exc:
        catalogue, extra["catalogue_error"] = [], str(exc)
    matched = match_anomalies(results.get("anomalies") or [], catalogue)
    return {**matched, "verdict_after_catalogue": verdict_after_catalogue(results, matched["new_defects"]),
            **extra}


# ---------------------------------------------------------------- replays
class _SourceSpec(TestSpec):
    """A spec whose cluster builds Mistral from a local tree. Not a dataclass of its own: mistral_src is no
    field, so the run's test.yaml stays a plain, replayable spec (topology.json records the source)."""

    mistral_src: str | None = None

    def topology(self, lab_name: str):
        topology = super().topology(lab_name)
        topology.mistral_src = self.mistral_src
        return topology


def finding_spec(finding: Finding, seed: int, mistral_version: str | None = None,
                 mistral_src: Path | None = None) -> TestSpec:
    """The finding's spec at `seed`, against its own Mistral version unless told otherwise."""
    spec = apply_overrides(load_spec(str(finding.spec)), seed=seed)
    spec.mistral_version = mistral_version or finding.mistral_version
    if mistral_src is None:
        return spec
    patched = _SourceSpec(**spec.to_dict())
    patched.mistral_src = str(mistral_src)
    return patched


@dataclass
class Try:
    seed: int
    run_dir: str | None
    matched: bool
    valid: Any = None
    anomaly_counts: dict[str, int] = field(default_factory=dict)
    lab_error: str | None = None
    interrupted: bool = False

    @property
    def conclusive(self) -> bool:
        """The try says something about the finding: it showed the defect, or it ran to a decided verdict. A
        try that crashed, was interrupted or ended UNKNOWN (a fault never applied, nothing exercised) without
        showing it neither reproduces nor refutes the finding."""
        if self.matched:
            return True
        return self.valid in (True, False) and not self.lab_error and not self.interrupted


@dataclass
class Replay:
    finding: Finding
    tries: list[Try] = field(default_factory=list)  # every attempt, conclusive or not

    @property
    def counted(self) -> list[Try]:
        return [t for t in self.tries if t.conclusive]

    @property
    def inconclusive(self) -> int:
        return len(self.tries) - len(self.counted)

    @property
    def reproduced(self) -> int:
        return sum(t.matched for t in self.tries)

    @property
    def required(self) -> int:
        return self.finding.required(len(self.counted))

    @property
    def ok(self) -> bool:
        """Reproduces as catalogued: at least min_rate of the conclusive tries (and at least one of those)."""
        return bool(self.counted) and self.reproduced >= self.required

    @property
    def anomaly_counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for one in self.tries:
            for cls, n in one.anomaly_counts.items():
                total[cls] = total.get(cls, 0) + n
        return dict(sorted(total.items()))

    def to_json(self, status: str | None = None) -> dict[str, Any]:
        data = {"id": self.finding.id, "class": self.finding.cls, "tries": len(self.counted),
                "inconclusive": self.inconclusive, "reproduced": self.reproduced,
                "anomaly_counts": self.anomaly_counts, "required": self.required, "ok": self.ok,
                "runs": [{**t.__dict__, "conclusive": t.conclusive} for t in self.tries]}
        return {**data, "status": status} if status else data


RunFn = Callable[[TestSpec, Path], Any]  # (spec, store) -> an outcome with run_dir, lab_error, interrupted


def read_results(run_dir: Path | None) -> dict[str, Any]:
    path = Path(run_dir) / "results.json" if run_dir else None
    if path is None or not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def judge_try(finding: Finding, seed: int, outcome: Any) -> Try:
    """One try from its stored results.json: did a defect matching the signature show up?"""
    run_dir = getattr(outcome, "run_dir", None)
    results = read_results(run_dir)
    matched = any(a.get("defect") and finding.signature.matches(a) for a in results.get("anomalies") or [])
    return Try(seed=seed, run_dir=str(run_dir) if run_dir else None, matched=matched, valid=results.get("valid"),
               anomaly_counts=dict(results.get("anomaly_counts") or {}),
               lab_error=getattr(outcome, "lab_error", None), interrupted=bool(getattr(outcome, "interrupted", False)))


def replay_finding(finding: Finding, tries: int, run_fn: RunFn, store: Path, mistral_version: str | None = None,
                   mistral_src: Path | None = None, on_try: Callable[[Finding, Try], None] | None = None) -> Replay:
    """Run the finding's spec until `tries` tries were conclusive, each on a fresh cluster: attempt 1 with the
    catalogued seed, attempt k with seed + k - 1. An inconclusive attempt (see Try.conclusive) is replaced by
    one more, at most `tries` extra attempts in all. Stops early when a run was interrupted (Ctrl-C)."""
    replay = Replay(finding)
    for k in range(2 * tries):
        if len(replay.counted) >= tries:
            break
        seed = finding.seed + k
        spec = finding_spec(finding, seed, mistral_version, mistral_src)
        one = judge_try(finding, seed, run_fn(spec, store))
        replay.tries.append(one)
        if on_try is not None:
            on_try(finding, one)
        if one.interrupted:
            break
    return replay


def record_replay(replay: Replay, today: datetime.date | None = None) -> None:
    """Write tries, reproduced and replayed back into the finding's file, keeping every other line as is.
    Only conclusive tries count; a replay without any (every run crashed or was cut short) records nothing."""
    finding = replay.finding
    if not replay.counted:
        return
    values = {"tries": str(len(replay.counted)), "reproduced": str(replay.reproduced),
              "replayed": (today or datetime.date.today()).isoformat()}
    text = finding.path.read_text()
    for key, value in values.items():
        pattern = re.compile(rf"^{key}:.*$", re.MULTILINE)
        text = pattern.sub(f"{key}: {value}", text, count=1) if pattern.search(text) else \
            text.rstrip("\n") + f"\n{key}: {value}\n"
    finding.path.write_text(text)
    load_finding(finding.path)  # what was written must still load


def latest_matching_run(finding: Finding, store: Path) -> Path | None:
    """The newest stored run of the finding's spec whose defects include one matching its signature."""
    name = load_spec(str(finding.spec)).name
    for results in sorted((store / name).glob("*/results.json"), reverse=True):
        anomalies = read_results(results.parent).get("anomalies") or []
        if any(a.get("defect") and finding.signature.matches(a) for a in anomalies):
            return results.parent
    return None


__all__ = ["CLASSES", "Finding", "Replay", "Signature", "Try", "apply_catalogue", "catalogue_dir", "finding_spec",
           "judge_try", "latest_matching_run", "load_catalogue", "load_finding", "match_anomalies",
           "record_replay", "replay_finding", "required_reproductions", "verdict_after_catalogue"]
