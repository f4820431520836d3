"""The report's verdict sections: why (one line each), the gates, the named anomalies placed against both
promise levels with their fault windows, and the promise of every fault window.

Anomalies link into the timeline: the start op of the execution they concern is outlined there and the
anomaly row links to it (#op-N). An anomaly that follows a matched RPC message lists it under its faults."""
from __future__ import annotations

import html
from typing import Any

from history.pairing import Operation
from history.anomaly import Anomaly


def _yes_no(value: Any) -> str:
    return {True: "inside", False: "<b>outside</b>"}.get(value, "n/a")


def start_ops(ops: list[Operation]) -> dict[str, int]:
    """execution id -> the index of the invoke that started it (the timeline's op anchor)."""
    return {str(op.key): op.call for op in ops if op.f == "start" and op.key is not None}


def reasons_html(results: dict[str, Any]) -> str:
    lines = results.get("reasons") or []
    if not lines:
        return "<p>Every checker and gate passed.</p>"
    return "<ul class='reasons'>" + "".join(f"<li>{html.escape(str(line))}</li>" for line in lines) + "</ul>"


def gates_html(results: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td><span class='verdict v-{str(gate.get('valid')).lower()}'>"
        f"{html.escape(str(gate.get('valid')))}</span></td><td>{html.escape(str(gate.get('reason') or _gate_line(name, gate)))}"
        f"</td></tr>" for name, gate in (results.get("gates") or {}).items())
    return f"<table><tr><th>gate</th><th>verdict</th><th>detail</th></tr>{rows}</table>" if rows else ""


def _gate_line(name: str, gate: dict[str, Any]) -> str:
    if name == "faults":
        return f"{gate.get('applied', 0)} of {gate.get('planned', 0)} planned faults applied"
    if name == "progress":
        return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in gate.items() if isinstance(v, int))
    return f"{gate.get('checked', 0)} SUCCESS executions compared with their workflows"


def anomalies_html(results: dict[str, Any], anchors: dict[str, int]) -> str:
    anomalies = results.get("anomalies") or []
    if not anomalies:
        return "<p>No anomaly.</p>"
    counts = ", ".join(f"{name}: {n}" for name, n in (results.get("anomaly_counts") or {}).items())
    head = (f"<p>{results.get('defect_count', 0)} defect(s), {results.get('ha_gap_count', 0)} HA gap(s) "
            f"(outside the designed promise, inside the spec's), {results.get('expected_degradation_count', 0)} "
            f"expected degradation; by class: {html.escape(counts)}</p>")
    rows = "".join(_anomaly_row(a, anchors) for a in anomalies[:300])
    return (head + "<table><tr><th>class / kind</th><th>defect</th><th>designed</th><th>spec</th>"
            "<th>faults</th><th>summary</th><th>where</th></tr>" + rows + "</table>")


def _anomaly_row(stored: dict[str, Any], anchors: dict[str, int]) -> str:
    anomaly = Anomaly.of(stored)
    faults = "; ".join(f"{f.label} (designed: {f.inside.get('designed')}, spec: {f.inside.get('spec')}"
                       + (f"; acted on {', '.join(f.acted_on)}" if f.acted_on else "") + ")"
                       for f in anomaly.faults) or "none"
    where = []
    op = anchors.get(str(anomaly.execution_id))
    if op is not None:
        where.append(f"<a href='#op-{op}'>start op #{op}</a>")
    if anomaly.nodes:
        where.append(html.escape(", ".join(anomaly.nodes)))
    if anomaly.unnamed_roles:
        where.append(html.escape(f"(any {', any '.join(anomaly.unnamed_roles)})"))
    css = " class='defect'" if anomaly.defect else ""
    return (f"<tr{css}><td>{html.escape(anomaly.cls)} / {html.escape(anomaly.kind)}</td>"
            f"<td>{'DEFECT' if anomaly.defect else 'no'}</td>"
            f"<td>{_yes_no(anomaly.inside.get('designed'))}</td><td>{_yes_no(anomaly.inside.get('spec'))}</td>"
            f"<td>{html.escape(faults)}{_rpc_cited(anomaly)}</td><td>{html.escape(anomaly.summary)}</td>"
            f"<td>{' '.join(where)}</td></tr>")


def _rpc_cited(anomaly: Anomaly) -> str:
    """The RPC messages the anomaly follows (checker.rpc.cite), one line each under its faults."""
    from checker.rpc import describe

    return "".join(f"<br><span class='rpc'>follows rpc message #{html.escape(str(m.get('index')))}: "
                   f"{html.escape(describe(m))}</span>" for m in anomaly.rpc_messages)


def promise_html(results: dict[str, Any]) -> str:
    promise = results.get("promise") or {}
    windows = promise.get("windows") or []
    if not promise:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(w['label'])}</td><td>{w.get('fault_s', 0):g}</td><td>{w.get('outage_s', 0):g}</td>"
        f"<td>{_yes_no(w['inside'].get('designed'))}: {html.escape(w['reasons'].get('designed', ''))}</td>"
        f"<td>{_yes_no(w['inside'].get('spec'))}: {html.escape(w['reasons'].get('spec', ''))}</td></tr>"
        for w in windows) or "<tr><td colspan=5>no fault was applied</td></tr>"
    return (f"<p>Judged at the <b>{html.escape(str(promise.get('level')))}</b> level; heartbeat window "
            f"{promise.get('heartbeat_window_s', 0):g} s.</p><table><tr><th>fault</th><th>fault s</th>"
            f"<th>outage s (with reconnect)</th><th>designed</th><th>spec</th></tr>{rows}</table>")


def marked_ops(results: dict[str, Any], anchors: dict[str, int]) -> set[int]:
    return {anchors[str(a["execution_id"])] for a in results.get("anomalies") or []
            if str(a.get("execution_id")) in anchors}


__all__ = ["anomalies_html", "gates_html", "marked_ops", "promise_html", "reasons_html", "start_ops"]
