"""``Worker``: runs one device's jobs and due auto-reports, in order, on a shared thread pool.

The network thread only enqueues; user code (getters, setters, commands) runs on a pool thread.
A process with thousands of devices has a handful of pool threads (:class:`WorkerPool`), not a
thread per device: each ``Worker`` is a queue the pool runs one job at a time, so one device's
jobs never overlap and keep their order. Between jobs the pool sleeps until a job comes or a
worker's next scheduled report is due: no polling while idle.

``BatchWorker``: one thread that takes items off a bounded queue and hands them on in batches
(the local cloud stores each batch of uplinks in one transaction). A full queue blocks the
producer: back-pressure instead of growth.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

log = logging.getLogger("thingmodel.transport.worker")

Job = Callable[[], object]
T = TypeVar("T")

#: jobs one worker runs before the pool thread lets another worker have a turn
_TURN = 32
#: seconds a pool thread without work waits for some before it ends (the last one stays while a
#: worker's scheduled turn is pending): an idle device keeps no thread of the pool
LINGER = 2.0


class _Leading(threading.local):
    """Per thread: whether it runs the I/O loop now, and the pools whose workers became ready
    while it did (their threads are not woken: the loop's thread takes the work itself once it
    has stepped away from the loop, see :mod:`.loop`)."""

    def __init__(self) -> None:
        self.on = False
        self.deferred: list[WorkerPool] = []


leading = _Leading()


class WorkerPool:
    """The threads workers run on: started as work comes, at most ``threads`` of them (a job
    that blocks holds one thread; the others carry on), ended after :data:`LINGER` idle
    seconds."""

    _shared: WorkerPool | None = None
    _shared_lock = threading.Lock()

    def __init__(self, name: str = "thingmodel-worker", *, threads: int = 16) -> None:
        if threads < 1:
            raise ValueError("a worker pool needs at least one thread")
        self.name = name
        self.max_threads = threads
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._ready: collections.deque[Worker] = collections.deque()
        self._timers: list[tuple[float, int, Worker, int]] = []
        self._seq = itertools.count()
        self._threads = 0
        self._names = itertools.count(1)
        self._idle = 0
        self._deferred = False  # workers made ready by the loop's thread wait for it

    @classmethod
    def shared(cls) -> WorkerPool:
        """The process's pool (made on first use)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    @property
    def threads(self) -> int:
        """Pool threads running now."""
        return self._threads

    def _schedule(self, worker: Worker) -> None:
        """Queue ``worker`` for a turn (caller holds the lock, worker not queued or running)."""
        worker._queued = True
        self._ready.append(worker)
        if leading.on:  # the I/O loop's thread: it steps away from the loop and runs this itself
            if not self._deferred:
                self._deferred = True
                leading.deferred.append(self)
            return
        self._wake_one()

    def _wake_one(self) -> None:
        """Get a thread to the ready queue (caller holds the lock)."""
        if self._idle:
            self._work.notify()
        elif self._threads < self.max_threads:
            self._threads += 1
            threading.Thread(target=self._loop, name=f"{self.name}-{next(self._names)}", daemon=True).start()

    def take_deferred(self) -> Worker | None:
        """For the loop's thread once it stepped away from the loop: the first worker made ready
        while it led (the others go to the pool's threads)."""
        with self._lock:
            self._deferred = False
            worker = self._ready.popleft() if self._ready else None
            for _ in range(min(len(self._ready), self.max_threads)):
                self._wake_one()
            return worker

    def release_deferred(self) -> None:
        """The loop's thread could not step away (no standby): the pool's threads take the work."""
        with self._lock:
            self._deferred = False
            for _ in range(min(len(self._ready), self.max_threads)):
                self._wake_one()

    def run_here(self, worker: Worker) -> None:
        """Give ``worker`` its turn on the calling thread (it took it off the ready queue)."""
        worker._turn(self)
        with self._lock:
            if self._ready:
                self._wake_one()

    def _at(self, worker: Worker, delay: float) -> None:
        """Give ``worker`` a turn in ``delay`` seconds (caller holds the lock)."""
        worker._timer += 1
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), worker, worker._timer))
        if self._idle:
            self._work.notify()  # an idle thread may sleep past the new deadline

    def _next(self) -> Worker | None:
        """The next worker to give a turn; None when this thread has idled long enough to end."""
        with self._lock:
            idle_since = time.monotonic()
            while True:
                timers = self._timers
                now = time.monotonic()
                due = 0
                while timers and timers[0][0] <= now:
                    _, _, worker, token = heapq.heappop(timers)
                    if token == worker._timer and not worker._queued and worker._running:
                        worker._queued = True
                        self._ready.append(worker)
                        due += 1
                for _ in range(min(due, self.max_threads) - 1):  # this thread takes the first
                    self._wake_one()
                if self._ready:
                    return self._ready.popleft()
                may_end = not timers or self._threads > 1  # someone must stay for the timers
                if may_end and now - idle_since >= LINGER:
                    self._threads -= 1
                    return None
                waits = [timers[0][0] - now] if timers else []
                if may_end:
                    waits.append(idle_since + LINGER - now)
                self._idle += 1
                try:
                    self._work.wait(min(waits) if waits else None)
                finally:
                    self._idle -= 1

    def _loop(self) -> None:
        while True:
            worker = self._next()
            if worker is None:
                return
            worker._turn(self)


class Worker:
    """One device's jobs, run in order on the pool; see the module docstring."""

    def __init__(
        self,
        name: str,
        *,
        idle_seconds: Callable[[], float | None] = lambda: None,
        run_pending: Callable[[], None] = lambda: None,
        pool: WorkerPool | None = None,
    ) -> None:
        self.name = name
        self._idle_seconds = idle_seconds
        self._run_pending = run_pending
        self._pool = pool
        # a list, not a deque: it rarely holds more than a few jobs, and an empty deque costs
        # 0.7 KiB (10,000 devices: 7 MiB); append and pop(0) are atomic under the GIL
        self._jobs: list[Job] = []
        self._queued = False  # in the pool's ready queue, or taking its turn
        self._running = False  # between start() and stop()
        self._timer = 0  # the token of the timer that counts (older ones are stale)
        self._thread: int | None = None  # the ident of the thread taking this turn

    @property
    def pool(self) -> WorkerPool:
        if self._pool is None:
            self._pool = WorkerPool.shared()
        return self._pool

    def start(self) -> None:
        pool = self.pool
        with pool._lock:
            if self._running:
                return
            self._running = True
            if not self._queued:
                pool._schedule(self)  # run what waits, and read the schedule

    def submit(self, job: Job) -> None:
        """Run ``job`` on the pool, after the jobs already queued."""
        self._jobs.append(job)
        pool = self._pool or self.pool  # wake(), inlined: every message comes through here
        with pool._lock:
            if self._running and not self._queued:
                pool._schedule(self)

    def wake(self) -> None:
        """Re-read the schedule (call after it changed)."""
        pool = self._pool or self.pool
        with pool._lock:
            if self._running and not self._queued:
                pool._schedule(self)

    def is_current(self) -> bool:
        """Whether the caller is running one of this worker's jobs."""
        return self._thread == threading.get_ident()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the queued jobs (at most ``timeout`` s), then take no more turns."""
        if not self._running:
            return
        if not self.is_current():
            done = threading.Event()
            self.submit(done.set)
            if not done.wait(timeout):
                log.warning("%s: queued jobs still running after %g s", self.name, timeout)
        with self.pool._lock:
            self._running = False
            self._timer += 1  # its timer is stale now

    def _turn(self, pool: WorkerPool) -> None:
        self._thread = threading.get_ident()
        jobs = self._jobs
        try:
            for _ in range(_TURN):
                if not jobs:
                    break
                job = jobs.pop(0)
                try:
                    job()
                except Exception:  # the pool must outlive any job
                    log.exception("job on %s failed", self.name)
            try:
                self._run_pending()
            except Exception:
                log.exception("scheduled job on %s failed", self.name)
            idle = None if jobs else self._idle_seconds()
        finally:
            self._thread = None
        with pool._lock:
            if jobs and self._running:
                pool._ready.append(self)  # stays _queued: it takes another turn
                return
            self._queued = False
            if self._running and idle is not None:
                pool._at(self, max(idle, 0.0))


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
