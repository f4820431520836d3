"""The not-a-defect notes: every committed one loads; a bad one is one line naming the file and the field."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cluster.errors import LabError
from lab.findings.not_a_defect import VERDICTS, load_note, load_notes

GOOD = {"id": "x-note", "title": "t", "class": "lost-result", "verdict": "ha-gap", "spec": "smoke", "seed": 1,
        "seen": {"date": "2026-11-25", "run": "store/smoke/1"}, "reason": "why", "evidence": ["a figure"]}


def _write(tmp_path: Path, data: dict) -> Path:
    folder = tmp_path / "not-a-defect"
    folder.mkdir(exist_ok=True)
    path = folder / f"{data.get('id', 'x-note')}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_committed_notes_load_and_cover_every_kind_of_reason_they_claim() -> None:
    notes = load_notes()
    assert len(notes) >= 3
    assert {n.verdict for n in notes} <= set(VERDICTS)
    assert all(n.evidence and n.reason.strip() for n in notes)


def test_a_good_note_loads(tmp_path: Path) -> None:
    note = load_note(_write(tmp_path, GOOD))
    assert (note.id, note.cls, note.verdict, note.seed) == ("x-note", "lost-result", "ha-gap", 1)


@pytest.mark.parametrize("change, field", [({"verdict": "fine"}, "verdict"), ({"class": "oops"}, "class"),
                                           ({"spec": "no-such-spec"}, "spec"), ({"evidence": []}, "evidence"),
                                           ({"seen": "today"}, "seen"), ({"extra": 1}, "extra"),
                                           ({"id": "other"}, "id")])
def test_each_bad_field_is_one_line_naming_it(tmp_path: Path, change: dict, field: str) -> None:
    data = {**GOOD, **change}
    path = _write(tmp_path, {**data, "id": data["id"]} if field != "id" else data)
    if field == "id":
        path = path.rename(path.with_name("x-note.yaml"))
    with pytest.raises(LabError) as info:
        load_note(path)
    message = str(info.value)
    assert "\n" not in message and f"field '{field}'" in message and str(path) in message


def test_a_missing_field_is_named(tmp_path: Path) -> None:
    data = {k: v for k, v in GOOD.items() if k != "reason"}
    with pytest.raises(LabError, match="field 'reason': missing"):
        load_note(_write(tmp_path, data))
