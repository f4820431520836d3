"""map.html: the protocol map as a matrix, methods by (side, action), one colour per class; each run cell links
to its run's report.html and shows its replay command."""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from lab.map.cells import NO_SIDE, Cell
from lab.map.classify import CANNOT, DEFECT, DESIGNED, HA_GAP, INCONCLUSIVE, NO_EFFECT, NOT_EXERCISED
from nemesis.rpc import ACTIONS, METHODS, SIDES
from lab.store import write_text_atomic

HTML_FILE = "map.html"
COLOURS = {NO_EFFECT: "#c8e6c9", DESIGNED: "#bbdefb", HA_GAP: "#ffe0b2", DEFECT: "#ef9a9a",
           NOT_EXERCISED: "#e0e0e0", INCONCLUSIVE: "#fff59d", CANNOT: "#f5f5f5"}
MEANING = {NO_EFFECT: "the message matched, the run is VALID with no anomaly",
           DESIGNED: "anomalies, each from a fault beyond both promise levels (expected degradation)",
           HA_GAP: "an anomaly outside the designed promise but inside the spec's: the HA goal is not met",
           DEFECT: "a defect anomaly: Mistral broke a promise the fault stayed inside (or a safety property)",
           NOT_EXERCISED: "the rule matched no message or did not apply: unknown, not 'no effect'",
           INCONCLUSIVE: "no verdict: lab failure, interruption, or an UNKNOWN the cell cannot resolve",
           CANNOT: "the lab cannot make Mistral send this method (the reason is in the cell)"}
STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}"
         "td,th{border:1px solid #999;padding:.3em .5em;vertical-align:top;font-size:.85em}"
         "td.cell{min-width:9em}code{font-size:.8em;word-break:break-all}.new{color:#b71c1c;font-weight:bold}"
         ".absent{background:repeating-linear-gradient(45deg,#fff,#fff 4px,#eee 4px,#eee 8px);color:#777}")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _link(target: str | None, out_dir: Path, text: str) -> str:
    if not target:
        return ""
    href = os.path.relpath(os.path.abspath(target), os.path.abspath(out_dir))
    return f"<a href='{_e(Path(href).as_posix())}'>{_e(text)}</a>"


def cell_html(entry: dict[str, Any] | None, cell: Cell, out_dir: Path, selected: bool) -> str:
    """One <td>: the class, what it rests on, the report link and the replay command."""
    if (cell.method, cell.side) in NO_SIDE:
        return f"<td class='absent' title='{_e(NO_SIDE[(cell.method, cell.side)])}'>no such side</td>"
    if entry is None:
        return f"<td class='cell'>{'pending' if selected else ''}</td>"
    cls = entry.get("class", INCONCLUSIVE)
    parts = [f"<b>{_e(cls)}</b>"]
    if cls == CANNOT:
        parts.append(f"<br><small>{_e(entry.get('reason'))}</small>")
        return f"<td class='cell' style='background:{COLOURS[CANNOT]}'>{''.join(parts)}</td>"
    names = list(dict.fromkeys(a["name"] for a in entry.get("anomalies") or []))
    if names:
        parts.append(f"<br>{_e(', '.join(names))}")
    if entry.get("findings"):
        parts.append(f"<br>known: {_e(', '.join(entry['findings']))}")
    if entry.get("new"):
        parts.append("<br><span class='new'>NEW</span>")
    if entry.get("consequences"):
        parts.append(f"<br><small>{_e(entry['consequences'][0][:200])}</small>")
    parts.append(f"<br>{_link(entry.get('report'), out_dir, 'report')}")
    if entry.get("replay"):
        parts.append(f"<br><code>{_e(entry['replay'])}</code>")
    colour, title = COLOURS.get(cls, COLOURS[INCONCLUSIVE]), _e(entry.get("reason", ""))
    return f"<td class='cell' style='background:{colour}' title='{title}'>{''.join(parts)}</td>"


def _columns(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(side, action) pairs of the cells the map selected, in the rpc fault's order."""
    cells = [Cell.of(k) for k in [*doc.get("selected", []), *doc.get("cells", {})]]
    sides = {c.side for c in cells}
    actions = {c.action for c in cells}
    return [(s, a) for s in SIDES for a in ACTIONS if s in sides and a in actions]


def matrix_html(doc: dict[str, Any], out_dir: Path) -> str:
    columns = _columns(doc)
    keys = set(doc.get("selected", [])) | set(doc.get("cells", {}))
    methods = [m for m in METHODS if any(k.startswith(f"{m}/") for k in keys)]
    sides = list(dict.fromkeys(s for s, _ in columns))
    head = "<tr><th rowspan='2'>method</th>" + "".join(
        f"<th colspan='{sum(1 for s, _ in columns if s == side)}'>{_e(side)}</th>" for side in sides) + "</tr>"
    head += "<tr>" + "".join(f"<th>{_e(action)}</th>" for _, action in columns) + "</tr>"
    rows = []
    for method in methods:
        tds = [cell_html(doc["cells"].get(f"{method}/{s}/{a}"), Cell(method, s, a), out_dir,
                         f"{method}/{s}/{a}" in keys) for s, a in columns]
        rows.append(f"<tr><th>{_e(method)}</th>{''.join(tds)}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def summary_html(doc: dict[str, Any]) -> str:
    settings = doc.get("settings") or {}
    against = (f"Mistral source {settings['mistral_src']}" if settings.get("mistral_src") else
               f"Mistral {settings.get('mistral_version') or '(the lab default version)'}")
    counts: dict[str, int] = {}
    for entry in doc.get("cells", {}).values():
        counts[entry.get("class", INCONCLUSIVE)] = counts.get(entry.get("class", INCONCLUSIVE), 0) + 1
    legend = "".join(f"<tr><td style='background:{COLOURS[c]}'>{_e(c)}</td><td>{counts.get(c, 0)}</td>"
                     f"<td>{_e(MEANING[c])}</td></tr>" for c in COLOURS)
    stopped = f"<p><b>stopped early:</b> {_e(doc['stopped'])}</p>" if doc.get("stopped") else ""
    done, selected = len(doc.get("cells", {})), len(doc.get("selected", []))
    return (f"<p>{_e(against)}; base seed {_e(settings.get('base_seed'))}, {_e(settings.get('tries'))} "
            f"tr{'y' if settings.get('tries') == 1 else 'ies'} per cell; started {_e(doc.get('started'))}, "
            f"updated {_e(doc.get('updated') or 'not yet')}; {done} of {selected} selected cells done.</p>"
            f"<p><code>{_e(doc.get('command', ''))}</code></p>{stopped}"
            f"<table><tr><th>class</th><th>cells</th><th>meaning</th></tr>{legend}</table>")


def write_html(out_dir: Path, doc: dict[str, Any]) -> Path:
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mistral-lab protocol map</title>"
            f"<style>{STYLE}</style></head><body><h1>Protocol map</h1>{summary_html(doc)}<h2>Cells</h2>"
            f"<p>Rows: the Mistral RPC method; columns: the side the rule sits on and what it does to the first "
            f"matching message. Hover a cell for the rule that classed it.</p>{matrix_html(doc, out_dir)}"
            "</body></html>")
    return write_text_atomic(out_dir / HTML_FILE, page)


__all__ = ["COLOURS", "HTML_FILE", "MEANING", "cell_html", "matrix_html", "summary_html", "write_html"]
