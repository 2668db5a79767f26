"""``AwsCloud``: the local cloud's AWS IoT mode, with the same application API as ``ShadowCloud``.

The shadow protocol itself is :class:`~thingmodel.cloud.aws_shadow.AwsShadowService`: every
client (our devices, AWS's SDKs, an application) talks to it as it would to AWS. On top, this
class gives the application side what AWS leaves to the user: a desire is an ``update`` of the
shadow's ``desired`` section, and its answer is inferred from what the device does next -- it
reports the desired value (applied) or clears the key from ``desired`` (refused). Commands go
over AWS IoT's commands topics (:class:`~thingmodel.vendors.aws.AwsPlatform`), which also reads
the things' events and messages on our topics (``things/{thing}/events/up``, ``.../messages/up``)
and their AWS IoT Jobs requests (an upgrade is a queued job: :class:`~.ota.OtaService`):
they are kept in a bounded :class:`~.activity.Activity` (:meth:`AwsCloud.activity`), and bad ones
logged through a rate-limited :class:`~.activity.ProblemLog`, never raised.

Shadows are keyed by name on the application side, the classic shadow as ``"$classic"``. A
service id that names no named shadow of a thing that has a classic shadow addresses the classic
one (a one-service device keeps its properties there).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..errors import CodecError, InvalidValue, ShadowError
from ..ids import new_id as _new_id
from ..protocol import messages as ev
from ..protocol.jsonwire import loads
from ..sentinel import ABSENT
from ..vendors.aws import (
    CLASSIC,
    INFO_SHADOW,
    AwsPlatform,
    parse_command_topic,
    parse_shadow_topic,
    parse_uplink_topic,
    validate_thing_name,
)
from .activity import Activity, DeviceActivity, ProblemLog
from .app import RequestBook, Result
from .aws_shadow import AwsShadowService, DocumentStore, SqliteDocumentStore
from .ota import OtaService, Upgrade

log = logging.getLogger("thingmodel.cloud.aws")

ShadowKey = tuple[str, str | None]

#: the Jobs requests a thing makes (GetPendingJobExecutions is not served)
JOBS_SUBSCRIPTIONS = [
    "$aws/things/+/jobs/start-next",
    "$aws/things/+/jobs/+/get",
    "$aws/things/+/jobs/+/update",
]


def is_jobs_topic(topic: str) -> bool:
    """``$aws/things/{thing}/jobs/...``"""
    parts = topic.split("/")
    return len(parts) >= 5 and parts[:2] == ["$aws", "things"] and parts[3] == "jobs"


@attrs.frozen
class _Command:
    device_id: str


@attrs.define
class _Desire:
    device_id: str
    #: per shadow, the values still waiting for the device's answer
    waiting: dict[str | None, dict[str, Any]]
    errors: dict[str, str] = attrs.field(factory=dict)
    prefix: bool = False


class AwsCloud:
    """AWS IoT shadows, commands, events and messages for the local and the fake cloud."""

    vendor = "aws"

    def __init__(
        self,
        publish: Callable[[ev.Outgoing], None],
        store: DocumentStore | None = None,
        *,
        on_result: Callable[[str, Result], None] | None = None,
        on_uplink: Callable[[ev.PlatformUplink], None] | None = None,
        clock: Callable[[], float] | None = None,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self.publish = publish
        self.new_id = new_id
        self.shadow_service = (
            AwsShadowService(store) if clock is None else AwsShadowService(store, clock=clock)
        )
        self.commands = AwsPlatform()
        self.on_uplink = on_uplink
        #: desires and commands waiting for devices, their answers and recent problems (bounded)
        self.book: RequestBook[_Desire | _Command] = RequestBook(on_result=on_result)
        #: the log of bad events and messages, at most about one line a second per thing and kind
        self.problems = ProblemLog(log)
        self._activity = Activity() if clock is None else Activity(clock=clock)
        self._lock = threading.RLock()
        #: upgrades as AWS IoT Jobs: an offer is a queued job, answered by start-next and updates
        self.ota = OtaService(
            "aws",
            self.commands.encode,
            lambda m: self.publish(m),
            self.commands.encoders.kinds,
            self.problems,
            jobs=True,
        )

    def subscriptions(self) -> list[str]:
        topics = [*self.shadow_service.subscriptions(), *self.commands.subscriptions(), *JOBS_SUBSCRIPTIONS]
        return list(dict.fromkeys(topics))

    def open_store(self, path: str) -> None:
        """Keep shadows in a SQLite file from now on (they survive a restart)."""
        self.shadow_service.store = SqliteDocumentStore(path)

    def close(self) -> None:
        with self._lock:
            self.problems.flush()
        close = getattr(self.shadow_service.store, "close", None)
        if close is not None:
            close()

    # -- application side ----------------------------------------------------------------------
    def shadow(self, device_id: str) -> dict[str, ev.ShadowState]:
        """The thing's shadows: ``{shadow name or "$classic": ShadowState}``."""
        out: dict[str, ev.ShadowState] = {}
        for name in self.shadow_service.shadows(device_id):
            try:
                doc = self.shadow_service.get(device_id, name)
            except ShadowError:
                continue
            state = doc.get("state") or {}
            out[CLASSIC if name is None else name] = ev.ShadowState(
                desired=state.get("desired") or {},
                reported=state.get("reported") or {},
                version=int(doc.get("version", 0)),
            )
        return out

    def devices(self) -> list[str]:
        return self.shadow_service.things()

    def activity(self, device_id: str) -> DeviceActivity:
        """What the thing sent recently on our event and message topics (no shadow keeps it)."""
        with self._lock:
            return self._activity.of(device_id)

    def shadow_name(self, device_id: str, key: str) -> str | None:
        """The shadow a service id (or shadow name, or ``"$classic"``) addresses."""
        if key == CLASSIC:
            return None
        existing = self.shadow_service.shadows(device_id)
        return None if None in existing and key not in existing else key

    def desire(self, device_id: str, services: Mapping[str, Mapping[str, Any]]) -> str:
        """Update ``desired`` in each addressed shadow; the answer comes with the device's update."""
        validate_thing_name(device_id)
        if not services:
            raise InvalidValue("a desire names no service")
        rid = self.new_id()
        with self._lock:
            desire = _Desire(device_id, {}, prefix=len(services) > 1)
            for key, props in services.items():
                if not isinstance(props, Mapping) or not props:
                    raise InvalidValue(f"desire for {key!r} names no property")
                desire.waiting[self.shadow_name(device_id, key)] = dict(props)
            outgoing: list[ev.Outgoing] = []
            try:
                for shadow, props in list(desire.waiting.items()):
                    outgoing += self.shadow_service.update(device_id, shadow, {"state": {"desired": props}})[
                        1
                    ]
                    reported = self._reported(device_id, shadow)
                    for name, value in list(props.items()):
                        if reported.get(name, ABSENT) == value:  # no delta: nothing for the device to do
                            del props[name]
                    if not props:
                        del desire.waiting[shadow]
            except ShadowError as exc:
                raise InvalidValue(f"AWS refused the update ({exc.code}): {exc.message}") from None
            self.book.open(rid, desire)
            for message in outgoing:  # the fake cloud's device may answer before this returns
                self.publish(message)
            self._settle(rid)
        return rid

    def command(
        self, device_id: str, service_id: str | None, name: str, params: Mapping[str, Any] | None = None
    ) -> str:
        rid = self.new_id()
        with self._lock:
            self.book.open(rid, _Command(device_id))
            for message in self.commands.encode(
                ev.SendCommand(device_id, rid, service_id, name, dict(params or {}))
            ):
                self.publish(message)
        return rid

    def read(self, device_id: str, service_id: str | None = None) -> str:
        raise InvalidValue(
            "AWS IoT devices cannot be asked for their values: read the shadow's reported state"
        )

    def delete_shadow(self, device_id: str, service_id: str | None = None) -> list[str]:
        """Delete one shadow (a name, ``"$classic"``, or a service id) or all the thing's shadows."""
        validate_thing_name(device_id)
        with self._lock:
            existing = self.shadow_service.shadows(device_id)
            if service_id is None:
                doomed = existing
            else:
                name = self.shadow_name(device_id, service_id)
                doomed = [name] if name in existing else []
            for name in doomed:
                _, messages = self.shadow_service.delete(device_id, name)
                for message in messages:
                    self.publish(message)
        return [CLASSIC if name is None else name for name in doomed]

    def send_message(self, device_id: str, payload: bytes) -> None:
        """A free-form message on ``things/{thing}/messages/down`` (our topic: docs/vendors.md)."""
        try:
            messages = self.commands.encode(ev.MessageDown(device_id, payload))
        except CodecError as exc:
            raise InvalidValue(str(exc)) from None
        for message in messages:
            self.publish(message)

    def send_event(
        self, device_id: str, service_id: str, event_type: str, params: Mapping[str, Any] | None = None
    ) -> None:
        raise InvalidValue("AWS IoT shadows carry no platform events to devices")

    def start_upgrade(self, offer: ev.OfferUpgrade, package_id: str | None = None) -> Upgrade:
        """Queue a job for ``offer`` (job id = its ``task_id``) and tell the thing
        (``notify-next``); the thing takes it with start-next and reports with updates."""
        validate_thing_name(offer.device_id)
        with self._lock:
            return self.ota.start(offer, package_id)

    def query_version(self, device_id: str) -> None:
        """NotSupported: AWS IoT has no version query (a thing asks for its next job instead)."""
        self.ota.query_version(device_id)

    def result(self, request_id: str) -> Result | None:
        with self._lock:
            return self.book.result(request_id)

    def take_result(self, request_id: str) -> Result | None:
        with self._lock:
            return self.book.take(request_id)

    def forget(self, request_id: str) -> None:
        with self._lock:
            self.book.close(request_id)

    # -- what clients publish ------------------------------------------------------------------
    def receive(self, topic: str, payload: bytes) -> None:
        """Serve one request (shadow operation or command response) or keep one event or message;
        never raises."""
        try:
            with self._lock:
                if parse_command_topic(topic) is not None:
                    self._command_answer(topic, payload)
                elif is_jobs_topic(topic):
                    self._jobs(topic, payload)
                elif parse_uplink_topic(topic) is not None:
                    self._kept(topic, payload)
                else:
                    self._shadow_request(topic, payload)
        except Exception:  # a bug here must not stop the cloud
            log.exception("handling %s failed", topic)

    def _shadow_request(self, topic: str, payload: bytes) -> None:
        outgoing = self.shadow_service.handle(topic, payload)
        for message in outgoing:
            self.publish(message)
        parsed = parse_shadow_topic(topic)
        if parsed is None:
            return
        thing, shadow, operation = parsed
        accepted = any(m.topic == f"{topic}/accepted" for m in outgoing)
        if operation == "get" and accepted:
            self._uplink(ev.ShadowRequested(thing, "", shadow))
        if operation != "update" or not accepted:
            return
        try:
            state = (loads(payload) or {}).get("state") or {}
        except (ValueError, AttributeError):
            return
        key = CLASSIC if shadow is None else shadow
        reported = state.get("reported")
        if isinstance(reported, dict) and reported:
            if shadow == INFO_SHADOW:  # the device's info: its versions among it
                self.ota.handle(ev.DeviceInfo(thing, reported))
            self._uplink(ev.Reported(thing, {key: reported}))
        desired = state.get("desired", ABSENT)
        cleared: tuple[str, ...] | None = ()
        if desired is None:
            cleared = None
        elif isinstance(desired, dict):
            cleared = tuple(k for k, v in desired.items() if v is None)
        if cleared is None or cleared:
            self._uplink(ev.DesiredCleared(thing, {key: cleared}))
        self._observe(thing, shadow, reported if isinstance(reported, dict) else {}, cleared)

    def _observe(
        self, thing: str, shadow: str | None, reported: Mapping[str, Any], cleared: tuple[str, ...] | None
    ) -> None:
        for rid, desire in list(self.book.pending.items()):
            if not isinstance(desire, _Desire):
                continue
            props = desire.waiting.get(shadow)
            if desire.device_id != thing or props is None:
                continue
            now = self._reported(thing, shadow)
            for name, value in list(props.items()):
                if name in reported and now.get(name, ABSENT) == value:
                    del props[name]
                elif cleared is None or name in (cleared or ()):
                    actual = now.get(name, ABSENT)
                    holds = "nothing" if actual is ABSENT else repr(actual)
                    label = f"{shadow or CLASSIC}.{name}" if desire.prefix else name
                    desire.errors[label] = (
                        f"the device refused {value!r} and cleared it from desired (it reports {holds})"
                    )
                    del props[name]
            if not props:
                del desire.waiting[shadow]
            self._settle(rid)

    def _settle(self, rid: str) -> None:
        desire = self.book.pending.get(rid)
        if not isinstance(desire, _Desire) or desire.waiting:
            return
        self.book.close(rid)
        self._answer(
            rid, ev.DesiredAcked(desire.device_id, rid, desire.errors, code=1 if desire.errors else 0)
        )

    def _reported(self, thing: str, shadow: str | None) -> dict[str, Any]:
        try:
            doc = self.shadow_service.get(thing, shadow)
        except ShadowError:
            return {}
        reported = (doc.get("state") or {}).get("reported")
        return reported if isinstance(reported, dict) else {}

    def _command_answer(self, topic: str, payload: bytes) -> None:
        for event in self.commands.decode(topic, payload):
            self._uplink(event)
            if isinstance(event, ev.DeviceMalformed):
                log.warning("bad command response on %s: %s", topic, event.reason)
                self.book.problem(event)
            rid = getattr(event, "request_id", None)
            if rid is not None and isinstance(self.book.pending.get(rid), _Command):
                self.book.close(rid)
                self._answer(rid, event)  # type: ignore[arg-type]

    def _jobs(self, topic: str, payload: bytes) -> None:
        for event in self.commands.decode(topic, payload):
            if isinstance(event, (ev.JobRequested, ev.UpgradeReported)):
                self.ota.handle(event)
            elif isinstance(event, ev.DeviceMalformed):
                self.problems.log(
                    logging.WARNING, event.device_id, "malformed job request", "bad jobs request from "
                    "thing %s on %s: %s", event.device_id, topic[:200], event.reason[:300],
                )  # fmt: skip
                self.book.problem(event)
            self._uplink(event)

    def _kept(self, topic: str, payload: bytes) -> None:
        for event in self.commands.decode(topic, payload):
            if isinstance(event, (ev.EventUp, ev.MessageUp, ev.DeviceLog)):
                self._activity.keep(event)
            elif isinstance(event, ev.DeviceMalformed):
                self.problems.log(
                    logging.WARNING,
                    event.device_id,
                    f"malformed {event.kind}",
                    "bad %s from thing %s on %s: %s",
                    event.kind,
                    event.device_id,
                    topic[:200],
                    event.reason[:300],
                )
                self.book.problem(event)
            self._uplink(event)

    def _answer(self, rid: str, result: Result) -> None:
        self.book.answer(rid, result)

    def _uplink(self, event: ev.PlatformUplink) -> None:
        if self.on_uplink is not None:
            try:
                self.on_uplink(event)
            except Exception:
                log.exception("on_uplink raised")
