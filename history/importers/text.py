"""Reading an importer's input file, with one HistoryError naming it."""
from __future__ import annotations

from history.events import HistoryError


def read_text(path: str) -> str:
    """A file's text, or a HistoryError naming the file and why it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise HistoryError("no such file", path=path) from None
    except IsADirectoryError:
        raise HistoryError("is a directory, not a history file", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryError(f"cannot read: {exc}", path=path) from None
