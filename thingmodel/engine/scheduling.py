"""A per-device ``schedule.Scheduler`` with an injectable clock and fixed-rate jobs.

``schedule`` reads ``datetime.now()`` itself and counts each interval from when the job last
ran, so delays add up. Here each job's next run is its previous *due* time plus the period
(missed periods are skipped, not run in a burst), and time comes from the scheduler's clock, so
tests move a :class:`FakeClock` instead of sleeping.
"""

from __future__ import annotations

import datetime as _dt
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import schedule

Clock = Callable[[], _dt.datetime]
_EPOCH = _dt.datetime(2000, 1, 1)


def monotonic_clock() -> _dt.datetime:
    """The default clock: monotonic time expressed as a naive datetime (immune to clock jumps)."""
    return _EPOCH + _dt.timedelta(seconds=time.monotonic())


class FakeClock:
    """A clock that only moves when told to. Thread-safe."""

    def __init__(self, start: _dt.datetime = _EPOCH) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> _dt.datetime:
        with self._lock:
            return self._now

    def set(self, when: _dt.datetime) -> None:
        with self._lock:
            if when < self._now:
                raise ValueError("a FakeClock does not go backwards")
            self._now = when

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += _dt.timedelta(seconds=seconds)


class FixedRateJob(schedule.Job):
    """A job whose runs stay on the grid ``start + k * period`` whatever each run costs."""

    scheduler: Scheduler

    @property
    def should_run(self) -> bool:
        assert self.next_run is not None
        return self.scheduler.clock() >= self.next_run

    def run(self) -> Any:
        result = self.job_func() if self.job_func is not None else None
        self.last_run = self.scheduler.clock()
        self._schedule_next_run()
        return result

    def _schedule_next_run(self) -> None:
        period = _dt.timedelta(seconds=float(self.interval))
        now = self.scheduler.clock()
        if self.next_run is None:
            self.next_run = now + period
            return
        due = self.next_run + period
        if due <= now:  # we fell behind: skip the missed slots rather than bursting
            missed = math.floor((now - due) / period) + 1
            due += missed * period
        self.next_run = due


class Scheduler(schedule.Scheduler):
    """A ``schedule.Scheduler`` of fixed-rate jobs driven by an injectable clock."""

    def __init__(self, clock: Clock = monotonic_clock) -> None:
        super().__init__()
        self.clock = clock

    def every(self, interval: float = 1) -> FixedRateJob:
        return FixedRateJob(interval, self)  # type: ignore[arg-type]

    @property
    def idle_seconds(self) -> float | None:
        """Seconds until the next job is due (negative when overdue), None without jobs."""
        if not self.jobs:
            return None
        delta: _dt.timedelta = self.next_run - self.clock()
        return delta.total_seconds()
