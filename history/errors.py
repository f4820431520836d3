"""Errors a user can cause. The CLI prints them as one line and exits non-zero.

Defined at the bottom of the layers so the run directory's owner (history.run_dir) can raise it; cluster.errors
re-exports it under the name every layer above already uses."""


class LabError(Exception):
    """A problem with the user's input or environment, reported as one clear line."""

    exit_code = 3


__all__ = ["LabError"]
