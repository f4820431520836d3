"""Each Mistral release is installed with its OpenStack series' upper-constraints, never today's newest libraries."""
from __future__ import annotations

from pathlib import Path

import pytest

from cluster import wheels
from cluster.constraints import SERIES_BY_MAJOR, constraints_file, constraints_source, series_of, tree_version


@pytest.mark.parametrize("version, series", [("20.2.0", "2025.1"), ("21.0.0", "2025.2"), ("22.0.0", "2026.1"),
                                             ("23.0.0", "2026.2"), (None, "2026.2"), ("19.0.0", None),
                                             ("master", None)])
def test_each_release_has_its_series(version: str | None, series: str | None) -> None:
    assert series_of(version) == series
    path = constraints_file(version)
    assert (path.stem if path else None) == series


def test_every_series_file_pins_the_libraries_a_defect_could_come_from() -> None:
    for series in SERIES_BY_MAJOR.values():
        path = constraints_file(f"{[m for m, s in SERIES_BY_MAJOR.items() if s == series][0]}.0.0")
        pins = {line.split("===")[0].lower() for line in path.read_text().splitlines() if "===" in line}
        assert {"sqlalchemy", "oslo.messaging", "kombu", "eventlet", "oslo.db", "pymysql"} <= pins, series
        assert "openstack/requirements" in constraints_source(path)


def test_an_sdist_tree_takes_its_release_s_series(tmp_path: Path) -> None:
    (tmp_path / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: mistral\nVersion: 20.2.0\n")
    assert tree_version(tmp_path) == "20.2.0" and constraints_file(tree_version(tmp_path)).stem == "2025.1"
    assert tree_version(tmp_path / "nothing") is None  # a checkout: the newest series


def test_the_wheel_fetch_passes_the_constraints(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MISTRAL_LAB_CACHE", str(tmp_path))
    calls = []

    def fake_run(command, **_):
        calls.append(command)
        return type("Done", (), {"returncode": 0, "stderr": ""})()

    monkeypatch.setattr(wheels.subprocess, "run", fake_run)
    house = wheels.mistral_wheelhouse("20.2.0", None)
    assert house.name == "mistral-20.2.0-uc2025.1"
    assert calls[0][calls[0].index("--constraint") + 1] == str(constraints_file("20.2.0"))
