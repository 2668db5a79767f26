"""``ShadowCloud``: the platform side of a device shadow, without I/O.

It keeps per-device, per-service shadows (desired, reported, version) in a store, pushes desired
values to devices, answers the devices' shadow requests, sends commands and property reads, and
records every answer by request id. The live local cloud wraps it with a transport and waiting;
the fake cloud with an in-memory broker.

Push rules (as IoTDA): a desire is pushed at once as one write request; when a device reports and
the shadow still desires a value it does not hold, that value is pushed once more. A value is
never pushed twice in a row for the same device (so a device that clamps or refuses a value
cannot cause a loop), and a refused write is taken out of ``desired`` again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..errors import CodecError, InvalidValue
from ..ids import new_id as _new_id
from ..ids import validate_id
from ..protocol import messages as ev
from ..protocol.codec import PlatformCodec
from ..sentinel import ABSENT
from .app import RequestBook, Result
from .store import MemoryStore, ShadowStore, SqliteStore

log = logging.getLogger("thingmodel.cloud")


@attrs.define
class _Pending:
    kind: str
    device_id: str
    previous: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    values: dict[str, dict[str, Any]] = attrs.field(factory=dict)


class ShadowCloud:
    """Shadows + the platform half of a codec. ``publish`` receives every outgoing message."""

    def __init__(
        self,
        codec: PlatformCodec,
        publish: Callable[[ev.Outgoing], None],
        store: ShadowStore | None = None,
        *,
        on_result: Callable[[str, Result], None] | None = None,
        on_uplink: Callable[[ev.PlatformUplink], None] | None = None,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self.codec = codec
        self.new_id = new_id
        self.publish = publish
        self.store: ShadowStore = store if store is not None else MemoryStore()
        self.on_uplink = on_uplink
        #: requests waiting for devices, their answers and recent malformed uplinks (bounded)
        self.book: RequestBook[_Pending] = RequestBook(on_result=on_result)
        self._pushed: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.RLock()

    @property
    def vendor(self) -> str:
        return self.codec.vendor

    def subscriptions(self) -> list[str]:
        return self.codec.subscriptions()

    def open_store(self, path: str) -> None:
        """Keep shadows in a SQLite file from now on (they survive a restart)."""
        self.store = SqliteStore(path)

    def close(self) -> None:
        if isinstance(self.store, SqliteStore):
            self.store.close()

    # -- application side ----------------------------------------------------------------------
    def shadow(self, device_id: str) -> dict[str, ev.ShadowState]:
        return self.store.load(device_id)

    def devices(self) -> list[str]:
        return self.store.devices()

    def desire(self, device_id: str, services: Mapping[str, Mapping[str, Any]]) -> str:
        """Store desired values and push them as one write request; return its request id."""
        validate_id("device_id", device_id)
        if not services:
            raise InvalidValue("a desire names no service")
        for sid, props in services.items():
            validate_id("service_id", sid)
            if not isinstance(props, Mapping) or not props:
                raise InvalidValue(f"desire for {sid!r} names no property")
        if len(services) == 1:
            # Tencent keeps one document per device, filed under one key whatever service id
            # the application named; elsewhere the key is the service id.
            ((sid, props),) = services.items()
            services = {self.codec.shadow_key(device_id, sid): props}
        rid = self.new_id()
        with self._lock:
            shadows = self.store.load(device_id)
            pending = _Pending("desired", device_id, values={s: dict(p) for s, p in services.items()})
            for sid, props in services.items():
                state = shadows.get(sid, ev.ShadowState())
                pending.previous[sid] = {k: state.desired.get(k, ABSENT) for k in props}
                self.store.save(
                    device_id,
                    sid,
                    attrs.evolve(state, desired={**state.desired, **props}, version=state.version + 1),
                )
                for key, value in props.items():
                    self._pushed[(device_id, sid, key)] = value
            self.book.open(rid, pending)
            version = max(state.version for state in self.store.load(device_id).values())
            self._send(ev.PushDesired(device_id, rid, {s: dict(p) for s, p in services.items()}, version))
        return rid

    def command(
        self, device_id: str, service_id: str | None, name: str, params: Mapping[str, Any] | None = None
    ) -> str:
        validate_id("device_id", device_id)
        rid = self.new_id()
        with self._lock:
            self.book.open(rid, _Pending("command", device_id))
            self._send(ev.SendCommand(device_id, rid, service_id, name, dict(params or {})))
        return rid

    def read(self, device_id: str, service_id: str | None = None) -> str:
        validate_id("device_id", device_id)
        rid = self.new_id()
        with self._lock:
            self.book.open(rid, _Pending("read", device_id))
            self._send(ev.AskRead(device_id, rid, service_id))
        return rid

    def send_message(self, device_id: str, payload: bytes) -> None:
        """A free-form message to the device (nothing answers it)."""
        validate_id("device_id", device_id)
        self._send(ev.MessageDown(device_id, payload))

    def send_event(
        self, device_id: str, service_id: str, event_type: str, params: Mapping[str, Any] | None = None
    ) -> None:
        """A platform event to one of the device's services (nothing answers it)."""
        validate_id("device_id", device_id)
        self._send(ev.EventDown(device_id, service_id, event_type, dict(params or {})))

    def result(self, request_id: str) -> Result | None:
        """The answer to a request, once it has come (None until then)."""
        with self._lock:
            return self.book.result(request_id)

    def take_result(self, request_id: str) -> Result | None:
        """Like :meth:`result`, and forget it."""
        with self._lock:
            return self.book.take(request_id)

    def forget(self, request_id: str) -> None:
        """Stop waiting for an answer (it is dropped if it still comes)."""
        with self._lock:
            self.book.close(request_id)

    # -- device side ---------------------------------------------------------------------------
    def receive(self, topic: str, payload: bytes) -> None:
        """Handle one uplink; bad input is logged and recorded, never raised."""
        for event in self.codec.decode(topic, payload):
            try:
                self._handle(event)
            except Exception:  # a bug here must not stop the cloud
                log.exception("handling %r failed", event)

    def _handle(self, event: ev.PlatformUplink) -> None:
        with self._lock:
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event)
            if self.on_uplink is not None:
                self.on_uplink(event)

    def _on_answer(self, event: ev.DesiredAcked | ev.CommandAnswered | ev.ReadAnswered) -> None:
        self._answered(event.request_id, event)

    def _on_malformed(self, event: ev.DeviceMalformed) -> None:
        log.warning("bad message from device %s on %s: %s", event.device_id, event.topic, event.reason)
        self.book.problem(event)
        if event.request_id is not None and event.request_id in self.book.pending:
            self._answered(event.request_id, event)

    def _reported(self, event: ev.Reported) -> None:
        shadows = self.store.load(event.device_id)
        push: dict[str, dict[str, Any]] = {}
        for sid, props in event.services.items():
            state = shadows.get(sid, ev.ShadowState())
            reported = {**state.reported, **props}
            self.store.save(
                event.device_id, sid, attrs.evolve(state, reported=reported, version=state.version + 1)
            )
            for key, value in state.desired.items():
                if (
                    reported.get(key, ABSENT) != value
                    and self._pushed.get((event.device_id, sid, key), ABSENT) != value
                ):
                    push.setdefault(sid, {})[key] = value
        self._settle_by_report(event.device_id, shadows, event.services)
        if push:
            rid = self.new_id()
            pending = _Pending("desired", event.device_id)
            for sid, props in push.items():
                pending.previous[sid] = {k: ABSENT for k in props}
                for key, value in props.items():
                    self._pushed[(event.device_id, sid, key)] = value
            self.book.open(rid, pending)
            version = max(state.version for state in self.store.load(event.device_id).values())
            self._send(ev.PushDesired(event.device_id, rid, push, version))

    def _settle_by_report(
        self, device_id: str, before: Mapping[str, ev.ShadowState], reported: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """A write whose request never reached the device (it was offline) is settled when the
        device, having applied it from its shadow, reports exactly those values."""
        for rid, pending in list(self.book.pending.items()):
            if pending.kind != "desired" or pending.device_id != device_id or not pending.values:
                continue
            now = {
                sid: {**before.get(sid, ev.ShadowState()).reported, **reported.get(sid, {})}
                for sid in pending.values
            }
            wanted = [(sid, k, v) for sid, props in pending.values.items() for k, v in props.items()]
            touched = any(k in reported.get(sid, {}) for sid, k, _ in wanted)
            if touched and all(now[sid].get(k, ABSENT) == v for sid, k, v in wanted):
                self._answered(rid, ev.DesiredAcked(device_id, rid))

    def _desired_cleared(self, event: ev.DesiredCleared) -> None:
        """The device took values out of ``desired`` (Tencent's habit once it has applied them,
        ours when it refuses them): a pending write whose value it does not report was refused."""
        shadows = self.store.load(event.device_id)
        cleared = {
            sid: set(shadows.get(sid, ev.ShadowState()).desired if keys is None else keys)
            for sid, keys in event.services.items()
        }
        for rid, pending in list(self.book.pending.items()):
            if pending.kind != "desired" or pending.device_id != event.device_id:
                continue
            errors: dict[str, str] = {}
            prefix = len(pending.values) > 1
            for sid, props in pending.values.items():
                reported = shadows.get(sid, ev.ShadowState()).reported
                for key, value in props.items():
                    if key in cleared.get(sid, ()) and reported.get(key, ABSENT) != value:
                        actual = reported.get(key, ABSENT)
                        holds = "nothing" if actual is ABSENT else repr(actual)
                        errors[f"{sid}.{key}" if prefix else key] = (
                            f"the device refused {value!r} and cleared it from desired (it reports {holds})"
                        )
            if errors:
                self._answered(rid, ev.DesiredAcked(event.device_id, rid, errors, code=1))
        shadows = self.store.load(event.device_id)  # _answered may have reverted some values
        for sid, keys in cleared.items():
            state = shadows.get(sid)
            if state is None or not keys & state.desired.keys():
                continue
            desired = {k: v for k, v in state.desired.items() if k not in keys}
            self.store.save(
                event.device_id, sid, attrs.evolve(state, desired=desired, version=state.version + 1)
            )
            for key in keys:
                self._pushed.pop((event.device_id, sid, key), None)

    def _shadow_requested(self, event: ev.ShadowRequested) -> None:
        # A device asks after each (re)connect: from now on it holds what the answer says.
        for pushed in [k for k in self._pushed if k[0] == event.device_id]:
            del self._pushed[pushed]
        shadows = self.store.load(event.device_id)
        if event.service_id:
            shadows = {event.service_id: shadows.get(event.service_id, ev.ShadowState())}
        for sid, state in shadows.items():
            for key, value in state.desired.items():
                self._pushed[(event.device_id, sid, key)] = value
        self._send(ev.AnswerShadow(event.device_id, event.request_id, shadows))

    def _answered(self, rid: str, event: Result) -> None:
        pending = self.book.close(rid)
        if pending is None:
            # already settled by a report, or given up on by the application
            log.info("answer to a request no longer pending: %s from %s", rid, event.device_id)
            return
        if isinstance(event, (ev.DesiredAcked, ev.DeviceMalformed)) and pending.kind == "desired":
            refused = not event.ok if isinstance(event, ev.DesiredAcked) else True
            if refused:
                self._revert(pending)
        self.book.answer(rid, event)

    def _revert(self, pending: _Pending) -> None:
        shadows = self.store.load(pending.device_id)
        for sid, previous in pending.previous.items():
            state = shadows.get(sid, ev.ShadowState())
            desired = dict(state.desired)
            for key, old in previous.items():
                if old is ABSENT:
                    desired.pop(key, None)
                else:
                    desired[key] = old
            self.store.save(
                pending.device_id, sid, attrs.evolve(state, desired=desired, version=state.version + 1)
            )

    def _send(self, action: ev.PlatformDownlink) -> None:
        try:
            messages = self.codec.encode(action)
        except CodecError as exc:
            raise InvalidValue(str(exc)) from None
        for message in messages:
            self.publish(message)


_HANDLERS: dict[type, Callable[[ShadowCloud, Any], None]] = {
    ev.Reported: ShadowCloud._reported,
    ev.ShadowRequested: ShadowCloud._shadow_requested,
    ev.DesiredCleared: ShadowCloud._desired_cleared,
    ev.DesiredAcked: ShadowCloud._on_answer,
    ev.CommandAnswered: ShadowCloud._on_answer,
    ev.ReadAnswered: ShadowCloud._on_answer,
    ev.DeviceMalformed: ShadowCloud._on_malformed,
}
"""What the cloud does with each uplink (messages and events up are only passed to ``on_uplink``)."""
