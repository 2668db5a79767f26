"""``Worker``: one thread that runs queued jobs and due auto-reports, in order.

The network thread only enqueues; user code (getters, setters, commands) runs here. The worker
sleeps until the next job or scheduled report is due: no polling while idle.

``BatchWorker``: one thread that takes items off a bounded queue and hands them on in batches
(the local cloud stores each batch of uplinks in one transaction). A full queue blocks the
producer: back-pressure instead of growth.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

log = logging.getLogger("thingmodel.transport.worker")

Job = Callable[[], object]
_WAKE: Job = lambda: None  # noqa: E731 - a sentinel that just wakes the loop
_STOP: Job = lambda: None  # noqa: E731
T = TypeVar("T")


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


class _Stop:
    """Ends a BatchWorker's thread once the items before it are handled."""


class BatchWorker(Generic[T]):
    """One thread that hands queued items to ``handle`` in batches, in arrival order.

    ``handle`` gets an iterator over one batch: the items waiting when it asks for the next, at
    most ``max_batch`` of them and for at most ``max_seconds`` after the batch began. It never
    waits for an item that is not there, so a lone item is handled at once. ``put`` blocks while
    ``maxsize`` items wait. ``handle`` must not raise (if it does, that is logged and the thread
    carries on).

    The queue is a deque: ``put`` and taking an item are one append and one pop, and the lock
    is taken only to wake a thread that waits (the worker for an item, a producer for room). A
    producer that found the queue full is woken once a quarter of it is free, not for each item
    taken: it then queues many at once, instead of trading the GIL with the worker per item.
    """

    def __init__(
        self,
        name: str,
        handle: Callable[[Iterator[T]], None],
        *,
        maxsize: int = 10_000,
        max_batch: int = 500,
        max_seconds: float = 0.02,
    ) -> None:
        if maxsize < 1 or max_batch < 1:
            raise ValueError("maxsize and max_batch must be at least 1")
        self.name = name
        self.maxsize = maxsize
        self.max_batch = max_batch
        self.max_seconds = max_seconds
        self._low_water = maxsize - max(1, maxsize // 4)  # a waiting producer is woken at this
        self._handle = handle
        self._items: collections.deque[T | _Stop] = collections.deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # the worker waits here for an item
        self._room = threading.Condition(self._lock)  # producers wait here while it is full
        # Each side sets its flag under the lock *before* it looks at the deque, and the other
        # side looks at the flag *after* changing the deque: so no wake-up is ever missed.
        self._worker_waits = False
        self._producers_wait = 0
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def queued(self) -> int:
        """Items waiting (at most ``maxsize``)."""
        return len(self._items)

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def put(self, item: T) -> bool:
        """Queue ``item``, waiting while the queue is full; False if the worker stopped first."""
        items = self._items
        if len(items) >= self.maxsize:
            with self._lock:
                self._producers_wait += 1
                try:
                    while len(items) >= self.maxsize:
                        if self._thread is None:
                            return False
                        self._room.wait(0.5)
                finally:
                    self._producers_wait -= 1
        self._append(item)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Handle the items already queued, then end the thread."""
        thread = self._thread
        if thread is None:
            return
        self._append(_Stop())  # past maxsize: stopping never waits for room
        if thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def _append(self, item: T | _Stop) -> None:
        self._items.append(item)
        if self._worker_waits:
            with self._lock:
                self._arrived.notify()

    def _take(self) -> T | _Stop:
        """The oldest item, waiting for one if there is none."""
        items = self._items
        if not items:
            with self._lock:
                self._worker_waits = True
                try:
                    while not items:
                        self._arrived.wait()
                finally:
                    self._worker_waits = False
        item = items.popleft()
        if self._producers_wait and len(items) <= self._low_water:
            with self._lock:
                self._room.notify()
        return item

    def _loop(self) -> None:
        while not self._stopping:
            first = self._take()
            if isinstance(first, _Stop):
                return
            try:
                self._handle(self._batch(first))
            except Exception:  # the worker must outlive any batch
                log.exception("a batch on %s failed", self.name)

    def _batch(self, first: T) -> Iterator[T]:
        yield first
        items = self._items
        deadline = time.monotonic() + self.max_seconds
        for _ in range(self.max_batch - 1):
            if not items or time.monotonic() >= deadline:
                return
            item = self._take()  # there is one: this never waits
            if isinstance(item, _Stop):
                self._stopping = True
                return
            yield item
