"""The release matrix as Markdown, for docs/versions.md: generated from versions.json, never written by hand.

    python -m lab.findings.matrix_markdown DIR      # the header line, the status counts and the table
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

from lab.findings.matrix import load_matrix
from lab.findings.matrix_cell import CANNOT_RUN, STATUSES, cell_key
from lab.store import stamp_minute


def cell_text(entry: dict[str, Any] | None, selected: bool) -> str:
    """'reproduces 1/1', 'gone 0/1', 'cannot run: <reason>', 'inconclusive 0 of 1 conclusive'."""
    if entry is None:
        return "not run yet" if selected else ""
    status = entry.get("status", "?")
    if status == CANNOT_RUN:
        return f"cannot run: {' '.join(str(entry.get('reason') or '').split())[:120]}".replace("|", "\\|")
    if entry.get("conclusive", 0) < entry.get("asked", 0):
        return f"{status} ({entry.get('conclusive', 0)} of {entry.get('asked')} conclusive)"
    return f"{'**' if status == 'reproduces' else ''}{status}{'**' if status == 'reproduces' else ''} " \
           f"{entry.get('reproduced', 0)}/{entry.get('asked')}"


def _column_head(label: str, column: dict[str, Any]) -> str:
    options = ", ".join(f"{k}={v}" for k, v in (column.get("mistral_config") or {}).items())
    return f"{label} ({options})" if options else label


def matrix_table(doc: dict[str, Any]) -> str:
    columns = doc.get("columns") or {}
    selected = set(doc.get("selected") or [])
    rows = ["| finding | " + " | ".join(_column_head(label, c) for label, c in columns.items()) + " |",
            "| --- |" + " --- |" * len(columns)]
    for finding in doc.get("findings") or []:
        cells = [cell_text(doc["cells"].get(cell_key(finding, label)), cell_key(finding, label) in selected)
                 for label in columns]
        rows.append(f"| {finding} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def status_counts(doc: dict[str, Any]) -> str:
    counts = Counter(entry.get("status") for entry in (doc.get("cells") or {}).values())
    missing = len(doc.get("selected") or []) - len(doc.get("cells") or {})
    parts = [f"{counts[s]} {s}" for s in STATUSES if counts.get(s)]
    return ", ".join(parts + ([f"{missing} not run yet"] if missing > 0 else []))


def render(doc: dict[str, Any]) -> str:
    tries = (doc.get("settings") or {}).get("tries")
    head = (f"`{doc.get('command')}`, started {stamp_minute(doc.get('started'))}, "
            f"last cell {stamp_minute(doc.get('updated'))}; "
            f"{tries} tr{'y' if tries == 1 else 'ies'} asked per cell.")
    stopped = f"\n\nStopped early: {doc['stopped']}." if doc.get("stopped") else ""
    return f"{head}{stopped}\n\nCells: {status_counts(doc)}.\n\n{matrix_table(doc)}\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m lab.findings.matrix_markdown MATRIX_DIR", file=sys.stderr)
        return 3
    print(render(load_matrix(Path(argv[0]))), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
