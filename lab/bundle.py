"""`mistral-lab bundle RUN_DIR`: one tar.gz to attach to a bug report, with passwords and secrets scrubbed.

Two layers of scrubbing: every known secret value of the run's cluster (kept beside the run in .secrets.json,
which never enters the bundle) is replaced wherever it appears, and password-shaped text (URLs with
credentials, `password = ...`, DB_PASSWORD=...) is masked even when the secret is unknown.
"""
from __future__ import annotations

import io
import json
import re
import tarfile
import time
from pathlib import Path

from cluster.errors import LabError
from history.run_dir import RESULTS_FILE

SECRETS_FILE = ".secrets.json"
MASK = "***"
PATTERNS = [
    re.compile(r"(?P<pre>://[^:/@\s]+:)(?P<secret>[^@\s]+)(?P<post>@)"),                       # scheme://user:pw@
    re.compile(r"(?P<pre>(?:pass(?:word)?|default_pass|secret|token)\s*[=:]\s*['\"]?)(?P<secret>[^\s'\",}]+)"
               r"(?P<post>)", re.IGNORECASE),
    re.compile(r"(?P<pre>[A-Z_]*PASSWORD['\"]?\s*[=:]\s*['\"]?)(?P<secret>[^\s'\",}]+)(?P<post>)"),
]
TEXT_SUFFIXES = {".log", ".conf", ".yaml", ".yml", ".json", ".jsonl", ".html", ".txt", ".edn", ""}


def known_secrets(run_dir: Path) -> list[str]:
    path = run_dir / SECRETS_FILE
    if not path.exists():
        return []
    values = json.loads(path.read_text()).values()
    return sorted((str(v) for v in values if v), key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    for pattern in PATTERNS:
        text = pattern.sub(lambda m: f"{m['pre']}{MASK}{m['post']}", text)
    return text


def make_bundle(run_dir: Path, out: Path | None = None) -> Path:
    if not run_dir.is_dir() or not (run_dir / RESULTS_FILE).exists():
        raise LabError(f"{run_dir} is not a run directory (no results.json)")
    run_dir = run_dir.resolve()
    secrets = known_secrets(run_dir)
    out = out or run_dir.parent / f"{run_dir.parent.name}-{run_dir.name}.tar.gz"
    prefix = f"{run_dir.parent.name}-{run_dir.name}"
    with tarfile.open(out, "w:gz") as tar:
        for path in sorted(run_dir.rglob("*")):
            if not path.is_file() or path.name == SECRETS_FILE:
                continue
            data = path.read_bytes()
            if path.suffix in TEXT_SUFFIXES:
                data = scrub(data.decode("utf-8", errors="replace"), secrets).encode()
            info = tarfile.TarInfo(f"{prefix}/{path.relative_to(run_dir)}")
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out
