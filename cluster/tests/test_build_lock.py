"""Image builds are serialised across processes: a second build waits for the first instead of racing it."""
from __future__ import annotations

import threading
import time

from cluster.images import build_lock


def test_second_build_waits_until_the_first_releases(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MISTRAL_LAB_CACHE", str(tmp_path))
    said: list[str] = []
    entered = threading.Event()

    def second() -> None:
        with build_lock(said.append):
            entered.set()

    with build_lock():
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.3)
        assert not entered.is_set()  # flock conflicts between open file descriptions, even in one process
        assert said == ["waiting for another mistral-lab process to finish building images"]
    waiter.join(timeout=5)
    assert entered.is_set()


def test_a_failed_build_releases_the_lock(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MISTRAL_LAB_CACHE", str(tmp_path))
    try:
        with build_lock():
            raise RuntimeError("build failed")
    except RuntimeError:
        pass
    said: list[str] = []
    with build_lock(said.append):
        pass
    assert said == []
