"""A self-contained HTML view of an invalid key: ops as bars on process lanes, failing op marked.

Huge histories are cut to a window of ops around the failing op (MAX_OPS_DRAWN), so the page stays
small. No scripts, no network: one file with inline SVG and CSS.
"""
from __future__ import annotations

import html
import json
from typing import Any

from checker.check import CheckResult
from history.pairing import Operation

MAX_OPS_DRAWN = 400
LANE_HEIGHT = 22
LEFT_MARGIN = 90
WIDTH = 1200


def _window(ops: list[Operation], failing_id: int) -> list[Operation]:
    """At most MAX_OPS_DRAWN ops, the ones invoked nearest to the failing op."""
    if len(ops) <= MAX_OPS_DRAWN:
        return ops
    centre = next((i for i, op in enumerate(ops) if op.id == failing_id), 0)
    start = max(0, min(centre - MAX_OPS_DRAWN // 2, len(ops) - MAX_OPS_DRAWN))
    return ops[start:start + MAX_OPS_DRAWN]


def _colour(op: Operation, failing_id: int, linearized: set[int], concurrent: set[int]) -> str:
    if op.id == failing_id:
        return "#d62728"
    if op.id in concurrent:
        return "#ff9f1c" if op.id not in linearized else "#8fbc5a"
    if op.id in linearized:
        return "#2ca02c"
    return "#9aa5b1"


def _svg(ops: list[Operation], counterexample: dict[str, Any]) -> str:
    failing_id = counterexample["op"]["id"]
    linearized = {op["id"] for prefix in counterexample["longest_linearizations"][:1] for op in prefix["ops"]}
    concurrent = {op["id"] for op in counterexample["concurrent"]}
    shown = _window(ops, failing_id)
    if not shown:
        return "<p>(no operations)</p>"
    first = min(op.call for op in shown)
    last = max(max(op.call, op.ret or op.call) for op in shown) + 1
    scale = (WIDTH - LEFT_MARGIN - 20) / max(1, last - first)
    lanes = {p: i for i, p in enumerate(sorted({op.process for op in shown}, key=str))}
    height = LANE_HEIGHT * len(lanes) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-size="11">']
    for process, lane in lanes.items():
        y = 20 + lane * LANE_HEIGHT
        parts.append(f'<text x="4" y="{y + 12}">process {html.escape(str(process))}</text>')
        parts.append(f'<line x1="{LEFT_MARGIN}" x2="{WIDTH - 10}" y1="{y + 16}" y2="{y + 16}" stroke="#eee"/>')
    for op in shown:
        x0 = LEFT_MARGIN + (op.call - first) * scale
        end = op.ret if op.ret is not None else last
        width = max(3.0, (end - op.call) * scale)
        y = 20 + lanes[op.process] * LANE_HEIGHT
        colour = _colour(op, failing_id, linearized, concurrent)
        dash = ' stroke-dasharray="3,2" fill-opacity="0.35"' if op.ret is None else ""
        outline = ' stroke="#000" stroke-width="2"' if op.id == failing_id else ' stroke="#555"'
        label = html.escape(f"#{op.id} {op.f} {json.dumps(op.value, default=str)} [{op.status}]")
        parts.append(
            f'<g><title>{label} (events {op.call}-{op.ret if op.ret is not None else "end"})</title>'
            f'<rect x="{x0:.1f}" y="{y}" width="{width:.1f}" height="14" rx="2" fill="{colour}"{outline}{dash}/>'
            f'<text x="{x0 + 2:.1f}" y="{y + 11}" fill="#000">{html.escape(op.f)}</text></g>'
        )
    parts.append("</svg>")
    note = f"<p>Showing {len(shown)} of {len(ops)} ops around the failing op.</p>" if len(shown) < len(ops) else ""
    return note + "".join(parts)


def _prefix_table(counterexample: dict[str, Any]) -> str:
    rows = []
    for prefix in counterexample["longest_linearizations"]:
        steps = " &rarr; ".join(
            html.escape(f"p{op['process']}: {op['description']}") for op in prefix["ops"]
        )
        rows.append(f"<li>{prefix['length']} ops (last {len(prefix['ops'])} shown): {steps}</li>")
    return "<ol>" + "".join(rows) + "</ol>"


def render(result: CheckResult) -> str:
    example = result.counterexample or {}
    title = f"Linearizability counterexample: {result.file or 'history'}"
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p><b>Model</b> {html.escape(result.model)} &middot; <b>key</b> {html.escape(repr(example.get('key')))}"
        f" &middot; {result.ops} ops, {result.keys} keys</p>",
        f"<p class=explain>{html.escape(example.get('explanation', ''))}</p>",
        "<p><span style='color:#d62728'>&#9632;</span> failing op &nbsp; "
        "<span style='color:#2ca02c'>&#9632;</span> in the longest linearization &nbsp; "
        "<span style='color:#ff9f1c'>&#9632;</span> concurrent, not linearized &nbsp; dashed: info (open)</p>",
        _svg(result.failing_ops, example) if example else "",
        "<h2>Longest partial linearizations</h2>",
        _prefix_table(example) if example else "",
        "<h2>Counterexample (JSON)</h2>",
        f"<pre>{html.escape(json.dumps(example, indent=2, default=str))}</pre>",
    ]
    style = "body{font-family:sans-serif;margin:1em}pre{background:#f6f6f6;padding:1em;overflow:auto}.explain{font-size:1.1em}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )


def write_report(result: CheckResult, path: str) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(render(result))
    return path
