"""The rpc fault offline: the in-process hook's rule parsing, matching, recording and wrappers (driven with
fakes for oslo.messaging, which the host does not have), the import hook, the in-container scripts, and the
fault's option checks, down to the CLI's exit 3."""
from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from cluster.errors import LabError
from cluster.paths import COMPOSE_DIR
from nemesis import make_fault
from nemesis import rpc as rpc_fault

PACK = COMPOSE_DIR / "rpc_pack"
ROOT = Path(__file__).resolve().parents[2]


def _load_pack(name: str) -> types.ModuleType:
    """A module of the pack as the image imports it (mistral_lab_rpc.<name>); the pack is not on the path."""
    sys.path.insert(0, str(PACK))
    try:
        return importlib.import_module(f"mistral_lab_rpc.{name}")
    finally:
        sys.path.remove(str(PACK))


hook, hook_rules = _load_pack("hook"), _load_pack("rules")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def write_rules(directory: Path, *rules: dict) -> None:
    (directory / "rules.json").write_text(json.dumps({"rules": list(rules)}))


def rule(**fields) -> dict:
    return {"id": "r1", "method": "run_action", "side": "receive", "action": "drop", **fields}


def matches(directory: Path) -> list[dict]:
    path = directory / "matches.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ------------------------------------------------------------------ rules
def test_rule_parse_defaults_and_both_file_forms() -> None:
    parsed = hook_rules.Rule.parse({"method": "on_action_complete", "action": "delay", "delay_ms": 250, "seed": 3})
    assert (parsed.side, parsed.count, parsed.probability, parsed.delay_ms, parsed.seed) == ("receive", 0, 1.0,
                                                                                             250, 3)
    assert parsed.id == hook_rules.Rule.parse({"method": "on_action_complete", "action": "delay", "delay_ms": 250,
                                         "seed": 3}).id  # a content id: stable across re-reads
    assert [r.id for r in hook_rules.parse_rules(json.dumps({"rules": [rule(), rule(id="r2")]}))] == ["r1", "r2"]
    assert hook_rules.parse_rules(json.dumps(rule(method="any")))[0].method == "any"


@pytest.mark.parametrize("bad, message", [
    ({"method": "run_actions"}, "unknown method"),
    ({"action": "explode"}, "unknown action"),
    ({"side": "both"}, "side must be"),
    ({"probability": 1.5}, "probability within"),
    ({"count": -1}, "count and delay_ms"),
    ({"count": "many"}, "bad number"),
    ({"colour": "red"}, "unknown rule field"),
])
def test_rule_parse_refuses_bad_rules(bad: dict, message: str) -> None:
    with pytest.raises(hook_rules.RuleError, match=message):
        hook_rules.Rule.parse(rule(**bad))


def test_rule_fits_side_and_method() -> None:
    receive = hook_rules.Rule.parse(rule())
    assert receive.fits("receive", "run_action")
    assert not receive.fits("send", "run_action") and not receive.fits("receive", "on_action_complete")
    assert hook_rules.Rule.parse(rule(method="any", side="send")).fits("send", "report_running_actions")


def test_rule_file_is_looked_up_at_most_once_per_interval(tmp_path: Path) -> None:
    clock = FakeClock()
    rules = hook_rules.RuleFile(str(tmp_path), interval=1.0, clock=clock)
    assert rules.current() == ()
    write_rules(tmp_path, rule())
    assert rules.current() == ()            # cached: no stat within the interval
    clock.now += 1.0
    assert [r.id for r in rules.current()] == ["r1"]
    (tmp_path / "rules.json").unlink()
    assert [r.id for r in rules.current()] == ["r1"]
    clock.now += 1.0
    assert rules.current() == ()


def test_rule_file_ignores_a_broken_file_and_rereads_it(tmp_path: Path) -> None:
    clock = FakeClock()
    rules = hook_rules.RuleFile(str(tmp_path), interval=1.0, clock=clock)
    (tmp_path / "rules.json").write_text('{"rules": [{"method": "run_action", "action": "bogus"}]}')
    assert rules.current() == ()
    write_rules(tmp_path, rule())
    clock.now += 1.0
    assert len(rules.current()) == 1


# ------------------------------------------------------------------ matching
def _candidates(injector, rules, n: int, method: str = "run_action") -> list[bool]:
    return [injector.match(rules, "receive", method, {"action_ex_id": f'"a{i}"'}, False) is not None
            for i in range(n)]


def test_count_matches_the_first_n_candidates_across_processes(tmp_path: Path) -> None:
    rules = (hook_rules.Rule.parse(rule(count=2)),)
    first, second = hook.Injector(str(tmp_path)), hook.Injector(str(tmp_path))  # two processes of one node
    assert first.match(rules, "receive", "on_action_complete", {}, False) is None  # not a candidate
    assert _candidates(first, rules, 1) == [True]
    assert _candidates(second, rules, 3) == [True, False, False]
    assert _candidates(first, rules, 1) == [False]
    assert [m["index"] for m in matches(tmp_path)] == [0, 1]
    assert json.loads((tmp_path / "state.json").read_text())["r1"] == {"seen": 3, "matched": 2}  # spent rules are skipped in-process


def test_probability_draws_follow_the_seed_in_order_whichever_process_sees_the_message(tmp_path: Path) -> None:
    rules = (hook_rules.Rule.parse(rule(probability=0.4, seed=42)),)
    rng = random.Random(42)
    expected = [rng.random() < 0.4 for _ in range(30)]
    injectors = [hook.Injector(str(tmp_path)), hook.Injector(str(tmp_path))]
    got = [_candidates(injectors[i % 3 == 0], rules, 1)[0] for i in range(30)]  # interleaved unevenly
    assert got == expected and 0 < sum(got) < 30


def _recorded_run(directory: Path, seed: int, messages: list[str], processes: int = 2) -> list[int]:
    """One run of a probability rule on a fresh node: the candidate indices it recorded as matched."""
    directory.mkdir()
    rules = (hook_rules.Rule.parse(rule(id="p", action="delay", delay_ms=1, probability=0.5, seed=seed)),)
    injectors = [hook.Injector(str(directory)) for _ in range(processes)]
    for number, action_ex in enumerate(messages):
        injectors[number % processes].match(rules, "receive", "run_action", {"action_ex_id": f'"{action_ex}"'},
                                            False)
    return [m["index"] for m in matches(directory)]


def test_a_replay_with_the_same_seed_records_the_same_matched_indices(tmp_path: Path) -> None:
    # Other messages, another spread over the node's processes, a different length: the same indices match
    # on the common prefix, the one random.Random(seed) gives, and another seed matches others.
    first = _recorded_run(tmp_path / "run", 77, [f"a{i}" for i in range(40)], processes=2)
    replay = _recorded_run(tmp_path / "replay", 77, [f"b{i}" for i in range(25)], processes=3)
    other = _recorded_run(tmp_path / "other-seed", 78, [f"a{i}" for i in range(40)], processes=2)
    rng = random.Random(77)
    assert first == [k for k in range(40) if rng.random() < 0.5]
    assert replay == [k for k in first if k < 25] and 0 < len(replay) < 25
    assert [k for k in other if k < 25] != replay


def test_probability_with_count_caps_the_matches(tmp_path: Path) -> None:
    rules = (hook_rules.Rule.parse(rule(probability=0.5, seed=1, count=3)),)
    assert sum(_candidates(hook.Injector(str(tmp_path)), rules, 40)) == 3


def test_a_failing_hook_lets_the_message_through(tmp_path: Path) -> None:
    broken = hook.Injector(str(tmp_path / "missing-dir"))  # the state file cannot be opened
    assert broken.match((hook_rules.Rule.parse(rule()),), "receive", "run_action", {}, False) is None


def test_first_fitting_rule_wins(tmp_path: Path) -> None:
    rules = hook_rules.parse_rules(json.dumps({"rules": [rule(id="a", method="any", count=1), rule(id="b")]}))
    injector = hook.Injector(str(tmp_path))
    assert injector.match(rules, "receive", "run_action", {}, False).rule.id == "a"
    assert injector.match(rules, "receive", "run_action", {}, False) is None  # a is spent; b never sees it


def test_a_match_is_recorded_with_node_pid_and_ids(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MISTRAL_NODE", "executor-2")
    injector = hook.Injector(str(tmp_path))
    args = {"action": '{"__serial_key": "x", "__serial_data": {}}', "action_ex_id": '"ae-1"', "safe_rerun": "false",
            "exec_ctx": json.dumps({"workflow_execution_id": "wf-1", "task_execution_id": "t-1",
                                    "action_execution_id": "ae-1", "workflow_name": "w"}), "timeout": "null"}
    injector.match((hook_rules.Rule.parse(rule()),), "receive", "run_action", args, False)
    (record,) = matches(tmp_path)
    assert record["node"] == "executor-2" and record["pid"] == os.getpid() and record["call"] is False
    assert (record["method"], record["side"], record["action"], record["rule"]) == ("run_action", "receive",
                                                                                    "drop", "r1")
    assert record["ids"] == {"action_execution_id": "ae-1", "workflow_execution_id": "wf-1",
                             "task_execution_id": "t-1"}


@pytest.mark.parametrize("args, ids", [
    ({"action_ex_ids": '["a", "b"]'}, {"action_execution_ids": ["a", "b"]}),       # report_running_actions
    ({"action_ex_ids": ["a"]}, {"action_execution_ids": ["a"]}),                   # ... on the send side
    ({"wf_identifier": '"wf"', "wf_ex_id": '"e-1"', "params": '{"task_execution_id": "t-0"}'},
     {"workflow": "wf", "workflow_execution_id": "e-1", "task_execution_id": "t-0"}),  # start_workflow
    ({"wf_identifier": "wf", "wf_ex_id": None, "params": {}}, {"workflow": "wf"}),
    ({"action_ex_id": '"sub-wf"', "wf_action": "true", "result": '{"big": 1}'},
     {"workflow_execution_id": "sub-wf"}),                                         # a sub-workflow's result
    ({"action_ex_id": "ae-9", "wf_action": False}, {"action_execution_id": "ae-9"}),
])
def test_carried_ids(args: dict, ids: dict) -> None:
    assert hook.carried_ids(args) == ids


# ------------------------------------------------------------------ wrappers
class FakeIncoming:
    def __init__(self, method: str = "run_action", msg_id: str | None = None) -> None:
        self.message = {"method": method, "args": {"action_ex_id": '"ae-1"'}}
        self.orig_msg_id = msg_id                  # the AMQP driver's: None for a cast
        self.msg_id = msg_id or "uuid-of-a-cast"   # oslo's IncomingMessage always has one
        self.replies: list = []

    def reply(self, reply=None, failure=None) -> None:
        self.replies.append(reply)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []


@pytest.fixture
def wired(tmp_path: Path, monkeypatch):
    """A dispatcher and a call context wrapped by the hook, the rules read from tmp_path, no real sleep or
    kill: returns (set_rules, dispatcher, context, events)."""
    events: list[str] = []
    clock = FakeClock()
    rules, injector = hook_rules.RuleFile(str(tmp_path), clock=clock), hook.Injector(str(tmp_path))
    monkeypatch.setattr(hook.time, "sleep", lambda s: events.append(f"sleep {s:g}"))
    monkeypatch.setattr(hook, "crash_node", lambda: events.append("crash"))

    class Dispatcher:
        def dispatch(self, incoming):
            events.append(f"dispatch {incoming.message['method']}")
            return "result"

    class Context:
        timeout = 7
        conf = types.SimpleNamespace(rpc_response_timeout=60)

        def cast(self, ctxt, method, **kwargs):
            events.append(f"cast {method}")

        def call(self, ctxt, method, **kwargs):
            events.append(f"call {method}")
            return "reply"

    Dispatcher.dispatch = hook.wrap_dispatch(Dispatcher.dispatch, rules, injector)
    Context.cast = hook.wrap_send(Context.cast, "cast", rules, injector)
    Context.call = hook.wrap_send(Context.call, "call", rules, injector)

    def set_rules(*items: dict) -> None:
        write_rules(tmp_path, *items)
        clock.now += 1.0

    return set_rules, Dispatcher(), Context(), events


def test_no_rule_passes_straight_through(wired) -> None:
    _, dispatcher, context, events = wired
    assert dispatcher.dispatch(FakeIncoming()) == "result"
    assert context.call({}, "start_workflow", wf_ex_id="e") == "reply"
    assert events == ["dispatch run_action", "call start_workflow"]


def test_receive_drop_of_a_call_dispatches_nothing_and_never_replies(wired) -> None:
    set_rules, dispatcher, _, events = wired
    set_rules(rule(method="start_workflow", count=1))
    incoming = FakeIncoming("start_workflow", msg_id="m-1")
    assert dispatcher.dispatch(incoming) is None
    incoming.reply("anything")      # what oslo's _process_incoming does next
    assert events == [] and incoming.replies == []
    assert dispatcher.dispatch(FakeIncoming("start_workflow", msg_id="m-2")) == "result"  # count=1: spent


def test_receive_delay_duplicate_and_crash_after(wired) -> None:
    set_rules, dispatcher, _, events = wired
    set_rules(rule(action="delay", delay_ms=250, count=1), rule(id="dup", method="on_action_complete",
                                                                action="duplicate"),
              rule(id="crash", method="report_running_actions", action="crash-after"))
    assert dispatcher.dispatch(FakeIncoming()) == "result"
    assert dispatcher.dispatch(FakeIncoming("on_action_complete")) == "result"
    assert dispatcher.dispatch(FakeIncoming("report_running_actions")) == "result"
    assert events == ["sleep 0.25", "dispatch run_action", "dispatch on_action_complete",
                      "dispatch on_action_complete", "dispatch report_running_actions", "crash"]


def test_duplicate_runs_the_second_delivery_even_when_the_first_fails(tmp_path: Path) -> None:
    runs: list[int] = []

    def run():
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("first")

    match = hook.Match(hook_rules.Rule.parse(rule(action="duplicate")), 0, {})
    with pytest.raises(RuntimeError, match="first"):
        hook.apply(match, run, lambda: None)
    assert len(runs) == 2


def test_send_side_drop_duplicate_and_crash(wired) -> None:
    set_rules, _, context, events = wired
    set_rules(rule(side="send", count=1), rule(id="dup", side="send", method="on_action_complete",
                                                 action="duplicate"),
              rule(id="crash", side="send", method="start_workflow", action="crash-after"))
    assert context.cast({}, "run_action", action_ex_id="a") is None
    context.cast({}, "run_action", action_ex_id="b")
    context.cast({}, "on_action_complete", action_ex_id="c")
    assert context.call({}, "start_workflow", wf_ex_id="e") == "reply"
    assert events == ["cast run_action", "cast on_action_complete", "cast on_action_complete",
                      "call start_workflow", "crash"]


def test_send_side_drop_of_a_call_times_out_like_a_lost_request(wired, monkeypatch) -> None:
    set_rules, _, context, events = wired

    class MessagingTimeout(Exception):
        pass

    fake = types.ModuleType("oslo_messaging.exceptions")
    fake.MessagingTimeout = MessagingTimeout
    monkeypatch.setitem(sys.modules, "oslo_messaging", types.ModuleType("oslo_messaging"))
    monkeypatch.setitem(sys.modules, "oslo_messaging.exceptions", fake)
    set_rules(rule(side="send", method="start_workflow"))
    with pytest.raises(MessagingTimeout):
        context.call({}, "start_workflow", wf_ex_id="e")
    assert events == ["sleep 7"]  # the context's own timeout, nothing sent


def test_patching_is_idempotent() -> None:
    class RPCDispatcher:
        def dispatch(self, incoming):
            return "x"

    class _BaseCallContext:
        def cast(self, ctxt, method, **kwargs):
            return None

        def call(self, ctxt, method, **kwargs):
            return None

    dispatcher_module = types.SimpleNamespace(RPCDispatcher=RPCDispatcher)
    client_module = types.SimpleNamespace(_BaseCallContext=_BaseCallContext)
    for _ in range(2):
        hook.patch_dispatcher(dispatcher_module)
        hook.patch_client(client_module)
    assert RPCDispatcher.dispatch.__wrapped__.__name__ == "dispatch"
    assert not getattr(RPCDispatcher.dispatch.__wrapped__, hook.WRAPPED, False)
    assert not getattr(_BaseCallContext.call.__wrapped__, hook.WRAPPED, False)


def test_crash_node_kills_the_launcher_parent_then_itself(monkeypatch) -> None:
    killed: list[int] = []
    monkeypatch.setattr(hook.os, "kill", lambda pid, sig: killed.append(pid))
    monkeypatch.setattr(hook, "_is_mistral_server", lambda pid: True)
    hook.crash_node()
    assert killed == [os.getppid(), os.getpid()]


def test_boot_patches_oslo_messaging_when_it_is_imported(tmp_path: Path) -> None:
    """The .pth's import hook, in a fresh interpreter with a fake oslo_messaging first on the path."""
    fake = tmp_path / "oslo_messaging" / "rpc"
    fake.mkdir(parents=True)
    (tmp_path / "oslo_messaging" / "__init__.py").write_text("from oslo_messaging import rpc\n")
    (fake / "__init__.py").write_text("from oslo_messaging.rpc import client, dispatcher\n")
    (fake / "dispatcher.py").write_text("class RPCDispatcher:\n    def dispatch(self, incoming):\n        return 1\n")
    (fake / "client.py").write_text("class _BaseCallContext:\n    def cast(self, c, m, **k): pass\n"
                                    "    def call(self, c, m, **k): pass\n")
    probe = textwrap.dedent("""
        import sys
        import mistral_lab_rpc.boot
        assert "mistral_lab_rpc.hook" not in sys.modules  # nothing heavy before oslo.messaging loads
        import oslo_messaging
        from oslo_messaging.rpc import client, dispatcher
        flag = "_mistral_lab_rpc_wrapped"
        print(getattr(dispatcher.RPCDispatcher.dispatch, flag, False), getattr(client._BaseCallContext.cast, flag,
              False), getattr(client._BaseCallContext.call, flag, False), dispatcher.__spec__.origin is not None)
    """)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{PACK}", "MISTRAL_LAB_RPC_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "True", "True"]
    off = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                         env={**env, "MISTRAL_LAB_RPC_HOOK": "0"})
    assert off.stdout.split() == ["False", "False", "False", "True"]


def test_boot_swaps_time_sleep_only_under_faketime_without_fake_monotonic() -> None:
    probe = textwrap.dedent("""
        import time
        import mistral_lab_rpc.boot
        t = time.monotonic(); time.sleep(0.05); slept = time.monotonic() - t
        try:
            time.sleep(-1)
        except ValueError:
            negative = "ValueError"
        # eventlet's hub (releases before 21.0.0) sleeps with sys.modules["__original_module_time"] when present;
        # eventlet's monkey_patch then greens time.sleep, which must not reach the hub's copy
        import sys
        unpatched = sys.modules.get("__original_module_time")
        swapped = time.sleep.__module__
        time.sleep = lambda seconds: None
        hub_sleep = unpatched.sleep.__module__ if unpatched is not None and unpatched is not time else "none"
        print(swapped, slept >= 0.05, negative, hub_sleep)
    """)
    base = {**os.environ, "PYTHONPATH": str(PACK), "MISTRAL_LAB_RPC_HOOK": "0"}
    runs = {}
    for name, extra in (("faked", {"LD_PRELOAD": "/nonexistent/libfaketimeMT.so.1",
                                   "FAKETIME_DONT_FAKE_MONOTONIC": "1"}),
                        ("plain", {})):
        env = {k: v for k, v in base.items() if k not in ("LD_PRELOAD", "FAKETIME_DONT_FAKE_MONOTONIC")}
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                             env={**env, **extra})
        assert out.returncode == 0, out.stderr
        runs[name] = out.stdout.split()
    assert runs == {"faked": ["mistral_lab_rpc.boot", "True", "ValueError", "mistral_lab_rpc.boot"],
                    "plain": ["time", "True", "ValueError", "none"]}


def test_pth_installer_writes_the_import_line(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("lab_rpc_main_under_test", PACK / "mistral_lab_rpc" / "__main__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.PTH_LINE == "import mistral_lab_rpc.boot\n"  # a .pth runs lines that start with `import`


# ------------------------------------------------------------------ in-container scripts
def _py(script: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_add_remove_rule_scripts_keep_other_rules_and_read_matches(tmp_path: Path) -> None:
    directory = str(tmp_path / "lab-rpc")
    _py(rpc_fault.ADD_RULE, directory, json.dumps(rule(id="a")))
    _py(rpc_fault.ADD_RULE, directory, json.dumps(rule(id="b", method="any")))
    assert [r.id for r in hook_rules.parse_rules((tmp_path / "lab-rpc" / "rules.json").read_text())] == ["a", "b"]
    _py(rpc_fault.REMOVE_RULE, directory, "a")
    assert [r["id"] for r in json.loads((tmp_path / "lab-rpc" / "rules.json").read_text())["rules"]] == ["b"]
    (tmp_path / "lab-rpc" / "state.json").write_text("{}")
    _py(rpc_fault.REMOVE_RULE, directory, "b")
    assert sorted(os.listdir(directory)) == ["state.json"]  # kept until the rule's counts are taken
    assert json.loads(_py(rpc_fault.TAKE_STATE, directory, "b")) == {}
    assert sorted(os.listdir(directory)) == []
    (tmp_path / "lab-rpc" / "matches.jsonl").write_text('{"rule": "a", "index": 0}\n{"rule": "b"}\n{"rule": "a"')
    assert rpc_fault.parse_matches(_py(rpc_fault.READ_MATCHES, directory), "a") == [{"rule": "a", "index": 0}]


def test_clear_all_script_removes_rules_and_says_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(rpc_fault, "RPC_DIR", str(tmp_path))
    write_rules(tmp_path, rule())
    (tmp_path / "matches.jsonl").write_text("{}\n")
    listed = subprocess.run(["sh", "-c", rpc_fault.list_script()], capture_output=True, text=True).stdout
    out = subprocess.run(["sh", "-c", rpc_fault.clear_all_script()], capture_output=True, text=True).stdout
    assert listed.startswith("rpc rules") and out.startswith("rpc rules: {")
    assert sorted(os.listdir(tmp_path)) == ["matches.jsonl"]  # the record of what happened stays
    assert subprocess.run(["sh", "-c", rpc_fault.clear_all_script()], capture_output=True, text=True).stdout == ""


def test_take_state_pops_one_rules_counts_and_removes_the_file_when_nothing_is_left(tmp_path: Path) -> None:
    directory = tmp_path / "lab-rpc"
    directory.mkdir()
    (directory / "state.json").write_text(json.dumps({"a": {"seen": 9, "matched": 4}, "b": {"seen": 1, "matched": 0}}))
    assert json.loads(_py(rpc_fault.TAKE_STATE, str(directory), "a")) == {"seen": 9, "matched": 4}
    assert json.loads((directory / "state.json").read_text()) == {"b": {"seen": 1, "matched": 0}}
    write_rules(directory, rule(id="b"))
    (directory / "state.json").write_text(json.dumps({"b": {"seen": 1, "matched": 0}}))
    assert json.loads(_py(rpc_fault.TAKE_STATE, str(directory), "b")) == {"seen": 1, "matched": 0}
    assert (directory / "state.json").read_text() == "{}"  # another rule file is in force: the file stays
    (directory / "rules.json").unlink()
    assert json.loads(_py(rpc_fault.TAKE_STATE, str(directory), "zzz")) == {}
    assert sorted(os.listdir(directory)) == []
    assert json.loads(_py(rpc_fault.TAKE_STATE, str(directory), "a")) == {}  # no state file at all


class LocalNodes:
    """A cluster whose Mistral nodes are directories: the fault's in-container scripts run here, in the
    node's directory instead of /run/lab-rpc; the hook is driven by hand through Injectors."""

    name = "local"

    def __init__(self, root: Path, names: list[str]) -> None:
        self.root = root
        self._nodes = [types.SimpleNamespace(name=n, role=n.rsplit("-", 1)[0], state="running", running=True)
                       for n in names]

    def nodes(self, role: str | None = None) -> list:
        return [n for n in self._nodes if role is None or n.role == role]

    def node(self, name: str):
        return next(n for n in self._nodes if n.name == name)

    def dir(self, node: str) -> Path:
        return self.root / node

    def exec(self, node: str, argv: list[str], user: str = "root") -> tuple[int, str]:
        assert argv[:2] == ["python3", "-c"] and argv[3] == rpc_fault.RPC_DIR
        out = subprocess.run([sys.executable, "-c", argv[2], str(self.dir(node)), *argv[4:]],
                             capture_output=True, text=True, timeout=30)
        return out.returncode, out.stdout + out.stderr

    def candidates(self, node: str, n: int, monkeypatch, processes: int = 2) -> None:
        """n run_action messages reach the node, spread over its processes, under the rules in force."""
        monkeypatch.setenv("MISTRAL_NODE", node)  # what the node's processes record as their node
        injectors = [hook.Injector(str(self.dir(node))) for _ in range(processes)]
        in_force = hook_rules.parse_rules((self.dir(node) / "rules.json").read_text())
        for i in range(n):
            injectors[i % processes].match(in_force, "receive", "run_action", {"action_ex_id": f'"{node}-{i}"'},
                                           False)


def _probability_run(tmp_path: Path, seed: int, seen: dict[str, int], monkeypatch) -> tuple[dict, dict]:
    monkeypatch.setattr(rpc_fault, "PICKUP_S", 0.0)
    cluster = LocalNodes(tmp_path, ["executor-1", "executor-2"])
    fault = make_fault("rpc", {"method": "run_action", "action": "delay", "delay_ms": "1", "probability": "0.5"},
                       "executor")
    done = fault.start(cluster, random.Random(seed))
    for node, n in seen.items():
        cluster.candidates(node, n, monkeypatch)
    healed = fault.heal(cluster)
    assert all(sorted(os.listdir(cluster.dir(n))) == ["matches.jsonl"] for n in seen)  # rule and state gone
    return done, healed


def test_heal_reports_each_nodes_candidates_and_a_replay_matches_the_same_indices(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    done, healed = _probability_run(tmp_path / "run", 5, {"executor-1": 30, "executor-2": 12}, monkeypatch)
    assert healed["candidates"] == {"executor-1": 30, "executor-2": 12}
    by_node = {n: [m["index"] for m in healed["matches"] if m["node"] == n] for n in ("executor-1", "executor-2")}
    for node, seen in healed["candidates"].items():
        rng = random.Random(done["rule"]["seed"])
        assert by_node[node] == [k for k in range(seen) if rng.random() < 0.5]
    replay_done, replay = _probability_run(tmp_path / "replay", 5, {"executor-1": 20, "executor-2": 15},
                                           monkeypatch)
    assert replay_done["rule"]["seed"] == done["rule"]["seed"] and replay["candidates"]["executor-1"] == 20
    again = {n: [m["index"] for m in replay["matches"] if m["node"] == n] for n in by_node}
    assert again["executor-1"] == [k for k in by_node["executor-1"] if k < 20]
    assert [k for k in again["executor-2"] if k < 12] == by_node["executor-2"]
    other_done, other = _probability_run(tmp_path / "other", 6, {"executor-1": 30}, monkeypatch)
    assert other_done["rule"]["seed"] != done["rule"]["seed"]
    assert [m["index"] for m in other["matches"]] != by_node["executor-1"]


def test_heal_counts_zero_candidates_for_a_node_the_rule_never_saw(tmp_path: Path, monkeypatch) -> None:
    _, healed = _probability_run(tmp_path, 5, {}, monkeypatch)
    assert healed["candidates"] == {"executor-1": 0, "executor-2": 0} and healed["matches"] == []


# ------------------------------------------------------------------ the fault's options
def test_fault_and_hook_agree_on_the_vocabulary() -> None:
    assert (rpc_fault.METHODS, rpc_fault.SIDES, rpc_fault.ACTIONS, rpc_fault.ANY, rpc_fault.RPC_DIR) == \
        (hook_rules.METHODS, hook_rules.SIDES, hook_rules.ACTIONS, hook_rules.ANY, hook_rules.RULES_DIR)


@pytest.mark.parametrize("options, message", [
    ({"method": "run_actions"}, "option method='run_actions' must be one of run_action"),
    ({"action": "bogus"}, "option action='bogus' must be one of drop, delay, duplicate, crash-after"),
    ({"side": "both"}, "must be one of receive, send"),
    ({"count": "0"}, "option count='0' must be between 1 and"),
    ({"count": "x"}, "must be an int"),
    ({"probability": "1.5"}, "option probability='1.5' must be between 0 and 1"),
    ({"probability": "-0.1"}, "must be between 0 and 1"),
    ({"delay_ms": "10"}, "delay_ms only applies to action=delay"),
    ({"action": "delay", "delay_ms": "-1"}, "must be between 0 and"),
    ({"seed": "1"}, "unknown option 'seed'"),
])
def test_bad_options_fail_before_docker(options: dict, message: str) -> None:
    with pytest.raises(LabError, match=message):
        make_fault("rpc", options)


def test_bad_target_fails_before_docker() -> None:
    with pytest.raises(LabError, match="not allowed here"):
        make_fault("rpc", {}, "broker")


@pytest.mark.parametrize("method, side, role", [
    ("run_action", "receive", "executor"), ("run_action", "send", "engine"),
    ("on_action_complete", "receive", "engine"), ("on_action_complete", "send", "executor"),
    ("start_workflow", "receive", "engine"), ("start_workflow", "send", "api"),
    ("report_running_actions", "receive", "engine"), ("report_running_actions", "send", "executor"),
    ("notify", "receive", "notifier"), ("any", "send", "engine"),
])
def test_default_target_is_the_role_that_handles_the_message(method: str, side: str, role: str) -> None:
    assert make_fault("rpc", {"method": method, "side": side}).target == role


def test_count_default_and_the_rule_written() -> None:
    assert make_fault("rpc").options["count"] == 1
    assert make_fault("rpc", {"probability": "0.3"}).options["count"] == 0
    fault = make_fault("rpc", {"method": "on_action_complete", "action": "delay", "delay_ms": "500", "count": "2"},
                       "engine-1")
    written = fault.make_rule(seed=9)
    assert written == {"id": fault.rule_id, "method": "on_action_complete", "side": "receive", "action": "delay",
                       "count": 2, "probability": 1.0, "delay_ms": 500, "seed": 9}
    assert hook_rules.Rule.parse(written).delay_ms == 500  # what the fault writes, the hook reads
    assert fault.describe() == "rpc: delay (500 ms) first 2 on_action_complete on receive in engine-1, clear on heal"
    assert make_fault("rpc", {"probability": "0.5"}).describe() == \
        "rpc: drop every with p=0.5 run_action on receive in executor, clear on heal"


def test_cli_bad_rule_is_one_line_and_exit_3() -> None:
    out = subprocess.run([sys.executable, "-m", "lab", "nemesis", "rpc", "--name", "nope", "--option",
                          "action=bogus"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 3, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "action='bogus' must be one of drop, delay, duplicate, crash-after" in lines[0]
    assert out.stdout == ""
