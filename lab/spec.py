"""Test specs: cluster topology + workloads + nemesis schedule + checkers + durations + config + seed.

A spec is a YAML file (or a built-in name from lab/specs/). CLI flags override it. Errors name the file, the line
and the field, so a typo in a spec is one clear line.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import yaml

from cluster.errors import LabError
from cluster.paths import resource_dir
from cluster.topology import BACKENDS, DATABASES, MISTRAL_ROLES, PLACEMENTS, Topology, validate_count
from history.run_dir import SPEC_FILE

if TYPE_CHECKING:  # nemesis is imported when a spec's faults are checked, not when lab.spec loads
    from nemesis.schedule import Inventory, PinnedSchedule, Schedule

SPECS_DIR = resource_dir("lab", "specs")  # package data: found the same way in a checkout and a wheel install
TOP_LEVEL = {"name", "description", "cluster", "mistral_config", "workload", "nemesis", "checkers",
             "time_limit_s", "warmup_s", "settle_s", "seed", "mistral_version", "promise", "heartbeat_window_s"}
CLUSTER_FIELDS = {"apis", "engines", "executors", "notifiers", "db", "backend", "placement", "hosts"}
INTERVAL_S, DURATION_S = 20.0, 8.0  # a nemesis without interval_s / duration_s
CHECKERS = ("linearizable", "exactly-once", "completion", "succeeded-despite-faults", "perf", "logs", "cron")


@dataclass
class TestSpec:
    name: str
    description: str = ""
    cluster: dict[str, Any] = field(default_factory=lambda: {"apis": 2, "engines": 2, "executors": 2})
    mistral_config: dict[str, Any] = field(default_factory=dict)
    workload: dict[str, Any] = field(default_factory=lambda: {"name": "reference"})
    nemesis: dict[str, Any] = field(default_factory=dict)
    checkers: list[str] | None = None  # None: the workload's own checkers
    time_limit_s: float = 60.0
    warmup_s: float = 5.0
    settle_s: float | None = None
    seed: int = 0
    mistral_version: str | None = None
    promise: str = "designed"  # the level anomalies are judged at: designed or spec (checker.promise)
    heartbeat_window_s: float | None = None  # override check_interval x max_missed_heartbeats for the promise

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(asdict(self))

    def topology(self, lab_name: str) -> Topology:
        overrides: dict[str, dict[str, str]] = {}
        for dotted, value in self.mistral_config.items():
            section, option = dotted.split(".", 1)
            overrides.setdefault(section, {})[option] = str(value)
        kwargs = {k: v for k, v in self.cluster.items() if k != "db"}
        return Topology(name=lab_name, db=self.cluster.get("db", "mariadb"), overrides=overrides,
                        **kwargs, **({"mistral_version": self.mistral_version} if self.mistral_version else {}))


class SourceSpec(TestSpec):
    """A spec whose cluster builds Mistral from a local tree. Not a dataclass of its own: mistral_src is no
    field, so the run's test.yaml stays a plain, replayable spec (topology.json records the source)."""

    mistral_src: str | None = None

    def topology(self, lab_name: str) -> Topology:
        topology = super().topology(lab_name)
        topology.mistral_src = self.mistral_src
        return topology


def with_mistral_source(spec: TestSpec, mistral_src: Path | None) -> TestSpec:
    """`spec` built from the Mistral tree `mistral_src` (a change under test), or `spec` itself when None."""
    if mistral_src is None:
        return spec
    if not Path(mistral_src).is_dir():
        raise LabError(f"--mistral-src {mistral_src}: not a directory")
    patched = SourceSpec(**spec.to_dict())
    patched.mistral_src = str(mistral_src)
    return patched


def builtin_names() -> list[str]:
    return sorted(p.stem for p in SPECS_DIR.glob("*.yaml"))


def resolve(test: str) -> Path:
    """A built-in test name or a path to a spec file."""
    path = Path(test)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise LabError(f"spec file {test} not found")
        return path
    builtin = SPECS_DIR / f"{test}.yaml"
    if not builtin.exists():
        raise LabError(f"unknown test {test!r}: built-in tests are {', '.join(builtin_names())}, "
                       "or give a path to a SPEC.yaml")
    return builtin


def _line_of(node: yaml.Node | None, key: str) -> int | None:
    """The 1-based line of `key` in a YAML mapping node (for error messages)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if getattr(key_node, "value", None) == key:
                return key_node.start_mark.line + 1
    return None


def load_spec(test: str) -> TestSpec:
    path = resolve(test)
    text = path.read_text()
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise LabError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise LabError(f"{path}:1: a spec is a YAML mapping of fields ({', '.join(sorted(TOP_LEVEL))})")
    spec = validate_spec(data, path, root)
    try:
        check_faults_fit(spec)
    except LabError as exc:
        raise LabError(f"{path}:{_line_of(root, 'nemesis') or 1}: {exc}") from None
    params = spec.workload.get("params")
    if isinstance(params, dict) and "file" in params:  # a workload's file is named relative to its spec
        params.setdefault("base_dir", str(path.resolve().parent))
    try:
        check_workload(spec)
    except LabError as exc:
        raise LabError(f"{path}:{_line_of(root, 'workload') or 1}: {exc}") from None
    return spec


def check_workload(spec: TestSpec) -> None:
    """Build the spec's workload once: every mistake in its parameters or its workflow file (a reverse workflow
    without params.task_name, a workflow the file lacks, a required input missing...) is one line here, before
    any cluster."""
    from workloads import make_workload

    params = spec.workload.get("params")
    if params is not None and not isinstance(params, dict):
        raise LabError(f"field 'workload': params must be a mapping, not {type(params).__name__}")
    make_workload(spec.workload["name"], dict(params or {}))


def _fail(path: Path | str, line: int | None, field_name: str, reason: str) -> LabError:
    where = f"{path}:{line}" if line else str(path)
    return LabError(f"{where}: field {field_name!r}: {reason}")


def validate_spec(data: dict[str, Any], path: Path | str = "<spec>", root: yaml.Node | None = None) -> TestSpec:
    for key in data:
        if key not in TOP_LEVEL:
            raise _fail(path, _line_of(root, key), key, f"unknown field (known: {', '.join(sorted(TOP_LEVEL))})")
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise _fail(path, _line_of(root, "name"), "name", "required, a non-empty string")
    spec = TestSpec(name=data["name"])
    for key, value in data.items():
        setattr(spec, key, value)
    _check_types(spec, path, root)
    return spec


def _check_types(spec: TestSpec, path: Path | str, root: yaml.Node | None) -> None:
    def bad(field_name: str, reason: str) -> LabError:
        return _fail(path, _line_of(root, field_name), field_name, reason)

    if not isinstance(spec.cluster, dict) or set(spec.cluster) - CLUSTER_FIELDS:
        raise bad("cluster", f"a mapping with fields {', '.join(sorted(CLUSTER_FIELDS))}")
    for role in MISTRAL_ROLES:
        count = spec.cluster.get(role + "s")
        if count is not None:
            if not isinstance(count, int):
                raise bad("cluster", f"{role}s must be an integer")
            try:
                validate_count(role, count)
            except LabError as exc:
                raise bad("cluster", str(exc)) from exc
    if spec.cluster.get("db", "mariadb") not in DATABASES:
        raise bad("cluster", f"db must be one of {', '.join(DATABASES)}")
    if spec.cluster.get("backend", "compose") not in BACKENDS:
        raise bad("cluster", f"backend must be one of {', '.join(BACKENDS)}")
    if spec.cluster.get("placement", "spread") not in PLACEMENTS:
        raise bad("cluster", f"placement must be one of {', '.join(PLACEMENTS)}")
    if not isinstance(spec.cluster.get("hosts", ""), str):
        raise bad("cluster", "hosts must be the path of a hosts file")
    for number in ("time_limit_s", "warmup_s"):
        value = getattr(spec, number)
        if not isinstance(value, (int, float)) or value < 0 or (number == "time_limit_s" and value == 0):
            raise bad(number, "must be a positive number of seconds")
    if spec.settle_s is not None and (not isinstance(spec.settle_s, (int, float)) or spec.settle_s < 0):
        raise bad("settle_s", "must be a number of seconds >= 0 (or absent: derived from heartbeat settings)")
    if not isinstance(spec.seed, int):
        raise bad("seed", "must be an integer")
    if not isinstance(spec.mistral_config, dict) or any("." not in str(k) for k in spec.mistral_config):
        raise bad("mistral_config", "a mapping of section.option: value")
    if spec.checkers is not None and (not isinstance(spec.checkers, list)
                                      or any(c not in CHECKERS for c in spec.checkers)):
        raise bad("checkers", f"a list drawn from {', '.join(CHECKERS)}")
    if not isinstance(spec.workload, dict) or "name" not in spec.workload or \
            set(spec.workload) - {"name", "params", "concurrency", "rate"}:
        raise bad("workload", "a mapping with name and optional params, concurrency, rate")
    if not isinstance(spec.nemesis, dict):
        raise bad("nemesis", "a mapping (faults, interval_s, duration_s; or schedule) or {} for no faults")
    if spec.promise not in ("designed", "spec"):
        raise bad("promise", "designed (what Mistral 23 is configured for; the default) or spec (the HA goal)")
    if spec.heartbeat_window_s is not None and (not isinstance(spec.heartbeat_window_s, (int, float))
                                                or spec.heartbeat_window_s <= 0):
        raise bad("heartbeat_window_s", "a number of seconds > 0 (default: check_interval x max_missed_heartbeats)")
    _check_nemesis(spec.nemesis, bad)


def _check_nemesis(nemesis: dict[str, Any], bad: Callable[[str, str], LabError]) -> None:
    if nemesis.get("draw", "cover") not in ("cover", "random"):
        raise bad("nemesis.draw", "cover (every listed fault once, then at random; the default) or random")
    for number in ("interval_s", "duration_s"):
        value = nemesis.get(number, 1)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise bad("nemesis", f"{number} must be a number of seconds > 0")
    faults = nemesis.get("faults") or []
    if not isinstance(faults, (str, list)) or any(
            not isinstance(f, (str, dict)) or (isinstance(f, dict) and "fault" not in f) for f in faults):
        raise bad("nemesis", "faults: chaos, or a list of fault names and {fault, target, options} mappings")
    if "schedule" in nemesis:  # an explicit schedule (what a run applied, e.g. from `mistral-lab shrink`)
        from nemesis.pinned import pinned_steps

        if nemesis.get("faults"):
            raise bad("nemesis", "give either faults (a seeded draw) or schedule (explicit steps), not both")
        try:
            pinned_steps(nemesis["schedule"])
        except LabError as exc:
            raise bad("nemesis", f"schedule: {exc}") from None


def nemesis_schedule(spec: TestSpec, inventory: Inventory | None = None) -> Schedule | PinnedSchedule | None:
    """The spec's fault schedule (None: no faults); LabError on a bad fault, option or timing."""
    from nemesis.schedule import PinnedSchedule, Schedule

    nemesis = spec.nemesis or {}
    if nemesis.get("schedule"):  # explicit steps (e.g. from `mistral-lab shrink`): no draw
        return PinnedSchedule(nemesis["schedule"])
    if not nemesis.get("faults"):
        return None
    return Schedule(nemesis["faults"], seed=spec.seed, interval_s=float(nemesis.get("interval_s", INTERVAL_S)),
                    duration_s=float(nemesis.get("duration_s", DURATION_S)),
                    cover=nemesis.get("draw", "cover") != "random", inventory=inventory)


def check_faults_fit(spec: TestSpec) -> None:
    """A spec that lists faults must plan one within its time limit, for any seed: else it would run without
    faults and pass its fault gate ("0 of 0 applied"). One LabError line with the arithmetic."""
    from nemesis.schedule import require_a_fault

    schedule = nemesis_schedule(spec)
    if schedule is not None:
        require_a_fault(schedule, spec.time_limit_s)


def apply_overrides(spec: TestSpec, time_limit: float | None = None, seed: int | None = None,
                    backend: str | None = None) -> TestSpec:
    spec = copy.deepcopy(spec)
    if backend is not None:
        if backend not in BACKENDS:
            raise LabError(f"--backend {backend}: choose one of {', '.join(BACKENDS)}")
        spec.cluster["backend"] = backend
    if time_limit is not None:
        if time_limit <= 0:
            raise LabError(f"--time-limit {time_limit}: must be > 0")
        spec.time_limit_s = time_limit
    if seed is not None:
        spec.seed = seed
    try:  # a replay or a shorter --time-limit may leave no room for a fault
        check_faults_fit(spec)
    except LabError as exc:
        raise LabError(f"--time-limit {time_limit:g}: {exc}" if time_limit is not None else str(exc)) from None
    return spec


def dump_spec(spec: TestSpec, extra: dict[str, Any]) -> str:
    return yaml.safe_dump({**spec.to_dict(), **extra}, sort_keys=False)


def spec_from_run(run_dir: Path) -> TestSpec:
    """The resolved spec a stored run used (for --replay and offline checks)."""
    path = Path(run_dir) / SPEC_FILE
    if not path.exists():
        raise LabError(f"{run_dir} is not a run directory (no test.yaml)")
    data = yaml.safe_load(path.read_text()) or {}
    for recorded_only in ("lab", "lab_start", "planned_faults", "fault_room", "images", "mistral_versions"):
        data.pop(recorded_only, None)
    return validate_spec(data, path)
