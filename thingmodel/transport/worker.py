"""``Worker``: one thread that runs queued jobs and due auto-reports, in order.

The network thread only enqueues; user code (getters, setters, commands) runs here. The worker
sleeps until the next job or scheduled report is due: no polling while idle.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger("thingmodel.transport.worker")

Job = Callable[[], object]
_WAKE: Job = lambda: None  # noqa: E731 - a sentinel that just wakes the loop
_STOP: Job = lambda: None  # noqa: E731


class Worker:
    def __init__(
        self,
        name: str,
        *,
        idle_seconds: Callable[[], float | None] = lambda: None,
        run_pending: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = name
        self._idle_seconds = idle_seconds
        self._run_pending = run_pending
        self._queue: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def submit(self, job: Job) -> None:
        """Run ``job`` on the worker thread, after the jobs already queued."""
        self._queue.put(job)

    def wake(self) -> None:
        """Re-read the schedule (call after it changed)."""
        self._queue.put(_WAKE)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the queued jobs, then end the thread."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(_STOP)
        if thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def _loop(self) -> None:
        while True:
            timeout = self._idle_seconds()
            try:
                job = self._queue.get(timeout=None if timeout is None else max(timeout, 0.0))
            except queue.Empty:
                job = _WAKE
            if job is _STOP:
                return
            if job is not _WAKE:
                try:
                    job()
                except Exception:  # the worker must outlive any job
                    log.exception("job on %s failed", self.name)
            try:
                self._run_pending()
            except Exception:
                log.exception("scheduled job on %s failed", self.name)
