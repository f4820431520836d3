"""The one verdict type: valid | invalid | unknown, one merge, one map to exit codes.

Stored as JSON true / false / "unknown" (runs written before this module still load). Exit codes: 0 valid,
1 invalid, 2 unknown, 3 the lab could not judge (bad input, a broken environment).
"""
from __future__ import annotations

from typing import Any, Iterable, Union

Verdict = Union[bool, str]
VALID: Verdict = True
INVALID: Verdict = False
UNKNOWN: Verdict = "unknown"
EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN, EXIT_BAD_INPUT = 0, 1, 2, 3
LABELS = {True: "VALID", False: "INVALID"}


def normal(value: Any) -> Verdict:
    """A stored value as a verdict: anything but true or false is unknown (never a pass)."""
    return value if value is True or value is False else UNKNOWN


def merge(values: Iterable[Any]) -> Verdict:
    """INVALID if any part is; else UNKNOWN if any part is not plainly valid; else VALID. No parts: UNKNOWN (a
    judgement with nothing behind it is not a pass)."""
    parts = [normal(v) for v in values]
    if any(v is False for v in parts):
        return INVALID
    if not parts or any(v is not True for v in parts):
        return UNKNOWN
    return VALID


def exit_code(value: Any) -> int:
    return {True: EXIT_VALID, False: EXIT_INVALID}.get(normal(value), EXIT_UNKNOWN)  # type: ignore[arg-type]


def label(value: Any) -> str:
    return LABELS.get(normal(value), "UNKNOWN")  # type: ignore[arg-type]


__all__ = ["EXIT_BAD_INPUT", "EXIT_INVALID", "EXIT_UNKNOWN", "EXIT_VALID", "INVALID", "UNKNOWN", "VALID", "Verdict",
           "exit_code", "label", "merge", "normal"]
