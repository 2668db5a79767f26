"""AWS IoT over MQTT: device shadows (classic and named), commands, events and messages, sans-IO.

Topic grammar for both ends lives here; :class:`AwsDevice` is the device half. The service half
of the shadow protocol (merge, delta, versions, errors) is
:class:`thingmodel.cloud.aws_shadow.AwsShadowService`, which uses the same topic functions;
:class:`AwsPlatform` is the cloud's half of the commands protocol.

Mapping (see docs/vendors.md): one service uses the classic shadow with its properties flat in
``state``; several services use one named shadow per service, named by the service id. A delta
is applied only when its version is newer than the last delta or ``get`` applied for that shadow
-- never compared with ``update/accepted`` versions, so updates the device makes itself (it
clears refused desired values) still reach it, unlike AWS's v1 SDK (issues #94, #156).

Commands use the topics of AWS IoT's *commands* feature. Their payload is ours, documented:
``{"service": id, "command": name, "params": {...}}``; the response is AWS's
``{"status", "statusReason", "result"}`` where result values are ``{"s": text}`` or ``{"b": bool}``.

AWS IoT has no protocol for thing-model events or free-form messages, so they go on topics of
ours (docs/vendors.md), outside the reserved ``$aws/`` prefix so that an ordinary policy can allow
them, shaped like Huawei's: ``things/{thing}/events/up`` carries
``{"service", "event", "kind", "params", "timestamp"}`` (ms since the epoch) and
``things/{thing}/messages/up`` the message's bytes as they are. Nothing answers either.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import CodecError, InvalidValue
from ..ids import new_id as _new_id
from ..ids import validate_id
from ..protocol import messages as ev
from ..protocol.codec import EncoderTable
from ..protocol.jsonwire import dumps, field, loads_object

if TYPE_CHECKING:
    from ..declare.service import Service
    from ..device import Device

log = logging.getLogger("thingmodel.vendors.aws")

VENDOR = "aws"
#: AWS IoT's MQTT message size limit.
MAX_PAYLOAD = 128 * 1024
CLASSIC = "$classic"
"""The cloud side's key for a thing's classic shadow (no named shadow can be called that)."""

_THING = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
_SHADOW = re.compile(r"[a-zA-Z0-9:_-]{1,64}")
_EXECUTION = re.compile(r"[a-zA-Z0-9:_.-]{1,128}")


# --- topics (both ends) ------------------------------------------------------------------------
def validate_thing_name(name: object) -> str:
    if not isinstance(name, str) or not _THING.fullmatch(name):
        raise InvalidValue(f"AWS thing name {name!r} must be 1-128 characters of a-z A-Z 0-9 : _ -")
    return name


def validate_shadow_name(name: object) -> str:
    if not isinstance(name, str) or not _SHADOW.fullmatch(name):
        raise InvalidValue(f"AWS shadow name {name!r} must be 1-64 characters of a-z A-Z 0-9 : _ -")
    return name


def shadow_prefix(thing: str, shadow: str | None) -> str:
    """``$aws/things/{thing}/shadow`` (classic) or ``.../shadow/name/{shadow}``."""
    base = f"$aws/things/{thing}/shadow"
    return base if shadow is None else f"{base}/name/{shadow}"


def parse_shadow_topic(topic: str) -> tuple[str, str | None, str] | None:
    """``(thing, shadow or None, operation)`` for a shadow topic, e.g. ``("t", None, "update/delta")``.

    Names are returned as found; check them with :func:`validate_thing_name` and friends.
    """
    parts = topic.split("/")
    if len(parts) < 5 or parts[0] != "$aws" or parts[1] != "things" or parts[3] != "shadow":
        return None
    rest = parts[4:]
    shadow = None
    if rest[0] == "name":
        if len(rest) < 3:
            return None
        shadow, rest = rest[1], rest[2:]
    return parts[2], shadow, "/".join(rest)


def command_request_topic(thing: str, execution_id: str) -> str:
    return f"$aws/commands/things/{thing}/executions/{execution_id}/request/json"


def command_response_topic(thing: str, execution_id: str) -> str:
    return f"$aws/commands/things/{thing}/executions/{execution_id}/response/json"


def parse_command_topic(topic: str) -> tuple[str, str, str] | None:
    """``(thing, execution_id, "request"|"response")`` for a commands topic."""
    parts = topic.split("/")
    if (
        len(parts) not in (7, 8)
        or parts[:3] != ["$aws", "commands", "things"]
        or parts[4] != "executions"
        or parts[6] not in ("request", "response")
        or (len(parts) == 8 and parts[7] != "json")
    ):
        return None
    return parts[3], parts[5], parts[6]


#: our uplink topics' third level, and what each carries
_UPLINKS: dict[str, ev.RequestKind] = {"events": "event", "messages": "message"}


def event_topic(thing: str) -> str:
    """Where a thing's events go (ours: AWS IoT has no event protocol)."""
    return f"things/{thing}/events/up"


def message_topic(thing: str) -> str:
    """Where a thing's free-form messages go (ours: AWS IoT has no message protocol)."""
    return f"things/{thing}/messages/up"


def parse_uplink_topic(topic: str) -> tuple[str, str] | None:
    """``(thing, "events"|"messages")`` for one of our event or message topics, else None."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "things" or parts[2] not in _UPLINKS or parts[3] != "up":
        return None
    return parts[1], parts[2]


def result_to_wire(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A command's return value as AWS's result map: strings and booleans as such, others as JSON text."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        if isinstance(value, bool):
            out[str(key)] = {"b": value}
        elif isinstance(value, str):
            out[str(key)] = {"s": value}
        else:
            out[str(key)] = {"s": dumps(value).decode()}
    return out


def result_from_wire(result: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, entry in result.items():
        if not isinstance(entry, dict) or len(entry) != 1:
            raise CodecError(f"result {key!r} must be an object with one of 's', 'b', 'bin'")
        ((kind, value),) = entry.items()
        if kind not in ("s", "b", "bin"):
            raise CodecError(f"result {key!r} has unknown kind {kind!r}")
        out[key] = value
    return out


def _out(topic: str, body: Any) -> ev.Outgoing:
    try:
        payload = dumps(body)
    except ValueError as exc:  # NaN, infinity, a type JSON cannot hold
        raise CodecError(f"cannot encode a message for {topic}: {exc}") from None
    return _sized(ev.Outgoing(topic, payload))


def _sized(out: ev.Outgoing) -> ev.Outgoing:
    if len(out.payload) > MAX_PAYLOAD:
        raise CodecError(
            f"message of {len(out.payload)} bytes exceeds AWS IoT's limit of {MAX_PAYLOAD} bytes"
        )
    return out


_DEVICE_SENDS: EncoderTable[AwsDevice, ev.Uplink] = EncoderTable(
    "AWS IoT", "shadows, commands, events and messages"
)
_PLATFORM_SENDS: EncoderTable[AwsPlatform, ev.PlatformDownlink] = EncoderTable("AWS IoT")


# --- the device half ---------------------------------------------------------------------------
@attrs.define
class _Get:
    waiting: set[str | None]
    services: dict[str, ev.ShadowState] = attrs.field(factory=dict)


class AwsDevice:
    """The device half: one thing, its shadows, its commands, its events and messages."""

    vendor = VENDOR

    def __init__(
        self,
        thing_name: str,
        *,
        service_ids: Sequence[str] = (),
        shadows: Mapping[str, str | None] | None = None,
        commands: bool = True,
        new_id: Callable[[], str] = _new_id,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``shadows`` maps a service id to its shadow name (None = classic); by default one
        service uses the classic shadow and several use one named shadow each. ``commands=False``
        leaves the commands topics alone (an account without AWS IoT commands may refuse them).
        ``new_id`` makes the ``clientToken`` of each update, ``clock`` (Unix seconds) an event's
        timestamp."""
        self.thing = validate_thing_name(thing_name)
        self.clock = clock
        if shadows is None:
            ids = list(service_ids)
            shadows = {ids[0]: None} if len(ids) == 1 else {sid: sid for sid in ids}
        self.shadows: dict[str, str | None] = {}
        for sid, name in shadows.items():
            self.shadows[sid] = None if name is None else validate_shadow_name(name)
        taken = [name for name in self.shadows.values()]
        if len(set(taken)) != len(taken):
            raise InvalidValue(f"two services map to the same shadow: {self.shadows}")
        self.services = {name: sid for sid, name in self.shadows.items()}
        self.commands = commands
        self.new_id = new_id
        #: per shadow, the version of the last delta or get applied
        self.applied_version: dict[str | None, int] = {}
        self._gets: dict[str, _Get] = {}

    def shadow_key(self, service_id: str) -> str:
        """How the cloud side names this service's shadow."""
        name = self.shadows.get(service_id)
        return CLASSIC if name is None else name

    def subscriptions(self) -> list[str]:
        topics = []
        for name in self.shadows.values():
            p = shadow_prefix(self.thing, name)
            topics += [f"{p}/get/accepted", f"{p}/get/rejected", f"{p}/update/rejected", f"{p}/update/delta"]
        if self.commands:
            topics.append(f"$aws/commands/things/{self.thing}/executions/+/request/#")
        return topics

    # -- downlinks -----------------------------------------------------------------------------
    def decode(self, topic: str, payload: bytes) -> list[ev.Downlink]:
        command = parse_command_topic(topic)
        if command is not None and command[0] == self.thing and command[2] == "request":
            return self._command(topic, command[1], payload)
        parsed = parse_shadow_topic(topic)
        if parsed is None or parsed[0] != self.thing or parsed[1] not in self.services:
            return [ev.Malformed(topic, "not a downlink topic of this thing")]
        _, shadow, operation = parsed
        try:
            body = loads_object(payload, limit=MAX_PAYLOAD)
            if operation == "update/delta":
                return self._delta(shadow, body)
            if operation == "get/accepted":
                return self._got(shadow, body)
            if operation in ("get/rejected", "update/rejected"):
                return self._rejected(shadow, operation, body)
        except CodecError as exc:
            return [ev.Malformed(topic, str(exc), kind="desired" if "delta" in operation else "other")]
        return [ev.Malformed(topic, f"unexpected shadow topic {operation!r}")]

    def _command(self, topic: str, execution_id: str, payload: bytes) -> list[ev.Downlink]:
        if not _EXECUTION.fullmatch(execution_id):
            return [ev.Malformed(topic, f"bad execution id {execution_id!r}")]
        try:
            body = loads_object(payload, limit=MAX_PAYLOAD)
            sid = field(body, "service", str, required=False)
            name = field(body, "command", str)
            params = field(body, "params", dict, required=False) or {}
        except CodecError as exc:
            return [ev.Malformed(topic, str(exc), kind="command", request_id=execution_id)]
        return [ev.CommandRequest(execution_id, sid, name, params)]

    def _delta(self, shadow: str | None, body: dict[str, Any]) -> list[ev.Downlink]:
        state = field(body, "state", dict)
        version = field(body, "version", int)
        last = self.applied_version.get(shadow)
        if last is not None and version <= last:
            log.debug("delta v%d of %s ignored: v%d already applied", version, shadow or "classic", last)
            return []
        self.applied_version[shadow] = version
        return [ev.DesiredChange(None, {self.services[shadow]: state}, version)]

    def _got(self, shadow: str | None, body: dict[str, Any]) -> list[ev.Downlink]:
        state = field(body, "state", dict, required=False) or {}
        version = field(body, "version", int, required=False) or 0
        self.applied_version[shadow] = max(version, self.applied_version.get(shadow, 0))
        snapshot = ev.ShadowState(
            desired=field(state, "desired", dict, required=False, where="state.") or {},
            reported=field(state, "reported", dict, required=False, where="state.") or {},
            version=version,
        )
        return self._answered(shadow, field(body, "clientToken", str, required=False), snapshot)

    def _answered(
        self, shadow: str | None, token: str | None, state: ev.ShadowState | None
    ) -> list[ev.Downlink]:
        rid = token.rpartition(":")[0] if token else ""
        get = self._gets.get(rid)
        if get is None or shadow not in get.waiting:
            # Not ours (another client of the thing asked): still worth applying.
            if state is None:
                return []
            return [ev.ShadowSnapshot(None, {self.services[shadow]: state})]
        get.waiting.discard(shadow)
        if state is not None:
            get.services[self.services[shadow]] = state
        if get.waiting:
            return []
        del self._gets[rid]
        return [ev.ShadowSnapshot(rid, get.services)]

    def _rejected(self, shadow: str | None, operation: str, body: dict[str, Any]) -> list[ev.Downlink]:
        code = field(body, "code", int)
        message = field(body, "message", str, required=False) or ""
        token = field(body, "clientToken", str, required=False)
        if operation == "get/rejected":
            out: list[ev.Downlink] = []
            if code != 404:  # 404: no shadow yet, which is an empty one
                out.append(ev.Rejected(token, code, f"get of {shadow or 'the classic shadow'}: {message}"))
            return out + self._answered(shadow, token, None)
        return [ev.Rejected(token, code, f"update of {shadow or 'the classic shadow'}: {message}")]

    # -- uplinks -------------------------------------------------------------------------------
    encoders = _DEVICE_SENDS
    """What this half can send: ``{message class: encoder}``."""

    encode = _DEVICE_SENDS.method()

    @_DEVICE_SENDS.on(ev.ReportProperties)
    def _report(self, m: ev.ReportProperties) -> list[ev.Outgoing]:
        return [self._update(sid, {"reported": dict(values)}) for sid, values in m.services.items()]

    @_DEVICE_SENDS.on(ev.SettleDesired)
    def _settle(self, m: ev.SettleDesired) -> list[ev.Outgoing]:
        # A refused value leaves desired, so it is neither retried nor pending forever.
        return [
            self._update(sid, {"desired": dict.fromkeys(names)}) for sid, names in m.refused.items() if names
        ]

    @_DEVICE_SENDS.on(ev.RequestShadow)
    def _request_shadow(self, m: ev.RequestShadow) -> list[ev.Outgoing]:
        names = set(self.shadows.values())
        self._gets[m.request_id] = _Get(waiting=set(names))
        return [
            _out(f"{shadow_prefix(self.thing, name)}/get", {"clientToken": f"{m.request_id}:{index}"})
            for index, name in enumerate(sorted(names, key=lambda n: n or ""))
        ]

    @_DEVICE_SENDS.on(ev.CommandResponse)
    def _command_response(self, m: ev.CommandResponse) -> list[ev.Outgoing]:
        body: dict[str, Any] = {"status": "SUCCEEDED" if m.code == 0 else "FAILED"}
        if m.code == 0:
            body["result"] = result_to_wire(m.params)
        else:
            reason = m.params.get("error", f"command failed with code {m.code}")
            body["statusReason"] = {"reasonCode": "COMMAND_FAILED", "reasonDescription": str(reason)[:1024]}
        return [_out(command_response_topic(self.thing, m.request_id), body)]

    @_DEVICE_SENDS.on(ev.EmitEvent)
    def _event(self, m: ev.EmitEvent) -> list[ev.Outgoing]:
        body = {
            "service": m.service_id,
            "event": m.event_type,
            "kind": m.kind,
            "params": dict(m.params),
            "timestamp": int(self.clock() * 1000),
        }
        return [_out(event_topic(self.thing), body)]

    @_DEVICE_SENDS.on(ev.SendMessage)
    def _message(self, m: ev.SendMessage) -> list[ev.Outgoing]:
        if not isinstance(m.payload, (bytes, bytearray, memoryview)):
            raise CodecError(f"a message is bytes, not {type(m.payload).__name__}")
        return [_sized(ev.Outgoing(message_topic(self.thing), bytes(m.payload)))]

    def _update(self, sid: str, state: dict[str, Any]) -> ev.Outgoing:
        if sid not in self.shadows:
            raise CodecError(f"service {sid!r} has no shadow on this thing (shadows: {self.shadows})")
        topic = f"{shadow_prefix(self.thing, self.shadows[sid])}/update"
        return _out(topic, {"state": state, "clientToken": self.new_id()})


# --- the cloud's half of commands --------------------------------------------------------------
class AwsPlatform:
    """Sends command executions and reads their responses, and reads the things' events and
    messages (the shadow service is separate)."""

    vendor = VENDOR

    def subscriptions(self) -> list[str]:
        return [
            "$aws/commands/things/+/executions/+/response/#",
            event_topic("+"),
            message_topic("+"),
        ]

    def decode(self, topic: str, payload: bytes) -> list[ev.PlatformUplink]:
        uplink = parse_uplink_topic(topic)
        if uplink is not None:
            return self._uplink(topic, payload, *uplink)
        parsed = parse_command_topic(topic)
        if parsed is None or parsed[2] != "response":
            return [ev.DeviceMalformed(None, topic, "not a commands response topic")]
        thing, execution_id, _ = parsed
        try:
            body = loads_object(payload, limit=MAX_PAYLOAD)
            status = field(body, "status", str)
            if status in ("IN_PROGRESS", "CREATED"):
                return []
            if status == "SUCCEEDED":
                params = result_from_wire(field(body, "result", dict, required=False) or {})
                return [ev.CommandAnswered(thing, execution_id, 0, params)]
            reason = field(body, "statusReason", dict, required=False) or {}
            text = reason.get("reasonDescription") or reason.get("reasonCode") or status
            return [ev.CommandAnswered(thing, execution_id, 1, {"error": str(text), "status": status})]
        except CodecError as exc:
            return [ev.DeviceMalformed(thing, topic, str(exc), kind="command", request_id=execution_id)]

    @staticmethod
    def _uplink(topic: str, payload: bytes, thing: str, which: str) -> list[ev.PlatformUplink]:
        kind = _UPLINKS[which]
        try:
            validate_thing_name(thing)
        except InvalidValue as exc:
            return [ev.DeviceMalformed(None, topic, str(exc), kind=kind)]
        if which == "messages":
            if len(payload) > MAX_PAYLOAD:
                reason = f"message of {len(payload)} bytes exceeds AWS IoT's limit of {MAX_PAYLOAD} bytes"
                return [ev.DeviceMalformed(thing, topic, reason, kind=kind)]
            return [ev.MessageUp(thing, bytes(payload))]
        try:
            body = loads_object(payload, limit=MAX_PAYLOAD)
            service_id = field(body, "service", str)
            event_type = field(body, "event", str)
            params = field(body, "params", dict, required=False) or {}
            field(body, "kind", str, required=False)
            field(body, "timestamp", int, required=False)
            validate_id("service id", service_id)
            validate_id("event name", event_type)
        except (CodecError, InvalidValue) as exc:
            return [ev.DeviceMalformed(thing, topic, str(exc), kind=kind)]
        return [ev.EventUp(thing, service_id, event_type, params)]

    encoders = _PLATFORM_SENDS
    """What this half can send: ``{message class: encoder}``."""

    def shadow_key(self, device_id: str, service_id: str) -> str:
        return service_id

    encode = _PLATFORM_SENDS.method()

    @_PLATFORM_SENDS.on(ev.SendCommand)
    def _send_command(self, m: ev.SendCommand) -> list[ev.Outgoing]:
        validate_thing_name(m.device_id)
        body: dict[str, Any] = {"command": m.name, "params": dict(m.params)}
        if m.service_id:
            body["service"] = m.service_id
        return [_out(command_request_topic(m.device_id, m.request_id), body)]


# --- a Device on AWS IoT -----------------------------------------------------------------------
def device(
    cls: type[Device],
    *,
    thing_name: str,
    endpoint: str,
    cert_file: str,
    key_file: str,
    services: Sequence[Service],
    ca_file: str | None = None,
    port: int = 8883,
    shadows: Mapping[str, str | None] | None = None,
    commands: bool = True,
    **options: Any,
) -> Device:
    """A device on AWS IoT Core (``Device.for_aws``): mutual TLS with the thing's certificate,
    client id = thing name.

    ``shadows`` maps service ids to shadow names (None = the classic shadow); by default one
    service uses the classic shadow and several use one named shadow each. ``commands=False``
    leaves AWS IoT's commands topics alone."""
    from ..transport import TlsOptions

    return cls(
        services,
        device_id=thing_name,
        vendor=VENDOR,
        broker=f"mqtts://{endpoint}:{port}",
        client_id=thing_name,
        tls=TlsOptions(ca_file, cert_file, key_file),
        codec_options={"shadows": shadows, "commands": commands},
        **options,
    )


# --- access: identities, credential checks and topic rules (the platform side) ---
# What AWS IoT checks when a thing connects (its client certificate), and which topics it may use,
# for the local cloud's broker policy (thingmodel.cloud.access). Imported here so this section
# stays self-contained.
import hashlib  # noqa: E402
import hmac  # noqa: E402

_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def validate_device_id(device_id: object) -> str:
    """A thing name as AWS accepts it (InvalidValue otherwise)."""
    return validate_thing_name(device_id)


def identify(client_id: str, username: str | None) -> str | None:
    """The thing a connecting client claims: its client id, when that is a valid thing name."""
    try:
        return validate_thing_name(client_id)
    except InvalidValue:
        return None


def certificate_sha256(der: bytes) -> str:
    """A certificate's SHA-256 fingerprint (of its DER bytes), as lowercase hex."""
    return hashlib.sha256(der).hexdigest()


def validate_fingerprint(text: object) -> str:
    """A SHA-256 fingerprint as 64 lowercase hex digits; colons and upper case are accepted."""
    if isinstance(text, str):
        normal = text.replace(":", "").strip().lower()
        if _FINGERPRINT.fullmatch(normal):
            return normal
    raise InvalidValue(f"{text!r} is not a SHA-256 fingerprint (64 hex digits)")


def check_certificate(registered_sha256_hex: str, peer_cert_der: bytes | None) -> str | None:
    """None when the client's certificate is the registered one (by SHA-256), else the reason."""
    if not peer_cert_der:
        return "no client certificate presented"
    presented = certificate_sha256(peer_cert_der)
    if not hmac.compare_digest(presented, validate_fingerprint(registered_sha256_hex)):
        return f"its client certificate (SHA-256 {presented[:16]}...) is not the registered one"
    return None


def implicit_subscriptions(device_id: str) -> list[tuple[str, int]]:
    """Empty: AWS's SDKs subscribe to their topics themselves."""
    return []


def device_topics(device_id: str) -> tuple[list[str], list[str]]:
    """``(publish filters, subscribe filters)`` of one thing: its shadows, jobs and commands, and
    its own namespace ``things/{thing}/...`` (our event and message topics)."""
    thing = validate_thing_name(device_id)
    own = [f"$aws/things/{thing}/#", f"$aws/commands/things/{thing}/#", f"things/{thing}/#"]
    return own, list(own)


def topic_device(topic: str) -> str | None:
    """The thing a topic of this protocol is about (shadows, jobs, commands, our events and
    messages), else None."""
    parts = topic.split("/")
    if len(parts) > 3 and parts[0] == "$aws" and parts[1] == "things":
        return parts[2] or None
    if len(parts) > 4 and parts[:3] == ["$aws", "commands", "things"]:
        return parts[3] or None
    if len(parts) > 2 and parts[0] == "things":
        return parts[1] or None
    return None
