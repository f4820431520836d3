"""The database template: one file per image pair and database kind, decided once per lab, mounted read-only."""
from __future__ import annotations

from pathlib import Path

import pytest

from cluster import db_template
from cluster.images import Images
from cluster.render import compose_document
from cluster.topology import Topology

IMAGES = Images(mistral="mistral-lab/mistral:aaa", infra="mistral-lab/infra:bbb")
PASSWORDS = {"db_password": "p", "broker_password": "q"}


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MISTRAL_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MISTRAL_LAB_DB_TEMPLATE", raising=False)


def test_a_template_is_keyed_by_both_images_and_the_database_kind() -> None:
    paths = {db_template.template_path(IMAGES, "mariadb"), db_template.template_path(IMAGES, "postgres"),
             db_template.template_path(Images(mistral="mistral-lab/mistral:ccc", infra=IMAGES.infra), "mariadb"),
             db_template.template_path(Images(mistral=IMAGES.mistral, infra="mistral-lab/infra:ddd"), "mariadb")}
    assert len(paths) == 4


def test_the_decision_is_taken_at_the_first_render_and_kept(tmp_path: Path) -> None:
    state = tmp_path / "lab"
    state.mkdir()
    assert db_template.decide(state, IMAGES, "mariadb") is None  # no template yet: this lab migrates
    template = db_template.template_path(IMAGES, "mariadb")
    template.parent.mkdir(parents=True)
    template.write_text("-- dump\n")
    # A template captured later (by this lab or another) must not change this lab's database service.
    assert db_template.decide(state, IMAGES, "mariadb") is None
    other = tmp_path / "other"
    other.mkdir()
    assert db_template.decide(other, IMAGES, "mariadb") == template


def test_templates_can_be_turned_off(tmp_path: Path, monkeypatch) -> None:
    template = db_template.template_path(IMAGES, "mariadb")
    template.parent.mkdir(parents=True)
    template.write_text("-- dump\n")
    monkeypatch.setenv("MISTRAL_LAB_DB_TEMPLATE", "0")
    assert db_template.decide(tmp_path, IMAGES, "mariadb") is None


@pytest.mark.parametrize("db", ["mariadb", "postgres"])
def test_a_lab_with_a_template_mounts_it_read_only_and_db_init_skips_the_migration(tmp_path: Path, db: str) -> None:
    topology = Topology(name="t", db=db)
    plain = compose_document(topology, IMAGES, PASSWORDS)["services"]
    assert "DB_TEMPLATE" not in plain["db"]["environment"]
    assert "MISTRAL_LAB_DB_TEMPLATE" not in plain["db-init"]["environment"]
    services = compose_document(topology, IMAGES, PASSWORDS, tmp_path / "t.sql")["services"]
    assert f"{tmp_path / 't.sql'}:/template.sql:ro" in services["db"]["volumes"]
    assert services["db"]["environment"]["DB_TEMPLATE"] == "/template.sql"
    assert services["db-init"]["environment"]["MISTRAL_LAB_DB_TEMPLATE"] == "1"
    assert services["api-1"]["environment"].get("MISTRAL_LAB_DB_TEMPLATE") is None


@pytest.mark.parametrize("db, port", [("mariadb", 3306), ("postgres", 5432)])
def test_with_a_template_mistral_starts_beside_the_database_and_waits_for_it_to_listen(tmp_path: Path, db: str,
                                                                                       port: int) -> None:
    topology = Topology(name="t", db=db)
    plain = compose_document(topology, IMAGES, PASSWORDS)["services"]["engine-1"]
    assert plain["depends_on"]["db-init"] == {"condition": "service_completed_successfully"}  # a migration first
    assert plain["environment"]["MISTRAL_LAB_WAIT_FOR"] == "broker:5672"
    loaded = compose_document(topology, IMAGES, PASSWORDS, tmp_path / "t.sql")["services"]["engine-1"]
    assert loaded["depends_on"] == {"db": {"condition": "service_started"}, "broker": {"condition": "service_started"}}
    assert loaded["environment"]["MISTRAL_LAB_WAIT_FOR"] == f"db:{port},broker:5672"


def test_the_warm_launcher_is_on_unless_the_lab_was_first_rendered_with_it_off(tmp_path: Path, monkeypatch) -> None:
    from cluster.render import warm_start_decision

    topology = Topology(name="t")
    assert compose_document(topology, IMAGES, PASSWORDS)["services"]["api-1"]["environment"][
        "MISTRAL_LAB_WARM_START"] == "1"
    assert compose_document(topology, IMAGES, PASSWORDS, warm_start=False)["services"]["api-1"]["environment"][
        "MISTRAL_LAB_WARM_START"] == "0"
    monkeypatch.delenv("MISTRAL_LAB_WARM_START", raising=False)
    assert warm_start_decision(tmp_path / "on") is True
    monkeypatch.setenv("MISTRAL_LAB_WARM_START", "0")
    assert warm_start_decision(tmp_path / "off") is False
    assert warm_start_decision(tmp_path / "on") is True, "a lab keeps the decision of its first render"
    monkeypatch.delenv("MISTRAL_LAB_WARM_START")
    assert warm_start_decision(tmp_path / "off") is False
