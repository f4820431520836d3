"""The findings catalogue: every confirmed Mistral defect, how to replay it, and how to recognise it in a run.

Loads and validates findings/<id>.yaml (MISTRAL_LAB_FINDINGS points elsewhere), matches a run's defect anomalies
against their signatures (known / new, `verdict_after_catalogue`) and checks a file's text against its figures.
Replays are in lab.findings.replay. The format and the rules: docs/findings.md, matching:
docs/verdicts.md#known-findings-matching-the-catalogue.
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
from typing import Any, Iterable

import yaml

from checker.anomalies import CLASSES
from cluster.errors import LabError
from cluster.topology import INFRA_ROLES, MISTRAL_ROLES
from lab.findings.fields import FieldValidator
from lab.findings.known_defects import (Signature, match_anomalies, parse_label,  # noqa: F401 - re-exported
                                       verdict_after_catalogue)

FINDINGS_ENV = "MISTRAL_LAB_FINDINGS"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "findings"  # the checkout's findings/ folder
LEVELS = ("designed", "spec")
ROLES = MISTRAL_ROLES + INFRA_ROLES
DEFAULT_MIN_RATE = Fraction(2, 3)
ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
WORD_RE = re.compile(r"^[a-z][a-z0-9-]*$")
REQUIRED = ("id", "title", "class", "kind", "mistral_version", "spec", "seed", "signature", "what_happens", "why",
            "breaks", "min_rate_basis", "tries", "reproduced")
OPTIONAL = ("evidence", "first_seen", "min_rate", "replayed", "patch", "no_patch_reason")
SIGNATURE_FIELDS = ("class", "kind", "fault", "role", "summary")
EVIDENCE_FIELDS = ("nodes", "rpc", "code_path", "log_lines")
RECORDED = ("tries", "reproduced", "replayed")  # the fields `findings --record` rewrites in place
BASIS_FIELDS = ("tries", "reproduced", "date")
FIRM_BASIS_TRIES = 6  # a min_rate fixed from fewer tries is provisional
# Phrases that say a finding was never seen or confirmed: false once a replay reproduced it.
UNSEEN_RE = re.compile(r"\b(?:not yet|never(?: been)?) seen\b|\bnot yet (?:been )?(?:confirmed|reproduced)\b"
                       r"|\bto be confirmed by (?:a )?replays?\b|\bexpected, to be confirmed\b", re.IGNORECASE)


# ---------------------------------------------------------------- model
@dataclass(frozen=True)
class Basis:
    """The replays min_rate was fixed from: tries, how many reproduced, and when."""

    tries: int
    reproduced: int
    date: str

    def __str__(self) -> str:
        return f"{self.reproduced} of {self.tries} ({self.date})"


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
    kind: str
    min_rate_basis: Basis
    min_rate: Fraction = DEFAULT_MIN_RATE
    evidence: dict[str, list[str]] = field(default_factory=dict)
    first_seen: dict[str, str] | None = None
    replayed: str | None = None
    patch: Path | None = None  # its candidate fix: patches/<id>.patch, or another finding's patch it names
    no_patch_reason: str | None = None  # why no patch at the lab's reach fixes it, and the design that would

    def required(self, tries: int) -> int:
        """How many of `tries` must reproduce for the finding to stand as catalogued."""
        return required_reproductions(self.min_rate, tries)

    @property
    def provisional(self) -> bool:
        """min_rate rests on fewer than FIRM_BASIS_TRIES tries: a figure to confirm, not a measured rate."""
        return self.min_rate_basis.tries < FIRM_BASIS_TRIES


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
    check_spec_copies(directory / "specs")
    wanted = list(ids)
    unknown = [i for i in wanted if i not in {f.id for f in found}]
    if unknown:
        known = ", ".join(f.id for f in found) or "none"
        raise LabError(f"unknown finding {unknown[0]!r} in {directory} (catalogued: {known})")
    return [f for f in found if f.id in wanted] if wanted else found


def check_spec_copies(specs: Path) -> None:
    """One spec may serve several findings; a second file with the same content under another name may not (it
    splits one finding's runs across two store folders and drifts apart unseen). `name` aside, they must differ."""
    seen: dict[str, Path] = {}
    for path in sorted(specs.glob("*.y*ml")) if specs.is_dir() else []:
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue  # not a spec at all: load_spec names the problem when it is replayed
        if not isinstance(data, dict):
            continue
        key = json.dumps({k: v for k, v in data.items() if k != "name"}, sort_keys=True, default=str)
        if key in seen:
            raise LabError(f"{path}: the same spec as {seen[key].name} under another name: point the findings at "
                           f"{seen[key].name} and delete this copy")
        seen[key] = path


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
    return _validate(FieldValidator(path, data, root))


def _validate(c: FieldValidator) -> Finding:
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
    kind = c.text("kind", data["kind"], WORD_RE, "the anomaly kind, e.g. heartbeat or task-rerun")
    seed = data["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise c.fail("seed", "must be an integer")
    tries, reproduced = c.count("tries"), c.count("reproduced")
    if reproduced > tries:
        raise c.fail("reproduced", f"{reproduced} is more than tries ({tries})")
    breaks = data["breaks"]
    if breaks not in LEVELS:
        raise c.fail("breaks", "the promise level it breaks: designed or spec")
    min_rate = _min_rate(c)
    return Finding(
        id=ident, title=c.text("title", data["title"]), cls=cls, kind=kind,
        mistral_version=c.text("mistral_version", str(data["mistral_version"]), VERSION_RE, "a version like 23.0.0"),
        spec=_spec_path(c), seed=seed, signature=_signature(c, cls, kind),
        what_happens=c.text("what_happens", data["what_happens"]), why=c.text("why", data["why"]), breaks=breaks,
        tries=tries, reproduced=reproduced, path=path, min_rate=min_rate, min_rate_basis=_basis(c, min_rate),
        evidence=_evidence(c), first_seen=_first_seen(c),
        replayed=str(data["replayed"]) if data.get("replayed") is not None else None, **_patch(c, ident))


def _spec_path(c: FieldValidator) -> Path:
    name = c.text("spec", c.data["spec"], what="a file in findings/specs/, e.g. specs/<id>.yaml")
    specs = (c.path.parent / "specs").resolve()
    spec = (c.path.parent / name).resolve()
    if spec.parent != specs or spec.suffix not in (".yaml", ".yml"):
        raise c.fail("spec", f"{name!r}: must be a .yaml file directly in {c.path.parent / 'specs'}")
    if not spec.is_file():
        raise c.fail("spec", f"{name!r}: no such file")
    return spec


def _patch(c: FieldValidator, ident: str) -> dict[str, Any]:
    """patch / no_patch_reason: its own patches/<id>.patch needs no field; `patch` names another finding's patch
    that serves this one too; `no_patch_reason` says why no patch at the lab's reach fixes it (and the design that
    would). A finding has at most one of the three."""
    patches = (c.path.parent / "patches").resolve()
    own = patches / f"{ident}.patch"
    named, reason = c.data.get("patch"), c.data.get("no_patch_reason")
    if named is not None and reason is not None:
        raise c.fail("no_patch_reason", "a finding with a patch has no no_patch_reason")
    if reason is not None:
        if own.is_file():
            raise c.fail("no_patch_reason", f"{own.name} exists: the finding has a patch")
        return {"no_patch_reason": c.text("no_patch_reason", reason)}
    if named is None:
        return {"patch": own if own.is_file() else None}
    name = c.text("patch", named, what="a file in findings/patches/, e.g. patches/<id>.patch")
    patch = (c.path.parent / name).resolve()
    if patch.parent != patches or patch.suffix != ".patch":
        raise c.fail("patch", f"{name!r}: must be a .patch file directly in {c.path.parent / 'patches'}")
    if not patch.is_file():
        raise c.fail("patch", f"{name!r}: no such file")
    if own.is_file() and own != patch:
        raise c.fail("patch", f"{name!r}: the finding has its own {own.name}")
    return {"patch": patch}


def _signature(c: FieldValidator, cls: str, kind: str) -> Signature:
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
    if parts["kind"] is None:  # a signature without a kind would claim any defect of the class
        raise c.fail("signature.kind", f"required: the anomaly kind, the finding's kind {kind!r}")
    if parts["kind"] != kind:
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


def _min_rate(c: FieldValidator) -> Fraction:
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


def _basis(c: FieldValidator, min_rate: Fraction) -> Basis:
    """min_rate_basis: {tries, reproduced, date}, the replays min_rate was fixed from; min_rate may not claim more
    than they showed."""
    raw = c.data["min_rate_basis"]
    if not isinstance(raw, dict):
        raise c.fail("min_rate_basis", "a mapping {tries: N, reproduced: M, date: YYYY-MM-DD}: the replays "
                     "min_rate was fixed from")
    for key in raw:
        if key not in BASIS_FIELDS:
            raise c.fail(f"min_rate_basis.{key}", f"unknown field (known: {', '.join(BASIS_FIELDS)})")
    counts = {}
    for key in ("tries", "reproduced"):
        value = raw.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise c.fail(f"min_rate_basis.{key}", "required, an integer >= 0")
        counts[key] = value
    if counts["reproduced"] > counts["tries"]:
        raise c.fail("min_rate_basis.reproduced", f"{counts['reproduced']} is more than tries ({counts['tries']})")
    if counts["tries"] and Fraction(counts["reproduced"], counts["tries"]) < min_rate:
        raise c.fail("min_rate", f"{min_rate} is more than its basis showed ({counts['reproduced']} of "
                     f"{counts['tries']})")
    return Basis(counts["tries"], counts["reproduced"], _date(c, "min_rate_basis.date", raw.get("date")))


def _date(c: FieldValidator, name: str, raw: Any) -> str:
    if isinstance(raw, str):
        try:
            raw = datetime.date.fromisoformat(raw)
        except ValueError:
            raw = None
    if not isinstance(raw, datetime.date):
        raise c.fail(name, "a date, YYYY-MM-DD")
    return raw.isoformat()


def _evidence(c: FieldValidator) -> dict[str, list[str]]:
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


def _first_seen(c: FieldValidator) -> dict[str, str] | None:
    raw = c.data.get("first_seen")
    if raw is None:
        return None  # a candidate nobody has seen in a run yet
    if not isinstance(raw, dict) or set(raw) - {"date", "run"} or "date" not in raw:
        raise c.fail("first_seen", "a mapping with date (YYYY-MM-DD) and run (the run dir or test name)")
    date = _date(c, "first_seen.date", raw["date"])
    run = raw.get("run")
    if run is not None:
        c.text("first_seen.run", run)
    return {"date": date, **({"run": run} if run else {})}


# ---------------------------------------------------------------- the catalogue's own consistency
def contradictions(finding: Finding) -> list[str]:
    """What the finding's file says against what its replays recorded: once a try reproduced it, nothing may call
    it unseen or unconfirmed, and first_seen must say when it was first seen."""
    if finding.reproduced == 0:
        return []
    problems = [] if finding.first_seen else [f"{finding.path}: first_seen is null but {finding.reproduced} of "
                                              f"{finding.tries} tries reproduced it"]
    for number, line in enumerate(finding.path.read_text().splitlines(), 1):
        match = UNSEEN_RE.search(line)
        if match:
            problems.append(f"{finding.path}:{number}: says {match.group(0)!r} but {finding.reproduced} of "
                            f"{finding.tries} tries reproduced it")
    return problems


def min_rate_change_problems(old_text: str, new_text: str) -> list[str]:
    """A change to one finding file: min_rate may not be lowered in the change that records a lower rate (the
    replay that missed must not also move the bar), and a changed min_rate needs a new basis."""
    old, new = (yaml.safe_load(text) or {} for text in (old_text, new_text))
    if not (isinstance(old, dict) and isinstance(new, dict)) or "min_rate" not in old or "min_rate" not in new:
        return []
    before, after = Fraction(str(old["min_rate"])), Fraction(str(new["min_rate"]))
    if before == after:
        return []
    problems = []
    recorded = [k for k in ("tries", "reproduced") if old.get(k) != new.get(k)]
    if after < before and recorded:
        problems.append(f"min_rate lowered {before} -> {after} in the change that records {', '.join(recorded)}")
    if "min_rate_basis" in old and old.get("min_rate_basis") == new.get("min_rate_basis"):
        problems.append(f"min_rate changed {before} -> {after} with the same min_rate_basis")
    return problems


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




__all__ = ["CLASSES", "Basis", "FIRM_BASIS_TRIES", "Finding", "Signature", "apply_catalogue", "catalogue_dir",
           "check_spec_copies", "contradictions", "load_catalogue", "load_finding", "match_anomalies",
           "min_rate_change_problems", "required_reproductions", "verdict_after_catalogue"]
