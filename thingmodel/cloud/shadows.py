"""``ShadowCloud``: the platform side of a device shadow, without I/O.

It keeps per-device, per-service shadows (desired, reported, version) in a store, pushes desired
values to devices, answers the devices' requests, sends commands and property reads, and records
every answer by request id. The live local cloud wraps it with a transport and waiting; the fake
cloud with an in-memory broker.

Push rules (as IoTDA): a desire is pushed at once as one write request; when a device reports and
the shadow still desires a value it does not hold, that value is pushed once more. A value is
never pushed twice in a row for the same device (so a device that clamps or refuses a value
cannot cause a loop), and a refused write is taken out of ``desired`` again.

Answers: a device's request gets the answer its vendor's protocol has for it (``AnswerShadow``,
``AnswerRequest``, ``AnswerTimeSync``; sent when the codec's encoder table lists the message).
The events one uplink decodes into are handled in order, and those of one request answered once:
a refusal ends the request (nothing after it is applied) and is its answer. A malformed request
gets the error answer, with a code (``messages.CODE_BAD_REQUEST`` ...). An answer that cannot be
encoded is logged and replaced by an error answer.

No poisoned state: ids are checked as the device checks them, and hold no control characters;
every change is checked, merged with what is stored, against the codec's ``shadow_limits``
(:func:`check_limits`) and against what the codec can still send as the answer to a shadow get.
What would break them is refused and nothing of it is stored. A desire is stored at once (so it
survives a restart and reaches a device that is offline now); if the device refuses it, a service
or device that the desire created is deleted again. With ``known`` (the local cloud passes its
device registry), a desire for a device that is not registered is refused: a typo creates nothing.

On-device rules (Huawei ``$device_rule``, :meth:`ShadowCloud.push_rules`): the rules of each
device are kept here (in memory, bounded: :data:`MAX_RULES` per device, :data:`MAX_DELETED`
deletions remembered, :data:`MAX_RULE_DEVICES` devices), each with a version that goes up when
the rule changes. Their versions are written to the device (``PushRules``) when they change and
after each (re)connect, when the device asks for its shadow; the device asks for those it lacks
(``RulesAsked``) and gets them (``AnswerRules``). The cloud checks a rule's id and that it is
JSON of bounded size; what a rule says is for the device to check (it refuses a bad one).

Messages up, events, device info and logs are kept in a bounded :class:`~.activity.Activity`
(:meth:`ShadowCloud.activity`); bad input is logged through a rate-limited
:class:`~.activity.ProblemLog`, never raised.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from ..errors import CodecError, InvalidValue, NotSupported
from ..ids import new_id as _new_id
from ..ids import validate_id
from ..protocol import gateway as gw
from ..protocol import messages as ev
from ..protocol.codec import PlatformCodec
from ..protocol.jsonwire import dumps, require_finite
from ..sentinel import ABSENT
from .activity import Activity, DeviceActivity, Kept, ProblemLog
from .app import RequestBook, Result
from .gateways import ChildCheck, GatewayBook, answer_gateway
from .ota import OtaService, Upgrade
from .store import MemoryStore, ShadowStore, SqliteStore

log = logging.getLogger("thingmodel.cloud")

#: the device requests that get an error answer when malformed (the rest are answers themselves)
_ANSWERED_WHEN_MALFORMED = frozenset({"report", "clear", "event", "info", "shadow"})
#: the events that are (part of) a device request with an answer of its own, when they carry a token
_REQUEST_KIND: dict[type, ev.RequestKind] = {
    ev.Reported: "report",
    ev.DesiredCleared: "clear",
    ev.EventUp: "event",
    ev.DeviceInfo: "info",
}
#: how much of a reason goes into an answer or a log line
MAX_REASON = 300
#: stands for a device's request id when checking that a shadow can still be sent
_PROBE_TOKEN = "0" * 64
#: on-device rules one device may have
MAX_RULES = 100
#: deleted rules remembered per device (a device offline at the time learns of them later)
MAX_DELETED = 100
#: devices with on-device rules
MAX_RULE_DEVICES = 10_000
#: bytes of one rule's JSON
MAX_RULE_BYTES = 64 * 1024
#: the version a rule write gives a deleted rule (IoTDA's)
RULE_DELETED = -1


@attrs.frozen
class _HeldRule:
    """One rule of a device: its last version and its JSON (None: deleted)."""

    version: int
    body: Mapping[str, Any] | None


@attrs.frozen
class _Refusal:
    code: int
    reason: str


@attrs.define
class _Pending:
    kind: str
    device_id: str
    previous: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    values: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    #: services this desire created: deleted again if the device refuses it
    created: set[str] = attrs.field(factory=set)


def check_id(kind: str, value: object) -> str:
    """:func:`~thingmodel.ids.validate_id` (which refuses control characters too)."""
    return validate_id(kind, value)


def check_limits(
    limits: ev.ShadowLimits,
    shadows: Mapping[str, ev.ShadowState],
    changed: Iterable[Mapping[str, Any]] = (),
) -> None:
    """Raise InvalidValue naming the limit if one device's ``shadows`` (merged) break ``limits``.

    Nesting, names and JSON types are checked in the ``changed`` sections only: sections merge
    name by name, so what was stored before was checked when it came. Sizes and counts are
    checked on the whole.
    """
    for section in changed:
        _check_section(limits, section)
    size = 0
    for key, state in shadows.items():
        names = len(state.desired.keys() | state.reported.keys())
        if limits.max_properties is not None and names > limits.max_properties:
            raise InvalidValue(
                f"shadow {key!r} would hold {names} properties (the limit is {limits.max_properties})"
            )
        try:
            size += len(dumps(dict(state.desired))) + len(dumps(dict(state.reported)))
        except ValueError as exc:
            raise InvalidValue(f"shadow {key!r} cannot be JSON: {exc}") from None
    if size > limits.max_bytes:
        raise InvalidValue(f"the shadow would take {size} bytes of JSON (the limit is {limits.max_bytes})")


def _check_section(limits: ev.ShadowLimits, section: Mapping[str, Any]) -> None:
    """Names, nesting and JSON types of one changed section, in one walk. Iterative (a value may
    nest deeper than Python recurses); a path is spelled out only for an error."""
    stack: list[tuple[Any, tuple[Any, ...], int]] = []
    for name, value in section.items():
        _check_name(limits, name, (name,))
        stack.append((value, (name,), 1))
    while stack:
        value, path, depth = stack.pop()  # depth: the level of the container holding value
        if isinstance(value, (str, bool)) or value is None:
            continue
        if isinstance(value, int):
            if not -(2**63) <= value < 2**64:
                raise InvalidValue(f"{_path(path)} is an integer beyond 64 bits, which the wire cannot carry")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidValue(f"{_path(path)} is {value!r}, which JSON cannot hold")
        elif isinstance(value, (dict, list, tuple)):
            if depth + 1 > limits.max_depth:
                raise InvalidValue(f"{_path(path)} nests deeper than {limits.max_depth} levels")
            if isinstance(value, dict):
                for name, member in value.items():
                    _check_name(limits, name, (*path, name))
                    stack.append((member, (*path, name), depth + 1))
            else:
                stack.extend((member, (*path, i), depth + 1) for i, member in enumerate(value))
        else:
            raise InvalidValue(f"{_path(path)} is a {type(value).__name__}, which JSON cannot hold")


def _check_name(limits: ev.ShadowLimits, name: object, path: tuple[Any, ...]) -> None:
    if not isinstance(name, str):
        raise InvalidValue(f"{_path(path[:-1]) or 'the values'}: property names are strings, got {name!r}")
    for char in limits.forbidden_in_names:
        if char in name:
            raise InvalidValue(f"property name {_path(path)!r} holds {char!r}, which this platform forbids")


def _path(path: tuple[Any, ...]) -> str:
    """``("cfg", "a", 0)`` as ``cfg.a[0]`` (shortened for a log line)."""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return _short(text)


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON else f"{text[: MAX_REASON - 3]}..."


class ShadowCloud:
    """Shadows + the platform half of a codec. ``publish`` receives every outgoing message;
    ``clock`` (monotonic seconds) paces the log of bad input."""

    def __init__(
        self,
        codec: PlatformCodec,
        publish: Callable[[ev.Outgoing], None],
        store: ShadowStore | None = None,
        *,
        on_result: Callable[[str, Result], None] | None = None,
        on_uplink: Callable[[ev.PlatformUplink], None] | None = None,
        new_id: Callable[[], str] = _new_id,
        clock: Callable[[], float] = time.monotonic,
        known: Callable[[str], bool] | None = None,
    ) -> None:
        self.codec = codec
        #: which device ids exist (None: any id is a device, as in development mode)
        self.known = known
        self.new_id = new_id
        self.publish = publish
        self.store: ShadowStore = store if store is not None else MemoryStore()
        self.on_uplink = on_uplink
        #: what the vendor's shadows may hold (None: no limits but the codec's own)
        self.limits: ev.ShadowLimits | None = getattr(codec, "shadow_limits", None)
        #: requests waiting for devices, their answers and recent malformed uplinks (bounded)
        self.book: RequestBook[_Pending] = RequestBook(on_result=on_result)
        #: the log of bad input, at most about one line a second per device and kind of problem
        self.problems = ProblemLog(log, clock=clock)
        self._activity = Activity()
        self._sends = codec.encoders.kinds
        self._pushed: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.RLock()
        #: upgrades, versions and what the codec says to devices about them
        self.ota = OtaService(
            codec.vendor, codec.encode, lambda m: self.publish(m), self._sends, self.problems
        )
        #: answers a device's request for a file URL, or says why not (None: no file service)
        self.file_urls: Callable[[ev.FileUrlRequested], ev.AnswerFileUrl | str] | None = None
        self._rules: dict[str, dict[str, _HeldRule]] = {}
        #: which children each gateway has (the local cloud gives its own)
        self.gateways = GatewayBook()
        if hasattr(codec, "parent_of"):  # the codec reaches a child through its gateway
            codec.parent_of = lambda device_id: self.gateways.parent_of(device_id)
        #: a registered child's secret (None: not registered); unset (None): no registry, so
        #: every child a gateway adds is accepted
        self.child_secret: Callable[[str], str | None] | None = None
        #: told ``(gateway_id, {child: online})`` when a gateway's children go online or offline
        self.on_children: Callable[[str, Mapping[str, bool]], None] | None = None

    @property
    def vendor(self) -> str:
        return self.codec.vendor

    def subscriptions(self) -> list[str]:
        return self.codec.subscriptions()

    def open_store(self, path: str) -> None:
        """Keep shadows in a SQLite file from now on (they survive a restart)."""
        self.store = SqliteStore(path)

    def close(self) -> None:
        with self._lock:
            self.problems.flush()
        if isinstance(self.store, SqliteStore):
            self.store.close()

    # -- application side ----------------------------------------------------------------------
    def shadow(self, device_id: str) -> dict[str, ev.ShadowState]:
        """The device's shadows, per service (empty for a device the cloud has never seen)."""
        with self._lock:
            return self.store.load(device_id)

    def devices(self) -> list[str]:
        return self.store.devices()

    def activity(self, device_id: str) -> DeviceActivity:
        """What the device sent recently that no shadow keeps: messages, events, info, logs."""
        with self._lock:
            return self._activity.of(device_id)

    def desire(self, device_id: str, services: Mapping[str, Mapping[str, Any]]) -> str:
        """Store desired values and push them as one write request; return its request id.
        InvalidValue, with nothing stored, for bad ids, an unregistered device or values the
        shadow cannot hold."""
        check_id("device_id", device_id)
        if self.known is not None and not self.known(device_id):
            raise InvalidValue(f"device {device_id!r} is not registered")
        if not services:
            raise InvalidValue("a desire names no service")
        for sid, props in services.items():
            check_id("service_id", sid)
            if not isinstance(props, Mapping) or not props:
                raise InvalidValue(f"desire for {sid!r} names no property")
        key = self.codec.shadow_key(device_id, next(iter(services)))  # checks the vendor's id rules
        # Tencent keeps one document per device, filed under one key whatever service id the
        # application named; elsewhere the key is the service id.
        wanted = {key: dict(next(iter(services.values())))} if len(services) == 1 else services
        rid = self.new_id()
        with self._lock:
            shadows = self.store.load(device_id)
            pending = _Pending("desired", device_id, values={s: dict(p) for s, p in wanted.items()})
            candidate = dict(shadows)
            for sid, props in wanted.items():
                state = candidate.get(sid, ev.ShadowState())
                pending.previous[sid] = {k: state.desired.get(k, ABSENT) for k in props}
                if sid not in shadows:
                    pending.created.add(sid)
                candidate[sid] = attrs.evolve(
                    state,
                    desired={**state.desired, **props},
                    version=state.version + 1 if sid in shadows else 0,
                )
            self._check(device_id, candidate, pending.values.values())
            version = max(state.version for state in candidate.values())
            messages = self._encode(ev.PushDesired(device_id, rid, pending.values, version))
            with self.store.transaction():
                for sid in wanted:
                    self.store.save(device_id, sid, candidate[sid])
            for sid, props in wanted.items():
                for name, value in props.items():
                    self._pushed[(device_id, sid, name)] = value
            self.book.open(rid, pending)
            for message in messages:  # the fake cloud's device may answer before this returns
                self.publish(message)
        return rid

    def command(
        self, device_id: str, service_id: str | None, name: str, params: Mapping[str, Any] | None = None
    ) -> str:
        check_id("device_id", device_id)
        if service_id is not None:
            check_id("service_id", service_id)
        rid = self.new_id()
        with self._lock:
            self.book.open(rid, _Pending("command", device_id))
            self._send(ev.SendCommand(device_id, rid, service_id, name, dict(params or {})))
        return rid

    def read(self, device_id: str, service_id: str | None = None) -> str:
        check_id("device_id", device_id)
        if service_id is not None:
            check_id("service_id", service_id)
        rid = self.new_id()
        with self._lock:
            self.book.open(rid, _Pending("read", device_id))
            self._send(ev.AskRead(device_id, rid, service_id))
        return rid

    def delete_shadow(self, device_id: str, service_id: str | None = None) -> list[str]:
        """Delete the device's shadow of one service (None: of every service); the ones deleted."""
        check_id("device_id", device_id)
        with self._lock:
            existing = self.store.load(device_id)
            if service_id is None:
                doomed = list(existing)
            else:
                key = self.codec.shadow_key(device_id, check_id("service_id", service_id))
                doomed = [key] if key in existing else []
            with self.store.transaction():
                for sid in doomed:
                    self.store.delete(device_id, sid)
            for name in [k for k in self._pushed if k[0] == device_id and k[1] in doomed]:
                del self._pushed[name]
        return doomed

    def send_message(self, device_id: str, payload: bytes) -> None:
        """A free-form message to the device (nothing answers it)."""
        check_id("device_id", device_id)
        self._send(ev.MessageDown(device_id, payload))

    def send_event(
        self, device_id: str, service_id: str, event_type: str, params: Mapping[str, Any] | None = None
    ) -> None:
        """A platform event to one of the device's services (nothing answers it)."""
        check_id("device_id", device_id)
        check_id("service_id", service_id)
        self._send(ev.EventDown(device_id, service_id, event_type, dict(params or {})))

    def start_upgrade(self, offer: ev.OfferUpgrade, package_id: str | None = None) -> Upgrade:
        """Begin an upgrade and send ``offer`` (its ``task_id`` set) to the device;
        :class:`~.ota.UpgradeRunning` while one runs, InvalidValue (nothing kept) for an offer the
        codec cannot send."""
        check_id("device_id", offer.device_id)
        with self._lock:
            return self.ota.start(offer, package_id)

    def query_version(self, device_id: str) -> None:
        """Ask the device which versions it runs (NotSupported where the vendor cannot ask)."""
        check_id("device_id", device_id)
        with self._lock:
            self.ota.query_version(device_id)

    # -- on-device rules ---------------------------------------------------------------------
    def push_rules(self, device_id: str, rules: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """Make ``rules`` (IoTDA rule JSON, each with a ``ruleId``) the device's on-device rules:
        a rule that changed gets a new version, one left out is deleted; the versions are written
        to the device now (and after each reconnect). Returns ``{rule_id: version}``.
        NotSupported where the vendor has no rules; InvalidValue, nothing changed, for bad ids,
        duplicates, JSON it cannot hold or more than the limits."""
        check_id("device_id", device_id)
        if ev.PushRules not in self._sends:
            raise NotSupported(f"{self.vendor} has no on-device rules (Huawei IoTDA's $device_rule only)")
        if self.known is not None and not self.known(device_id):
            raise InvalidValue(f"device {device_id!r} is not registered")
        if isinstance(rules, (str, bytes, Mapping)):
            raise InvalidValue("rules must be a list of rule objects")
        wanted: dict[str, dict[str, Any]] = {}
        for index, rule in enumerate(rules):
            if len(wanted) >= MAX_RULES:
                raise InvalidValue(f"a device has at most {MAX_RULES} on-device rules")
            if not isinstance(rule, Mapping):
                raise InvalidValue(f"rules[{index}] must be an object, got {type(rule).__name__}")
            rule_id = check_id(f"rules[{index}].ruleId", rule.get("ruleId"))
            if rule_id in wanted:
                raise InvalidValue(f"rule {rule_id!r} is given twice")
            body = {k: v for k, v in rule.items() if k != "ruleVersionInShadow"}
            require_finite(body, f"rule {rule_id!r}")
            size = len(dumps(body))
            if size > MAX_RULE_BYTES:
                raise InvalidValue(f"rule {rule_id!r} takes {size} bytes of JSON (at most {MAX_RULE_BYTES})")
            wanted[rule_id] = body
        with self._lock:
            held = self._rules.get(device_id)
            if held is None and len(self._rules) >= MAX_RULE_DEVICES:
                raise InvalidValue(f"{MAX_RULE_DEVICES} devices have on-device rules already")
            held = held or {}
            live: dict[str, _HeldRule] = {}
            for rule_id, body in wanted.items():
                old = held.get(rule_id)
                if old is not None and old.body == body:
                    live[rule_id] = old
                else:
                    live[rule_id] = _HeldRule(old.version + 1 if old is not None else 1, body)
            gone = [(k, r) for k, r in held.items() if k not in live and r.body is None]
            gone += [(k, _HeldRule(r.version, None)) for k, r in held.items() if k not in live and r.body]
            try:
                self.codec.encode(ev.AnswerRules(device_id, _rule_bodies(live, live)))
            except (CodecError, InvalidValue) as exc:
                raise InvalidValue(f"the rules could not be sent to the device: {exc}") from None
            self._rules[device_id] = {**live, **dict(gone[-MAX_DELETED:])}
            self._push_rules(device_id)
            return {rule_id: rule.version for rule_id, rule in live.items()}

    def rules(self, device_id: str) -> list[dict[str, Any]]:
        """The device's on-device rules, each with its ``ruleVersionInShadow``."""
        with self._lock:
            held = self._rules.get(device_id, {})
            return [dict(rule) for rule in _rule_bodies(held, held)]

    def _push_rules(self, device_id: str) -> None:
        held = self._rules.get(device_id)
        if not held:
            return
        versions = {k: RULE_DELETED if r.body is None else r.version for k, r in held.items()}
        rid = self.new_id()
        try:
            messages = self.codec.encode(ev.PushRules(device_id, versions, rid))
        except (CodecError, InvalidValue) as exc:
            self._refuse(device_id, "rules not pushed", ev.CODE_CLOUD_FAILED, str(exc))
            return
        self.book.open(rid, _Pending("rules", device_id))
        for message in messages:
            self.publish(message)

    def _rules_asked(self, event: ev.RulesAsked) -> None:
        held = self._rules.get(event.device_id, {})
        asked = {rule_id: held[rule_id] for rule_id in event.rule_ids if rule_id in held}
        unknown = [
            rule_id for rule_id in event.rule_ids if rule_id not in asked or asked[rule_id].body is None
        ]
        if unknown:
            log.info(
                "device %s asked for rules it has none of: %s", event.device_id, _short(", ".join(unknown))
            )
        bodies = _rule_bodies(held, asked)
        if bodies:
            self._send_answer(event.device_id, ev.AnswerRules(event.device_id, bodies), None)

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
        """Handle one uplink: bad input is logged (rate-limited), answered where the protocol
        has an answer, and never raised."""
        events = self.codec.decode(topic, payload)
        with self._lock:
            answers: dict[tuple[str, str], tuple[ev.RequestKind, _Refusal | None]] = {}
            for event in events:
                if not self._from_a_device(event):
                    continue
                request = _request_of(event)
                if request is not None:
                    device_id, rid, kind = request
                    earlier = answers.get((device_id, rid))
                    if earlier is not None and earlier[1] is not None:
                        continue  # the request was refused: nothing after the refusal is applied
                refusal = self._handle(event)
                if request is not None and (refusal is not None or (device_id, rid) not in answers):
                    answers[(device_id, rid)] = (kind, refusal)
            for (device_id, rid), (kind, refusal) in answers.items():
                self._answer(device_id, rid, kind, refusal)

    def _from_a_device(self, event: ev.PlatformUplink) -> bool:
        device_id = event.device_id
        if device_id is None:  # a malformed uplink on a topic that names no device
            return True
        try:
            check_id("device_id", device_id)
        except InvalidValue as exc:
            self.problems.log(logging.WARNING, None, "bad device id", "uplink refused: %s", _short(str(exc)))
            return False
        return True

    def _handle(self, event: ev.PlatformUplink) -> _Refusal | None:
        refusal = None
        try:
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                refusal = handler(self, event)
            if self.on_uplink is not None:
                self.on_uplink(event)
        except Exception:  # a bug here must not stop the cloud
            self.problems.log(
                logging.ERROR, event.device_id, "bug", "handling %r failed", event, exc_info=True
            )
            return _Refusal(ev.CODE_CLOUD_FAILED, "the cloud failed to handle it (see its log)")
        return refusal

    def _refuse(self, device_id: str | None, what: str, code: int, reason: str) -> _Refusal:
        reason = _short(reason)
        self.problems.log(logging.WARNING, device_id, what, "%s from device %s: %s", what, device_id, reason)
        return _Refusal(code, reason)

    def _on_answer(self, event: ev.DesiredAcked | ev.CommandAnswered | ev.ReadAnswered) -> None:
        self._answered(event.request_id, event)

    def _on_malformed(self, event: ev.DeviceMalformed) -> None:
        self.problems.log(
            logging.WARNING,
            event.device_id,
            f"malformed {event.kind}",
            "bad message from device %s on %s: %s",
            event.device_id,
            _short(event.topic),
            _short(event.reason),
        )
        self.book.problem(event)
        if event.request_id is None or event.device_id is None:
            return
        if event.request_id in self.book.pending:
            self._answered(event.request_id, event)
        elif event.kind in _ANSWERED_WHEN_MALFORMED:
            refusal = _Refusal(ev.CODE_BAD_REQUEST, _short(event.reason))
            self._answer(event.device_id, event.request_id, event.kind, refusal)

    def _reported(self, event: ev.Reported) -> _Refusal | None:
        device_id = event.device_id
        try:
            for sid in event.services:
                check_id("service_id", sid)
        except InvalidValue as exc:
            return self._refuse(device_id, "report refused", ev.CODE_BAD_REQUEST, str(exc))
        shadows = self.store.load(device_id)
        candidate = dict(shadows)
        for sid, props in event.services.items():
            state = candidate.get(sid, ev.ShadowState())
            candidate[sid] = ev.ShadowState(state.desired, {**state.reported, **props}, state.version + 1)
        try:
            self._check(device_id, candidate, event.services.values())
        except InvalidValue as exc:
            return self._refuse(device_id, "report refused", ev.CODE_TOO_LARGE, str(exc))
        with self.store.transaction():
            for sid in event.services:
                self.store.save(device_id, sid, candidate[sid])
        push: dict[str, dict[str, Any]] = {}
        for sid in event.services:
            state = candidate[sid]
            for key, value in state.desired.items():
                if (
                    state.reported.get(key, ABSENT) != value
                    and self._pushed.get((device_id, sid, key), ABSENT) != value
                ):
                    push.setdefault(sid, {})[key] = value
        self._settle_by_report(device_id, shadows, event.services)
        if push:
            rid = self.new_id()
            version = max(state.version for state in candidate.values())
            try:
                messages = self.codec.encode(ev.PushDesired(device_id, rid, push, version))
            except (CodecError, InvalidValue) as exc:
                self._refuse(device_id, "desired values not pushed", ev.CODE_CLOUD_FAILED, str(exc))
                return None
            pending = _Pending("desired", device_id)
            for sid, props in push.items():
                pending.previous[sid] = {k: ABSENT for k in props}
                for key, value in props.items():
                    self._pushed[(device_id, sid, key)] = value
            self.book.open(rid, pending)
            for message in messages:
                self.publish(message)
        return None

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

    def _desired_cleared(self, event: ev.DesiredCleared) -> _Refusal | None:
        """The device took values out of ``desired`` (Tencent's habit once it has applied them,
        ours when it refuses them): a pending write whose value it does not report was refused."""
        try:
            for sid in event.services:
                check_id("service_id", sid)
        except InvalidValue as exc:
            return self._refuse(event.device_id, "clear refused", ev.CODE_BAD_REQUEST, str(exc))
        shadows = self.shadow(event.device_id)
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
        stored = self.store.load(event.device_id)  # _answered may have reverted some values
        for sid, keys in cleared.items():
            state = stored.get(sid)
            if state is None or not keys & state.desired.keys():
                continue
            desired = {k: v for k, v in state.desired.items() if k not in keys}
            self.store.save(
                event.device_id, sid, attrs.evolve(state, desired=desired, version=state.version + 1)
            )
            for key in keys:
                self._pushed.pop((event.device_id, sid, key), None)
        return None

    def _shadow_requested(self, event: ev.ShadowRequested) -> None:
        device_id, rid = event.device_id, event.request_id
        if event.service_id is not None:
            try:
                check_id("service_id", event.service_id)
            except InvalidValue as exc:
                refusal = self._refuse(device_id, "shadow get refused", ev.CODE_BAD_REQUEST, str(exc))
                self._answer(device_id, rid, "shadow", refusal)
                return
        # A device asks after each (re)connect: from now on it holds what the answer says.
        for pushed in [k for k in self._pushed if k[0] == device_id]:
            del self._pushed[pushed]
        shadows = self.shadow(device_id)
        if event.service_id:
            shadows = {event.service_id: shadows.get(event.service_id, ev.ShadowState())}
        for sid, state in shadows.items():
            for key, value in state.desired.items():
                self._pushed[(device_id, sid, key)] = value

        def error(reason: str) -> ev.AnswerRequest:
            return ev.AnswerRequest(device_id, rid, "shadow", ev.CODE_CLOUD_FAILED, _short(reason))

        self._send_answer(device_id, ev.AnswerShadow(device_id, rid, shadows), error)
        self._push_rules(device_id)  # a device that restarted has no rules: it asks again

    def _time_sync(self, event: ev.TimeSyncRequested) -> None:
        if ev.AnswerTimeSync in self._sends:
            answer = ev.AnswerTimeSync(event.device_id, event.device_send_time, event.server_recv_time)
            self._send_answer(event.device_id, answer, None)

    def _ota(self, event: ev.PlatformUplink) -> None:
        self.ota.handle(event)

    def _gateway_asked(self, event: gw.GatewayAsked) -> None:
        """Do what the gateway asks (:func:`~.gateways.answer_gateway`) and tell it the answer."""
        told, changed = answer_gateway(self.gateways, event, self._child_check())
        if getattr(self.codec, "deletes_removed_children", False):
            for message in told:
                if isinstance(message, gw.ChildrenAnswered) and message.operation == "remove":
                    for device_id in message.done:
                        self.delete_shadow(device_id)
        if changed and self.on_children is not None:  # before the answer: whoever the gateway
            self.on_children(event.device_id, changed)  # tells next finds the children as it said
        if gw.TellGateway in self._sends:
            for message in told:
                self._send_answer(event.device_id, gw.TellGateway(event.device_id, message), None)

    def _child_check(self) -> ChildCheck | None:
        """With a registry: a child must be registered, and the codec's ``check_proof`` (Tencent's
        bind signature) must accept what the gateway sent for it. A codec with ``check_child``
        decides itself (Huawei: a child is created by its gateway and never registered)."""
        secret_of = self.child_secret
        if secret_of is None:
            return None
        proof_check = getattr(self.codec, "check_proof", None)
        child_check = getattr(self.codec, "check_child", None)

        def check(gateway_id: str, child: gw.ChildInfo) -> str | None:
            secret = secret_of(child.device_id)
            if callable(child_check):
                reason: str | None = child_check(child, secret)
                return reason
            if secret is None:
                return f"device {child.device_id!r} is not registered"
            return proof_check(child, secret) if callable(proof_check) else None

        return check

    def _file_url(self, event: ev.FileUrlRequested) -> None:
        answer = self.file_urls(event) if self.file_urls is not None else "this cloud serves no files"
        if isinstance(answer, str):
            self._refuse(event.device_id, "file url refused", ev.CODE_BAD_REQUEST, answer)
            return
        log.info("device %s %ss %r", event.device_id, event.direction, event.file_name)
        self._send_answer(event.device_id, answer, None)

    def _keep(self, event: Kept) -> _Refusal | None:
        if isinstance(event, ev.DeviceInfo):
            self.ota.handle(event)
        if isinstance(event, (ev.EventUp, ev.SystemEventUp)):
            try:
                check_id("service_id", event.service_id)
            except InvalidValue as exc:
                return self._refuse(event.device_id, "event refused", ev.CODE_BAD_REQUEST, str(exc))
        if self._activity.keep(event) and isinstance(event, ev.SystemEventUp):
            log.info(
                "device %s uses %s (%s): the local cloud does not serve it yet; its events are kept",
                event.device_id,
                event.service_id,
                _short(event.event_type),
            )
        return None

    def _answered(self, rid: str, event: Result) -> None:
        pending = self.book.pending.get(rid)
        if pending is None:
            # already settled by a report, or given up on by the application
            self.problems.log(
                logging.INFO,
                event.device_id,
                "late answer",
                "answer to a request no longer pending: %s from %s",
                _short(rid),
                event.device_id,
            )
            return
        refused = pending.kind == "desired" and (
            not event.ok if isinstance(event, ev.DesiredAcked) else isinstance(event, ev.DeviceMalformed)
        )
        self.book.close(rid)
        if refused:
            self._revert(pending)
        self.book.answer(rid, event)

    def _revert(self, pending: _Pending) -> None:
        shadows = self.store.load(pending.device_id)
        for sid, previous in pending.previous.items():
            state = shadows.get(sid)
            if state is None:  # deleted meanwhile
                continue
            desired = dict(state.desired)
            for key, old in previous.items():
                if old is ABSENT:
                    desired.pop(key, None)
                else:
                    desired[key] = old
            if sid in pending.created and not desired and not state.reported:
                self.store.delete(pending.device_id, sid)  # the refused desire leaves nothing
            else:
                self.store.save(
                    pending.device_id, sid, attrs.evolve(state, desired=desired, version=state.version + 1)
                )

    # -- checks and sending --------------------------------------------------------------------
    def _check(
        self, device_id: str, shadows: Mapping[str, ev.ShadowState], changed: Iterable[Mapping[str, Any]]
    ) -> None:
        """InvalidValue if the device's shadows, as they would be, break the vendor's limits or
        could no longer be sent to it as the answer to a shadow get."""
        if self.limits is not None:
            check_limits(self.limits, shadows, changed)
        if ev.AnswerShadow in self._sends:
            try:
                self.codec.encode(ev.AnswerShadow(device_id, _PROBE_TOKEN, shadows))
            except (CodecError, InvalidValue) as exc:
                raise InvalidValue(f"the shadow could no longer be sent to the device: {exc}") from None

    def _answer(self, device_id: str, rid: str, kind: ev.RequestKind, refusal: _Refusal | None) -> None:
        if ev.AnswerRequest not in self._sends:
            return
        stored = self.store.load(device_id)
        version = max((state.version for state in stored.values()), default=0)
        code, reason = (0, "") if refusal is None else (refusal.code, refusal.reason)

        def error(why: str) -> ev.AnswerRequest:
            return ev.AnswerRequest(device_id, rid, kind, ev.CODE_CLOUD_FAILED, _short(why), version)

        self._send_answer(device_id, ev.AnswerRequest(device_id, rid, kind, code, reason, version), error)

    def _send_answer(
        self,
        device_id: str,
        answer: ev.PlatformDownlink,
        error: Callable[[str], ev.PlatformDownlink] | None,
    ) -> None:
        """Publish an answer; if it cannot be encoded, log that and publish ``error(reason)``."""
        try:
            messages = self.codec.encode(answer)
        except (CodecError, InvalidValue) as exc:
            reason = f"the answer could not be sent: {exc}"
            self.problems.log(logging.WARNING, device_id, "unsendable answer", "to %s: %s", device_id, reason)
            if error is None:
                return
            try:
                messages = self.codec.encode(error(reason))
            except (CodecError, InvalidValue) as again:
                self.problems.log(
                    logging.WARNING,
                    device_id,
                    "unsendable error",
                    "to %s, not even an error: %s",
                    device_id,
                    again,
                )
                return
        for message in messages:
            self.publish(message)

    def _encode(self, action: ev.PlatformDownlink) -> list[ev.Outgoing]:
        try:
            return self.codec.encode(action)
        except CodecError as exc:
            raise InvalidValue(str(exc)) from None

    def _send(self, action: ev.PlatformDownlink) -> None:
        for message in self._encode(action):
            self.publish(message)


def _rule_bodies(held: Mapping[str, _HeldRule], which: Iterable[str]) -> list[dict[str, Any]]:
    """The live rules among ``which``, as the device gets them (with ``ruleVersionInShadow``)."""
    out = []
    for rule_id in which:
        rule = held[rule_id]
        if rule.body is not None:
            out.append({**rule.body, "ruleVersionInShadow": rule.version})
    return out


def _request_of(event: ev.PlatformUplink) -> tuple[str, str, ev.RequestKind] | None:
    """``(device_id, request_id, kind)`` of an event that is (part of) a request with an answer."""
    kind = _REQUEST_KIND.get(type(event))
    rid = getattr(event, "request_id", None)
    if kind is None or rid is None or event.device_id is None:
        return None
    return event.device_id, rid, kind


_HANDLERS: dict[type, Callable[[ShadowCloud, Any], _Refusal | None]] = {
    ev.Reported: ShadowCloud._reported,
    ev.ShadowRequested: ShadowCloud._shadow_requested,
    ev.DesiredCleared: ShadowCloud._desired_cleared,
    ev.DesiredAcked: ShadowCloud._on_answer,
    ev.CommandAnswered: ShadowCloud._on_answer,
    ev.ReadAnswered: ShadowCloud._on_answer,
    ev.DeviceMalformed: ShadowCloud._on_malformed,
    ev.TimeSyncRequested: ShadowCloud._time_sync,
    ev.MessageUp: ShadowCloud._keep,
    ev.EventUp: ShadowCloud._keep,
    ev.DeviceInfo: ShadowCloud._keep,
    ev.DeviceLog: ShadowCloud._keep,
    ev.SystemEventUp: ShadowCloud._keep,
    ev.FileReported: ShadowCloud._keep,
    ev.VersionReported: ShadowCloud._ota,
    ev.UpgradeReported: ShadowCloud._ota,
    ev.JobRequested: ShadowCloud._ota,
    ev.FileUrlRequested: ShadowCloud._file_url,
    ev.RulesAsked: ShadowCloud._rules_asked,
    gw.GatewayAsked: ShadowCloud._gateway_asked,
}
"""What the cloud does with each uplink (every one is also passed to ``on_uplink``)."""
