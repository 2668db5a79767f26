"""Tencent IoT over MQTT: the IoT Hub device shadow and the IoT Explorer data template, sans-IO.

Both ends of both protocols live here, plus the MQTT sign-in (:func:`username`,
:func:`password`, :func:`client_id`) and the ``Device`` factory behind ``Device.for_tencent``
(:func:`device`). A Tencent device is named ``ProductId.DeviceName`` everywhere in thingmodel
(product ids are ``[A-Z0-9]{10}``, so the first ``.`` splits it).

Tencent keeps one document per device, so the platform halves file it under one key, the
device's ProductId (as a Tencent data template is one service whose id is its ProductId); the
device half maps it to its own service id(s). IoT Hub: one service's properties are flat in
``state``; several services nest by service id. Explorer: exactly one service per device.

Hub has no commands; ours go over the device's default custom topics in the Explorer action
format (``{pid}/{dev}/control`` down, ``{pid}/{dev}/event`` up). Hub deltas carry the shadow's
version: the device applies one only when newer than the last delta or get it applied.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import random
import string
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import CodecError, InvalidValue
from ..ids import new_id as _new_id
from ..ids import validate_id
from ..protocol import messages as ev
from ..protocol.codec import EncoderTable
from ..protocol.jsonwire import dumps, errors_from_text, errors_text, field, loads_object
from ..sentinel import ABSENT

if TYPE_CHECKING:
    from ..declare.service import Service
    from ..device import Device

log = logging.getLogger("thingmodel.vendors.tencent")

#: Tencent IoT refuses MQTT messages over 16 KB.
MAX_PAYLOAD = 16 * 1024
SDK_APP_ID = "21010406"
CODE_OK = 0
CODE_FAILED = 1


# --- ids and sign-in -----------------------------------------------------------------------------
def split_device_id(device_id: str) -> tuple[str, str]:
    """``"PRODUCTID.device"`` -> ``("PRODUCTID", "device")``, both checked for topic safety."""
    validate_id("device_id", device_id)
    product_id, dot, name = device_id.partition(".")
    if not dot or not product_id or not name:
        raise InvalidValue(f"a Tencent device id is ProductId.DeviceName, got {device_id!r}")
    return product_id, name


def client_id(product_id: str, device_name: str) -> str:
    return f"{product_id}{device_name}"


def username(
    product_id: str,
    device_name: str,
    *,
    connid: str | None = None,
    expiry: int | None = None,
    sdkappid: str = SDK_APP_ID,
) -> str:
    """``{ProductId}{DeviceName};{sdkappid};{connid};{expiry}`` (expiry in Unix seconds)."""
    if connid is None:
        connid = "".join(random.choices(string.ascii_letters + string.digits, k=5))
    if expiry is None:
        expiry = int(time.time()) + 3600
    return f"{client_id(product_id, device_name)};{sdkappid};{connid};{expiry}"


def password(device_secret: str, user: str, *, algorithm: str = "hmacsha256") -> str:
    """``hex(HMAC(base64decode(secret), username)) + ";hmacsha256"`` (or ``;hmacsha1``)."""
    digests = {"hmacsha256": hashlib.sha256, "hmacsha1": hashlib.sha1}
    if algorithm not in digests:
        raise InvalidValue(f"unknown signing algorithm {algorithm!r} (known: {', '.join(digests)})")
    try:
        key = base64.b64decode(device_secret.encode(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidValue("the device secret is not valid base64 (copy it from the console)") from None
    return f"{hmac.new(key, user.encode(), digests[algorithm]).hexdigest()};{algorithm}"


# --- shared helpers ------------------------------------------------------------------------------
def _out(topic: str, body: Mapping[str, Any]) -> ev.Outgoing:
    payload = dumps(body)
    if len(payload) > MAX_PAYLOAD:
        raise CodecError(
            f"message of {len(payload)} bytes exceeds Tencent IoT's limit of {MAX_PAYLOAD} bytes"
        )
    return ev.Outgoing(topic, payload)


def _device_from(topic: str, first: int, levels: int) -> str | None:
    """``pid.dev`` from the two topic levels at ``first`` of a ``levels``-level topic."""
    parts = topic.split("/")
    return f"{parts[first]}.{parts[first + 1]}" if len(parts) == levels else None


def _token_of(body: Mapping[str, Any]) -> str | None:
    token = body.get("clientToken")
    if isinstance(token, (str, int)) and not isinstance(token, bool):
        return str(token)
    return None


def _peek_token(payload: bytes) -> str | None:
    try:
        return _token_of(loads_object(payload, limit=MAX_PAYLOAD))
    except CodecError:
        return None


def _action_reply(response: ev.CommandResponse) -> dict[str, Any]:
    body = {
        "method": "action_reply",
        "clientToken": response.request_id,
        "code": response.code,
    }
    if response.code == CODE_OK:
        body["status"] = "ok"
        body["response"] = dict(response.params)
    else:
        body["status"] = str(response.params.get("error", f"failed with code {response.code}"))
    return body


def _command_answered(device_id: str, body: dict[str, Any]) -> ev.CommandAnswered:
    token = _token_of(body)
    if token is None:
        raise CodecError("missing field 'clientToken'")
    code = field(body, "code", int)
    if code == CODE_OK:
        return ev.CommandAnswered(device_id, token, code, field(body, "response", dict, required=False) or {})
    return ev.CommandAnswered(device_id, token, code, {"error": str(body.get("status") or f"code {code}")})


def _command_request(body: dict[str, Any], sid: str | None) -> ev.CommandRequest:
    token = _token_of(body)
    if token is None:
        raise CodecError("missing field 'clientToken'")
    return ev.CommandRequest(
        token,
        field(body, "service", str, required=False) or sid,
        field(body, "actionId", str),
        field(body, "params", dict, required=False) or {},
    )


class _Layout:
    """How one device's services sit in its one Tencent document."""

    def __init__(self, service_ids: Sequence[str]) -> None:
        self.service_ids = [validate_id("service_id", sid) for sid in service_ids]
        if not self.service_ids:
            raise InvalidValue("a Tencent device needs at least one service")
        self.nested = len(self.service_ids) > 1

    def to_doc(self, services: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        if self.nested:
            return {sid: dict(values) for sid, values in services.items()}
        return {k: v for values in services.values() for k, v in values.items()}

    def from_doc(self, doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        if not self.nested:
            return {self.service_ids[0]: dict(doc)}
        out: dict[str, dict[str, Any]] = {}
        for sid, values in doc.items():
            if not isinstance(values, dict):
                raise CodecError(f"{sid!r}: expected an object of one service's properties")
            out[sid] = values
        return out

    def nulls(self, names: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        if self.nested:
            return {sid: dict.fromkeys(keys) for sid, keys in names.items() if keys}
        return {k: None for keys in names.values() for k in keys}


_HUB_DEVICE_SENDS: EncoderTable[TencentHubDevice, ev.Uplink] = EncoderTable("Tencent IoT Hub")
_HUB_PLATFORM_SENDS: EncoderTable[TencentHubPlatform, ev.PlatformDownlink] = EncoderTable("Tencent IoT Hub")
_EXPLORER_DEVICE_SENDS: EncoderTable[TencentExplorerDevice, ev.Uplink] = EncoderTable("Tencent IoT Explorer")
_EXPLORER_PLATFORM_SENDS: EncoderTable[TencentExplorerPlatform, ev.PlatformDownlink] = EncoderTable(
    "Tencent IoT Explorer"
)


# --- IoT Hub device shadow -----------------------------------------------------------------------
class TencentHubDevice:
    """The device half of the IoT Hub shadow (``$shadow/operation/...``)."""

    vendor = "tencent-hub"

    def __init__(
        self, device_id: str, *, service_ids: Sequence[str], new_id: Callable[[], str] = _new_id
    ) -> None:
        self.product_id, self.device_name = split_device_id(device_id)
        self.new_id = new_id
        self.layout = _Layout(service_ids)
        pid, dev = self.product_id, self.device_name
        self.up, self.down = f"$shadow/operation/{pid}/{dev}", f"$shadow/operation/result/{pid}/{dev}"
        self.commands_down, self.commands_up = f"{pid}/{dev}/control", f"{pid}/{dev}/event"
        #: the version of the last delta or get applied
        self.applied_version = 0

    def shadow_key(self, service_id: str) -> str:
        return self.product_id

    def subscriptions(self) -> list[str]:
        return [self.down, self.commands_down]

    def decode(self, topic: str, payload: bytes) -> list[ev.Downlink]:
        if topic == self.commands_down:
            try:
                body = loads_object(payload, limit=MAX_PAYLOAD)
                if body.get("method") != "action":
                    raise CodecError(f"unknown method {body.get('method')!r} (expected 'action')")
                return [_command_request(body, None if self.layout.nested else self.layout.service_ids[0])]
            except CodecError as exc:
                return [ev.Malformed(topic, str(exc), kind="command", request_id=_peek_token(payload))]
        if topic != self.down:
            return [ev.Malformed(topic, "not a downlink topic of this device")]
        try:
            body = loads_object(payload, limit=MAX_PAYLOAD)
            kind = field(body, "type", str)
            if kind == "delta":
                return self._delta(field(body, "payload", dict))
            token = _token_of(body)
            result = field(body, "result", int)
            if kind == "get":
                if result != CODE_OK:
                    return [ev.Rejected(token, result, "shadow get refused"), ev.ShadowSnapshot(token, {})]
                return [self._snapshot(token, field(body, "payload", dict))]
            if kind in ("update", "delete"):
                return [] if result == CODE_OK else [ev.Rejected(token, result, f"shadow {kind} refused")]
            raise CodecError(f"unknown type {kind!r}")
        except CodecError as exc:
            return [ev.Malformed(topic, str(exc), kind="desired")]

    def _delta(self, payload: dict[str, Any]) -> list[ev.Downlink]:
        state = field(payload, "state", dict, where="payload.")
        version = field(payload, "version", int, required=False, where="payload.") or 0
        if version and version <= self.applied_version:
            log.debug("delta v%d ignored: v%d already applied", version, self.applied_version)
            return []
        self.applied_version = max(version, self.applied_version)
        return [ev.DesiredChange(None, self.layout.from_doc(state), version)]

    def _snapshot(self, token: str | None, payload: dict[str, Any]) -> ev.ShadowSnapshot:
        state = field(payload, "state", dict, required=False, where="payload.") or {}
        version = field(payload, "version", int, required=False, where="payload.") or 0
        self.applied_version = version  # the cloud's word: a restarted cloud may count from lower
        desired = self.layout.from_doc(field(state, "desired", dict, required=False) or {})
        reported = self.layout.from_doc(field(state, "reported", dict, required=False) or {})
        sids = set(desired) | set(reported)
        return ev.ShadowSnapshot(
            token,
            {s: ev.ShadowState(desired.get(s, {}), reported.get(s, {}), version) for s in sids},
        )

    encoders = _HUB_DEVICE_SENDS
    """What this half can send: ``{message class: encoder}``."""

    encode = _HUB_DEVICE_SENDS.method()

    @_HUB_DEVICE_SENDS.on(ev.ReportProperties)
    def _report(self, m: ev.ReportProperties) -> list[ev.Outgoing]:
        state = {"reported": self.layout.to_doc(m.services)}
        return [_out(self.up, {"type": "update", "state": state, "clientToken": self.new_id()})]

    @_HUB_DEVICE_SENDS.on(ev.SettleDesired)
    def _settle(self, m: ev.SettleDesired) -> list[ev.Outgoing]:
        # Tencent devices clear what they handled, applied or refused: no delta comes again.
        names = {sid: list(v) for sid, v in m.applied.items()}
        for sid, reasons in m.refused.items():
            names.setdefault(sid, []).extend(reasons)
        nulls = self.layout.nulls(names)
        if not nulls:
            return []
        body = {"type": "update", "state": {"desired": nulls}, "clientToken": self.new_id()}
        return [_out(self.up, body)]

    @_HUB_DEVICE_SENDS.on(ev.RequestShadow)
    def _request_shadow(self, m: ev.RequestShadow) -> list[ev.Outgoing]:
        return [_out(self.up, {"type": "get", "clientToken": m.request_id})]

    @_HUB_DEVICE_SENDS.on(ev.CommandResponse)
    def _command_response(self, m: ev.CommandResponse) -> list[ev.Outgoing]:
        return [_out(self.commands_up, _action_reply(m))]


class TencentHubPlatform:
    """The cloud half of the IoT Hub shadow, for any device. ``clock`` gives Unix seconds for the
    answers' timestamps, ``new_id`` the token of a request that came without one."""

    vendor = "tencent-hub"

    def __init__(
        self, *, clock: Callable[[], float] = time.time, new_id: Callable[[], str] = _new_id
    ) -> None:
        self.clock = clock
        self.new_id = new_id

    def shadow_key(self, device_id: str, service_id: str) -> str:
        return split_device_id(device_id)[0]

    def subscriptions(self) -> list[str]:
        return ["$shadow/operation/+/+", "+/+/event"]

    def decode(self, topic: str, payload: bytes) -> list[ev.PlatformUplink]:
        shadow = topic.startswith("$shadow/operation/")
        device_id = _device_from(topic, 2, 4) if shadow else _device_from(topic, 0, 3)
        if device_id is None or (not shadow and not topic.endswith("/event")):
            return [ev.DeviceMalformed(None, topic, "not a device uplink topic")]
        token = None
        try:
            pid = split_device_id(device_id)[0]
            body = loads_object(payload, limit=MAX_PAYLOAD)
            token = _token_of(body)
            if not shadow:
                if body.get("method") != "action_reply":
                    raise CodecError(f"unknown method {body.get('method')!r} (expected 'action_reply')")
                return [_command_answered(device_id, body)]
            kind = field(body, "type", str)
            if kind == "get":
                return [ev.ShadowRequested(device_id, token or self.new_id())]
            if kind != "update":
                raise CodecError(f"unknown type {kind!r}")
            state = field(body, "state", dict)
            out: list[ev.PlatformUplink] = []
            reported = field(state, "reported", dict, required=False, where="state.")
            if reported:
                out.append(ev.Reported(device_id, {pid: reported}))
            if "desired" in state:
                desired = state["desired"]
                if desired is None:
                    out.append(ev.DesiredCleared(device_id, {pid: None}))
                elif isinstance(desired, dict):
                    cleared = _null_paths(desired)
                    if cleared:
                        out.append(ev.DesiredCleared(device_id, {pid: cleared}))
                else:
                    raise CodecError("field state.'desired' must be an object or null")
            return out
        except (CodecError, InvalidValue) as exc:
            kind_of: ev.RequestKind = "command" if not shadow else "other"
            return [ev.DeviceMalformed(device_id, topic, str(exc), kind=kind_of, request_id=token)]

    encoders = _HUB_PLATFORM_SENDS
    """What this half can send: ``{message class: encoder}``."""

    encode = _HUB_PLATFORM_SENDS.method()

    @_HUB_PLATFORM_SENDS.on(ev.PushDesired)
    def _push_desired(self, m: ev.PushDesired) -> list[ev.Outgoing]:
        pid, dev = split_device_id(m.device_id)
        body = {"type": "delta", "payload": {"state": _one_doc(m.services), "version": m.version or 0}}
        return [_out(f"$shadow/operation/result/{pid}/{dev}", body)]

    @_HUB_PLATFORM_SENDS.on(ev.AnswerShadow)
    def _answer_shadow(self, m: ev.AnswerShadow) -> list[ev.Outgoing]:
        pid, dev = split_device_id(m.device_id)
        desired = _one_doc({k: s.desired for k, s in m.services.items()})
        reported = _one_doc({k: s.reported for k, s in m.services.items()})
        state: dict[str, Any] = {"reported": reported}
        if desired:
            state["desired"] = desired
            state["delta"] = {k: v for k, v in desired.items() if reported.get(k, ABSENT) != v}
        version = max((s.version for s in m.services.values()), default=0)
        now = self.clock()
        body = {
            "type": "get",
            "result": CODE_OK,
            "clientToken": m.request_id,
            "timestamp": int(now),
            "payload": {"state": state, "version": version, "timestamp": int(now * 1000)},
        }
        return [_out(f"$shadow/operation/result/{pid}/{dev}", body)]

    @_HUB_PLATFORM_SENDS.on(ev.SendCommand)
    def _send_command(self, m: ev.SendCommand) -> list[ev.Outgoing]:
        pid, dev = split_device_id(m.device_id)
        body: dict[str, Any] = {"method": "action", "clientToken": m.request_id, "actionId": m.name}
        body["params"] = dict(m.params)
        if m.service_id and m.service_id != pid:
            body["service"] = m.service_id
        return [_out(f"{pid}/{dev}/control", body)]


def _one_doc(services: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The device's one document: what the cloud filed under its key(s), merged."""
    return {k: v for values in services.values() for k, v in values.items()}


def _null_paths(desired: Mapping[str, Any]) -> tuple[str, ...]:
    """Keys set to null, at the top level or one level down (a nested multi-service layout)."""
    out = [k for k, v in desired.items() if v is None]
    for value in desired.values():
        if isinstance(value, dict):
            out += [k for k, v in value.items() if v is None]
    return tuple(out)


# --- IoT Explorer data template ------------------------------------------------------------------
class TencentExplorerDevice:
    """The device half of the data template protocol (``$thing/...``); one service per device."""

    vendor = "tencent-explorer"

    def __init__(
        self,
        device_id: str,
        *,
        service_ids: Sequence[str],
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        """``clock`` gives Unix seconds for the uplinks' timestamps, ``new_id`` their tokens."""
        self.product_id, self.device_name = split_device_id(device_id)
        self.clock = clock
        self.new_id = new_id
        if len(service_ids) != 1:
            raise InvalidValue(
                f"a Tencent IoT Explorer device has one data template, so one service: {list(service_ids)}"
            )
        self.service_id = validate_id("service_id", service_ids[0])
        tail = f"{self.product_id}/{self.device_name}"
        self.topics = {
            f"{d}/{k}": f"$thing/{d}/{k}/{tail}"
            for d in ("up", "down")
            for k in ("property", "event", "action")
        }
        self._clear_token: str | None = None

    def shadow_key(self, service_id: str) -> str:
        return self.product_id

    def subscriptions(self) -> list[str]:
        return [self.topics["down/property"], self.topics["down/event"], self.topics["down/action"]]

    def decode(self, topic: str, payload: bytes) -> list[ev.Downlink]:
        kinds = {self.topics["down/property"]: "desired", self.topics["down/action"]: "command"}
        if topic not in kinds and topic != self.topics["down/event"]:
            return [ev.Malformed(topic, "not a downlink topic of this device")]
        token = _peek_token(payload)
        try:
            body = loads_object(payload, limit=MAX_PAYLOAD)
            method = field(body, "method", str)
            if method == "control":
                if token is None:
                    raise CodecError("missing field 'clientToken'")
                return [ev.DesiredChange(token, {self.service_id: field(body, "params", dict)})]
            if method == "action":
                return [_command_request(body, self.service_id)]
            code = field(body, "code", int)
            if method == "get_status_reply":
                if code != CODE_OK:
                    return [ev.Rejected(token, code, str(body.get("status"))), ev.ShadowSnapshot(token, {})]
                data = field(body, "data", dict, required=False) or {}
                control = field(data, "control", dict, required=False, where="data.") or {}
                reported = (
                    data.get("reported") if isinstance(data.get("reported"), dict) else data.get("report")
                )
                if control:
                    self._clear_token = token
                state = ev.ShadowState(
                    desired=control, reported=reported if isinstance(reported, dict) else {}
                )
                return [ev.ShadowSnapshot(token, {self.service_id: state})]
            if method.endswith("_reply"):
                return (
                    [] if code == CODE_OK else [ev.Rejected(token, code, f"{method}: {body.get('status')}")]
                )
            raise CodecError(f"unknown method {method!r}")
        except CodecError as exc:
            return [ev.Malformed(topic, str(exc), kind=kinds.get(topic, "other"), request_id=token)]  # type: ignore[arg-type]

    encoders = _EXPLORER_DEVICE_SENDS
    """What this half can send: ``{message class: encoder}``."""

    encode = _EXPLORER_DEVICE_SENDS.method()

    def _ms(self) -> int:
        return int(self.clock() * 1000)

    @_EXPLORER_DEVICE_SENDS.on(ev.ReportProperties)
    def _report(self, m: ev.ReportProperties) -> list[ev.Outgoing]:
        values = {k: v for vs in m.services.values() for k, v in vs.items()}
        body = {"method": "report", "clientToken": self.new_id(), "timestamp": self._ms(), "params": values}
        return [_out(self.topics["up/property"], body)]

    @_EXPLORER_DEVICE_SENDS.on(ev.AckDesired)
    def _ack(self, m: ev.AckDesired) -> list[ev.Outgoing]:
        body: dict[str, Any] = {"method": "control_reply", "clientToken": m.request_id}
        body.update(
            {"code": CODE_OK, "status": ""}
            if m.ok
            else {"code": CODE_FAILED, "status": errors_text(m.errors)}
        )
        return [_out(self.topics["up/property"], body)]

    @_EXPLORER_DEVICE_SENDS.on(ev.RequestShadow)
    def _request_shadow(self, m: ev.RequestShadow) -> list[ev.Outgoing]:
        body = {"method": "get_status", "clientToken": m.request_id, "type": "report", "showmeta": 0}
        return [_out(self.topics["up/property"], body)]

    @_EXPLORER_DEVICE_SENDS.on(ev.SettleDesired)
    def _settle(self, m: ev.SettleDesired) -> list[ev.Outgoing]:
        token, self._clear_token = self._clear_token, None
        if token is None:
            return []
        return [_out(self.topics["up/property"], {"method": "clear_control", "clientToken": token})]

    @_EXPLORER_DEVICE_SENDS.on(ev.CommandResponse)
    def _command_response(self, m: ev.CommandResponse) -> list[ev.Outgoing]:
        return [_out(self.topics["up/action"], _action_reply(m))]

    @_EXPLORER_DEVICE_SENDS.on(ev.EmitEvent)
    def _event_post(self, m: ev.EmitEvent) -> list[ev.Outgoing]:
        body = {
            "method": "event_post",
            "clientToken": self.new_id(),
            "eventId": m.event_type,
            "type": "info",
            "timestamp": self._ms(),
            "params": dict(m.params),
        }
        return [_out(self.topics["up/event"], body)]


class TencentExplorerPlatform:
    """The cloud half of the data template protocol, for any device."""

    vendor = "tencent-explorer"

    def __init__(
        self, *, clock: Callable[[], float] = time.time, new_id: Callable[[], str] = _new_id
    ) -> None:
        """``clock`` gives Unix seconds for timestamps, ``new_id`` the token of a tokenless request."""
        self.clock = clock
        self.new_id = new_id
        self._quirk_seen: set[str] = set()

    def shadow_key(self, device_id: str, service_id: str) -> str:
        return split_device_id(device_id)[0]

    def subscriptions(self) -> list[str]:
        return ["$thing/up/property/+/+", "$thing/up/event/+/+", "$thing/up/action/+/+"]

    def decode(self, topic: str, payload: bytes) -> list[ev.PlatformUplink]:
        parts = topic.split("/")
        device_id = _device_from(topic, 3, 5)
        if (
            device_id is None
            or parts[:2] != ["$thing", "up"]
            or parts[2] not in ("property", "event", "action")
        ):
            return [ev.DeviceMalformed(None, topic, "not a device uplink topic")]
        kind = parts[2]
        token = _peek_token(payload)
        try:
            pid = split_device_id(device_id)[0]
            body = loads_object(payload, limit=MAX_PAYLOAD)
            method = body.get("method")
            if kind == "action":
                if method != "action_reply":
                    raise CodecError(f"unknown method {method!r} (expected 'action_reply')")
                return [_command_answered(device_id, body)]
            if kind == "event":
                return self._events(device_id, pid, body)
            if method is None and "code" in body and token is not None:
                method = "control_reply"
                if device_id not in self._quirk_seen:
                    self._quirk_seen.add(device_id)
                    log.info(
                        "%s: control_reply without method (tencent-iot-device 1.0.0 quirk) accepted",
                        device_id,
                    )
            if method == "report":
                return [ev.Reported(device_id, {pid: field(body, "params", dict)})]
            if method == "control_reply":
                code = field(body, "code", int)
                errors = errors_from_text(str(body.get("status") or "")) if code != CODE_OK else {}
                return [ev.DesiredAcked(device_id, str(token), errors, code)]
            if method == "get_status":
                return [ev.ShadowRequested(device_id, token or self.new_id())]
            if method == "clear_control":
                return [ev.DesiredCleared(device_id, {pid: None})]
            if method == "report_info":
                log.info("%s reported its device info: %s", device_id, body.get("params"))
                return []
            raise CodecError(f"unknown method {method!r}")
        except (CodecError, InvalidValue) as exc:
            request_kind: ev.RequestKind = {"action": "command", "property": "desired"}.get(kind, "other")  # type: ignore[assignment]
            return [ev.DeviceMalformed(device_id, topic, str(exc), kind=request_kind, request_id=token)]

    @staticmethod
    def _events(device_id: str, pid: str, body: dict[str, Any]) -> list[ev.PlatformUplink]:
        method = body.get("method")
        if method not in ("event_post", "events_post"):
            raise CodecError(f"unknown method {method!r} (expected 'event_post' or 'events_post')")
        # the Python SDK wraps even a single event_post in "events": [...]
        items = body["events"] if isinstance(body.get("events"), list) else [body]
        out: list[ev.PlatformUplink] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise CodecError(f"events[{index}] must be an object")
            where = f"events[{index}]." if item is not body else ""
            event_id = field(item, "eventId", str, where=where)
            out.append(
                ev.EventUp(
                    device_id, pid, event_id, field(item, "params", dict, required=False, where=where) or {}
                )
            )
        return out

    encoders = _EXPLORER_PLATFORM_SENDS
    """What this half can send: ``{message class: encoder}``."""

    encode = _EXPLORER_PLATFORM_SENDS.method()

    @_EXPLORER_PLATFORM_SENDS.on(ev.PushDesired)
    def _push_desired(self, m: ev.PushDesired) -> list[ev.Outgoing]:
        pid, dev = split_device_id(m.device_id)
        body = {"method": "control", "clientToken": m.request_id, "params": _one_doc(m.services)}
        return [_out(f"$thing/down/property/{pid}/{dev}", body)]

    @_EXPLORER_PLATFORM_SENDS.on(ev.AnswerShadow)
    def _answer_shadow(self, m: ev.AnswerShadow) -> list[ev.Outgoing]:
        pid, dev = split_device_id(m.device_id)
        reported = _one_doc({k: s.reported for k, s in m.services.items()})
        desired = _one_doc({k: s.desired for k, s in m.services.items()})
        data: dict[str, Any] = {"reported": reported}
        control = {k: v for k, v in desired.items() if reported.get(k, ABSENT) != v}
        if control:
            data["control"] = control
        body = {
            "method": "get_status_reply",
            "clientToken": m.request_id,
            "code": CODE_OK,
            "status": "success",
            "type": "report",
            "data": data,
        }
        return [_out(f"$thing/down/property/{pid}/{dev}", body)]

    @_EXPLORER_PLATFORM_SENDS.on(ev.SendCommand)
    def _send_command(self, m: ev.SendCommand) -> list[ev.Outgoing]:
        pid, dev = split_device_id(m.device_id)
        body = {
            "method": "action",
            "clientToken": m.request_id,
            "actionId": m.name,
            "timestamp": int(self.clock()),
            "params": dict(m.params),
        }
        return [_out(f"$thing/down/action/{pid}/{dev}", body)]


# --- a Device on Tencent IoT ---------------------------------------------------------------------
def device(
    cls: type[Device],
    *,
    product_id: str,
    device_name: str,
    secret: str,
    services: Sequence[Service],
    explorer: bool = True,
    host: str | None = None,
    port: int = 8883,
    ca_file: str | None = None,
    insecure: bool = False,
    **options: Any,
) -> Device:
    """A device on Tencent IoT Explorer (data template, the default) or IoT Hub (shadow), with key
    authentication (``Device.for_tencent``): TLS on 8883 unless ``port=1883``."""
    from ..transport import TlsOptions

    device_id = f"{product_id}.{device_name}"
    split_device_id(device_id)  # validates both ids
    password(secret, "check")  # a secret that is not base64 fails here, not at connect

    def credentials() -> tuple[str, str | None, str | None]:
        user = username(product_id, device_name, expiry=int(time.time()) + 3600)
        return client_id(product_id, device_name), user, password(secret, user)

    tls = TlsOptions(ca_file, None, None, insecure) if port != 1883 else None
    scheme = "mqtt" if tls is None else "mqtts"
    return cls(
        services,
        device_id=device_id,
        vendor="tencent-explorer" if explorer else "tencent-hub",
        broker=f"{scheme}://{host or product_id + '.iotcloud.tencentdevices.com'}:{port}",
        credentials=credentials,
        tls=tls,
        **options,
    )
