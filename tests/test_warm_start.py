"""The warm launcher (compose/mistral/warm_start.py) against a fake mistral.cmd.launch: a hold kills the whole
server (its workers too), a release forks a fresh one, SIGTERM reaches the server, and a server that ends by
itself ends the launcher the same way (so the container exits as it did without the launcher)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

LAUNCHER = Path(__file__).resolve().parent.parent / "compose" / "mistral" / "warm_start.py"
# A stand-in for mistral-server: records its pid and argv, forks a worker like oslo.service's ProcessLauncher,
# exits with MODE's code or when told to, and sleeps otherwise.
FAKE_LAUNCH = '''
import os, sys, time
def main():
    run = os.environ["MISTRAL_LAB_RUN_DIR"]
    worker = os.fork()
    if worker == 0:
        time.sleep(600)
        os._exit(0)
    with open(f"{run}/servers", "a") as out:
        out.write(f"{os.getpid()} {worker} {' '.join(sys.argv)}\\n")
    if os.path.exists(f"{run}/exit-now"):
        sys.exit(3)
    time.sleep(600)
'''


@pytest.fixture
def launcher(tmp_path: Path):
    package = tmp_path / "fake" / "mistral" / "cmd"
    package.mkdir(parents=True)
    (tmp_path / "fake" / "mistral" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "launch.py").write_text(FAKE_LAUNCH)
    run = tmp_path / "run"
    (run / "lab-rpc").mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "fake"), "MISTRAL_LAB_RUN_DIR": str(run)}
    process = subprocess.Popen([sys.executable, str(LAUNCHER), "--server", "executor", "--config-file", "x"],
                               env=env, stderr=subprocess.PIPE, text=True)
    try:
        yield process, run
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def _servers(run: Path, count: int) -> list[list[str]]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        lines = (run / "servers").read_text().splitlines() if (run / "servers").exists() else []
        if len(lines) >= count:
            return [line.split() for line in lines]
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} servers started")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead for our purpose
        return stat.read().split(") ")[1][0] != "Z"


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_hold_kills_the_server_and_its_workers_and_a_release_forks_a_fresh_one(launcher) -> None:
    process, run = launcher
    server, worker, *argv = _servers(run, 1)[0]
    assert argv == ["mistral-server", "--server", "executor", "--config-file", "x"]
    (run / "lab-rpc" / "rules.json").write_text("{}")  # an in-process fault left behind
    launcher_pid = int((run / "mistral-server-warm.pid").read_text())
    assert launcher_pid == process.pid
    os.kill(process.pid, signal.SIGUSR1)
    _wait_for(lambda: (run / "mistral-server-warm.held").exists(), "the launcher never said it holds")
    _wait_for(lambda: not _alive(int(server)) and not _alive(int(worker)), "the old server or its worker lives")
    time.sleep(0.3)
    assert len(_servers(run, 1)) == 1, "nothing starts while held"
    os.kill(process.pid, signal.SIGUSR2)
    fresh, fresh_worker, *_ = _servers(run, 2)[1]
    assert fresh != server and _alive(int(fresh)) and _alive(int(fresh_worker))
    assert not (run / "lab-rpc" / "rules.json").exists(), "a fresh server starts without the old rules"
    assert not (run / "mistral-server-warm.held").exists()
    assert process.poll() is None


def test_sigterm_reaches_the_server_and_the_launcher_ends_as_it_did(launcher) -> None:
    process, run = launcher
    server, *_ = _servers(run, 1)[0]
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=20) == -signal.SIGTERM
    assert not _alive(int(server))


def test_a_server_that_exits_by_itself_ends_the_launcher_with_its_code(launcher) -> None:
    process, run = launcher
    _servers(run, 1)
    (run / "exit-now").write_text("")
    os.kill(process.pid, signal.SIGUSR1)
    os.kill(process.pid, signal.SIGUSR2)
    _servers(run, 2)
    assert process.wait(timeout=20) == 3


def test_a_server_killed_by_a_crash_kills_the_launcher_with_the_same_signal(launcher) -> None:
    process, run = launcher
    server, *_ = _servers(run, 1)[0]
    os.kill(int(server), signal.SIGKILL)  # what an RPC fault's crash-after does to mistral-server
    assert process.wait(timeout=20) == -signal.SIGKILL


def _module(run: Path):
    import importlib.util

    os.environ["MISTRAL_LAB_RUN_DIR"] = str(run)
    try:
        spec = importlib.util.spec_from_file_location("warm_start", LAUNCHER)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        del os.environ["MISTRAL_LAB_RUN_DIR"]
    return module


def test_the_first_start_waits_for_the_broker_to_listen_and_a_restart_does_not(tmp_path: Path,
                                                                                monkeypatch) -> None:
    import socket
    import threading

    module = _module(tmp_path)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    monkeypatch.setenv("MISTRAL_LAB_WAIT_FOR", f"127.0.0.1:{port}")
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    threading.Timer(1.0, lambda: (listener.bind(("127.0.0.1", port)), listener.listen())).start()
    started = time.monotonic()
    module.wait_for_peers()
    waited = time.monotonic() - started
    listener.close()
    assert 0.8 < waited < 10, f"it waited {waited:.1f} s for a broker that listened after 1 s"
    monkeypatch.setenv("MISTRAL_LAB_WAIT_FOR_S", "30")
    started = time.monotonic()
    module.wait_for_peers()  # nothing listens now, but this container has started before
    assert time.monotonic() - started < 0.5


def test_a_forked_server_of_an_eventlet_release_gets_a_hub_of_its_own(tmp_path: Path, monkeypatch) -> None:
    import types

    module = _module(tmp_path)
    monkeypatch.delitem(sys.modules, "eventlet.hubs", raising=False)
    assert module.fresh_event_hub() is False  # 21.0.0 and later: no eventlet, nothing to do
    calls: list[tuple] = []
    monkeypatch.setitem(sys.modules, "eventlet.hubs", types.SimpleNamespace(use_hub=lambda *a: calls.append(a)))
    assert module.fresh_event_hub() is True
    assert calls == [()]  # the default hub, built anew on the child's first green call
