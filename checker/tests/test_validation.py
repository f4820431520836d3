"""Every public history with a known verdict (tests/data/validation, see its README) must match."""
import csv
import os

import pytest

from checker.check import check_history
from history import load

VALIDATION = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "validation")


def _rows():
    with open(os.path.join(VALIDATION, "verdicts.tsv"), encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


ROWS = _rows()


def test_all_230_histories_are_listed():
    assert len(ROWS) == 230


@pytest.mark.parametrize("row", ROWS, ids=[row["file"] for row in ROWS])
def test_verdict_matches(row):
    events = load(os.path.join(VALIDATION, row["file"]), row["format"])
    result = check_history(events, row["model"], time_limit=60)
    assert result.valid is (row["expected"] == "valid"), result.to_json()
    if result.valid is False:
        example = result.counterexample
        assert example["op"]["status"] == "ok"
        assert example["explanation"]
        assert example["longest_linearizations"]
