"""`key=value` command-line items (workload params, fault options) into a dict, with one clear error."""
from __future__ import annotations

from cluster.errors import LabError


def parse_key_values(items: list[str], flag: str, example: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise LabError(f"malformed {flag} {item!r}: expected key=value, e.g. {example}")
        parsed[key.strip()] = value.strip()
    return parsed
