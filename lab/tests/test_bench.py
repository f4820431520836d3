"""Unit tests of the scaling benchmark: input parsing, statistics, verification, CPU math, fault runs (the report and
compare: test_bench_report.py)."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from lab.bench import faults as bench_faults, measure as bench_measure, model as bench_model
from lab.bench import usage as bench_usage
from lab.bench.model import (BenchParams, BenchTopology, NemesisConfig, RepeatResult, Sample, build_entry,
                             parse_topologies, parse_topology, parse_workflows, percentile, spread, summarize)
from lab.bench.usage import _Reading, usage_figures
from lab.cli import _register_commands, app
from cluster.errors import LabError
from cluster.topology import Topology
from nemesis.base import FAULTS, Fault
from nemesis.schedule import NemesisRunner
from workloads.reference import reference_workflow

runner = CliRunner()
_register_commands()
TOPOLOGIES = parse_topologies("1x1x1")


# ------------------------------------------------------------------ input
def test_topology_parses_and_labels() -> None:
    assert parse_topology("2x4x4") == BenchTopology(2, 4, 4)
    assert parse_topology(" 1x2x3 ").label == "1x2x3"
    assert [t.label for t in parse_topologies("1x1x1, 1x2x2,1x1x1")] == ["1x1x1", "1x2x2"]


@pytest.mark.parametrize("text, message", [
    ("1x2", "malformed topology '1x2'"),
    ("axbxc", "malformed topology 'axbxc'"),
    ("1x2x2x2", "malformed topology"),
    ("1-2-2", "malformed topology"),
    ("0x1x1", "topology '0x1x1': invalid api count 0"),
    ("1x1x0", "topology '1x1x0': invalid executor count 0"),
    ("1x33x1", "invalid engine count 33"),
])
def test_malformed_topology_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(LabError, match=message):
        parse_topology(text)


def test_workflows_parse_and_unknown_is_rejected() -> None:
    assert parse_workflows("sequence,with-items") == ("sequence", "with-items")
    with pytest.raises(LabError, match="unknown workflow 'sequnce'"):
        parse_workflows("sequence,sequnce")
    with pytest.raises(LabError, match="--workflows is empty"):
        parse_workflows(" , ")


@pytest.mark.parametrize("field, value, message", [
    ("n", 0, "--n 0: must be an integer between 1 and 1000"),
    ("n", -3, "--n -3"),
    ("concurrency", 0, "--concurrency 0"),
    ("repeat", 0, "--repeat 0"),
    ("executions", 0, "--executions 0"),
    ("seconds", -1.0, "--seconds -1.0"),
    ("poll", 0.0, "--poll 0.0"),
])
def test_params_reject_bad_numbers(field: str, value: object, message: str) -> None:
    kwargs = {"poll_s" if field == "poll" else field: value}
    with pytest.raises(LabError, match=message.replace("(", r"\(")):
        BenchParams(workflows=("sequence",), topologies=TOPOLOGIES, **kwargs).validate()


@pytest.mark.parametrize("args, message", [
    (["--workflows", "sequence,bogus"], "unknown workflow 'bogus'"),
    (["--topologies", "1x2"], "malformed topology '1x2'"),
    (["--topologies", "1x0x1"], "invalid engine count 0"),
    (["--n", "0"], "--n 0"),
    (["--n", "-2"], "--n -2"),
    (["--nemesis", "earthquake"], "unknown nemesis 'earthquake'"),
    (["--nemesis", "pause", "--nemesis-target", "witness"], "witness is never a fault target"),
    (["--nemesis", "kill", "--nemesis-option", "nokey"], "malformed --option 'nokey'"),
    (["--out", "/nonexistent/dir/b.json"], "directory /nonexistent/dir does not exist"),
    (["--hosts", "/etc/hostname"], "--hosts needs --backend swarm"),
    (["--backend", "swarm", "--hosts", "/nonexistent/hosts"], "--hosts /nonexistent/hosts: no such file"),
    (["--mistral-src", "/nonexistent/mistral"], "--mistral-src /nonexistent/mistral: not a directory"),
])
def test_bench_rejects_bad_input_before_touching_docker(args: list[str], message: str, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # proves nothing reached the engine
    result = runner.invoke(app, ["bench", *args])
    assert isinstance(result.exception, LabError), result.output
    assert message in str(result.exception)


def test_a_benchmark_of_a_source_tree_builds_its_cluster_from_it(tmp_path) -> None:
    from lab.bench import scaling as bench

    params = bench_model.BenchParams(workflows=("sequence",), topologies=bench_model.parse_topologies("1x1x1"))
    topology = bench.Bench(params, lambda _: None, "bn-src", mistral_src=str(tmp_path))._topology(
        params.topologies[0])
    assert topology.mistral_src == str(tmp_path)
    assert bench.Bench(params, lambda _: None, "bn-rel")._topology(params.topologies[0]).mistral_src is None


def test_bad_input_exits_3_from_the_real_command() -> None:
    for args in (["--n", "0"], ["--workflows", "nope"], ["--topologies", "2x2"]):
        done = subprocess.run([sys.executable, "-m", "lab", "bench", *args], capture_output=True, text=True,
                              env={"DOCKER_HOST": "unix:///nonexistent/docker.sock", "PATH": "/usr/bin:/bin"})
        assert done.returncode == 3, done.stderr
        assert done.stderr.startswith("error:") and len(done.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------ statistics
def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert percentile([7], 95) == 7
    assert percentile([5, 1, 3], 0) == 1 and percentile([5, 1, 3], 100) == 5


def test_summarize_and_spread() -> None:
    s = summarize([1.0, 2.0, 3.0, 10.0])
    assert (s["min"], s["mean"], s["p50"], s["max"], s["count"]) == (1.0, 4.0, 2.5, 10.0, 4)
    assert s["p95"] == pytest.approx(8.95)
    assert summarize([]) is None
    sp = spread([9.0, 10.0, 11.0])
    assert sp["range"] == 2.0 and sp["rel_range"] == pytest.approx(0.2) and sp["mean"] == 10.0


def test_mistral_timestamps_are_whole_seconds_apart() -> None:
    assert bench_model.seconds_between("2026-11-24 04:33:48", "2026-11-24 04:33:50") == 2.0
    assert bench_model.seconds_between("2026-11-24T04:33:48.500000", "2026-11-24 04:33:50") == 1.5
    assert bench_model.seconds_between(None, "2026-11-24 04:33:50") is None


# ------------------------------------------------------------------ one execution, verified
class FakeApi:
    """Stands in for cluster.mistral_api.NodeClient: scripted execution states and task list."""

    def __init__(self, states: list[str], tasks: list[dict], node: str = "api-1"):
        self.node, self.states, self.task_list, self.cancelled = node, list(states), tasks, []

    def create_execution(self, execution_id: str, workflow: str, workflow_input: dict | None = None) -> dict:
        return self._execution()

    def execution(self, execution_id: str) -> dict:
        return self._execution()

    def _execution(self) -> dict:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"id": "ex-1", "state": state, "state_info": "boom" if state == "ERROR" else None,
                "created_at": "2026-11-24 04:00:00", "updated_at": "2026-11-24 04:00:03"}

    def tasks(self, execution_id: str) -> list[dict]:
        return self.task_list

    def cancel(self, execution_id: str) -> None:
        self.cancelled.append(execution_id)


def _task(state: str = "SUCCESS", start: str = "04:00:00", end: str = "04:00:01") -> dict:
    return {"state": state, "created_at": f"2026-11-24 {start}", "finished_at": f"2026-11-24 {end}"}


SEQ3 = reference_workflow("sequence", 3)


def test_verified_execution_records_mistral_and_task_times() -> None:
    api = FakeApi(["RUNNING", "SUCCESS"], [_task(), _task(end="04:00:02"), _task()])
    sample = bench_measure.run_execution(api, SEQ3, 0.0, timeout=5, poll=0.01)
    assert sample.ok and sample.state == "SUCCESS"
    assert sample.mistral_s == 3.0 and sorted(sample.task_s) == [1.0, 1.0, 2.0]


@pytest.mark.parametrize("states, tasks, error", [
    (["ERROR"], [], "ERROR: boom"),
    (["SUCCESS"], [_task(), _task()], "SUCCESS with 2/2 tasks succeeded, expected 3"),
    (["SUCCESS"], [_task(), _task(), _task("ERROR")], "SUCCESS with 2/3 tasks succeeded, expected 3"),
])
def test_failed_or_misshapen_execution_is_not_ok(states, tasks, error) -> None:
    sample = bench_measure.run_execution(FakeApi(states, tasks), SEQ3, 0.0, timeout=5, poll=0.01)
    assert not sample.ok and sample.error == error


def test_stuck_execution_is_cancelled_and_reported() -> None:
    api = FakeApi(["RUNNING"], [])
    sample = bench_measure.run_execution(api, SEQ3, 0.0, timeout=0.05, poll=0.01)
    assert sample.error == "stuck: RUNNING after 0.05 s" and api.cancelled == ["ex-1"]


def test_run_repeat_pins_threads_round_robin_and_runs_exactly_count(monkeypatch) -> None:
    seen: list[str] = []
    lock = threading.Lock()

    class Recording:
        def __init__(self, node: str, url: str, timeout: float = 10.0) -> None:
            self.node = node

        def close(self) -> None:
            pass

    def fake_run(api, workflow, seconds, timeout, poll) -> Sample:
        with lock:
            seen.append(api.node)
        time.sleep(0.02)  # a real execution takes time, so every thread gets work
        return Sample(api=api.node, started=1.0, finished=2.0, execution_id="x", state="SUCCESS")

    monkeypatch.setattr(bench_measure, "NodeClient", Recording)
    monkeypatch.setattr(bench_measure, "run_execution", fake_run)
    params = BenchParams(workflows=("sequence",), topologies=TOPOLOGIES, concurrency=4)
    result = bench_measure.run_repeat([("api-1", "u1"), ("api-2", "u2")], SEQ3, params, 10)
    assert len(result.samples) == 10 and len(seen) == 10
    assert set(seen) == {"api-1", "api-2"} and seen.count("api-1") >= 4 and seen.count("api-2") >= 4


# ------------------------------------------------------------------ one entry
def _samples(walls: list[float], error: str | None = None, start: float = 0.0) -> list[Sample]:
    return [Sample(api="api-1", started=start + i, finished=start + i + w, execution_id=f"e{i}", state="SUCCESS",
                   mistral_s=round(w), task_s=[1.0, 0.0, 1.0], error=error if i == 0 else None)
            for i, w in enumerate(walls)]


def test_entry_figures_come_from_valid_repeats_only() -> None:
    params = BenchParams(workflows=("sequence",), topologies=TOPOLOGIES, seconds=0.0)
    good1 = RepeatResult(_samples([1.0, 2.0]), 3)        # wall 0 .. 3 s: 2 executions, 6 tasks
    good2 = RepeatResult(_samples([3.0, 4.0]), 3)        # wall 0 .. 5 s
    bad = RepeatResult(_samples([100.0, 100.0], error="ERROR: boom"), 3)
    entry = build_entry(SEQ3, "1x1x1", "none", [good1, good2, bad], params)
    assert entry["valid"] is False and "1/3 repeats" in entry["invalid_reason"] and "ERROR: boom" in entry["invalid_reason"]
    assert entry["samples"] == 4 and entry["repeats_valid"] == 2
    assert entry["exec_time_s"]["mean"] == 2.5 and entry["exec_time_s"]["max"] == 4.0
    assert entry["executions_per_s"] == pytest.approx((2 / 3 + 2 / 5) / 2)
    assert entry["tasks_per_s"] == pytest.approx((6 / 3 + 6 / 5) / 2)
    assert entry["per_task_s"]["mean"] == pytest.approx(2 / 3) and entry["per_task_s"]["resolution_s"] == 1.0
    assert entry["spread"]["exec_time_mean"]["min"] == 1.5 and entry["spread"]["exec_time_mean"]["max"] == 3.5
    assert [r["valid"] for r in entry["repeats"]] == [True, True, False]


def test_all_valid_entry_has_every_figure() -> None:
    params = BenchParams(workflows=("sequence",), topologies=TOPOLOGIES, seconds=0.25)
    entry = build_entry(SEQ3, "1x1x1", "none", [RepeatResult(_samples([1.0, 1.0]), 3)], params)
    assert entry["valid"] is True and "invalid_reason" not in entry
    assert set(entry["exec_time_s"]) >= {"min", "mean", "p50", "p95", "max"}
    assert entry["per_task_s"]["overhead_mean_s"] == pytest.approx(2 / 3 - 0.25)


# ------------------------------------------------------------------ CPU and memory
def test_cpu_memory_and_cpu_bound_from_readings() -> None:
    second = 10**9
    readings = {
        "engine-1": [_Reading(0.0, 0, 100 * 2**20), _Reading(1.0, second, 300 * 2**20),
                     _Reading(2.0, 2 * second, 200 * 2**20)],            # one full core for 2 s
        "broker": [_Reading(0.0, 0, 50 * 2**20), _Reading(1.0, second // 2, 50 * 2**20),
                   _Reading(2.0, second // 2, 50 * 2**20)],             # 50 % then idle
    }
    cpu, memory = usage_figures({"engine-1": "engine", "broker": "broker"}, readings, tasks_done=10,
                                host_busy_pct=190.0, cores=2, idle_pct={"broker": 20.0})
    assert cpu["by_container"]["engine-1"]["mean_pct"] == pytest.approx(100.0)
    assert cpu["by_container"]["broker"]["max_pct"] == pytest.approx(50.0)
    assert cpu["total_mean_pct"] == pytest.approx(125.0)
    assert cpu["total_max_pct"] == pytest.approx(150.0)
    assert cpu["cpu_bound"] is True                            # the machine was 190 % busy of 200 %
    assert cpu["cpu_s_per_task"]["total"] == pytest.approx(0.25)
    assert cpu["net_cpu_s_per_task"]["by_role"]["broker"] == pytest.approx((0.5 - 0.4) / 10)
    assert memory["by_container"]["engine-1"] == pytest.approx(300.0) and memory["total_max"] == pytest.approx(350.0)


def test_cpu_per_host_on_a_swarm_over_several_machines() -> None:
    from lab.bench.report import host_lines

    second = 10**9
    full = [_Reading(0.0, 0, 0), _Reading(1.0, second, 0), _Reading(2.0, 2 * second, 0)]     # one core
    half = [_Reading(0.0, 0, 0), _Reading(1.0, second // 2, 0), _Reading(2.0, second, 0)]   # half a core
    roles = {"engine-1": "engine", "executor-1": "executor", "broker": "broker"}
    readings = {"engine-1": full, "executor-1": half, "broker": half}
    hosts = {"engine-1": "h2", "executor-1": "h2", "broker": "lab"}
    cpu, _ = usage_figures(roles, readings, 10, None, 2, hosts=hosts)
    assert cpu["by_host"] == {"h2": {"mean_pct": pytest.approx(150.0), "nodes": ["engine-1", "executor-1"]},
                              "lab": {"mean_pct": pytest.approx(50.0), "nodes": ["broker"]}}
    document = {"results": [{"workflow": "sequence", "topology": "1x1x1", "nemesis": "none", "cpu": cpu}]}
    assert host_lines(document) == ["sequence @ 1x1x1 (none): h2 150 % (engine-1, executor-1); lab 50 % (broker)"]
    one_engine, _ = usage_figures(roles, readings, 10, None, 2, hosts={n: "" for n in roles})
    assert "by_host" not in one_engine  # one machine: the role table says it all


def test_not_cpu_bound_when_lab_and_machine_have_headroom() -> None:
    assert bench_usage.cpu_bound(50.0, 90.0, 2) is False
    assert bench_usage.cpu_bound(170.0, None, 2) is True


def test_a_restarted_container_counter_is_skipped() -> None:
    points = [_Reading(0.0, 5 * 10**9, 0), _Reading(1.0, 10**8, 0), _Reading(2.0, 6 * 10**8, 0)]
    assert [round(p) for _, _, p in bench_usage._cpu_intervals(points)] == [50]


def test_daemon_time_parses_nanoseconds() -> None:
    assert bench_usage._daemon_time("1970-01-01T00:00:01.500000999Z") == pytest.approx(1.5)


# ------------------------------------------------------------------ fault runs (nemesis.schedule)
def _fake_fault(calls: list[str], start_error: Exception | None = None) -> type[Fault]:
    """A fault class for nemesis.base.FAULTS that only records its calls."""
    class FakeFault(Fault):
        ROLES = ("executor",)

        def start(self, cluster, rng) -> dict:
            calls.append("start")
            if start_error is not None:
                raise start_error
            return {"paused": [self.target]}

        def heal(self, cluster) -> dict:
            calls.append("heal")
            return {"resumed": [self.target]}

        def describe(self) -> str:
            return f"fake on {self.target}"

    FakeFault.name = "bench-fake"
    return FakeFault


class FakeCluster:
    """What a fault measurement asks of a cluster, without Docker: API URLs and the topology."""

    name = "bn-fake"

    def api_urls(self) -> dict[str, str]:
        return {"api-1": "http://api-1"}

    def topology(self) -> Topology:
        return Topology(name=self.name, apis=1, engines=1, executors=2)


FAKE_NEMESIS = NemesisConfig("bench-fake", target="executor-1", interval_s=0.05, duration_s=0.05)


def test_a_fault_run_applies_the_nemesis_schedule(monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setitem(FAULTS, "bench-fake", _fake_fault(calls))
    bench_faults.check_nemesis(FAKE_NEMESIS)  # the offline check finds it in the same registry
    with bench_faults.FaultRun(FakeCluster(), FAKE_NEMESIS, seed=3, total_s=0.48) as run:
        run.runner.join(timeout=5.0)
    assert isinstance(run.runner, NemesisRunner) and not run.runner.is_alive()
    # quiet interval_s before each injection: slots of interval + duration, the first after interval_s
    assert [d.at_s for d in run.schedule.decisions(0.48)] == [0.05, 0.15, 0.25, 0.35]
    assert calls == ["start", "heal"] * 4
    assert [e["action"] for e in run.events] == ["start", "heal"] * 4
    assert run.events[0]["detail"] == {"fault": "fake on executor-1", "paused": ["executor-1"]}
    assert run.events[1]["detail"] == {"resumed": ["executor-1"]}


def test_a_bench_measurement_under_a_fault_records_the_schedule_events(monkeypatch) -> None:
    from lab.bench import scaling as bench

    calls: list[str] = []
    monkeypatch.setitem(FAULTS, "bench-fake", _fake_fault(calls))
    monkeypatch.setattr(bench, "Cluster", lambda name: FakeCluster())

    class NoSampler:
        roles: dict = {}
        readings: dict = {}
        hosts: dict = {}

        def __enter__(self) -> "NoSampler":
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def host_busy_pct(self) -> None:
            return None

    def slow_repeat(apis, workflow, params, count) -> RepeatResult:
        time.sleep(0.2)  # the schedule injects while the repeats run
        return RepeatResult(_samples([1.0] * count), workflow.expected_tasks)

    monkeypatch.setattr(bench, "run_repeat", slow_repeat)
    monkeypatch.setattr(bench, "run_one", lambda *args: None)
    monkeypatch.setattr(bench.Bench, "_sampler", lambda self: NoSampler())
    params = BenchParams(workflows=("sequence",), topologies=TOPOLOGIES, n=3, repeat=2, executions=2,
                         nemesis=FAKE_NEMESIS)
    entry = bench.Bench(params, lambda _: None, "bn-fake")._measure(SEQ3, "1x1x2", FAKE_NEMESIS)
    actions = [e["action"] for e in entry["faults"]]
    assert entry["nemesis"] == "bench-fake" and entry["valid"] is True
    assert actions[0] == "start" and actions.count("start") == actions.count("heal") >= 2
    assert calls == ["start", "heal"] * actions.count("start")


def test_a_fault_that_fails_to_start_is_healed_and_logged(monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setitem(FAULTS, "bench-fake", _fake_fault(calls, LabError("target engine-9 is not running")))
    with bench_faults.FaultRun(FakeCluster(), FAKE_NEMESIS, seed=0, total_s=0.12) as run:
        run.runner.join(timeout=5.0)
    assert calls[:2] == ["start", "heal"]
    assert run.events[0] == {"t": run.events[0]["t"], "action": "start-failed",
                             "detail": "LabError: target engine-9 is not running"}
