"""report.html for one run: self-contained (no network), plus PNG plots beside it for bug trackers.

Reads only the run's files (history.jsonl, results.json, test.yaml), so `mistral-lab report RUN_DIR` can
re-render any stored run. The timeline is inline SVG: client ops per node and process, nemesis periods as
shaded bands, every anomaly marked and linked from the anomaly list.
"""
from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from history.faults import read_faults
from history.run_dir import HISTORY_FILE, REPORT_FILE, RunFiles, read_results, read_spec
from history.events import Event
from history.pairing import Operation, pair_operations
from history.reader import read_history
from lab.charts import pyplot
from lab.report_verdict import anomalies_html, gates_html, marked_ops, promise_html, reasons_html, start_ops

MAX_TIMELINE_OPS = 4000  # beyond this the SVG gets too heavy for a browser; the PNG still shows everything
COLORS = {"ok": "#2e7d32", "fail": "#c62828", "info": "#ef6c00"}


@dataclass
class NemesisPeriod:
    start_s: float
    end_s: float
    label: str


def load_run(run_dir: Path) -> tuple[list[Event], dict, dict]:
    events = read_history(run_dir / HISTORY_FILE) if (run_dir / HISTORY_FILE).exists() else []
    return events, read_results(run_dir), read_spec(run_dir)


def nemesis_periods(events: list[Event], start_wall: float = 0.0, snapshot_wall: float | None = None
                    ) -> list[NemesisPeriod]:
    """Fault periods as the verdict saw them (history.faults, the one reader of fault windows): from the start
    to the heal, or the rule that ended a fault whose heal failed, named in its label."""
    periods = []
    for window in read_faults(events, start_wall, snapshot_wall):
        if not window.applied:
            continue
        label = window.description or _describe_fault(window.fault, {"target": window.target})
        if window.end_rule != "healed":
            label += f" ({window.end_rule})"
        end_s = window.end_s if window.end_s is not None else window.start_s
        periods.append(NemesisPeriod(window.start_s, end_s, label))
    return sorted(periods, key=lambda p: p.start_s)


def _describe_fault(f: str, value: dict) -> str:
    target = value.get("target") or ""
    return f"{f} {target}".strip()


def client_ops(events: list[Event]) -> list[Operation]:
    return pair_operations([e for e in events if e.is_client])


def _anomalies(results: dict) -> list[dict]:
    """Every anomaly any checker reported, flattened to {checker, explanation, op_index?} for the report."""
    found: list[dict] = []
    for name, result in (results.get("checkers") or {}).items():
        found.extend({"checker": name, **entry} for entry in _checker_anomalies(result))
    return found


def _checker_anomalies(result: dict) -> list[dict]:
    entries: list[dict] = []
    counterexample = result.get("counterexample")
    if counterexample:
        op = counterexample.get("op") or {}
        entries.append({"explanation": f"key {counterexample.get('key')!r}: {counterexample.get('explanation')}",
                        "op_index": op.get("invoke_index")})
    for duplicate in result.get("duplicates") or []:
        legal = "legal: the action is idempotent" if duplicate.get("legal") else "ILLEGAL for a non-idempotent action"
        ids = duplicate.get("action_execution_id") or ", ".join(duplicate.get("action_executions") or [])
        entries.append({"explanation": f"{duplicate.get('kind')}: task {duplicate.get('task')!r} of execution "
                                       f"{duplicate.get('workflow_execution_id')} ran more than once "
                                       f"(action execution(s) {ids}); {legal}"})
    for key in ("phantoms", "missing"):
        for entry in result.get(key) or []:
            entries.append({"explanation": f"{entry.get('reason')}: action execution "
                                           f"{entry.get('action_execution_id')} (task {entry.get('task')!r}, "
                                           f"execution {entry.get('workflow_execution_id')})"})
    for stuck in result.get("stuck") or []:
        entries.append({"explanation": f"execution {stuck.get('id')} stuck in {stuck.get('state')}: "
                                       f"{json.dumps(stuck, default=str)[:400]}"})
    for ex_id in result.get("lost") or []:
        entries.append({"explanation": f"execution {ex_id}: the client's start was acknowledged but Mistral "
                                       "does not know it"})
    for entry in result.get("failed_but_created") or []:
        entries.append({"explanation": f"execution {entry.get('id')}: the start failed on {entry.get('node')} "
                                       f"({entry.get('error')}) but Mistral created it ({entry.get('state')})"})
    for cause, count in (result.get("causes") or {}).items():
        entries.append({"explanation": f"{count} execution(s) built to succeed ended in ERROR: {cause}"})
    if "consequences" in result:  # the rpc checker: what became of each matched message
        from checker.rpc import describe

        for message in result.get("messages") or []:
            entries.append({"explanation": f"{describe(message)}: {message.get('consequence')}"})
    return entries


def completion_summary(result: dict) -> str:
    """Every started execution accounted for: created (terminal by state, or stuck), never created, lost."""
    states = ", ".join(f"{n} {s}" for s, n in result["terminal"].items())
    never = result.get("never_created_count", len(result.get("never_created") or []))
    lost = result.get("lost_count", len(result.get("lost") or []))
    created = result.get("created", sum(result["terminal"].values()) + result.get("stuck_count", 0))
    return (f"{result.get('started')} started: {created} created ({states}; {result.get('stuck_count', 0)} stuck), "
            f"{never} never created (indeterminate starts that did not happen), {lost} lost")


def checker_summary(result: dict) -> str:
    """One human line per checker for the summary table."""
    if result.get("reason"):
        return str(result["reason"])
    if "terminal" in result:
        return completion_summary(result)
    if "duplicate_count" in result:
        dups = sum(result["duplicate_count"].values())
        return (f"{result.get('runs')} witnessed runs of {result.get('action_executions')} action executions; "
                f"{dups} duplicates, {result.get('phantom_count')} phantoms, {result.get('missing_count')} missing, "
                f"{result.get('interrupted_count')} cut short by a fault")
    if "consequences" in result:
        named = "; ".join(f"{n} x {kind}" for kind, n in result["consequences"].items())
        return f"{result.get('matched', 0)} matched RPC message(s)" + (f": {named}" if named else "")
    if "built_to_succeed" in result:
        return f"{result['built_to_succeed']} built to succeed: {result.get('errored')} ended in ERROR"
    if "model" in result and "ops" in result:
        return f"{result['ops']} ops over {result.get('keys')} keys against {result['model']}"
    if "ops" in result and isinstance(result["ops"], dict):
        parts = [f"{f}: {v.get('count')} ops, p50 {v.get('latency_ms', {}).get('p50', 0):.0f} ms"
                 for f, v in result["ops"].items()]
        return "; ".join(parts)
    return ""


# ------------------------------------------------------------------ PNG plots (matplotlib)
def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return buffer.getvalue()


def _legend(ax, **options: Any) -> None:
    """A legend only when something is labelled: matplotlib warns on the console about an empty one."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**options)


def _shade(ax, periods: list[NemesisPeriod]) -> None:
    for period in periods:
        ax.axvspan(period.start_s, max(period.end_s, period.start_s + 0.05), color="#9e9e9e", alpha=0.25, lw=0)


def plot_timeline(ops: list[Operation], periods: list[NemesisPeriod]) -> bytes:
    plt = pyplot()
    lanes = _lanes(ops)
    fig, ax = plt.subplots(figsize=(12, max(2.5, 0.25 * len(lanes) + 1.5)))
    _shade(ax, periods)
    end = max([op.ret_time or op.call_time for op in ops] + [p.end_s * 1e9 for p in periods] + [1]) / 1e9
    for op in ops:
        finish = (op.ret_time / 1e9) if op.ret_time is not None else end
        ax.plot([op.call_time / 1e9, finish], [lanes[_lane(op)]] * 2, color=COLORS.get(op.status, "#555"), lw=3,
                solid_capstyle="butt")
    ax.set_yticks(list(lanes.values()), list(lanes.keys()), fontsize=7)
    ax.set_xlabel("seconds since run start (grey bands: faults active)")
    ax.set_title("client operations per node/process: green ok, red fail, orange info (indeterminate)")
    return _png(fig)


def plot_latency(ops: list[Operation], periods: list[NemesisPeriod]) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(12, 4))
    _shade(ax, periods)
    for f in sorted({op.f for op in ops}):
        points = [(op.call_time / 1e9, (op.ret_time - op.call_time) / 1e6) for op in ops
                  if op.f == f and op.ret_time is not None]
        if points:
            ax.scatter(*zip(*points), s=6, label=f)
    ax.set_yscale("log")
    ax.set_xlabel("seconds since run start")
    ax.set_ylabel("latency (ms)")
    _legend(ax, fontsize=7, loc="upper right")
    ax.set_title("latency of completed operations")
    return _png(fig)


def plot_throughput(ops: list[Operation], periods: list[NemesisPeriod]) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(12, 3))
    _shade(ax, periods)
    for status in ("ok", "fail", "info"):
        seconds = [int((op.ret_time or op.call_time) / 1e9) for op in ops if op.status == status]
        if seconds:
            width = max(seconds) + 1
            counts = [0] * width
            for second in seconds:
                counts[second] += 1
            ax.step(range(width), counts, where="post", color=COLORS[status], label=status)
    ax.set_xlabel("seconds since run start")
    ax.set_ylabel("ops/s")
    _legend(ax, fontsize=7)
    ax.set_title("throughput by outcome")
    return _png(fig)


# ------------------------------------------------------------------ SVG timeline
def _lane(op: Operation) -> str:
    return f"{op.node or '?'} / p{op.process}"


def _lanes(ops: list[Operation]) -> dict[str, int]:
    """One lane per (node, process), grouped by node, processes in numeric order."""
    order = sorted({(op.node or "?", op.process) for op in ops}, key=lambda lane: (lane[0], str(lane[1]).zfill(9)))
    return {f"{node} / p{process}": i for i, (node, process) in enumerate(order)}


def svg_timeline(ops: list[Operation], periods: list[NemesisPeriod], marked: set[int]) -> str:
    shown = ops[:MAX_TIMELINE_OPS]
    lanes = _lanes(shown)
    end_s = max([(op.ret_time or op.call_time) / 1e9 for op in shown] + [p.end_s for p in periods] + [1.0])
    width, left, lane_h = 1100, 130, 14
    height = lane_h * len(lanes) + 40

    def x(seconds: float) -> float:
        return left + (width - left - 10) * seconds / end_s

    parts = [f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">']
    for period in periods:
        parts.append(f'<rect class="nemesis" x="{x(period.start_s):.1f}" y="0" '
                     f'width="{max(2.0, x(period.end_s) - x(period.start_s)):.1f}" height="{height - 20}">'
                     f'<title>{html.escape(period.label)}: {period.start_s:.1f}-{period.end_s:.1f} s</title></rect>')
    for name, row in lanes.items():
        parts.append(f'<text x="2" y="{row * lane_h + 11}" class="lane">{html.escape(name)}</text>')
    for op in shown:
        finish = (op.ret_time / 1e9) if op.ret_time is not None else end_s
        start = op.call_time / 1e9
        mark = ' class="anomaly"' if op.call in marked else ""
        ident = f' id="op-{op.call}"'
        tip = (f"#{op.call} p{op.process} {op.f} key={op.key} value={json.dumps(op.value, default=str)[:80]} "
               f"-> {op.status} ({start:.3f}-{finish:.3f} s)")
        parts.append(f'<rect{ident}{mark} x="{x(start):.1f}" y="{lanes[_lane(op)] * lane_h + 2}" '
                     f'width="{max(1.5, x(finish) - x(start)):.1f}" height="{lane_h - 4}" '
                     f'fill="{COLORS.get(op.status, "#555")}"><title>{html.escape(tip)}</title></rect>')
    for tick in range(0, int(end_s) + 1, max(1, int(end_s) // 10 or 1)):
        parts.append(f'<text x="{x(tick):.1f}" y="{height - 5}" class="tick">{tick}s</text>')
    parts.append("</svg>")
    note = (f"<p class='note'>Showing the first {MAX_TIMELINE_OPS} of {len(ops)} operations; "
            "timeline.png has them all.</p>") if len(ops) > MAX_TIMELINE_OPS else ""
    return note + "".join(parts)


# ------------------------------------------------------------------ HTML
CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222} h1{margin:0 0 .3em}
.verdict{display:inline-block;padding:.2em .7em;border-radius:4px;color:#fff;font-weight:bold}
.defect td{background:#ffebee}.v-true{background:#2e7d32}.v-false{background:#c62828}.v-unknown{background:#ef6c00}.v-interrupted{background:#6a1b9a}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;font-size:.9em;text-align:left}
.nemesis{fill:#9e9e9e;opacity:.3}.anomaly{stroke:#000;stroke-width:2}.anomaly:target{stroke:#d500f9;stroke-width:4}
.lane,.tick{font-size:9px;font-family:monospace}.note{color:#666;font-size:.85em}
#timeline-box{overflow-x:auto;border:1px solid #ddd}
img{max-width:100%;border:1px solid #ddd;margin:.3em 0}
"""


def _verdict_label(valid: Any) -> str:
    return {True: "VALID", False: "INVALID", "unknown": "UNKNOWN"}.get(valid, str(valid).upper())


def catalogue_html(results: dict) -> str:
    """The run's defects against the findings catalogue (results.json known_findings / new_defects)."""
    known, new = results.get("known_findings") or [], results.get("new_defects") or []
    if not known and not new:
        return ""
    items = "".join(f"<li><b style='color:#c62828'>NEW</b> defect {html.escape(str(d.get('class')))}/"
                    f"{html.escape(str(d.get('kind')))}: {html.escape(str(d.get('summary')))}</li>" for d in new)
    items += "".join(f"<li>known: <b>{html.escape(k['id'])}</b> {html.escape(k['title'])} (anomalies "
                     f"{', '.join(f'#{i}' for i in k.get('anomalies') or [])})</li>" for k in known)
    after = _verdict_label(results.get("verdict_after_catalogue"))
    return (f"<h2>Known and new defects</h2><p>Verdict with known findings set aside: <b>{after}</b> "
            f"(the raw verdict above counts every defect).</p><ul>{items}</ul>")


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def render_html(run_dir: Path, events: list[Event], results: dict, spec: dict,
                pngs: dict[str, bytes]) -> str:
    ops = client_ops(events)
    files = RunFiles(Path(run_dir))
    periods = nemesis_periods(events, files.start_wall, files.snapshot_wall)
    anomalies = _anomalies(results)
    anchors = start_ops(ops)
    marked = {a["op_index"] for a in anomalies if isinstance(a.get("op_index"), int)} | marked_ops(results, anchors)
    valid = results.get("valid", "unknown")
    css_class = "interrupted" if results.get("interrupted") else str(valid).lower()
    label = _verdict_label(valid) + (" (interrupted)" if results.get("interrupted") else "")
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td><span class='verdict v-{str(r.get('valid')).lower()}'>"
        f"{_verdict_label(r.get('valid'))}</span></td><td>{html.escape(checker_summary(r))}</td></tr>"
        for name, r in (results.get("checkers") or {}).items())
    anomaly_items = "".join(
        f"<li><b>{html.escape(a['checker'])}</b>: {html.escape(str(a.get('explanation', '')))}"
        + (f" — <a href='#op-{a['op_index']}'>op #{a['op_index']} in the timeline</a>"
           if isinstance(a.get("op_index"), int) else "") + "</li>" for a in anomalies) or "<li>none</li>"
    faults = "".join(f"<tr><td>{p.start_s:.1f}</td><td>{p.end_s:.1f}</td><td>{html.escape(p.label)}</td></tr>"
                     for p in periods) or "<tr><td colspan=3>no faults</td></tr>"
    quantiles = _latency_rows(ops)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>mistral-lab {html.escape(run_dir.name)}</title>
<style>{CSS}</style></head><body>
<h1>{html.escape(str(spec.get('name', 'run')))} <span class="verdict v-{css_class}">{label}</span></h1>
<p>run <code>{html.escape(str(run_dir))}</code>; seed {spec.get('seed')}; {len(ops)} client ops,
{len(periods)} fault periods; {html.escape(str(results.get('note', '')))}</p>
<h2>Why</h2>{reasons_html(results)}{catalogue_html(results)}
<h2>Named anomalies</h2>{anomalies_html(results, anchors)}
<h2>Promise</h2>{promise_html(results)}
<h2>Gates</h2>{gates_html(results)}
<h2>Checkers</h2><table><tr><th>checker</th><th>verdict</th><th>summary</th></tr>{rows}</table>
<h2>Checker findings</h2><ul>{anomaly_items}</ul>
<h2>Timeline</h2><p class="note">Bars are client operations (green ok, red fail, orange info = indeterminate,
drawn to the end); grey bands are faults; outlined bars are anomalies. Hover for details.</p>
<div id="timeline-box">{svg_timeline(ops, periods, marked)}</div>
<h2>Faults</h2><table><tr><th>from (s)</th><th>to (s)</th><th>fault</th></tr>{faults}</table>
<h2>Latency</h2><table><tr><th>op</th><th>count</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>
{quantiles}</table>{_img(pngs['latency'], 'latency')}
<h2>Throughput</h2>{_img(pngs['throughput'], 'throughput')}
<h2>Test spec</h2><pre>{html.escape(yaml.safe_dump(spec, sort_keys=False))}</pre>
</body></html>"""


def _latency_rows(ops: list[Operation]) -> str:
    rows = []
    for f in sorted({op.f for op in ops}):
        values = sorted((op.ret_time - op.call_time) / 1e6 for op in ops if op.f == f and op.ret_time is not None)
        if not values:
            continue

        def q(p: float) -> float:
            return values[min(len(values) - 1, int(p * len(values)))]

        rows.append(f"<tr><td>{html.escape(f)}</td><td>{len(values)}</td><td>{q(.5):.1f}</td><td>{q(.95):.1f}</td>"
                    f"<td>{q(.99):.1f}</td><td>{values[-1]:.1f}</td></tr>")
    return "".join(rows)


def render_report(run_dir: Path) -> Path:
    """Write report.html and timeline/latency/throughput PNGs into the run dir; returns the HTML path."""
    events, results, spec = load_run(run_dir)
    ops = client_ops(events)
    files = RunFiles(Path(run_dir))
    periods = nemesis_periods(events, files.start_wall, files.snapshot_wall)
    pngs = {"timeline": plot_timeline(ops, periods), "latency": plot_latency(ops, periods),
            "throughput": plot_throughput(ops, periods)}
    for name, png in pngs.items():
        (run_dir / f"{name}.png").write_bytes(png)
    out = run_dir / REPORT_FILE
    out.write_text(render_html(run_dir, events, results, spec, pngs))
    return out
