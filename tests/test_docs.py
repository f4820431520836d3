"""The README stays a newcomer's guide (at most 250 lines; the rest lives in docs/), every relative link in
README.md and docs/*.md points at a file that exists, and every figure in docs/measurements.md names the command
that produced it and its date."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MEASUREMENTS = ROOT / "docs" / "measurements.md"
MAX_README_LINES = 250
# [text](target) and [text](target "title"); images too. Reference-style definitions: [label]: target
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
# A measured figure ("3 of 5", "17.2 min", "0.25 ms", "470 KB", "179,000"), the command that gives it (a code
# span starting with make, mistral-lab, python -m, .ci/run or .venv/bin/) and a date.
FIGURE = re.compile(r"\b\d+ of \d+\b|\b\d+(?:\.\d+)? ?(?:min|s|ms|ns|KB|MB|GB|h)\b|\b\d{1,3}(?:,\d{3})+\b")
COMMAND = re.compile(r"`(?:make \w|mistral-lab \w|python -m |\.ci/run|\.venv/bin/\w|farm-bench )")
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")


def documents() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def relative_links(text: str) -> list[str]:
    """Targets of the links in a Markdown text that point into the repository (no scheme, no bare anchor);
    code blocks and code spans are not links."""
    text = CODE_SPAN.sub("", FENCE.sub("", text))
    targets = INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)
    return [t for t in targets if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", t) and not t.startswith("#")]


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    broken = []
    for target in relative_links(path.read_text()):
        file_part = target.split("#", 1)[0].split("?", 1)[0]
        if not (path.parent / file_part).exists():
            broken.append(f"{path.relative_to(root)}: {target}")
    return broken


def test_the_readme_is_at_most_250_lines() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, (f"README.md has {lines} lines (at most {MAX_README_LINES}): move the "
                                       f"detail into docs/ and link it")


def test_there_are_docs_to_link_to() -> None:
    assert len(documents()) > 1, "docs/*.md is missing"


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_that_exists(path: Path) -> None:
    assert broken_links(path) == []


@pytest.mark.parametrize("text, targets", [
    ("see [docs](docs/a.md) and [b](../b.md#part)", ["docs/a.md", "../b.md#part"]),
    ("[site](https://example.org/x.md), [top](#top), [mail](mailto:a@b.c)", []),
    ("`[not](a-link.md)` and\n```\n[nor](this.md)\n```\n", []),
    ('![plot](img/p.png "a title")\n[ref]: other.md\n', ["img/p.png", "other.md"]),
])
def test_the_link_finder_itself(text: str, targets: list[str]) -> None:
    assert relative_links(text) == targets


def test_a_missing_target_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "here.md").write_text("")
    doc = tmp_path / "docs" / "doc.md"
    doc.write_text("[ok](../here.md) [gone](missing.md#x) [up](../docs/doc.md)\n")
    assert broken_links(doc, tmp_path) == ["docs/doc.md: missing.md#x"]


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def unsourced_figures(text: str) -> list[str]:
    """Figures without their command and date. A table with `command` and `date` columns is judged row by row;
    any other table with the paragraph that introduces it; paragraphs and list items on their own."""
    problems: list[str] = []
    blocks: list[str] = []
    for block in re.split(r"\n\s*\n", FENCE.sub("", text)):
        if block.lstrip().startswith("|"):
            rows = block.strip().splitlines()
            header = [c.lower() for c in _cells(rows[0])]
            if "command" in header and "date" in header:
                command, date = header.index("command"), header.index("date")
                for row in rows[2:]:
                    cells = _cells(row)
                    figures = FIGURE.findall(CODE_SPAN.sub("", " | ".join(cells[:min(command, date)])))
                    if figures and not (COMMAND.search(cells[command]) and DATE.search(cells[date])):
                        problems.append(f"{figures[0]!r} in: {row[:100]!r}")
                continue
            if blocks:
                blocks[-1] += "\n" + block
                continue
        blocks.append(block)
    for block in blocks:
        figures = FIGURE.findall(CODE_SPAN.sub("", re.sub(r"\]\([^)]*\)", "]", block)))
        if figures and not (COMMAND.search(block) and DATE.search(block)):
            problems.append(f"{figures[0]!r} in: {block[:100]!r}")
    return problems


def test_every_figure_in_the_measurements_names_its_command_and_date() -> None:
    assert unsourced_figures(MEASUREMENTS.read_text()) == []


@pytest.mark.parametrize("text, unsourced", [
    ("Up took 31 s.", 1),
    ("`make bench-cluster`, 2026-11-25: up took 31 s.", 0),
    ("| what | figure | command | date |\n| --- | --- | --- | --- |\n| up | 31 s | `make bench-cluster` | 2026-11-25 |",
     0),
    ("| what | figure | command | date |\n| --- | --- | --- | --- |\n| up | 31 s | | 2026-11-25 |\n"
     "| down | 5 s | `make bench-cluster` | |", 2),
    ("`make bench`, 2026-11-24:\n\n| a | b |\n| --- | --- |\n| x | 1.2 s |", 0),
    ("| a | b |\n| --- | --- |\n| x | 179,000 events/s |", 1),
])
def test_the_measurement_rule_itself(text: str, unsourced: int) -> None:
    assert len(unsourced_figures(text)) == unsourced
