"""The device core: vendor-neutral, no I/O.

It holds the services and reacts to each :data:`~thingmodel.protocol.messages.Downlink` through a
dispatch table (``{message class: handler}``): writes are applied through setters, all of one
request or none (:mod:`.properties`), reads answered through getters, commands routed
(:mod:`.commands`), shadow snapshots applied. It builds reports and runs auto-reports
(:mod:`.reports`), and hands every :data:`~thingmodel.protocol.messages.Uplink` it makes to
``emit`` (the codec and the transport sit behind it).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from ..declare.event import EventSpec
from ..declare.service import PropertySpec, Service
from ..declare.state import state_of
from ..errors import CodecError, DefinitionError
from ..ids import new_id
from ..protocol.codec import DeviceCodec
from ..protocol.messages import (
    AckDesired,
    AskTime,
    CloudEvent,
    CloudMessage,
    CommandRequest,
    CommandResponse,
    DesiredChange,
    Downlink,
    EmitEvent,
    Malformed,
    PropertyRead,
    ReadResponse,
    Rejected,
    ReportProperties,
    RequestShadow,
    RulesChanged,
    RulesDelivered,
    SettleDesired,
    ShadowSnapshot,
    TimeAnswered,
    UpgradeAcked,
    UpgradeOffer,
    UpgradeProgress,
    Uplink,
    VersionQuery,
)
from ..sentinel import ABSENT
from . import properties
from .commands import CODE_FAILED, CODE_OK, run_command
from .reports import AutoReports
from .scheduling import Clock, Scheduler, monotonic_clock

log = logging.getLogger("thingmodel.engine.core")

__all__ = [
    "CODE_FAILED",
    "CODE_OK",
    "DeviceCore",
    "DeviceError",
    "ErrorHandler",
    "TimeRequests",
    "time_offset",
    "check_services",
    "new_request_id",
    "require_time_sync",
]

new_request_id = new_id
"""A fresh request id (kept under this name for callers of the core)."""


@attrs.frozen
class DeviceError:
    """Something the device could not do, surfaced through ``on_error`` and logged.

    ``kind``: "getter", "setter", "command", "desired", "malformed", "callback" ...
    """

    kind: str
    service_id: str | None
    name: str | None
    reason: str

    def __str__(self) -> str:
        where = "/".join(p for p in (self.service_id, self.name) if p)
        return f"{self.kind} {where}: {self.reason}" if where else f"{self.kind}: {self.reason}"


ErrorHandler = Callable[[DeviceError], None]


def check_services(services: Sequence[Service]) -> dict[str, Service]:
    """``{service_id: service}`` for one device; raise for what cannot form one."""
    if not services:
        raise ValueError("a device needs at least one service")
    by_id: dict[str, Service] = {}
    for service in services:
        if not isinstance(service, Service):
            raise TypeError(f"{service!r} is not a Service instance")
        if service.service_id in by_id:
            raise DefinitionError(f"two services share the service_id {service.service_id!r}")
        if state_of(service).host is not None:
            raise DefinitionError(
                f"{type(service).__name__} {service.service_id!r} is already attached to another device"
            )
        by_id[service.service_id] = service
    return by_id


def check_events(codec: DeviceCodec, vendor: str, services: Iterable[Service]) -> None:
    """DefinitionError when a service declares events and the vendor's protocol has none."""
    if EmitEvent in codec.encoders.kinds:
        return
    for service in services:
        if service.spec.events:
            names = ", ".join(service.spec.events)
            raise DefinitionError(
                f"{type(service).__name__} declares events ({names}), but {vendor} has no events: "
                "use a vendor that has them (docs/vendors.md)"
            )


def time_offset(device_send_ms: int, server_recv_ms: int, server_send_ms: int, device_recv_ms: int) -> float:
    """Seconds to add to the device's clock to get the cloud's, from one request's four times
    (ms): ``(server_recv + server_send + device_recv - device_send) / 2 - device_recv``."""
    return ((server_recv_ms + server_send_ms + device_recv_ms - device_send_ms) / 2 - device_recv_ms) / 1000


#: seconds-valued hook: the device's wall clock (Unix seconds)
WallClock = Callable[[], float]


class TimeRequests:
    """The device's outstanding time requests, oldest first, at most ``limit`` (the oldest is
    forgotten first). An answer finds its request by the id it echoes, else by the device send
    time it echoes, else it is taken as the answer to the oldest (Tencent echoes nothing)."""

    def __init__(self, limit: int = 16) -> None:
        self.limit = limit
        self._sent: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sent)

    def ask(self, request_id: str, now_ms: int) -> AskTime:
        self._sent[request_id] = now_ms
        while len(self._sent) > self.limit:
            forgotten, _ = self._sent.popitem(last=False)
            log.info("time request %s forgotten: more than %d outstanding", forgotten, self.limit)
        return AskTime(request_id, now_ms)

    def forget(self, request_id: str) -> None:
        self._sent.pop(request_id, None)

    def match(self, answer: TimeAnswered) -> tuple[str, int] | None:
        """``(request_id, device_send_ms)`` of the request ``answer`` answers (taken out), or None."""
        rid = answer.request_id
        if rid is None and answer.device_send_ms is not None:
            rid = next((r for r, sent in self._sent.items() if sent == answer.device_send_ms), None)
        if rid is None and answer.request_id is None and answer.device_send_ms is None:
            rid = next(iter(self._sent), None)
        if rid is None or rid not in self._sent:
            return None
        return rid, self._sent.pop(rid)


def require_time_sync(codec: DeviceCodec, vendor: str) -> None:
    """CodecError naming the vendor and the alternative when its protocol has no time service."""
    if AskTime in codec.encoders.kinds:
        return
    if vendor == "aws":
        raise CodecError("AWS IoT has no time service; use NTP (e.g. chrony) on the device (docs/vendors.md)")
    raise CodecError(f"{vendor} has no time service; use NTP on the device (docs/vendors.md)")


class DeviceCore:
    """Services + their protocol-independent behaviour. ``emit`` receives every uplink."""

    def __init__(
        self,
        services: Sequence[Service],
        *,
        emit: Callable[[Uplink], None] | None = None,
        clock: Clock = monotonic_clock,
        on_error: ErrorHandler | None = None,
        on_message: Callable[[CloudMessage], object] | None = None,
        on_event: Callable[[CloudEvent], object] | None = None,
        on_schedule_change: Callable[[], None] | None = None,
    ) -> None:
        self.services: dict[str, Service] = check_services(services)
        self.emit: Callable[[Uplink], None] = emit or (lambda message: None)
        self.on_error: ErrorHandler | None = on_error
        #: user handlers for free-form messages and platform events from the cloud
        self.on_message = on_message
        self.on_event = on_event
        self.auto_reports = AutoReports(clock, on_schedule_change or (lambda: None))
        #: the wall clock time sync measures with (Unix seconds); FakeCloud sets its fake one
        self.wall_clock: WallClock = time.time
        self.time_requests = TimeRequests()
        #: told ``(request_id, offset_seconds)`` for each answered time request
        self.on_time_sync: Callable[[str, float], object] | None = None
        #: handlers of the feature downlinks (OTA, log config, file URLs, rules) a device set up:
        #: ``{message class: handler}``, looked up after the core's own table
        self.feature_handlers: dict[type, Callable[[Any], None]] = {}
        #: told the values of every report this core makes (``{service_id: {wire_name: value}}``),
        #: after it was handed to ``emit``: on-device rules evaluate them
        self.on_reported: list[Callable[[Mapping[str, Mapping[str, Any]]], None]] = []
        for service in self.services.values():
            state = state_of(service)
            state.host = self
            if state.auto_report is not None:
                self.schedule_auto_report(service, state.auto_report)

    @property
    def scheduler(self) -> Scheduler:
        """The device's own auto-report scheduler."""
        return self.auto_reports.scheduler

    @property
    def on_schedule_change(self) -> Callable[[], None]:
        """Called whenever the auto-report schedule changes (the runner re-reads idle time)."""
        return self.auto_reports.on_change

    @on_schedule_change.setter
    def on_schedule_change(self, callback: Callable[[], None]) -> None:
        self.auto_reports.on_change = callback

    def detach(self) -> None:
        """Release the services so that they can join another device."""
        self.cancel_time_sync()
        for service in self.services.values():
            self.cancel_auto_report(service)
            state_of(service).host = None

    # -- ServiceHost ---------------------------------------------------------------------------
    def schedule_auto_report(self, service: Service, seconds: float) -> None:
        self.auto_reports.schedule(service.service_id, seconds, lambda: self.report(service))

    def cancel_auto_report(self, service: Service) -> None:
        self.auto_reports.cancel(service.service_id)

    def run_pending(self) -> None:
        """Run due auto-reports; an exception in one never stops the others."""
        self.auto_reports.run_due(
            lambda exc: self.report_error("callback", None, None, f"auto-report failed: {exc!r}")
        )

    def report(self, service: Service, names: list[str] | None = None) -> None:
        """Report one service's properties (all, or the given wire names)."""
        values = self.snapshot(service, names)
        if values:
            services = {service.service_id: values}
            self.emit(ReportProperties(services))
            self._reported(services)

    def emit_event(self, service: Service, event: EventSpec, params: Mapping[str, Any]) -> None:
        """Send one event of ``service`` (``params`` already checked by the event)."""
        self.emit(EmitEvent(service.service_id, event.name, dict(params), event.kind))

    def report_all(self) -> None:
        """One report holding every service's properties."""
        services = {sid: self.snapshot(s) for sid, s in self.services.items()}
        services = {sid: values for sid, values in services.items() if values}
        if services:
            self.emit(ReportProperties(services))
            self._reported(services)

    def _reported(self, services: Mapping[str, Mapping[str, Any]]) -> None:
        for hook in self.on_reported:
            try:
                hook(services)
            except Exception as exc:
                self.report_error("callback", None, "on_reported", f"a report hook raised {exc!r}")

    # -- time sync ---------------------------------------------------------------------------
    def ask_time(self, request_id: str | None = None) -> str:
        """Ask the cloud for its time; the answer reaches :attr:`on_time_sync`. Returns the id."""
        rid = request_id or new_id()
        self.emit(self.time_requests.ask(rid, round(self.wall_clock() * 1000)))
        return rid

    def schedule_time_sync(self, seconds: float, job: Callable[[], object] | None = None) -> None:
        """Ask for the time every ``seconds`` (``job`` instead of :meth:`ask_time` if given)."""
        self.auto_reports.schedule(_TIME_SYNC_JOB, seconds, job or self.ask_time)

    def cancel_time_sync(self) -> None:
        self.auto_reports.cancel(_TIME_SYNC_JOB)

    def _on_time(self, answer: TimeAnswered) -> None:
        received = round(self.wall_clock() * 1000)
        matched = self.time_requests.match(answer)
        if matched is None:
            log.info("a time answer for no outstanding request: %r", answer)
            return
        rid, sent = matched
        offset = time_offset(sent, answer.server_recv_ms, answer.server_send_ms, received)
        log.debug("time sync %s: offset %.6f s", rid, offset)
        if self.on_time_sync is not None:
            try:
                self.on_time_sync(rid, offset)
            except Exception as exc:
                self.report_error("callback", None, "time_sync", f"on_time_sync raised {exc!r}")

    # -- reading and writing -------------------------------------------------------------------
    def snapshot(self, service: Service, names: Iterable[str] | None = None) -> dict[str, Any]:
        """Current wire values, reading through getters. Failing getters are reported as errors
        and their properties left out; properties with no value yet are left out too."""
        values, errors = properties.read_values(service, names)
        for name, reason in errors.items():
            self.report_error("getter", service.service_id, name, reason)
        return values

    def read_values(
        self, service: Service, names: Iterable[str] | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """``(values, errors)`` as :func:`.properties.read_values` reads them."""
        return properties.read_values(service, names)

    def apply_desired(
        self, services: Mapping[str, Mapping[str, Any]], *, report: bool = True
    ) -> dict[str, str]:
        """Apply one write request atomically; return ``{name: reason}`` (empty on success).

        Every value is checked first; if any is unknown, read-only or invalid, nothing is applied.
        If a setter raises, setters already called are called again with the old values.
        Keys are property names, prefixed ``service_id.`` when the request spans services.
        """
        if not services:
            return {"services": "the request names no service"}
        plan, errors = properties.plan_write(self.services, services)
        if errors:
            return errors
        failure = properties.apply_plan(plan, self._setter_failed)
        if failure is not None:
            service, p, reason = failure
            return {f"{service.service_id}.{p.name}" if len(services) > 1 else p.name: reason}
        if report:
            self._report_written(services)
        return {}

    def _setter_failed(self, service: Service, p: PropertySpec, reason: str) -> None:
        self.report_error("setter", service.service_id, p.name, reason)

    def _report_actual(self, services: Mapping[str, Mapping[str, Any]]) -> None:
        for sid, changes in services.items():
            service = self.services.get(sid)
            if service is not None:
                known = [name for name in changes if name in service.spec.by_name]
                if known:
                    self.report(service, known)

    def _report_written(self, services: Mapping[str, Mapping[str, Any]]) -> None:
        for sid, changes in services.items():
            self.report(self.services[sid], list(changes))

    def call(self, service_id: str | None, name: str, params: Any, request_id: str = "") -> CommandResponse:
        """Run a command; never raises: failures become a response with a non-zero code."""
        response, sid, failure = run_command(self.services, service_id, name, params, request_id)
        if failure is not None:
            self.report_error("command", sid, name, failure)
        return response

    # -- what the cloud sends ------------------------------------------------------------------
    def handle(self, message: Downlink) -> None:
        """React to one decoded downlink; user code runs here, so call it off the network thread."""
        handler = _HANDLERS.get(type(message))
        if handler is not None:
            handler(self, message)
            return
        feature = self.feature_handlers.get(type(message))
        if feature is not None:
            try:
                feature(message)
            except Exception as exc:
                self.report_error("callback", None, type(message).__name__, f"handler raised {exc!r}")
            return
        default = _FEATURE_DEFAULTS.get(type(message))
        if default is None:
            self.report_error("unhandled", None, type(message).__name__, "no handler for this message")
            return
        default(self, message)

    def _on_desired(self, event: DesiredChange) -> None:
        errors = self.apply_desired(event.services, report=False)
        only = next(iter(event.services)) if len(event.services) == 1 else None
        for name, reason in errors.items():
            self.report_error("desired", only, name, reason)
        if event.request_id is not None:
            self.emit(AckDesired(event.request_id, errors))
        if not errors:
            self._report_written(event.services)
        elif event.request_id is None:
            # No request to answer (an AWS delta, say): the actual values are the answer.
            self._report_actual(event.services)
        if event.request_id is None:
            self.emit(_settlement(event.services, errors))

    def _on_command(self, event: CommandRequest) -> None:
        self.emit(self.call(event.service_id, event.name, event.params, event.request_id))

    def _on_read(self, event: PropertyRead) -> None:
        self.emit(ReadResponse(event.request_id, self._read(event.service_id)))

    def _on_rejected(self, event: Rejected) -> None:
        reason = f"the cloud refused it ({event.code}): {event.reason}"
        self.report_error("rejected", None, event.request_id, reason)

    def _on_message(self, event: CloudMessage) -> None:
        self._deliver(self.on_message, event, "message")

    def _on_event(self, event: CloudEvent) -> None:
        self._deliver(self.on_event, event, "event")

    def _deliver(
        self, handler: Callable[[Any], object] | None, event: CloudMessage | CloudEvent, kind: str
    ) -> None:
        if handler is None:
            log.info("received a %s with no handler for it: %r", kind, event)
            return
        try:
            handler(event)
        except Exception as exc:
            sid = event.service_id if isinstance(event, CloudEvent) else None
            self.report_error("callback", sid, kind, f"on_{kind} raised {exc!r}")

    def _read(self, service_id: str | None) -> dict[str, dict[str, Any]]:
        if service_id:
            service = self.services.get(service_id)
            if service is None:
                self.report_error("read", service_id, None, "unknown service")
                return {}
            return {service_id: self.snapshot(service)}
        return {sid: self.snapshot(s) for sid, s in self.services.items()}

    def apply_shadow(self, snapshot: ShadowSnapshot) -> None:
        """Apply what the shadow desires and the device does not hold yet, then report."""
        delta: dict[str, dict[str, Any]] = {}
        for sid, state in snapshot.services.items():
            service = self.services.get(sid)
            if service is None:
                if state.desired:
                    self.report_error("desired", sid, None, "shadow desires values for an unknown service")
                continue
            current, _ = properties.read_values(service, list(state.desired))
            changes = {}
            for key, value in state.desired.items():
                p: PropertySpec | None = service.spec.by_name.get(key)
                if p is None or not p.prop.writeable:
                    # A stale or foreign key must not block the service's other desired values.
                    why = "unknown property" if p is None else "read-only property"
                    self.report_error("desired", sid, key, f"shadow desires a value for a {why}; ignored")
                elif properties.canonical(p, value) != current.get(key, ABSENT):
                    changes[key] = value
            if changes:
                delta[sid] = changes
        applied: dict[str, dict[str, Any]] = {}
        refused: dict[str, dict[str, str]] = {}
        for sid, changes in delta.items():
            # One request per service: a bad value in one service does not block the others.
            errors = self.apply_desired({sid: changes})
            for name, reason in errors.items():
                self.report_error("desired", sid, name, reason)
            if errors:
                self.report(self.services[sid])
                refused[sid] = {name: errors.get(name, _BLOCKED) for name in changes}
            else:
                applied[sid] = changes
        if applied or refused:
            self.emit(SettleDesired(applied, refused))

    def request_shadow(self) -> None:
        self.emit(RequestShadow(new_id()))

    def _answer_malformed(self, event: Malformed) -> None:
        self.report_error("malformed", None, event.topic, event.reason)
        if event.request_id is None:
            return
        if event.kind == "desired":
            self.emit(AckDesired(event.request_id, {"payload": event.reason}))
        elif event.kind == "command":
            self.emit(CommandResponse(event.request_id, CODE_FAILED, {"error": event.reason}))
        elif event.kind == "read":
            self.emit(ReadResponse(event.request_id, {}))
        elif event.kind == "ota":  # an offer naming a task (an AWS job) that could not be read
            reason = f"the upgrade offer could not be read: {event.reason}"
            self.emit(UpgradeProgress("", "failed", None, event.request_id, "unsupported", reason))

    def _no_ota(self, event: UpgradeOffer | VersionQuery) -> None:
        """A device that declares no OTA: an offer is refused as unsupported."""
        self.report_error(
            "ota", None, None, "the cloud asked for an upgrade, but this device declares no Ota"
        )
        if isinstance(event, UpgradeOffer):
            reason = "this device declares no OTA"
            self.emit(UpgradeProgress(event.version, "failed", None, event.task_id, "unsupported", reason))

    def _upgrade_acked(self, event: UpgradeAcked) -> None:
        if event.code != 0:
            self.report_error(
                "ota",
                None,
                event.version,
                f"the cloud refused the version report ({event.code}): {event.reason}",
            )

    def _rules_off(self, event: RulesChanged | RulesDelivered) -> None:
        """A device that runs no rules: a write of rule versions is still answered with success
        (as Huawei's SDK does with rule management off), and the rules are not asked for."""
        log.info("the cloud sent on-device rules; this device runs none: %r", event)
        if isinstance(event, RulesChanged) and event.request_id is not None:
            self.emit(AckDesired(event.request_id))

    def report_error(self, kind: str, service_id: str | None, name: str | None, reason: str) -> None:
        """Surface something the device could not do: logged, and passed to ``on_error``."""
        error = DeviceError(kind, service_id, name, reason)
        log.warning("%s", error)
        if self.on_error is not None:
            try:
                self.on_error(error)
            except Exception:
                log.exception("on_error callback raised")


_HANDLERS: dict[type, Callable[[DeviceCore, Any], None]] = {
    DesiredChange: DeviceCore._on_desired,
    CommandRequest: DeviceCore._on_command,
    PropertyRead: DeviceCore._on_read,
    ShadowSnapshot: DeviceCore.apply_shadow,
    Malformed: DeviceCore._answer_malformed,
    Rejected: DeviceCore._on_rejected,
    CloudMessage: DeviceCore._on_message,
    CloudEvent: DeviceCore._on_event,
    TimeAnswered: DeviceCore._on_time,
}
#: what a feature downlink gets when the device set no handler for it
_FEATURE_DEFAULTS: dict[type, Callable[[DeviceCore, Any], None]] = {
    UpgradeOffer: DeviceCore._no_ota,
    VersionQuery: DeviceCore._no_ota,
    UpgradeAcked: DeviceCore._upgrade_acked,
    RulesChanged: DeviceCore._rules_off,
    RulesDelivered: DeviceCore._rules_off,
}
#: the auto-report schedule's key for periodic time sync (no service id holds a NUL)
_TIME_SYNC_JOB = "\0time-sync"

_BLOCKED = "not applied: another value of the same change was refused"


def _settlement(services: Mapping[str, Mapping[str, Any]], errors: Mapping[str, str]) -> SettleDesired:
    """Split one request's values into applied and refused, keyed like ``apply_desired``'s errors."""
    if not errors:
        return SettleDesired({sid: dict(v) for sid, v in services.items()}, {})
    prefix = len(services) > 1
    refused = {
        sid: {
            name: errors.get(f"{sid}.{name}" if prefix else name, errors.get(sid, _BLOCKED))
            for name in changes
        }
        for sid, changes in services.items()
    }
    return SettleDesired({}, refused)
