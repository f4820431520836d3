"""The setup probe: one execution of the user's workflow on the healthy cluster, before any fault and any op.

A workflow Mistral refuses to start (a 4xx), or one that cannot end as declared even without faults (ERROR for a
workflow built to succeed, SUCCESS for one built to fail, PAUSED waiting for a resume nobody sends), would make
the whole load phase test nothing; the probe says so in seconds, with Mistral's own message, as a LabError
(exit 3). The probe is not an op: it is never in the history, and its execution is outside every checker's scope
(they judge the executions the history started). A probe still running at its time limit is no verdict on the
workflow (it may just be slow): the run goes on.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from cluster.errors import LabError
from cluster.mistral_api import INDETERMINATE, HttpError, NodeClient
from history.mistral import TERMINAL_STATES

POLL_S = 0.5
RETRY_S = 1.0
STATE_INFO_CHARS = 400


@dataclass(frozen=True)
class StartRequest:
    """What each start sends: the workflow's full name, its input, Mistral's start params and the namespace."""

    workflow: str
    input: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    namespace: str = ""

    def create(self, client: NodeClient, execution_id: str) -> dict[str, Any]:
        return client.create_execution(execution_id, self.workflow, self.input or None, self.params or None,
                                       self.namespace)


def probe(client: NodeClient, start: StartRequest, expect: str, timeout_s: float,
          clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
          ) -> dict[str, Any]:
    """Start one execution and wait up to `timeout_s` for it; {"execution_id", "state", "seconds"} when it ends
    as `expect` (SUCCESS or ERROR) or is still running at the limit; a LabError otherwise."""
    began = clock()
    deadline = began + timeout_s
    execution_id = str(uuid.uuid4())
    execution = _create(client, start, execution_id, deadline, clock, sleep)
    state = execution.get("state")
    while state not in TERMINAL_STATES and state != "PAUSED" and clock() < deadline:
        sleep(POLL_S)
        execution = _read(client, execution_id) or execution
        state = execution.get("state")
    seconds = round(clock() - began, 1)
    _judge(start.workflow, execution_id, execution, expect, seconds)
    return {"execution_id": execution_id, "state": state, "seconds": seconds}


def _create(client: NodeClient, start: StartRequest, execution_id: str, deadline: float,
            clock: Callable[[], float], sleep: Callable[[float], None]) -> dict[str, Any]:
    """POST until Mistral answers: a 4xx is its refusal; a 5xx or a lost answer is retried with the same id
    (the create is idempotent) until the deadline."""
    while True:
        try:
            return start.create(client, execution_id)
        except HttpError as exc:
            if 400 <= exc.status < 500:
                raise LabError(f"Mistral refused to start workflow {start.workflow!r} (setup probe on "
                               f"{client.node}, before any fault): {exc}") from None
            problem = str(exc)
        except INDETERMINATE as exc:
            problem = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        if clock() >= deadline:
            raise LabError(f"Mistral could not start workflow {start.workflow!r} (setup probe on {client.node}, "
                           f"before any fault): {problem}")
        sleep(RETRY_S)


def _read(client: NodeClient, execution_id: str) -> dict[str, Any] | None:
    """The execution, or None for a transient failure to read it (the next poll tries again)."""
    try:
        return client.execution(execution_id)
    except (HttpError, *INDETERMINATE):
        return None


def _judge(workflow: str, execution_id: str, execution: dict[str, Any], expect: str, seconds: float) -> None:
    state = execution.get("state")
    if state == expect or state not in (*TERMINAL_STATES, "PAUSED"):
        return  # as declared, or still running at the limit: no verdict on the workflow
    where = f"the setup probe {execution_id} ended {state} after {seconds:g} s on the healthy cluster"
    if state == "SUCCESS":
        raise LabError(f"workflow {workflow!r} is declared expect: error, but {where}: a run would judge "
                       "nothing it was built for")
    if state == "PAUSED":
        raise LabError(f"workflow {workflow!r}: the setup probe {execution_id} is PAUSED (pause-before or a "
                       "pause command): the lab never resumes an execution, so none would end")
    info = " ".join(str(execution.get("state_info") or "no state_info").split())[:STATE_INFO_CHARS]
    hint = " (declare expect: error for a workflow built to fail)" if state == "ERROR" else ""
    raise LabError(f"workflow {workflow!r} cannot succeed even without faults: {where}: {info}{hint}")


__all__ = ["StartRequest", "probe"]
