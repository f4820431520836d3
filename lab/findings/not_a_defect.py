"""Candidates that are not Mistral defects: findings/not-a-defect/<id>.yaml, one per candidate the hunt turned
up and set aside, with the reason - designed behaviour, an HA gap (outside the designed promise, inside the
spec's goal), a defect that did not reproduce, or an artefact of the lab. They keep the catalogue honest: a
reader sees what was looked at and why it is not listed as a finding.

Fields: id (= file name), title, class (the anomaly class the run showed, or none), verdict, spec (a built-in
spec name or a file in findings/specs/), seed, seen ({date, run}), reason, evidence (a list of strings).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from checker.anomalies import CLASSES
from cluster.errors import LabError
from lab.findings.catalogue import ID_RE, catalogue_dir
from lab.findings.fields import FieldValidator
from lab.spec import load_spec

VERDICTS = {
    "designed": "Mistral 23 does what it documents and is configured for",
    "ha-gap": "outside the designed promise, inside the spec's goal: the HA work the spec asks for",
    "not-reproduced": "a candidate defect that did not show again in its replays",
    "lab-artefact": "the lab, not Mistral: a fault that never applied or a checker that misread the run",
}
FIELDS = ("id", "title", "class", "verdict", "spec", "seed", "seen", "reason", "evidence")


@dataclass(frozen=True)
class Note:
    id: str
    title: str
    cls: str
    verdict: str
    spec: str
    seed: int
    seen: dict[str, str]
    reason: str
    evidence: tuple[str, ...]
    path: Path


def notes_dir(directory: Path | None = None) -> Path:
    return (directory or catalogue_dir()) / "not-a-defect"


def load_notes(directory: Path | None = None) -> list[Note]:
    """Every not-a-defect note of the catalogue, sorted by id; a bad file is one LabError line."""
    folder = notes_dir(directory)
    return [load_note(path) for path in sorted(folder.glob("*.yaml"))] if folder.is_dir() else []


def load_note(path: Path) -> Note:
    text = path.read_text()
    try:
        root, data = yaml.compose(text), yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LabError(f"{path}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise LabError(f"{path}:1: a note is a YAML mapping with fields {', '.join(FIELDS)}")
    c = FieldValidator(path, data, root)
    for key in data:
        if key not in FIELDS:
            raise c.fail(str(key), f"unknown field (known: {', '.join(FIELDS)})")
    for key in FIELDS:
        if key not in data:
            raise c.fail(key, "missing")
    note_id = c.text("id", data["id"], ID_RE, "lowercase letters, digits and '-'")
    if note_id != path.stem:
        raise c.fail("id", f"must equal the file name ({path.stem})")
    cls = c.text("class", data["class"])
    if cls not in (*CLASSES, "none"):
        raise c.fail("class", f"unknown anomaly class {cls!r} (one of {', '.join(CLASSES)}, or none)")
    verdict = c.text("verdict", data["verdict"])
    if verdict not in VERDICTS:
        raise c.fail("verdict", f"must be one of {', '.join(VERDICTS)}")
    spec = c.text("spec", data["spec"])
    _spec_loads(c, spec, path)
    seed = data["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise c.fail("seed", "must be an integer")
    evidence = data["evidence"]
    if not isinstance(evidence, list) or not evidence or not all(isinstance(e, str) and e.strip() for e in evidence):
        raise c.fail("evidence", "must be a non-empty list of strings")
    seen = data["seen"]
    if not isinstance(seen, dict) or not {"date", "run"} <= set(seen):
        raise c.fail("seen", "must be a mapping with date and run")
    return Note(note_id, c.text("title", data["title"]), cls, verdict, spec, seed,
                {k: str(v) for k, v in seen.items()}, c.text("reason", data["reason"]), tuple(evidence), path)


def _spec_loads(c: FieldValidator, spec: str, path: Path) -> None:
    candidate = path.parent.parent / "specs" / spec
    try:
        load_spec(str(candidate) if candidate.is_file() else spec)
    except LabError as exc:
        raise c.fail("spec", f"does not load: {exc}") from None


def as_rows(notes: list[Note]) -> list[dict[str, Any]]:
    return [{"id": n.id, "class": n.cls, "verdict": n.verdict, "title": n.title} for n in notes]


__all__ = ["Note", "VERDICTS", "as_rows", "load_note", "load_notes", "notes_dir"]
