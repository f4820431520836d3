"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""


class LabError(Exception):
    """A problem with the user's input or environment, reported as one clear line."""

    exit_code = 3
