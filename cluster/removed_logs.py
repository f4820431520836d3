"""The logs of the containers a scale-down removes: kept in the lab's state folder until a run moves them into
its own logs/removed/, so how a node stopped (a graceful stop's work, its errors) stays evidence."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

FOLDER = "removed-logs"


def keep(cluster: Any, nodes: list[str]) -> None:
    """Save each node's log before its container goes (a vanished container must not stop the scale-down)."""
    folder = cluster.state_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for node in nodes:
        try:
            text = cluster.logs(node)
        except Exception as exc:  # noqa: BLE001
            text = f"(log unavailable: {exc})\n"
        (folder / f"{node}-{time.time_ns()}.log").write_text(text)


def take(state_dir: Path) -> list[Path]:
    """The kept logs, oldest first; the caller moves or deletes them."""
    folder = state_dir / FOLDER
    return sorted(folder.glob("*.log"), key=lambda p: int(p.stem.rsplit("-", 1)[1])) if folder.is_dir() else []
