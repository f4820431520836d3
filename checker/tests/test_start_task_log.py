"""An IDLE task's start_task, received or never: read from the engine logs, said in the stuck anomaly."""
from __future__ import annotations

from pathlib import Path

from checker.start_task_log import idle_task_note, received_start_tasks

P1, P2 = "5f934dfb-0089-4efb-96e4-9f19853fc916", "f0677bcf-9f57-4986-b1a8-fc70af06764f"
LINE_23 = ("2026-12-07 17:20:07.911 2899 INFO mistral.engine.engine_server [None req-0a51 - - - - - -] "
           f"Received RPC request 'start_task' [task_ex_id={P2}, first_run=True]\n")
LINE_20 = ("2026-12-07 17:20:09.100 12 INFO mistral.engine.engine_server [-] "
           f"Received RPC request 'start_task'[task_ex_id={P1}, first_run=True]\n")


def _logs(tmp_path: Path, **files: str) -> Path:
    (tmp_path / "logs").mkdir()
    for name, text in files.items():
        (tmp_path / "logs" / f"{name.replace('_', '-')}.log").write_text(text)
    return tmp_path


def test_both_releases_log_lines_are_read_with_the_engine_and_time(tmp_path: Path) -> None:
    run = _logs(tmp_path, engine_1=LINE_23 + "unrelated 'start_task' mention\n", engine_2=LINE_20,
                api_1=LINE_23.replace(P2, "a" * 8 + P2[8:]))  # an API log never counts
    assert received_start_tasks(run) == {P2: "engine-1 17:20:07.911", P1: "engine-2 17:20:09.100"}


def test_without_engine_logs_nothing_is_claimed(tmp_path: Path) -> None:
    assert received_start_tasks(tmp_path) is None
    assert idle_task_note([{"id": P1, "name": "p_1"}], None) is None


def test_the_note_tells_a_lost_start_task_from_one_received(tmp_path: Path) -> None:
    received = received_start_tasks(_logs(tmp_path, engine_1=LINE_23))
    lost = idle_task_note([{"id": P1, "name": "p_1"}], received)
    assert lost == "IDLE task p_1: no engine handled its start_task (no engine log shows it received)"
    kept = idle_task_note([{"id": P2, "name": "p_2"}], received)
    assert kept == "IDLE task p_2: its start_task was received (engine-1 17:20:07.911), yet it never left IDLE"
