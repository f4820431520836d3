"""A plain read/write register that starts unset (None)."""
from __future__ import annotations

from checker.models.cas_register import CasRegister


class Register(CasRegister):
    name = "register"
    fs = frozenset({"read", "write"})
