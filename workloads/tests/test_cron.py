"""The cron workload against a fake Mistral: its ops in order (create, read, delete after fire_s, list, cleanup),
the values the checker reads, Mistral's answers mapped to ok/fail/info, and a whole run that checker.cron
judges valid."""
from __future__ import annotations

import json
import random
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from checker.cron import judge_cron
from cluster.errors import LabError
from cluster.mistral_api import HttpError
from history.events import Event
from history.pairing import pair_operations
from workloads import make_workload
from workloads.core import Completion, Op, RunContext
from workloads.cron import WORKFLOW, CronWorkload, pattern_period_s, triggered_by

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()


def stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


class Clock:
    """Stands in for the time module inside workloads.cron: wall and monotonic time move together."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


class Response:
    def __init__(self, status: int, data: Any) -> None:
        self.status_code, self.data = status, data
        self.text = json.dumps(data)

    def json(self) -> Any:
        return self.data

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            import requests
            raise requests.HTTPError(f"{self.status_code}", response=self)  # type: ignore[arg-type]


class FakeMistral:
    """Just what the cron workload uses: workflows, cron triggers, executions, and the cron loop (`tick`)."""

    node, url = "api-1", "http://fake"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.session = self
        self.workflows: list[str] = []
        self.triggers: dict[str, dict[str, Any]] = {}
        self.executions: list[dict[str, Any]] = []
        self.refuse: dict[str, HttpError] = {}

    # requests.Session, as ensure_workflows and fetch_all use it
    def post(self, url: str, data: str = "", headers: Any = None, timeout: Any = None) -> Response:
        self.workflows.append(data)
        return Response(201, {})

    def get(self, url: str, params: dict | None = None) -> Response:
        assert url == "http://fake/v2/executions" and params and params["workflow_name"] == WORKFLOW
        return Response(200, {"executions": list(self.executions)})

    # NodeClient.call
    def call(self, method: str, path: str, body: Any = None, params: dict | None = None) -> Any:
        if (method, path) in [tuple(k.split(" ", 1)) for k in self.refuse]:
            raise self.refuse[f"{method} {path}"]
        if method == "POST":
            return self._create(body)
        name = path.rsplit("/", 1)[1]
        if name not in self.triggers:
            raise HttpError(404, f"Cron trigger not found [identifier={name}]")
        if method == "DELETE":
            del self.triggers[name]
            return None
        return dict(self.triggers[name])

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now
        trigger = {**body, "id": f"id-{body['name']}", "first_execution_time": None, "created_at": stamp(now),
                   "next_execution_time": stamp((now // 60 + 1) * 60)}
        self.triggers[body["name"]] = trigger
        return dict(trigger)

    def tick(self) -> None:
        """Mistral's cron loop: fire every due trigger once and move it to the next minute."""
        for trigger in self.triggers.values():
            due = datetime.strptime(trigger["next_execution_time"], "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=timezone.utc).timestamp()
            if due < self.clock.now + 2:
                trigger["remaining_executions"] -= 1
                trigger["next_execution_time"] = stamp(max(due, self.clock.now) // 60 * 60 + 60)
                description = json.dumps({"description": "cron", "triggered_by": {"type": "cron_trigger",
                                                                                   "id": trigger["id"]}})
                self.executions.append({"id": f"ex-{len(self.executions)}", "workflow_name": WORKFLOW,
                                        "created_at": stamp(self.clock.now), "state": "SUCCESS",
                                        "description": description})


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(T0 + 10)
    monkeypatch.setattr("workloads.cron.time", fake)
    return fake


def _setup(fake: FakeMistral, **params: Any) -> CronWorkload:
    workload = make_workload("cron", params)
    assert isinstance(workload, CronWorkload)
    workload.setup(RunContext("r1", {"api-1": fake.url}, Path("."), lambda node: fake))  # type: ignore[arg-type]
    return workload


class Recorder:
    """Invoke ops through the workload and keep the history as the runner would write it."""

    def __init__(self, workload: CronWorkload, fake: FakeMistral) -> None:
        self.workload, self.fake, self.events = workload, fake, []
        self.completions: list[tuple[Op, Completion]] = []

    def run(self, op: Op) -> Completion:
        process = len(self.completions)
        self.events.append(Event(len(self.events), len(self.events), process, "invoke", op.f, op.value, op.key))
        done = self.workload.invoke(self.fake, op)  # type: ignore[arg-type]
        self.events.append(Event(len(self.events), len(self.events), process, done.type, op.f, done.value, op.key))
        self.completions.append((op, done))
        return done


def test_ops_in_order_with_the_values_the_checker_reads(clock: Clock) -> None:
    fake = FakeMistral(clock)
    workload = _setup(fake, triggers=2, fire_s=150)
    assert "lab_cron_tick" in fake.workflows[0] and "std.noop" in fake.workflows[0]
    rng, recorder = random.Random(0), Recorder(workload, fake)
    creates = [workload.next_op(rng, 0, "api-1") for _ in range(2)]
    assert [(op.f, op.key) for op in creates] == [("create-trigger", "lab-cron-r1-1"), ("create-trigger",
                                                                                         "lab-cron-r1-2")]
    assert creates[0].value == {"name": "lab-cron-r1-1", "pattern": "* * * * *", "workflow": WORKFLOW,
                                "remaining_executions": 240}
    created = recorder.run(creates[0]).value
    assert (created["next_execution_time"], created["remaining_executions"], created["at"]) == \
        (stamp(T0 + 60), 240, T0 + 10)
    recorder.run(creates[1])
    while clock.now < T0 + 170:  # reads every 5 s; the cron loop runs each second
        clock.now += 1
        fake.tick()
        if clock.now % 5 == 0:
            op = workload.next_op(rng, 0, "api-1")
            assert op is not None and op.f in ("read-trigger", "delete-trigger")
            recorder.run(op)
    fs = [op.f for op, _ in recorder.completions]
    assert fs.count("delete-trigger") == 2 and not fake.triggers  # deleted once they had lived fire_s
    read = next(done.value for op, done in recorder.completions if op.f == "read-trigger" and op.key.endswith("1"))
    assert set(read) >= {"next_execution_time", "remaining_executions", "id", "at"} and read["exists"]
    deleted = next(done.value for op, done in recorder.completions if op.f == "delete-trigger")
    assert deleted["existed"] and deleted["last"]["remaining_executions"] == 238  # fired 00:01 and 00:02
    assert workload.finish_ops(None) == []  # type: ignore[arg-type]
    clock.now = T0 + 260
    final = workload.final_reads(None)  # type: ignore[arg-type]
    assert [op.f for op in final] == ["list-executions", "delete-trigger", "delete-trigger"]
    listing = recorder.run(final[0]).value
    assert [(e["trigger_id"], e["created_at"]) for e in listing["executions"]][:2] == [
        ("id-lab-cron-r1-1", stamp(T0 + 59)), ("id-lab-cron-r1-2", stamp(T0 + 59))]
    cleanup = [recorder.run(op) for op in final[1:]]
    assert [(c.type, c.value["existed"]) for c in cleanup] == [("ok", False), ("ok", False)]
    result = judge_cron(pair_operations(recorder.events))
    assert result["valid"] is True, result
    assert (result["expected"], result["fired"]) == (4, 4)


def test_without_fire_s_the_triggers_live_until_finish_ops(clock: Clock) -> None:
    fake = FakeMistral(clock)
    workload = _setup(fake, triggers=1)
    rng = random.Random(1)
    Recorder(workload, fake).run(workload.next_op(rng, 0, "api-1"))
    clock.now += 3600
    assert {workload.next_op(rng, p, "api-1").f for p in range(20)} == {"read-trigger"}
    assert [(op.f, op.key) for op in workload.finish_ops(None)] == [("delete-trigger", "lab-cron-r1-1")]


def test_answers_map_to_ok_fail_info(clock: Clock) -> None:
    fake = FakeMistral(clock)
    workload = _setup(fake, triggers=1)
    recorder = Recorder(workload, fake)
    create = workload.next_op(random.Random(0), 0, "api-1")
    fake.refuse = {"POST /v2/cron_triggers": HttpError(409, "Duplicate entry for cron trigger")}
    assert recorder.run(create).type == "fail"
    fake.refuse = {"POST /v2/cron_triggers": HttpError(500, "DBError")}
    assert recorder.run(create).type == "info"  # a 5xx may come after the trigger was committed
    fake.refuse = {}
    assert recorder.run(create).type == "ok"
    fake.refuse = {"DELETE /v2/cron_triggers/lab-cron-r1-1": HttpError(503, "busy")}
    workload.to_delete = []  # as if the main phase had issued its delete
    delete = Op("delete-trigger", {"name": "lab-cron-r1-1"}, "lab-cron-r1-1")
    done = recorder.run(delete)
    workload.observe(delete, done)
    assert done.type == "info" and workload.to_delete == ["lab-cron-r1-1"]  # tried again
    fake.refuse = {"GET /v2/cron_triggers/lab-cron-r1-1": HttpError(503, "busy")}
    assert recorder.run(Op("read-trigger", {"name": "lab-cron-r1-1"}, "lab-cron-r1-1")).type == "fail"
    fake.refuse = {}
    gone = recorder.run(Op("read-trigger", {"name": "nope"}, "nope"))
    assert (gone.type, gone.value["exists"]) == ("ok", False)


def test_parameters() -> None:
    assert make_workload("cron", {"triggers": "3", "fire_s": "120"}).params["triggers"] == 3
    assert pattern_period_s("*/5 * * * *") == 300.0
    for bad in ({"triggers": 0}, {"pattern": "0 12 * * *"}, {"fire_s": -1}, {"count": 0}):
        with pytest.raises(LabError):
            make_workload("cron", bad)
    assert make_workload("cron").checkers == ("cron", "perf")


def test_the_trigger_link_is_read_from_the_description() -> None:
    assert triggered_by(json.dumps({"triggered_by": {"type": "cron_trigger", "id": "t"}})) == \
        {"type": "cron_trigger", "id": "t"}
    assert triggered_by("started by hand") == {} and triggered_by(None) == {} and triggered_by("[1]") == {}


# ---------------------------------------------------------------- integration
PERIODIC_LOG = "/tmp/lab-cron-periodic.log"


def _start_periodic_server(cluster: Any, node: str) -> str:
    """The shared cluster renders [cron_trigger] enabled = false, so nothing fires there: run Mistral 23's own
    periodic server (mistral-server --server periodic, cron enabled) inside one API container for this test."""
    script = ("printf '[cron_trigger]\\nenabled = true\\n' > /tmp/lab-cron.conf && "
              "setsid mistral-server --server periodic --config-file /etc/mistral/mistral.conf "
              f"--config-file /tmp/node.conf --config-file /tmp/lab-cron.conf > {PERIODIC_LOG} 2>&1 < /dev/null & "
              "echo $!")
    code, out = cluster.exec(node, ["sh", "-c", script])
    assert code == 0 and out.strip().isdigit(), out
    pid = out.strip()
    deadline = time.monotonic() + 60
    while "Periodic server started" not in cluster.exec(node, ["cat", PERIODIC_LOG])[1]:
        assert time.monotonic() < deadline, cluster.exec(node, ["tail", "-20", PERIODIC_LOG])[1]
        time.sleep(1)
    return pid


def _stop_periodic_server(cluster: Any, node: str, pid: str) -> None:
    """SIGTERM the process group this test started (setsid made the pid its leader), SIGKILL if it lingers."""
    cluster.exec(node, ["kill", "-TERM", "--", f"-{pid}"])
    deadline = time.monotonic() + 30
    while cluster.exec(node, ["kill", "-0", pid])[0] == 0 and time.monotonic() < deadline:
        time.sleep(1)
    cluster.exec(node, ["kill", "-KILL", "--", f"-{pid}"])


@pytest.mark.docker
def test_a_trigger_fires_once_a_minute_and_is_gone_after_the_run(shared_cluster, tmp_path: Path) -> None:
    from checker.cron import check_cron
    from history.run_dir import RunFiles
    from cluster.mistral_api import NodeClient
    from workloads.runner import RunOptions, run_workload

    urls = shared_cluster.api_urls()
    node = sorted(urls)[0]
    pid = _start_periodic_server(shared_cluster, node)
    try:
        if time.time() % 60 > 50:  # created too close to a minute: the minutes below would be off by one
            time.sleep(61 - time.time() % 60)
        started = time.time()
        # One minute boundary is enough: doubled, lost and late fires over several minutes are the checker's unit
        # tests (checker/tests/test_cron.py); a second real minute cost CI 60 s.
        first_fire = (started // 60 + 1) * 60
        record = run_workload(shared_cluster, make_workload("cron", {"triggers": 1}), tmp_path,
                              RunOptions(time_limit=first_fire + 8 - started, concurrency=1, rate=0.5, seed=3,
                                         collect=False))
        elapsed = time.time() - started
    finally:
        _stop_periodic_server(shared_cluster, node, pid)
    result = check_cron(RunFiles.open(tmp_path))
    print(json.dumps({"elapsed_s": round(elapsed), "counts": record.counts,
                      **{k: result[k] for k in ("valid", "expected", "fired", "lost", "doubled", "late", "pending")},
                      "delays_s": [f["delay_s"] for f in result["fires"]]}, default=str))
    assert elapsed <= 90 and record.counts["info"] == 0
    assert result["valid"] is True, json.dumps(result, indent=1, default=str)[:3000]
    assert (result["expected"], result["fired"]) == (1, 1)
    assert all(-3 <= f["delay_s"] <= 5 for f in result["fires"])
    client = NodeClient(node, urls[node])
    left = client.call("GET", "/v2/cron_triggers", params={"limit": 1000})["cron_triggers"]
    assert not [t["name"] for t in left if t["name"].startswith(f"lab-cron-{record.run_id}-")]
