"""Log lines that come in bursts (refused connections, delivery timeouts), at most one per second
per kind; the lines held back are counted and the count is logged later."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    """At most one line per ``interval`` seconds for each kind of line.

    A held-back line is counted; the count goes out with the next line of its kind, or from
    :meth:`flush` once the interval has passed. Kinds are short fixed names chosen by the caller
    (never built from input), so the bookkeeping stays as small as the set of kinds.
    """

    def __init__(
        self, logger: logging.Logger, interval: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, tuple[int, int]] = {}  # kind -> (count, level)

    def log(self, kind: str, level: int, message: str, *args: object, exc_info: bool = False) -> bool:
        """Log ``message % args`` unless a line of this kind went out less than ``interval`` ago.

        Returns whether the line was logged.
        """
        if not self.logger.isEnabledFor(level):
            return False
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            count, _ = self._held.get(kind, (0, level))
            self._held[kind] = (count + 1, level)
            return False
        self._last[kind] = now
        held, _ = self._held.pop(kind, (0, level))
        if held:
            message += f" ({held} more like it since the last one, not logged)"
        self.logger.log(level, message, *args, exc_info=exc_info)
        return True

    def flush(self, everything: bool = False) -> None:
        """Log the count of each kind whose last line is ``interval`` old (``everything``: each kind)."""
        now = self._clock()
        for kind, (count, level) in list(self._held.items()):
            since = now - self._last[kind]
            if everything or since >= self.interval:
                del self._held[kind]
                self._last[kind] = now
                self.logger.log(level, "%d more %s lines in the last %.1f s, not logged", count, kind, since)

    @property
    def held(self) -> int:
        """How many lines are held back right now, all kinds together."""
        return sum(count for count, _ in self._held.values())
