"""Log checker: scans every node's log (logs/<node>.log) for DB deadlocks, duplicate-key races, unhandled
tracebacks, missed action heartbeats and reconnect storms to the broker or the DB.

    check_logs(run_dir) -> {"valid": True|False|"unknown", "nodes_scanned", "counts": {node: {pattern: n}},
                            "totals", "events" (<= 200, earliest first), "reconnects", "anomalies",
                            "reason" (when not True), "events_not_listed", "before_start", "start_wall",
                            "unreadable"}

Deadlocks and duplicate-key errors are defects (valid False); tracebacks, heartbeats and reconnects are
reported, not judged. No logs/ directory or no log file: "unknown". Lines are grouped into records - an oslo.log
header plus its continuation lines (the traceback oslo.log prints under `logging_exception_prefix`, or
unprefixed lines) - and each pattern counts once per record: a deadlock named in a header, its error summary and
its traceback is one deadlock. Besides the patterns of the brief, "api-duplicate" counts a duplicate that the
API answered with 409 ("Error during API call: Duplicate entry ..."): a correct refusal, never a defect.

Only records from the run on are judged (time >= run.json start_wall - START_SLACK_S): a reused cluster's logs
still hold earlier runs, and a fresh cluster's boot is full of "broker unreachable". Earlier records are
counted under "before_start", never hidden. Oslo timestamps are read as UTC (the containers run in UTC).
reconnects[node][kind]: "first"/"last" are seconds since start_wall ("first_time"/"last_time": epoch);
"outage_s" pairs failures with impl_rabbit's "Reconnected" lines (None without one: always so for the DB,
oslo.db logs no reconnect); "failure_span_s" is the first-to-last span of each episode, a lower bound.
"""
from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from history.run_dir import RUN_FILE

DEFECTS = ("deadlock", "duplicate-key")
PATTERNS = ("deadlock", "deadlock-retried", "duplicate-key", "traceback", "heartbeat-missed", "broker-reconnect",
            "db-reconnect", "api-duplicate")
ANOMALY_PATTERNS = ("deadlock", "deadlock-retried", "duplicate-key", "traceback", "heartbeat-missed")
LABELS = {
    "deadlock": "DB deadlock(s) (DBDeadlock)",
    "deadlock-retried": "DB deadlock(s) Mistral retried (DB error detected, operation will be retried)",
    "duplicate-key": "DBDuplicateEntry (duplicate-key race)",
    "traceback": "traceback(s) of ERROR/CRITICAL records",
    "heartbeat-missed": "action execution(s) failed for a missed heartbeat",
}
MAX_EVENTS = 200
MAX_EVENTS_PER_KEY = 25      # one node's storm must not push every other event out of the 200
MAX_EPISODES = 20
MAX_IDS = 50
MAX_LINE = 300
READ_CHUNK = 64 * 1024       # a line longer than this (binary garbage) is read as several lines
START_SLACK_S = 1.0
STORM_GAP_S = 30.0           # DB failures further apart than this are separate outages (no recovery line)
ERROR_LEVELS = ("ERROR", "CRITICAL", "FATAL", "PANIC")

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
class _Record:
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


def _records(path: Path) -> Iterator[_Record]:
    """Group a log's lines into records, streaming."""
    current: _Record | None = None
    last_time: float | None = None
    for line in _lines(path):
        record, body = _split_line(line, current)
        if record is None and (current is None or _bare_traceback_starts_record(line, current)):
            # Python prints an uncaught exception without a stamp: place it after the last stamped line.
            record = _Record(header=line[:MAX_LINE], time=last_time, level=None)
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


def _split_line(line: str, current: _Record | None) -> tuple[_Record | None, str]:
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
        return _Record(header=compact[:MAX_LINE], time=_parse_time(line), level=oslo.group("level"),
                       oslo_key=key, api_call=API_CALL_ERROR in rest), compact
    time = _parse_time(line)
    if time is None:
        return None, line
    return _Record(header=line[:MAX_LINE], time=time, level=_level_of(line)), line


def _without_context(line: str, rest_at: int, rest: str) -> str:
    """The header without its "[req-... req-... - - - - -]" context: evidence lines keep room for the error."""
    context = OSLO_CONTEXT.match(rest)
    if not context:
        return line
    end = rest.find("] ", context.end() - 1)
    return line[:rest_at] + rest[end + 2:] if end >= 0 else line


def _bare_traceback_starts_record(line: str, current: _Record) -> bool:
    # An unprefixed traceback after an INFO/DEBUG record is a crash printed by Python, not that record's.
    return line.startswith(TRACEBACK) and current.level in ("DEBUG", "INFO", "TRACE", "AUDIT")


def _scan_line(record: _Record, body: str, is_header: bool) -> None:
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


def _follow_traceback(record: _Record, body: str) -> None:
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


# --- Tallying ---------------------------------------------------------------------------------------------

@dataclass
class _Outages:
    """One node's failure and reconnect lines towards one service, grouped into outage episodes.

    An episode opens at the first failure and closes when every connection that failed in it has logged its
    reconnect (impl_rabbit pairs them by connection id). The DB has no reconnect line, so its episodes end at
    their last failure: a quiet gap of STORM_GAP_S ends one. So does a restart of the node (`finish`), whose
    old connections never log their reconnect.
    """

    count: int = 0
    reconnected_lines: int = 0
    first: float | None = None
    last: float | None = None
    down: set[str | None] = field(default_factory=set)   # connection ids still down in the open episode
    open_at: float | None = None
    is_open: bool = False
    last_event: float | None = None
    episodes: list[tuple[float | None, float | None, bool]] = field(default_factory=list)

    def fail(self, time: float | None, cid: str | None) -> None:
        self.count += 1
        self.first = time if self.first is None else self.first
        self.last = time if time is not None else self.last
        if self.is_open and self.down <= {None} and _gap(self.last_event, time) > STORM_GAP_S:
            self._close(self.last_event, recovered=False)  # a quiet gap: that outage ended unseen
        if not self.is_open:
            self.is_open, self.open_at = True, time
        self.down.add(cid)
        self.last_event = time if time is not None else self.last_event

    def recover(self, time: float | None, cid: str | None) -> None:
        self.reconnected_lines += 1
        if not self.is_open:
            return  # a first connect, or a reconnect of a connection never seen failing
        self.down.discard(cid)
        self.down.discard(None)  # failures without an id ("Connection failed: ...") end with any reconnect
        self.last_event = time if time is not None else self.last_event
        if not self.down:
            self._close(time, recovered=True)

    def finish(self) -> None:
        if self.is_open:
            self._close(self.last_event, recovered=False)

    def _close(self, end: float | None, recovered: bool) -> None:
        self.episodes.append((self.open_at, end, recovered))
        self.is_open, self.open_at, self.down = False, None, set()


def _gap(earlier: float | None, later: float | None) -> float:
    return later - earlier if earlier is not None and later is not None else 0.0


@dataclass
class _Event:
    node: str
    pattern: str
    time: float | None
    line: str
    header: str | None = None


@dataclass
class _Tally:
    """Everything found in the run's part of the logs, and counts of the part before it."""

    start_wall: float | None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    before: dict[str, int] = field(default_factory=dict)
    events: dict[tuple[str, str], list[_Event]] = field(default_factory=dict)
    outages: dict[tuple[str, str], _Outages] = field(default_factory=dict)
    action_ids: dict[str, list[str]] = field(default_factory=dict)   # node -> heartbeat-missed action ids
    pids: dict[str, set[str]] = field(default_factory=dict)           # node -> processes seen so far

    def add(self, node: str, record: _Record) -> None:
        self._watch_process(node, record)
        found = _patterns_of(record)
        if not found and record.broker is None:
            return
        if self._before_start(record.time):
            for pattern, _line in found:
                self.before[pattern] = self.before.get(pattern, 0) + 1
            if record.broker and record.broker[0] == "down":
                self.before["broker-reconnect"] = self.before.get("broker-reconnect", 0) + 1
            return
        if record.broker:
            self._broker(node, record, *record.broker)
        for pattern, line in found:
            self._count(node, pattern, record, line)
            if pattern == "db-reconnect":
                self._outage(node, "db").fail(record.time, None)

    def _watch_process(self, node: str, record: _Record) -> None:
        # A pid first seen after others is a restarted node (the workers of one start all log at boot): the
        # old process's connections never log their reconnect, so its open outages end there, unrecovered.
        pids = self.pids.setdefault(node, set())
        pid = record.oslo_key[1] if record.oslo_key else None
        if pid is None or pid in pids:
            return
        pids.add(pid)
        for kind in ("broker", "db"):
            if len(pids) > 1 and (node, kind) in self.outages:
                self.outages[(node, kind)].finish()

    def _before_start(self, time: float | None) -> bool:
        return self.start_wall is not None and time is not None and time < self.start_wall - START_SLACK_S

    def _broker(self, node: str, record: _Record, kind: str, cid: str | None) -> None:
        outages = self._outage(node, "broker")
        if kind == "down":
            outages.fail(record.time, cid)
            self._count(node, "broker-reconnect", record, record.header)
        else:
            outages.recover(record.time, cid)

    def _count(self, node: str, pattern: str, record: _Record, line: str) -> None:
        per_node = self.counts.setdefault(node, {})
        per_node[pattern] = per_node.get(pattern, 0) + 1
        kept = self.events.setdefault((node, pattern), [])
        if len(kept) < MAX_EVENTS_PER_KEY:
            header = record.header if pattern == "traceback" else None
            kept.append(_Event(node, pattern, record.time, line[:MAX_LINE], header))
        if pattern == "heartbeat-missed":
            found = HEARTBEAT.search(line)
            ids = self.action_ids.setdefault(node, [])
            if found and found.group("id") and len(ids) < MAX_IDS:
                ids.append(found.group("id"))

    def _outage(self, node: str, kind: str) -> _Outages:
        return self.outages.setdefault((node, kind), _Outages())


def _patterns_of(record: _Record) -> list[tuple[str, str]]:
    """(pattern, evidence line) of every pattern the record shows, each once."""
    found = []
    for pattern, line in record.matches.items():
        if pattern == "duplicate-key" and record.api_call:
            pattern = "api-duplicate"
        if pattern == "deadlock" and RETRIED in record.header:
            pattern = "deadlock-retried"  # mistral/db/utils.py logs this, then tenacity runs the operation again
        found.append((pattern, line))
    if record.tracebacks and (record.level is None or record.level in ERROR_LEVELS):
        found.append(("traceback", record.exception_line or record.header))
    return found


# --- Output -----------------------------------------------------------------------------------------------

def _rel(time: float | None, start_wall: float | None) -> float | None:
    return None if time is None or start_wall is None else round(time - start_wall, 3)


def _events(tally: _Tally) -> tuple[list[dict[str, Any]], int]:
    everything = [event for kept in tally.events.values() for event in kept]
    everything.sort(key=lambda e: (e.time is None, e.time or 0.0, e.node))
    shown = []
    for event in everything[:MAX_EVENTS]:
        item = {"node": event.node, "pattern": event.pattern,
                "time": None if event.time is None else round(event.time, 3),
                "t_s": _rel(event.time, tally.start_wall), "line": event.line}
        if event.header is not None:
            item["header"] = event.header
        shown.append(item)
    total = sum(n for per_node in tally.counts.values() for n in per_node.values())
    return shown, total - len(shown)


def _reconnects(tally: _Tally) -> dict[str, dict[str, Any]]:
    nodes = sorted({node for (node, _kind), o in tally.outages.items() if o.count})
    return {node: {kind: _outage_json(tally.outages.get((node, kind)), kind, tally.start_wall)
                   for kind in ("broker", "db")} for node in nodes}


def _outage_json(outages: _Outages | None, kind: str, start_wall: float | None) -> dict[str, Any]:
    outages = outages or _Outages()
    outages.finish()
    pairs = kind == "broker"  # oslo.db logs no reconnect: a DB episode's recovery is never seen
    paired = [end - start for start, end, ok in outages.episodes if ok and start is not None and end is not None]
    spans = [end - start for start, end, _ok in outages.episodes if start is not None and end is not None]
    return {
        "count": outages.count,
        "first": _rel(outages.first, start_wall),
        "last": _rel(outages.last, start_wall),
        "first_time": outages.first,
        "last_time": outages.last,
        # first failure to its matching "Reconnected" line, summed over the episodes that have one
        "outage_s": round(sum(paired), 3) if paired else None,
        # first to last line of each episode: a lower bound, and all there is for the DB
        "failure_span_s": round(sum(spans), 3) if spans else None,
        "episodes": [{"start": _rel(start, start_wall), "end": _rel(end, start_wall),
                      "recovered": ok if pairs else None} for start, end, ok in outages.episodes[:MAX_EPISODES]],
        "recovered": all(ok for _s, _e, ok in outages.episodes) if pairs and outages.episodes else None,
        "reconnected_lines": outages.reconnected_lines,
    }


def _anomalies(tally: _Tally) -> list[dict[str, Any]]:
    found = []
    for node in sorted(tally.counts):
        for pattern in ANOMALY_PATTERNS:
            count = tally.counts[node].get(pattern, 0)
            if count:
                ids = tally.action_ids.get(node, []) if pattern == "heartbeat-missed" else []
                found.append(_anomaly(node, pattern, count, tally.events[(node, pattern)], ids, tally.start_wall))
    return found


def _anomaly(node: str, pattern: str, count: int, events: list[_Event], action_ids: list[str],
             start_wall: float | None) -> dict[str, Any]:
    t_s = _rel(events[0].time, start_wall)
    when = f"t={t_s:.1f} s" if t_s is not None else "an unknown time"
    summary = f"{node}: {count} {LABELS[pattern]}, first at {when}"
    if pattern == "traceback":
        summary += f"; first exception: {events[0].line[:150]}"
    return {"class": "log", "kind": pattern, "defect": pattern in DEFECTS,
            "inside": {"designed": None, "spec": None}, "checker": "logs", "execution_id": None,
            "task_execution_id": None, "action_execution_ids": action_ids, "nodes": [node], "faults": [],
            "summary": summary, "evidence": [event.line for event in events[:3]]}


def _start_wall(run_dir: Path) -> float | None:
    try:
        value = json.loads((run_dir / RUN_FILE).read_text()).get("start_wall")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _unknown(reason: str, nodes: int = 0) -> dict[str, Any]:
    return {"valid": "unknown", "nodes_scanned": nodes, "counts": {}, "totals": {}, "events": [],
            "reconnects": {}, "anomalies": [], "reason": reason}


def _scan_file(path: Path, tally: _Tally) -> bool:
    """Tally one log; False if it cannot be read."""
    node = path.stem
    try:
        for record in _records(path):
            tally.add(node, record)
    except OSError:
        return False
    return True


def check_logs(run_dir: Path) -> dict[str, Any]:
    logs = Path(run_dir) / "logs"
    if not logs.is_dir():
        return _unknown(f"no logs directory in {run_dir}")
    files = sorted(p for p in logs.glob("*.log") if p.is_file())
    if not files:
        return _unknown(f"no log file in {logs}")
    tally = _Tally(start_wall=_start_wall(Path(run_dir)))
    unreadable = [p.stem for p in files if not _scan_file(p, tally)]
    scanned = len(files) - len(unreadable)
    if not scanned:
        return {**_unknown(f"no readable log file in {logs}"), "unreadable": unreadable}
    totals = {p: n for p in PATTERNS if (n := sum(c.get(p, 0) for c in tally.counts.values()))}
    events, dropped = _events(tally)
    result: dict[str, Any] = {
        "valid": not any(totals.get(p) for p in DEFECTS),
        "nodes_scanned": scanned,
        "counts": {node: dict(sorted(c.items())) for node, c in sorted(tally.counts.items())},
        "totals": totals,
        "events": events,
        "events_not_listed": dropped,
        "reconnects": _reconnects(tally),
        "anomalies": _anomalies(tally),
        "before_start": dict(sorted(tally.before.items())),
        "start_wall": tally.start_wall,
        "unreadable": unreadable,
    }
    if result["valid"] is not True:
        result["reason"] = "; ".join(a["summary"] for a in result["anomalies"] if a["defect"])
    return result


__all__ = ["check_logs", "PATTERNS", "DEFECTS"]
