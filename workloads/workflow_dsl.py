"""A user's Mistral v2 file as Mistral 23 reads it: a workflow file or a workbook, the workflow to start, its
input and its start params - every mistake Mistral would refuse at each start, found once, before a cluster.

The rules follow Mistral 23's DSL classes (mistral/lang/v2/workbook.py, workflows.py) and its start path
(mistral/engine/utils.py validate_input, reverse_workflow.py _get_target_task_specification,
workflows.py _get_environment). What only Mistral can judge (the task graph, expressions, actions) is left to
it: setup creates the definitions and a probe execution, and Mistral's own message is the error.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cluster.errors import LabError

Workflows = dict[str, dict[str, Any]]
WORKFLOW_TYPES = ("direct", "reverse")
WORKBOOK_SECTIONS = {"version", "name", "description", "tags", "workflows", "actions"}  # WorkbookSpec._schema


@dataclass(frozen=True)
class WorkflowSource:
    """The file's workflows (short name -> body); a workbook's name and text when the file is a workbook."""

    path: Path
    workflows: Workflows
    workbook: str | None = None
    text: str = ""

    @property
    def kind(self) -> str:
        """The API collection the definitions are created in."""
        return "workbooks" if self.workbook else "workflows"

    def full_name(self, short: str) -> str:
        """The name Mistral starts: a workbook's workflows are `<workbook>.<workflow>`."""
        return f"{self.workbook}.{short}" if self.workbook else short

    def definitions(self) -> list[str]:
        """A workbook as written; a workflow file one definition per workflow, so a create-or-update of each
        works when only some exist already."""
        if self.workbook:
            return [self.text]
        return [yaml.safe_dump({"version": "2.0", name: body}, sort_keys=False, default_flow_style=False)
                for name, body in self.workflows.items()]


# ---------------------------------------------------------------- the file
def resolve_path(file: str, base_dir: str = "") -> Path:
    """`file` as given if absolute, else relative to `base_dir` (the spec's directory) or the current one."""
    path = Path(file).expanduser()
    if not path.is_absolute():
        path = Path(base_dir or ".") / path
    return path


def load_source(path: Path) -> WorkflowSource:
    """The workflow file or workbook at `path`; a LabError naming the file (and the line) for what Mistral
    would refuse to read."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise LabError(f"workflow file {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise LabError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if is_workbook(document):
        name, workflows = workbook_of(document, str(path))
        return WorkflowSource(path, workflows, name, text)
    return WorkflowSource(path, workflows_of(document, str(path)), None, text)


def is_workbook(document: Any) -> bool:
    """A workbook names itself (a string `name`: a workflow entry is a mapping) or nests its `workflows`."""
    if not isinstance(document, dict):
        return False
    workflows = document.get("workflows")
    return isinstance(document.get("name"), str) or (isinstance(workflows, dict) and "tasks" not in workflows)


def workflows_of(document: Any, where: str) -> Workflows:
    """Workflow name -> body, from a workflow file (version and workflows at top level)."""
    if not isinstance(document, dict):
        raise LabError(f"{where}: a workflow file is a YAML mapping: version: '2.0' and one entry per workflow")
    _check_version(document.get("version", "2.0"), where)  # written out on every definition the lab sends
    workflows = {str(k): v for k, v in document.items() if k != "version"}
    return _checked(workflows, where)


def workbook_of(document: dict[str, Any], where: str) -> tuple[str, Workflows]:
    """(the workbook's name, its workflows); Mistral requires name and version and no other section."""
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        raise LabError(f"{where}: a workbook needs a name (name: my_book), its workflows are started as NAME.WF")
    if "version" not in document:
        raise LabError(f"{where}: workbook {name!r}: version: '2.0' is required (Mistral refuses a workbook "
                       "without it)")
    _check_version(document["version"], where)
    unknown = sorted(set(document) - WORKBOOK_SECTIONS)
    if unknown:
        raise LabError(f"{where}: workbook {name!r}: unknown section {unknown[0]!r} (Mistral reads "
                       f"{', '.join(sorted(WORKBOOK_SECTIONS))})")
    workflows = document.get("workflows")
    if not isinstance(workflows, dict):
        raise LabError(f"{where}: workbook {name!r} defines no workflow (workflows: {{NAME: {{tasks: ...}}}})")
    return name, _checked({str(k): v for k, v in workflows.items() if k != "version"}, f"{where}: workbook {name!r}")


def _check_version(version: Any, where: str) -> None:
    try:
        v2 = float(version) == 2.0  # 2.0 written as a number is fine too (Mistral's _get_spec_version)
    except (TypeError, ValueError):
        v2 = False
    if not v2:
        raise LabError(f"{where}: unsupported DSL version {version!r} (Mistral 23 reads '2.0')")


def _checked(workflows: dict[str, Any], where: str) -> Workflows:
    if not workflows:
        raise LabError(f"{where}: defines no workflow")
    for name, body in workflows.items():
        if not isinstance(body, dict):
            raise LabError(f"{where}: workflow {name!r} must be a mapping (type, input, tasks...)")
        kind = body.get("type", "direct")
        if kind not in WORKFLOW_TYPES:
            raise LabError(f"{where}: workflow {name!r}: type {kind!r} (Mistral reads direct or reverse)")
    return workflows


# ---------------------------------------------------------------- the workflow to start
def chosen_workflow(source: WorkflowSource, wanted: str) -> str:
    """The short name of the workflow to start: `wanted` (a workbook's may be given as BOOK.WF), or the only
    one the file defines."""
    names = ", ".join(source.workflows)
    if not wanted:
        if len(source.workflows) == 1:
            return next(iter(source.workflows))
        raise LabError(f"{source.path} defines several workflows ({names}): name the one to start with the "
                       "workload parameter workflow")
    if source.workbook and wanted.startswith(f"{source.workbook}."):
        wanted = wanted[len(source.workbook) + 1:]
    if wanted in source.workflows:
        return wanted
    if source.workbook:
        raise LabError(f"workbook {source.workbook!r} ({source.path}) has no workflow {wanted!r} (it defines: "
                       f"{names})")
    raise LabError(f"workflow {wanted!r} is not in {source.path} (it defines: {names})")


# ---------------------------------------------------------------- input and start params
def mapping_param(raw: Any, name: str, what: str) -> dict[str, Any]:
    """A mapping parameter; a string (from --param NAME=...) is read as YAML/JSON."""
    value = raw
    if isinstance(raw, str):
        try:
            value = yaml.safe_load(raw) if raw.strip() else {}
        except yaml.YAMLError:
            raise LabError(f"parameter {name}={raw!r} for workload workflow: not valid YAML/JSON") from None
    if not isinstance(value, dict):
        raise LabError(f"parameter {name}={raw!r} for workload workflow: must be a mapping of {what}")
    return {str(k): v for k, v in value.items()}


def workflow_input(raw: Any) -> dict[str, Any]:
    """The input mapping; a string (from --param input=...) is read as YAML/JSON."""
    return mapping_param(raw, "input", "input names to values")


def check_input(name: str, body: dict[str, Any], given: dict[str, Any]) -> None:
    """What Mistral checks at every start (missing / unexpected input; an entry with a default is optional),
    checked once before the run."""
    declared = body.get("input") or []
    if not isinstance(declared, list):
        return  # not a form we can read; Mistral itself will judge it when the workflow is created
    required, known = set(), set()
    for entry in declared:
        if isinstance(entry, str):
            required.add(entry)
            known.add(entry)
        elif isinstance(entry, dict) and len(entry) == 1:
            known.add(str(next(iter(entry))))
        else:
            return
    missing = sorted(required - set(given))
    unexpected = sorted(set(given) - known)
    if missing or unexpected:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                ([f"unexpected {', '.join(unexpected)}"] if unexpected else [])
        raise LabError(f"input for workflow {name!r}: {'; '.join(parts)} (declared: "
                       f"{', '.join(sorted(known)) or 'none'}); Mistral would refuse every start")


def check_start_params(name: str, body: dict[str, Any], params: dict[str, Any]) -> None:
    """The start params Mistral reads: a reverse workflow's target task, an environment, a namespace."""
    tasks = body.get("tasks") if isinstance(body.get("tasks"), dict) else {}
    if body.get("type", "direct") == "reverse":
        target = params.get("task_name")
        if not target:
            raise LabError(f"reverse workflow {name}: name the target task with params.task_name")
        if str(target) not in tasks:
            raise LabError(f"reverse workflow {name}: params.task_name {target!r} is not one of its tasks "
                           f"({', '.join(tasks) or 'none'})")
    env = params.get("env")
    if env is not None and not isinstance(env, dict) and not (isinstance(env, str) and env.strip()):
        raise LabError(f"workflow {name}: params.env must be a mapping of variables or an environment's name")
    namespace = params.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise LabError(f"workflow {name}: params.namespace must be a string")


__all__ = ["WorkflowSource", "check_input", "check_start_params", "chosen_workflow", "is_workbook", "load_source",
           "mapping_param", "resolve_path", "workbook_of", "workflow_input", "workflows_of"]
