"""``CloudLogHandler``: a :class:`logging.Handler` that ships a device's log records to its cloud.

    logging.getLogger("mydevice").addHandler(device.log_handler())

Huawei ``$log`` ``log_report`` (switched on and off by the cloud's ``log_config``), AWS on our
topic ``things/{thing}/logs/up``; Tencent takes logs over its own HTTP upload, so there it is a
:class:`~thingmodel.errors.NotSupported` when the handler is made.

``emit`` never blocks and never sends from the caller's thread: records wait in a bounded queue
and the device's worker ships them in batches. At most ``rate`` records a second go out (a burst
of ``burst``); what the queue or the rate cannot take is counted, and the next batch says how
many were left out, so nothing disappears without a trace. Known secrets (``redact``, and
``password=``/``secret=``/``token=`` values) are masked before a record leaves the device. Records
logged while a batch is being sent are not shipped (they would feed themselves).
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable

from ..protocol.messages import LogConfig, LogEntry, ShipLogs, Uplink

__all__ = ["CloudLogHandler"]

_SECRET_VALUE = re.compile(r"(?i)\b(password|passwd|secret|token|access_token|key)(\s*[=:]\s*)(\S+)")
MAX_BATCH = 50


class CloudLogHandler(logging.Handler):
    """Ships records through ``send`` (run on the device's worker through ``submit``)."""

    def __init__(
        self,
        send: Callable[[Uplink], None],
        submit: Callable[[Callable[[], None]], object],
        *,
        level: int = logging.INFO,
        capacity: int = 1000,
        rate: float = 20.0,
        burst: int = 100,
        max_length: int = 2048,
        redact: Iterable[str] = (),
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(level)
        if capacity < 1 or rate <= 0 or burst < 1 or max_length < 16:
            raise ValueError("capacity, rate, burst and max_length must be positive (max_length >= 16)")
        self._send = send
        self._submit = submit
        self.rate, self.burst, self.max_length = rate, burst, max_length
        self._redact = [s for s in redact if s]
        self._wall_clock, self._clock = wall_clock, clock
        self._queue: collections.deque[LogEntry] = collections.deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._refilled = clock()
        self._scheduled = False
        self._shipping = threading.local()
        #: records left out since the last batch (queue full, over the rate, shipping switched off)
        self.left_out = 0
        #: records shipped so far
        self.shipped = 0
        #: whether the cloud wants logs now (Huawei ``log_config``); None until: ``until_ms``
        self.enabled = True
        self.until_ms: int | None = None

    def configure(self, config: LogConfig) -> None:
        """Apply the cloud's switch (on the worker)."""
        self.enabled, self.until_ms = config.enabled, config.until_ms
        logging.getLogger("thingmodel.features.logs").info(
            "log shipping %s by the cloud%s",
            "on" if config.enabled else "off",
            f" until {config.until_ms} ms" if config.until_ms is not None else "",
        )

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._shipping, "active", False) or record.name == "thingmodel.features.logs":
            return
        try:
            now_ms = int(self._wall_clock() * 1000)
            if not self.enabled or (self.until_ms is not None and now_ms >= self.until_ms):
                with self._lock:
                    self.left_out += 1
                return
            entry = LogEntry(int(record.created * 1000), self._content(record))
            with self._lock:
                if not self._take_token():
                    self.left_out += 1
                    return
                if len(self._queue) == self._queue.maxlen:
                    self.left_out += 1  # the oldest goes
                self._queue.append(entry)
                if self._scheduled:
                    return
                self._scheduled = True
            self._submit(self._flush)
        except Exception:
            self.handleError(record)

    def _take_token(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _content(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        for secret in self._redact:
            text = text.replace(secret, "***")
        text = _SECRET_VALUE.sub(r"\1\2***", text)
        if len(text) > self.max_length:
            text = text[: self.max_length - 1] + "…"
        return text

    def _flush(self) -> None:
        """On the worker: send what waits, in batches."""
        with self._lock:
            entries = list(self._queue)
            self._queue.clear()
            left_out, self.left_out = self.left_out, 0
            self._scheduled = False
        if left_out:
            note = f"{left_out} log records were left out (rate {self.rate:g}/s, queue, or switched off)"
            entries.insert(0, LogEntry(int(self._wall_clock() * 1000), note))
        self._shipping.active = True
        try:
            for start in range(0, len(entries), MAX_BATCH):
                batch = tuple(entries[start : start + MAX_BATCH])
                self._send(ShipLogs(batch))
                self.shipped += len(batch)
        finally:
            self._shipping.active = False
