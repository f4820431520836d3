"""The clock fault offline: options, the offset file scripts (run here against a scratch directory), the
strobe loop and its heal, and the probe command."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from cluster.errors import LabError
from nemesis import clock, make_fault


@pytest.fixture
def clock_dir(tmp_path: Path, monkeypatch) -> Path:
    """The scripts aimed at a scratch lab-clock directory (its name matters: heal checks the loop's cmdline)."""
    directory = tmp_path / "lab-clock"
    monkeypatch.setattr(clock, "CLOCK_DIR", str(directory))
    monkeypatch.setattr(clock, "CLOCK_FILE", str(directory / "faketime"))
    monkeypatch.setattr(clock, "STROBE_PID", str(directory / "strobe.pid"))
    return directory


def sh(script: str) -> str:
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("options, message", [
    ({"offset_s": "0"}, "offset_s=0 is no skew"),
    ({"offset_s": "ten"}, "must be an int"),
    ({"offset_s": "99999999999"}, "must be between"),
    ({"mode": "wobble"}, "must be one of bump, strobe"),
    ({"period_ms": "2000"}, "period_ms only applies to mode=strobe"),
    ({"mode": "strobe", "period_ms": "100"}, "must be between 1000 and"),
])
def test_bad_options_fail_before_docker(options: dict, message: str) -> None:
    with pytest.raises(LabError, match=message):
        make_fault("clock", options)


def test_targets_and_description() -> None:
    with pytest.raises(LabError, match="not allowed here"):
        make_fault("clock", {}, "db")
    assert make_fault("clock", {"offset_s": "-90"}, "engine-1").describe() == \
        "clock: skew engine-1 by -90 s, restore on heal"
    assert make_fault("clock", {"mode": "strobe", "offset_s": "30"}).describe() == \
        "clock: flip random between +30 s and true time every 2000 ms, restore on heal"


def test_offset_written_then_restored(clock_dir: Path) -> None:
    assert sh(clock.list_script()) == ""
    sh(clock.write_script(clock.offset_spec(45)))
    assert (clock_dir / "faketime").read_text() == "+45\n"
    assert sh(clock.list_script()) == "clock skew +45\n"
    assert sh(clock.restore_script()) == "clock skew +45\n"
    assert (clock_dir / "faketime").read_text() == "+0\n"
    assert sh(clock.restore_script()) == "" and sh(clock.list_script()) == ""


def test_strobe_loop_flips_and_heal_stops_it(clock_dir: Path) -> None:
    loop = subprocess.Popen(["sh", "-c", clock.strobe_script("-20", 1000)])
    try:
        seen = set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(seen) < 2:
            if (clock_dir / "faketime").exists():
                seen.add((clock_dir / "faketime").read_text())
            time.sleep(0.05)
        assert seen == {"-20\n", "+0\n"}
        assert (clock_dir / "strobe.pid").read_text().strip() == str(loop.pid)
        assert "clock strobe" in sh(clock.restore_script())
        assert loop.wait(timeout=5) != 0
        assert (clock_dir / "faketime").read_text() == "+0\n" and not (clock_dir / "strobe.pid").exists()
    finally:
        loop.kill()


def test_restore_never_kills_a_stranger_under_a_stale_pid(clock_dir: Path) -> None:
    clock_dir.mkdir()
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        (clock_dir / "strobe.pid").write_text(f"{stranger.pid}\n")
        assert sh(clock.restore_script()) == ""
        assert stranger.poll() is None and not (clock_dir / "strobe.pid").exists()
    finally:
        stranger.kill()


def test_probe_runs_under_the_nodes_faketime_environment() -> None:
    command = clock.probe_command("print(1)")
    assert command[:2] == ["sh", "-c"] and command[3] == "print(1)"
    assert "LD_PRELOAD=" in command[2] and "FAKETIME_TIMESTAMP_FILE=/run/lab-clock/faketime" in command[2]
    assert "FAKETIME_DONT_FAKE_MONOTONIC=1" in command[2]
    assert clock.probe_command("print(1)", faked=False) == ["python3", "-c", "print(1)"]


def test_entrypoint_preloads_the_same_environment() -> None:
    from cluster.paths import COMPOSE_DIR

    entrypoint = (COMPOSE_DIR / "mistral" / "entrypoint.sh").read_text()
    for key, value in clock.FAKETIME_ENV.items():
        assert f"{key}={value}" in entrypoint
    assert "libfaketimeMT.so.1" in entrypoint and "libfaketime" in (COMPOSE_DIR / "mistral" / "Dockerfile").read_text()
