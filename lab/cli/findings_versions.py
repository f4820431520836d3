"""`mistral-lab findings --versions ...`: the release matrix (lab.findings.matrix) behind the findings command.

Every input is checked before anything runs (the columns, --tries, the findings and each one's spec on each
column, the store); then the cells run on warm labs unless a run function is given, as tests do."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.markup import escape

from cluster.errors import LabError

err = Console(stderr=True)
DEFAULT_TRIES = 3  # as `mistral-lab findings` asks


def _say(line: str) -> None:
    err.print(f"\\[versions] {escape(line)}", highlight=False, soft_wrap=True)


def matrix_conflicts(mistral_version: str | None, mistral_src: Path | None, record: bool, as_json: bool) -> None:
    """The findings flags a matrix cannot take, as one LabError line."""
    given = [name for name, on in (("--mistral-version", mistral_version is not None),
                                   ("--mistral-src", mistral_src is not None), ("--record", record),
                                   ("--json", as_json)) if on]
    if given:
        raise LabError(f"--versions / --resume make a release matrix, not with {', '.join(given)}: each column "
                       "names its release, the matrix never writes the catalogue, and versions.json is its output")


def _out_dir(out: Path | None, resume: Path | None, store: Path) -> Path:
    from lab.findings.matrix import MATRIX_FILE

    if resume is not None:
        if out is not None and Path(out).resolve() != Path(resume).resolve():
            raise LabError("give either --out (a new matrix) or --resume DIR (go on with the matrix in DIR), "
                           "not both")
        return Path(resume)
    if out is not None:
        if (Path(out) / MATRIX_FILE).exists():
            raise LabError(f"--out {out} already holds a {MATRIX_FILE}: --resume {out} goes on with it")
        return Path(out)
    return store / "versions" / time.strftime("%Y%m%dT%H%M%S")


def _plan(ids: list[str], versions: str | None, tries: int | None, out: Path | None, resume: Path | None,
          store: Path, command: str, directory: Path | None) -> tuple[list, list, dict[str, Any], Path]:
    """(findings, columns, the matrix document, its folder), every input checked; nothing runs yet."""
    from lab.findings.catalogue import load_catalogue
    from lab.findings.columns import parse_columns
    from lab.findings.matrix import load_matrix, new_matrix, resumed_tries
    from lab.findings.replay import finding_spec

    columns = parse_columns(versions) if versions is not None or resume is None else None
    out_dir = _out_dir(out, resume, store)
    if resume is not None:
        doc = load_matrix(out_dir)
        tries = resumed_tries(doc, tries)
        columns = columns or parse_columns(",".join(doc.get("columns") or {}))
        ids = ids or list(doc.get("findings") or [])
    else:
        tries = DEFAULT_TRIES if tries is None else tries
        doc = new_matrix(tries, command)
    if tries < 1:
        raise LabError(f"--tries {tries}: must be at least 1")
    catalogue = load_catalogue(directory, ids)
    if not catalogue:
        raise LabError(f"no findings in {directory or 'the catalogue'}")
    for column in columns:  # every cell's spec builds before the first cluster starts
        for finding in catalogue:
            finding_spec(finding, finding.seed, column.version, None, column.mistral_config)
    return catalogue, columns, doc, out_dir


def make_matrix(ids: list[str], versions: str | None, tries: int | None, out: Path | None, resume: Path | None,
                store: Path, fresh: bool = False, run_fn: Callable[[Any, Path], Any] | None = None,
                directory: Path | None = None, command: str = "mistral-lab findings --versions") -> int:
    """Check every input, run the cells not yet in the matrix, return the exit code (lab.findings.matrix:
    0 every cell has a rate, 2 some has none, 130 stopped by Ctrl-C); a bad input is a LabError (exit 3)."""
    from lab.findings.matrix import exit_code, run_matrix
    from lab.findings.matrix_cell import cell_key
    from lab.store import check_writable

    catalogue, columns, doc, out_dir = _plan(ids, versions, tries, out, resume, store, command, directory)
    check_writable(store)
    tries = int(doc["settings"]["tries"])
    _say(f"{len(catalogue)} finding(s) x {len(columns)} column(s) ({', '.join(c.label for c in columns)}), "
         f"{tries} tr{'y' if tries == 1 else 'ies'} asked per cell; matrix in {out_dir}")
    if run_fn is not None:
        doc = run_matrix(catalogue, columns, doc, out_dir, store, run_fn, _say)
    else:
        from lab.warm import WarmLabs

        with WarmLabs("versions", fresh=fresh, say=_say) as warm:
            doc = run_matrix(catalogue, columns, doc, out_dir, store, warm.run, _say)
    _say(f"versions.json and versions.html in {out_dir}" + (f"; {doc['stopped']}" if doc.get("stopped") else ""))
    return exit_code(doc, [cell_key(f.id, c.label) for c in columns for f in catalogue])


__all__ = ["DEFAULT_TRIES", "make_matrix", "matrix_conflicts"]
