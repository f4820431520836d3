"""`mistral-lab inspect` and `recover` against a fake Mistral 23 API (lab.tests.operators_fixtures): what each
lists, the exact calls a dry run prints, what --apply does and refuses, and one-line errors."""
from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from checker.tests.stuck_fixtures import action, execution, stuck_world, task
from cluster.errors import LabError
from lab.cli import operators as operators_cli
from lab.tests.operators_fixtures import FakeMistral

app = typer.Typer()
operators_cli.register(app)
runner = CliRunner()


@pytest.fixture
def api():
    with FakeMistral(*stuck_world()) as fake:
        yield fake


def run(*args):
    return runner.invoke(app, list(args))


def puts(fake):
    return [(path, body) for path, body in fake.puts]


# ---------------------------------------------------------------- inspect
def test_inspect_json_lists_each_class_with_evidence_and_exits_1(api):
    result = run("inspect", "--url", api.url, "--no-auth", "--json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"source", "now", "now_source", "thresholds", "rules", "read", "stuck_count", "counts", "items"}
    assert doc["now"] == "2026-01-01 12:00:00" and doc["now_source"] == "server"  # the API node's Date header
    assert doc["thresholds"]["heartbeat_window_s"] == 300 and doc["thresholds"]["first_heartbeat_timeout_s"] == 3600
    assert doc["counts"] == {"abandoned-action/heartbeat": 1, "stuck-execution/idle-task": 1,
                             "stuck-execution/running-action": 1, "stuck-execution/unfinished-workflow": 1,
                             "stuck-execution/waiting-join": 1}
    item = next(i for i in doc["items"] if i["kind"] == "running-action")
    assert set(item) >= {"class", "kind", "summary", "execution_id", "root_execution_id", "workflow", "state",
                         "since", "for_s", "task_execution_ids", "action_execution_ids", "evidence"}
    assert item["for_s"] == 3600.0 and item["action_execution_ids"] == ["a-ra"]
    running = item["evidence"]["running_actions"][0]
    assert running["last_heartbeat_source"] == "inferred" and running["expired"] is True
    assert running["last_heartbeat_bound"] == "2026-01-01 11:00:00"  # created 2 h ago + first_heartbeat_timeout
    assert "ex-healthy-slow" not in {i["execution_id"] for i in doc["items"]}
    assert all(method == "GET" for method, _ in api.requests)  # read-only


def test_inspect_pages_through_every_row(api):
    """max_limit 2 in the fake: every list needs several pages, and none may be lost."""
    api.max_limit = 1
    result = run("inspect", "--url", api.url + "/v2/", "--no-auth", "--json")
    assert json.loads(result.stdout)["read"] == {"executions": 6, "tasks": 7, "action_executions": 3}


def test_inspect_table_names_the_items(api):
    result = run("inspect", "--url", api.url, "--no-auth")
    assert result.exit_code == 1
    for text in ("waiting-join", "running-action", "idle-task", "unfinished-workflow", "abandoned-action"):
        assert text in result.stdout


def test_a_healthy_deployment_under_load_reports_nothing_and_exits_0():
    executions = [execution(f"ex-{i}", created=7200, updated=7200) for i in range(3)]
    tasks = [task(f"t-{i}", f"ex-{i}", "slow", "RUNNING", updated=7200) for i in range(3)]
    actions = [action(f"a-{i}", f"t-{i}", created=7200, updated=15) for i in range(3)]  # heartbeating
    with FakeMistral(executions, tasks, actions) as fake:
        result = run("inspect", "--url", fake.url, "--no-auth")
    assert result.exit_code == 0, result.output
    assert "nothing stuck" in result.stdout


def test_the_thresholds_come_from_the_options(api):
    """A deployment with a one-hour quiet threshold: the executions quiet for exactly an hour are not listed."""
    result = run("inspect", "--url", api.url, "--no-auth", "--json", "--older-than", "3601")
    assert json.loads(result.stdout)["counts"] == {"abandoned-action/heartbeat": 1}


@pytest.mark.parametrize("args, message", [
    (["--url", "mistral:8989", "--no-auth"], "--url must be http(s)://"),
    (["--url", "http://127.0.0.1:9", "--no-auth"], "Mistral API unreachable"),
    (["--url", "http://127.0.0.1:9", "--no-auth", "--older-than", "soon"], "--older-than must be a number"),
    (["--url", "http://127.0.0.1:9", "--no-auth", "--os-username", "u"], "--no-auth cannot go with --os-*"),
])
def test_bad_input_or_an_unreachable_api_is_one_line_and_exit_3(args, message):
    result = run("inspect", *args)
    assert result.exit_code == 3
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_keystone_without_any_configuration_is_one_line_and_exit_3(monkeypatch, tmp_path):
    for name in [n for n in __import__("os").environ if n.startswith("OS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "none.yaml"))
    result = run("inspect", "--url", "http://127.0.0.1:9")
    assert result.exit_code == 3
    assert len(result.stderr.strip().splitlines()) == 1 and "keystone" in result.stderr


# ---------------------------------------------------------------- recover
def test_recover_dry_run_prints_the_exact_calls_and_changes_nothing(api):
    result = run("recover", "--url", api.url, "--no-auth")
    assert result.exit_code == 1, result.output
    out = " ".join(result.stdout.split())
    for ex in ("ex-join", "ex-idle", "ex-unfinished", "ex-running-action"):
        assert f"PUT /v2/executions/{ex} {{\"state\": \"ERROR\", \"state_info\": \"mistral-lab recover: " in out
    assert "dry run: nothing changed" in out
    assert api.puts == [] and all(method == "GET" for method, _ in api.requests)


def test_recover_json_plan_matches_what_apply_sends(api, tmp_path):
    plan = json.loads(run("recover", "--url", api.url, "--no-auth", "--json").stdout)["plan"]
    record = tmp_path / "record.json"
    result = run("recover", "--url", api.url, "--no-auth", "--apply", "--yes", "--record", str(record))
    assert result.exit_code == 0, result.output
    assert [(c["path"], c["body"]) for c in plan["calls"]] == puts(api)


def test_apply_without_yes_refuses_when_no_one_can_confirm(api):
    result = run("recover", "--url", api.url, "--no-auth", "--apply")
    assert result.exit_code == 3
    assert "pass --yes" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert api.puts == []


def test_no_action_runs_again_unless_allowed(api, tmp_path):
    result = run("recover", "--url", api.url, "--no-auth", "--apply", "--yes", "--record", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    paths = [path for path, _ in api.puts]
    assert not [p for p in paths if p.startswith(("/v2/tasks/", "/v2/action_executions/"))]
    assert sorted(paths) == [f"/v2/executions/{ex}" for ex in ("ex-idle", "ex-join", "ex-running-action",
                                                                 "ex-unfinished")]
    assert api.actions["a-ra"]["state"] == "RUNNING"  # left alone: failing it could hand it to a retry
    assert "--allow-rerun a-ra" in " ".join(result.stdout.split())


def test_allow_rerun_fails_the_action_then_reruns_its_task(api, tmp_path):
    record = tmp_path / "r.json"
    result = run("recover", "--url", api.url, "--no-auth", "--apply", "--yes", "--execution", "ex-running-action",
                 "--allow-rerun", "a-ra", "--record", str(record))
    assert result.exit_code == 0, result.output
    assert puts(api) == [("/v2/action_executions/a-ra", {"state": "ERROR", "output": api.puts[0][1]["output"]}),
                         ("/v2/tasks/t-ra", {"id": "t-ra", "state": "RUNNING", "reset": True})]
    saved = json.loads(record.read_text())
    assert [c["outcome"] for c in saved["calls"]] == ["ok", "ok"] and len(saved["changed"]) == 2
    assert saved["options"]["allow_rerun"] == ["a-ra"]


def test_an_abandoned_task_is_rerun_only_when_its_action_is_allowed(api, tmp_path):
    dry = " ".join(run("recover", "--url", api.url, "--no-auth", "--execution", "ex-abandoned").stdout.split())
    assert "0 call(s)" in dry and "--allow-rerun a-ab" in dry
    result = run("recover", "--url", api.url, "--no-auth", "--execution", "ex-abandoned", "--allow-rerun", "a-ab",
                 "--apply", "--yes", "--record", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    assert puts(api) == [("/v2/tasks/t-ab", {"id": "t-ab", "state": "RUNNING", "reset": True})]


def test_complete_sets_the_action_success_with_its_output(api, tmp_path):
    result = run("recover", "--url", api.url, "--no-auth", "--execution", "ex-running-action", "--complete",
                 'a-ra={"done": true}', "--apply", "--yes", "--record", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    assert puts(api) == [("/v2/action_executions/a-ra", {"state": "SUCCESS", "output": {"done": True}})]


def test_an_execution_that_moved_since_inspect_is_left_to_mistral(api, tmp_path, monkeypatch):
    from lab.operators import service

    real = service.inspect

    def inspect_then_mistral_moves(*args, **kwargs):
        document, mistral = real(*args, **kwargs)
        api.executions["ex-join"]["updated_at"] = "2026-01-01 11:59:59"  # the engine got to it meanwhile
        return document, mistral

    monkeypatch.setattr(service, "inspect", inspect_then_mistral_moves)
    record = tmp_path / "r.json"
    result = run("recover", "--url", api.url, "--no-auth", "--execution", "ex-join", "--apply", "--yes",
                 "--record", str(record))
    assert result.exit_code == 0
    assert api.puts == []
    assert json.loads(record.read_text())["calls"][0]["outcome"] == "skipped"


def test_a_call_mistral_refuses_is_recorded_and_exits_1(api, tmp_path):
    api.refuse["/v2/executions/ex-idle"] = (400, "Cannot change state")
    record = tmp_path / "r.json"
    result = run("recover", "--url", api.url, "--no-auth", "--execution", "ex-idle", "--apply", "--yes",
                 "--record", str(record))
    assert result.exit_code == 1
    call = json.loads(record.read_text())["calls"][0]
    assert call["outcome"] == "refused" and "Cannot change state" in call["error"]


def test_bad_complete_value_is_exit_3(api):
    result = run("recover", "--url", api.url, "--no-auth", "--complete", "a-ra={not json")
    assert result.exit_code == 3 and "must be JSON" in result.stderr


def test_a_server_that_is_not_mistral_is_one_line_and_exit_3():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Html(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>a login page</html>")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = run("inspect", "--url", f"http://127.0.0.1:{server.server_address[1]}", "--no-auth")
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 3
    assert len(result.stderr.strip().splitlines()) == 1 and "not Mistral's JSON" in result.stderr


def test_an_api_lost_midway_through_apply_is_recorded_and_exit_3(api, tmp_path, monkeypatch):
    from lab.operators.api import Mistral

    def gone(self, path, body):
        raise LabError(f"{self.url}: Mistral API unreachable during PUT {path}")

    monkeypatch.setattr(Mistral, "put", gone)
    record = tmp_path / "r.json"
    result = run("recover", "--url", api.url, "--no-auth", "--apply", "--yes", "--record", str(record))
    assert result.exit_code == 3 and len(result.stderr.strip().splitlines()) == 1
    outcomes = [c["outcome"] for c in json.loads(record.read_text())["calls"]]
    assert outcomes == ["error", "not attempted", "not attempted", "not attempted"]
