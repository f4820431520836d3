"""versions.html: the release matrix as a table, findings by column, one colour per status; each cell gives its
figures and links every try to its run's report.html (relative to the page, so the folder can move with the
store beside it)."""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from lab.findings.matrix_cell import CANNOT_RUN, STATUSES, cell_key
from lab.findings.replay import BELOW, GONE, INCONCLUSIVE, REPRODUCES
from lab.store import write_text_atomic

HTML_FILE = "versions.html"
COLOURS = {REPRODUCES: "#ef9a9a", BELOW: "#ffe0b2", GONE: "#c8e6c9", INCONCLUSIVE: "#fff59d",
           CANNOT_RUN: "#e0e0e0"}
MEANING = {REPRODUCES: "every try asked conclusive, at least the finding's min_rate of them reproduced it",
           BELOW: "every try asked conclusive, some reproduced it but fewer than min_rate requires: still there, "
                  "never gone",
           GONE: "every try asked conclusive and none reproduced it",
           INCONCLUSIVE: "fewer conclusive tries than asked at the cap (2N attempts): no rate",
           CANNOT_RUN: "the release's bring-up refused it (an option it lacks, an image that does not build): "
                       "no try ran, never counted as gone"}
STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}"
         "td,th{border:1px solid #999;padding:.3em .5em;vertical-align:top;font-size:.85em}"
         "td.cell{min-width:11em}code{font-size:.8em;word-break:break-all}")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _link(target: str | None, out_dir: Path, text: str) -> str:
    if not target:
        return _e(text)
    href = os.path.relpath(os.path.abspath(target), os.path.abspath(out_dir))
    return f"<a href='{_e(Path(href).as_posix())}'>{_e(text)}</a>"


def _try_text(one: dict[str, Any]) -> str:
    if one.get("conclusive") is None:  # the attempt bring-up refused
        return f"seed {one.get('seed')}: bring-up failed"
    what = "reproduced" if one.get("reproduced") else "no match" if one.get("conclusive") else "inconclusive"
    return f"seed {one.get('seed')}: {what}"


def cell_html(entry: dict[str, Any] | None, out_dir: Path, selected: bool) -> str:
    """One <td>: the status, asked / conclusive / reproduced and the rate, a link per try."""
    if entry is None:
        return f"<td class='cell'>{'pending' if selected else ''}</td>"
    status = entry.get("status", INCONCLUSIVE)
    parts = [f"<b>{_e(status)}</b>"]
    if status == CANNOT_RUN:
        parts.append(f"<br><small>{_e(entry.get('reason'))}</small>")
    else:
        parts.append(f"<br>{_e(entry.get('reproduced'))} of {_e(entry.get('asked'))} asked reproduced, "
                     f"{_e(entry.get('conclusive'))} conclusive ({_e(entry.get('attempts'))} attempts); "
                     f"min_rate {_e(entry.get('min_rate'))}")
    links = [_link(one.get("report"), out_dir, _try_text(one)) for one in entry.get("tries") or []]
    if links:
        parts.append("<br>" + "<br>".join(links))
    colour = COLOURS.get(status, COLOURS[INCONCLUSIVE])
    return f"<td class='cell' style='background:{colour}' title='{_e(entry.get('rule', ''))}'>{''.join(parts)}</td>"


def _column_head(label: str, column: dict[str, Any]) -> str:
    options = ", ".join(f"{k}={v}" for k, v in (column.get("mistral_config") or {}).items())
    extra = f"<br><small>{_e(options)}</small>" if options else ""
    return f"<th>{_e(label)}{extra}</th>"


def matrix_html(doc: dict[str, Any], out_dir: Path) -> str:
    columns = doc.get("columns") or {}
    selected = set(doc.get("selected") or [])
    head = "<tr><th>finding</th>" + "".join(_column_head(label, c) for label, c in columns.items()) + "</tr>"
    rows = []
    for finding in doc.get("findings") or []:
        tds = [cell_html(doc["cells"].get(cell_key(finding, label)), out_dir, cell_key(finding, label) in selected)
               for label in columns]
        rows.append(f"<tr><th>{_e(finding)}</th>{''.join(tds)}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def summary_html(doc: dict[str, Any]) -> str:
    tries = (doc.get("settings") or {}).get("tries")
    counts: dict[str, int] = {}
    for entry in doc.get("cells", {}).values():
        counts[entry.get("status", INCONCLUSIVE)] = counts.get(entry.get("status", INCONCLUSIVE), 0) + 1
    legend = "".join(f"<tr><td style='background:{COLOURS[s]}'>{_e(s)}</td><td>{counts.get(s, 0)}</td>"
                     f"<td>{_e(MEANING[s])}</td></tr>" for s in STATUSES)
    stopped = f"<p><b>stopped early:</b> {_e(doc['stopped'])}</p>" if doc.get("stopped") else ""
    done, selected = len(doc.get("cells", {})), len(doc.get("selected", []))
    return (f"<p>{_e(tries)} tr{'y' if tries == 1 else 'ies'} asked per cell (a try counts when its faults gate "
            f"passed and it reached a verdict; an inconclusive one is replaced, at most N extra attempts); started "
            f"{_e(doc.get('started'))}, updated {_e(doc.get('updated') or 'not yet')}; {done} of {selected} "
            f"selected cells done.</p><p><code>{_e(doc.get('command', ''))}</code></p>{stopped}"
            f"<table><tr><th>status</th><th>cells</th><th>meaning</th></tr>{legend}</table>")


def write_html(out_dir: Path, doc: dict[str, Any]) -> Path:
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mistral-lab release matrix</title>"
            f"<style>{STYLE}</style></head><body><h1>Findings by Mistral release</h1>{summary_html(doc)}"
            f"<h2>Cells</h2><p>Rows: the catalogued finding; columns: the Mistral release (and the options a "
            f"variant adds). Hover a cell for the rule that gave its status; each try links to its run's "
            f"report.</p>{matrix_html(doc, out_dir)}</body></html>")
    return write_text_atomic(out_dir / HTML_FILE, page)


__all__ = ["COLOURS", "HTML_FILE", "MEANING", "cell_html", "matrix_html", "summary_html", "write_html"]
