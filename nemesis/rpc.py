"""RPC faults inside the Mistral processes: drop, delay, duplicate or crash on chosen Mistral RPC messages.

This fault writes one rule into each target's rules file through `docker exec` (the image's `mistral_lab_rpc`
hook, compose/rpc_pack, applies it), waits until the hook has picked it up, and on heal removes it and returns
the node's matched messages and candidate counts as the heal result. How the hook works, the rules and what a
replay can compare: docs/faults.md#rpc.
"""
from __future__ import annotations

import json
import random
import time
import uuid
from typing import Any, TYPE_CHECKING

from cluster.errors import LabError
from cluster.topology import MISTRAL_ROLES
from nemesis.base import Fault, Opt, exec_command, register
from nemesis.nodes import bring_back, state_of

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster

RPC_DIR = "/run/lab-rpc"
ANY = "any"
# Mistral 23's RPC methods (engine, executor, notifier, event-engine endpoints); the hook has the same list.
METHODS = ("run_action", "on_action_complete", "on_action_update", "start_workflow", "report_running_actions",
           "start_task", "start_action", "pause_workflow", "resume_workflow", "rerun_workflow", "stop_workflow",
           "rollback_workflow", "notify", "create_event_trigger", "delete_event_trigger", "update_event_trigger")
SIDES = ("receive", "send")
ACTIONS = ("drop", "delay", "duplicate", "crash-after")
PICKUP_S = 1.3  # the hook looks at its rule file at most once a second
SENT_BY = {  # who sends each method (the receiver is the endpoint's role)
    "run_action": "engine", "start_task": "engine", "notify": "engine",
    "on_action_complete": "executor", "on_action_update": "executor", "report_running_actions": "executor",
}
RECEIVED_BY = {"run_action": "executor", "notify": "notifier"}

# In-container scripts (python3 is the image's Mistral venv). Writes are atomic renames: the hook never reads
# a torn file.
ADD_RULE = """
import json, os, sys
d, rule = sys.argv[1], json.loads(sys.argv[2])
os.makedirs(d, exist_ok=True)
path = os.path.join(d, "rules.json")
try:
    rules = json.load(open(path))["rules"]
except (OSError, ValueError, KeyError):
    rules = []
rules = [r for r in rules if r.get("id") != rule["id"]] + [rule]
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump({"rules": rules}, f)
os.replace(tmp, path)
"""
REMOVE_RULE = """
import json, os, sys
d, rule_id = sys.argv[1], sys.argv[2]
path = os.path.join(d, "rules.json")
try:
    rules = json.load(open(path))["rules"]
except (OSError, ValueError, KeyError):
    rules = []
left = [r for r in rules if r.get("id") != rule_id]
if left:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"rules": left}, f)
    os.replace(tmp, path)
elif os.path.exists(path):
    os.remove(path)
"""
# The rule's counts ({"seen": candidates, "matched": n}, {} when it saw none) out of the hook's state.json,
# under the hook's lock; the file goes once no rule is left. Run after every process has dropped the rule:
# removing the state earlier would let a process still holding the rule count from 0 again.
TAKE_STATE = """
import fcntl, json, os, sys
d, rule_id = sys.argv[1], sys.argv[2]
path = os.path.join(d, "state.json")
if not os.path.exists(path):
    print("{}")
    sys.exit(0)
with open(path, "r+") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
        state = json.loads(f.read() or "{}")
    except ValueError:
        state = {}
    entry = state.pop(rule_id, {}) if isinstance(state, dict) else {}
    if state or os.path.exists(os.path.join(d, "rules.json")):
        f.seek(0)
        f.truncate()
        f.write(json.dumps(state))
    else:
        os.remove(path)
print(json.dumps(entry))
"""
READ_MATCHES = """
import os, sys
path = os.path.join(sys.argv[1], "matches.jsonl")
if os.path.exists(path):
    sys.stdout.write(open(path).read())
"""


def default_role(method: str, side: str) -> str:
    """The role whose processes receive (or send) `method`: run_action is received by executors and sent
    by engines, start_workflow received by engines and sent by APIs, and so on."""
    if side == "receive":
        return RECEIVED_BY.get(method, "engine")
    return SENT_BY.get(method, "engine" if method == ANY else "api")


def run_python(cluster: Cluster, node: str, script: str, *args: str) -> str:
    """Run a Python snippet inside a Mistral node; LabError with its last line when it fails."""
    return exec_command(cluster, node, ["python3", "-c", script, *args])


def parse_matches(text: str, rule_id: str) -> list[dict[str, Any]]:
    """This rule's records from a matches.jsonl (other rules' lines and a torn last line are skipped)."""
    found = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("rule") == rule_id:
            found.append(record)
    return found


def read_matches(cluster: Cluster, node: str, rule_id: str) -> list[dict[str, Any]]:
    """The records a node has written so far for one rule (also usable while the rule is in force)."""
    return parse_matches(run_python(cluster, node, READ_MATCHES, RPC_DIR), rule_id)


def take_candidates(cluster: Cluster, node: str, rule_id: str) -> int:
    """How many candidate messages the rule saw on a node (and its count removed from the node's state)."""
    try:
        entry = json.loads(run_python(cluster, node, TAKE_STATE, RPC_DIR, rule_id) or "{}")
    except ValueError as exc:
        raise LabError(f"rpc: unreadable rule state in {node}: {exc}") from None
    return int(entry.get("seen", 0)) if isinstance(entry, dict) else 0


def clear_all_script() -> str:
    """Remove every lab RPC rule in a node; prints `rpc rules: <what>` when it removed some."""
    return (f"if [ -f {RPC_DIR}/rules.json ]; then "
            f"echo \"rpc rules: $(tr -d '\\n' < {RPC_DIR}/rules.json | cut -c1-200)\"; "
            f"rm -f {RPC_DIR}/rules.json {RPC_DIR}/rules.json.tmp {RPC_DIR}/state.json; fi\ntrue\n")


def list_script() -> str:
    """Prints `rpc rules` when a node has a lab RPC rule file."""
    return f"[ -f {RPC_DIR}/rules.json ] && echo 'rpc rules in {RPC_DIR}/rules.json'\ntrue\n"


@register
class Rpc(Fault):
    name = "rpc"
    summary = ("drop, delay, duplicate or crash-after chosen Mistral RPC messages inside the processes "
               "(oslo.messaging dispatch/send); heal returns the matched messages")
    OPTIONS = {
        "method": Opt(str, "run_action", "Mistral RPC method, or any", choices=(*METHODS, ANY)),
        "side": Opt(str, "receive", "receive (at dispatch, after the broker ack) or send", choices=SIDES),
        "action": Opt(str, "drop", "what happens to a matched message", choices=ACTIONS),
        "count": Opt(int, 0, "match only the first N candidates per node (default 1 unless probability is "
                             "given, then no cap)", low=1, high=1_000_000),
        "probability": Opt(float, 1.0, "match each candidate with this probability (seeded)", low=0.0, high=1.0),
        "delay_ms": Opt(int, 1000, "for action=delay: milliseconds before dispatch/send", low=0, high=600_000),
        "wait": Opt(bool, True, "on heal, wait until nodes restarted after crash-after serve again"),
    }
    ROLES = MISTRAL_ROLES

    def __post_init__(self) -> None:
        if self.target is None:  # the default target depends on the options: who receives or sends the method
            self.target = default_role(str(self.given_options.get("method", "run_action")),
                                       str(self.given_options.get("side", "receive")))
        super().__post_init__()

    def validate(self) -> None:
        given = set(self.given_options)
        if "delay_ms" in given and self.options["action"] != "delay":
            raise LabError(f"rpc: delay_ms only applies to action=delay (action is {self.options['action']})")
        if "count" not in given:
            self.options["count"] = 0 if "probability" in given else 1
        self.rule_id = uuid.uuid4().hex[:12]
        self.nodes: list[str] = []
        self.rule: dict[str, Any] = {}

    def make_rule(self, seed: int) -> dict[str, Any]:
        o = self.options
        return {"id": self.rule_id, "method": o["method"], "side": o["side"], "action": o["action"],
                "count": o["count"], "probability": o["probability"],
                "delay_ms": o["delay_ms"] if o["action"] == "delay" else 0, "seed": seed}

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        nodes = self._targets(cluster, rng)
        self.rule = self.make_rule(rng.getrandbits(32))
        for node in nodes:
            self.nodes.append(node.name)  # before the write: a partial start is healed too
            run_python(cluster, node.name, ADD_RULE, RPC_DIR, json.dumps(self.rule))
        time.sleep(PICKUP_S)  # once start returns, the rule is in force in every target
        return {"nodes": [n.name for n in nodes], "rule": self.rule}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        errors: dict[str, str] = {}
        removed = []
        for node in self.nodes:
            if state_of(cluster, node) == "running":
                try:
                    run_python(cluster, node, REMOVE_RULE, RPC_DIR, self.rule_id)
                    removed.append(node)
                except LabError as exc:
                    errors[node] = str(exc)
        if self.nodes:
            time.sleep(PICKUP_S)  # let every process drop the rule before its counts and matches are read
        candidates: dict[str, int] = {}
        for node in removed:  # before any restart: a restarted node's state.json is gone
            if state_of(cluster, node) != "running":
                continue  # crashed in between: its count went with it
            try:
                candidates[node] = take_candidates(cluster, node, self.rule_id)
            except LabError as exc:
                errors.setdefault(node, str(exc))
        down = [n for n in self.nodes if state_of(cluster, n) in ("exited", "dead", "created")]
        restarted = bring_back(cluster, down, wait=self.options["wait"]) if down else {}
        matches: list[dict[str, Any]] = []
        for node in self.nodes:
            if state_of(cluster, node) != "running":
                continue
            try:
                matches += read_matches(cluster, node, self.rule_id)
            except LabError as exc:
                errors.setdefault(node, str(exc))
        self.nodes = []
        result: dict[str, Any] = {"matches": sorted(matches, key=lambda m: m.get("time", 0)),
                                  "candidates": candidates}
        if restarted:
            result["restarted"] = restarted
        if errors:
            result["errors"] = errors
        return result

    def describe(self) -> str:
        o = self.options
        how = (f"first {o['count']}" if o["count"] else "every") + \
            (f" with p={o['probability']:g}" if o["probability"] < 1 else "")
        what = f"{o['action']} ({o['delay_ms']} ms)" if o["action"] == "delay" else o["action"]
        return f"rpc: {what} {how} {o['method']} on {o['side']} in {self.target}, clear on heal"
