"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""


from history.errors import LabError  # noqa: F401 - one error type for every layer
