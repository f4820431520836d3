"""Turn edn_format values into plain JSON-able Python values (keywords become their names)."""
from __future__ import annotations

from typing import Any

import edn_format


def plain(value: Any) -> Any:
    if isinstance(value, edn_format.Keyword):
        return value.name
    if isinstance(value, edn_format.Symbol):
        return value.name
    if isinstance(value, edn_format.Char):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (edn_format.ImmutableDict, dict)):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, edn_format.ImmutableList, set, frozenset)):
        return [plain(item) for item in value]
    return str(value)
