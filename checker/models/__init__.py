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

from history.pairing import Operation


class Model:
    """Defaults for the optional hooks; subclasses set name, fs and implement init and step."""

    name: str = "model"
    fs: frozenset[str] = frozenset()

    def init(self) -> Hashable:
        raise NotImplementedError

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        raise NotImplementedError

    def check_op(self, op: Operation) -> str | None:
        return None

    def prepare(self, op: Operation) -> Operation:
        return op

    def is_pure(self, op: Operation) -> bool:
        return False

    def partition(self, ops: list[Operation]) -> list[tuple[Any, list[Operation]]]:
        by_key: dict[Any, list[Operation]] = defaultdict(list)
        for op in ops:
            by_key[op.key].append(op)
        return list(by_key.items())

    def effect(self, op: Operation) -> Hashable | None:
        try:
            hash(op.value)
        except TypeError:
            return None  # an unfrozen list or dict: no twin detection, only a slower search
        return (op.f, op.value, op.status)

    def describe_op(self, op: Operation) -> str:
        value = "" if op.value is None else f" {op.value!r}"
        return f"{op.f}{value}"

    def describe_state(self, state: Any) -> str:
        return repr(state)


def frozen(value: Any) -> Hashable:
    """A hashable version of a JSON value (lists become tuples, objects sorted item tuples)."""
    if isinstance(value, list):
        return tuple(frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, frozen(v)) for k, v in value.items()))
    return value


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
