"""Which devices are online, since when, and when each was last heard from (bounded).

The embedded broker tells :class:`Presence` of each device's connection and its end (through the
cloud's broker policy), so ``online`` is exact there; with an external broker the cloud sees only
uplinks, and ``online`` is None (unknown) while ``last_seen`` still says when the device spoke.
A device heard from without ever connecting under its own id (an AWS thing's shadow updated by a
client with another client id, as AWS allows) is unknown too, not offline.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import attrs


@attrs.frozen
class DeviceSummary:
    """One device as the application side lists it."""

    device_id: str
    #: True/False when the broker tells the cloud; None with an external broker
    online: bool | None
    #: Unix seconds of the device's last connection or uplink (None: never, since the cloud started)
    last_seen: float | None = None
    #: Unix seconds the current connection began (None when offline or unknown)
    connected_at: float | None = None
    #: the peer address of its connection ("host:port"), when the broker told
    address: str | None = None
    #: the firmware and software versions it last said it runs (None: not said)
    fw_version: str | None = None
    sw_version: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "device_id": self.device_id,
            "online": self.online,
            "last_seen": self.last_seen,
            "connected_at": self.connected_at,
            "address": self.address,
            "fw_version": self.fw_version,
            "sw_version": self.sw_version,
        }


@attrs.define
class _Seen:
    online: bool = False
    last_seen: float | None = None
    connected_at: float | None = None
    address: str | None = None
    connections: int = 0
    ever_connected: bool = False  # a connection under this id was seen (else online is a guess)


class Presence:
    """Online state and last-seen times of up to ``max_devices`` devices (the offline device heard
    from longest ago is forgotten first). Thread-safe: the broker's loop and the cloud's worker
    both write. ``exact`` says whether connections are reported (the embedded broker)."""

    def __init__(
        self,
        *,
        exact: bool = False,
        max_devices: int = 100_000,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.exact = exact
        self.max_devices = max_devices
        self.clock = clock
        #: told ``(device_id, online)`` when a device connects or its last connection ends
        self.on_change = on_change
        self._devices: OrderedDict[str, _Seen] = OrderedDict()
        self._lock = threading.Lock()

    def connected(self, device_id: str, address: str | None = None) -> None:
        now = self.clock()
        with self._lock:
            seen = self._touch(device_id)
            came = not seen.online
            seen.ever_connected = True
            seen.connections += 1
            seen.online, seen.last_seen, seen.address = True, now, address
            if came:
                seen.connected_at = now
        if came and self.on_change is not None:
            self.on_change(device_id, True)

    def disconnected(self, device_id: str) -> None:
        """One connection of the device ended (a take-over's older one is not the last)."""
        with self._lock:
            seen = self._devices.get(device_id)
            if seen is None or not seen.online:
                return
            seen.connections = max(0, seen.connections - 1)
            if seen.connections:
                return
            seen.online, seen.connected_at, seen.last_seen = False, None, self.clock()
        if self.on_change is not None:
            self.on_change(device_id, False)

    def heard(self, device_id: str) -> None:
        """The device sent something."""
        now = self.clock()
        with self._lock:
            self._touch(device_id).last_seen = now

    def summary(self, device_id: str) -> DeviceSummary | None:
        """What is known of the device (None: it never connected nor spoke since the start)."""
        with self._lock:
            seen = self._devices.get(device_id)
            if seen is None:
                return None
            return self._summary(device_id, seen)

    def summaries(self) -> list[DeviceSummary]:
        with self._lock:
            return [self._summary(device_id, seen) for device_id, seen in self._devices.items()]

    def is_online(self, device_id: str) -> bool | None:
        """True/False where connections are reported, else None."""
        with self._lock:
            return self._online(self._devices.get(device_id))

    def _online(self, seen: _Seen | None) -> bool | None:
        if not self.exact:
            return None
        if seen is None:
            return False  # the broker reports connections, and none came under this id
        if not seen.ever_connected:
            return None  # heard from through another client's connection
        return seen.online

    def _summary(self, device_id: str, seen: _Seen) -> DeviceSummary:
        online = self._online(seen)
        return DeviceSummary(device_id, online, seen.last_seen, seen.connected_at, seen.address)

    def _touch(self, device_id: str) -> _Seen:
        seen = self._devices.get(device_id)
        if seen is None:
            seen = self._devices[device_id] = _Seen()
            if len(self._devices) > self.max_devices:
                self._forget_one()
        self._devices.move_to_end(device_id)
        return seen

    def _forget_one(self) -> None:
        for device_id, seen in self._devices.items():
            if not seen.online:
                del self._devices[device_id]
                return
        self._devices.popitem(last=False)
