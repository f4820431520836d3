"""The database template: Mistral's schema migrated and populated once per (Mistral image, infra image, database
kind), kept as an SQL dump in the cache; every later `up` and every `reset` loads a fresh copy of it instead of
running `mistral-db-manage upgrade head` and `populate` again (about 17 s on 2 cores).

A lab decides once, at its first render, whether it starts from a template (the decision is kept in its state
dir, so a re-render for scaling never changes the database service). The first lab without one captures it
after it is ready: a dump of the database exactly as a fresh `up` leaves it. Each lab loads its own copy into
its own volume; nothing is shared between two running labs. MISTRAL_LAB_DB_TEMPLATE=0 turns templates off.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cluster.errors import LabError
from cluster.paths import cache_dir

if TYPE_CHECKING:
    from docker.models.containers import Container

    from cluster.images import Images

DECISION_FILE = "db-template"  # in the lab's state dir: the template's path, or empty for "migrate"
MOUNT_PATH = "/template.sql"   # where the database container finds it (compose/infra/*.sh load it)


def enabled() -> bool:
    return os.environ.get("MISTRAL_LAB_DB_TEMPLATE", "1") != "0"


def template_path(images: Images, db: str) -> Path:
    """One file per Mistral image, infra image and database kind (the tags are content hashes)."""
    key = hashlib.sha256(f"{images.mistral}|{images.infra}|{db}".encode()).hexdigest()[:16]
    return cache_dir() / "db-templates" / f"{db}-{key}.sql"


def decide(state_dir: Path, images: Images, db: str) -> Path | None:
    """The template this lab starts from (None: it migrates), decided at its first render and kept."""
    decision = state_dir / DECISION_FILE
    if decision.exists():
        text = decision.read_text().strip()
        return Path(text) if text else None
    path = template_path(images, db)
    chosen = path if enabled() and path.exists() else None
    decision.write_text(str(chosen or ""))
    return chosen


def dump_command(db: str) -> list[str]:
    """The dump, run inside the database container as its superuser; stable output (no dates, no owners)."""
    if db == "mariadb":
        return ["mariadb-dump", "--protocol=socket", "--single-transaction", "--skip-comments",
                "--skip-dump-date", "mistral"]
    return ["sh", "-c", 'PGPASSWORD="$DB_PASSWORD" pg_dump -h /var/run/postgresql -U postgres --no-owner '
            "--no-privileges mistral"]


def capture(db_container: Container, images: Images, db: str) -> Path | None:
    """Dump a freshly migrated lab's database into the cache unless a template exists; atomic (a parallel
    capture of the same template writes the same content). Returns the path written, None if there was one."""
    path = template_path(images, db)
    if not enabled() or path.exists():
        return None
    result = db_container.exec_run(dump_command(db), demux=True)
    out, err = result.output
    if result.exit_code != 0 or not out:
        detail = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise LabError(f"could not dump the database for the template: {detail[0][:200]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(out)
    os.replace(temporary, path)
    return path
