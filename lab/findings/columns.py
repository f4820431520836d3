"""The columns of the release matrix (`mistral-lab findings --versions ...`): a Mistral release from PyPI,
optionally with named variants that add Mistral options to every try's spec.

    20.2.0          the release as the finding's spec configures it
    20.2.0+kombu    the same release with DEFAULT.rpc_implementation=kombu (the kombu RPC driver; 21.0.0 removed
                    it, so 21.0.0+kombu is a column whose bring-up fails: `cannot run`, never `gone`)

Only the syntax is checked here, before anything runs; whether a release exists or has an option is bring-up's
to say (cluster.wheels.check_mistral_version, cluster.mistral_options.check_overrides).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from cluster.errors import LabError

VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")  # the catalogue's own rule for mistral_version
# A variant's name -> the Mistral options (spec mistral_config, section.option: value) it adds to each try.
VARIANTS: dict[str, dict[str, str]] = {
    "kombu": {"DEFAULT.rpc_implementation": "kombu"},
}


@dataclass(frozen=True)
class Column:
    label: str  # as given: "20.2.0+kombu"
    version: str
    variants: tuple[str, ...] = ()
    mistral_config: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


def parse_column(text: str) -> Column:
    """One column, `VERSION[+VARIANT...]`; a malformed one is one LabError line naming it."""
    label = text.strip()
    version, *variants = label.split("+")
    if not VERSION_RE.match(version):
        raise LabError(f"--versions: column {label!r}: {version!r} is not a release like 23.0.0 "
                       f"(a column is VERSION or VERSION+VARIANT, variants: {', '.join(VARIANTS)})")
    options: dict[str, str] = {}
    for variant in variants:
        if variant not in VARIANTS:
            raise LabError(f"--versions: column {label!r}: unknown variant {variant!r} (known: "
                           f"{', '.join(f'{name} = {_options_text(VARIANTS[name])}' for name in VARIANTS)})")
        if variants.count(variant) > 1:
            raise LabError(f"--versions: column {label!r}: variant {variant!r} given twice")
        options.update(VARIANTS[variant])
    return Column(label, version, tuple(variants), options)


def parse_columns(text: str | None) -> list[Column]:
    """`20.2.0,20.2.0+kombu,21.0.0`: every column parsed, in order; an empty list, an empty item or a column
    given twice is a LabError too."""
    if text is None or not text.strip():
        raise LabError("--versions: give at least one column, e.g. 20.2.0,20.2.0+kombu,21.0.0")
    items = [item.strip() for item in text.split(",")]
    if any(not item for item in items):
        raise LabError(f"--versions {text!r}: an empty column (two commas, or a comma at an end)")
    columns = [parse_column(item) for item in items]
    labels = [c.label for c in columns]
    twice = next((label for label in labels if labels.count(label) > 1), None)
    if twice is not None:
        raise LabError(f"--versions: column {twice!r} given twice")
    return columns


def _options_text(options: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in options.items())


__all__ = ["Column", "VARIANTS", "VERSION_RE", "parse_column", "parse_columns"]
