"""Auto-reports: one fixed-rate job per service on the device's own scheduler."""

from __future__ import annotations

import threading
from collections.abc import Callable

from .scheduling import Clock, FixedRateJob, Scheduler


class AutoReports:
    """The device's auto-report schedule. ``on_change`` is told whenever it changes, so the
    thread that runs the jobs re-reads how long it may sleep."""

    def __init__(self, clock: Clock, on_change: Callable[[], None] = lambda: None) -> None:
        self.scheduler = Scheduler(clock)
        self.on_change = on_change
        self._jobs: dict[str, FixedRateJob] = {}
        self._lock = threading.Lock()

    def schedule(self, key: str, seconds: float, job: Callable[[], object]) -> None:
        """Run ``job`` every ``seconds`` (replacing the job scheduled under ``key``)."""
        with self._lock:
            old = self._jobs.pop(key, None)
            if old is not None:
                self.scheduler.cancel_job(old)
            self._jobs[key] = self.scheduler.every(seconds).seconds.do(job)
        self.on_change()

    def cancel(self, key: str) -> None:
        with self._lock:
            job = self._jobs.pop(key, None)
            if job is not None:
                self.scheduler.cancel_job(job)
        self.on_change()

    def run_due(self, on_failure: Callable[[Exception], None]) -> None:
        """Run the jobs that are due; one that raises never stops the others."""
        with self._lock:
            due = sorted(job for job in self.scheduler.jobs if job.should_run)
        for job in due:
            try:
                job.run()  # type: ignore[no-untyped-call]
            except Exception as exc:
                on_failure(exc)
