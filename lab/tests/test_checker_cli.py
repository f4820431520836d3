"""`mistral-lab check`: exit codes, --json lines, and one clear error line for bad input."""
import json
import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from checker.models import MODELS
from lab.cli import checker as checker_cli
from cluster.errors import LabError

VALIDATION = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "validation")
ETCD = os.path.join(VALIDATION, "porcupine-etcd")
MISTRAL_LAB = os.path.join(os.path.dirname(sys.executable), "mistral-lab")

app = typer.Typer()
checker_cli.register(app)
app.command("noop", hidden=True)(lambda: None)  # keep "check" a named sub-command
runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["check", *args])


def jsonl(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join(json.dumps(dict(index=i, time=i, **row)) + "\n" for i, row in enumerate(rows)))
    return str(path)


def op(process, type_, f, value=None, key=None):
    row = {"process": process, "type": type_, "f": f, "value": value}
    return row if key is None else {**row, "key": key}


def test_json_lines_and_exit_code_for_mixed_verdicts():
    result = run("--json", "--format", "jepsen-log", f"{ETCD}/etcd_002.log", f"{ETCD}/etcd_000.log")
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["valid"] for line in lines] == [True, False]
    assert lines[0]["file"].endswith("etcd_002.log") and lines[0]["model"] == "cas-register"
    assert {"ops", "keys", "elapsed_s"} <= set(lines[0])
    assert lines[1]["counterexample"]["explanation"]


def test_all_valid_exits_0_and_unknown_exits_2(tmp_path):
    ok = jsonl(tmp_path, "ok.jsonl", [op(0, "invoke", "write", 1), op(0, "ok", "write", 1)])
    assert run(ok).exit_code == 0
    hard = [op(p, "invoke", "write", p) for p in range(16)] + [op(p, "ok", "write", p) for p in range(16)]
    hard += [op(30, "invoke", "read"), op(30, "ok", "read", 99)]
    result = run("--json", "--time-limit", "0.05", jsonl(tmp_path, "hard.jsonl", hard))
    verdict = json.loads(result.stdout)["valid"]
    assert (verdict, result.exit_code) == ("unknown", 2)  # millions of orders to try: 0.05 s is never enough


def test_empty_history_is_valid(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    result = run(str(path))
    assert result.exit_code == 0 and "valid" in result.stdout and "empty" in result.stdout


def test_html_view_for_invalid(tmp_path):
    result = run("--html", str(tmp_path / "html"), "--format", "jepsen-log", f"{ETCD}/etcd_000.log")
    assert result.exit_code == 1
    page = (tmp_path / "html" / "etcd_000.log.html").read_text()
    assert "<svg" in page and "failing op" in page


BAD_INPUTS = {
    "malformed.jsonl": ([json.dumps(op(0, "invoke", "read") | {"index": 0, "time": 0}), "{oops"], "malformed.jsonl:2: malformed JSON"),
    "unknown-f.jsonl": (None, "unknown-f.jsonl:1: unknown f 'frob'"),
    "double.jsonl": (None, "double.jsonl:2: process 0 invokes 'read' while"),
    "orphan.jsonl": (None, "orphan.jsonl:1: ok 'read' of process 0 without an invoke"),
}


def _write_bad(tmp_path, name):
    rows = {
        "unknown-f.jsonl": [op(0, "invoke", "frob"), op(0, "ok", "frob")],
        "double.jsonl": [op(0, "invoke", "read"), op(0, "invoke", "read")],
        "orphan.jsonl": [op(0, "ok", "read", 1)],
    }
    if name == "malformed.jsonl":
        path = tmp_path / name
        path.write_text("\n".join(BAD_INPUTS[name][0]) + "\n")
        return str(path)
    return jsonl(tmp_path, name, rows[name])


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_exits_3_with_file_line_and_reason(tmp_path, name):
    path = _write_bad(tmp_path, name)
    result = run(path)
    assert result.exit_code == 3
    assert BAD_INPUTS[name][1] in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_file_exits_3(tmp_path):
    result = run(str(tmp_path / "missing.jsonl"))
    assert result.exit_code == 3 and "missing.jsonl: no such file" in result.stderr


@pytest.mark.parametrize("args, message", [(["--model", "nope"], "unknown model"), (["--format", "nope"], "unknown format"), ([], "at least one")])
def test_bad_usage_raises_lab_error(tmp_path, args, message):
    result = run(*args, *([str(tmp_path / "x.jsonl")] if args else []))
    assert isinstance(result.exception, LabError) and message in str(result.exception)


@pytest.mark.skipif(not os.path.exists(MISTRAL_LAB), reason="console script not installed")
def test_real_cli_exit_codes(tmp_path):
    bad = _write_bad(tmp_path, "double.jsonl")
    proc = subprocess.run([MISTRAL_LAB, "check", bad], capture_output=True, text=True)
    assert proc.returncode == 3 and "double.jsonl:2:" in proc.stderr
    proc = subprocess.run([MISTRAL_LAB, "check", "--model", "nope", bad], capture_output=True, text=True)
    assert proc.returncode == 3 and "unknown model" in proc.stderr


def ok_op(process, f, invoke_value, value, key=None):
    """One op that completes before the next one starts."""
    return [op(process, "invoke", f, invoke_value, key), op(process, "ok", f, value, key)]


def info_op(process, f, value, key=None):
    return [op(process, "invoke", f, value, key), op(process, "info", f, None, key)]


# Per model: histories that are invalid because the first op is impossible, because the last one is, and
# because an ok op is impossible whatever the info ops before it did.
INVALID = {
    "register": {
        "first": ok_op(0, "read", None, 7),
        "last": ok_op(0, "write", 1, 1) + ok_op(1, "write", 2, 2) + ok_op(2, "read", None, 1),
        "info": info_op(0, "write", 1) + ok_op(1, "read", None, 2),
    },
    "cas-register": {
        "first": ok_op(0, "cas", [5, 6], [5, 6]),
        "last": ok_op(0, "write", 1, 1) + ok_op(1, "cas", [1, 2], [1, 2]) + ok_op(2, "read", None, 1),
        "info": info_op(0, "write", 1) + ok_op(1, "cas", [2, 3], [2, 3]),
    },
    "kv-append": {
        "first": ok_op(0, "get", None, "zz", "k"),
        "last": ok_op(0, "put", "x", "x", "k") + ok_op(1, "append", "y", "y", "k") + ok_op(2, "get", None, "x", "k"),
        "info": info_op(0, "put", "x", "k") + ok_op(1, "get", None, "y", "k"),
    },
    "mutex": {
        "first": ok_op(0, "release", None, None),
        "last": ok_op(0, "acquire", None, None) + ok_op(0, "release", None, None) + ok_op(1, "release", None, None),
        "info": info_op(0, "release", None) + ok_op(1, "release", None, None),
    },
    "multi-register": {
        "first": ok_op(0, "txn", [["read", "x", None]], [["read", "x", 1]]),
        "last": ok_op(0, "txn", [["write", "x", 1]], [["write", "x", 1]])
        + ok_op(1, "txn", [["read", "x", None]], [["read", "x", 0]]),
        "info": info_op(0, "txn", [["write", "x", 1]]) + ok_op(1, "txn", [["read", "x", None]], [["read", "x", 2]]),
    },
    "execution-state": {
        "first": ok_op(0, "read", None, "RUNNING", "ex"),
        "last": ok_op(0, "start", {"workflow": "wf"}, "RUNNING", "ex") + ok_op(0, "cancel", None, "CANCELLED", "ex")
        + ok_op(1, "read", None, "RUNNING", "ex"),
        "info": info_op(0, "start", {"workflow": "wf"}, "ex") + ok_op(1, "read", None, "PAUSED", "ex"),
    },
}


def test_every_model_has_invalid_examples():
    assert set(INVALID) == set(MODELS)


@pytest.mark.parametrize("model, case", [(m, c) for m in sorted(INVALID) for c in ("first", "last", "info")])
def test_invalid_history_of_every_model_exits_1_with_a_counterexample(tmp_path, model, case):
    path = jsonl(tmp_path, f"{model}-{case}.jsonl", INVALID[model][case])
    result = run("--model", model, path)
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit)  # typer.Exit(1), not a crash
    assert result.stderr == ""
    [line] = result.stdout.splitlines()
    assert line.startswith(f"{path}: INVALID (") and "cannot take effect there" in line
    if case == "first":  # nothing goes first: the state shown is the initial one
        described = MODELS[model].describe_state(MODELS[model].init())
        assert f"longest valid prefix (0 ops) {described}; process 0's " in line
    example = json.loads(run("--json", "--model", model, path).stdout)["counterexample"]
    assert example["op"]["status"] == "ok" and example["op"]["id"] == len(INVALID[model][case]) // 2 - 1


def test_real_cli_execution_state_two_line_invalid_history(tmp_path):
    """The reported crash: the first (only) op cannot be linearized; exit 1 with a verdict, no traceback."""
    path = jsonl(tmp_path, "two-lines.jsonl", INVALID["execution-state"]["first"])
    proc = subprocess.run([sys.executable, "-m", "lab", "check", "--model", "execution-state", path],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr == ""
    assert proc.stdout.startswith(f"{path}: INVALID (1 ops, 1 keys, execution-state, ")
    assert "the execution may be ABSENT; process 0's read -> RUNNING (lines 1-2) cannot take effect there" in proc.stdout


@pytest.mark.parametrize("model, rows, reason", [
    ("execution-state", [op(0, "invoke", "read", None, "ex"), op(0, "ok", "read", ["RUNNING"], "ex")],
     "not an execution state"),
    ("multi-register", [op(0, "invoke", "txn", [["write", ["x"], 1]]), op(0, "ok", "txn", [["write", ["x"], 1]])],
     "registers must be names or numbers"),
    ("cas-register", [op(0, "invoke", "cas", [1]), op(0, "ok", "cas", [1])], "cas value must be [old, new]"),
])
def test_a_value_the_model_cannot_take_is_bad_input(tmp_path, model, rows, reason):
    result = run("--model", model, jsonl(tmp_path, "bad.jsonl", rows))
    assert result.exit_code == 3 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "bad.jsonl:1: " in line and reason in line


def test_a_crashing_checker_is_unknown_with_its_error(tmp_path, monkeypatch):
    def boom(state, op):
        raise RuntimeError("model bug")

    monkeypatch.setattr(MODELS["cas-register"], "step", boom)
    path = jsonl(tmp_path, "ok.jsonl", [op(0, "invoke", "write", 1), op(0, "ok", "write", 1)])
    result = run(path)
    assert result.exit_code == 2 and result.stderr == ""
    assert result.stdout == f"{path}: unknown (0 ops, 0 keys, cas-register, 0.000 s): the checker crashed (RuntimeError: model bug)\n"
    record = json.loads(run("--json", path).stdout)
    assert (record["valid"], record["error"]) == ("unknown", "RuntimeError: model bug")


def test_error_lines_keep_their_brackets(tmp_path):
    """Rich would read "[old, new]" in an error as markup and drop it."""
    result = run("--model", "cas-register", jsonl(tmp_path, "bad.jsonl", [op(0, "invoke", "cas", 3), op(0, "ok", "cas", 3)]))
    assert result.exit_code == 3 and "cas value must be [old, new], got 3" in result.stderr
