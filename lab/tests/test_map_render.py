"""map.html: the matrix of methods by (side, action), one colour per class, each run cell linking to its
report and showing its replay command."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from lab.map.classify import CANNOT, DEFECT, HA_GAP, NOT_EXERCISED
from lab.map.render import COLOURS, write_html
from lab.map.run import Settings, new_map


class Table(HTMLParser):
    """The last table's rows as lists of (text, attributes, links) per cell."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[dict]]] = []
        self.cell: dict | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = {"tag": tag, "attrs": dict(attrs), "text": "", "links": []}
            self.tables[-1][-1].append(self.cell)
        elif tag == "a" and self.cell is not None:
            self.cell["links"].append(dict(attrs)["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell["text"] += data


def _entry(cls: str, run_dir: Path | None, **extra) -> dict:
    entry = {"class": cls, "reason": f"why {cls}", "anomalies": [], "findings": [], "new": False,
             "consequences": [], **extra}
    if run_dir is not None:
        entry.update(run_dir=str(run_dir), report=str(run_dir / "report.html"),
                     replay=f"mistral-lab run --replay {run_dir}")
    return entry


def _doc(tmp_path: Path) -> dict:
    doc = new_map(Settings(base_seed=3), "mistral-lab map --methods run_action,create_event_trigger")
    runs = tmp_path / "store" / "map-run_action-receive-drop" / "t1"
    doc["selected"] = [f"{m}/{s}/{a}" for m in ("run_action", "create_event_trigger") for s in ("receive", "send")
                       for a in ("drop", "duplicate") if not (m == "create_event_trigger" and s == "receive")]
    doc["cells"] = {
        "run_action/receive/drop": _entry(HA_GAP, runs, anomalies=[{"name": "abandoned-action/heartbeat"}],
                                          consequences=["run_action lost: the action never ran <no witness>"]),
        "run_action/receive/duplicate": _entry(DEFECT, tmp_path / "store" / "r2", new=True,
                                               anomalies=[{"name": "duplicate-run/redelivered"}]),
        "run_action/send/drop": _entry(NOT_EXERCISED, tmp_path / "store" / "r3"),
        "create_event_trigger/send/drop": _entry(CANNOT, None, reason="no lab workload manages event triggers"),
    }
    return doc


def test_the_matrix_has_a_row_per_method_and_a_column_per_side_and_action(tmp_path: Path) -> None:
    out = tmp_path / "map"
    out.mkdir()
    page = write_html(out, _doc(tmp_path)).read_text()
    parser = Table()
    parser.feed(page)
    rows = parser.tables[-1]
    assert [c["text"] for c in rows[0]] == ["method", "receive", "send"]
    assert [c["text"] for c in rows[1]] == ["drop", "duplicate", "drop", "duplicate"]
    assert [r[0]["text"] for r in rows[2:]] == ["run_action", "create_event_trigger"]
    gap, dup, unexercised, pending = rows[2][1:]
    assert f"background:{COLOURS[HA_GAP]}" in gap["attrs"]["style"] and gap["text"].startswith("HA gap")
    assert f"background:{COLOURS[DEFECT]}" in dup["attrs"]["style"] and "NEW" in dup["text"]
    assert COLOURS[HA_GAP] != COLOURS[DEFECT] != COLOURS[NOT_EXERCISED]
    assert gap["links"] == ["../store/map-run_action-receive-drop/t1/report.html"]  # relative to map.html
    replay = f"mistral-lab run --replay {tmp_path / 'store' / 'map-run_action-receive-drop' / 't1'}"
    assert replay in gap["text"] and gap["attrs"]["title"] == "why HA gap"
    assert "<no witness>" in gap["text"] and "&lt;no witness&gt;" in page  # escaped
    assert unexercised["text"].startswith("not exercised") and pending["text"] == "pending"
    absent, also_absent, cannot, blank = rows[3][1:]
    assert absent["text"] == also_absent["text"] == "no such side" and "event engine" in absent["attrs"]["title"]
    assert cannot["text"].startswith("cannot exercise") and "event triggers" in cannot["text"]
    assert cannot["links"] == [] and blank["text"] == "pending"


def test_the_summary_counts_the_classes_and_names_the_settings(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    doc["stopped"] = "interrupted between runs"
    page = write_html(tmp_path, doc).read_text()
    legend = dict(re.findall(r"<td style='background:#\w+'>([^<]+)</td><td>(\d+)</td>", page))
    assert legend["HA gap"] == "1" and legend["defect"] == "1" and legend["no effect"] == "0"
    assert set(legend) == set(COLOURS)
    assert "base seed 3" in page and "4 of 6 selected cells done" in page
    assert "stopped early:</b> interrupted between runs" in page
    assert "mistral-lab map --methods run_action,create_event_trigger" in page
