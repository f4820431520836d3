"""The README's findings section against the finding files: one table row per finding whose tries, reproduced,
min_rate, basis (and provisional mark), class / kind and promise level are the file's; and every figure in that
section and in docs/findings.md (where the rest of the findings documentation lives) names the command (or the
code) that produced it and a date."""
from __future__ import annotations

import re

import pytest

from lab.findings.catalogue import DEFAULT_DIR, load_catalogue

README = DEFAULT_DIR.parent / "README.md"
FINDINGS_DOC = DEFAULT_DIR.parent / "docs" / "findings.md"
SECTION_START = "## Findings: Mistral 23.0.0's HA defects"   # the section runs to the next "## " heading
HEADER = ("| finding | class / kind | breaks | tries | reproduced | min_rate | min_rate basis | releases "
          "| patch | one-line cause |")
VERSIONS_DOC = DEFAULT_DIR.parent / "docs" / "versions.md"
# A measured figure: "3 of 5", "17.2 min", "25 s", "470 KB". Code spans (`...`), code blocks and link targets
# are examples or addresses, not figures.
FIGURE_RE = re.compile(r"\b\d+ of \d+\b|\b\d+(?:\.\d+)? ?(?:min|s|KB|MB|h)\b")
COMMAND_RE = re.compile(r"`(?:make \w|mistral-lab \w|python -m )|\bmake findings\b|mistral-lab findings")
DATE_RE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
FROM_CODE = "read from Mistral 23.0.0's code"


def _section() -> str:
    text = README.read_text()
    start = text.index(SECTION_START)
    end = text.find("\n## ", start + len(SECTION_START))
    return text[start:end if end != -1 else len(text)]


def _prose(text: str) -> str:
    """The text without code blocks, code spans and link targets."""
    text = re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"\]\([^)]*\)", "]", re.sub(r"`[^`]*`", "", text))


def _rows() -> dict[str, list[str]]:
    lines = _section().splitlines()
    start = lines.index(HEADER)
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("| `"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        rows[cells[0].strip("`")] = cells
    return rows


def test_the_readme_table_has_one_row_per_finding_with_the_files_figures() -> None:
    rows = _rows()
    findings = load_catalogue(DEFAULT_DIR)
    assert sorted(rows) == sorted(f.id for f in findings)
    for finding in findings:
        _, cls_kind, breaks, tries, reproduced, min_rate, basis, _releases, _patch, _cause = rows[finding.id]
        assert (tries, reproduced, min_rate) == (str(finding.tries), str(finding.reproduced), str(finding.min_rate)), \
            finding.id
        assert (cls_kind, breaks) == (f"{finding.cls} / {finding.kind}", finding.breaks), finding.id
        assert basis == str(finding.min_rate_basis) + (", provisional" if finding.provisional else ""), finding.id


def _blocks(section: str) -> list[str]:
    """Paragraphs, list items and tables; a table is judged with the paragraph that introduces it."""
    blocks: list[str] = []
    section = re.sub(r"^```.*?^```[ \t]*$", "", section, flags=re.MULTILINE | re.DOTALL)
    for block in re.split(r"\n\s*\n", section):
        if block.lstrip().startswith("|") and blocks:
            blocks[-1] += "\n" + block
        elif block.lstrip().startswith("- "):
            blocks += [item for item in re.split(r"\n(?=- )", block)]
        else:
            blocks.append(block)
    return blocks


def _unsourced(text: str) -> list[str]:
    unsourced = []
    for block in _blocks(text):
        figures = FIGURE_RE.findall(_prose(block))
        if not figures or FROM_CODE in " ".join(block.split()):
            continue
        if not (COMMAND_RE.search(block) and DATE_RE.search(block)):
            unsourced.append(f"{figures[0]!r} in: {block[:100]!r}")
    return unsourced


def test_the_section_ends_at_the_next_heading() -> None:
    section = _section()
    assert section.startswith(SECTION_START) and "\n## " not in section


def test_every_figure_in_the_findings_section_names_its_command_and_date() -> None:
    assert _unsourced(_section()) == []


def test_every_figure_in_the_findings_doc_names_its_command_and_date() -> None:
    assert _unsourced(FINDINGS_DOC.read_text()) == []


@pytest.mark.parametrize("block, sourced", [
    ("Replayed 3 times: 2 of 3 reproduced.", False),
    ("Replayed by `make findings` (2026-12-04): 2 of 3 reproduced.", True),
    ("A run took 54 min on 2026-12-04.", False),
    ("Status text such as `reproduces: 2 of 3 asked` is an example.", True),
    ("See [the table](../README.md#findings-mistral-2300s-ha-defects).", True),
    ("```\nmistral-lab findings --tries 3   # 25 s\n```", True),
    ("About 77 s, read from Mistral 23.0.0's\ncode.", True),
])
def test_the_figure_rule_itself(block: str, sourced: bool) -> None:
    assert (_unsourced(block) == []) == sourced


def _matrix_cells() -> dict[str, str]:
    """docs/versions.md's generated table as the README's releases cell: 'COLUMN r/N, ...' per finding."""
    table = [line for line in VERSIONS_DOC.read_text().splitlines() if line.startswith("| ")]
    columns = [cell.strip().split(" (")[0] for cell in table[0].strip().strip("|").split("|")[1:]]
    found = {}
    for line in table[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rates = [f"{column} {m.group(1)}" for column, cell in zip(columns, cells[1:])
                 if (m := re.search(r"(\d+/\d+)$", cell))]
        found[cells[0]] = ", ".join(rates)
    return found


def test_the_releases_column_is_the_release_matrix_in_docs_versions() -> None:
    rows, matrix = _rows(), _matrix_cells()
    assert sorted(matrix) == sorted(rows)
    for finding_id, cells in rows.items():
        assert cells[7].startswith(matrix[finding_id]) and matrix[finding_id], finding_id


PATCHES_DOC = DEFAULT_DIR.parent / "docs" / "patches.md"
PATCH_HEADER = "| finding | its patch | unpatched (catalogue) | with the series |"


def _series_cells() -> dict[str, str]:
    """docs/patches.md's series table as the README's patch cell: 'series r/N gone', 'series r/N not shown', ..."""
    lines = PATCHES_DOC.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(PATCH_HEADER))
    found = {}
    for line in lines[start + 2:]:
        if not line.startswith("| `"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        figures = re.match(r"(\d+) of (\d+)", cells[3])
        status = next(word for word in ("not shown", "gone", "still there", "inconclusive", "not replayed")
                      if word in cells[4])
        found[cells[0].strip("`")] = (f"series {figures.group(1)}/{figures.group(2)} " if figures else "") + status
    return found


def test_the_patch_column_is_the_series_replay_in_docs_patches() -> None:
    rows, series = _rows(), _series_cells()
    assert sorted(series) == sorted(rows)
    for finding_id, cells in rows.items():
        assert cells[8].startswith(series[finding_id]), (finding_id, cells[8], series[finding_id])
