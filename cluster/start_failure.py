"""A node that dies while its lab comes up: the line that says why, and its whole log kept (a failed bring-up
removes the container, and with it the log)."""
from __future__ import annotations

import time
from pathlib import Path

from cluster.paths import state_root


def telling_line(log: str) -> str:
    """The line that says why a process stopped: the last error or exception line, else the last line (Mistral
    logs a clean "Stopping WSGI server" after the error that made it stop)."""
    lines = [line for line in log.strip().splitlines() if line.strip()]
    errors = [line for line in lines if " ERROR " in line or " CRITICAL " in line or line.startswith(
        ("Traceback", "oslo_config.", "ImportError", "ModuleNotFoundError")) or "Error:" in line]
    return (errors or lines or ["no output"])[-1].strip()


def keep_failed_log(lab: str, node: str, log: str) -> Path:
    """A node that died starting loses its container when the failed bring-up is removed: keep its log."""
    folder = state_root() / "failed-starts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{lab}-{node}-{time.strftime('%Y%m%dT%H%M%S')}.log"
    path.write_text(log)
    return path
