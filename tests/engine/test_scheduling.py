"""The per-device scheduler: fixed-rate jobs on an injectable clock, never the global ``schedule``."""

from __future__ import annotations

import datetime as dt

import pytest
import schedule

from thingmodel.engine.scheduling import FakeClock, Scheduler, monotonic_clock

START = dt.datetime(2024, 1, 1, 12, 0, 0)


def seconds_since_start(times: list[dt.datetime]) -> list[float]:
    return [(t - START).total_seconds() for t in times]


def test_a_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(START)
    assert clock() == START == clock()
    clock.advance(2.5)
    assert clock() == START + dt.timedelta(seconds=2.5)
    clock.set(START + dt.timedelta(seconds=10))
    assert clock() == START + dt.timedelta(seconds=10)


def test_a_fake_clock_does_not_go_backwards() -> None:
    clock = FakeClock(START)
    clock.advance(5)
    with pytest.raises(ValueError):
        clock.set(START)


def test_the_default_clock_never_goes_backwards() -> None:
    first = monotonic_clock()
    assert monotonic_clock() >= first


def test_a_job_first_runs_one_period_after_it_is_scheduled() -> None:
    clock = FakeClock(START)
    scheduler = Scheduler(clock)
    runs: list[dt.datetime] = []
    scheduler.every(5).seconds.do(lambda: runs.append(clock()))
    clock.advance(4.9)
    scheduler.run_pending()
    assert runs == []
    clock.advance(0.1)
    scheduler.run_pending()
    assert seconds_since_start(runs) == [5]


def test_a_late_run_does_not_shift_the_following_runs() -> None:
    clock = FakeClock(START)
    scheduler = Scheduler(clock)
    runs: list[dt.datetime] = []
    job = scheduler.every(5).seconds.do(lambda: runs.append(clock()))
    clock.advance(7)  # two seconds late
    scheduler.run_pending()
    assert job.next_run == START + dt.timedelta(seconds=10)


def test_a_slow_job_does_not_shift_the_following_runs() -> None:
    clock = FakeClock(START)
    scheduler = Scheduler(clock)
    starts: list[dt.datetime] = []

    def slow() -> None:
        starts.append(clock())
        clock.advance(2)  # the job itself takes two seconds

    scheduler.every(5).seconds.do(slow)
    for _ in range(3):
        clock.set(scheduler.next_run)
        scheduler.run_pending()
    assert seconds_since_start(starts) == [5, 10, 15]


def test_missed_periods_are_skipped_not_run_in_a_burst() -> None:
    clock = FakeClock(START)
    scheduler = Scheduler(clock)
    runs: list[dt.datetime] = []
    job = scheduler.every(5).seconds.do(lambda: runs.append(clock()))
    clock.advance(23)
    scheduler.run_pending()
    scheduler.run_pending()
    assert seconds_since_start(runs) == [23]
    assert job.next_run == START + dt.timedelta(seconds=25)


def test_idle_seconds_is_the_time_to_the_next_job() -> None:
    clock = FakeClock(START)
    scheduler = Scheduler(clock)
    assert scheduler.idle_seconds is None
    scheduler.every(5).seconds.do(lambda: None)
    scheduler.every(3).seconds.do(lambda: None)
    clock.advance(1)
    assert scheduler.idle_seconds == 2


def test_a_cancelled_job_never_runs() -> None:
    clock = FakeClock(START)
    scheduler = Scheduler(clock)
    runs: list[int] = []
    job = scheduler.every(5).seconds.do(lambda: runs.append(1))
    scheduler.cancel_job(job)
    clock.advance(20)
    scheduler.run_pending()
    assert runs == []
    assert scheduler.idle_seconds is None


def test_two_schedulers_do_not_run_each_others_jobs() -> None:
    clock = FakeClock(START)
    first, second = Scheduler(clock), Scheduler(clock)
    runs: list[str] = []
    first.every(5).seconds.do(lambda: runs.append("first"))
    second.every(5).seconds.do(lambda: runs.append("second"))
    clock.advance(5)
    first.run_pending()
    assert runs == ["first"]


def test_the_global_schedule_scheduler_is_left_alone() -> None:
    before = list(schedule.jobs)
    Scheduler(FakeClock(START)).every(5).seconds.do(lambda: None)
    assert schedule.jobs == before
