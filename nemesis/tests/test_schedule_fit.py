"""A schedule that plans no fault is refused with its arithmetic; room vs plan is countable."""
from __future__ import annotations

import pytest

from cluster.errors import LabError
from nemesis.schedule import FaultCount, PinnedSchedule, Schedule, fault_count, require_a_fault

BROKER = [{"fault": "broker", "options": {"mode": "stop"}}]


def test_a_fault_that_ends_after_the_time_limit_is_refused_with_the_arithmetic() -> None:
    """The run seen: a 35 s broker outage, interval 45 s, time limit 50 s planned nothing and passed."""
    schedule = Schedule(BROKER, seed=0, interval_s=45, duration_s=35)
    assert list(schedule.decisions(50)) == []
    with pytest.raises(LabError) as caught:
        require_a_fault(schedule, 50)
    assert str(caught.value) == (
        "nemesis: no fault fits: the first slot starts at 22.5 s (interval 45 s / 2), a 35 s fault would end at "
        "57.5 s, after the time limit of 50 s; lower duration_s or interval_s, or raise time_limit_s")


def test_a_limit_the_jitter_can_miss_is_refused_for_every_seed() -> None:
    """15 + 10 = 25 s fits without jitter, but up to 6 s of jitter can push the end to 31 s: some seeds plan none."""
    seeds = [Schedule(BROKER, seed=seed, interval_s=30, duration_s=10) for seed in range(40)]
    assert any(not list(s.decisions(30)) for s in seeds) and any(list(s.decisions(30)) for s in seeds)
    with pytest.raises(LabError, match=r"plus up to 6 s of seeded jitter, a 10 s fault could end at 31 s, "
                                       r"after the time limit of 30 s"):
        require_a_fault(seeds[0], 30)
    for schedule in seeds:  # at 31 s every seed plans one, and nothing is refused
        require_a_fault(schedule, 31)
        assert fault_count(schedule, 31).plans == 1


def test_fault_count_says_when_jitter_dropped_a_fault_the_limit_had_room_for() -> None:
    """Slots at 10, 30, 50 s of 8 s each fit in 60 s; the last one's jitter (up to 4 s) may push it out."""
    def count(seed: int) -> FaultCount:
        return fault_count(Schedule(BROKER, seed=seed, interval_s=20, duration_s=8), 60)

    assert count(0) == FaultCount(holds=3, plans=2)
    assert count(1) == FaultCount(holds=3, plans=3)
    assert fault_count(Schedule(BROKER, seed=0, interval_s=45, duration_s=35), 50) == FaultCount(0, 0)


def test_a_pinned_schedule_counts_its_steps_and_refuses_when_the_first_ends_too_late() -> None:
    steps = [{"fault": "broker", "at_s": 10, "duration_s": 15}, {"fault": "db", "at_s": 30, "duration_s": 15}]
    schedule = PinnedSchedule(steps)
    assert fault_count(schedule, 40) == FaultCount(holds=2, plans=1)
    assert fault_count(schedule, 45) == FaultCount(holds=2, plans=2)
    require_a_fault(schedule, 25)
    with pytest.raises(LabError, match=r"^nemesis: no fault fits: step 1 starts at 10 s, its 15 s fault would end "
                                       r"at 25 s, after the time limit of 20 s; raise time_limit_s"):
        require_a_fault(schedule, 20)
    require_a_fault(PinnedSchedule([]), 5)  # lists no fault: nothing to plan, nothing to refuse
