"""Reading a node's log into records: an oslo.log header plus its continuation lines (the traceback oslo.log
prints under `logging_exception_prefix`, or unprefixed lines), each scanned for the patterns checker.logs counts.

    records(path) -> Record per log record, streaming; Record.matches holds pattern -> first matching line,
                     Record.broker an impl_rabbit connection line, Record.exception_line a traceback's exception.

Oslo timestamps are read as UTC (the containers run in UTC); any other timestamped line starts a record too.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

MAX_LINE = 300
READ_CHUNK = 64 * 1024       # a line longer than this (binary garbage) is read as several lines


# --- Patterns, with the source lines they come from -------------------------------------------------------

# oslo_db/sqlalchemy/exc_filters.py: @filters("mysql", ..., r"^.*\b1213\b.*Deadlock found.*"),
# r"^.*\b1213\b.*detected deadlock/conflict.*", r"^.*\b1213\b.*Deadlock: wsrep aborted.*",
# ("postgresql", ..., r"^.*deadlock detected.*") -> raise exception.DBDeadlock. The bare "deadlock detected" is
# anchored to psycopg2's DeadlockDetected or the PostgreSQL server's own "ERROR:  deadlock detected", because
# Python's import lock raises "_DeadlockError: deadlock detected by _ModuleLock" too.
DEADLOCK = re.compile(r"DBDeadlock|Deadlock found when trying to get lock|detected deadlock/conflict"
                      r"|Deadlock: wsrep aborted|DeadlockDetected|ERROR:\s+deadlock detected")
# oslo_db exc_filters: r"^.*\b1062\b.*Duplicate entry '(?P<value>.*)' for key ..." -> DBDuplicateEntry;
# mistral/db/v2/sqlalchemy/api.py: `except db_exc.DBDuplicateEntry: raise exc.DBDuplicateEntryError(
# "Duplicate entry for TaskExecution ID: ...")`. PostgreSQL's server line "duplicate key value violates unique
# constraint" is left out on purpose: the server logs it for every correctly refused API create (409) too.
DUPLICATE = re.compile(r"DBDuplicateEntry|Duplicate entry '|Duplicate entry for |UniqueViolation")
# mistral/utils/rest_utils.py: LOG.error('Error during API call: %s', str(e)) - a MistralError answered with its
# http_code, e.g. 409 for a create of an existing workflow or environment (the lab's setup and register
# workload do that on purpose). A duplicate there is a correct refusal, counted as api-duplicate.
API_CALL_ERROR = "Error during API call:"
# mistral/services/action_heartbeat_checker.py: LOG.warning("Action execution to transit to error, because "
# "heartbeat wasn't received: %s", action_ex.id) - once per action execution failed for it. The result it
# stores, mistral_lib.Result(error="Heartbeat wasn't received."), is echoed by the action and task trace lines;
# those are the same event again and are not counted.
HEARTBEAT = re.compile(r"heartbeat wasn't received: (?P<id>[0-9a-f-]{36})?")
# oslo_messaging/_drivers/impl_rabbit.py (Connection.ensure / ensure_connection / _heartbeat_thread_job):
#   LOG.error('[%(connection_id)s] AMQP server on %(hostname)s:%(port)s is unreachable: %(err_str)s. '
#             'Trying again in %(sleep_time)d seconds.', info)
#   LOG.error('[%(connection_id)s] AMQP server %(hostname)s:%(port)s closed the connection. Check login '
#             'credentials: %(err_str)s', info)
#   msg = ('Unable to connect to AMQP server on %(hostname)s:%(port)s after %(retry)s tries: %(err_str)s')
#   LOG.error("Connection failed: %s (retrying in %s seconds)", str(exc), interval)
#   LOG.info("A recoverable connection/channel error occurred, trying to reconnect: %s", exc)
BROKER_DOWN = re.compile(r"(?:\[(?P<cid>[0-9a-f-]{36})\] )?(?:AMQP server on \S+ is unreachable"
                         r"|AMQP server \S+ closed the connection|Unable to connect to AMQP server on"
                         r"|Connection failed: .*\(retrying in"
                         r"|A recoverable connection/channel error occurred, trying to reconnect)")
#   LOG.info('[%(connection_id)s] Reconnected to AMQP server on %(hostname)s:%(port)s via [%(transport)s] '
#            'client with port %(client_port)s.', ...)   (on_reconnection, the pair of "is unreachable")
#   LOG.debug('[%(connection_id)s] Connected to AMQP server on ...')   (first connect; DEBUG only)
BROKER_UP = re.compile(r"(?:\[(?P<cid>[0-9a-f-]{36})\] )?(?:Reconnected|Connected) to AMQP server on")
# oslo_db exc_filters: mysql OperationalError r".*\(.*(?:2002|2003|2006|2013|1047)" and postgresql
# r".*could not connect to server" -> DBConnectionError (so are disconnects); the driver texts of those codes
# (2003 "Can't connect to MySQL server", 2006 "MySQL server has gone away", 2013 "Lost connection to MySQL
# server"); oslo_db/sqlalchemy/engines.py _test_connection: LOG.warning("SQL connection failed. %s attempts
# left.", ...); libpq's "server closed the connection unexpectedly" / "connection to server at ... failed".
# oslo.db logs no line when a connection works again, so a DB outage has no recovery line to pair with.
DB_DOWN = re.compile(r"DBConnectionError|Lost connection to (?:MySQL|MariaDB) server"
                     r"|(?:MySQL|MariaDB) server has gone away|Can't connect to (?:local )?(?:MySQL|MariaDB) server"
                     r"|SQL connection failed\. -?\d+ attempts left|psycopg2\.OperationalError"
                     r"|could not connect to server|server closed the connection unexpectedly"
                     r"|connection to server at .{0,120}? failed")
# Cheap pre-filter: a line that has none of these words matches none of the patterns above.
INTERESTING = re.compile(r"eadlock|uplicate|UniqueViolation|heartbeat wasn't|AMQP server|Connection failed: "
                         r"|recoverable connection|DBConnectionError|connect|gone away|psycopg2")
TRACEBACK = "Traceback (most recent call last)"
# mistral/db/utils.py _with_auth_context: a DBDeadlock (or a lost connection) inside @retry_on_db_error is logged
# with this line and retried (up to 50 attempts): a handled deadlock, reported, not a defect. A deadlock on a
# path without the retry (DefaultEngine.start_task, the scheduler's job capture) has no such header: a defect.
RETRIED = "DB error detected, operation will be retried"

# oslo.log default formats (oslo_log/_options.py): logging_context_format_string '%(asctime)s.%(msecs)03d
# %(process)d %(levelname)s %(name)s [%(global_request_id)s %(request_id)s %(user_identity)s] %(instance)s
# %(message)s', logging_default_format_string '... %(name)s [-] %(instance)s%(message)s', and
# logging_exception_prefix '%(asctime)s.%(msecs)03d %(process)d ERROR %(name)s %(instance)s' that
# ContextFormatter.formatException puts before every traceback line - always "ERROR", whatever the level.
OSLO = re.compile(r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (?P<pid>\d+) (?P<level>[A-Z]+) (?P<name>\S+)"
                  r"(?: (?P<rest>.*))?$")
OSLO_CONTEXT = re.compile(r"\[(?:-\]|[^\]]*req-)")  # "[-] " or "[req-... req-... - - - - -] ": a new record
# Any other timestamped line starts a record: MariaDB, PostgreSQL ("... UTC [12] ERROR:"), RabbitMQ
# ("...+00:00 [error] <0.1.0>"), alembic. No zone means UTC.
STAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d:?\d\d| UTC)?")
LEVEL = re.compile(r"\b(DEBUG|INFO|NOTICE|LOG|WARNING|WARN|ERROR|CRITICAL|FATAL|PANIC)\b"
                   r"|\[(debug|info|notice|warning|error|critical)\]")


@dataclass(slots=True)
class Record:
    """One log record: a header line and its continuation lines."""

    header: str
    time: float | None
    level: str | None            # None: a headerless record (a bare traceback printed by Python itself)
    oslo_key: tuple[str, str, str] | None = None   # (ts, pid, logger) that its exception-prefix lines repeat
    api_call: bool = False
    matches: dict[str, str] = field(default_factory=dict)   # pattern -> first line that matched
    broker: tuple[str, str | None] | None = None             # ("down"|"up", connection id)
    tracebacks: bool = False
    after_frame: bool = False
    exception_line: str | None = None


# --- Reading ----------------------------------------------------------------------------------------------

_epoch_cache: dict[str, float] = {}


def _parse_time(line: str) -> float | None:
    match = STAMP.match(line)
    if not match:
        return None
    second = line[:19]
    base = _epoch_cache.get(second)
    if base is None:
        y, mo, d, h, mi, s = (int(g) for g in match.groups()[:6])
        try:
            base = float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))
        except (ValueError, OverflowError):
            return None
        if len(_epoch_cache) > 100_000:  # logs with ever new seconds; the cache only saves time
            _epoch_cache.clear()
        _epoch_cache[second] = base
    fraction = match.group(7)
    zone = match.group(8)
    value = base + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)
    if zone and zone not in ("Z", " UTC"):
        sign = -1 if zone[0] == "+" else 1  # 12:00+02:00 is 10:00 UTC
        digits = zone[1:].replace(":", "")
        value += sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return value


def _level_of(line: str) -> str:
    match = LEVEL.search(line, 0, 120)
    if not match:
        return "INFO"
    level = (match.group(1) or match.group(2)).upper()
    return {"WARN": "WARNING", "LOG": "INFO", "NOTICE": "INFO"}.get(level, level)


def _lines(path: Path) -> Iterator[str]:
    """Decoded lines without line ends; invalid bytes are replaced, over-long lines split."""
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        readline = handle.readline
        while True:
            line = readline(READ_CHUNK)
            if not line:
                return
            yield line.rstrip("\r\n")


def records(path: Path) -> Iterator[Record]:
    """Group a log's lines into records, streaming."""
    current: Record | None = None
    last_time: float | None = None
    for line in _lines(path):
        record, body = _split_line(line, current)
        if record is None and (current is None or _bare_traceback_starts_record(line, current)):
            # Python prints an uncaught exception without a stamp: place it after the last stamped line.
            record = Record(header=line[:MAX_LINE], time=last_time, level=None)
        if record is not None:
            if current is not None:
                yield current
            current = record
            last_time = record.time if record.time is not None else last_time
            _scan_line(record, body, is_header=True)
        elif current is not None:
            _scan_line(current, body, is_header=False)
    if current is not None:
        yield current


def _split_line(line: str, current: Record | None) -> tuple[Record | None, str]:
    """(the record `line` starts, or None for a continuation; the text to scan)."""
    if not line[:4].isdigit():
        return None, line
    oslo = OSLO.match(line)
    if oslo:
        key = (oslo.group("ts"), oslo.group("pid"), oslo.group("name"))
        rest = oslo.group("rest") or ""
        if (current is not None and current.oslo_key == key and oslo.group("level") == "ERROR"
                and not OSLO_CONTEXT.match(rest)):
            return None, rest  # a traceback line under logging_exception_prefix
        compact = _without_context(line, oslo.start("rest"), rest)
        return Record(header=compact[:MAX_LINE], time=_parse_time(line), level=oslo.group("level"),
                       oslo_key=key, api_call=API_CALL_ERROR in rest), compact
    time = _parse_time(line)
    if time is None:
        return None, line
    return Record(header=line[:MAX_LINE], time=time, level=_level_of(line)), line


def _without_context(line: str, rest_at: int, rest: str) -> str:
    """The header without its "[req-... req-... - - - - -]" context: evidence lines keep room for the error."""
    context = OSLO_CONTEXT.match(rest)
    if not context:
        return line
    end = rest.find("] ", context.end() - 1)
    return line[:rest_at] + rest[end + 2:] if end >= 0 else line


def _bare_traceback_starts_record(line: str, current: Record) -> bool:
    # An unprefixed traceback after an INFO/DEBUG record is a crash printed by Python, not that record's.
    return line.startswith(TRACEBACK) and current.level in ("DEBUG", "INFO", "TRACE", "AUDIT")


def _scan_line(record: Record, body: str, is_header: bool) -> None:
    _follow_traceback(record, body)
    if not INTERESTING.search(body):
        return
    matches = record.matches
    for name, pattern in (("deadlock", DEADLOCK), ("duplicate-key", DUPLICATE), ("heartbeat-missed", HEARTBEAT),
                          ("db-reconnect", DB_DOWN)):
        if name not in matches and pattern.search(body):
            matches[name] = body.strip()[:MAX_LINE]
    if is_header and record.broker is None:
        record.broker = _broker_line(body)


def _broker_line(line: str) -> tuple[str, str | None] | None:
    """("down"|"up", connection id) of an impl_rabbit connection line, else None."""
    down = BROKER_DOWN.search(line)
    if down:
        return "down", down.group("cid")
    up = BROKER_UP.search(line)
    return ("up", up.group("cid")) if up else None


def _follow_traceback(record: Record, body: str) -> None:
    """Track the exception line: the first unindented line after a traceback's frames (the last one wins)."""
    if body.startswith(TRACEBACK):
        record.tracebacks = True
        record.after_frame = False
    elif not record.tracebacks:
        return
    elif body.startswith(" "):
        record.after_frame = True
    elif record.after_frame and body.strip():
        record.exception_line = body.strip()[:MAX_LINE]
        record.after_frame = False


__all__ = ["Record", "records", "HEARTBEAT", "MAX_LINE", "RETRIED"]
