"""The log checker on hand-written oslo.log snippets: every pattern, record grouping, outages and verdicts."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from checker.logs import check_logs

SAMPLE = Path(__file__).parent / "data" / "logs" / "sample"
START = 1795611480.0  # 2026-11-25 12:58:00 UTC
CID_A = "0d7c5a36-6a51-4b8e-9f5c-1a2b3c4d5e6f"
CID_B = "5e2f9a10-77c4-4a0b-b1d2-93e4f5a6b7c8"
RABBIT = "oslo.messaging._drivers.impl_rabbit"


def run_dir(tmp_path: Path, logs: dict[str, str], start_wall: float | None = START) -> Path:
    (tmp_path / "logs").mkdir(parents=True, exist_ok=True)
    for node, text in logs.items():
        (tmp_path / "logs" / f"{node}.log").write_text(text)
    if start_wall is not None:
        (tmp_path / "run.json").write_text(json.dumps({"start_wall": start_wall}))
    return tmp_path


def line(second: float, message: str, level: str = "ERROR", name: str = "mistral.engine", pid: int = 7,
         context: str = "[-]") -> str:
    """One oslo.log record header at 12:58:00 + `second`."""
    minute, sec = divmod(second, 60)
    stamp = f"2026-11-25 12:{58 + int(minute):02d}:{sec:06.3f}"
    return f"{stamp} {pid} {level} {name} {context} {message}\n"


def traceback(second: float, frames_and_exception: list[str], name: str = "mistral.engine", pid: int = 7) -> str:
    """Traceback lines under oslo.log's logging_exception_prefix (the same stamp as the header, level ERROR)."""
    minute, sec = divmod(second, 60)
    prefix = f"2026-11-25 12:{58 + int(minute):02d}:{sec:06.3f} {pid} ERROR {name} "
    body = ["Traceback (most recent call last):", *frames_and_exception, ""]
    return "".join(prefix + text + "\n" for text in body)


def unreachable(second: float, cid: str, retry: int = 1) -> str:
    return line(second, f"[{cid}] AMQP server on broker:5672 is unreachable: [Errno 111] ECONNREFUSED. Trying "
                        f"again in {retry} seconds.: ConnectionRefusedError: [Errno 111] ECONNREFUSED", name=RABBIT)


def reconnected(second: float, cid: str) -> str:
    return line(second, f"[{cid}] Reconnected to AMQP server on broker:5672 via [amqp] client with port 40112.",
                level="INFO", name=RABBIT)


DEADLOCK_SUMMARY = ("oslo_db.exception.DBDeadlock: (pymysql.err.OperationalError) (1213, 'Deadlock found when "
                    "trying to get lock; try restarting transaction')")
FRAMES = ['  File "/usr/lib/python3/dist-packages/mistral/db/utils.py", line 58, in _with_auth_context',
          "    return func(*args, **kw)"]


# --- The stored sample run (checker/tests/data/logs/sample) ---------------------------------------------

@pytest.fixture(scope="module")
def sample() -> dict:
    return check_logs(SAMPLE)


def test_sample_verdict_is_false_for_the_duplicate_key_race_not_the_retried_deadlock(sample):
    assert sample["valid"] is False
    assert sample["nodes_scanned"] == 5
    assert sample["counts"]["engine-1"]["deadlock-retried"] == 1  # "operation will be retried": handled
    assert sample["counts"]["engine-2"]["duplicate-key"] == 2
    assert "engine-2: 2 DBDuplicateEntry" in sample["reason"] and "deadlock" not in sample["reason"]


def test_sample_counts_a_multi_line_traceback_once_with_its_last_exception_line(sample):
    assert sample["counts"]["engine-1"]["traceback"] == 1  # header + 2 chained tracebacks + SQL lines: one record
    event = next(e for e in sample["events"] if e["node"] == "engine-1" and e["pattern"] == "traceback")
    assert event["line"] == DEADLOCK_SUMMARY  # not the "[SQL: ...]" or "(Background ...)" lines after it
    assert event["t_s"] == pytest.approx(12.345)
    assert event["header"].startswith("2026-11-25 12:58:12.345 7 ERROR mistral.db.utils DB error detected")
    chained = [e["line"] for e in sample["events"] if e["node"] == "engine-2" and e["pattern"] == "traceback"]
    assert chained[0] == "mistral.exceptions.DBDuplicateEntryError: Duplicate entry for TaskExecution ID: join_task-5c1d"


def test_sample_leaves_warning_tracebacks_and_api_conflicts_out_of_the_defects(sample):
    # engine-2's "DBAPIError exception wrapped." is a WARNING with exc_info: a handled error, no traceback count
    assert sample["counts"]["engine-2"]["traceback"] == 2
    # api-1's 409 for an existing workflow definition is Mistral refusing correctly
    assert sample["counts"]["api-1"] == {"api-duplicate": 1, "db-reconnect": 4, "traceback": 1}
    assert not any(a["defect"] for a in sample["anomalies"] if a["nodes"] == ["api-1"])


def test_sample_bare_crash_traceback_is_counted(sample):
    event = next(e for e in sample["events"] if e["node"] == "executor-1")
    assert (event["pattern"], event["line"], event["t_s"]) == ("traceback", "MemoryError", 50.0)


def test_sample_records_before_the_run_are_tallied_apart(sample):
    assert sample["before_start"] == {"broker-reconnect": 1, "deadlock-retried": 1}
    assert all(e["t_s"] >= 0 for e in sample["events"])


def test_sample_heartbeat_counted_once_per_action_with_its_id(sample):
    anomaly = next(a for a in sample["anomalies"] if a["kind"] == "heartbeat-missed")
    assert sample["counts"]["engine-1"]["heartbeat-missed"] == 1  # the trace line echoing it is not another
    assert anomaly["action_execution_ids"] == ["6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d"]
    assert anomaly["defect"] is False


def test_sample_broker_storm_outage(sample):
    broker = sample["reconnects"]["engine-1"]["broker"]
    # two connections down from 20.0 s; the last of them reconnects at 29.25 s
    assert broker["count"] == 6 and broker["first"] == 20.0 and broker["last"] == 25.0
    assert broker["outage_s"] == pytest.approx(9.25)
    assert broker["episodes"] == [{"start": 20.0, "end": 29.25, "recovered": True}]
    assert sample["reconnects"]["engine-1"]["db"]["count"] == 0


def test_sample_db_storm_has_no_recovery_line_only_a_failure_span(sample):
    db = sample["reconnects"]["api-1"]["db"]
    assert db["count"] == 4 and db["outage_s"] is None and db["recovered"] is None
    # 30.0 -> 36.8 s, then a lone failure at 110 s after a quiet gap: a second episode
    assert [(e["start"], e["end"]) for e in db["episodes"]] == [(30.0, 36.8), (110.0, 110.0)]
    assert db["failure_span_s"] == pytest.approx(6.8)


def test_sample_events_are_earliest_first_with_times(sample):
    times = [e["time"] for e in sample["events"]]
    assert times == sorted(times)
    first = sample["events"][0]
    assert first["time"] == pytest.approx(START + first["t_s"])
    assert all(len(e["line"]) <= 300 for e in sample["events"])


def test_sample_anomaly_shape(sample):
    anomaly = next(a for a in sample["anomalies"] if a["kind"] == "duplicate-key")
    assert anomaly == {
        "class": "log", "kind": "duplicate-key", "defect": True, "inside": {"designed": None, "spec": None},
        "checker": "logs", "execution_id": None, "task_execution_id": None, "action_execution_ids": [],
        "nodes": ["engine-2"], "faults": [], "summary": anomaly["summary"], "evidence": anomaly["evidence"]}
    assert anomaly["summary"] == "engine-2: 2 DBDuplicateEntry (duplicate-key race), first at t=41.2 s"
    assert len(anomaly["evidence"]) == 2 and "Duplicate entry for TaskExecution" in anomaly["evidence"][0]
    kinds = {(a["nodes"][0], a["kind"]) for a in sample["anomalies"]}
    assert kinds == {("engine-1", "deadlock-retried"), ("engine-1", "traceback"), ("engine-1", "heartbeat-missed"),
                     ("engine-2", "duplicate-key"), ("engine-2", "traceback"), ("api-1", "traceback"),
                     ("executor-1", "traceback")}  # no anomaly for reconnects or api-duplicate


# --- One pattern at a time ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, pattern", [
    (line(1, f"DB error detected, operation will be retried: <function f>: {DEADLOCK_SUMMARY}"),
     "deadlock-retried"),
    (line(1, f"Failed to run task: {DEADLOCK_SUMMARY}"), "deadlock"),
    (line(1, "Failed: oslo_db.exception.DBDeadlock: (psycopg2.errors.DeadlockDetected) deadlock detected"),
     "deadlock"),
    (line(1, "(1213, 'Deadlock: wsrep aborted transaction')", level="WARNING"), "deadlock"),
    (line(1, "Failed to run transactional engine operation.: oslo_db.exception.DBDuplicateEntry: "
             "(pymysql.err.IntegrityError) (1062, \"Duplicate entry 'x' for key 'uniq'\")"), "duplicate-key"),
    (line(1, "Failed: (psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint \"u\""),
     "duplicate-key"),
    (line(1, "Action execution to transit to error, because heartbeat wasn't received: "
             "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d", level="WARNING"), "heartbeat-missed"),
    (unreachable(1, CID_A), "broker-reconnect"),
    (line(1, "[x] AMQP server broker:5672 closed the connection. Check login credentials: Socket closed",
          name=RABBIT), "broker-reconnect"),
    (line(1, "Unable to connect to AMQP server on broker:5672 after inf tries: timed out", name=RABBIT),
     "broker-reconnect"),
    (line(1, "Connection failed: [Errno 111] ECONNREFUSED (retrying in 2.0 seconds)", name=RABBIT),
     "broker-reconnect"),
    (line(1, "A recoverable connection/channel error occurred, trying to reconnect: Too many heartbeats missed",
          level="INFO", name=RABBIT), "broker-reconnect"),
    (line(1, "SQL connection failed. 9 attempts left.", level="WARNING", name="oslo_db.sqlalchemy.engines"),
     "db-reconnect"),
    (line(1, "x: oslo_db.exception.DBConnectionError: (pymysql.err.OperationalError) (2013, 'Lost connection to "
             "MySQL server during query')"), "db-reconnect"),
    (line(1, "x: (pymysql.err.OperationalError) (2006, 'MySQL server has gone away')"), "db-reconnect"),
    (line(1, "x: (psycopg2.OperationalError) connection to server at \"db\" (172.18.0.2), port 5432 failed: "
             "Connection refused"), "db-reconnect"),
    (line(1, "x: (psycopg2.OperationalError) server closed the connection unexpectedly"), "db-reconnect"),
])
def test_each_pattern(tmp_path, text, pattern):
    result = check_logs(run_dir(tmp_path, {"engine-1": line(0.5, "Starting", level="INFO") + text}))
    assert result["counts"] == {"engine-1": {pattern: 1}}
    assert result["valid"] is (pattern not in ("deadlock", "duplicate-key"))
    assert result["events"][0]["t_s"] == 1.0


def test_pattern_found_only_inside_the_traceback_counts_once(tmp_path):
    text = line(3, "Scheduler failed to process delayed calls due to unexpected exception.") + traceback(
        3, FRAMES + ["pymysql.err.OperationalError: (1213, 'Deadlock found when trying to get lock')", "",
                     "The above exception was the direct cause of the following exception:", "",
                     "Traceback (most recent call last):", *FRAMES, DEADLOCK_SUMMARY])
    result = check_logs(run_dir(tmp_path, {"engine-1": text}))
    assert result["counts"] == {"engine-1": {"deadlock": 1, "traceback": 1}}
    assert result["events"][0]["line"] == "pymysql.err.OperationalError: (1213, 'Deadlock found when trying to get lock')"
    assert next(e for e in result["events"] if e["pattern"] == "traceback")["line"] == DEADLOCK_SUMMARY


def test_two_records_in_the_same_millisecond_are_two_tracebacks(tmp_path):
    one = line(3, "first: KeyError: 'a'") + traceback(3, FRAMES + ["KeyError: 'a'"])
    two = line(3, "second: KeyError: 'b'", context="[req-1 req-1 - - - - -]") + traceback(3, FRAMES + ["KeyError: 'b'"])
    result = check_logs(run_dir(tmp_path, {"engine-1": one + two}))
    assert result["counts"] == {"engine-1": {"traceback": 2}}
    assert [e["line"] for e in result["events"]] == ["KeyError: 'a'", "KeyError: 'b'"]


def test_traceback_needs_an_error_record(tmp_path):
    warning = line(3, "DB exception wrapped.", level="WARNING") + traceback(3, FRAMES + ["ValueError: x"])
    critical = line(4, "Unhandled error", level="CRITICAL") + traceback(4, FRAMES + ["RuntimeError: y"])
    result = check_logs(run_dir(tmp_path, {"engine-1": warning + critical}))
    assert result["counts"] == {"engine-1": {"traceback": 1}}
    assert result["events"][0]["line"] == "RuntimeError: y" and result["valid"] is True


def test_unprefixed_traceback_after_an_error_header_belongs_to_it(tmp_path):
    text = (line(3, "Exception during message handling", name="oslo_messaging.rpc.server")
            + "Traceback (most recent call last):\n" + "\n".join(FRAMES) + "\nmistral.exceptions.EngineException: boom\n"
            + line(4, "Next", level="INFO"))
    result = check_logs(run_dir(tmp_path, {"engine-1": text}))
    assert result["counts"] == {"engine-1": {"traceback": 1}}
    assert result["events"][0]["line"] == "mistral.exceptions.EngineException: boom"


# --- Reconnect storms -----------------------------------------------------------------------------------

def test_reconnect_storm_outage_is_first_failure_to_last_matching_reconnect(tmp_path):
    storm = "".join(unreachable(10 + 2 * i, cid, retry=i + 1) for i in range(5) for cid in (CID_A, CID_B))
    text = storm + reconnected(21.5, CID_A) + unreachable(22, CID_B, 6) + reconnected(24.0, CID_B)
    later = unreachable(40, CID_A) + reconnected(41.0, CID_A)  # a second, short outage
    result = check_logs(run_dir(tmp_path, {"engine-1": text + later}))
    broker = result["reconnects"]["engine-1"]["broker"]
    assert broker["count"] == 12 and broker["first"] == 10.0 and broker["last"] == 40.0
    assert broker["episodes"] == [{"start": 10.0, "end": 24.0, "recovered": True},
                                  {"start": 40.0, "end": 41.0, "recovered": True}]
    assert broker["outage_s"] == pytest.approx(15.0) and broker["recovered"] is True
    assert broker["reconnected_lines"] == 3
    assert result["valid"] is True and result["anomalies"] == []


def test_unrecovered_storm_has_no_outage_estimate(tmp_path):
    text = unreachable(10, CID_A) + unreachable(12, CID_A, 2)
    broker = check_logs(run_dir(tmp_path, {"engine-1": text}))["reconnects"]["engine-1"]["broker"]
    assert broker["outage_s"] is None and broker["recovered"] is False
    assert broker["episodes"] == [{"start": 10.0, "end": 12.0, "recovered": False}]
    assert broker["failure_span_s"] == 2.0


def test_restart_ends_the_old_process_outage(tmp_path):
    # killed while down: the new process (pid 40) never logs a reconnect of the old connection
    text = (unreachable(10, CID_A) + line(30, "Starting engine service", level="INFO", pid=40)
            + line(31, f"[{CID_B}] AMQP server on broker:5672 is unreachable: x. Trying again in 1 seconds.",
                   name=RABBIT, pid=40)
            + line(33, f"[{CID_B}] Reconnected to AMQP server on broker:5672 via [amqp] client with port 1.",
                   level="INFO", name=RABBIT, pid=40))
    broker = check_logs(run_dir(tmp_path, {"engine-1": text}))["reconnects"]["engine-1"]["broker"]
    assert broker["episodes"] == [{"start": 10.0, "end": 10.0, "recovered": False},
                                  {"start": 31.0, "end": 33.0, "recovered": True}]
    assert broker["outage_s"] == 2.0


def test_workers_of_one_node_do_not_look_like_restarts(tmp_path):
    boot = line(0.1, "Starting", level="INFO", pid=7) + line(0.2, "Starting", level="INFO", pid=8)
    storm = (unreachable(10, CID_A) + line(10.5, f"[{CID_B}] AMQP server on broker:5672 is unreachable: x. "
                                                 "Trying again in 1 seconds.", name=RABBIT, pid=8)
             + reconnected(14, CID_A) + line(15, f"[{CID_B}] Reconnected to AMQP server on broker:5672 via "
                                                 "[amqp] client with port 1.", level="INFO", name=RABBIT, pid=8))
    broker = check_logs(run_dir(tmp_path, {"api-1": boot + storm}))["reconnects"]["api-1"]["broker"]
    assert broker["episodes"] == [{"start": 10.0, "end": 15.0, "recovered": True}]


# --- Verdicts and tolerance -----------------------------------------------------------------------------

def test_clean_logs_are_valid(tmp_path):
    result = check_logs(run_dir(tmp_path, {"engine-1": line(1, "Starting", level="INFO"), "db": ""}))
    assert result["valid"] is True and result["nodes_scanned"] == 2
    assert result["counts"] == {} and result["totals"] == {} and result["events"] == [] and "reason" not in result


def test_non_defects_alone_keep_it_valid(tmp_path):
    text = (line(1, "boom") + traceback(1, FRAMES + ["RuntimeError: boom"])
            + line(2, "Action execution to transit to error, because heartbeat wasn't received: "
                      "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d", level="WARNING")
            + unreachable(3, CID_A) + line(4, "SQL connection failed. 3 attempts left.", level="WARNING")
            + line(5, "Error during API call: Duplicate entry for Environment ['name', 'project_id']: k1, <p>",
                   name="mistral.utils.rest_utils"))
    result = check_logs(run_dir(tmp_path, {"engine-1": text}))
    assert result["valid"] is True
    assert result["totals"] == {"traceback": 1, "heartbeat-missed": 1, "broker-reconnect": 1, "db-reconnect": 1,
                                "api-duplicate": 1}
    assert {a["kind"] for a in result["anomalies"]} == {"traceback", "heartbeat-missed"}


def test_missing_logs_dir_is_unknown(tmp_path):
    result = check_logs(tmp_path)
    assert result["valid"] == "unknown" and "no logs directory" in result["reason"]
    assert result["nodes_scanned"] == 0 and result["anomalies"] == []


def test_empty_logs_dir_is_unknown(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "notes.txt").write_text("not a log")
    result = check_logs(tmp_path)
    assert result["valid"] == "unknown" and "no log file" in result["reason"]


def test_postgres_server_lines(tmp_path):
    db = ("2026-11-25 12:58:05.100 UTC [61] ERROR:  duplicate key value violates unique constraint "
          "\"workflow_definitions_v2_name_namespace_project_id_key\"\n"
          "2026-11-25 12:58:05.100 UTC [61] DETAIL:  Key (name, namespace, project_id)=(lab_ref, , <p>) exists.\n"
          "2026-11-25 14:58:07.250+02:00 [62] ERROR:  deadlock detected\n")
    result = check_logs(run_dir(tmp_path, {"db": db}))
    # the server logs every refused create (a correct 409) as a duplicate key: only its deadlock counts
    assert result["counts"] == {"db": {"deadlock": 1}}
    assert result["events"][0]["t_s"] == 7.25  # +02:00 is read as such; no zone would mean UTC


def test_binary_garbage_long_lines_and_unavailable_logs(tmp_path):
    path = run_dir(tmp_path, {"api-1": "(log unavailable: 404 Client Error: No such container)\n"})
    garbage = bytes(range(256)) * 50 + b"\n" + b"\xff\xfe\x00" * 100_000 + b"\n"
    (path / "logs" / "engine-1.log").write_bytes(
        garbage + line(1, f"x: {DEADLOCK_SUMMARY}").encode() + b"A" * 500_000 + b"\r\n" + garbage)
    result = check_logs(path)
    assert result["nodes_scanned"] == 2 and result["counts"] == {"engine-1": {"deadlock": 1}}
    assert len(result["events"][0]["line"]) <= 300


def test_without_run_json_times_stay_epoch_and_nothing_is_cut(tmp_path):
    text = line(-30, f"x: {DEADLOCK_SUMMARY}") + unreachable(1, CID_A) + reconnected(3, CID_A)
    result = check_logs(run_dir(tmp_path, {"engine-1": text}, start_wall=None))
    assert result["counts"]["engine-1"]["deadlock"] == 1 and result["before_start"] == {}
    assert result["events"][0]["t_s"] is None and result["events"][0]["time"] == START - 30
    assert "t=" not in result["anomalies"][0]["summary"]
    broker = result["reconnects"]["engine-1"]["broker"]
    assert broker["first"] is None and broker["first_time"] == START + 1 and broker["outage_s"] == 2.0


def test_events_are_capped_earliest_first(tmp_path):
    storm = "".join(unreachable(i * 0.1, CID_A) for i in range(300))
    heartbeats = "".join(line(2 + i * 0.1, "Action execution to transit to error, because heartbeat wasn't "
                                           f"received: 00000000-0000-4000-8000-{i:012d}", level="WARNING")
                         for i in range(300))
    nodes = {f"engine-{n}": storm for n in range(1, 9)} | {"executor-1": heartbeats}
    result = check_logs(run_dir(tmp_path, nodes))
    assert len(result["events"]) == 200
    assert result["totals"]["broker-reconnect"] == 2400 and result["events_not_listed"] == 2700 - 200
    assert [e["time"] for e in result["events"]] == sorted(e["time"] for e in result["events"])
    anomaly = next(a for a in result["anomalies"] if a["kind"] == "heartbeat-missed")
    assert len(anomaly["action_execution_ids"]) == 50 and len(anomaly["evidence"]) == 3


def test_big_log_streams_fast(tmp_path):
    quiet = line(1, "Workflow 'lab_ref' [RUNNING -> SUCCESS, msg=None]", level="INFO",
                 context="[req-2f0b9d1e-3a4c-4d5e req-2f0b9d1e-3a4c-4d5e - - - - -]")
    noisy = line(2, f"x: {DEADLOCK_SUMMARY}") + traceback(2, FRAMES + [DEADLOCK_SUMMARY])
    text = (quiet * 99 + noisy) * 400  # about 8 MB
    path = run_dir(tmp_path, {"engine-1": text})
    began = time.perf_counter()
    result = check_logs(path)
    assert time.perf_counter() - began < 20  # about 0.3 s here; generous for a loaded CI machine
    assert result["totals"] == {"deadlock": 400, "traceback": 400}


def test_a_deadlock_mistral_retried_is_reported_not_a_defect(tmp_path: Path) -> None:
    # mistral/db/utils.py _with_auth_context logs the deadlock with this header and tenacity retries the call;
    # the same deadlock on a path without the retry (no such header) stays a defect.
    retried = line(5, "DB error detected, operation will be retried: <function _scheduled_on_action_complete>",
                   name="mistral.db.utils") + traceback(5, [*FRAMES, DEADLOCK_SUMMARY], name="mistral.db.utils")
    result = check_logs(run_dir(tmp_path / "a", {"engine-1": retried}))
    assert result["valid"] is True
    assert result["counts"]["engine-1"] == {"deadlock-retried": 1, "traceback": 1}
    assert [(a["kind"], a["defect"]) for a in result["anomalies"] if a["kind"].startswith("deadlock")] == [
        ("deadlock-retried", False)]
    unretried = line(7, "Failed to start task: " + DEADLOCK_SUMMARY)
    result = check_logs(run_dir(tmp_path / "b", {"engine-2": unretried}))
    assert result["valid"] is False and result["counts"]["engine-2"]["deadlock"] == 1
