"""Sequential specifications ("models") the linearizability search checks histories against, and their registry.

A model subclasses `Model` (name, fs, init, step, optional hooks with defaults in checker.models.base) and is
registered in MODELS. The protocol in full, with an example: docs/architecture.md#a-linearizability-model.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Hashable, Iterable

from checker.models.base import Model, frozen  # noqa: F401 - the public names live here
from history.pairing import Operation


def _build_registry() -> dict[str, Model]:
    from checker.models.cas_register import CasRegister
    from checker.models.execution_state import ExecutionState
    from checker.models.kv_append import KvAppend
    from checker.models.multi_register import MultiRegister
    from checker.models.mutex import Mutex
    from checker.models.register import Register

    models: Iterable[Model] = (Register(), CasRegister(), KvAppend(), Mutex(), MultiRegister(), ExecutionState())
    return {model.name: model for model in models}


MODELS: dict[str, Model] = _build_registry()


def get_model(name: str) -> Model:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})") from None
