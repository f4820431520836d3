"""The run directory as the checkers see it: history.run_dir owns it; this module keeps the old import path."""
from history.run_dir import (HISTORY_FILE, RUN_FILE, SNAPSHOT_FILE, WITNESS_FILE, RunFiles,  # noqa: F401
                             read_witness, witness_runs)

__all__ = ["RunFiles", "read_witness", "witness_runs", "RUN_FILE", "HISTORY_FILE", "WITNESS_FILE", "SNAPSHOT_FILE"]
