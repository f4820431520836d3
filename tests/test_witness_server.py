"""The witness service's log (compose/witness/witness_server.py): append, and reset for `mistral-lab reset`."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SERVER = Path(__file__).resolve().parent.parent / "compose" / "witness" / "witness_server.py"


def _module():
    spec = importlib.util.spec_from_file_location("witness_server", SERVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_reset_empties_the_log_and_numbers_again_from_zero(tmp_path: Path) -> None:
    log = _module().WitnessLog(str(tmp_path / "witness.jsonl"))
    assert [log.append({"event": "start"}), log.append({"event": "end"})] == [0, 1]
    log.reset()
    assert (tmp_path / "witness.jsonl").read_text() == ""
    assert log.append({"event": "start"}) == 0
    lines = (tmp_path / "witness.jsonl").read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [0]
    reopened = _module().WitnessLog(str(tmp_path / "witness.jsonl"))  # a restart after a reset counts right
    assert reopened.sequence == 1
