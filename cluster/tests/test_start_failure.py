"""A node that dies starting: the error line says why, and its whole log outlives the removed bring-up."""
from __future__ import annotations

from pathlib import Path

from cluster.start_failure import keep_failed_log, telling_line

MISTRAL_20_API_DEATH = """\
2026-12-07 20:10:45.233 7 INFO oslo_service.backend._eventlet.service [-] Starting 1 workers
Launching server components [api]...
2026-12-07 20:10:45.251 7 CRITICAL Mistral [-] Unhandled error: OSError: [Errno 22] Invalid argument
2026-12-07 20:10:45.251 7 ERROR Mistral     time.sleep(seconds)
2026-12-07 20:10:45.251 7 ERROR Mistral OSError: [Errno 22] Invalid argument
2026-12-07 20:10:45.363 16 INFO oslo.service.wsgi [-] Stopping WSGI server.
"""


def test_the_telling_line_is_the_last_error_not_the_clean_stop() -> None:
    assert telling_line(MISTRAL_20_API_DEATH).endswith("ERROR Mistral OSError: [Errno 22] Invalid argument")


def test_without_an_error_the_last_line_and_without_output_says_so() -> None:
    assert telling_line("starting\nstopped\n\n") == "stopped"
    assert telling_line("") == "no output"


def test_the_whole_log_is_kept_outside_the_lab_state(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MISTRAL_LAB_STATE", str(tmp_path))
    path = keep_failed_log("lab1", "api-1", MISTRAL_20_API_DEATH)
    assert path.read_text() == MISTRAL_20_API_DEATH
    assert path.name.startswith("lab1-api-1-") and "failed-starts" in str(path)
