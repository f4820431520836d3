"""A map's results as Markdown, for docs/protocol-map.md: generated from map.json, never written by hand.

    python -m lab.map.markdown DIR      # prints the header line, the class counts and the cell table
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

from cluster.errors import LabError
from lab.map.cells import Cell
from lab.map.classify import CANNOT, CLASSES, DEFECT
from lab.map.run import load_map
from lab.store import stamp_minute

CONSEQUENCE_CHARS = 180  # the rpc checker's sentence, cut: the run's report has it whole


def _cell_text(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def anomaly_names(entry: dict[str, Any]) -> str:
    """Each anomaly's name, * when it cites the cell's own message, (designed)/(spec) for a defect's level."""
    names = []
    for anomaly in entry.get("anomalies") or []:
        name = str(anomaly.get("name") or "?") + (" *" if anomaly.get("follows_message") else "")
        names.append(name)
    return ", ".join(dict.fromkeys(names)) or "-"


def class_label(entry: dict[str, Any]) -> str:
    cls = entry.get("class") or "?"
    if cls != DEFECT:
        return cls
    found = entry.get("findings") or []
    return f"**defect, {'NEW' if entry.get('new') or not found else ', '.join(found)}**"


def consequence(entry: dict[str, Any]) -> str:
    texts = entry.get("consequences") or []
    if not texts:
        return _cell_text(entry.get("reason") or "-") if entry.get("class") not in ("no effect",) else "-"
    text = _cell_text(texts[0]) + (f" (+{len(texts) - 1} more)" if len(texts) > 1 else "")
    return text if len(text) <= CONSEQUENCE_CHARS else text[:CONSEQUENCE_CHARS - 1] + "…"


def results_table(doc: dict[str, Any]) -> str:
    rows = ["| method | side | action | class | tries (conclusive) | anomalies (* cites the cell's message) "
            "| consequence (rpc checker) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for key in doc.get("selected") or []:
        entry = (doc.get("cells") or {}).get(key)
        cell = Cell.of(key)
        if entry is not None and entry.get("class") == CANNOT:
            continue  # listed per method under the table (cannot_exercise_line)
        if entry is None:
            rows.append(f"| {cell.method} | {cell.side} | {cell.action} | not run yet | 0 | - | - |")
            continue
        tries = len(entry.get("tries") or [])
        rows.append(f"| {cell.method} | {cell.side} | {cell.action} | {class_label(entry)} | "
                    f"{tries} ({entry.get('conclusive', 0)}) | {anomaly_names(entry)} | {consequence(entry)} |")
    return "\n".join(rows)


def class_counts(doc: dict[str, Any]) -> str:
    cells = doc.get("cells") or {}
    counts = Counter(entry.get("class") for entry in cells.values())
    missing = len(doc.get("selected") or []) - len(cells)
    parts = [f"{counts[c]} {c}" for c in CLASSES if counts.get(c)]
    return ", ".join(parts + ([f"{missing} not run yet"] if missing > 0 else []))


def cannot_exercise_line(doc: dict[str, Any]) -> str:
    """The cells the lab cannot make Mistral send, per method: 'on_action_update (8 cells), ...'."""
    methods = Counter(Cell.of(key).method for key, entry in (doc.get("cells") or {}).items()
                      if entry.get("class") == CANNOT)
    if not methods:
        return ""
    listed = ", ".join(f"{method} ({count} cell{'s' if count != 1 else ''})" for method, count in methods.items())
    return f"\nNot in the table, {CANNOT} (the workload table below says why): {listed}.\n"


def render(doc: dict[str, Any]) -> str:
    settings = doc.get("settings") or {}
    head = (f"`{doc.get('command')}`, started {stamp_minute(doc.get('started'))}, "
            f"last cell {stamp_minute(doc.get('updated'))}; "
            f"Mistral {settings.get('mistral_version') or 'default'}, base seed {settings.get('base_seed')}, "
            f"{settings.get('tries')} tr{'y' if settings.get('tries') == 1 else 'ies'} per cell.")
    return f"{head}\n\nCells: {class_counts(doc)}.\n\n{results_table(doc)}\n{cannot_exercise_line(doc)}"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m lab.map.markdown MAP_DIR", file=sys.stderr)
        return 3
    where = Path(argv[0])
    try:  # the map's directory, or its map.json
        print(render(load_map(where.parent if where.is_file() else where)), end="")
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
