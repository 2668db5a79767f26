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
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from ..cloud.platforms import make_cloud
from ..declare.service import Service
from ..engine.core import DeviceCore, DeviceError
from ..engine.scheduling import FakeClock
from ..engine.session import DeviceSession
from ..protocol import messages as ev
from ..protocol.topics import topic_matches, validate_filter
from ..vendors import device_codec, shadow_key

__all__ = ["Ack", "CommandResult", "FakeCloud", "InMemoryBroker"]

Handler = Callable[[str, bytes], None]


class InMemoryBroker:
    """Delivers publishes to matching subscriptions, in order, without threads.

    A publish made while a delivery is running is queued and delivered after it, as a broker
    would, so handlers never re-enter each other.
    """

    def __init__(self) -> None:
        self._subscriptions: list[tuple[str, Handler]] = []
        self._queue: deque[ev.Outgoing] = deque()
        self._delivering = False
        #: every message published, in order
        self.published: list[ev.Outgoing] = []

    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        self._subscriptions.append((validate_filter(topic_filter), handler))

    def unsubscribe(self, handler: Handler) -> None:
        self._subscriptions = [(f, h) for f, h in self._subscriptions if h is not handler]

    def publish(self, message: ev.Outgoing) -> None:
        if "+" in message.topic or "#" in message.topic:
            raise ValueError(f"cannot publish to a topic with wildcards: {message.topic!r}")
        self.published.append(message)
        self._queue.append(message)
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._queue:
                current = self._queue.popleft()
                for topic_filter, handler in list(self._subscriptions):
                    if topic_matches(topic_filter, current.topic):
                        handler(current.topic, current.payload)
        finally:
            self._delivering = False
            self._queue.clear()


@attrs.frozen
class Ack:
    """The device's answer to one desire. ``errors`` maps each refused property to the reason.

    ``pending`` is True when the device was offline: the value waits in the shadow.
    """

    ok: bool
    errors: Mapping[str, str]
    request_id: str
    pending: bool = False


@attrs.frozen
class CommandResult:
    """The device's answer to a command: ``code`` 0 is success."""

    code: int
    params: Mapping[str, Any]
    request_id: str
    name: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 0


class FakeCloud:
    """A cloud in memory around real services, the real device core and a real codec."""

    def __init__(
        self,
        *services: Service,
        vendor: str = "huawei",
        device_id: str = "fake-device",
        start: _dt.datetime | None = None,
    ) -> None:
        self.vendor = vendor
        self.device_id = device_id
        self.clock = FakeClock(start) if start is not None else FakeClock()
        #: every error the device surfaced (failed getters, refused writes, bad messages ...)
        self.errors: list[DeviceError] = []
        #: every decoded uplink the cloud received, in order
        self.uplinks: list[ev.PlatformUplink] = []
        self.broker = InMemoryBroker()
        self.core = DeviceCore(list(services), clock=self.clock, on_error=self.errors.append)
        self.codec = device_codec(vendor, device_id=device_id, service_ids=list(self.core.services))
        codec = self.codec
        self.session = DeviceSession(self.core, codec, publish=self._device_publish)
        self.cloud = make_cloud(vendor, self.broker.publish, on_uplink=self.uplinks.append)
        for topic_filter in self.cloud.subscriptions():
            self.broker.subscribe(topic_filter, self.cloud.receive)
        for topic_filter in codec.subscriptions():
            self.broker.subscribe(topic_filter, self._device_receive)
        self.online = False
        self._offline: deque[ev.Outgoing] = deque()
        self.connect()

    # -- connection ----------------------------------------------------------------------------
    def connect(self) -> None:
        """Bring the device online: queued uplinks are sent, then it fetches its shadow."""
        self.online = True
        while self._offline:
            self.broker.publish(self._offline.popleft())
        self.session.connected()

    def disconnect(self) -> None:
        """Take the device offline: downlinks are lost, uplinks wait in its offline queue."""
        self.online = False

    def close(self) -> None:
        """Detach the services so that they can be used with another cloud or device."""
        self.core.detach()

    def __enter__(self) -> FakeCloud:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _device_publish(self, message: ev.Outgoing) -> None:
        if self.online:
            self.broker.publish(message)
        else:
            self._offline.append(message)

    def _device_receive(self, topic: str, payload: bytes) -> None:
        if self.online:
            self.session.receive(topic, payload)

    # -- what the application does -------------------------------------------------------------
    def desire(self, props: Mapping[str, Any], service: str | None = None) -> Ack:
        """Write properties (wire names) as one request and return the device's answer."""
        sid = self._service_id(service)
        rid = self.cloud.desire(self.device_id, {shadow_key(self.codec, sid): dict(props)})
        result = self.cloud.result(rid)
        if result is None:
            return Ack(False, {}, rid, pending=True)
        if isinstance(result, ev.DesiredAcked):
            errors = dict(result.errors)
            if not result.ok and not errors:
                errors = {"result": f"result code {result.code}"}
            return Ack(result.ok, errors, rid)
        return Ack(False, {"payload": getattr(result, "reason", repr(result))}, rid)

    def command(
        self, name: str, params: Mapping[str, Any] | None = None, service: str | None = None
    ) -> CommandResult:
        """Call a command and return the device's response."""
        sid = self._service_id(service)
        rid = self.cloud.command(self.device_id, sid, name, params)
        result = self.cloud.result(rid)
        if isinstance(result, ev.CommandAnswered):
            return CommandResult(result.code, dict(result.params), rid, result.name)
        if result is None:
            return CommandResult(-1, {"error": "the device is offline"}, rid)
        return CommandResult(-1, {"error": getattr(result, "reason", repr(result))}, rid)

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

    def advance(self, seconds: float) -> None:
        """Move the clock forward, running every auto-report that falls due on the way."""
        target = self.clock() + _dt.timedelta(seconds=seconds)
        scheduler = self.core.scheduler
        while scheduler.jobs:
            due = scheduler.next_run
            if due is None or due > target:
                break
            if due > self.clock():
                self.clock.set(due)
            self.core.run_pending()
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


def _decoded(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return payload


def iter_messages(cloud: FakeCloud, suffix: str) -> Iterator[Any]:
    """Payloads of the messages whose topic ends with ``suffix`` (a small helper for asserts)."""
    for topic, payload in cloud.messages:
        if topic.endswith(suffix):
            yield payload
