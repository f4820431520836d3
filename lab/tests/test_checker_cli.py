"""`mistral-lab check`: exit codes, --json lines, and one clear error line for bad input."""
import json
import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from lab import checker_cli
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


def op(process, type_, f, value=None):
    return {"process": process, "type": type_, "f": f, "value": value}


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
    assert (verdict, result.exit_code) in (("unknown", 2), (False, 1))


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
