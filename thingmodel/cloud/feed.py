"""The local cloud's live feed: each message it exchanges with devices, each device coming and
going, each shadow change, kept for a while and told to whoever watches (the console's event
stream, ``thingmodel watch``).

Bounded twice: the history keeps the last ``history`` entries, and a watcher that falls more than
``backlog`` entries behind loses the oldest of them (its ``missed`` count says how many) rather
than the cloud growing or waiting for it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

PREVIEW = 2048
"""Payload bytes an entry keeps (the rest is cut, and ``size`` says how long it was)."""


class FeedEntry:
    """One thing that happened. ``kind``: ``"up"`` or ``"down"`` (a message, with topic and payload),
    ``"online"`` / ``"offline"`` (a device's connection), ``"shadow"`` (a device's shadow changed).

    A plain slotted class, read-only by convention: one is made per message on the MQTT thread,
    and the payload's text is decoded only when someone reads it."""

    __slots__ = ("_raw", "device_id", "kind", "seq", "size", "time", "topic")

    def __init__(
        self,
        seq: int,
        time: float,
        kind: str,
        device_id: str | None,
        topic: str = "",
        raw: bytes = b"",
        size: int = 0,
    ) -> None:
        self.seq, self.time, self.kind, self.device_id = seq, time, kind, device_id
        self.topic, self._raw, self.size = topic, raw, size

    @property
    def payload(self) -> str:
        """The payload as text a person can read (cut at :data:`PREVIEW` bytes)."""
        text = self._raw.decode("utf-8", errors="replace")
        return text if self.size <= PREVIEW else text + "…"

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "kind": self.kind,
            "device_id": self.device_id,
            "topic": self.topic,
            "payload": self.payload,
            "size": self.size,
        }

    def __repr__(self) -> str:
        return f"FeedEntry({self.seq}, {self.kind!r}, {self.device_id!r}, {self.topic!r})"


class Watcher:
    """One watcher's queue of entries (see :meth:`Feed.watch`)."""

    def __init__(self, feed: Feed, device_id: str | None, backlog: int, wake: Callable[[], None] | None):
        self.feed, self.device_id = feed, device_id
        self.entries: deque[FeedEntry] = deque()
        self.backlog = backlog
        self.missed = 0
        self.wake = wake
        self._ready = threading.Condition()

    def offer(self, entry: FeedEntry) -> None:
        if self.device_id is not None and entry.device_id != self.device_id:
            return
        with self._ready:
            if len(self.entries) >= self.backlog:
                self.entries.popleft()
                self.missed += 1
            self.entries.append(entry)
            self._ready.notify_all()
        if self.wake is not None:
            self.wake()

    def take(self, timeout: float | None = None) -> list[FeedEntry]:
        """What arrived since the last call, waiting up to ``timeout`` for something."""
        with self._ready:
            if not self.entries and timeout:
                self._ready.wait(timeout)
            out = list(self.entries)
            self.entries.clear()
        return out

    def close(self) -> None:
        self.feed.unwatch(self)


class Feed:
    """Recent entries and the watchers told of each new one. Thread-safe."""

    def __init__(self, *, history: int = 1000, backlog: int = 1000, clock: Callable[[], float] = time.time):
        self.history: deque[FeedEntry] = deque(maxlen=history)
        self.backlog = backlog
        self.clock = clock
        self._watchers: list[Watcher] = []
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def add(
        self,
        kind: str,
        device_id: str | None,
        topic: str = "",
        payload: bytes = b"",
        *,
        remember: bool = True,
    ) -> FeedEntry:
        """Record an entry and tell the watchers; ``remember=False`` only tells them (a shadow
        change is news, not history)."""
        with self._lock:
            watchers = list(self._watchers)
            if not remember and not watchers:
                return FeedEntry(0, 0.0, kind, device_id)
            entry = FeedEntry(
                next(self._seq), self.clock(), kind, device_id, topic, payload[:PREVIEW], len(payload)
            )
            if remember:
                self.history.append(entry)
        for watcher in watchers:
            watcher.offer(entry)
        return entry

    def recent(self, device_id: str | None = None, limit: int | None = None) -> list[FeedEntry]:
        with self._lock:
            entries = [e for e in self.history if device_id is None or e.device_id == device_id]
        return entries if limit is None else entries[-limit:]

    def watch(self, device_id: str | None = None, wake: Callable[[], None] | None = None) -> Watcher:
        """A new watcher of the entries about ``device_id`` (None: all); ``wake`` is called, on the
        adding thread, after each entry it queues (an event loop's ``call_soon_threadsafe``)."""
        watcher = Watcher(self, device_id, self.backlog, wake)
        with self._lock:
            self._watchers.append(watcher)
        return watcher

    @property
    def watching(self) -> int:
        """How many watchers there are now."""
        with self._lock:
            return len(self._watchers)

    def unwatch(self, watcher: Watcher) -> None:
        with self._lock:
            if watcher in self._watchers:
                self._watchers.remove(watcher)

    def __iter__(self) -> Iterator[FeedEntry]:
        return iter(self.recent())
