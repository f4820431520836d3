"""The rpc fault's rules (the format: docs/faults.md#the-rule-file): parsing one, and the rule file in force, looked
up at most once a second. Importable without oslo.messaging, like the hook.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

RULES_DIR = os.environ.get("MISTRAL_LAB_RPC_DIR", "/run/lab-rpc")
RULES_FILE, STATE_FILE, MATCHES_FILE = "rules.json", "state.json", "matches.jsonl"
CHECK_INTERVAL_S = 1.0
ANY = "any"
# Every RPC method of Mistral 23's engine, executor, notifier and event-engine endpoints.
METHODS = ("run_action", "on_action_complete", "on_action_update", "start_workflow", "report_running_actions",
           "start_task", "start_action", "pause_workflow", "resume_workflow", "rerun_workflow", "stop_workflow",
           "rollback_workflow", "notify", "create_event_trigger", "delete_event_trigger", "update_event_trigger")
SIDES = ("receive", "send")
ACTIONS = ("drop", "delay", "duplicate", "crash-after")

LOG = logging.getLogger("mistral_lab_rpc")


class RuleError(ValueError):
    """A rule the hook cannot use (the nemesis validates before writing; this guards hand-written files)."""


@dataclass(frozen=True)
class Rule:
    id: str
    method: str
    side: str
    action: str
    count: int = 0
    probability: float = 1.0
    delay_ms: int = 0
    seed: int = 0

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "Rule":
        if not isinstance(raw, Mapping):
            raise RuleError(f"a rule is a JSON object, not {type(raw).__name__}")
        unknown = set(raw) - {"id", "method", "side", "action", "count", "probability", "delay_ms", "seed"}
        if unknown:
            raise RuleError(f"unknown rule field {sorted(unknown)[0]!r}")
        method, side, action = raw.get("method", ""), raw.get("side", "receive"), raw.get("action", "")
        if method not in METHODS and method != ANY:
            raise RuleError(f"unknown method {method!r}")
        if side not in SIDES:
            raise RuleError(f"side must be receive or send, not {side!r}")
        if action not in ACTIONS:
            raise RuleError(f"unknown action {action!r}")
        try:
            count, probability = int(raw.get("count", 0)), float(raw.get("probability", 1.0))
            delay_ms, seed = int(raw.get("delay_ms", 0)), int(raw.get("seed", 0))
        except (TypeError, ValueError) as exc:
            raise RuleError(f"bad number in rule: {exc}") from None
        if count < 0 or not 0.0 <= probability <= 1.0 or delay_ms < 0:
            raise RuleError("count and delay_ms must be >= 0 and probability within [0, 1]")
        rule_id = str(raw.get("id") or _content_id(raw))
        return cls(rule_id, method, side, action, count, probability, delay_ms, seed)

    def fits(self, side: str, method: str) -> bool:
        return self.side == side and (self.method == ANY or self.method == method)


def _content_id(raw: Mapping[str, Any]) -> str:
    """A stable id for a hand-written rule without one, so its count survives re-reads of the file."""
    import hashlib

    return hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:12]


def parse_rules(text: str) -> tuple[Rule, ...]:
    data = json.loads(text)
    items = data.get("rules", []) if isinstance(data, Mapping) and "rules" in data else [data]
    if not isinstance(items, list):
        raise RuleError("`rules` must be a list")
    return tuple(Rule.parse(item) for item in items)


# ------------------------------------------------------------------ the rules in force
class RuleFile:
    """The rules in `directory`, looked up at most once per `interval` (one stat, a read only on change)."""

    def __init__(self, directory: str = RULES_DIR, interval: float = CHECK_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.directory, self.interval, self.clock = directory, interval, clock
        self.path = os.path.join(directory, RULES_FILE)
        self._next_check = float("-inf")
        self._key: tuple[int, int, int] | None = None
        self._rules: tuple[Rule, ...] = ()

    def current(self) -> tuple[Rule, ...]:
        now = self.clock()
        if now < self._next_check:
            return self._rules
        self._next_check = now + self.interval
        try:
            st = os.stat(self.path)
        except OSError:
            self._key, self._rules = None, ()
            return ()
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._key:
            self._key, self._rules = key, self._load()
        return self._rules

    def _load(self) -> tuple[Rule, ...]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                rules = parse_rules(handle.read())
        except (OSError, ValueError) as exc:  # RuleError is a ValueError; a torn file is retried next second
            LOG.error("mistral-lab rpc: ignoring %s: %s", self.path, exc)
            self._key = None
            return ()
        LOG.warning("mistral-lab rpc: %d rule(s) in force: %s", len(rules),
                    ", ".join(f"{r.action} {r.side} {r.method}" for r in rules) or "none")
        return rules
