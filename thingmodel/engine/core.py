"""The device core: vendor-neutral, no I/O.

It holds the services, applies desired changes through setters (all of one request or none),
answers property reads through getters, routes commands, builds reports and runs auto-report on
its own :class:`~thingmodel.engine.scheduling.Scheduler`. It turns device-side events into actions and
hands each action to ``emit`` (the codec and transport sit behind it).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from ..declare.service import PropertySpec, Service
from ..errors import DefinitionError, InvalidValue, ValidationError
from ..protocol.jsonwire import require_finite
from ..protocol.messages import (
    AckDesired,
    CloudEvent,
    CloudMessage,
    CommandRequest,
    CommandResponse,
    DesiredChange,
    Downlink,
    Malformed,
    PropertyRead,
    ReadResponse,
    Rejected,
    ReportProperties,
    RequestShadow,
    SettleDesired,
    ShadowSnapshot,
    Uplink,
)
from .scheduling import Clock, FixedRateJob, Scheduler, monotonic_clock

log = logging.getLogger("thingmodel.engine.core")

#: result codes used in command responses (Huawei: 0 success, anything else failure)
CODE_OK = 0
CODE_FAILED = 1


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


class DeviceCore:
    """Services + their protocol-independent behaviour. ``emit`` receives every action."""

    def __init__(
        self,
        services: Sequence[Service],
        *,
        emit: Callable[[Uplink], None] | None = None,
        clock: Clock = monotonic_clock,
        on_error: ErrorHandler | None = None,
    ) -> None:
        if not services:
            raise ValueError("a device needs at least one service")
        self.services: dict[str, Service] = {}
        for service in services:
            if not isinstance(service, Service):
                raise TypeError(f"{service!r} is not a Service instance")
            if service.service_id in self.services:
                raise DefinitionError(f"two services share the service_id {service.service_id!r}")
            if service._tm.host is not None:
                raise DefinitionError(
                    f"{type(service).__name__} {service.service_id!r} is already attached to another device"
                )
            self.services[service.service_id] = service
        self.emit: Callable[[Uplink], None] = emit or (lambda action: None)
        self.on_error: ErrorHandler | None = on_error
        self.scheduler = Scheduler(clock)
        self._jobs: dict[str, FixedRateJob] = {}
        self._jobs_lock = threading.Lock()
        #: user handlers for free-form messages and platform events from the cloud
        self.on_message: Callable[[CloudMessage], object] | None = None
        self.on_event: Callable[[CloudEvent], object] | None = None
        #: called whenever the auto-report schedule changes (the runner re-reads idle time)
        self.on_schedule_change: Callable[[], None] = lambda: None
        for service in self.services.values():
            service._tm.host = self
            if service._tm.auto_report is not None:
                self.schedule_auto_report(service, service._tm.auto_report)

    def detach(self) -> None:
        """Release the services so that they can join another device."""
        for service in self.services.values():
            self.cancel_auto_report(service)
            service._tm.host = None

    # -- ServiceHost ---------------------------------------------------------------------------
    def schedule_auto_report(self, service: Service, seconds: float) -> None:
        with self._jobs_lock:
            old = self._jobs.pop(service.service_id, None)
            if old is not None:
                self.scheduler.cancel_job(old)
            job = self.scheduler.every(seconds).seconds.do(self.report, service)
            self._jobs[service.service_id] = job
        self.on_schedule_change()

    def cancel_auto_report(self, service: Service) -> None:
        with self._jobs_lock:
            job = self._jobs.pop(service.service_id, None)
            if job is not None:
                self.scheduler.cancel_job(job)
        self.on_schedule_change()

    def run_pending(self) -> None:
        """Run due auto-reports; an exception in one never stops the others."""
        with self._jobs_lock:
            due = sorted(job for job in self.scheduler.jobs if job.should_run)
        for job in due:
            try:
                job.run()  # type: ignore[no-untyped-call]
            except Exception as exc:  # report() already guards user code; this is a last resort
                self._error("callback", None, None, f"auto-report failed: {exc!r}")

    def report(self, service: Service, names: list[str] | None = None) -> None:
        """Report one service's properties (all, or the given wire names)."""
        values = self.snapshot(service, names)
        if values:
            self.emit(ReportProperties({service.service_id: values}))

    def report_all(self) -> None:
        """One report holding every service's properties."""
        services = {sid: self.snapshot(s) for sid, s in self.services.items()}
        services = {sid: values for sid, values in services.items() if values}
        if services:
            self.emit(ReportProperties(services))

    # -- reading -------------------------------------------------------------------------------
    def snapshot(self, service: Service, names: Iterable[str] | None = None) -> dict[str, Any]:
        """Current wire values, reading through getters. Failing getters are reported as errors
        and their properties left out; properties with no value yet are left out too."""
        values, errors = self.read_values(service, names)
        for name, reason in errors.items():
            self._error("getter", service.service_id, name, reason)
        return values

    def read_values(
        self, service: Service, names: Iterable[str] | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        spec = service.spec
        if names is None:
            props: Iterable[PropertySpec] = spec.properties
        else:
            props = [spec.by_name[n] for n in names if n in spec.by_name]
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        store = service.__dict__
        with service._tm.lock:
            for p in props:
                getter = p.getter
                if getter is not None:
                    try:
                        value = p.check(getter(service))
                    except InvalidValue as exc:
                        errors[p.name] = f"get_{p.attr} returned an invalid value: {exc}"
                        continue
                    except Exception as exc:
                        errors[p.name] = f"get_{p.attr} raised {exc!r}"
                        continue
                    store[p.attr] = value
                else:
                    value = store.get(p.attr, p.default)
                if value is None:
                    continue
                values[p.name] = value if p.to_wire is None else p.to_wire(value)
        return values, errors

    # -- writing -------------------------------------------------------------------------------
    def apply_desired(
        self, services: Mapping[str, Mapping[str, Any]], *, report: bool = True
    ) -> dict[str, str]:
        """Apply one write request atomically; return ``{name: reason}`` (empty on success).

        Every value is checked first; if any is unknown, read-only or invalid, nothing is applied.
        If a setter raises, setters already called are called again with the old values.
        Keys are property names, prefixed ``service_id.`` when the request spans services.
        """
        prefix = len(services) > 1
        errors: dict[str, str] = {}
        plan: list[tuple[Service, PropertySpec, Any]] = []

        def key(sid: str, name: str) -> str:
            return f"{sid}.{name}" if prefix else name

        if not services:
            return {"services": "the request names no service"}
        for sid, changes in services.items():
            service = self.services.get(sid)
            if service is None:
                errors[sid] = f"unknown service (this device has: {', '.join(self.services)})"
                continue
            for name, raw in changes.items():
                p = service.spec.by_name.get(name)
                if p is None:
                    known = ", ".join(service.spec.by_name)
                    errors[key(sid, name)] = f"unknown property of {sid} (known: {known})"
                elif not p.prop.writeable:
                    errors[key(sid, name)] = "read-only property"
                else:
                    try:
                        plan.append((service, p, p.prop.type.from_wire(raw)))
                    except InvalidValue as exc:
                        errors[key(sid, name)] = str(exc)
        if errors:
            return errors
        failure = self._apply(plan)
        if failure is not None:
            service, p, reason = failure
            return {key(service.service_id, p.name): reason}
        if report:
            self._report_written(services)
        return {}

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

    def _apply(
        self, plan: list[tuple[Service, PropertySpec, Any]]
    ) -> tuple[Service, PropertySpec, str] | None:
        done: list[tuple[Service, PropertySpec, Any]] = []
        locks = [s._tm.lock for s in {id(s): s for s, _, _ in plan}.values()]
        for lock in locks:
            lock.acquire()
        try:
            for service, p, value in plan:
                old = service.__dict__.get(p.attr, p.prop.default)
                try:
                    if p.setter is not None:
                        p.setter(service, value)
                except Exception as exc:
                    reason = f"set_{p.attr} raised {exc!r}"
                    self._error("setter", service.service_id, p.name, reason)
                    self._roll_back(done)
                    return service, p, reason
                service.__dict__[p.attr] = value
                done.append((service, p, old))
            return None
        finally:
            for lock in reversed(locks):
                lock.release()

    def _roll_back(self, done: list[tuple[Service, PropertySpec, Any]]) -> None:
        for service, p, old in reversed(done):
            try:
                if p.setter is not None and old is not None:
                    p.setter(service, old)
                service.__dict__[p.attr] = old
            except Exception as exc:
                self._error(
                    "setter",
                    service.service_id,
                    p.name,
                    f"rolling back to {old!r} failed: {exc!r}; the value may be inconsistent",
                )

    # -- commands ------------------------------------------------------------------------------
    def call(self, service_id: str | None, name: str, params: Any, request_id: str = "") -> CommandResponse:
        """Run a command; never raises: failures become a response with a non-zero code."""
        service = self._service_for(service_id)
        if service is None:
            reason = f"unknown service {service_id!r} (this device has: {', '.join(self.services)})"
            return self._command_failed(request_id, service_id, name, reason)
        spec = service.spec.commands.get(name)
        if spec is None:
            known = ", ".join(service.spec.commands) or "none"
            return self._command_failed(
                request_id, service.service_id, name, f"unknown command (known: {known})"
            )
        try:
            kwargs = spec.parse(params)
        except ValidationError as exc:
            return self._command_failed(request_id, service.service_id, name, str(exc))
        try:
            result = getattr(service, spec.attr)(**kwargs)
        except Exception as exc:
            return self._command_failed(request_id, service.service_id, name, f"raised {exc!r}")
        if result is None:
            result = {}
        if not isinstance(result, Mapping):
            return self._command_failed(
                request_id,
                service.service_id,
                name,
                f"returned {type(result).__name__}; a command returns a dict or None",
            )
        try:
            require_finite(dict(result), "result")
        except InvalidValue as exc:
            return self._command_failed(request_id, service.service_id, name, f"returned a bad result: {exc}")
        return CommandResponse(request_id, CODE_OK, dict(result))

    def _command_failed(self, request_id: str, sid: str | None, name: str, reason: str) -> CommandResponse:
        self._error("command", sid, name, reason)
        return CommandResponse(request_id, CODE_FAILED, {"error": reason})

    def _service_for(self, service_id: str | None) -> Service | None:
        if service_id is None or service_id == "":
            if len(self.services) == 1:
                return next(iter(self.services.values()))
            return None
        return self.services.get(service_id)

    # -- events --------------------------------------------------------------------------------
    def handle(self, event: Downlink) -> None:
        """React to one decoded event; user code runs here, so call it off the network thread."""
        if isinstance(event, DesiredChange):
            errors = self.apply_desired(event.services, report=False)
            only = next(iter(event.services)) if len(event.services) == 1 else None
            for name, reason in errors.items():
                self._error("desired", only, name, reason)
            if event.request_id is not None:
                self.emit(AckDesired(event.request_id, errors))
            if not errors:
                self._report_written(event.services)
            elif event.request_id is None:
                # No request to answer (an AWS delta, say): the actual values are the answer.
                self._report_actual(event.services)
            if event.request_id is None:
                self.emit(_settlement(event.services, errors))
        elif isinstance(event, CommandRequest):
            response = self.call(event.service_id, event.name, event.params, event.request_id)
            self.emit(response)
        elif isinstance(event, PropertyRead):
            self.emit(ReadResponse(event.request_id, self._read(event.service_id)))
        elif isinstance(event, ShadowSnapshot):
            self.apply_shadow(event)
        elif isinstance(event, Malformed):
            self._answer_malformed(event)
        elif isinstance(event, Rejected):
            self._error(
                "rejected", None, event.request_id, f"the cloud refused it ({event.code}): {event.reason}"
            )
        elif isinstance(event, CloudMessage):
            self._deliver(self.on_message, event, "message")
        elif isinstance(event, CloudEvent):
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
            self._error("callback", getattr(event, "service_id", None), kind, f"on_{kind} raised {exc!r}")

    def _read(self, service_id: str | None) -> dict[str, dict[str, Any]]:
        if service_id:
            service = self.services.get(service_id)
            if service is None:
                self._error("read", service_id, None, "unknown service")
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
                    self._error("desired", sid, None, "shadow desires values for an unknown service")
                continue
            current, _ = self.read_values(service, list(state.desired))
            changes = {}
            for key, value in state.desired.items():
                p = service.spec.by_name.get(key)
                if p is None or not p.prop.writeable:
                    # A stale or foreign key must not block the service's other desired values.
                    why = "unknown property" if p is None else "read-only property"
                    self._error("desired", sid, key, f"shadow desires a value for a {why}; ignored")
                elif _canonical(p, value) != current.get(key, _MISSING):
                    changes[key] = value
            if changes:
                delta[sid] = changes
        applied: dict[str, dict[str, Any]] = {}
        refused: dict[str, dict[str, str]] = {}
        for sid, changes in delta.items():
            # One request per service: a bad value in one service does not block the others.
            errors = self.apply_desired({sid: changes})
            for name, reason in errors.items():
                self._error("desired", sid, name, reason)
            if errors:
                self.report(self.services[sid])
                refused[sid] = {name: errors.get(name, _BLOCKED) for name in changes}
            else:
                applied[sid] = changes
        if applied or refused:
            self.emit(SettleDesired(applied, refused))

    def request_shadow(self) -> None:
        self.emit(RequestShadow(new_request_id()))

    def _answer_malformed(self, event: Malformed) -> None:
        self._error("malformed", None, event.topic, event.reason)
        if event.request_id is None:
            return
        if event.kind == "desired":
            self.emit(AckDesired(event.request_id, {"payload": event.reason}))
        elif event.kind == "command":
            self.emit(CommandResponse(event.request_id, CODE_FAILED, {"error": event.reason}))
        elif event.kind == "read":
            self.emit(ReadResponse(event.request_id, {}))

    def _error(self, kind: str, service_id: str | None, name: str | None, reason: str) -> None:
        error = DeviceError(kind, service_id, name, reason)
        log.warning("%s", error)
        if self.on_error is not None:
            try:
                self.on_error(error)
            except Exception:
                log.exception("on_error callback raised")


class _Missing:
    pass


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


def _canonical(p: PropertySpec, raw: Any) -> Any:
    """A desired wire value as the device would report it (e.g. a DateTime in canonical form),
    so an equal value in another spelling is not applied again on every reconnect."""
    try:
        value = p.prop.type.from_wire(raw)
    except InvalidValue:
        return raw  # invalid: applying it will refuse it with the reason
    return value if p.to_wire is None else p.to_wire(value)


_MISSING = _Missing()


def new_request_id() -> str:
    return uuid.uuid4().hex
