"""The history contract (JSON Lines of operation events), its writer, reader, importers and pairing."""
from history.events import EVENT_TYPES, FAIL, INFO, INVOKE, NEMESIS, OK, Event, HistoryError
from history.importers import FORMATS, guess_format, load
from history.pairing import Operation, pair_operations, validate_events
from history.reader import TornLineWarning, read_history
from history.writer import HistoryWriter, write_history

__all__ = [
    "EVENT_TYPES", "FAIL", "FORMATS", "INFO", "INVOKE", "NEMESIS", "OK",
    "Event", "HistoryError", "HistoryWriter", "Operation", "TornLineWarning",
    "guess_format", "load", "pair_operations", "read_history", "validate_events", "write_history",
]
