"""Benchmark results as people read them: HTML + PNG report, a Markdown table, honest notes, and the
comparison of two result files (bench-compare) with a noise bound taken from the repeats."""
from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.errors import LabError
from lab.charts import pyplot

CONTENDED_PCT = 50.0       # other processes using half a core or more: measurements are not comparable
NOISY_REL_RANGE = 0.2      # repeats further apart than 20 % of their mean are called out as noisy
DEFAULT_NOISE_FLOOR = 0.05  # bench-compare never trusts differences below 5 %


# ------------------------------------------------------------------ loading
def load_results(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LabError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise LabError(f"{path}: not a benchmark JSON file ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        raise LabError(f"{path}: not a benchmark JSON file (no \"results\" list)")
    for index, entry in enumerate(document["results"]):
        missing = [k for k in ("workflow", "topology", "nemesis", "valid") if k not in entry]
        if missing:
            raise LabError(f"{path}: results[{index}] lacks {', '.join(missing)}")
    return document


def entry_key(entry: dict[str, Any]) -> tuple[str, str, str]:
    return entry["workflow"], entry["topology"], entry["nemesis"]


def _fmt(value: Any, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}{suffix}"


def _stat(entry: dict[str, Any], section: str, key: str) -> float | None:
    return (entry.get(section) or {}).get(key)


def _rel(entry: dict[str, Any], key: str) -> float | None:
    return ((entry.get("spread") or {}).get(key) or {}).get("rel_range")


def _topology_order(document: dict[str, Any]) -> list[str]:
    listed = document.get("params", {}).get("topologies") or []
    seen = list(dict.fromkeys([*listed, *(e["topology"] for e in document["results"])]))
    return seen


# ------------------------------------------------------------------ notes and tables
def notes(document: dict[str, Any]) -> list[str]:
    """Plain sentences a reader must see next to the numbers: CPU-bound runs, invalid runs, noisy repeats."""
    cores = document.get("machine", {}).get("cores", 1)
    found = []
    bound = [e for e in document["results"] if (e.get("cpu") or {}).get("cpu_bound")]
    if bound:
        worst = max(bound, key=lambda e: e["cpu"]["total_mean_pct"])
        found.append(
            f"CPU-bound: in {len(bound)}/{len(document['results'])} measurements the lab's containers (or the whole "
            f"machine, other tenants included) used >= 80 % of all {cores} cores (worst: {worst['workflow']} @ "
            f"{worst['topology']}, lab {worst['cpu']['total_mean_pct']:.0f} %, machine "
            f"{_fmt(worst['cpu'].get('host_busy_pct'), 0)} % of {cores * 100} %). Adding nodes there cannot add "
            "throughput; it only adds processes competing for the same cores.")
    contended = [e for e in document["results"] if (others_pct(e) or 0.0) >= CONTENDED_PCT]
    if contended:
        listed = ", ".join(f"{e['workflow']} @ {e['topology']} ({others_pct(e):.0f} %)" for e in contended)
        found.append(f"Contended: processes outside this lab (other labs, the benchmark client, dockerd) used half a "
                     f"core or more during {listed}. Differences between topologies measured under different "
                     "outside load are partly the machine, not Mistral; rerun on a quiet machine to compare.")
    for entry in document["results"]:
        if not entry["valid"]:
            found.append(f"INVALID {entry['workflow']} @ {entry['topology']} (nemesis {entry['nemesis']}): "
                         f"{entry.get('invalid_reason', 'no valid repeats')}; its figures exclude those repeats.")
    noisy = [f"{e['workflow']} @ {e['topology']}" + (f" under {e['nemesis']}" if e["nemesis"] != "none" else "")
             for e in document["results"]
             if (_rel(e, "tasks_per_s") or 0) > NOISY_REL_RANGE or (_rel(e, "exec_time_mean") or 0) > NOISY_REL_RANGE]
    if noisy:
        found.append(f"Noisy: repeats differ by more than {NOISY_REL_RANGE:.0%} of their mean for "
                     f"{', '.join(noisy)}; treat differences smaller than that spread as noise.")
    return found


def others_pct(entry: dict[str, Any]) -> float | None:
    """CPU % the machine spent outside this lab's containers during a measurement."""
    cpu = entry.get("cpu") or {}
    if cpu.get("host_busy_pct") is None:
        return None
    return max(0.0, cpu["host_busy_pct"] - cpu.get("total_mean_pct", 0.0))


TABLE_HEADER = ("workflow", "topology", "nemesis", "valid", "samples", "exec mean s", "exec p50 s", "exec p95 s",
                "exec min-max s", "per-task mean s", "cpu s/task", "tasks/s", "exec/s", "tasks/s repeats min-max",
                "CPU % lab / machine (of cores)", "mem MB")


def table_rows(document: dict[str, Any]) -> list[tuple[str, ...]]:
    cores = document.get("machine", {}).get("cores", 1)
    order = {t: i for i, t in enumerate(_topology_order(document))}
    rows = []
    for e in sorted(document["results"], key=lambda e: (e["workflow"], order.get(e["topology"], 99), e["nemesis"])):
        cpu = e.get("cpu") or {}
        rows.append((
            e["workflow"], e["topology"], e["nemesis"], "yes" if e["valid"] else "NO", str(e.get("samples", 0)),
            _fmt(_stat(e, "exec_time_s", "mean")), _fmt(_stat(e, "exec_time_s", "p50")),
            _fmt(_stat(e, "exec_time_s", "p95")),
            f"{_fmt(_stat(e, 'exec_time_s', 'min'))}-{_fmt(_stat(e, 'exec_time_s', 'max'))}",
            _fmt(_stat(e, "per_task_s", "mean")), _fmt((cpu.get("cpu_s_per_task") or {}).get("total"), 3),
            _fmt(e.get("tasks_per_s"), 1), _fmt(e.get("executions_per_s"), 2),
            _range(e, "tasks_per_s", 1),
            f"{_fmt(cpu.get('total_mean_pct'), 0)} / {_fmt(cpu.get('host_busy_pct'), 0)} (of {cores * 100})"
            + (" CPU-bound" if cpu.get("cpu_bound") else ""),
            _fmt((e.get("memory_mb") or {}).get("total_max"), 0),
        ))
    return rows


def _range(entry: dict[str, Any], key: str, digits: int) -> str:
    s = (entry.get("spread") or {}).get(key)
    return f"{_fmt(s['min'], digits)}-{_fmt(s['max'], digits)}" if s else "-"


def host_lines(document: dict[str, Any]) -> list[str]:
    """One line per result measured on several machines: each host's share of the lab's CPU and its nodes."""
    lines = []
    for e in document["results"]:
        hosts = (e.get("cpu") or {}).get("by_host") or {}
        if hosts:
            parts = [f"{host} {_fmt(h.get('mean_pct'), 0)} % ({', '.join(h.get('nodes') or [])})"
                     for host, h in sorted(hosts.items())]
            lines.append(f"{e['workflow']} @ {e['topology']} ({e['nemesis']}): " + "; ".join(parts))
    return lines


def markdown_table(document: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(document)]
    return "\n".join(lines)


# ------------------------------------------------------------------ PNG
def _series(document: dict[str, Any], nemesis: str, value) -> dict[str, tuple[list[int], list[float], list]]:
    """workflow -> (x positions, values, (low, high) error) over topologies for one nemesis setting."""
    order = _topology_order(document)
    out: dict[str, tuple[list[int], list[float], list]] = {}
    for e in document["results"]:
        if e["nemesis"] != nemesis:
            continue
        point = value(e)
        if point is None:
            continue
        xs, ys, errs = out.setdefault(e["workflow"], ([], [], []))
        xs.append(order.index(e["topology"]))
        ys.append(point[0])
        errs.append(point[1])
    return out


def _tput(e: dict[str, Any]):
    s = (e.get("spread") or {}).get("tasks_per_s")
    if e.get("tasks_per_s") is None:
        return None
    return e["tasks_per_s"], _bar(e["tasks_per_s"], s)


def _per_task(e: dict[str, Any]):
    s = (e.get("spread") or {}).get("per_task_mean")
    mean = _stat(e, "per_task_s", "mean")
    if mean is None:
        return None
    return mean, _bar(mean, s)


def _bar(value: float, s: dict | None) -> tuple[float, float]:
    """Error bar from the repeats' min-max around a value (clamped: a pooled mean may sit off-centre)."""
    return (max(0.0, value - s["min"]), max(0.0, s["max"] - value)) if s else (0.0, 0.0)


def _plot_lines(ax, document: dict[str, Any], value, ylabel: str, title: str) -> None:
    nemeses = sorted({e["nemesis"] for e in document["results"]}, key=lambda n: n != "none")
    workflows = sorted({e["workflow"] for e in document["results"]})
    colours = {w: f"C{i % 10}" for i, w in enumerate(workflows)}  # one colour per workflow, dashed under faults
    for nemesis in nemeses:
        for workflow, (xs, ys, errs) in sorted(_series(document, nemesis, value).items()):
            label = workflow if nemesis == "none" else f"{workflow} under {nemesis}"
            yerr = [[lo for lo, _ in errs], [hi for _, hi in errs]]
            ax.errorbar(xs, ys, yerr=yerr, marker="o" if nemesis == "none" else "s", capsize=3, label=label,
                        color=colours[workflow], linestyle="-" if nemesis == "none" else "--")
    order = _topology_order(document)
    ax.set_xticks(range(len(order)), order)
    ax.set_xlabel("topology (apis x engines x executors)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _plot_cpu(ax, document: dict[str, Any]) -> None:
    """Stacked CPU by role per topology (fault-free runs, mean over workflows) against the core count."""
    order = _topology_order(document)
    cores = document.get("machine", {}).get("cores", 1)
    roles = sorted({r for e in document["results"] for r in ((e.get("cpu") or {}).get("by_role") or {})})
    bottom = [0.0] * len(order)
    for role in roles:
        heights = []
        for topology in order:
            values = [((e.get("cpu") or {}).get("by_role") or {}).get(role, {}).get("mean_pct", 0.0)
                      for e in document["results"] if e["topology"] == topology and e["nemesis"] == "none"]
            heights.append(sum(values) / len(values) if values else 0.0)
        ax.bar(range(len(order)), heights, bottom=bottom, label=role)
        bottom = [b + h for b, h in zip(bottom, heights)]
    host = []
    for topology in order:
        values = [(e.get("cpu") or {}).get("host_busy_pct") for e in document["results"]
                  if e["topology"] == topology and e["nemesis"] == "none"]
        values = [v for v in values if v is not None]
        host.append(sum(values) / len(values) if values else None)
    if any(v is not None for v in host):
        ax.plot(range(len(order)), host, "k_", markersize=40, mew=2, label="whole machine (all tenants)")
    ax.axhline(cores * 100, color="red", linestyle=":", label=f"{cores} cores")
    ax.set_xticks(range(len(order)), order)
    ax.set_ylabel("CPU % (100 = one core)")
    ax.set_ylim(0, cores * 100 * 1.1)
    ax.set_title("mean CPU by role (fault-free, mean over workflows)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: the bars fill the axes


def plot_png(document: dict[str, Any]) -> bytes:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    _plot_lines(axes[0], document, _tput, "tasks/s", f"throughput at concurrency "
                f"{document.get('params', {}).get('concurrency', '?')} (bars: repeat min-max)")
    _plot_lines(axes[1], document, _per_task, "seconds", "processing time per task, mean (bars: repeat min-max)")
    _plot_cpu(axes[2], document)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


# ------------------------------------------------------------------ HTML
def render_html(document: dict[str, Any], png: bytes, png_name: str) -> str:
    machine = document.get("machine", {})
    params = document.get("params", {})
    header = "".join(f"<th>{html.escape(h)}</th>" for h in TABLE_HEADER)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in table_rows(document))
    note_items = "".join(f"<li>{html.escape(n)}</li>" for n in notes(document)) or "<li>none</li>"
    definitions = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>"
                          for k, v in (document.get("definitions") or {}).items())
    roles = _role_rows(document)
    by_host = "".join(f"<li>{html.escape(line)}</li>" for line in host_lines(document))
    by_host = f"<h2>CPU by host (mean CPU % of the lab's containers on it; 100 = one core)</h2><ul>{by_host}</ul>" \
        if by_host else ""
    image = base64.b64encode(png).decode()
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>mistral-lab bench</title>
<style>body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}} th{{background:#eee}}
.notes li{{margin:.3em 0}}</style></head><body>
<h1>Mistral scaling benchmark</h1>
<p>Mistral {html.escape(str(document.get('mistral_version')))} on {machine.get('cores')} cores /
{machine.get('mem_gb')} GB; {html.escape(document.get('created', ''))}.
Workflows {html.escape(', '.join(params.get('workflows', [])))}, n={params.get('n')}, x={params.get('x')},
action sleep {params.get('seconds')} s, concurrency {params.get('concurrency')}, {params.get('repeat')} repeats of
{params.get('executions')} executions. {html.escape((document.get('cluster') or {}).get('method', ''))}.</p>
<h2>Read this first</h2><ul class="notes">{note_items}</ul>
<p><img src="data:image/png;base64,{image}" alt="throughput, per-task time and CPU against topology"
style="max-width:100%"><br><a href="{html.escape(png_name)}">{html.escape(png_name)}</a></p>
<h2>Results</h2><table><tr>{header}</tr>{rows}</table>
<h2>CPU and memory by role (mean CPU % / max memory MB)</h2>{roles}
{by_host}
<h2>Definitions</h2><ul>{definitions}</ul>
</body></html>
"""


def _role_rows(document: dict[str, Any]) -> str:
    roles = sorted({r for e in document["results"] for r in ((e.get("cpu") or {}).get("by_role") or {})})
    head = "".join(f"<th>{html.escape(r)}</th>" for r in roles)
    body = ""
    for e in document["results"]:
        cpu = (e.get("cpu") or {}).get("by_role") or {}
        mem = (e.get("memory_mb") or {}).get("by_role") or {}
        cells = "".join(f"<td>{_fmt(cpu.get(r, {}).get('mean_pct'), 0)} / {_fmt(mem.get(r), 0)}</td>" for r in roles)
        body += (f"<tr><td>{html.escape(e['workflow'])}</td><td>{html.escape(e['topology'])}</td>"
                 f"<td>{html.escape(e['nemesis'])}</td>{cells}</tr>")
    return f"<table><tr><th>workflow</th><th>topology</th><th>nemesis</th>{head}</tr>{body}</table>"


def write_report(document: dict[str, Any], json_path: Path) -> tuple[Path, Path]:
    """HTML and PNG beside the JSON file (same stem)."""
    png = plot_png(document)
    png_path = json_path.with_suffix(".png")
    html_path = json_path.with_suffix(".html")
    png_path.write_bytes(png)
    html_path.write_text(render_html(document, png, png_path.name))
    return html_path, png_path


# ------------------------------------------------------------------ compare
@dataclass
class Comparison:
    key: tuple[str, str, str]
    status: str                       # ok, regression, improvement, invalid, missing, baseline-invalid
    exec_ratio: float | None = None   # B/A of mean execution time (> 1: slower)
    tput_ratio: float | None = None   # B/A of tasks/s (< 1: less throughput)
    exec_bound: float | None = None   # relative noise bound for exec time
    tput_bound: float | None = None

    @property
    def regression(self) -> bool:
        return self.status in ("regression", "invalid")


def noise_bound(a: dict[str, Any], b: dict[str, Any], key: str, floor: float) -> float:
    """Relative differences within the repeats' spread of both runs (sum of their rel_ranges) are noise."""
    return max(floor, (_rel(a, key) or 0.0) + (_rel(b, key) or 0.0))


def compare_entries(a: dict[str, Any], b: dict[str, Any], floor: float = DEFAULT_NOISE_FLOOR) -> Comparison:
    key = entry_key(a)
    if not a["valid"]:
        return Comparison(key, "baseline-invalid")
    if not b["valid"]:
        return Comparison(key, "invalid")
    exec_ratio = _stat(b, "exec_time_s", "mean") / _stat(a, "exec_time_s", "mean")
    tput_ratio = b["tasks_per_s"] / a["tasks_per_s"]
    exec_bound = noise_bound(a, b, "exec_time_mean", floor)
    tput_bound = noise_bound(a, b, "tasks_per_s", floor)
    worse = exec_ratio > 1 + exec_bound or tput_ratio < 1 / (1 + tput_bound)
    better = exec_ratio < 1 / (1 + exec_bound) or tput_ratio > 1 + tput_bound
    status = "regression" if worse else "improvement" if better else "ok"
    return Comparison(key, status, exec_ratio, tput_ratio, exec_bound, tput_bound)


def compare(a: dict[str, Any], b: dict[str, Any], floor: float = DEFAULT_NOISE_FLOOR) -> list[Comparison]:
    """Match entries by (workflow, topology, nemesis); entries only one side has are reported as missing."""
    left = {entry_key(e): e for e in a["results"]}
    right = {entry_key(e): e for e in b["results"]}
    if not set(left) & set(right):
        raise LabError("the two result files share no (workflow, topology, nemesis) entry; nothing to compare")
    out = []
    for key in list(dict.fromkeys([*left, *right])):
        if key in left and key in right:
            out.append(compare_entries(left[key], right[key], floor))
        else:
            out.append(Comparison(key, "missing"))
    return out


__all__ = ["Comparison", "compare", "compare_entries", "host_lines", "load_results", "markdown_table", "noise_bound", "notes",
           "plot_png", "render_html", "table_rows", "write_report"]
