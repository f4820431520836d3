"""A stored run's test.yaml holds what the pipeline recorded beside the spec (lab, planned_faults, fault_room,
...); loading it back as a spec (check RUN_DIR, shrink, replays) must take those as recorded, not as fields."""
from __future__ import annotations

from pathlib import Path

from lab.spec import dump_spec, load_spec, spec_from_run


def test_a_run_dir_test_yaml_with_everything_the_pipeline_records_loads_back(tmp_path: Path) -> None:
    spec = load_spec("lab-test")
    (tmp_path / "test.yaml").write_text(dump_spec(spec, {
        "lab": "run-lab-test", "planned_faults": [{"index": 0, "at_s": 7.5, "fault": "kill", "target": "api-1"}],
        "fault_room": {"holds": 3, "plans": 3}}))
    again = spec_from_run(tmp_path)
    assert again.name == spec.name and again.nemesis == spec.nemesis and again.seed == spec.seed
