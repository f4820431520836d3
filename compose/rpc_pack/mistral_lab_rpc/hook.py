"""Drop, delay, duplicate or crash on chosen Mistral RPC messages, inside the Mistral process.

Wraps oslo.messaging's `RPCDispatcher.dispatch` (receive side, after the broker's ack) and
`_BaseCallContext.cast/call` (send side), driven by the rules in `<dir>/rules.json`. Why there, the rule file's
format and what each action does: docs/faults.md#rpc. Rule parsing and the rule file in force are in rules.py.
Importable without oslo.messaging: unit tests drive it with fakes.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import random
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from mistral_lab_rpc.rules import MATCHES_FILE, RULES_DIR, STATE_FILE, Rule, RuleFile

WRAPPED = "_mistral_lab_rpc_wrapped"
# Message argument -> the id it carries, as recorded in a match (exec_ctx and params are searched too).
ID_KEYS = {"wf_ex_id": "workflow_execution_id", "workflow_execution_id": "workflow_execution_id",
           "task_ex_id": "task_execution_id", "task_execution_id": "task_execution_id",
           "action_ex_id": "action_execution_id", "action_execution_id": "action_execution_id",
           "action_ex_ids": "action_execution_ids", "ex_id": "execution_id", "wf_identifier": "workflow"}
NESTED_KEYS = ("exec_ctx", "params")

LOG = logging.getLogger("mistral_lab_rpc")


# ------------------------------------------------------------------ deciding and recording
@dataclass(frozen=True)
class Match:
    rule: Rule
    index: int              # the rule's k-th candidate message on this node (0-based)
    record: dict[str, Any]  # the line written to matches.jsonl


class Injector:
    """Decides which candidate messages match (count / probability state shared by the node's processes)."""

    def __init__(self, directory: str = RULES_DIR) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._draws: dict[str, tuple[random.Random, int]] = {}  # rule id -> (rng, draws taken)
        self._exhausted: set[str] = set()                        # count reached: never matches again

    def match(self, rules: tuple[Rule, ...], side: str, method: str, args: Mapping[str, Any],
              call: bool) -> Match | None:
        """The match for this message, or None; a failing hook (state file unwritable, ...) lets the message
        through untouched rather than break Mistral."""
        try:
            return self._match(rules, side, method, args, call)
        except Exception:
            LOG.exception("mistral-lab rpc: rule matching failed; message passed through")
            return None

    def _match(self, rules: tuple[Rule, ...], side: str, method: str, args: Mapping[str, Any],
               call: bool) -> Match | None:
        rule = next((r for r in rules if r.fits(side, method)), None)
        if rule is None or rule.id in self._exhausted:
            return None
        with self._lock, self._state() as state:
            entry = state.setdefault(rule.id, {"seen": 0, "matched": 0})
            index = entry["seen"]
            entry["seen"] = index + 1
            hit = rule.probability >= 1.0 or self._draw(rule, index) < rule.probability
            if hit and rule.count and entry["matched"] >= rule.count:
                hit = False
            if hit:
                entry["matched"] += 1
            if rule.count and entry["matched"] >= rule.count:
                self._exhausted.add(rule.id)
        if not hit:
            return None
        record = {"time": time.time(), "node": os.environ.get("MISTRAL_NODE", ""), "pid": os.getpid(),
                  "rule": rule.id, "index": index, "method": method, "side": side, "action": rule.action,
                  "call": call, "ids": carried_ids(args)}
        self._append(record)
        return Match(rule, index, record)

    def _draw(self, rule: Rule, index: int) -> float:
        """The index-th draw of random.Random(seed): the same messages match in a replay, whichever process
        of the node sees them."""
        rng, taken = self._draws.get(rule.id, (None, 0))
        if rng is None or taken > index:
            rng, taken = random.Random(rule.seed), 0
        while taken < index:
            rng.random()
            taken += 1
        value = rng.random()
        self._draws[rule.id] = (rng, taken + 1)
        return value

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        path = os.path.join(self.directory, STATE_FILE)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = b""
            while chunk := os.read(fd, 65536):
                raw += chunk
            try:
                state = json.loads(raw) if raw.strip() else {}
            except ValueError:
                state = {}
            yield state
            data = json.dumps(state).encode()
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, data)
        finally:
            os.close(fd)  # releases the lock

    def _append(self, record: dict[str, Any]) -> None:
        # One write on an O_APPEND descriptor: lines of concurrent processes never interleave, and the line is
        # in the page cache (it survives our own SIGKILL) before the action is taken.
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        fd = os.open(os.path.join(self.directory, MATCHES_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        LOG.warning("mistral-lab rpc: %s %s %s #%d %s", record["action"], record["side"], record["method"],
                    record["index"], record["ids"])


def _decoded(value: Any) -> Any:
    """Receive-side arguments are JSON text (Mistral's serializer); send-side ones are Python values."""
    if isinstance(value, str) and value[:1] in ('"', "{", "[") or value in ("null", "true", "false"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def carried_ids(args: Mapping[str, Any]) -> dict[str, Any]:
    """The workflow / task / action execution ids a message carries (only the arguments that hold ids are
    decoded: an action's input or result may be large)."""
    found: dict[str, Any] = {}

    def take(key: str, value: Any) -> None:
        if key in ID_KEYS and value not in (None, "", []):
            found.setdefault(ID_KEYS[key], value)

    for key in args:
        if key in ID_KEYS:
            take(key, _decoded(args[key]))
        elif key in NESTED_KEYS:
            nested = _decoded(args[key])
            if isinstance(nested, Mapping):
                for inner, value in nested.items():
                    if inner != "wf_identifier":
                        take(inner, value)
    if _decoded(args.get("wf_action")) is True and "action_execution_id" in found:
        # A sub-workflow reporting to its parent: the "action" id is a workflow execution's.
        found["workflow_execution_id"] = found.pop("action_execution_id")
    return found


# ------------------------------------------------------------------ effects
def crash_node() -> None:
    """SIGKILL this Mistral node. mistral-server runs each service in a worker forked by an oslo.service
    ProcessLauncher, which would fork a fresh worker if only the worker died: kill the launcher first."""
    parent = os.getppid()
    if _is_mistral_server(parent):
        os.kill(parent, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _is_mistral_server(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"mistral-server" in handle.read()
    except OSError:
        return False


def _no_reply(*_: Any, **__: Any) -> None:
    """Stands in for incoming.reply of a dropped call: the caller never hears back."""


def _again(run: Callable[[], Any]) -> None:
    """The duplicate's second delivery; its failure is logged, never raised (the first one's outcome counts)."""
    try:
        run()
    except Exception:
        LOG.exception("mistral-lab rpc: the duplicate delivery failed")


def _lost_call(context: Any) -> None:
    """A call whose request was lost: wait as long as the caller would, then time out the way oslo does."""
    timeout = getattr(context, "timeout", None) or getattr(getattr(context, "conf", None),
                                                           "rpc_response_timeout", 60)
    time.sleep(float(timeout))
    from oslo_messaging.exceptions import MessagingTimeout

    raise MessagingTimeout(f"mistral-lab rpc: request dropped, no reply within {timeout} s")


def apply(match: Match, run: Callable[[], Any], lose: Callable[[], Any]) -> Any:
    """Carry out a matched rule around `run` (dispatch or send the message once); `lose` is what a drop does."""
    action = match.rule.action
    if action == "drop":
        return lose()
    if action == "delay":
        time.sleep(match.rule.delay_ms / 1000.0)
        return run()
    if action == "duplicate":
        try:
            return run()
        finally:
            _again(run)
    try:  # crash-after
        return run()
    finally:
        crash_node()


# ------------------------------------------------------------------ the wrappers
RULES = RuleFile()
INJECTOR = Injector()


def wrap_dispatch(original: Callable[..., Any], rules: RuleFile | None = None,
                  injector: Injector | None = None) -> Callable[..., Any]:
    """RPCDispatcher.dispatch(self, incoming), receive side."""
    rule_file, decide = rules or RULES, injector or INJECTOR

    def dispatch(self: Any, incoming: Any) -> Any:
        in_force = rule_file.current()
        if not in_force:
            return original(self, incoming)
        message = getattr(incoming, "message", None) or {}
        # oslo gives every incoming message a msg_id (a fresh uuid for a cast); the AMQP driver keeps the
        # caller's, set only for a call, in orig_msg_id.
        call = bool(getattr(incoming, "orig_msg_id", getattr(incoming, "msg_id", None)))
        match = decide.match(in_force, "receive", message.get("method", ""), message.get("args") or {}, call)
        if match is None:
            return original(self, incoming)

        def lose() -> None:
            if call:
                incoming.reply = _no_reply  # acked already; the reply is what would tell the caller
            return None

        return apply(match, lambda: original(self, incoming), lose)

    setattr(dispatch, WRAPPED, True)
    dispatch.__wrapped__ = original  # type: ignore[attr-defined]
    return dispatch


def wrap_send(original: Callable[..., Any], kind: str, rules: RuleFile | None = None,
              injector: Injector | None = None) -> Callable[..., Any]:
    """_BaseCallContext.cast / .call(self, ctxt, method, **kwargs), send side."""
    rule_file, decide = rules or RULES, injector or INJECTOR
    call = kind == "call"

    def send(self: Any, ctxt: Any, method: str, **kwargs: Any) -> Any:
        in_force = rule_file.current()
        if not in_force:
            return original(self, ctxt, method, **kwargs)
        match = decide.match(in_force, "send", method, kwargs, call)
        if match is None:
            return original(self, ctxt, method, **kwargs)
        lose = (lambda: _lost_call(self)) if call else (lambda: None)
        return apply(match, lambda: original(self, ctxt, method, **kwargs), lose)

    setattr(send, WRAPPED, True)
    send.__name__ = kind
    send.__wrapped__ = original  # type: ignore[attr-defined]
    return send


def patch_dispatcher(module: Any) -> None:
    cls = module.RPCDispatcher
    if not getattr(cls.dispatch, WRAPPED, False):
        cls.dispatch = wrap_dispatch(cls.dispatch)


def patch_client(module: Any) -> None:
    cls = module._BaseCallContext
    for kind in ("cast", "call"):
        if not getattr(getattr(cls, kind), WRAPPED, False):
            setattr(cls, kind, wrap_send(getattr(cls, kind), kind))
