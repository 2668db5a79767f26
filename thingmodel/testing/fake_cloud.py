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
import hashlib
import itertools
import json
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ..cloud.app import CommandOutcome, DesireOutcome, command_outcome, desire_outcome
from ..cloud.platforms import make_cloud
from ..declare.service import Service
from ..engine.core import DeviceError, check_events, check_services, require_time_sync
from ..engine.features import DeviceFeatures, require
from ..engine.ota import Downloaded, Fetched, Progress
from ..engine.scheduling import FakeClock
from ..engine.session import DeviceSession
from ..errors import NotSupported
from ..features.logs import CloudLogHandler
from ..features.ota import Ota
from ..ids import validate_custom_topic
from ..protocol import messages as ev
from ..protocol.gateway import AddChildren, ChildInfo, ChildrenAnswered, ChildrenChanged, ChildrenStatus
from ..vendors import device_codec, shadow_key
from .broker import InMemoryBroker

if TYPE_CHECKING:
    from ..cloud.ota import Upgrade

__all__ = ["Ack", "CommandResult", "FakeChild", "FakeCloud", "InMemoryBroker"]


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
        ota: Ota | None = None,
        info: Mapping[str, str] | None = None,
        rules: bool | None = None,
        children: Mapping[str, Sequence[Service]] | None = None,
    ) -> None:
        """``children``: make the device a gateway for these child devices (``{device_id:
        services}``), each with its own engine and shadow, on the vendor's gateway protocol (see
        :class:`thingmodel.gateway.Gateway`); :meth:`child` is the application's side of one.
        ``device_skew``: seconds the device's wall clock runs ahead of the cloud's (the fake
        clock), so that :meth:`time_sync` has an offset to find (it measures ``-device_skew``).
        ``ota`` and ``info`` are what ``Device`` takes: the device's :class:`~thingmodel.Ota`
        and the facts of its device-info report. ``rules``: whether the device runs on-device
        rules (None: where the vendor has them, Huawei), as ``DeviceFeatures`` takes it."""
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
        self.features = DeviceFeatures(
            self.core, codec, vendor, fetch=self._fetch, clock=self.clock, ota=ota, info=info, rules=rules
        )
        if self.features.rules is not None:
            self.features.rules.recheck = None  # timers read the fake clock the scheduler runs on
        #: what the fake cloud serves for downloads: ``{url: bytes}`` (packages and files)
        self.served: dict[str, bytes] = {}
        #: files devices uploaded (and that :meth:`put_file` put there): ``{name: bytes}``
        self.files: dict[str, bytes] = {}
        self._serial = itertools.count(1)
        if hasattr(self.cloud, "file_urls"):
            self.cloud.file_urls = self._file_url
        self.online = False
        self._offline: deque[ev.Outgoing] = deque()
        #: the children's sessions, by device id (a gateway's; empty otherwise)
        self.children: dict[str, DeviceSession] = {}
        #: what the cloud told the gateway about its children, oldest first
        self.gateway_answers: list[ChildrenAnswered | ChildrenChanged] = []
        if children:
            self._gateway(children)
        self.connect()

    def _gateway(self, children: Mapping[str, Sequence[Service]]) -> None:
        addressee = getattr(self.codec, "addressee", None)
        if not callable(addressee):
            raise NotSupported(f"{self.vendor}: thingmodel has no gateway protocol for this vendor")
        self._addressee = addressee
        self.core.feature_handlers.update(
            {ChildrenAnswered: self._children_answered, ChildrenChanged: self._told}
        )
        own = getattr(self.codec, "gateway_subscriptions", None)
        for topic_filter in own() if callable(own) else []:
            self.broker.subscribe(topic_filter, self._device_receive)
        for child_id, child_services in children.items():
            by_id = check_services(child_services)
            codec = device_codec(
                self.vendor, device_id=child_id, service_ids=list(by_id), gateway_id=self.device_id
            )
            self.children[child_id] = DeviceSession(
                list(by_id.values()),
                codec,
                publish=self._device_publish,
                publish_now=self._device_publish_now,
                clock=self.clock,
                on_error=self.errors.append,
            )
            for topic_filter in codec.subscriptions():  # the in-memory broker keeps them
                self.broker.subscribe(topic_filter, self._device_receive)

    def _children_answered(self, answer: ChildrenAnswered) -> None:
        self.gateway_answers.append(answer)
        for device_id, reason in answer.failed.items():
            self.errors.append(
                DeviceError("gateway", None, device_id, f"{answer.operation} refused: {reason}")
            )

    def _told(self, change: ChildrenChanged) -> None:
        self.gateway_answers.append(change)

    def child(self, device_id: str) -> FakeChild:
        """The application's side of one child of this gateway; KeyError if there is none."""
        if device_id not in self.children:
            raise KeyError(
                f"{self.device_id} has no child {device_id!r} (known: {', '.join(self.children) or 'none'})"
            )
        return FakeChild(self, device_id)

    def _children_up(self) -> None:
        """What a gateway does on connect: add its children, say they are online, sync them."""
        kinds = self.codec.encoders.kinds
        infos = [
            ChildInfo(
                child_id, None if self.vendor.startswith("tencent") else "fake-product", secret="fake-secret"
            )
            for child_id in self.children
        ]
        if infos and AddChildren in kinds:
            self.core.emit(AddChildren(f"add-{next(self._serial)}", infos))
        if infos and ChildrenStatus in kinds:
            self.core.emit(ChildrenStatus(f"status-{next(self._serial)}", dict.fromkeys(self.children, True)))
        for session in self.children.values():
            session.connected(self.clock())

    # -- connection ----------------------------------------------------------------------------
    def connect(self) -> None:
        """Bring the device online, as the live device comes back: it asks for its shadow, applies
        what is desired, and once the cloud has answered sends what waited in its offline queue."""
        self.online = True
        self.session.connected(self.clock())
        self.features.announce()
        if self.children:
            self._children_up()

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
        if not self.online:
            return
        if self.children:
            child = self._addressee(topic, payload)
            if child is not None and child != self.device_id:
                session = self.children.get(child)
                if session is not None:
                    session.receive(topic, payload)
                return
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

    # -- OTA, device info, logs, files, custom topics -------------------------------------------
    def offer_upgrade(
        self,
        data: bytes,
        version: str,
        *,
        kind: ev.UpgradeKind = "firmware",
        sha256: str | None = None,
        md5: str | None = None,
        size: int | None = None,
        served: bool = True,
    ) -> Upgrade:
        """The cloud offers ``data`` as ``version``, as ``LocalCloud.upgrade`` does, and the device
        runs the whole upgrade at once (in memory): the result is the upgrade as the cloud
        recorded it (``state``, ``failure``, ``reason``). ``sha256``/``md5``/``size`` override
        what the offer claims (to test a mismatch); ``served=False`` makes the download fail."""
        from ..cloud.ota import new_task_id

        url = f"http://fake-cloud.invalid/packages/{next(self._serial)}/package.bin"
        if served:
            self.served[url] = bytes(data)
        offer = ev.OfferUpgrade(
            self.device_id,
            version,
            url,
            len(data) if size is None else size,
            sha256 or hashlib.sha256(data).hexdigest(),
            md5 or hashlib.md5(data).hexdigest(),
            task_id=new_task_id(),
            kind=kind,
        )
        started = self.cloud.start_upgrade(offer)  # type: ignore[attr-defined]
        return self.upgrade(started.task_id)

    def upgrade(self, task_id: str) -> Upgrade:
        """One upgrade as the cloud holds it now."""
        return self.cloud.ota.book.require(task_id)  # type: ignore[attr-defined,no-any-return]

    @property
    def upgrade_reports(self) -> list[ev.UpgradeReported]:
        """Every progress report the device sent, oldest first."""
        return [e for e in self.uplinks if isinstance(e, ev.UpgradeReported)]

    @property
    def versions(self) -> tuple[str | None, str | None] | None:
        """``(firmware, software)`` as the device last reported them (None: never)."""
        known = self.cloud.ota.book.versions(self.device_id)  # type: ignore[attr-defined]
        return None if known is None else (known.fw_version, known.sw_version)

    @property
    def device_info(self) -> dict[str, Any] | None:
        """The device's last device-info report (AWS: its ``device-info`` shadow), or None."""
        for e in reversed(self.uplinks):
            if isinstance(e, ev.DeviceInfo):
                return dict(e.params)
            if isinstance(e, ev.Reported) and "device-info" in e.services:
                return dict(e.services["device-info"])
        return None

    def log_handler(self, **options: Any) -> CloudLogHandler:
        """A log handler shipping to this cloud (as ``Device.log_handler``); records go at once."""
        return self.features.log_handler(lambda job: job(), **options)

    @property
    def logs(self) -> list[str]:
        """The content of every log record the cloud received, oldest first."""
        return [str(e.params.get("content", "")) for e in self.uplinks if isinstance(e, ev.DeviceLog)]

    def configure_log(self, enabled: bool, until_ms: int | None = None) -> None:
        """The cloud switches the device's log shipping (Huawei ``log_config``)."""
        self._platform_send(ev.ConfigureLog(self.device_id, enabled, until_ms))

    def upload_file(self, name: str, data: bytes) -> None:
        """The device uploads ``data`` as ``name`` (as ``Device.upload_file``): ask, put, report."""
        url = self._ask_url(
            "upload", name, {"hash_code": hashlib.sha256(data).hexdigest(), "size": len(data)}
        )
        self.files[url.rsplit("/", 1)[1]] = bytes(data)
        self.core.emit(ev.FileResult("upload", name, 0, 200, "success"))

    def download_file(self, name: str) -> bytes:
        """The device downloads the cloud's file ``name`` (put there with :meth:`put_file`)."""
        url = self._ask_url("download", name, {})
        data = self.files.get(url.rsplit("/", 1)[1])
        if data is None:
            self.core.emit(ev.FileResult("download", name, 1, 404, "not found"))
            raise FileNotFoundError(f"the fake cloud has no file {name!r}")
        self.core.emit(ev.FileResult("download", name, 0, 200, "success"))
        return data

    def put_file(self, name: str, data: bytes) -> None:
        """A file the cloud holds for the device to download."""
        self.files[name] = bytes(data)

    def subscribe(self, name: str, handler: Callable[[str, bytes], object]) -> str:
        """The device subscribes to its custom topic ``name`` (as ``Device.subscribe``)."""
        topic_filter = self.codec.custom_topic(validate_custom_topic(name, filter=True))

        def deliver(topic: str, payload: bytes) -> None:
            if self.online:
                handler(topic, payload)

        self.broker.subscribe(topic_filter, deliver)
        return topic_filter

    def publish(self, name: str, payload: bytes) -> None:
        """The device publishes on its custom topic ``name`` (as ``Device.publish``)."""
        self._device_publish(ev.Outgoing(self.codec.custom_topic(validate_custom_topic(name)), payload))

    def send_to_topic(self, name: str, payload: bytes) -> None:
        """The cloud (or an application) publishes on the device's custom topic ``name``."""
        self.broker.publish(ev.Outgoing(self.codec.custom_topic(validate_custom_topic(name)), payload))

    def _ask_url(
        self, direction: Literal["upload", "download"], name: str, attributes: dict[str, Any]
    ) -> str:
        require(self.codec, self.vendor, "file transfer")
        done, answers = self.features.urls.expect(direction, name)
        try:
            self.core.emit(ev.AskFileUrl(direction, name, attributes))
            if not done.is_set():
                raise TimeoutError(
                    f"no {direction} URL for {name!r} ({'offline' if not self.online else 'none came'})"
                )
        finally:
            self.features.urls.forget(direction, name)
        return answers[0].url

    def _file_url(self, event: ev.FileUrlRequested) -> ev.AnswerFileUrl:
        return ev.AnswerFileUrl(
            event.device_id,
            event.direction,
            event.file_name,
            f"http://fake-cloud.invalid/files/{event.file_name}",
        )

    def _fetch(self, offer: ev.UpgradeOffer, dest: Path, progress: Progress, fetched: Fetched) -> None:
        data = self.served.get(offer.url)
        if data is None:
            fetched(f"{offer.url}: HTTP 404 Not Found")
            return
        for end in range(0, len(data), max(1, len(data) // 4)):
            progress(end, len(data))
        dest.write_bytes(data)
        fetched(Downloaded(dest, len(data), hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()))

    def _platform_send(self, action: ev.PlatformDownlink) -> None:
        """Send an action through the platform half of the codec (AWS keeps it as ``commands``)."""
        codec: Any = getattr(self.cloud, "codec", None) or getattr(self.cloud, "commands")  # noqa: B009
        for out in codec.encode(action):
            self.broker.publish(out)

    # -- on-device rules ------------------------------------------------------------------------
    def push_rules(self, rules: list[dict[str, Any]]) -> dict[str, int]:
        """The cloud makes ``rules`` (IoTDA's rule JSON) the device's on-device rules, as
        ``LocalCloud.push_rules``; the device fetches them at once (when online). Returns
        ``{rule_id: version}``; a rule the device refuses is one of :attr:`errors` (kind
        ``rule``). Timer rules run as :meth:`advance` moves the fake clock (UTC)."""
        push = getattr(self.cloud, "push_rules", None)
        if push is None:
            raise NotSupported(f"{self.vendor} has no on-device rules (Huawei IoTDA's $device_rule only)")
        versions: dict[str, int] = push(self.device_id, rules)
        return versions

    @property
    def rules_fired(self) -> list[str]:
        """The ids of the rules that fired on the device (the latest 100), oldest first."""
        runner = self.features.rules
        return [] if runner is None else [f.rule.rule_id for f in runner.fired]

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
        sessions = [self.session, *self.children.values()]
        while True:
            waits = [w for w in (s.idle_seconds(self.clock) for s in sessions) if w is not None]
            if not waits:
                break
            due = self.clock() + _dt.timedelta(seconds=max(min(waits), 0.0))
            if due > target:
                break
            self.clock.set(max(due, self.clock()))
            for session in sessions:
                session.core.run_pending()
                session.tick(self.clock())
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


class FakeChild:
    """The application's side of one child of a gateway in a :class:`FakeCloud`."""

    def __init__(self, cloud: FakeCloud, device_id: str) -> None:
        self.cloud = cloud
        self.device_id = device_id
        self.session = cloud.children[device_id]

    def __repr__(self) -> str:
        return f"<FakeChild {self.device_id!r} of {self.cloud.device_id!r}>"

    def _service_id(self, service: str | None) -> str:
        services = self.session.core.services
        if service is not None:
            return service
        if len(services) == 1:
            return next(iter(services))
        raise ValueError(
            f"{self.device_id} has several services ({', '.join(services)}): say which with service="
        )

    def desire(self, props: Mapping[str, Any], service: str | None = None) -> Ack:
        """Write the child's properties (wire names) and return its answer."""
        sid = self._service_id(service)
        rid = self.cloud.cloud.desire(self.device_id, {shadow_key(self.session.codec, sid): dict(props)})
        return desire_outcome(rid, self.cloud.cloud.result(rid))

    def command(
        self, name: str, params: Mapping[str, Any] | None = None, service: str | None = None
    ) -> CommandResult:
        """Call one of the child's commands and return its response."""
        rid = self.cloud.cloud.command(self.device_id, self._service_id(service), name, params)
        return command_outcome(rid, self.cloud.cloud.result(rid), silence="the device is offline")

    def read(self, service: str | None = None) -> dict[str, Any]:
        """The child's service values as it answers a property get."""
        sid = self._service_id(service)
        rid = self.cloud.cloud.read(self.device_id, sid)
        result = self.cloud.cloud.result(rid)
        if not isinstance(result, ev.ReadAnswered):
            raise RuntimeError(f"{self.device_id} did not answer the read: {result!r}")
        return dict(result.services.get(sid, {}))

    @property
    def reported(self) -> dict[str, dict[str, Any]]:
        """The child's shadow, reported state: ``{service_id: {wire_name: value}}``."""
        by_key = {shadow_key(self.session.codec, sid): sid for sid in self.session.core.services}
        shadow = self.cloud.cloud.shadow(self.device_id)
        return {by_key.get(key, key): dict(s.reported) for key, s in shadow.items()}

    @property
    def online(self) -> bool:
        """Whether the cloud holds the child online (its gateway said so)."""
        book = getattr(self.cloud.cloud, "gateways", None)
        if book is None:  # AWS: no gateway protocol; a child is up while its gateway is
            return self.cloud.online
        return self.device_id in book.online_children(self.cloud.device_id)


_UNIX_EPOCH = _dt.datetime(1970, 1, 1)


def _decoded(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return payload
