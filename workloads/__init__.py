"""Client workloads against every API node, recording Jepsen-style histories.

`WORKLOADS` maps a workload name to its class; `make_workload(name, params)` builds one (LabError for an
unknown name or parameter). `workloads.runner.run_workload` runs one against a cluster.
"""
from __future__ import annotations

from typing import Any

from cluster.errors import LabError
from cluster.keyvalue import parse_key_values
from workloads.core import Completion, Op, RunContext, Workload
from workloads.cron import CronWorkload
from workloads.execution_state import ExecutionStateWorkload
from workloads.reference_load import ReferenceWorkload
from workloads.register import RegisterWorkload
from workloads.workflow_file import WorkflowWorkload

WORKLOADS: dict[str, type[Workload]] = {
    cls.name: cls for cls in (RegisterWorkload, ExecutionStateWorkload, ReferenceWorkload, WorkflowWorkload,
                              CronWorkload)
}


def make_workload(name: str, params: dict[str, Any] | None = None) -> Workload:
    try:
        cls = WORKLOADS[name]
    except KeyError:
        raise LabError(f"unknown workload {name!r} (known: {', '.join(sorted(WORKLOADS))})") from None
    return cls(**(params or {}))


def parse_params(items: list[str]) -> dict[str, str]:
    """`k=v` strings into a dict (dashes in keys become underscores); a malformed item is a LabError."""
    return {key.replace("-", "_"): value for key, value in parse_key_values(items, "--param", "n=4").items()}


__all__ = ["WORKLOADS", "Completion", "Op", "RunContext", "Workload", "make_workload", "parse_params"]
