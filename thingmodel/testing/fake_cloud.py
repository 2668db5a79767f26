"""Unit-test service classes without a broker.

``FakeCloud(SmokeDetector())`` runs the real device core and the real vendor codec (both halves)
over an in-memory broker with MQTT topic matching, keeps a shadow, and moves a fake clock:

    cloud = FakeCloud(detector)
    ack = cloud.desire({"alarm": 1})
    assert ack.ok and cloud.reported["smokeDetector"]["alarm"] == 1

Nothing here sleeps or opens a socket.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs

from ..cloud.app import CommandOutcome, DesireOutcome, command_outcome, desire_outcome
from ..cloud.platforms import make_cloud
from ..declare.service import Service
from ..engine.core import DeviceError, check_events, check_services, require_time_sync
from ..engine.scheduling import FakeClock
from ..engine.session import DeviceSession
from ..protocol import messages as ev
from ..vendors import device_codec, shadow_key
from .broker import InMemoryBroker

__all__ = ["Ack", "CommandResult", "FakeCloud", "InMemoryBroker"]


Ack = DesireOutcome
"""The device's answer to one desire (``ok``, ``errors`` per refused property, ``pending`` when the
device was offline and the value waits in the shadow): the cloud's :class:`DesireOutcome`."""

CommandResult = CommandOutcome
"""The device's answer to a command (``code`` 0 is success, ``params``): the cloud's
:class:`CommandOutcome`."""


class FakeCloud:
    """A cloud in memory around real services, the real device core and a real codec."""

    def __init__(
        self,
        *services: Service,
        vendor: str = "huawei",
        device_id: str = "fake-device",
        start: _dt.datetime | None = None,
        device_skew: float = 0.0,
    ) -> None:
        """``device_skew``: seconds the device's wall clock runs ahead of the cloud's (the fake
        clock), so that :meth:`time_sync` has an offset to find (it measures ``-device_skew``)."""
        self.vendor = vendor
        self.device_id = device_id
        self.clock = FakeClock(start) if start is not None else FakeClock()
        #: every error the device surfaced (failed getters, refused writes, bad messages ...)
        self.errors: list[DeviceError] = []
        #: every decoded uplink the cloud received, in order
        self.uplinks: list[ev.PlatformUplink] = []
        self.broker = InMemoryBroker()
        services_by_id = check_services(services)
        self.codec = device_codec(vendor, device_id=device_id, service_ids=list(services_by_id))
        check_events(self.codec, vendor, services_by_id.values())
        codec = self.codec
        self.session = DeviceSession(
            list(services_by_id.values()),
            codec,
            publish=self._device_publish,
            publish_now=self._device_publish_now,
            on_gate_open=self._gate_opened,
            clock=self.clock,
            on_error=self.errors.append,
        )
        self.core = self.session.core
        self.device_skew = device_skew
        self.core.wall_clock = lambda: self._unix_time() + self.device_skew
        #: the last offset time sync measured (seconds to add to the device's clock), or None
        self.time_offset: float | None = None
        self._time_answers: dict[str, float] = {}
        self.core.on_time_sync = self._time_synced
        self.cloud = make_cloud(
            vendor, self.broker.publish, on_uplink=self.uplinks.append, clock=self._unix_time
        )
        for topic_filter in self.cloud.subscriptions():
            self.broker.subscribe(topic_filter, self.cloud.receive)
        for topic_filter in codec.subscriptions():
            self.broker.subscribe(topic_filter, self._device_receive)
        self.online = False
        self._offline: deque[ev.Outgoing] = deque()
        self.connect()

    # -- connection ----------------------------------------------------------------------------
    def connect(self) -> None:
        """Bring the device online, as the live device comes back: it asks for its shadow, applies
        what is desired, and once the cloud has answered sends what waited in its offline queue."""
        self.online = True
        self.session.connected(self.clock())

    def disconnect(self) -> None:
        """Take the device offline: downlinks are lost, uplinks wait in its offline queue."""
        self.online = False
        self.session.disconnected()

    def close(self) -> None:
        """Detach the services so that they can be used with another cloud or device."""
        self.core.detach()

    def __enter__(self) -> FakeCloud:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _device_publish(self, message: ev.Outgoing) -> None:
        if self.online and self.session.sync.gate_open:
            self.broker.publish(message)
        else:
            self._offline.append(message)

    def _device_publish_now(self, message: ev.Outgoing) -> None:
        if self.online:
            self.broker.publish(message)

    def _gate_opened(self, gave_up: bool) -> None:
        while self._offline and self.online:
            self.broker.publish(self._offline.popleft())

    def _device_receive(self, topic: str, payload: bytes) -> None:
        if self.online:
            self.session.receive(topic, payload)

    # -- what the application does -------------------------------------------------------------
    def desire(self, props: Mapping[str, Any], service: str | None = None) -> Ack:
        """Write properties (wire names) as one request and return the device's answer."""
        sid = self._service_id(service)
        rid = self.cloud.desire(self.device_id, {shadow_key(self.codec, sid): dict(props)})
        return desire_outcome(rid, self.cloud.result(rid))

    def command(
        self, name: str, params: Mapping[str, Any] | None = None, service: str | None = None
    ) -> CommandResult:
        """Call a command and return the device's response."""
        sid = self._service_id(service)
        rid = self.cloud.command(self.device_id, sid, name, params)
        return command_outcome(rid, self.cloud.result(rid), silence="the device is offline")

    def read(self, service: str | None = None) -> dict[str, Any]:
        """The service's current values as the device answers a property get."""
        sid = self._service_id(service)
        rid = self.cloud.read(self.device_id, sid)
        result = self.cloud.result(rid)
        if not isinstance(result, ev.ReadAnswered):
            raise RuntimeError(f"the device did not answer the read: {result!r}")
        return dict(result.services.get(sid, {}))

    def send_message(self, payload: bytes) -> None:
        """A free-form message from the cloud to the device."""
        self.cloud.send_message(self.device_id, payload)

    def send_event(self, service: str, event_type: str, params: Mapping[str, Any] | None = None) -> None:
        """A platform event to one of the device's services."""
        self.cloud.send_event(self.device_id, service, event_type, params)

    # -- time sync (the cloud answers with the fake clock) ----------------------------------------
    def time_sync(self) -> float:
        """The device asks the cloud for its time, as ``Device.time_sync`` does; returns the offset
        in seconds (``-device_skew``). TimeoutError when no answer comes (the device is offline);
        CodecError on a vendor with no time service (AWS)."""
        require_time_sync(self.codec, self.vendor)
        rid = self.core.ask_time()
        offset = self._time_answers.pop(rid, None)
        if offset is None:
            self.core.time_requests.forget(rid)
            raise TimeoutError(
                f"no answer to the time-sync request ({'offline' if not self.online else 'none came'})"
            )
        return offset

    def enable_time_sync(self, seconds: float) -> None:
        """Ask for the time every ``seconds`` of the fake clock (as ``Device.enable_time_sync``)."""
        require_time_sync(self.codec, self.vendor)
        if not seconds > 0:
            raise ValueError(f"time-sync period must be positive, got {seconds!r}")
        self.core.schedule_time_sync(float(seconds))

    def disable_time_sync(self) -> None:
        self.core.cancel_time_sync()

    def _time_synced(self, request_id: str, offset: float) -> None:
        self.time_offset = offset
        self._time_answers[request_id] = offset
        while len(self._time_answers) > 16:  # periodic answers nobody collects
            del self._time_answers[next(iter(self._time_answers))]

    def _unix_time(self) -> float:
        now = self.clock()
        return now.timestamp() if now.tzinfo is not None else (now - _UNIX_EPOCH).total_seconds()

    def advance(self, seconds: float) -> None:
        """Move the clock forward, running every auto-report (and shadow request retry) that falls
        due on the way."""
        target = self.clock() + _dt.timedelta(seconds=seconds)
        while True:
            wait = self.session.idle_seconds(self.clock)
            if wait is None:
                break
            due = self.clock() + _dt.timedelta(seconds=max(wait, 0.0))
            if due > target:
                break
            self.clock.set(max(due, self.clock()))
            self.core.run_pending()
            self.session.tick(self.clock())
        self.clock.set(target)

    # -- what the cloud holds ------------------------------------------------------------------
    @property
    def reported(self) -> dict[str, dict[str, Any]]:
        """The shadow's reported state: ``{service_id: {wire_name: value}}``."""
        return {self._sid(key): dict(s.reported) for key, s in self.cloud.shadow(self.device_id).items()}

    @property
    def desired(self) -> dict[str, dict[str, Any]]:
        """The shadow's desired state: ``{service_id: {wire_name: value}}``."""
        return {self._sid(key): dict(s.desired) for key, s in self.cloud.shadow(self.device_id).items()}

    @property
    def reports(self) -> list[dict[str, dict[str, Any]]]:
        """Every property report the cloud received, oldest first."""
        return [
            {self._sid(k): dict(v) for k, v in e.services.items()}
            for e in self.uplinks
            if isinstance(e, ev.Reported)
        ]

    @property
    def events(self) -> list[ev.EventUp]:
        """Every event the device emitted, as the cloud decoded it, oldest first."""
        return [
            attrs.evolve(e, service_id=self._sid(e.service_id))
            for e in self.uplinks
            if isinstance(e, ev.EventUp)
        ]

    @property
    def messages(self) -> list[tuple[str, Any]]:
        """Every (topic, payload) that crossed the wire; JSON payloads decoded."""
        return [(m.topic, _decoded(m.payload)) for m in self.broker.published]

    def _sid(self, key: str) -> str:
        """The service id behind a platform-side shadow key (they differ on AWS and Tencent)."""
        for sid in self.core.services:
            if shadow_key(self.codec, sid) == key:
                return sid
        return key

    def _service_id(self, service: str | None) -> str:
        if service is not None:
            return service
        if len(self.core.services) == 1:
            return next(iter(self.core.services))
        raise ValueError(
            f"this device has several services ({', '.join(self.core.services)}): say which with service="
        )


_UNIX_EPOCH = _dt.datetime(1970, 1, 1)


def _decoded(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return payload
