"""The fields of one YAML file of the catalogue (a finding, a not-a-defect note), validated with their lines.

    line_of(root, ("signature", "class")) -> 12            the 1-based line of a (nested) key, for messages
    FieldValidator(path, data, root).fail("seed", "...")  one LabError naming the file, line and field
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from cluster.errors import LabError


def line_of(node: yaml.Node | None, path: tuple[str, ...]) -> int | None:
    """The 1-based line of a (nested) key in a YAML mapping node, for error messages."""
    line = None
    for key in path:
        if not isinstance(node, yaml.MappingNode):
            return line
        for key_node, value_node in node.value:
            if getattr(key_node, "value", None) == key:
                line, node = key_node.start_mark.line + 1, value_node
                break
        else:
            return line
    return line


class FieldValidator:
    """Validates one YAML file's fields (a finding, a not-a-defect note); every failure is one LabError naming
    the file, line and field."""

    def __init__(self, path: Path, data: dict[str, Any], root: yaml.Node | None) -> None:
        self.path, self.data, self.root = path, data, root

    def fail(self, name: str, reason: str) -> LabError:
        line = line_of(self.root, tuple(name.split(".")))
        return LabError(f"{self.path}{f':{line}' if line else ''}: field {name!r}: {reason}")

    def text(self, name: str, value: Any, pattern: re.Pattern | None = None, what: str = "a non-empty string"
             ) -> str:
        if not isinstance(value, str) or not value.strip() or (pattern is not None and not pattern.match(value)):
            raise self.fail(name, f"must be {what}")
        return value

    def count(self, name: str) -> int:
        value = self.data.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(name, "must be an integer >= 0")
        return value


__all__ = ["FieldValidator", "line_of"]
