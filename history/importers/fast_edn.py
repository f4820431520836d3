"""A fast reader for the plain EDN subset Jepsen histories use (maps, vectors, lists, keywords,
numbers, strings, nil/true/false, comments). Returns plain Python values, keywords as their names.

edn_format is the reference reader but slow on big histories (~2 s/MB); anything this reader does
not know (tags, sets, symbols, chars, bigints...) raises Unsupported and the caller falls back.
"""
from __future__ import annotations

import json
import re
from typing import Any


class Unsupported(Exception):
    pass


_TOKEN = re.compile(
    r"""(?P<skip>(?:[\s,]+|;[^\n]*)+)
    |(?P<open>[\[\(\{])
    |(?P<close>[\]\)\}])
    |(?P<str>"(?:[^"\\]|\\.)*")
    |(?P<kw>:[A-Za-z0-9*+!\-_?<>=./]+)
    |(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?=[\s,\]\)\}]|$)
    |(?P<atom>nil|true|false)(?=[\s,\]\)\}]|$)""",
    re.VERBOSE,
)
_ATOMS = {"nil": None, "true": True, "false": False}
_CLOSERS = {"[": "]", "(": ")", "{": "}"}


def loads(text: str) -> Any:
    """The single top-level value of `text` (None for an empty document)."""
    stack: list[tuple[str, list[Any]]] = []
    top: list[Any] = []
    position, end = 0, len(text)
    match = _TOKEN.match
    while position < end:
        token = match(text, position)
        if token is None:
            raise Unsupported(f"unsupported EDN at offset {position}: {text[position:position + 20]!r}")
        position = token.end()
        kind = token.lastgroup
        if kind == "skip":
            continue
        if kind == "open":
            stack.append((token.group(), []))
            continue
        if kind == "close":
            if not stack or _CLOSERS[stack[-1][0]] != token.group():
                raise Unsupported(f"unbalanced {token.group()!r} at offset {token.start()}")
            opener, items = stack.pop()
            value: Any = _mapping(items) if opener == "{" else items
        elif kind == "kw":
            value = token.group()[1:]
        elif kind == "str":
            value = json.loads(token.group())
        elif kind == "num":
            number = token.group()
            value = int(number) if number.lstrip("-").isdigit() else float(number)
        else:
            value = _ATOMS[token.group()]
        (stack[-1][1] if stack else top).append(value)
    if stack or len(top) > 1:
        raise Unsupported("unbalanced brackets or several top-level values")
    return top[0] if top else None


def _mapping(items: list[Any]) -> dict[str, Any]:
    if len(items) % 2:
        raise Unsupported("a map with an odd number of forms")
    keys = items[0::2]
    if not all(isinstance(k, (str, int, float, bool)) or k is None for k in keys):
        raise Unsupported("a map with a composite key")
    return {str(k) if not isinstance(k, str) else k: v for k, v in zip(keys, items[1::2])}
