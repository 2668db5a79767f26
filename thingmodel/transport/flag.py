"""``Flag``: a ``threading.Event`` that shares its owner's condition.

Each ``threading.Event`` holds a condition of its own, and each condition a deque of waiters:
about 1.2 KiB an event. A fleet of 10,000 devices with a handful of events each spends most of
its memory on them; flags that share one condition cost a few bytes each.
"""

from __future__ import annotations

import threading


class Flag:
    """Set, clear, test and wait, as ``threading.Event`` does, on a shared ``condition``.

    :meth:`set` takes the condition's lock: never call it while holding that lock.
    """

    __slots__ = ("_condition", "_set")

    def __init__(self, condition: threading.Condition) -> None:
        self._condition = condition
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        with self._condition:
            self._set = True
            self._condition.notify_all()

    def clear(self) -> None:
        self._set = False

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until set (at most ``timeout`` s); whether it is set."""
        if self._set:
            return True
        with self._condition:
            return self._condition.wait_for(lambda: self._set, timeout)
