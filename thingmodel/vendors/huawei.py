"""Huawei IoTDA over MQTT: both ends of the protocol, sans-IO.

:class:`HuaweiDevice` is the device half (what a device subscribes to, decodes and publishes);
:class:`HuaweiPlatform` is the platform half, used by the local cloud and the fake cloud. Every
topic lives under ``$oc/devices/{device_id}/sys/``; requests carry ``request_id={id}`` as their
last topic level and the answer goes to ``.../response/request_id={id}``.

The platform half also answers the system services the local cloud serves: ``$time_sync``
(``time_sync_request`` -> ``time_sync_response`` on ``events/down``), and reads ``$sdk_info``
(device info) and ``$log`` (device log) events into their own messages; other ``$`` services'
events come out as :class:`~thingmodel.protocol.messages.SystemEventUp`. A malformed shadow get
is answered on its response topic with ``result_code`` != 0 (and an empty ``shadow``): the
docs define no error form for it, so this mirrors the set and command responses.

Shadow limits (:data:`SHADOW_LIMITS`): IoTDA documents none but the 1 MB message limit and that
shadow keys hold no ``.``, ``$`` or NUL; we also bound nesting at the depth our JSON guard allows
(``jsonwire.MAX_DEPTH``), so that every stored shadow can always be encoded again.

Device features are IoTDA's system services on ``events/up`` / ``events/down``, both halves:
``$ota`` (``version_query``, ``firmware_upgrade``/``software_upgrade`` and their ``_v2`` forms,
``version_report``, ``upgrade_progress_report``), ``$log`` (``log_config``, ``log_report``),
``$file_manager`` (``get_upload_url``/``get_download_url``, their ``_response`` and the
``*_result_report``), ``$sdk_info`` (``sdk_info_report``) and ``$device_rule`` (on-device
rules: their versions come as a ``properties/set`` of that service, ``{rule_id: {"version": n}}``,
decoded into :class:`~thingmodel.protocol.messages.RulesChanged` beside any
``DesiredChange`` of the other services; ``device_rule_config_request`` {ruleIds, delIds} and
its ``_response`` {rulesInfos}). What the device half cannot read
in one of these entries is a :class:`~thingmodel.protocol.messages.Malformed` for that entry
alone (``kind="ota"`` for ``$ota``, naming the offer's ``task_id`` when it has one); the other
entries of the message still decode. An upgrade's failure maps to IoTDA's ``result_code`` by
:data:`FAILURE_CODES`, and back by :data:`CODE_FAILURES`. A device's custom topics are
``$oc/devices/{device_id}/user/{name}`` (:meth:`HuaweiDevice.custom_topic`).

Gateways and their children (sub-devices), both halves. A codec made for a child
(``HuaweiDevice(child, gateway_id=gateway)``) speaks on the gateway's topics: what it sends names
the child in ``object_device_id`` (its reports go up as a one-child
``gateway/sub_devices/properties/report``), and it decodes only downlinks naming it. The
gateway's own codec finds the child a downlink is for (:meth:`HuaweiDevice.addressee`), merges
children's reports into batch reports of at most :data:`MAX_BATCH` children
(:meth:`HuaweiDevice.batch`), and speaks ``$sub_device_manager``: add/delete requests, status
and sync up (``event_id`` is the request id), notifies and responses down. A device that is no
gateway decodes a downlink naming another device as a ``Malformed`` naming that id. The
platform half reaches a child through its gateway (:attr:`HuaweiPlatform.parent_of`), refuses
an uplink naming a device that is not the gateway's child, and names the child in the answers
to requests it sent the child (by request id: the answers carry no ``object_device_id``).
IoTDA answers a sync with add and delete notifies (api-iothub iot_06_v5_3021), which is what
the platform half sends for a :class:`~thingmodel.protocol.gateway.ChildrenChanged`: on the
wire a complete list cannot say that it is complete, so the device half decodes every notify
with ``complete=False``.

Also here: the MQTT credentials IoTDA expects (:func:`client_id`, :func:`password`) and the
``Device`` factory behind ``Device.for_huawei`` (:func:`device`).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import posixpath
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import attrs

from ..errors import CodecError, InvalidValue, NotSupported
from ..ids import new_id as _new_id
from ..ids import validate_id
from ..protocol import gateway as gw
from ..protocol import messages as ev
from ..protocol.codec import EncoderTable
from ..protocol.jsonwire import (
    MAX_DEPTH,
    dumps,
    errors_from_text,
    errors_text,
    field,
    loads_object,
    require_finite,
)

if TYPE_CHECKING:
    from ..declare.service import Service
    from ..device import Device

VENDOR = "huawei"
#: IoTDA refuses MQTT messages over 1 MB.
MAX_PAYLOAD = 1024 * 1024
RESULT_OK = 0
RESULT_FAILED = 1
_REQUEST = "request_id="
#: what one device's shadow may hold (see the module's docstring)
SHADOW_LIMITS = ev.ShadowLimits(max_depth=MAX_DEPTH, max_bytes=MAX_PAYLOAD, forbidden_in_names=".$\0")
TIME_SYNC = "$time_sync"
OTA = "$ota"
LOG = "$log"
FILES = "$file_manager"
SDK_INFO = "$sdk_info"
DEVICE_RULE = "$device_rule"
#: a deleted rule's version in a ``$device_rule`` write
RULE_DELETED = -1
SUB_DEVICES = "$sub_device_manager"
#: children one ``gateway/sub_devices/properties/report`` holds (IoTDA's limit)
MAX_BATCH = 100
#: children one ``sub_device_update_status`` names (IoTDA: 1..100)
MAX_STATUS = 100
#: children one ``add_sub_device_request`` adds (IoTDA's limit)
MAX_ADD = 50
#: bytes of a child's ``extension_info`` (IoTDA's limit)
MAX_EXTENSION = 1024
#: requests and children the platform half remembers to answer with what the wire needs
MAX_REMEMBERED = 10_000
#: ``error_code`` of a child the platform half answers as failed: IoTDA documents no values for
#: these, so it is the local cloud's refusal code (``messages.CODE_BAD_REQUEST``), as text
CHILD_REFUSED = str(ev.CODE_BAD_REQUEST)
_BATCH = "gateway/sub_devices/properties/report"
_OBJECT = "object_device_id"
_ONLINE, _OFFLINE = "ONLINE", "OFFLINE"

#: ``UpgradeProgress.failure`` -> ``upgrade_progress_report`` ``result_code`` (IoTDA's codes)
FAILURE_CODES: dict[ev.UpgradeFailure, int] = {
    "busy": 1,  # device in use
    "current": 3,  # already the latest version
    "download": 6,  # download timeout
    "verify": 7,  # package verification failed
    "unsupported": 8,  # package type not supported
    "install": 10,  # installing the package failed
}
#: a failure with no category, and IoTDA's "internal error"
RESULT_INTERNAL = 255
#: ``result_code`` -> failure: the inverse of :data:`FAILURE_CODES`, plus IoTDA's codes we never
#: send mapped to the nearest category (2 poor signal and 5 no storage space: the package cannot
#: be fetched; 4 low battery: not now; 9 out of memory: the install). Codes not here: None.
CODE_FAILURES: dict[int, ev.UpgradeFailure | None] = {
    **{code: failure for failure, code in FAILURE_CODES.items()},
    2: "download",
    4: "busy",
    5: "download",
    9: "install",
    RESULT_INTERNAL: None,
}
#: what an ``installing`` progress report says: IoTDA has no state, only a progress and a text
INSTALLING = "installing"
INSTALLING_PROGRESS = 99
#: seconds an upgrade offer says its access token lasts (IoTDA's own example)
OFFER_EXPIRES = 86400
#: the bucket the platform half names in its file URL answers
BUCKET = "thingmodel"
#: the ``type`` of a ``log_report`` entry
LOG_TYPES = ("DEVICE_STATUS", "DEVICE_PROPERTY", "DEVICE_MESSAGE", "DEVICE_COMMAND")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# end_time of log_config: IoTDA's yyyyMMdd'T'HHmmss'Z'; an older doc page shows ISO 8601
_COMPACT_TIME = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")
_ISO_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,3})?Z")


def client_id(device_id: str, timestamp: str, *, check_timestamp: bool = True) -> str:
    """``{device_id}_0_{0|1}_{YYYYMMDDHH}``: 1 asks the platform to check the timestamp."""
    validate_id("device_id", device_id)
    return f"{device_id}_0_{1 if check_timestamp else 0}_{timestamp}"


def password(secret: str, timestamp: str) -> str:
    """HMAC-SHA256 of the device secret keyed by the timestamp, as lowercase hex."""
    return hmac.new(timestamp.encode(), secret.encode(), hashlib.sha256).hexdigest()


def timestamp(now: float | None = None) -> str:
    """The UTC ``YYYYMMDDHH`` stamp used in the client id and password."""
    return time.strftime("%Y%m%d%H", time.gmtime(now))


def _prefix(device_id: str) -> str:
    return f"$oc/devices/{device_id}/sys/"


def _split(topic: str) -> tuple[str, str, str | None] | None:
    """``(device_id, path, request_id)`` for a topic under ``$oc/devices/+/sys/``."""
    parts = topic.split("/")
    if len(parts) < 5 or parts[0] != "$oc" or parts[1] != "devices" or parts[3] != "sys":
        return None
    rest = parts[4:]
    request_id = None
    if rest[-1].startswith(_REQUEST):
        request_id = rest.pop()[len(_REQUEST) :]
        if not request_id:
            return None
    return parts[2], "/".join(rest), request_id


def _services_values(body: dict[str, Any], key: str = "properties") -> dict[str, dict[str, Any]]:
    """``{"services": [{"service_id", key: {...}}]}`` as ``{service_id: {...}}``."""
    items = field(body, "services", list)
    out: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(items):
        where = f"services[{index}]."
        if not isinstance(item, dict):
            raise CodecError(f"services[{index}] must be an object")
        sid = field(item, "service_id", str, where=where)
        values = field(item, key, dict, where=where)
        if sid in out:
            raise CodecError(f"service {sid!r} appears twice in services")
        out[sid] = values
    return out


def _services_list(services: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"service_id": sid, "properties": dict(values)} for sid, values in services.items()]


def _events_to_wire(service_id: str, event_type: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """One thing-model event as IoTDA's ``events/up`` and ``events/down`` body."""
    return {"services": [{"service_id": service_id, "event_type": event_type, "paras": dict(params)}]}


def _events_from_wire(body: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], Any]]:
    """``(service_id, event_type, params, event_id)`` for each entry of an events body; the
    ``event_id`` as it came (only the gateway's requests and answers read it)."""
    out = []
    for index, item in enumerate(field(body, "services", list)):
        if not isinstance(item, dict):
            raise CodecError(f"services[{index}] must be an object")
        where = f"services[{index}]."
        out.append(
            (
                field(item, "service_id", str, where=where),
                field(item, "event_type", str, where=where),
                field(item, "paras", dict, required=False, where=where) or {},
                item.get("event_id"),
            )
        )
    return out


def _id_of(what: str, value: object) -> str:
    """An id that goes into a topic or back to the device, checked (CodecError otherwise)."""
    try:
        return validate_id(what, value)
    except InvalidValue as exc:
        raise CodecError(str(exc)) from None


def _system_message(payload: bytes) -> dict[str, Any] | None:
    """A ``messages/up|down`` payload in IoTDA's system format naming a device
    (``{"object_device_id": "...", "content": ...}``), else None (a free-form message)."""
    if b'"object_device_id"' not in payload:
        return None
    try:
        body = loads_object(payload, limit=MAX_PAYLOAD)
    except CodecError:
        return None
    return body if isinstance(body.get(_OBJECT), str) else None


def _content(body: dict[str, Any]) -> bytes:
    """A system-format message's ``content`` as the bytes a child sent or gets: text as UTF-8,
    other JSON as its JSON, none as nothing."""
    content = body.get("content")
    if content is None:
        return b""
    if isinstance(content, str):
        return content.encode()
    try:
        return dumps(content)
    except ValueError as exc:
        raise CodecError(f"field 'content' cannot be JSON again: {exc}") from None


def _message_text(what: str, payload: bytes) -> str:
    """A child's message as the ``content`` text IoTDA carries it in."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CodecError(
            f"{what} must be UTF-8 text: IoTDA carries a child's message as the text of its gateway's"
        ) from None


_DEVICE_SENDS: EncoderTable[HuaweiDevice, ev.Uplink] = EncoderTable(VENDOR)
_PLATFORM_SENDS: EncoderTable[HuaweiPlatform, ev.PlatformDownlink] = EncoderTable(VENDOR)


class HuaweiDevice:
    """The device half: decodes downlinks into events, encodes actions into uplinks.

    With ``gateway_id`` it is the codec of that gateway's child ``device_id``: it subscribes to
    nothing (the gateway's topics carry it), decodes the downlinks the gateway routed to it
    (those naming it in ``object_device_id``) and puts what it sends on the gateway's topics.
    """

    vendor = VENDOR

    def __init__(
        self, device_id: str, *, service_ids: Sequence[str] = (), gateway_id: str | None = None
    ) -> None:
        self.device_id = validate_id("device_id", device_id)
        #: the gateway this child is reached through (None: the device connects itself)
        self.gateway_id = None if gateway_id is None else validate_id("gateway_id", gateway_id)
        if gateway_id == device_id:
            raise InvalidValue(f"device {device_id} cannot be its own gateway")
        #: the device whose connection and topics carry this codec's messages
        self.connection_id = gateway_id or device_id
        self.prefix = _prefix(self.connection_id)
        # what a child's bodies say about whom they are for; a device's own say nothing
        self._envelope: dict[str, str] = {} if gateway_id is None else {_OBJECT: device_id}

    def subscriptions(self) -> list[str]:
        """Downlink filters, one per topic (IoTDA subscribes implicitly; generic brokers do not).
        A child has none of its own: its downlinks come on its gateway's topics."""
        if self.gateway_id is not None:
            return []
        p = self.prefix
        return [
            f"{p}properties/set/+",
            f"{p}properties/get/+",
            f"{p}commands/+",
            f"{p}shadow/get/response/+",
            f"{p}messages/down",
            f"{p}events/down",
        ]

    def addressee(self, topic: str, payload: bytes) -> str | None:
        """The child a downlink on this device's topics is for (its ``object_device_id``), None
        when it is this device's own (or not one this device could read). Never raises."""
        if b'"object_device_id"' not in payload:
            return None
        try:
            parsed = _split(topic)
            if parsed is None or parsed[0] != self.connection_id:
                return None
            target = loads_object(payload, limit=MAX_PAYLOAD).get(_OBJECT)
        except Exception:  # decode() says what is wrong with it
            return None
        if isinstance(target, str) and target and target not in (self.device_id, self.connection_id):
            return target
        return None

    def decode(self, topic: str, payload: bytes) -> list[ev.Downlink]:
        parsed = _split(topic)
        if parsed is None or parsed[0] != self.connection_id:
            mine = "this device" if self.gateway_id is None else f"gateway {self.gateway_id}"
            return [ev.Malformed(topic, f"not a downlink topic of {mine}")]
        _, path, rid = parsed
        kind = _DEVICE_KINDS.get(path)
        if kind is None or (rid is None) != (kind in ("message", "event")):
            return [ev.Malformed(topic, f"unknown downlink {path!r}", request_id=rid)]
        try:
            if kind == "message":
                return [self._message(payload)]
            body = loads_object(payload, limit=MAX_PAYLOAD)
            self._check_addressed(field(body, _OBJECT, str, required=False) or None)
            if kind == "event":
                return _events_down(topic, body, child=self.gateway_id is not None)
            assert rid is not None
            return self._decode(kind, rid, body)
        except CodecError as exc:
            return [ev.Malformed(topic, str(exc), kind=kind, request_id=rid)]

    def _check_addressed(self, target: str | None) -> None:
        """CodecError naming the device a downlink is for when that is not this one."""
        if self.gateway_id is None:
            if target is not None and target != self.device_id:
                raise CodecError(f"a downlink for device {_short(target)}, not for {self.device_id}")
        elif target != self.device_id:
            whom = (
                f"gateway {self.gateway_id}"
                if target in (None, self.gateway_id)
                else f"device {_short(target)}"
            )
            raise CodecError(f"a downlink for {whom}, not for its child {self.device_id}")

    def _message(self, payload: bytes) -> ev.Downlink:
        """``messages/down``: free-form for a device (unless it names another one); a child's is
        the system format naming it, and its ``content`` is the message."""
        body = _system_message(payload)
        self._check_addressed((body[_OBJECT] or None) if body is not None else None)
        if self.gateway_id is None:
            return ev.CloudMessage(payload)
        assert body is not None  # a child's message names it, or _check_addressed refused it
        return ev.CloudMessage(_content(body))

    def _decode(self, kind: str, rid: str, body: dict[str, Any]) -> list[ev.Downlink]:
        if kind == "desired":
            services = _services_values(body)
            if DEVICE_RULE not in services:
                return [ev.DesiredChange(rid, services)]
            versions = _rule_versions(services.pop(DEVICE_RULE))
            if not services:  # nothing else to write: the rules' handler answers the request
                return [ev.RulesChanged(versions, rid)]
            return [ev.RulesChanged(versions), ev.DesiredChange(rid, services)]
        if kind == "read":
            return [ev.PropertyRead(rid, field(body, "service_id", str, required=False) or None)]
        if kind == "command":
            return [
                ev.CommandRequest(
                    rid,
                    field(body, "service_id", str, required=False),
                    field(body, "command_name", str),
                    field(body, "paras", dict, required=False) or {},
                )
            ]
        # the answer to a shadow get
        code = field(body, "result_code", int, required=False) or RESULT_OK
        if code != RESULT_OK:  # the sync goes on with an empty shadow; the refusal is surfaced
            reason = field(body, "result_desc", str, required=False) or f"result code {code}"
            return [ev.Rejected(rid, code, f"shadow get refused: {reason}"), ev.ShadowSnapshot(rid, {})]
        return [ev.ShadowSnapshot(rid, _shadow_from_wire(field(body, "shadow", list)))]

    def custom_topic(self, name: str) -> str:
        """The full topic of this device's custom topic ``name`` (a name or a filter, checked by
        the caller): ``$oc/devices/{device_id}/user/{name}``. NotSupported for a child: it has no
        topics of its own (custom topics are its gateway's)."""
        if self.gateway_id is not None:
            raise NotSupported(
                f"{VENDOR}: child {self.device_id} of gateway {self.gateway_id} has no topics of its "
                "own; custom topics are the gateway's"
            )
        return f"$oc/devices/{self.device_id}/user/{name}"

    def batch(self, messages: list[ev.Outgoing]) -> list[ev.Outgoing]:
        """``messages`` with the children's report publishes merged into batch reports of at most
        :data:`MAX_BATCH` children (and :data:`MAX_PAYLOAD` bytes) each. A batch goes where the
        first report it holds was; the other messages pass through unchanged and in order. The
        same child twice is two entries, in order (the platform applies them in turn)."""
        topic = f"{self.prefix}{_BATCH}"
        budget = MAX_PAYLOAD - len(b'{"devices":[]}')
        slots: list[ev.Outgoing | int] = []  # an int stands for the batch of that index
        batches: list[list[bytes]] = []
        size = 0
        for message in messages:
            entries = _batch_entries(message, topic)
            if entries is None:
                slots.append(message)
                continue
            for entry in entries:
                grows = size + len(entry) + 1
                if not batches or len(batches[-1]) >= MAX_BATCH or grows > budget:
                    batches.append([])
                    slots.append(len(batches) - 1)
                    size = 0
                size += len(entry) + (1 if batches[-1] else 0)
                batches[-1].append(entry)
        return [
            slot
            if isinstance(slot, ev.Outgoing)
            else ev.Outgoing(topic, b'{"devices":[' + b",".join(batches[slot]) + b"]}")
            for slot in slots
        ]

    encoders = _DEVICE_SENDS
    """What this half can send: ``{message class: encoder}``."""

    def shadow_key(self, service_id: str) -> str:
        return service_id

    encode = _DEVICE_SENDS.method()

    @_DEVICE_SENDS.on(ev.ReportProperties)
    def _report(self, m: ev.ReportProperties) -> list[ev.Outgoing]:
        if self.gateway_id is not None:  # a child reports in its gateway's batch report
            entry = {"device_id": self.device_id, "services": _services_list(m.services)}
            return [_out(f"{self.prefix}{_BATCH}", {"devices": [entry]})]
        return [_out(f"{self.prefix}properties/report", {"services": _services_list(m.services)})]

    @_DEVICE_SENDS.on(ev.AckDesired)
    def _ack(self, m: ev.AckDesired) -> list[ev.Outgoing]:
        body = (
            {"result_code": RESULT_OK, "result_desc": "success"}
            if m.ok
            else {"result_code": RESULT_FAILED, "result_desc": errors_text(m.errors)}
        )
        return [_out(f"{self.prefix}properties/set/response/{_REQUEST}{m.request_id}", body)]

    @_DEVICE_SENDS.on(ev.ReadResponse)
    def _read_response(self, m: ev.ReadResponse) -> list[ev.Outgoing]:
        topic = f"{self.prefix}properties/get/response/{_REQUEST}{m.request_id}"
        return [_out(topic, {"services": _services_list(m.services)})]

    @_DEVICE_SENDS.on(ev.CommandResponse)
    def _command_response(self, m: ev.CommandResponse) -> list[ev.Outgoing]:
        body = {"result_code": m.code, "response_name": m.name, "paras": dict(m.params)}
        return [_out(f"{self.prefix}commands/response/{_REQUEST}{m.request_id}", body)]

    @_DEVICE_SENDS.on(ev.RequestShadow)
    def _request_shadow(self, m: ev.RequestShadow) -> list[ev.Outgoing]:
        body = {**self._envelope, "service_id": m.service_id} if m.service_id else dict(self._envelope)
        return [_out(f"{self.prefix}shadow/get/{_REQUEST}{m.request_id}", body)]

    @_DEVICE_SENDS.on(ev.SendMessage)
    def _message_up(self, m: ev.SendMessage) -> list[ev.Outgoing]:
        if self.gateway_id is not None:  # IoTDA's system format names the child
            text = _message_text(f"a message of child {self.device_id}", m.payload)
            return [_out(f"{self.prefix}messages/up", {**self._envelope, "content": text})]
        return [_checked(ev.Outgoing(f"{self.prefix}messages/up", m.payload))]

    def _events_out(self, entries: list[dict[str, Any]]) -> ev.Outgoing:
        return _out(f"{self.prefix}events/up", {**self._envelope, "services": entries})

    @_DEVICE_SENDS.on(ev.EmitEvent)
    def _event_up(self, m: ev.EmitEvent) -> list[ev.Outgoing]:
        return [self._system_up(m.service_id, m.event_type, m.params)]

    @_DEVICE_SENDS.on(ev.AskTime)
    def _ask_time(self, m: ev.AskTime) -> list[ev.Outgoing]:
        return [self._system_up(TIME_SYNC, "time_sync_request", {"device_send_time": m.device_send_ms})]

    @_DEVICE_SENDS.on(ev.SettleDesired)
    def _settle(self, m: ev.SettleDesired) -> list[ev.Outgoing]:
        return []  # IoTDA keeps desired values; a refusal was answered by the set response

    def _system_up(self, service_id: str, event_type: str, params: Mapping[str, Any]) -> ev.Outgoing:
        return self._events_out(_events_to_wire(service_id, event_type, params)["services"])

    @_DEVICE_SENDS.on(ev.ReportVersion)
    def _report_version(self, m: ev.ReportVersion) -> list[ev.Outgoing]:
        params = _present(fw_version=m.fw_version, sw_version=m.sw_version)
        return [self._system_up(OTA, "version_report", params)]

    @_DEVICE_SENDS.on(ev.UpgradeProgress)
    def _upgrade_progress(self, m: ev.UpgradeProgress) -> list[ev.Outgoing]:
        return [self._system_up(OTA, "upgrade_progress_report", _progress_to_wire(m))]

    @_DEVICE_SENDS.on(ev.ReportInfo)
    def _report_info(self, m: ev.ReportInfo) -> list[ev.Outgoing]:
        params: dict[str, Any] = _present(
            device_sdk_version=m.sdk_version, sw_version=m.sw_version, fw_version=m.fw_version
        )
        for key, value in m.extra.items():
            if key in _INFO_FIELDS:
                raise CodecError(f"ReportInfo extra key {key!r} is one of {SDK_INFO}'s own fields")
            params[key] = value
        return [self._system_up(SDK_INFO, "sdk_info_report", params)]

    @_DEVICE_SENDS.on(ev.ShipLogs)
    def _ship_logs(self, m: ev.ShipLogs) -> list[ev.Outgoing]:
        topic = f"{self.prefix}events/up"
        items = [_log_item(index, entry) for index, entry in enumerate(m.entries)]
        return [self._events_out(chunk) for chunk in _chunks(items, topic, self._envelope)]

    @_DEVICE_SENDS.on(ev.AskFileUrl)
    def _ask_file_url(self, m: ev.AskFileUrl) -> list[ev.Outgoing]:
        _check_direction("AskFileUrl", m.direction)
        if not m.file_name:
            raise CodecError("AskFileUrl file_name must not be empty")
        params: dict[str, Any] = {"file_name": m.file_name}
        if m.attributes:
            params["file_attributes"] = _json_object("AskFileUrl attributes", m.attributes)
        return [self._system_up(FILES, f"get_{m.direction}_url", params)]

    @_DEVICE_SENDS.on(ev.FileResult)
    def _file_result(self, m: ev.FileResult) -> list[ev.Outgoing]:
        _check_direction("FileResult", m.direction)
        params: dict[str, Any] = {"object_name": m.file_name, "result_code": m.code}
        if m.status_code is not None:
            params["status_code"] = m.status_code
        if m.description:
            params["status_description"] = m.description
        return [self._system_up(FILES, f"{m.direction}_result_report", params)]

    @_DEVICE_SENDS.on(ev.AskRules)
    def _ask_rules(self, m: ev.AskRules) -> list[ev.Outgoing]:
        params = {
            "ruleIds": _rule_ids("AskRules rule_ids", m.rule_ids),
            "delIds": _rule_ids("AskRules deleted_ids", m.deleted_ids),
        }
        return [self._system_up(DEVICE_RULE, "device_rule_config_request", params)]

    # -- a gateway's $sub_device_manager requests ----------------------------------------------
    def _gateway_up(self, what: str, event_type: str, request_id: str, params: Any) -> list[ev.Outgoing]:
        if self.gateway_id is not None:
            raise CodecError(f"{what}: child {self.device_id} cannot have children (no nested gateways)")
        entry = {
            "service_id": SUB_DEVICES,
            "event_type": event_type,
            "event_id": _id_of(f"{what} request_id", request_id),
            "paras": params,
        }
        return [self._events_out([entry])]

    @_DEVICE_SENDS.on(gw.AddChildren)
    def _add_children(self, m: gw.AddChildren) -> list[ev.Outgoing]:
        """``add_sub_device_request``: IoTDA requires each child's ``node_id`` (by default its
        device id) and ``product_id``; at most :data:`MAX_ADD` a request."""
        _count("AddChildren children", len(m.children), MAX_ADD)
        devices = []
        for index, child in enumerate(m.children):
            where = f"AddChildren children[{index}]"
            device_id = _id_of(f"{where} device_id", child.device_id)
            if child.product_id is None:
                raise CodecError(f"{where}: IoTDA needs the product_id of child {device_id} to add it")
            entry = {
                "node_id": _id_of(f"{where} node_id", child.node_id or device_id),
                "product_id": _id_of(f"{where} product_id", child.product_id),
                "device_id": device_id,
            }
            if child.name:
                entry["name"] = child.name
            devices.append(entry)
        return self._gateway_up("AddChildren", "add_sub_device_request", m.request_id, {"devices": devices})

    @_DEVICE_SENDS.on(gw.RemoveChildren)
    def _remove_children(self, m: gw.RemoveChildren) -> list[ev.Outgoing]:
        _count("RemoveChildren device_ids", len(m.device_ids), None)
        ids = [_id_of(f"RemoveChildren device_ids[{i}]", d) for i, d in enumerate(m.device_ids)]
        return self._gateway_up("RemoveChildren", "delete_sub_device_request", m.request_id, {"devices": ids})

    @_DEVICE_SENDS.on(gw.ChildrenStatus)
    def _children_status(self, m: gw.ChildrenStatus) -> list[ev.Outgoing]:
        """``sub_device_update_status``: 1..:data:`MAX_STATUS` children a message."""
        _count("ChildrenStatus online", len(m.online), MAX_STATUS)
        statuses = []
        for device_id, online in m.online.items():
            if not isinstance(online, bool):
                raise CodecError(f"ChildrenStatus online of {_short(device_id)} must be True or False")
            statuses.append(
                {
                    "device_id": _id_of("ChildrenStatus device id", device_id),
                    "status": _ONLINE if online else _OFFLINE,
                }
            )
        params = {"device_statuses": statuses}
        return self._gateway_up("ChildrenStatus", "sub_device_update_status", m.request_id, params)

    @_DEVICE_SENDS.on(gw.SyncChildren)
    def _sync_children(self, m: gw.SyncChildren) -> list[ev.Outgoing]:
        """``sub_device_sync_request`` with the version of the last notify (none: all children)."""
        if m.version is not None and (
            isinstance(m.version, bool) or not isinstance(m.version, int) or not 0 <= m.version < 2**63
        ):
            raise CodecError(f"SyncChildren version must be a list version >= 0, got {_short(m.version)}")
        params = {} if m.version is None else {"version": m.version}
        return self._gateway_up("SyncChildren", "sub_device_sync_request", m.request_id, params)


def _count(what: str, count: int, most: int | None) -> None:
    if count < 1:
        raise CodecError(f"{what} names no child")
    if most is not None and count > most:
        raise CodecError(f"{what} names {count} children; IoTDA takes at most {most} a message")


def _batch_entries(message: ev.Outgoing, topic: str) -> list[bytes] | None:
    """The ``devices`` entries of a batch report on ``topic``, each as its JSON; None for any
    other message (or one that is not a batch report of ours)."""
    if message.topic != topic:
        return None
    try:
        devices = loads_object(message.payload, limit=MAX_PAYLOAD).get("devices")
        if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
            return None
        return [dumps(entry) for entry in devices]
    except (CodecError, ValueError):
        return None


def _ms_field(params: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    """A millisecond time of a ``$time_sync`` answer: an int, or digits (the SDK sends strings)."""
    value = field(params, name, (int, str), required=required, where=f"{TIME_SYNC} paras.")
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise CodecError(f"field {TIME_SYNC} paras.{name!r} must be milliseconds since the epoch")
    return value


def _time_answer(event_type: str, params: dict[str, Any]) -> ev.Downlink:
    recv, send = _ms_field(params, "server_recv_time"), _ms_field(params, "server_send_time")
    assert recv is not None and send is not None
    return ev.TimeAnswered(None, _ms_field(params, "device_send_time", required=False), recv, send)


def _version_query(event_type: str, params: dict[str, Any]) -> ev.Downlink:
    return ev.VersionQuery()  # its paras (a gateway's task_id ...) say nothing to a device


def _upgrade_offer(event_type: str, params: dict[str, Any]) -> ev.Downlink:
    """``firmware_upgrade``/``software_upgrade`` (the package on IoTDA: Bearer ``access_token``,
    ``file_size`` and ``sign`` required) or their ``_v2`` forms (on OBS: no token)."""
    where = f"{OTA} {event_type} paras."
    obs = event_type.endswith("_v2")
    version, url = _text(params, "version", where), _url(params, "url", where)  # in the docs' order
    size = _int_in(params, "file_size", where, 0, 2**63 - 1, required=not obs)
    sign = _text(params, "sign", where, required=not obs)
    if sign is not None and not _SHA256.fullmatch(sign):
        raise CodecError(f"field {where}'sign' must be a SHA-256 (64 hex digits), got {_short(sign)}")
    return ev.UpgradeOffer(
        version=version,  # type: ignore[arg-type]
        url=url,
        size=size,
        sha256=None if sign is None else sign.lower(),
        token=None if obs else _text(params, "access_token", where, required=False),
        task_id=_text(params, "task_id", where, required=False),
        kind="software" if event_type.startswith("software") else "firmware",
    )


def _log_config(event_type: str, params: dict[str, Any]) -> ev.Downlink:
    where = f"{LOG} {event_type} paras."
    switch = field(params, "switch", str, where=where)
    if switch not in ("on", "off"):
        raise CodecError(f"field {where}'switch' must be 'on' or 'off', got {_short(switch)}")
    end_time = _text(params, "end_time", where, required=False)
    until = None if end_time is None else _utc_ms(end_time, f"{where}'end_time'")
    return ev.LogConfig(switch == "on", until)


def _file_url(event_type: str, params: dict[str, Any]) -> ev.Downlink:
    where = f"{FILES} {event_type} paras."
    return ev.FileUrl(
        direction="upload" if event_type.startswith("get_upload") else "download",
        file_name=_text(params, "object_name", where),  # type: ignore[arg-type]
        url=_url(params, "url", where),
        expires=_int_in(params, "expire", where, 0, 2**63 - 1, required=False),
    )


def _rules_delivered(event_type: str, params: dict[str, Any]) -> list[ev.Downlink | CodecError]:
    """``rulesInfos``: every object in it is delivered as it came (the device checks each rule
    itself); an entry that is not an object is a Malformed of its own."""
    where = f"{DEVICE_RULE} {event_type} paras."
    items = field(params, "rulesInfos", list, where=where)
    out: list[ev.Downlink | CodecError] = [
        ev.RulesDelivered(tuple(item for item in items if isinstance(item, dict)))
    ]
    out += [
        CodecError(f"field {where}'rulesInfos'[{index}] must be an object, got {type(item).__name__}")
        for index, item in enumerate(items)
        if not isinstance(item, dict)
    ]
    return out


#: a reader gives one message, or several with the problems of single entries as CodecErrors
_Reader = Callable[[str, dict[str, Any]], "ev.Downlink | list[ev.Downlink | CodecError]"]
#: the system-service events a device reads: (service_id, event_type) -> reader
_SYSTEM_DOWN: dict[tuple[str, str], _Reader] = {
    (TIME_SYNC, "time_sync_response"): _time_answer,
    (OTA, "version_query"): _version_query,
    **{
        (OTA, f"{kind}_upgrade{v2}"): _upgrade_offer
        for kind in ("firmware", "software")
        for v2 in ("", "_v2")
    },
    (LOG, "log_config"): _log_config,
    (FILES, "get_upload_url_response"): _file_url,
    (FILES, "get_download_url_response"): _file_url,
    (DEVICE_RULE, "device_rule_config_response"): _rules_delivered,
}


def _events_down(topic: str, body: dict[str, Any], *, child: bool = False) -> list[ev.Downlink]:
    """Each entry of an ``events/down`` body: an entry that cannot be read is Malformed alone.
    ``child``: the body is for a gateway's child, which has no ``$sub_device_manager``."""
    out: list[ev.Downlink] = []
    for service_id, event_type, params, event_id in _events_from_wire(body):
        gateway_read = _GATEWAY_DOWN.get(event_type) if service_id == SUB_DEVICES else None
        read = _SYSTEM_DOWN.get((service_id, event_type))
        if gateway_read is None and read is None:
            out.append(ev.CloudEvent(service_id, event_type, params))
            continue
        read_out: ev.Downlink | list[ev.Downlink | CodecError]
        try:
            if gateway_read is not None:
                if child:
                    raise CodecError(f"{SUB_DEVICES} {event_type} for a child (no nested gateways)")
                read_out = gateway_read(event_type, params, event_id)
            else:
                assert read is not None
                read_out = read(event_type, params)
        except CodecError as exc:
            if service_id == OTA:  # the core answers an offer it cannot read (a failed progress)
                task = params.get("task_id")
                task_id = task if isinstance(task, str) and task else None
                out.append(ev.Malformed(topic, str(exc), kind="ota", request_id=task_id))
            else:
                out.append(ev.Malformed(topic, str(exc), kind="event"))
            continue
        if not isinstance(read_out, list):
            out.append(read_out)
            continue
        for item in read_out:
            out.append(ev.Malformed(topic, str(item), kind="event") if isinstance(item, CodecError) else item)
    return out


def _wire_child(item: Any, where: str) -> gw.ChildInfo:
    """A child as IoTDA's notifies and answers describe it (``DeviceInfo``)."""
    if not isinstance(item, dict):
        raise CodecError(f"field {where} must be an object, got {type(item).__name__}")
    where += "."
    return gw.ChildInfo(
        _id_of(f"field {where}'device_id'", field(item, "device_id", str, where=where)),
        _text(item, "product_id", where, required=False),
        _text(item, "node_id", where, required=False),
        _text(item, "name", where, required=False),
    )


def _children_changed(
    event_type: str, params: dict[str, Any], event_id: Any
) -> list[ev.Downlink | CodecError]:
    """``add_sub_device_notify`` / ``delete_sub_device_notify``: ``{version, devices}``; an entry
    that cannot be read is a problem of its own, the others still change."""
    where = f"{SUB_DEVICES} {event_type} paras."
    version = _int_in(params, "version", where, 0, 2**63 - 1, required=False)
    children: list[gw.ChildInfo] = []
    problems: list[ev.Downlink | CodecError] = []
    for index, item in enumerate(field(params, "devices", list, where=where)):
        try:
            children.append(_wire_child(item, f"{where}'devices'[{index}]"))
        except CodecError as exc:
            problems.append(exc)
    if event_type == "add_sub_device_notify":
        changed = gw.ChildrenChanged(added=children, version=version)
    else:
        changed = gw.ChildrenChanged(removed=[c.device_id for c in children], version=version)
    return [changed, *problems]


_ANSWERED_OPERATION: dict[str, gw.ChildOperation] = {
    "add_sub_device_response": "add",
    "delete_sub_device_response": "remove",
    "sub_device_update_status_response": "status",
}


def _children_answered(
    event_type: str, params: dict[str, Any], event_id: Any
) -> list[ev.Downlink | CodecError]:
    """The answer to an add, delete or status request (``event_id`` is the request's):
    ``successful_devices`` (device infos; ids for a delete) and ``failed_devices`` (a reason
    each, named by ``device_id``, else ``node_id`` as IoTDA's add answer names them)."""
    where = f"{SUB_DEVICES} {event_type} paras."
    operation = _ANSWERED_OPERATION[event_type]
    done: list[str] = []
    failed: dict[str, str] = {}
    problems: list[ev.Downlink | CodecError] = []
    for index, item in enumerate(
        field(params, "successful_devices", list, required=False, where=where) or []
    ):
        at = f"{where}'successful_devices'[{index}]"
        try:
            done.append(
                _id_of(f"field {at}", item) if operation == "remove" else _wire_child(item, at).device_id
            )
        except CodecError as exc:
            problems.append(exc)
    for index, item in enumerate(field(params, "failed_devices", list, required=False, where=where) or []):
        at = f"{where}'failed_devices'[{index}]."
        try:
            if not isinstance(item, dict):
                raise CodecError(f"field {at[:-1]} must be an object, got {type(item).__name__}")
            name = _text(item, "device_id", at, required=False) or _text(item, "node_id", at)
            code = _text(item, "error_code", at, required=False)
            message = _text(item, "error_msg", at, required=False)
            failed[_id_of(f"field {at}'device_id'", name)] = (
                f"{message} ({code})" if message and code else message or code or "refused"
            )
        except CodecError as exc:
            problems.append(exc)
    request_id = event_id if isinstance(event_id, str) and event_id else None
    return [gw.ChildrenAnswered(operation, request_id, done, failed), *problems]


_GatewayReader = Callable[[str, dict[str, Any], Any], "list[ev.Downlink | CodecError]"]
#: the ``$sub_device_manager`` events a gateway reads: event_type -> reader(type, paras, event_id)
_GATEWAY_DOWN: dict[str, _GatewayReader] = {
    "add_sub_device_notify": _children_changed,
    "delete_sub_device_notify": _children_changed,
    **{event_type: _children_answered for event_type in _ANSWERED_OPERATION},
}


# --- field readers and writers of the system services ------------------------------------------
def _short(value: object) -> str:
    """``repr(value)``, cut short: a hostile value must not make a reason huge."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(params: dict[str, Any], name: str, where: str, *, required: bool = True) -> str | None:
    """A string field; an empty one counts as absent."""
    value = field(params, name, str, required=required, where=where)
    if value == "":
        if required:
            raise CodecError(f"field {where}{name!r} must not be empty")
        return None
    return value  # type: ignore[no-any-return]


def _url(params: dict[str, Any], name: str, where: str) -> str:
    url: str = field(params, name, str, where=where)
    if not url.lower().startswith(("http://", "https://")) or len(url) < 10:
        raise CodecError(f"field {where}{name!r} must be an http(s) URL, got {_short(url)}")
    return url


def _int_in(
    params: dict[str, Any], name: str, where: str, low: int, high: int, *, required: bool = True
) -> int | None:
    value = field(params, name, int, required=required, where=where)
    if value is not None and not low <= value <= high:
        raise CodecError(f"field {where}{name!r} must be {low}..{high}, got {_short(value)}")
    return value  # type: ignore[no-any-return]


def _utc_ms(text: str, what: str) -> int:
    """``yyyyMMdd'T'HHmmss'Z'`` (or ISO 8601 ``yyyy-MM-dd'T'HH:mm:ss'Z'``) as ms since the epoch."""
    match = _COMPACT_TIME.fullmatch(text) or _ISO_TIME.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        stamp = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        raise CodecError(
            f"field {what} must be a UTC time yyyyMMdd'T'HHmmss'Z', got {_short(text)}"
        ) from None
    return calendar.timegm(stamp.utctimetuple()) * 1000


def _utc_text(ms: int, what: str) -> str:
    if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
        raise CodecError(f"{what} must be milliseconds since the epoch, got {_short(ms)}")
    try:
        return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ms // 1000))
    except (OverflowError, OSError, ValueError):
        raise CodecError(f"{what} {ms} is beyond the years IoTDA's time format holds") from None


def _present(**values: Any) -> dict[str, Any]:
    """The keyword arguments that are not None, in order."""
    return {key: value for key, value in values.items() if value is not None}


def _json_object(what: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` as a dict, if JSON can hold all of it (CodecError naming ``what`` otherwise)."""
    copy = dict(value)
    try:
        require_finite(copy, what)
    except InvalidValue as exc:
        raise CodecError(str(exc)) from None
    return copy


def _check_direction(what: str, direction: str) -> None:
    if direction not in ("upload", "download"):
        raise CodecError(f"{what} direction must be 'upload' or 'download', got {_short(direction)}")


_INFO_FIELDS = frozenset({"device_sdk_version", "sw_version", "fw_version"})


def _rule_id(what: str, value: object) -> str:
    """A rule id as an id of ours (a non-empty string, no control characters, ...)."""
    try:
        return validate_id(what, value)
    except InvalidValue as exc:
        raise CodecError(str(exc)) from None


def _rule_versions(properties: Mapping[str, Any]) -> dict[str, int]:
    """A ``$device_rule`` write: ``{rule_id: {"version": n}}``, n >= 0 or -1 (deleted)."""
    versions: dict[str, int] = {}
    for rule_id, entry in properties.items():
        where = f"{DEVICE_RULE}.{_short(rule_id)}."
        _rule_id(f"{DEVICE_RULE} rule id", rule_id)
        if not isinstance(entry, dict):
            raise CodecError(f"field {where[:-1]} must be an object, got {type(entry).__name__}")
        version = _int_in(entry, "version", where, RULE_DELETED, 2**63 - 1)
        assert version is not None
        versions[rule_id] = version
    return versions


def _versions_to_wire(versions: Mapping[str, int]) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    for rule_id, version in versions.items():
        _rule_id("PushRules rule id", rule_id)
        if isinstance(version, bool) or not isinstance(version, int) or not RULE_DELETED <= version < 2**63:
            raise CodecError(f"PushRules version of {rule_id!r} must be -1 or >= 0, got {_short(version)}")
        wire[rule_id] = {"version": version}
    return wire


def _rule_ids(what: str, ids: Sequence[str]) -> list[str]:
    return [_rule_id(f"{what}[{index}]", rule_id) for index, rule_id in enumerate(ids)]


def _ids_field(params: dict[str, Any], name: str, where: str, *, required: bool = True) -> tuple[str, ...]:
    items = field(params, name, list, required=required, where=where) or []
    return tuple(_rule_id(f"field {where}{name!r}[{index}]", item) for index, item in enumerate(items))


def _progress_to_wire(m: ev.UpgradeProgress) -> dict[str, Any]:
    """``upgrade_progress_report`` paras. ``version`` is the device's current version (IoTDA's
    definition): the new one on success, the old one (``current_version``, when known) before."""
    if m.percent is not None and (
        isinstance(m.percent, bool) or not isinstance(m.percent, int) or not 0 <= m.percent <= 100
    ):
        raise CodecError(f"UpgradeProgress percent must be 0..100, got {_short(m.percent)}")
    current = m.current_version or m.version
    description = m.reason
    progress: int | None
    if m.state == "downloading":
        code, version, progress = RESULT_OK, current, m.percent
    elif m.state == "installing":
        code, version, progress, description = RESULT_OK, current, INSTALLING_PROGRESS, INSTALLING
    elif m.state == "succeeded":
        code, version, progress = RESULT_OK, m.version, 100
    elif m.state == "failed":
        code = RESULT_INTERNAL if m.failure is None else FAILURE_CODES.get(m.failure, RESULT_INTERNAL)
        version, progress = current, None
    else:
        raise CodecError(f"UpgradeProgress state {_short(m.state)} is not one IoTDA can report")
    params: dict[str, Any] = {"result_code": code, "version": version}
    if progress is not None:
        params["progress"] = progress
    if description:
        params["description"] = description
    return params


def _log_item(index: int, entry: ev.LogEntry) -> dict[str, Any]:
    """One ``log_report`` entry; the SDK sends ``timestamp`` as ms since the epoch, in a string."""
    if entry.type not in LOG_TYPES:
        raise CodecError(
            f"ShipLogs entries[{index}] type {_short(entry.type)} is not one of {', '.join(LOG_TYPES)}"
        )
    stamp = entry.timestamp_ms
    if isinstance(stamp, bool) or not isinstance(stamp, int) or stamp < 0:
        raise CodecError(
            f"ShipLogs entries[{index}] timestamp_ms must be ms since the epoch, got {_short(stamp)}"
        )
    paras = {"timestamp": str(stamp), "type": entry.type, "content": entry.content}
    return {"service_id": LOG, "event_type": "log_report", "paras": paras}


def _chunks(
    items: list[dict[str, Any]], topic: str, envelope: Mapping[str, str]
) -> list[list[dict[str, Any]]]:
    """``items`` split into runs whose ``{**envelope, "services": [...]}`` fits IoTDA's limit."""
    budget = MAX_PAYLOAD - len(dumps({**envelope, "services": []}))
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for index, item in enumerate(items):
        try:
            length = len(dumps(item))
        except ValueError as exc:
            raise CodecError(f"cannot encode log entry {index} for {topic}: {exc}") from None
        if length > budget:
            raise CodecError(
                f"log entry {index} of {length} bytes exceeds IoTDA's limit of {MAX_PAYLOAD} bytes alone"
            )
        if current and size + 1 + length > budget:
            chunks.append(current)
            current, size = [], 0
        size += length + (1 if current else 0)
        current.append(item)
    if current:
        chunks.append(current)
    return chunks


_DEVICE_KINDS: dict[str, ev.RequestKind] = {
    "properties/set": "desired",
    "properties/get": "read",
    "commands": "command",
    "shadow/get/response": "shadow",
    "messages/down": "message",
    "events/down": "event",
}
_PLATFORM_KINDS: dict[str, ev.RequestKind] = {
    "properties/report": "report",
    _BATCH: "report",
    "properties/set/response": "desired",
    "properties/get/response": "read",
    "commands/response": "command",
    "shadow/get": "shadow",
    "messages/up": "message",
    "events/up": "event",
}


def _out(topic: str, body: Any) -> ev.Outgoing:
    try:
        payload = dumps(body)
    except ValueError as exc:  # NaN or infinity cannot be JSON
        raise CodecError(f"cannot encode a message for {topic}: {exc}") from None
    return _checked(ev.Outgoing(topic, payload))


def _checked(out: ev.Outgoing) -> ev.Outgoing:
    if len(out.payload) > MAX_PAYLOAD:
        raise CodecError(
            f"message of {len(out.payload)} bytes for {out.topic} exceeds IoTDA's "
            f"limit of {MAX_PAYLOAD} bytes"
        )
    return out


def _shadow_from_wire(items: list[Any]) -> dict[str, ev.ShadowState]:
    shadow: dict[str, ev.ShadowState] = {}
    for index, item in enumerate(items):
        where = f"shadow[{index}]."
        if not isinstance(item, dict):
            raise CodecError(f"shadow[{index}] must be an object")
        sid = field(item, "service_id", str, where=where)
        sections = {}
        for section in ("desired", "reported"):
            block = field(item, section, dict, required=False, where=where) or {}
            sections[section] = (
                field(block, "properties", dict, required=False, where=f"{where}{section}.") or {}
            )
        version = field(item, "version", int, required=False, where=where) or 0
        shadow[sid] = ev.ShadowState(sections["desired"], sections["reported"], version)
    return shadow


def _shadow_to_wire(services: Mapping[str, ev.ShadowState]) -> list[dict[str, Any]]:
    return [
        {
            "service_id": sid,
            "desired": {"properties": dict(state.desired)},
            "reported": {"properties": dict(state.reported)},
            "version": state.version,
        }
        for sid, state in services.items()
    ]


@attrs.frozen
class _Asked:
    """A gateway's request the platform half answers later: what it asked, and the entries it
    could not read (answered as failed: ``{"node_id"/"device_id": ..., "error_msg": ...}``)."""

    request: gw.GatewayUplink
    unreadable: tuple[Mapping[str, str], ...] = ()


class _Memory(OrderedDict[Any, Any]):
    """A mapping that forgets its oldest entries past :data:`MAX_REMEMBERED`."""

    def remember(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > MAX_REMEMBERED:
            self.popitem(last=False)


class HuaweiPlatform:
    """The platform half: decodes device uplinks, encodes platform requests and answers.
    ``clock`` gives Unix seconds for the time-sync answers; ``new_id`` makes the request ids of
    a gateway's requests that came without an ``event_id`` (IoTDA makes one then).

    Gateways: :attr:`parent_of` names the gateway a child is reached through (the local cloud
    sets it to its :class:`~thingmodel.cloud.gateways.GatewayBook`'s). Requests to a child go
    out on its gateway's topics, and their answers (which carry only the request id) are read
    as the child's: the half remembers the request ids it sent children, and the gateway
    requests it has yet to answer, the latest :data:`MAX_REMEMBERED` of each."""

    vendor = VENDOR
    shadow_limits = SHADOW_LIMITS

    def __init__(
        self, *, clock: Callable[[], float] = time.time, new_id: Callable[[], str] = _new_id
    ) -> None:
        self.clock = clock
        self.new_id = new_id
        #: the gateway a device is a child of (None: it connects itself)
        self.parent_of: Callable[[str], str | None] = lambda _device_id: None
        self._routed = _Memory()  # request id -> (gateway, child) of a request sent to a child
        self._asked = _Memory()  # (gateway, request id) -> _Asked, until answered
        self._seen = _Memory()  # child -> ChildInfo, for the node ids of the notifies

    def _ms(self) -> int:
        return int(self.clock() * 1000)

    def subscriptions(self) -> list[str]:
        p = "$oc/devices/+/sys/"
        return [
            f"{p}properties/report",
            f"{p}properties/set/response/+",
            f"{p}properties/get/response/+",
            f"{p}commands/response/+",
            f"{p}shadow/get/+",
            f"{p}messages/up",
            f"{p}events/up",
            f"{p}{_BATCH}",
        ]

    def decode(self, topic: str, payload: bytes) -> list[ev.PlatformUplink]:
        parsed = _split(topic)
        if parsed is None:
            return [ev.DeviceMalformed(None, topic, "not an IoTDA uplink topic")]
        device_id, path, rid = parsed
        try:
            validate_id("device_id", device_id)
        except InvalidValue as exc:
            return [ev.DeviceMalformed(None, topic, str(exc))]
        kind = _PLATFORM_KINDS.get(path)
        if kind is None or (rid is None) != (kind in ("report", "message", "event")):
            return [ev.DeviceMalformed(device_id, topic, f"unknown uplink {path!r}", request_id=rid)]
        # an answer to a request this half sent a child: the child's, unless the body says
        sender = self._answerer(device_id, rid) if kind in ("desired", "read", "command") else device_id
        try:
            if kind == "message":
                return [self._message_up(device_id, payload)]
            body = loads_object(payload, limit=MAX_PAYLOAD)
            if path == _BATCH:
                return self._batch_report(topic, device_id, body)
            target = self._target(device_id, body)
            if kind == "event":
                return self._events_up(topic, device_id, target, body)
            return self._decode(kind, sender if target == device_id else target, rid, body)
        except CodecError as exc:
            return [ev.DeviceMalformed(sender, topic, str(exc), kind=kind, request_id=rid)]

    def _answerer(self, gateway_id: str, rid: str | None) -> str:
        """Who answers request ``rid`` on ``gateway_id``'s topics: the child it was sent to."""
        routed = self._routed.get(rid)
        if routed is None or routed[0] != gateway_id:
            return gateway_id
        del self._routed[rid]
        return str(routed[1])

    def _target(self, device_id: str, body: dict[str, Any]) -> str:
        """The device an uplink is for: ``object_device_id`` when it names a child of
        ``device_id``; CodecError when it names any other device."""
        target = field(body, _OBJECT, str, required=False)
        if not target or target == device_id:
            return device_id
        return self._child_of(device_id, target, f"field {_OBJECT!r}")

    def _child_of(self, gateway_id: str, device_id: str, what: str) -> str:
        _id_of(what, device_id)
        if self.parent_of(device_id) != gateway_id:
            raise CodecError(f"{what}: device {_short(device_id)} is not a child of gateway {gateway_id}")
        return device_id

    def _message_up(self, device_id: str, payload: bytes) -> ev.PlatformUplink:
        """Free-form from the device itself; IoTDA's system format naming a child is the child's
        (its ``content`` is the message)."""
        body = _system_message(payload)
        if body is None or body[_OBJECT] in ("", device_id):
            return ev.MessageUp(device_id, payload)
        return ev.MessageUp(self._child_of(device_id, body[_OBJECT], f"field {_OBJECT!r}"), _content(body))

    def _batch_report(self, topic: str, gateway_id: str, body: dict[str, Any]) -> list[ev.PlatformUplink]:
        """``gateway/sub_devices/properties/report``: a ``Reported`` for each entry; an entry that
        cannot be read, or names a device that is not the gateway's child, is malformed alone."""
        devices = field(body, "devices", list)
        if not 1 <= len(devices) <= MAX_BATCH:
            raise CodecError(f"field 'devices' must hold 1..{MAX_BATCH} devices, got {len(devices)}")
        out: list[ev.PlatformUplink] = []
        for index, item in enumerate(devices):
            where = f"devices[{index}]"
            try:
                if not isinstance(item, dict):
                    raise CodecError(f"{where} must be an object, got {type(item).__name__}")
                device_id = field(item, "device_id", str, where=f"{where}.")
                if device_id != gateway_id:
                    self._child_of(gateway_id, device_id, f"{where}.device_id")
                out.append(ev.Reported(device_id, _services_values(item)))
            except CodecError as exc:
                reason = str(exc) if where in str(exc) else f"{where}: {exc}"
                out.append(ev.DeviceMalformed(gateway_id, topic, reason, kind="report"))
        return out

    def _events_up(
        self, topic: str, gateway_id: str, target: str, body: dict[str, Any]
    ) -> list[ev.PlatformUplink]:
        """Each entry of an ``events/up`` body (the ``target``'s): an entry that cannot be read
        is malformed alone."""
        out: list[ev.PlatformUplink] = []
        for service_id, event_type, params, event_id in _events_from_wire(body):
            try:
                if service_id == SUB_DEVICES and event_type in _GATEWAY_UP:
                    if target != gateway_id:
                        raise CodecError(f"{SUB_DEVICES} {event_type} of child {target} (no nested gateways)")
                    out += self._gateway_asked(topic, gateway_id, event_type, params, event_id)
                else:
                    out.append(self._event(target, service_id, event_type, params))
            except CodecError as exc:
                kind: ev.RequestKind = "ota" if service_id == OTA else "event"
                out.append(ev.DeviceMalformed(target, topic, str(exc), kind=kind))
        return out

    def _decode(
        self, kind: str, device_id: str, rid: str | None, body: dict[str, Any]
    ) -> list[ev.PlatformUplink]:
        if kind == "report":
            return [ev.Reported(device_id, _services_values(body))]
        assert rid is not None
        if kind == "desired":
            code = field(body, "result_code", int, required=False) or RESULT_OK
            desc = field(body, "result_desc", str, required=False) or ""
            errors = errors_from_text(desc) if code != RESULT_OK else {}
            return [ev.DesiredAcked(device_id, rid, errors, code)]
        if kind == "read":
            return [ev.ReadAnswered(device_id, rid, _services_values(body))]
        if kind == "command":
            return [
                ev.CommandAnswered(
                    device_id,
                    rid,
                    field(body, "result_code", int, required=False) or RESULT_OK,
                    field(body, "paras", dict, required=False) or {},
                    field(body, "response_name", str, required=False) or "",
                )
            ]
        return [ev.ShadowRequested(device_id, rid, field(body, "service_id", str, required=False) or None)]

    def _event(
        self, device_id: str, service_id: str, event_type: str, params: dict[str, Any]
    ) -> ev.PlatformUplink:
        if not service_id.startswith("$"):
            return ev.EventUp(device_id, service_id, event_type, params)
        if (service_id, event_type) == (TIME_SYNC, "time_sync_request"):
            sent = field(params, "device_send_time", (int, str), where=f"{TIME_SYNC} paras.")
            if isinstance(sent, bool):
                raise CodecError(f"field {TIME_SYNC} paras.'device_send_time' must be int/str, got bool")
            return ev.TimeSyncRequested(device_id, sent, self._ms())
        read = _SYSTEM_UP.get((service_id, event_type))
        if read is not None:
            return read(device_id, event_type, params)
        return ev.SystemEventUp(device_id, service_id, event_type, params)

    # -- what a gateway asks ($sub_device_manager) -----------------------------------------------
    def _gateway_asked(
        self, topic: str, gateway_id: str, event_type: str, params: dict[str, Any], event_id: Any
    ) -> list[ev.PlatformUplink]:
        """One request of a gateway as :class:`~thingmodel.protocol.gateway.GatewayAsked`, with
        the request id its answer carries (the ``event_id``; a new one when it has none). An
        entry that cannot be read is a DeviceMalformed of its own and a failure in the answer."""
        where = f"{SUB_DEVICES} {event_type} paras."
        if event_id is None or event_id == "":
            rid = self.new_id()
        elif isinstance(event_id, str):
            rid = _id_of(f"field {SUB_DEVICES} {event_type} 'event_id'", event_id)
        else:
            raise CodecError(f"field {SUB_DEVICES} {event_type} 'event_id' must be str")
        if event_type == "sub_device_sync_request":
            version = _int_in(params, "version", where, 0, 2**63 - 1, required=False)
            return [gw.GatewayAsked(gateway_id, gw.SyncChildren(rid, version))]
        name, most = _GATEWAY_UP[event_type]
        items = field(params, name, list, where=where)
        if not 1 <= len(items) <= (most or len(items)):
            raise CodecError(f"field {where}{name!r} must hold 1..{most} entries, got {len(items)}")
        read = _ASKED_ENTRY[event_type]
        good: list[Any] = []
        unreadable: list[Mapping[str, str]] = []
        problems: list[ev.PlatformUplink] = []
        for index, item in enumerate(items):
            at = f"{where}{name!r}[{index}]"
            try:
                good.append(read(self, gateway_id, item, at))
            except CodecError as exc:
                problems.append(ev.DeviceMalformed(gateway_id, topic, str(exc), kind="event"))
                named = _naming(item)
                if named:
                    unreadable.append({**named, "error_msg": str(exc)})
        request: gw.GatewayUplink
        if event_type == "add_sub_device_request":
            request = gw.AddChildren(rid, good)
        elif event_type == "delete_sub_device_request":
            request = gw.RemoveChildren(rid, good)
        else:
            request = gw.ChildrenStatus(rid, dict(good))
        self._asked.remember((gateway_id, rid), _Asked(request, tuple(unreadable)))
        return [gw.GatewayAsked(gateway_id, request), *problems]

    def _child_asked(self, gateway_id: str, item: Any, where: str) -> gw.ChildInfo:
        """An ``add_sub_device_request`` entry: ``node_id`` and ``product_id`` required,
        ``device_id`` by default ``{product_id}_{node_id}`` (IoTDA's), the gateway as parent."""
        if not isinstance(item, dict):
            raise CodecError(f"field {where} must be an object, got {type(item).__name__}")
        at = f"{where}."
        node_id = _id_of(f"field {at}'node_id'", _text(item, "node_id", at))
        product_id = _id_of(f"field {at}'product_id'", _text(item, "product_id", at))
        device_id = _text(item, "device_id", at, required=False) or f"{product_id}_{node_id}"
        device_id = _id_of(f"field {at}'device_id'", device_id)
        parent = _text(item, "parent_device_id", at, required=False)
        if parent not in (None, gateway_id):
            raise CodecError(
                f"field {at}'parent_device_id' {_short(parent)} is not the gateway {gateway_id} "
                "(children of children are not supported)"
            )
        extension = item.get("extension_info")
        if extension not in (None, ""):
            if not isinstance(extension, dict):
                raise CodecError(f"field {at}'extension_info' must be an object")
            try:
                size = len(dumps(extension))
            except ValueError as exc:
                raise CodecError(f"field {at}'extension_info' cannot be JSON: {exc}") from None
            if size > MAX_EXTENSION:
                raise CodecError(f"field {at}'extension_info' takes {size} bytes (at most {MAX_EXTENSION})")
        name = _text(item, "name", at, required=False)
        info = gw.ChildInfo(device_id, product_id, node_id, name)
        self._seen.remember(device_id, info)
        return info

    def _removed_asked(self, gateway_id: str, item: Any, where: str) -> str:
        if not isinstance(item, str):
            raise CodecError(f"field {where} must be a device id (str), got {type(item).__name__}")
        return _id_of(f"field {where}", item)

    def _status_asked(self, gateway_id: str, item: Any, where: str) -> tuple[str, bool]:
        if not isinstance(item, dict):
            raise CodecError(f"field {where} must be an object, got {type(item).__name__}")
        at = f"{where}."
        device_id = _id_of(f"field {at}'device_id'", field(item, "device_id", str, where=at))
        status = field(item, "status", str, where=at)
        if status not in (_ONLINE, _OFFLINE):
            raise CodecError(f"field {at}'status' must be {_ONLINE} or {_OFFLINE}, got {_short(status)}")
        return device_id, status == _ONLINE

    #: a child its gateway removes is deleted from the platform, its shadow with it (an IoTDA
    #: child exists only as its gateway's)
    deletes_removed_children = True

    def check_child(self, child: gw.ChildInfo, secret: str | None) -> str | None:
        """Whether a registry cloud lets a gateway add ``child`` (``secret``: the registered
        secret of that id, None when unregistered): an IoTDA child is created by its gateway,
        with no secret of its own, so a device registered to connect by itself cannot be one."""
        if secret is not None:
            return f"device {child.device_id!r} is registered to connect by itself: it cannot be a child"
        return None

    encoders = _PLATFORM_SENDS
    """What this half can send: ``{message class: encoder}``."""

    def shadow_key(self, device_id: str, service_id: str) -> str:
        return service_id

    def encode(self, message: ev.PlatformDownlink) -> list[ev.Outgoing]:
        validate_id("device_id", message.device_id)
        return _PLATFORM_SENDS.encode(self, message)

    # -- where a device is reached ---------------------------------------------------------------
    def _route(self, device_id: str) -> tuple[str, dict[str, str]]:
        """``(topic prefix, envelope)`` of a downlink to ``device_id``: a child's goes on its
        gateway's topics, naming it in ``object_device_id``."""
        parent = self.parent_of(device_id)
        if parent is None:
            return _prefix(device_id), {}
        return _prefix(parent), {_OBJECT: device_id}

    def _request(self, device_id: str, path: str, request_id: str, body: dict[str, Any]) -> ev.Outgoing:
        """A request the device answers; a child's answer comes on its gateway's topics."""
        prefix, envelope = self._route(device_id)
        out = _out(f"{prefix}{path}/{_REQUEST}{request_id}", {**envelope, **body})
        if envelope:
            self._routed.remember(request_id, (self.parent_of(device_id), device_id))
        return out

    def _down(self, device_id: str, path: str, body: dict[str, Any]) -> ev.Outgoing:
        prefix, envelope = self._route(device_id)
        return _out(f"{prefix}{path}", {**envelope, **body})

    @_PLATFORM_SENDS.on(ev.PushDesired)
    def _push_desired(self, m: ev.PushDesired) -> list[ev.Outgoing]:
        return [
            self._request(
                m.device_id, "properties/set", m.request_id, {"services": _services_list(m.services)}
            )
        ]

    @_PLATFORM_SENDS.on(ev.AskRead)
    def _ask_read(self, m: ev.AskRead) -> list[ev.Outgoing]:
        ask = {"service_id": m.service_id} if m.service_id else {}
        return [self._request(m.device_id, "properties/get", m.request_id, ask)]

    @_PLATFORM_SENDS.on(ev.SendCommand)
    def _send_command(self, m: ev.SendCommand) -> list[ev.Outgoing]:
        body: dict[str, Any] = {"command_name": m.name, "paras": dict(m.params)}
        if m.service_id:
            body["service_id"] = m.service_id
        return [self._request(m.device_id, "commands", m.request_id, body)]

    @_PLATFORM_SENDS.on(ev.MessageDown)
    def _message_down(self, m: ev.MessageDown) -> list[ev.Outgoing]:
        prefix, envelope = self._route(m.device_id)
        if envelope:  # IoTDA's system format names the child
            text = _message_text(f"a message to child {m.device_id}", m.payload)
            return [_out(f"{prefix}messages/down", {**envelope, "content": text})]
        return [_checked(ev.Outgoing(f"{prefix}messages/down", m.payload))]

    @_PLATFORM_SENDS.on(ev.EventDown)
    def _event_down(self, m: ev.EventDown) -> list[ev.Outgoing]:
        return [self._system_down(m.device_id, m.service_id, m.event_type, m.params)]

    @_PLATFORM_SENDS.on(ev.AnswerShadow)
    def _answer_shadow(self, m: ev.AnswerShadow) -> list[ev.Outgoing]:
        body = {_OBJECT: m.device_id, "shadow": _shadow_to_wire(m.services)}
        return [self._down(m.device_id, f"shadow/get/response/{_REQUEST}{m.request_id}", body)]

    @_PLATFORM_SENDS.on(ev.AnswerRequest)
    def _answer_request(self, m: ev.AnswerRequest) -> list[ev.Outgoing]:
        # IoTDA's only device request with an answer topic is the shadow get
        if m.kind != "shadow":
            raise CodecError(f"{VENDOR} has no answer to a device's {m.kind!r} uplink")
        body = {
            _OBJECT: m.device_id,
            "shadow": [],
            "result_code": m.code,
            "result_desc": m.reason or "success",
        }
        return [self._down(m.device_id, f"shadow/get/response/{_REQUEST}{m.request_id}", body)]

    @_PLATFORM_SENDS.on(ev.AnswerTimeSync)
    def _answer_time_sync(self, m: ev.AnswerTimeSync) -> list[ev.Outgoing]:
        params = {
            "device_send_time": m.device_send_time,
            "server_recv_time": m.server_recv_time,
            "server_send_time": self._ms(),
        }
        return [self._system_down(m.device_id, TIME_SYNC, "time_sync_response", params)]

    def _system_down(
        self, device_id: str, service_id: str, event_type: str, params: Mapping[str, Any]
    ) -> ev.Outgoing:
        return self._down(device_id, "events/down", _events_to_wire(service_id, event_type, params))

    @_PLATFORM_SENDS.on(ev.QueryVersion)
    def _query_version(self, m: ev.QueryVersion) -> list[ev.Outgoing]:
        return [self._system_down(m.device_id, OTA, "version_query", {})]

    @_PLATFORM_SENDS.on(ev.OfferUpgrade)
    def _offer_upgrade(self, m: ev.OfferUpgrade) -> list[ev.Outgoing]:
        """``firmware_upgrade``/``software_upgrade``: the package is ours to serve (IoTDA's form
        with a Bearer token), never the ``_v2`` (OBS) form, whose SDK parser drops ``sign``."""
        if m.kind not in ("firmware", "software"):
            raise CodecError(f"OfferUpgrade kind must be 'firmware' or 'software', got {_short(m.kind)}")
        if not isinstance(m.version, str) or not m.version:
            raise CodecError(f"OfferUpgrade version must be a non-empty string, got {_short(m.version)}")
        if not isinstance(m.url, str) or not m.url.lower().startswith(("http://", "https://")):
            raise CodecError(f"OfferUpgrade url must be an http(s) URL, got {_short(m.url)}")
        if isinstance(m.size, bool) or not isinstance(m.size, int) or not 0 <= m.size < 2**63:
            raise CodecError(f"OfferUpgrade size must be a byte count, got {_short(m.size)}")
        if not isinstance(m.sha256, str) or not _SHA256.fullmatch(m.sha256):
            raise CodecError(f"OfferUpgrade sha256 must be 64 hex digits, got {_short(m.sha256)}")
        params: dict[str, Any] = {
            "version": m.version,
            "url": m.url,
            "file_size": m.size,
            "file_name": _file_name(m.url),
            "expires": OFFER_EXPIRES,
            "sign": m.sha256.lower(),
        }
        if m.token is not None:
            params["access_token"] = m.token
        if m.task_id is not None:
            params["task_id"] = m.task_id
        return [self._system_down(m.device_id, OTA, f"{m.kind}_upgrade", params)]

    @_PLATFORM_SENDS.on(ev.ConfigureLog)
    def _configure_log(self, m: ev.ConfigureLog) -> list[ev.Outgoing]:
        params = {"switch": "on" if m.enabled else "off"}
        if m.until_ms is not None:
            params["end_time"] = _utc_text(m.until_ms, "ConfigureLog until_ms")
        return [self._system_down(m.device_id, LOG, "log_config", params)]

    @_PLATFORM_SENDS.on(ev.AnswerFileUrl)
    def _answer_file_url(self, m: ev.AnswerFileUrl) -> list[ev.Outgoing]:
        _check_direction("AnswerFileUrl", m.direction)
        if not isinstance(m.url, str) or not m.url.lower().startswith(("http://", "https://")):
            raise CodecError(f"AnswerFileUrl url must be an http(s) URL, got {_short(m.url)}")
        if isinstance(m.expires, bool) or not isinstance(m.expires, int) or m.expires < 0:
            raise CodecError(f"AnswerFileUrl expires must be seconds, got {_short(m.expires)}")
        params = {
            "url": m.url,
            "bucket_name": BUCKET,
            "object_name": m.file_name,
            "expire": m.expires,
            "file_attributes": _json_object("AnswerFileUrl attributes", m.attributes),
        }
        return [self._system_down(m.device_id, FILES, f"get_{m.direction}_url_response", params)]

    @_PLATFORM_SENDS.on(ev.PushRules)
    def _push_rules(self, m: ev.PushRules) -> list[ev.Outgoing]:
        """IoTDA keeps rule versions in the device's shadow as the ``$device_rule`` service and
        writes them to the device like any desired property."""
        service = {"service_id": DEVICE_RULE, "properties": _versions_to_wire(m.versions)}
        return [self._request(m.device_id, "properties/set", m.request_id, {"services": [service]})]

    @_PLATFORM_SENDS.on(ev.AnswerRules)
    def _answer_rules(self, m: ev.AnswerRules) -> list[ev.Outgoing]:
        rules = [_json_object(f"AnswerRules rules[{index}]", rule) for index, rule in enumerate(m.rules)]
        params = {"rulesInfos": rules}
        return [self._system_down(m.device_id, DEVICE_RULE, "device_rule_config_response", params)]

    # -- what the cloud tells a gateway ($sub_device_manager) -----------------------------------
    @_PLATFORM_SENDS.on(gw.TellGateway)
    def _tell_gateway(self, m: gw.TellGateway) -> list[ev.Outgoing]:
        """A change of the gateway's children as a delete and/or an add notify (IoTDA answers a
        sync with those too), or the answer to one of its requests (``event_id`` its id)."""
        if self.parent_of(m.device_id) is not None:
            raise CodecError(f"{m.device_id} is a gateway's child: it has no children (no nested gateways)")
        message = m.message
        if isinstance(message, gw.ChildrenChanged):
            entries = self._changed_to_wire(m.device_id, message)
        elif isinstance(message, gw.ChildrenAnswered):
            entries = [self._answered_to_wire(m.device_id, message)]
        else:
            raise CodecError(f"{VENDOR} has no way to tell a gateway {type(message).__name__}")
        return [_out(f"{_prefix(m.device_id)}events/down", {"services": entries})]

    def _wire_info(self, gateway_id: str, info: gw.ChildInfo) -> dict[str, Any]:
        """A child as IoTDA's ``DeviceInfo`` (its node id by default its device id)."""
        device_id = _id_of("child device_id", info.device_id)
        wire: dict[str, Any] = {
            "parent_device_id": gateway_id,
            "node_id": info.node_id or device_id,
            "device_id": device_id,
        }
        if info.name:
            wire["name"] = info.name
        if info.product_id:
            wire["product_id"] = info.product_id
        return wire

    def _known(self, device_id: str) -> gw.ChildInfo:
        known = self._seen.get(device_id)
        return known if isinstance(known, gw.ChildInfo) else gw.ChildInfo(device_id)

    def _changed_to_wire(self, gateway_id: str, m: gw.ChildrenChanged) -> list[dict[str, Any]]:
        if isinstance(m.version, bool) or not isinstance(m.version, int) or not 0 <= m.version < 2**63:
            raise CodecError(
                f"ChildrenChanged version must be the list's version >= 0, got {_short(m.version)}"
            )
        entries = []
        if m.removed:  # a delete notify's node_id is optional: said where it is known
            devices = []
            for device_id in m.removed:
                known = self._seen.pop(device_id, None)
                gone = {"parent_device_id": gateway_id, "device_id": _id_of("removed child", device_id)}
                if isinstance(known, gw.ChildInfo) and known.node_id:
                    gone["node_id"] = known.node_id
                devices.append(gone)
            entries.append(_notify("delete_sub_device_notify", m.version, devices))
        if m.added or not m.removed:  # an empty list is said too (the answer to a sync)
            for info in m.added:
                self._seen.remember(info.device_id, info)
            devices = [self._wire_info(gateway_id, info) for info in m.added]
            entries.append(_notify("add_sub_device_notify", m.version, devices))
        return entries

    def _answered_to_wire(self, gateway_id: str, m: gw.ChildrenAnswered) -> dict[str, Any]:
        if m.request_id is None:
            raise CodecError("ChildrenAnswered needs the request_id: IoTDA's answer carries it as event_id")
        event_id = _id_of("ChildrenAnswered request_id", m.request_id)
        asked = self._asked.pop((gateway_id, event_id), None)
        request = asked.request if isinstance(asked, _Asked) else None
        unreadable = list(asked.unreadable) if isinstance(asked, _Asked) else []
        done = [_id_of("ChildrenAnswered done", d) for d in m.done]
        failed = [(_id_of("ChildrenAnswered failed", d), str(reason)) for d, reason in m.failed.items()]
        if m.operation == "add":
            asked_children = (
                {c.device_id: c for c in request.children} if isinstance(request, gw.AddChildren) else {}
            )
            successful: list[Any] = [
                self._wire_info(gateway_id, asked_children.get(d) or self._known(d)) for d in done
            ]
            failures = []
            for device_id, reason in failed:
                info = asked_children.get(device_id) or self._known(device_id)
                failures.append(
                    {
                        "node_id": info.node_id or device_id,
                        "product_id": info.product_id or "",
                        "device_id": device_id,
                        "error_code": CHILD_REFUSED,
                        "error_msg": reason,
                    }
                )
            event_type = "add_sub_device_response"
        elif m.operation in ("remove", "status"):
            if m.operation == "remove":
                successful, event_type = list(done), "delete_sub_device_response"
            else:
                online = request.online if isinstance(request, gw.ChildrenStatus) else {}
                successful = [
                    {
                        "device_id": d,
                        **({"status": _ONLINE if online[d] else _OFFLINE} if d in online else {}),
                    }
                    for d in done
                ]
                event_type = "sub_device_update_status_response"
            failures = [
                {"device_id": d, "error_code": CHILD_REFUSED, "error_msg": reason} for d, reason in failed
            ]
        else:
            raise CodecError(
                f"{VENDOR} answers a gateway's {m.operation!r} with notifies (ChildrenChanged), "
                "not with ChildrenAnswered"
            )
        failures += [{**entry, "error_code": CHILD_REFUSED} for entry in unreadable]
        params = {"successful_devices": successful, "failed_devices": failures}
        return {"service_id": SUB_DEVICES, "event_type": event_type, "event_id": event_id, "paras": params}


def _notify(event_type: str, version: int, devices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "service_id": SUB_DEVICES,
        "event_type": event_type,
        "paras": {"version": version, "devices": devices},
    }


def _naming(item: Any) -> dict[str, str]:
    """The ids that name an unreadable entry of a gateway's request, for the failure answered
    for it (none: the entry cannot be named, and only the cloud's log tells of it)."""
    named = {"device_id": item} if isinstance(item, str) else item if isinstance(item, dict) else {}
    out = {}
    for key in ("device_id", "node_id", "product_id"):
        try:
            out[key] = validate_id(key, named.get(key))
        except InvalidValue:
            continue
    return out if "device_id" in out or "node_id" in out else {}


#: a gateway's requests: event_type -> (the list in paras, the most entries it may hold)
_GATEWAY_UP: dict[str, tuple[str, int | None]] = {
    "add_sub_device_request": ("devices", MAX_ADD),
    "delete_sub_device_request": ("devices", None),
    "sub_device_update_status": ("device_statuses", MAX_STATUS),
    "sub_device_sync_request": ("", None),
}
#: how the platform half reads one entry of each request's list
_ASKED_ENTRY: dict[str, Callable[[HuaweiPlatform, str, Any, str], Any]] = {
    "add_sub_device_request": HuaweiPlatform._child_asked,
    "delete_sub_device_request": HuaweiPlatform._removed_asked,
    "sub_device_update_status": HuaweiPlatform._status_asked,
}


def _file_name(url: str) -> str:
    """The last segment of ``url``'s path, which an IoTDA offer names its ``file_name``."""
    return unquote(posixpath.basename(urlsplit(url).path)) or "package"


def _version_reported(device_id: str, event_type: str, params: dict[str, Any]) -> ev.PlatformUplink:
    where = f"{OTA} {event_type} paras."
    return ev.VersionReported(
        device_id,
        _text(params, "fw_version", where, required=False),
        _text(params, "sw_version", where, required=False),
    )


def _upgrade_reported(device_id: str, event_type: str, params: dict[str, Any]) -> ev.PlatformUplink:
    """The state follows what :func:`_progress_to_wire` sends: a non-zero ``result_code`` is a
    failure, progress 100 success, the ``installing`` text installing, anything else a download."""
    where = f"{OTA} {event_type} paras."
    code = _int_in(params, "result_code", where, -(2**63), 2**63 - 1)
    assert code is not None
    progress = _int_in(params, "progress", where, 0, 100, required=False)
    version = _text(params, "version", where, required=False)
    description = field(params, "description", str, required=False, where=where) or ""
    state: ev.UpgradeState
    if code != RESULT_OK:
        state = "failed"
    elif progress == 100:
        state = "succeeded"
    elif description == INSTALLING:
        state, description = "installing", ""
    else:
        state = "downloading"
    failure = CODE_FAILURES.get(code) if state == "failed" else None
    return ev.UpgradeReported(
        device_id, version, state, percent=progress, failure=failure, reason=description, code=code
    )


def _file_url_requested(device_id: str, event_type: str, params: dict[str, Any]) -> ev.PlatformUplink:
    where = f"{FILES} {event_type} paras."
    return ev.FileUrlRequested(
        device_id,
        "upload" if event_type == "get_upload_url" else "download",
        _text(params, "file_name", where),  # type: ignore[arg-type]
        field(params, "file_attributes", dict, required=False, where=where) or {},
    )


def _file_reported(device_id: str, event_type: str, params: dict[str, Any]) -> ev.PlatformUplink:
    where = f"{FILES} {event_type} paras."
    code = _int_in(params, "result_code", where, -(2**63), 2**63 - 1)
    assert code is not None
    return ev.FileReported(
        device_id,
        "upload" if event_type.startswith("upload") else "download",
        _text(params, "object_name", where),  # type: ignore[arg-type]
        code,
        _int_in(params, "status_code", where, -(2**63), 2**63 - 1, required=False),
        field(params, "status_description", str, required=False, where=where) or "",
    )


def _rules_asked(device_id: str, event_type: str, params: dict[str, Any]) -> ev.PlatformUplink:
    where = f"{DEVICE_RULE} {event_type} paras."
    return ev.RulesAsked(
        device_id,
        _ids_field(params, "ruleIds", where),
        _ids_field(params, "delIds", where, required=False),
    )


_UpReader = Callable[[str, str, dict[str, Any]], ev.PlatformUplink]
#: the system-service events the platform half reads (besides the time sync it answers):
#: (service_id, event_type) -> reader(device_id, event_type, paras)
_SYSTEM_UP: dict[tuple[str, str], _UpReader] = {
    (SDK_INFO, "sdk_info_report"): lambda device_id, _, params: ev.DeviceInfo(device_id, params),
    (LOG, "log_report"): lambda device_id, _, params: ev.DeviceLog(device_id, params),
    (OTA, "version_report"): _version_reported,
    (OTA, "upgrade_progress_report"): _upgrade_reported,
    (FILES, "get_upload_url"): _file_url_requested,
    (FILES, "get_download_url"): _file_url_requested,
    (FILES, "upload_result_report"): _file_reported,
    (FILES, "download_result_report"): _file_reported,
    (DEVICE_RULE, "device_rule_config_request"): _rules_asked,
}


# --- a Device on IoTDA -----------------------------------------------------------------------------
def device(
    cls: type[Device],
    *,
    device_id: str,
    secret: str,
    host: str,
    services: Sequence[Service],
    port: int = 8883,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    check_timestamp: bool = True,
    insecure: bool = False,
    tls: bool | None = None,
    **options: Any,
) -> Device:
    """A device on Huawei IoTDA with secret authentication (``Device.for_huawei``): port 8883 is
    TLS, 1883 plain (``tls`` says it for other ports, e.g. a local cloud's). ``check_timestamp``
    asks IoTDA to check the password's hour stamp."""
    from ..transport import TlsOptions

    validate_id("device_id", device_id)

    def credentials() -> tuple[str, str | None, str | None]:
        stamp = timestamp()
        return (
            client_id(device_id, stamp, check_timestamp=check_timestamp),
            device_id,
            password(secret, stamp),
        )

    use_tls = port != 1883 if tls is None else tls
    options_tls = TlsOptions(ca_file, cert_file, key_file, insecure) if use_tls else None
    scheme = "mqtt" if options_tls is None else "mqtts"
    return cls(
        services,
        device_id=device_id,
        vendor=VENDOR,
        broker=f"{scheme}://{host}:{port}",
        credentials=credentials,
        tls=options_tls,
        **options,
    )


# --- access: identities, credential checks and topic rules (the platform side) ---
# What IoTDA checks when a device connects, and which topics it may use, for the local cloud's
# broker policy (thingmodel.cloud.access). Imported here so this section stays self-contained.
import secrets  # noqa: E402
import string  # noqa: E402

#: Seconds of clock difference allowed either side of the accepted hours (sign type 1).
CLOCK_SKEW = 300
_IOTDA_CLIENT_ID = re.compile(r"(?P<device>.+)_0_(?P<sign>[01])_(?P<stamp>[0-9]{10})")
_SECRET_ALPHABET = string.ascii_letters + string.digits
_sign = password  # check_credentials takes a parameter of that name


def validate_device_id(device_id: object) -> str:
    """An IoTDA device id, checked for topic safety (InvalidValue otherwise)."""
    return validate_id("device_id", device_id)


def validate_secret(secret: object) -> str:
    """A device secret: a non-empty string (InvalidValue otherwise; the message never shows it)."""
    if not isinstance(secret, str) or not secret:
        raise InvalidValue("a Huawei device secret must be a non-empty string")
    return secret


def new_secret() -> str:
    """A fresh device secret: 16 random letters and digits."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(16))


def identify(client_id: str, username: str | None) -> str | None:
    """The device id a connecting client claims, or None when it names no device.

    IoTDA's form is client id ``{device_id}_0_{0|1}_{YYYYMMDDHH}`` with username = device id;
    a thingmodel ``Device`` in development mode connects with client id = device id (and a
    username equal to it, or none).
    """
    match = _IOTDA_CLIENT_ID.fullmatch(client_id)
    if match is not None and username == match["device"]:
        candidate = match["device"]
    elif username is None or username == client_id:
        candidate = client_id
    else:
        return None
    try:
        return validate_id("device_id", candidate)
    except InvalidValue:
        return None


def check_credentials(secret: str, client_id: str, password: str | None, now: float) -> str | None:
    """None when ``password`` is what IoTDA expects from this client, else the reason.

    The password is the HMAC-SHA256 of ``secret`` keyed by the client id's ``YYYYMMDDHH`` stamp
    (:func:`password`). With sign type 1 the stamp must be the current or the previous UTC hour
    of ``now`` (Unix seconds), give or take :data:`CLOCK_SKEW` seconds; with 0 it is not
    checked. Reasons never contain the secret or the password.
    """
    match = _IOTDA_CLIENT_ID.fullmatch(client_id)
    if match is None:
        return "the client id is not {device_id}_0_{0|1}_{YYYYMMDDHH}, so it has no timestamp to sign"
    if password is None:
        return "no password sent"
    stamp = match["stamp"]
    try:
        hour = calendar.timegm(time.strptime(stamp, "%Y%m%d%H"))
    except ValueError:
        return f"timestamp {stamp} in the client id is not a UTC hour (YYYYMMDDHH)"
    if match["sign"] == "1" and not hour - CLOCK_SKEW <= now < hour + 2 * 3600 + CLOCK_SKEW:
        return (
            f"timestamp {stamp} is not the current or previous UTC hour "
            f"(±{CLOCK_SKEW} s); check the device's clock"
        )
    if not hmac.compare_digest(_sign(secret, stamp).encode(), password.encode()):
        return f"wrong password (not the HMAC-SHA256 of the registered secret keyed by {stamp})"
    return None


def implicit_subscriptions(device_id: str) -> list[tuple[str, int]]:
    """The system downlinks IoTDA subscribes a device to without a SUBSCRIBE, at QoS 0."""
    return [(topic_filter, 0) for topic_filter in HuaweiDevice(device_id).subscriptions()]


def device_topics(device_id: str) -> tuple[list[str], list[str]]:
    """``(publish filters, subscribe filters)``: a device keeps to ``$oc/devices/{its id}/``."""
    own = [f"$oc/devices/{validate_id('device_id', device_id)}/#"]
    return own, list(own)


def topic_device(topic: str) -> str | None:
    """The device a topic of this protocol is about (``$oc/devices/{id}/...``), else None."""
    parts = topic.split("/", 3)
    return parts[2] if len(parts) > 3 and parts[0] == "$oc" and parts[1] == "devices" and parts[2] else None
