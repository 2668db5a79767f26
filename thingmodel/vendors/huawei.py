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
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ..errors import CodecError, InvalidValue
from ..ids import validate_id
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


def _events_from_wire(body: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(service_id, event_type, params)`` for each entry of an events body."""
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
            )
        )
    return out


_DEVICE_SENDS: EncoderTable[HuaweiDevice, ev.Uplink] = EncoderTable(VENDOR)
_PLATFORM_SENDS: EncoderTable[HuaweiPlatform, ev.PlatformDownlink] = EncoderTable(VENDOR)


class HuaweiDevice:
    """The device half: decodes downlinks into events, encodes actions into uplinks."""

    vendor = VENDOR

    def __init__(self, device_id: str, *, service_ids: Sequence[str] = ()) -> None:
        self.device_id = validate_id("device_id", device_id)
        self.prefix = _prefix(device_id)

    def subscriptions(self) -> list[str]:
        """Downlink filters, one per topic (IoTDA subscribes implicitly; generic brokers do not)."""
        p = self.prefix
        return [
            f"{p}properties/set/+",
            f"{p}properties/get/+",
            f"{p}commands/+",
            f"{p}shadow/get/response/+",
            f"{p}messages/down",
            f"{p}events/down",
        ]

    def decode(self, topic: str, payload: bytes) -> list[ev.Downlink]:
        parsed = _split(topic)
        if parsed is None or parsed[0] != self.device_id:
            return [ev.Malformed(topic, "not a downlink topic of this device")]
        _, path, rid = parsed
        kind = _DEVICE_KINDS.get(path)
        if kind is None or (rid is None) != (kind in ("message", "event")):
            return [ev.Malformed(topic, f"unknown downlink {path!r}", request_id=rid)]
        if kind == "message":
            return [ev.CloudMessage(payload)]
        try:
            body = loads_object(payload, limit=MAX_PAYLOAD)
            if kind == "event":
                return _events_down(topic, body)
            assert rid is not None
            return self._decode(kind, rid, body)
        except CodecError as exc:
            return [ev.Malformed(topic, str(exc), kind=kind, request_id=rid)]

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
        the caller): ``$oc/devices/{device_id}/user/{name}``."""
        return f"$oc/devices/{self.device_id}/user/{name}"

    encoders = _DEVICE_SENDS
    """What this half can send: ``{message class: encoder}``."""

    def shadow_key(self, service_id: str) -> str:
        return service_id

    encode = _DEVICE_SENDS.method()

    @_DEVICE_SENDS.on(ev.ReportProperties)
    def _report(self, m: ev.ReportProperties) -> list[ev.Outgoing]:
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
        body = {"service_id": m.service_id} if m.service_id else {}
        return [_out(f"{self.prefix}shadow/get/{_REQUEST}{m.request_id}", body)]

    @_DEVICE_SENDS.on(ev.SendMessage)
    def _message_up(self, m: ev.SendMessage) -> list[ev.Outgoing]:
        return [_checked(ev.Outgoing(f"{self.prefix}messages/up", m.payload))]

    @_DEVICE_SENDS.on(ev.EmitEvent)
    def _event_up(self, m: ev.EmitEvent) -> list[ev.Outgoing]:
        return [_out(f"{self.prefix}events/up", _events_to_wire(m.service_id, m.event_type, m.params))]

    @_DEVICE_SENDS.on(ev.AskTime)
    def _ask_time(self, m: ev.AskTime) -> list[ev.Outgoing]:
        body = _events_to_wire(TIME_SYNC, "time_sync_request", {"device_send_time": m.device_send_ms})
        return [_out(f"{self.prefix}events/up", body)]

    @_DEVICE_SENDS.on(ev.SettleDesired)
    def _settle(self, m: ev.SettleDesired) -> list[ev.Outgoing]:
        return []  # IoTDA keeps desired values; a refusal was answered by the set response

    def _system_up(self, service_id: str, event_type: str, params: Mapping[str, Any]) -> ev.Outgoing:
        return _out(f"{self.prefix}events/up", _events_to_wire(service_id, event_type, params))

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
        return [_out(topic, {"services": chunk}) for chunk in _chunks(items, topic)]

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


def _events_down(topic: str, body: dict[str, Any]) -> list[ev.Downlink]:
    """Each entry of an ``events/down`` body: an entry that cannot be read is Malformed alone."""
    out: list[ev.Downlink] = []
    for service_id, event_type, params in _events_from_wire(body):
        read = _SYSTEM_DOWN.get((service_id, event_type))
        if read is None:
            out.append(ev.CloudEvent(service_id, event_type, params))
            continue
        try:
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


def _chunks(items: list[dict[str, Any]], topic: str) -> list[list[dict[str, Any]]]:
    """``items`` split into runs whose ``{"services": [...]}`` fits IoTDA's message limit."""
    budget = MAX_PAYLOAD - len(dumps({"services": []}))
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


class HuaweiPlatform:
    """The platform half: decodes device uplinks, encodes platform requests and answers.
    ``clock`` gives Unix seconds for the time-sync answers."""

    vendor = VENDOR
    shadow_limits = SHADOW_LIMITS

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

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
        if kind == "message":
            return [ev.MessageUp(device_id, payload)]
        try:
            body = loads_object(payload, limit=MAX_PAYLOAD)
            if kind == "event":
                return self._events_up(topic, device_id, body)
            return self._decode(kind, device_id, rid, body)
        except CodecError as exc:
            return [ev.DeviceMalformed(device_id, topic, str(exc), kind=kind, request_id=rid)]

    def _events_up(self, topic: str, device_id: str, body: dict[str, Any]) -> list[ev.PlatformUplink]:
        """Each entry of an ``events/up`` body: an entry that cannot be read is malformed alone."""
        out: list[ev.PlatformUplink] = []
        for service_id, event_type, params in _events_from_wire(body):
            try:
                out.append(self._event(device_id, service_id, event_type, params))
            except CodecError as exc:
                kind: ev.RequestKind = "ota" if service_id == OTA else "event"
                out.append(ev.DeviceMalformed(device_id, topic, str(exc), kind=kind))
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

    encoders = _PLATFORM_SENDS
    """What this half can send: ``{message class: encoder}``."""

    def shadow_key(self, device_id: str, service_id: str) -> str:
        return service_id

    def encode(self, message: ev.PlatformDownlink) -> list[ev.Outgoing]:
        validate_id("device_id", message.device_id)
        return _PLATFORM_SENDS.encode(self, message)

    @_PLATFORM_SENDS.on(ev.PushDesired)
    def _push_desired(self, m: ev.PushDesired) -> list[ev.Outgoing]:
        topic = f"{_prefix(m.device_id)}properties/set/{_REQUEST}{m.request_id}"
        return [_out(topic, {"services": _services_list(m.services)})]

    @_PLATFORM_SENDS.on(ev.AskRead)
    def _ask_read(self, m: ev.AskRead) -> list[ev.Outgoing]:
        ask = {"service_id": m.service_id} if m.service_id else {}
        return [_out(f"{_prefix(m.device_id)}properties/get/{_REQUEST}{m.request_id}", ask)]

    @_PLATFORM_SENDS.on(ev.SendCommand)
    def _send_command(self, m: ev.SendCommand) -> list[ev.Outgoing]:
        body: dict[str, Any] = {"command_name": m.name, "paras": dict(m.params)}
        if m.service_id:
            body["service_id"] = m.service_id
        return [_out(f"{_prefix(m.device_id)}commands/{_REQUEST}{m.request_id}", body)]

    @_PLATFORM_SENDS.on(ev.MessageDown)
    def _message_down(self, m: ev.MessageDown) -> list[ev.Outgoing]:
        return [_checked(ev.Outgoing(f"{_prefix(m.device_id)}messages/down", m.payload))]

    @_PLATFORM_SENDS.on(ev.EventDown)
    def _event_down(self, m: ev.EventDown) -> list[ev.Outgoing]:
        body = _events_to_wire(m.service_id, m.event_type, m.params)
        return [_out(f"{_prefix(m.device_id)}events/down", body)]

    @_PLATFORM_SENDS.on(ev.AnswerShadow)
    def _answer_shadow(self, m: ev.AnswerShadow) -> list[ev.Outgoing]:
        body = {"object_device_id": m.device_id, "shadow": _shadow_to_wire(m.services)}
        return [_out(f"{_prefix(m.device_id)}shadow/get/response/{_REQUEST}{m.request_id}", body)]

    @_PLATFORM_SENDS.on(ev.AnswerRequest)
    def _answer_request(self, m: ev.AnswerRequest) -> list[ev.Outgoing]:
        # IoTDA's only device request with an answer topic is the shadow get
        if m.kind != "shadow":
            raise CodecError(f"{VENDOR} has no answer to a device's {m.kind!r} uplink")
        body = {
            "object_device_id": m.device_id,
            "shadow": [],
            "result_code": m.code,
            "result_desc": m.reason or "success",
        }
        return [_out(f"{_prefix(m.device_id)}shadow/get/response/{_REQUEST}{m.request_id}", body)]

    @_PLATFORM_SENDS.on(ev.AnswerTimeSync)
    def _answer_time_sync(self, m: ev.AnswerTimeSync) -> list[ev.Outgoing]:
        params = {
            "device_send_time": m.device_send_time,
            "server_recv_time": m.server_recv_time,
            "server_send_time": self._ms(),
        }
        body = _events_to_wire(TIME_SYNC, "time_sync_response", params)
        return [_out(f"{_prefix(m.device_id)}events/down", body)]

    def _system_down(
        self, device_id: str, service_id: str, event_type: str, params: Mapping[str, Any]
    ) -> ev.Outgoing:
        return _out(f"{_prefix(device_id)}events/down", _events_to_wire(service_id, event_type, params))

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
        topic = f"{_prefix(m.device_id)}properties/set/{_REQUEST}{m.request_id}"
        return [_out(topic, {"services": [service]})]

    @_PLATFORM_SENDS.on(ev.AnswerRules)
    def _answer_rules(self, m: ev.AnswerRules) -> list[ev.Outgoing]:
        rules = [_json_object(f"AnswerRules rules[{index}]", rule) for index, rule in enumerate(m.rules)]
        params = {"rulesInfos": rules}
        return [self._system_down(m.device_id, DEVICE_RULE, "device_rule_config_response", params)]


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
