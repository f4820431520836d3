"""Bundles scrub every cluster password and password-shaped text."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from lab.bundle import make_bundle, scrub
from cluster.errors import LabError


def _run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "store" / "smoke" / "20260101T000000"
    (run / "logs").mkdir(parents=True)
    (run / ".secrets.json").write_text(json.dumps({"db_password": "s3cretdb", "broker_password": "br0kerpw"}))
    (run / "results.json").write_text('{"valid": true}')
    (run / "mistral.conf").write_text("[DEFAULT]\ntransport_url = rabbit://mistral:br0kerpw@broker:5672/\n"
                                      "[database]\nconnection = mysql+pymysql://mistral:s3cretdb@db/mistral\n")
    (run / "compose.yaml").write_text("environment:\n  DB_PASSWORD: s3cretdb\n")
    (run / "logs" / "engine-1.log").write_text("connecting with s3cretdb and br0kerpw\npassword=other\n")
    return run


def test_bundle_contains_no_password(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    bundle = make_bundle(run)
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
        contents = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
    assert not any(name.endswith(".secrets.json") for name in names)
    assert any(name.endswith("logs/engine-1.log") for name in names)
    for secret in (b"s3cretdb", b"br0kerpw", b"other"):
        assert secret not in contents
    assert b"rabbit://mistral:***@broker" in contents


def test_scrub_masks_unknown_passwords_by_shape() -> None:
    assert scrub("default_pass = hunter2", []) == "default_pass = ***"
    assert scrub("postgresql+psycopg2://u:pw123@db/x", []) == "postgresql+psycopg2://u:***@db/x"
    assert scrub("DB_PASSWORD=abc", []) == "DB_PASSWORD=***"


def test_bundle_rejects_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="not a run directory"):
        make_bundle(tmp_path)
