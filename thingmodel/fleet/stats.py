"""The fleet's numbers: which reports were sent and which arrived, and how long each took.

A *report* here is one shadow's part of a device's report: one service on Huawei and AWS, the
whole template on Tencent (one shadow per device). The device side says when it emitted one
(:meth:`Tally.sent`), the cloud side when it arrived (:meth:`Tally.arrived`); each arrival
matches the oldest unmatched report of the same device and shadow, so the latency is per
report and nothing is counted twice. An arrival seen before its send was recorded (the two
happen on different threads, and the device records a send once its bytes are on their way)
waits for it and then matches with latency 0; the run is settled only once no report waits for
its arrival and no arrival for its send.

Everything is bounded: latencies go into fixed-size log histograms (about 2 % resolution),
one for the whole run and one for the reports sent once the whole fleet was connected (while
thousands of devices connect, the cloud is busiest and latencies are highest), and a window
of the most recent ones for the progress line; reports waiting for their arrival are kept up
to :data:`MAX_PENDING` per device and shadow, past which the oldest is counted lost.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

MAX_PENDING = 1000
"""Reports of one device and shadow waiting for their arrival, at most."""
WINDOW_SECONDS = 10.0
"""The progress line's latencies are those of the last this many seconds..."""
WINDOW_SAMPLES = 20_000
"""... and at most this many."""
_RATIO = 1.02
_LOG_RATIO = math.log(_RATIO)
_FLOOR = 1e-6  # one microsecond: the smallest latency told apart


class Histogram:
    """Latencies in seconds, counted in log-spaced buckets: fixed memory, ~2 % error."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        bucket = 0 if seconds <= _FLOOR else int(math.log(seconds / _FLOOR) / _LOG_RATIO) + 1
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self.count += 1
        if seconds > self.max:
            self.max = seconds

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0..100), or None with no sample."""
        if not self.count:
            return None
        rank = max(1, math.ceil(self.count * q / 100))
        if rank >= self.count:
            return self.max
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                if bucket == 0:
                    return min(_FLOOR, self.max)
                # the bucket's middle, geometrically; never above the largest sample
                middle: float = _FLOOR * _RATIO ** (bucket - 0.5)
                return min(middle, self.max)
        return self.max  # not reached


def percentile(samples: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank) of ``samples``, or None when there are none."""
    ordered = sorted(samples)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(len(ordered) * q / 100) - 1)]


class Tally:
    """Reports sent and arrived, matched per device and shadow. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        #: ``{device id: shadow keys}`` of the devices counted; arrivals from others are ignored
        self._keys: dict[str, frozenset[str]] = {}
        self._pending: dict[tuple[str, str], deque[float]] = {}
        self._early: dict[tuple[str, str], deque[float]] = {}
        self.pending = 0
        #: arrivals waiting for their send to be recorded
        self.early = 0
        self.sent_count = 0
        self.received = 0
        #: reports given up on (more than MAX_PENDING waiting): lost
        self.overflowed = 0
        #: arrivals the simulator never sent (more than MAX_PENDING early ones, or left at the end)
        self.unexpected = 0
        self.histogram = Histogram()
        #: the latencies of reports sent from :attr:`steady_since` on (the whole fleet connected)
        self.steady = Histogram()
        self.steady_since = math.inf
        self._window: deque[tuple[float, float]] = deque(maxlen=WINDOW_SAMPLES)

    def watch(self, device_id: str, keys: Iterable[str]) -> None:
        """Count the reports of ``device_id`` to these shadows."""
        with self._lock:
            self._keys[device_id] = frozenset(keys)

    def sent(self, device_id: str, keys: Iterable[str], at: float | None = None) -> None:
        """The device emitted a report to each of these shadows."""
        now = self.clock() if at is None else at
        with self._lock:
            for key in keys:
                self.sent_count += 1
                slot = (device_id, key)
                early = self._early.get(slot)
                if early:
                    early.popleft()
                    self.early -= 1
                    self._matched(now, now)
                    self._notify_settled()
                    continue
                pending = self._pending.get(slot)
                if pending is None:
                    pending = self._pending[slot] = deque()
                if len(pending) >= MAX_PENDING:
                    pending.popleft()
                    self.overflowed += 1
                    self.pending -= 1
                pending.append(now)
                self.pending += 1

    def arrived(self, device_id: str | None, keys: Iterable[str], at: float | None = None) -> None:
        """A report of ``device_id`` to these shadows reached the cloud."""
        now = self.clock() if at is None else at
        if device_id is None:
            return
        with self._lock:
            known = self._keys.get(device_id)
            if known is None:
                return
            for key in keys:
                if key not in known:
                    continue
                slot = (device_id, key)
                pending = self._pending.get(slot)
                if pending:
                    self._matched(pending.popleft(), now)
                    self.pending -= 1
                    self._notify_settled()
                    continue
                early = self._early.get(slot)
                if early is None:
                    early = self._early[slot] = deque()
                if len(early) >= MAX_PENDING:
                    early.popleft()
                    self.unexpected += 1
                    self.early -= 1
                early.append(now)
                self.early += 1

    def _notify_settled(self) -> None:
        if not self.pending and not self.early:
            self._drained.notify_all()

    def _matched(self, sent: float, arrived: float) -> None:
        latency = max(0.0, arrived - sent)
        self.received += 1
        self.histogram.add(latency)
        if sent >= self.steady_since:
            self.steady.add(latency)
        self._window.append((arrived, latency))

    def wait_drained(self, timeout: float) -> bool:
        """Wait until every report sent has arrived and every arrival has met its send (or
        ``timeout`` passed); True if they did."""
        with self._drained:
            return self._drained.wait_for(lambda: not self.pending and not self.early, timeout)

    def window(self, seconds: float = WINDOW_SECONDS) -> tuple[float | None, float | None]:
        """p50 and p99 of the latencies of the last ``seconds``."""
        since = self.clock() - seconds
        with self._lock:
            recent = [latency for arrived, latency in self._window if arrived >= since]
        return percentile(recent, 50), percentile(recent, 99)

    def finish(self) -> None:
        """The run is over: arrivals still waiting for a send were never sent by this run."""
        with self._lock:
            self.unexpected += self.early
            self.early = 0
            self._early.clear()

    @property
    def lost(self) -> int:
        """Reports sent that did not arrive (so far)."""
        return self.pending + self.overflowed
