"""The post playbook's collector (roles/mistral_lab/files/collect_store.py) on a made-up store: the index, a
scrubbed bundle of every run that was not VALID, the build page's links and warnings, and the scrubbed pack of the
store that goes into the logs."""
from __future__ import annotations

import importlib.util
import json
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from gate_fixtures import GateStore, make_gate_store

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "mistral-lab/store/"


@pytest.fixture
def gate_store(tmp_path: Path) -> GateStore:
    return make_gate_store(tmp_path)


def _collector() -> ModuleType:
    path = ROOT / "roles" / "mistral_lab" / "files" / "collect_store.py"
    spec = importlib.util.spec_from_file_location("collect_store", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


collector = _collector()


def _tar_texts(archive: Path) -> dict[str, str]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()
                and not m.name.endswith((".tar.gz", ".png"))}


def test_collect_writes_the_index_and_bundles_only_the_runs_that_were_not_valid(gate_store: GateStore) -> None:
    collector.collect(gate_store.path, PREFIX)
    assert "report.html" in (gate_store.path / "index.html").read_text()
    bundles = sorted(p.name for p in (gate_store.path / "bundles").iterdir())
    assert bundles == [gate_store.invalid_run.replace("/", "-") + ".tar.gz"]
    texts = _tar_texts(gate_store.path / "bundles" / bundles[0])
    assert texts and not any(gate_store.secret in text for text in texts.values())


def test_the_build_page_links_the_index_the_report_the_map_the_logs_and_the_bundle(gate_store: GateStore) -> None:
    listed = collector.collect(gate_store.path, PREFIX)
    by_type: dict[str, list[dict]] = {}
    for artifact in listed["artifacts"]:
        by_type.setdefault(artifact["metadata"]["type"], []).append(artifact)
    assert [a["url"] for a in by_type["index"]] == [PREFIX + "index.html"]
    assert [(a["name"], a["url"]) for a in by_type["report"]] == [
        ("lab-test: VALID", f"{PREFIX}{gate_store.valid_run}/report.html")]
    assert [a["url"] for a in by_type["map"]] == [PREFIX + "maps/20261207T102000/map.html"]
    assert sorted(a["url"] for a in by_type["log"]) == [PREFIX + "zuul/findings-all.log",
                                                        PREFIX + "zuul/tests-lab-test.log"]
    bundle = gate_store.invalid_run.replace("/", "-")
    assert [a["url"] for a in by_type["bundle"]] == [f"{PREFIX}bundles/{bundle}.tar.gz"]
    for artifact in listed["artifacts"]:  # every link is a file of the store, under the prefix
        assert (gate_store.path / artifact["url"].removeprefix(PREFIX)).is_file(), artifact
    assert json.loads((gate_store.path / "zuul" / "artifacts.json").read_text()) == listed


def test_a_step_that_exited_non_zero_is_a_warning_saying_what_the_exit_means(gate_store: GateStore) -> None:
    listed = collector.collect(gate_store.path, PREFIX)
    assert listed["warnings"] == ["mistral-lab findings all: exit 1 - a finding reproduced below its min_rate: "
                                  "the change may fix it"]
    unknown = collector.warnings([{"step": "tests", "name": "lab-test", "rc": 2},
                                  {"step": "map", "name": "q", "rc": 7}])
    assert unknown == ["mistral-lab tests lab-test: exit 2 - UNKNOWN: the run could not reach a verdict",
                       "mistral-lab map q: exit 7 - see its log"]


def test_a_run_that_stopped_before_its_summary_still_gets_the_index_and_the_bundles(gate_store: GateStore) -> None:
    (gate_store.path / "zuul" / "summary.json").unlink()
    listed = collector.collect(gate_store.path, PREFIX)
    assert sorted(a["metadata"]["type"] for a in listed["artifacts"]) == ["bundle", "index", "map"]
    assert listed["warnings"] == []


def test_the_pack_is_scrubbed_and_leaves_out_the_secrets_file_and_links(gate_store: GateStore,
                                                                        tmp_path: Path) -> None:
    collector.collect(gate_store.path, PREFIX)
    with tarfile.open(collector.pack(gate_store.path, tmp_path / "pack.tar.gz")) as tar:
        names = tar.getnames()
    assert f"store/{gate_store.valid_run}/mistral.conf" in names
    assert f"store/{gate_store.valid_run}/logs/api-1.log" in names
    assert not any(n.endswith(".secrets.json") or n == "store/latest" for n in names)
    texts = _tar_texts(tmp_path / "pack.tar.gz")
    assert "mysql+pymysql://mistral:***@db" in texts[f"store/{gate_store.valid_run}/mistral.conf"]
    assert not any(gate_store.secret in text for text in texts.values())


def test_main_packs_and_exits_3_without_a_store(gate_store: GateStore, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert collector.main(["--store", str(tmp_path / "nowhere")]) == 3
    assert collector.main(["--store", str(gate_store.path), "--pack", str(tmp_path / "p.tar.gz")]) == 0
    assert (tmp_path / "p.tar.gz").is_file()
    assert "6 artifact(s), 1 warning(s)" in capsys.readouterr().out
