"""What devices send that no shadow keeps, and the log of what was wrong with it, both bounded.

:class:`Activity` keeps each device's recent messages up, events, device info, log lines, the
platform-service events the local cloud does not serve yet and how its file transfers ended (100
of each kind per device, 1000 devices, about 64 MiB; the least recently active device is
forgotten first). :class:`ProblemLog`
writes the lines about bad input: at most one per device and kind of problem a second (and a few
a second overall), counting what it holds back and saying so with the next line it writes.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..protocol import messages as ev
from ..protocol.jsonwire import dumps

Kept = ev.MessageUp | ev.EventUp | ev.DeviceInfo | ev.DeviceLog | ev.SystemEventUp | ev.FileReported
"""What :class:`Activity` keeps."""


@attrs.frozen
class DeviceActivity:
    """One device's recent uplinks of each kind, oldest first."""

    messages: tuple[ev.MessageUp, ...] = ()
    events: tuple[ev.EventUp, ...] = ()
    info: tuple[ev.DeviceInfo, ...] = ()
    logs: tuple[ev.DeviceLog, ...] = ()
    #: events for platform services the local cloud does not serve yet (Huawei ``$ota`` ...)
    system: tuple[ev.SystemEventUp, ...] = ()
    #: per kind ("messages", "events", ...), when each entry arrived (Unix seconds), in order
    received: Mapping[str, tuple[float, ...]] = attrs.field(factory=dict)
    #: how the device's file transfers ended (Huawei ``upload_result_report`` ...)
    files: tuple[ev.FileReported, ...] = ()


_KINDS: dict[type, str] = {
    ev.MessageUp: "messages",
    ev.EventUp: "events",
    ev.DeviceInfo: "info",
    ev.DeviceLog: "logs",
    ev.SystemEventUp: "system",
    ev.FileReported: "files",
}
_OVERHEAD = 200  # bytes an entry costs besides its payload or params, roughly


def _size(uplink: Kept) -> int:
    """About what keeping ``uplink`` costs, in bytes."""
    if isinstance(uplink, ev.MessageUp):
        return _OVERHEAD + len(uplink.payload)
    if isinstance(uplink, ev.FileReported):
        return _OVERHEAD + len(uplink.file_name) + len(uplink.description)
    try:
        return _OVERHEAD + len(dumps(dict(uplink.params)))
    except ValueError:  # not from JSON: cannot happen for what a codec decoded
        return _OVERHEAD


class _Record:
    def __init__(self) -> None:
        #: per kind, (size, arrival time, uplink), oldest first
        self.kept: dict[str, deque[tuple[int, float, Kept]]] = {kind: deque() for kind in _KINDS.values()}
        self.size = 0
        #: the system services this device used, for logging each once (bounded like the rest)
        self.services: OrderedDict[str, None] = OrderedDict()


class Activity:
    """Recent uplinks per device: ``per_kind`` of each kind per device, ``max_devices`` devices
    and about ``max_bytes`` in all; the least recently active device is forgotten first.
    Not thread-safe on its own: the cloud calls it under its lock."""

    def __init__(
        self,
        *,
        per_kind: int = 100,
        max_devices: int = 1000,
        max_bytes: int = 64 * 1024 * 1024,
        max_services: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.per_kind = per_kind
        self.max_devices = max_devices
        self.max_bytes = max_bytes
        self.max_services = max_services
        self.size = 0
        self._devices: OrderedDict[str, _Record] = OrderedDict()

    def keep(self, uplink: Kept) -> bool:
        """Keep ``uplink``; True when it is the first event of its system service from its device
        that is remembered (what deserves a log line)."""
        record = self._devices.get(uplink.device_id)
        if record is None:
            record = self._devices[uplink.device_id] = _Record()
        else:
            self._devices.move_to_end(uplink.device_id)
        kept = record.kept[_KINDS[type(uplink)]]
        size = _size(uplink)
        kept.append((size, self.clock(), uplink))
        self._grew(record, size)
        if len(kept) > self.per_kind:
            self._shrank(record, kept.popleft()[0])
        while len(self._devices) > self.max_devices or (
            self.size > self.max_bytes and len(self._devices) > 1
        ):
            _, old = self._devices.popitem(last=False)
            self.size -= old.size
        while self.size > self.max_bytes and len(kept) > 1:  # this device alone is over budget
            self._shrank(record, kept.popleft()[0])
        if not isinstance(uplink, ev.SystemEventUp) or uplink.service_id in record.services:
            return False
        record.services[uplink.service_id] = None
        while len(record.services) > self.max_services:
            record.services.popitem(last=False)
        return True

    def of(self, device_id: str) -> DeviceActivity:
        """What ``device_id`` sent recently (empty for a device that sent nothing)."""
        record = self._devices.get(device_id)
        if record is None:
            return DeviceActivity()

        def kept(kind: str) -> tuple[Any, ...]:  # each kind holds uplinks of its own class
            return tuple(uplink for _, _, uplink in record.kept[kind])

        received = {kind: tuple(when for _, when, _ in entries) for kind, entries in record.kept.items()}
        return DeviceActivity(
            kept("messages"),
            kept("events"),
            kept("info"),
            kept("logs"),
            kept("system"),
            received,
            kept("files"),
        )

    def devices(self) -> list[str]:
        """The devices with activity kept, the least recently active first."""
        return list(self._devices)

    def _grew(self, record: _Record, size: int) -> None:
        record.size += size
        self.size += size

    def _shrank(self, record: _Record, size: int) -> None:
        record.size -= size
        self.size -= size


@attrs.define
class _Quota:
    last: float
    held: int = 0


class ProblemLog:
    """Log lines about bad device input, rate-limited: one per ``(device, kind)`` per
    ``interval`` seconds and ``overall`` per interval in all. What is held back is counted and
    the count written with the next line of its key (or by :meth:`flush`). ``clock`` gives
    seconds (monotonic). Not thread-safe on its own: the cloud calls it under its lock."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = 1.0,
        overall: int = 10,
        max_keys: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.overall = overall
        self.max_keys = max_keys
        self.clock = clock
        self._quotas: OrderedDict[tuple[str | None, str], _Quota] = OrderedDict()
        self._window = (float("-inf"), 0)  # (start, lines written in it)
        self._orphans = 0  # held-back lines of keys forgotten since

    def log(
        self,
        level: int,
        device_id: str | None,
        kind: str,
        message: str,
        *args: object,
        exc_info: bool = False,
    ) -> None:
        """``logger.log(level, message, *args)``, unless its key or the whole log is over quota."""
        now = self.clock()
        key = (device_id, kind)
        quota = self._quotas.get(key)
        if quota is not None and now - quota.last < self.interval:
            quota.held += 1
            return
        start, written = self._window
        if now - start >= self.interval:
            start, written = now, 0
        if written >= self.overall:
            if quota is None:
                quota = self._remember(key, float("-inf"))
            quota.held += 1
            return
        self._window = (start, written + 1)
        held = quota.held if quota is not None else 0
        if held:
            message += " (and %d more like it held back)"
            args = (*args, held)
        self.logger.log(level, message, *args, exc_info=exc_info)
        if quota is None:
            self._remember(key, now)
        else:
            quota.last, quota.held = now, 0
            self._quotas.move_to_end(key)

    def flush(self) -> None:
        """Write one line counting every held-back line not written yet."""
        held = self._orphans + sum(q.held for q in self._quotas.values())
        if held:
            self.logger.warning("%d more lines about bad device input were held back", held)
        self._orphans = 0
        for quota in self._quotas.values():
            quota.held = 0

    def _remember(self, key: tuple[str | None, str], last: float) -> _Quota:
        quota = self._quotas[key] = _Quota(last)
        while len(self._quotas) > self.max_keys:
            _, old = self._quotas.popitem(last=False)
            self._orphans += old.held
        return quota
