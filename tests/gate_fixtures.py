"""For the OpenStack gate's tests (test_gate_*.py): a store as the run playbook leaves it, made up. A module of
its own, not a conftest.py: the tests import the root conftest by name."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SECRET = "s3cr3t-db-pw"
VALID_RUN = "lab-test/20261207T100000"
INVALID_RUN = "chaos/20261207T101000"


def _run(store: Path, name: str, valid: object) -> Path:
    run_dir = store / name
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "results.json").write_text(json.dumps({"valid": valid}))
    (run_dir / "report.html").write_text("<html>report</html>")
    (run_dir / "mistral.conf").write_text(f"[database]\nconnection = mysql+pymysql://mistral:{SECRET}@db/mistral\n")
    (run_dir / ".secrets.json").write_text(json.dumps({"db_password": SECRET}))
    (run_dir / "logs" / "api-1.log").write_text(f"connected with {SECRET}\n")
    return run_dir


@dataclass(frozen=True)
class GateStore:
    path: Path
    secret: str = SECRET
    valid_run: str = VALID_RUN
    invalid_run: str = INVALID_RUN


def make_gate_store(tmp_path: Path) -> GateStore:
    """A VALID lab-test run, an INVALID chaos run, a map, store/latest and the run playbook's zuul/ folder with its
    summary: the tests step passed, the findings replay exited 1."""
    store = tmp_path / "store"
    _run(store, VALID_RUN, True)
    _run(store, INVALID_RUN, False)
    (store / "latest").symlink_to(INVALID_RUN)
    (store / "maps" / "20261207T102000").mkdir(parents=True)
    (store / "maps" / "20261207T102000" / "map.html").write_text("<html>map</html>")
    (store / "zuul").mkdir()
    (store / "zuul" / "tests-lab-test.log").write_text("lab-test: VALID\n")
    (store / "zuul" / "findings-all.log").write_text("below min_rate\n")
    steps = [{"step": "tests", "name": "lab-test", "rc": 0, "gating": True, "log": "zuul/tests-lab-test.log"},
             {"step": "findings", "name": "all", "rc": 1, "gating": False, "log": "zuul/findings-all.log"}]
    (store / "zuul" / "summary.json").write_text(json.dumps({"steps": steps}))
    return GateStore(store)
