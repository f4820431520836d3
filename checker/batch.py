"""Check many history files, optionally across worker processes (one file per task)."""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Iterator

from checker.check import CheckResult, check_file, crashed_result
from checker.models import MODELS
from history.events import HistoryError
from history.importers import FORMATS, guess_format
from history.reader import TornLineWarning
from history.run_dir import HISTORY_FILE

# The model a format implies when --model is not given.
DEFAULT_MODEL_FOR_FORMAT = {"porcupine-kv": "kv-append"}
DEFAULT_MODEL = "cas-register"
RUN_DIR_HISTORY = HISTORY_FILE


@dataclass
class FileOutcome:
    path: str
    result: CheckResult | None = None
    error: str | None = None  # one line: file:line: reason
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CheckRequest:
    path: str
    fmt: str | None
    model: str | None
    time_limit: float | None


def resolve_history_path(path: str) -> str:
    """The history file a PATH names. Hook for run directories: a directory means its history.jsonl.

    (A later part can teach this about richer run dirs: several histories, a manifest, ...)
    """
    if os.path.isdir(path):
        candidate = os.path.join(path, RUN_DIR_HISTORY)
        if os.path.isfile(candidate):
            return candidate
        raise HistoryError(f"is a directory without a {RUN_DIR_HISTORY} (run directories are not supported yet)", path=path)
    return path


def check_one(request: CheckRequest) -> FileOutcome:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TornLineWarning)
        outcome = _check_one(request)
    outcome.warnings = [str(w.message) for w in caught if issubclass(w.category, TornLineWarning)]
    return outcome


def _check_one(request: CheckRequest) -> FileOutcome:
    model = request.model or DEFAULT_MODEL
    try:
        path = resolve_history_path(request.path)
        fmt = request.fmt or guess_format(path)
        model = request.model or DEFAULT_MODEL_FOR_FORMAT.get(fmt, DEFAULT_MODEL)
        result = check_file(path, fmt, model, time_limit=request.time_limit)
        result.file = request.path
        return FileOutcome(request.path, result=result)
    except HistoryError as exc:
        return FileOutcome(request.path, error=str(exc.located(request.path)))
    except Exception as exc:  # a bug in a checker or model: answer "unknown", keep checking the other files
        return FileOutcome(request.path, result=crashed_result(model, exc, request.path))


def validate_choices(fmt: str | None, model: str | None) -> None:
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if model is not None and model not in MODELS:
        raise ValueError(f"unknown model {model!r} (known: {', '.join(sorted(MODELS))})")


def check_paths(
    paths: list[str],
    fmt: str | None = None,
    model: str | None = None,
    *,
    time_limit: float | None = None,
    jobs: int = 1,
) -> Iterator[FileOutcome]:
    """Outcomes in the order of `paths`; with jobs > 1 files are checked in parallel processes."""
    requests = [CheckRequest(path, fmt, model, time_limit) for path in paths]
    if jobs <= 1 or len(requests) <= 1:
        yield from map(check_one, requests)
        return
    import multiprocessing  # only here: most checks run in one process and start faster without it

    context = multiprocessing.get_context("fork")
    with context.Pool(min(jobs, len(requests))) as pool:
        yield from pool.imap(check_one, requests)  # chunks of 1: a few files dominate the time
