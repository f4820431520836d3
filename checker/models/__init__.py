"""Sequential specifications ("models") the linearizability search checks histories against.

A model is a plain object; subclass `Model` and fill in what you need:

    name: str                       # registry key, e.g. "cas-register"
    fs: frozenset[str]              # the operations (op.f) it understands
    init() -> state                 # the initial state; states must be hashable and immutable
    step(state, op) -> (ok, state)  # apply one operation; ok=False if it cannot happen in `state`

`op` is a `history.pairing.Operation`: use `op.f`, `op.value` (the completion's value for ok ops,
e.g. what a read returned; the invocation's value otherwise) and `op.status` ("ok" or "info": an
info op's outcome is unknown, so its step should accept any outcome). Failed ops never reach a
model. Optional hooks (defaults below):

    check_op(op) -> str | None      # why `op` is malformed for this model (exit 3), else None
    prepare(op) -> op               # normalise an op once before the search (e.g. freeze list
                                    # values into tuples) so that step() stays cheap
    is_pure(op) -> bool             # True if the op never changes the state when it succeeds (a
                                    # read): the search then linearizes it greedily, and drops it
                                    # entirely when it is info (it can never matter)
    partition(ops) -> list of (key, ops)   # independent sub-histories (P-compositionality);
                                    # default: by op.key
    effect(op) -> Hashable | None   # ops with equal effects are interchangeable for step(); the
                                    # default (f, value, status) is right for any step() that reads
                                    # nothing else; None opts an op out
    describe_op(op) / describe_state(state) -> str   # for counterexamples

Register a new model by adding it to MODELS (a later part adds Mistral models the same way):

    class Lifecycle(Model):
        name = "execution-lifecycle"; fs = frozenset({"start", "finish"})
        def init(self): return "IDLE"
        def step(self, state, op): ...
    MODELS[Lifecycle.name] = Lifecycle()
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
