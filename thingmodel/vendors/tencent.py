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

Every device request gets its answer (:class:`~thingmodel.protocol.messages.AnswerRequest`):
Explorer ``report_reply``, ``event_reply`` (for ``event_post`` and ``events_post``),
``report_info_reply``, ``clear_control_reply``, an error ``get_status_reply``; the hub's
``update`` (and a refused ``get``) result on ``$shadow/operation/result/...``. A refusal carries
a non-zero code and its reason in ``status`` (the hub documents no field for a reason: we use
``status`` there too). The hub's update result leaves out ``payload.state`` (the fields of the
update, in Tencent's capture): devices read its ``result`` and ``payload.version``.

Free-form messages go up on the device's default custom topic ``{ProductId}/{DeviceName}/data``
(which Tencent creates for every device, with publish and subscribe rights), as the bytes they
are; the platform halves read them as :class:`~thingmodel.protocol.messages.MessageUp`.

Messages down (:class:`~thingmodel.protocol.messages.MessageDown`) go to a default custom topic
too: ``{ProductId}/{DeviceName}/control`` on Explorer (subscribe-only, unused by the data
template), ``{ProductId}/{DeviceName}/message`` on the hub (whose ``control`` carries our
commands). A device's own custom topics are ``{ProductId}/{DeviceName}/{name}``
(:meth:`TencentExplorerDevice.custom_topic`).

OTA is the same on both (tencent-more.md 1): ``report_version`` and ``report_progress`` up on
``$ota/report/{pid}/{dn}``, ``update_firmware`` and ``report_version_rsp`` down on
``$ota/update/{pid}/{dn}``; a progress report's ``percent`` and ``result_code`` are strings, and
failures map to Tencent's result codes through :data:`FAILURE_CODES` / :data:`CODE_FAILURES`.
Explorer devices also send ``report_info`` (:class:`~thingmodel.protocol.messages.ReportInfo`).
Logs (Tencent takes them over a signed HTTP upload) and files (no file service) are not sent.

Gateways (tencent-more.md 2, the same on both): ``bind``/``unbind``, ``online``/``offline`` and
``describe_sub_devices`` up on ``$gateway/operation/{pid}/{dn}``, their replies and ``change``
pushes down on ``$gateway/operation/result/{pid}/{dn}`` (:class:`_GatewayDevice`,
:class:`_GatewayPlatform`). A child (``gateway_id=``) speaks on its own topics over its
gateway's connection, so a child's codec is its ordinary one.

Uplink topics name a device by two levels, ``{ProductId}/{DeviceName}``; a product id holding
``.`` is refused there, as ``X.Y/Z`` and ``X/Y.Z`` would both be ``X.Y.Z``. Shadows keep to the
documented limits (:data:`SHADOW_LIMITS`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import random
import re
import string
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..errors import CodecError, InvalidValue
from ..ids import new_id as _new_id
from ..ids import validate_id
from ..protocol import gateway as gw
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
#: the shadow document limits of tencent.md 1.5 (JSON depth 5, 16 KB, 20 properties)
SHADOW_LIMITS = ev.ShadowLimits(max_depth=5, max_bytes=16 * 1024, max_properties=20)
#: devices remembered for the once-per-device log of a known SDK quirk
_QUIRK_MEMORY = 1000


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


def _uplink_device(product_id: str, device_name: str) -> str:
    """``ProductId.DeviceName`` from an uplink topic's two levels; InvalidValue if they name none."""
    if "." in product_id:  # X.Y/Z would be X/Y.Z's device
        raise InvalidValue(f"product id {product_id!r} contains '.', which no product id holds")
    device_id = f"{product_id}.{device_name}"
    split_device_id(device_id)
    return device_id


def data_topic(product_id: str, device_name: str) -> str:
    """The device's default custom topic, which carries its free-form messages."""
    return f"{product_id}/{device_name}/data"


def _message_out(topic: str, payload: object) -> ev.Outgoing:
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise CodecError(f"a message is bytes, not {type(payload).__name__}")
    if len(payload) > MAX_PAYLOAD:
        raise CodecError(
            f"message of {len(payload)} bytes exceeds Tencent IoT's limit of {MAX_PAYLOAD} bytes"
        )
    return ev.Outgoing(topic, bytes(payload))


def _message_up(device_id: str, topic: str, payload: bytes) -> list[ev.PlatformUplink]:
    if len(payload) > MAX_PAYLOAD:
        reason = f"message of {len(payload)} bytes exceeds Tencent IoT's limit of {MAX_PAYLOAD} bytes"
        return [ev.DeviceMalformed(device_id, topic, reason, kind="message")]
    return [ev.MessageUp(device_id, bytes(payload))]


def sys_topics(product_id: str, device_name: str) -> tuple[str, str]:
    """``(up, down)``: the system topics that carry the NTP time request and its answer."""
    return f"$sys/operation/{product_id}/{device_name}", f"$sys/operation/result/{product_id}/{device_name}"


#: the time request of tencent-more.md 4, as both SDKs send it (it carries no token)
_TIME_REQUEST = {"type": "get", "resource": ["time"]}
_MAX_MS = 2**63


def _time_answered(topic: str, payload: bytes) -> list[ev.Downlink]:
    """``{"type":"get","time":s,"ntptime1":ms,"ntptime2":ms}``; the 2019 shape has only ``time``
    (both server times are then ``time`` in ms, as the C SDK takes them)."""
    try:
        body = loads_object(payload, limit=MAX_PAYLOAD)
        if body.get("type") != "get":
            raise CodecError(f"unknown type {body.get('type')!r} (expected 'get')")
        seconds = field(body, "time", int)
        ntp = [field(body, name, int, required=False) for name in ("ntptime1", "ntptime2")]
        recv, send = (seconds * 1000 if ms is None else ms for ms in ntp)
        if not (0 <= recv < _MAX_MS and 0 <= send < _MAX_MS):
            raise CodecError("the server times are not milliseconds since the epoch")
        return [ev.TimeAnswered(None, None, recv, send)]
    except CodecError as exc:
        return [ev.Malformed(topic, str(exc))]


def _time_requested(topic: str, payload: bytes, now_ms: int) -> list[ev.PlatformUplink]:
    """A device's ``$sys/operation/{pid}/{dn}`` request: only the time is served."""
    parts = topic.split("/")
    if len(parts) != 4:
        return [ev.DeviceMalformed(None, topic, "not a device uplink topic")]
    try:
        device_id = _uplink_device(parts[2], parts[3])
    except InvalidValue as exc:
        return [ev.DeviceMalformed(None, topic, str(exc))]
    try:
        body = loads_object(payload, limit=MAX_PAYLOAD)
        resource = field(body, "resource", list)
        if body.get("type") != "get" or "time" not in resource:
            raise CodecError("only {'type': 'get', 'resource': ['time']} is served on $sys/operation")
    except CodecError as exc:
        return [ev.DeviceMalformed(device_id, topic, str(exc))]
    # Tencent's request carries no device time: the answer does not echo one
    return [ev.TimeSyncRequested(device_id, 0, now_ms)]


def _time_answer(m: ev.AnswerTimeSync, now: float) -> list[ev.Outgoing]:
    pid, dev = split_device_id(m.device_id)
    body = {"type": "get", "time": int(now), "ntptime1": m.server_recv_time, "ntptime2": int(now * 1000)}
    return [_out(sys_topics(pid, dev)[1], body)]


# --- OTA, messages down and custom topics (hub and Explorer alike) -------------------------------
def ota_topics(product_id: str, device_name: str) -> tuple[str, str]:
    """``(up, down)``: ``$ota/report/{pid}/{dn}`` and ``$ota/update/{pid}/{dn}`` (tencent-more.md 1)."""
    return f"$ota/report/{product_id}/{device_name}", f"$ota/update/{product_id}/{device_name}"


def message_down_topic(product_id: str, device_name: str, *, explorer: bool) -> str:
    """Where messages down go: Explorer's default subscribe-only custom topic ``control``; on the
    hub ``control`` carries our commands, so ``message``."""
    return f"{product_id}/{device_name}/{'control' if explorer else 'message'}"


#: custom topic names the device halves use themselves (so a device's own custom topic may not)
_RESERVED_HUB = {"control": "commands down", "event": "command replies up", "message": "messages down"}
_RESERVED_EXPLORER = {"control": "messages down"}


def _custom_topic(product_id: str, device_name: str, name: str, reserved: Mapping[str, str]) -> str:
    if name in reserved:
        raise InvalidValue(
            f"custom topic {name!r} carries thingmodel's {reserved[name]} on Tencent IoT: choose another name"
        )
    return f"{product_id}/{device_name}/{name}"


def _message_down(topic: str, payload: bytes) -> list[ev.Downlink]:
    if len(payload) > MAX_PAYLOAD:
        reason = f"message of {len(payload)} bytes exceeds Tencent IoT's limit of {MAX_PAYLOAD} bytes"
        return [ev.Malformed(topic, reason, kind="message")]
    return [ev.CloudMessage(bytes(payload))]


FAILURE_CODES: dict[ev.UpgradeFailure, int] = {
    "download": -1,
    "verify": -4,
    "install": -5,
    "busy": -5,
    "unsupported": -5,
    "current": -5,
}
"""``UpgradeProgress.failure`` -> the ``result_code`` of a ``fail`` report. Tencent documents -1
download timeout, -2 file not found, -3 signature expired, -4 MD5 mismatch, -5 update failed
(tencent-more.md 1.1); what has no code of its own is -5."""
CODE_FAILURES: dict[int, ev.UpgradeFailure] = {
    -1: "download",
    -2: "download",
    -3: "download",
    -4: "verify",
    -5: "install",
}
"""A ``fail`` report's ``result_code`` -> ``UpgradeReported.failure`` (other codes: None)."""
_PROGRESS_STATES: dict[str, str] = {
    "downloading": "downloading",
    "installing": "burning",
    "succeeded": "done",
    "failed": "fail",
}
_REPORTED_STATES: dict[str, ev.UpgradeState] = {
    "downloading": "downloading",
    "burning": "installing",
    "updating": "installing",  # Explorer's extra state (tencent-more.md 1.2)
    "done": "succeeded",
    "fail": "failed",
}
#: both SDKs refuse a version outside 1..32 characters (tencent-more.md 1.1)
MAX_VERSION = 32
#: a failure reason longer than this is cut, so that the report still fits a message
MAX_RESULT_MSG = 512
_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_CODE_TEXT = re.compile(r"-?[0-9]{1,10}")
_MAX_TASK_ID = 64


def _int_or_text(obj: dict[str, Any], name: str, where: str, *, required: bool = True) -> int | None:
    """An integer sent as a number or as its decimal text (Tencent sends both)."""
    value = obj.get(name)
    if value is None:
        if required:
            raise CodecError(f"missing field {where}{name!r}")
        return None
    if isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31:
        return value
    if isinstance(value, str) and _CODE_TEXT.fullmatch(value):
        return int(value)
    raise CodecError(f"field {where}{name!r} must be a 32-bit integer or its text, got {value!r:.40}")


def _task_id(obj: dict[str, Any], where: str) -> str | None:
    """Explorer's ``task_id`` (a number on the wire, text in thingmodel); None when absent."""
    value = obj.get("task_id")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= _MAX_TASK_ID:
        return value
    raise CodecError(f"field {where}'task_id' must be a task number, got {value!r:.40}")


def _wire_task_id(task_id: str) -> int | str:
    """A task id as Tencent sends it: a number when it is one."""
    if task_id.isascii() and task_id.isdigit() and len(task_id) <= 18 and str(int(task_id)) == task_id:
        return int(task_id)
    return task_id


def _peek_task_id(body: dict[str, Any]) -> str | None:
    try:
        return _task_id(body, "")
    except CodecError:
        return None


def _offered_version(version: object, where: str = "") -> str:
    if not isinstance(version, str) or not 1 <= len(version) <= MAX_VERSION:
        raise CodecError(f"field {where}'version' must be 1 to {MAX_VERSION} characters, got {version!r:.40}")
    return version


def _ota_downlink(topic: str, payload: bytes) -> list[ev.Downlink]:
    """``$ota/update``: ``update_firmware`` -> UpgradeOffer, ``report_version_rsp`` -> UpgradeAcked."""
    kind: ev.RequestKind = "other"
    task_id: str | None = None
    try:
        body = loads_object(payload, limit=MAX_PAYLOAD)
        message_type = field(body, "type", str)
        if message_type == "report_version_rsp":
            code = _int_or_text(body, "result_code", "")
            version = field(body, "version", str, required=False)
            reason = field(body, "result_msg", str, required=False) or ""
            return [ev.UpgradeAcked(version, code or 0, reason)]
        if message_type != "update_firmware":
            raise CodecError(
                f"unknown type {message_type!r} (expected 'update_firmware' or 'report_version_rsp')"
            )
        kind, task_id = "ota", _peek_task_id(body)
        _task_id(body, "")  # a task id that is not one is the first thing named
        version = _offered_version(body.get("version"))
        url = field(body, "url", str)
        if not url.lower().startswith(("http://", "https://")):
            raise CodecError(f"field 'url' must be an http(s) URL, got {url!r:.60}")
        md5 = field(body, "md5sum", str)
        if not _MD5.fullmatch(md5):
            raise CodecError(f"field 'md5sum' must be 32 hex digits, got {md5!r:.40}")
        size = field(body, "file_size", int)
        if not 0 <= size < 2**63:
            raise CodecError(f"field 'file_size' must be a size in bytes, got {size}")
        return [ev.UpgradeOffer(version, url, size, md5=md5.lower(), task_id=task_id)]
    except CodecError as exc:
        return [ev.Malformed(topic, str(exc), kind=kind, request_id=task_id)]


def _ota_uplink(topic: str, payload: bytes) -> list[ev.PlatformUplink]:
    """``$ota/report/{pid}/{dn}``: ``report_version`` and ``report_progress``."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[1] != "report":
        return [ev.DeviceMalformed(None, topic, "not a device uplink topic")]
    try:
        device_id = _uplink_device(parts[2], parts[3])
    except InvalidValue as exc:
        return [ev.DeviceMalformed(None, topic, str(exc), kind="ota")]
    try:
        body = loads_object(payload, limit=MAX_PAYLOAD)
        message_type = field(body, "type", str)
        if message_type not in ("report_version", "report_progress"):
            raise CodecError(
                f"unknown type {message_type!r} (expected 'report_version' or 'report_progress')"
            )
        report = field(body, "report", dict)
        if message_type == "report_version":
            version = field(report, "version", str, where="report.")
            if not version:
                raise CodecError("field report.'version' is empty")
            return [ev.VersionReported(device_id, version)]
        progress = field(report, "progress", dict, where="report.")
        where = "report.progress."
        state_name = field(progress, "state", str, where=where)
        state = _REPORTED_STATES.get(state_name)
        if state is None:
            known = ", ".join(_REPORTED_STATES)
            raise CodecError(f"field {where}'state' is {state_name!r:.40} (known: {known})")
        percent = _int_or_text(progress, "percent", where, required=False)
        if percent is not None and not 0 <= percent <= 100:
            raise CodecError(f"field {where}'percent' must be 0 to 100, got {percent}")
        code = _int_or_text(progress, "result_code", where, required=False)
        reason = field(progress, "result_msg", str, required=False, where=where) or ""
        version = field(report, "version", str, where="report.")
        failure = CODE_FAILURES.get(code) if state == "failed" and code is not None else None
        return [
            ev.UpgradeReported(
                device_id,
                version or None,
                state,
                percent,
                _task_id(report, "report."),
                failure,
                reason,
                code=progress["result_code"] if code is not None else None,
            )
        ]
    except CodecError as exc:
        return [ev.DeviceMalformed(device_id, topic, str(exc), kind="ota")]


def _version_report(topic: str, m: ev.ReportVersion) -> list[ev.Outgoing]:
    version = m.fw_version or m.sw_version
    if not version:
        raise CodecError("a Tencent version report needs fw_version or sw_version")
    return [_out(topic, {"type": "report_version", "report": {"version": version}})]


def _progress_report(topic: str, m: ev.UpgradeProgress) -> list[ev.Outgoing]:
    state = _PROGRESS_STATES.get(m.state)
    if state is None:
        raise CodecError(f"unknown upgrade state {m.state!r} (known: {', '.join(_PROGRESS_STATES)})")
    progress: dict[str, Any] = {"state": state}
    if m.state == "downloading" and m.percent is not None:  # as Tencent's doc and SDKs send it
        if not 0 <= m.percent <= 100:
            raise CodecError(f"upgrade percent must be 0 to 100, got {m.percent}")
        progress["percent"] = str(m.percent)
    code = FAILURE_CODES.get(m.failure or "install", -5) if m.state == "failed" else CODE_OK
    progress["result_code"] = str(code)
    progress["result_msg"] = m.reason[:MAX_RESULT_MSG]
    report: dict[str, Any] = {"progress": progress, "version": m.version}
    if m.task_id is not None:
        report["task_id"] = _wire_task_id(m.task_id)
    out = _out(topic, {"type": "report_progress", "report": report})
    # both SDKs send download progress with QoS 0, the rest with QoS 1 (tencent-more.md 1)
    return [ev.Outgoing(out.topic, out.payload, qos=0 if m.state == "downloading" else 1)]


def _offer(m: ev.OfferUpgrade) -> list[ev.Outgoing]:
    pid, dev = split_device_id(m.device_id)
    if m.token is not None:
        raise CodecError("Tencent's update_firmware has no field for a download token: sign the URL instead")
    if not m.url.lower().startswith(("http://", "https://")):
        raise CodecError(f"an upgrade URL must be http(s), got {m.url!r:.60}")
    if not isinstance(m.md5, str) or not _MD5.fullmatch(m.md5):
        raise CodecError(f"an upgrade offer needs the package's MD5 as 32 hex digits, got {m.md5!r:.40}")
    if isinstance(m.size, bool) or not isinstance(m.size, int) or m.size < 0:
        raise CodecError(f"an upgrade offer needs the package's size in bytes, got {m.size!r}")
    body: dict[str, Any] = {
        "type": "update_firmware",
        "version": _offered_version(m.version),
        "url": m.url,
        "md5sum": m.md5.lower(),
        "file_size": m.size,
    }
    if m.task_id is not None:
        body["task_id"] = _wire_task_id(m.task_id)
    return [_out(ota_topics(pid, dev)[1], body)]


def _version_answer(m: ev.AnswerVersion) -> list[ev.Outgoing]:
    pid, dev = split_device_id(m.device_id)
    body: dict[str, Any] = {"type": "report_version_rsp", "result_code": m.code, "result_msg": m.reason}
    if m.version is not None:
        body["version"] = m.version
    return [_out(ota_topics(pid, dev)[1], body)]


def _message_down_out(m: ev.MessageDown, *, explorer: bool) -> list[ev.Outgoing]:
    pid, dev = split_device_id(m.device_id)
    return [_message_out(message_down_topic(pid, dev, explorer=explorer), m.payload)]


def _kind_of(kinds: Mapping[str, ev.RequestKind], name: object) -> ev.RequestKind:
    return kinds.get(name, "other") if isinstance(name, str) else "other"


def _refusal(what: str, body: Mapping[str, Any]) -> str:
    status = body.get("status")
    return f"{what}: {status}" if isinstance(status, str) and status else what


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


# --- gateways and sub-devices (tencent-more.md 2), both halves ---------------------------------
def gateway_topics(product_id: str, device_name: str) -> tuple[str, str]:
    """``(up, down)``: a gateway's ``$gateway/operation/{pid}/{dn}`` requests and
    ``$gateway/operation/result/{pid}/{dn}`` replies and ``change`` pushes."""
    return (
        f"$gateway/operation/{product_id}/{device_name}",
        f"$gateway/operation/result/{product_id}/{device_name}",
    )


GATEWAY_RESULTS: dict[int, str] = {
    0: "success",
    -1: "the gateway is not bound to the sub-device",
    -2: "system error (the sub-device's connect or disconnect failed)",
    801: "bad request parameter",
    802: "bad device name, or the device does not exist",
    803: "signature check failed",
    804: "signature algorithm not supported",
    805: "signature request expired",
    806: "device already bound",
    807: "non-general devices cannot be bound",
    808: "forbidden operation",
    809: "duplicate binding",
    810: "unsupported sub-device",
}
"""The ``result`` of each sub-device in a gateway reply, and what it means (tencent-more.md 2)."""
#: what each Tencent gateway request is, as a neutral operation
_GATEWAY_OPERATIONS: dict[str, gw.ChildOperation] = {
    "bind": "add",
    "unbind": "remove",
    "online": "status",
    "offline": "status",
}
#: sub-devices one request or reply names at most (ours: both SDKs send one; 50 keep a bind
#: with signatures well under the 16 KB limit)
MAX_GATEWAY_DEVICES = 50
#: seconds a bind signature is good for after its ``timestamp`` (both SDKs sign the current time)
BIND_SIGNATURE_TTL = 3600
#: the result code of a refusal, by words of the reason (our cloud's vendor-free reasons); a
#: reason ending in ``(code N)`` (what the device half decodes, and check_proof says) is code N
_REASON_CODES: tuple[tuple[str, int], ...] = (
    ("not registered", 802),
    ("does not exist", 802),
    ("expired", 805),
    ("algorithm", 804),
    ("signature", 803),
    ("cannot be its own child", 807),
    ("is a gateway", 807),
    ("already", 806),
    ("not a child", -1),
    ("not bound", -1),
    ("no room", 808),
)
_FALLBACK_CODES: dict[gw.ChildOperation, int] = {"add": 808, "remove": 808, "status": -2, "sync": -2}
_CODE_IN_REASON = re.compile(r"\(code (-?[0-9]{1,6})\)$")
_BIND_METHODS = {"hmacsha1": hashlib.sha1, "hmacsha256": hashlib.sha256}
_NONCES = random.SystemRandom()


def _nonce() -> int:
    return _NONCES.randrange(1, 2**31 - 1)


def bind_signature(
    product_id: str, device_name: str, secret: str, nonce: int, timestamp: int, method: str = "hmacsha1"
) -> str:
    """``base64(HMAC(secret, "{pid}{dn};{nonce};{timestamp}"))``: the key is the sub-device's
    secret as text (not base64-decoded, unlike the MQTT password), the digest the raw bytes."""
    digest = _BIND_METHODS.get(method)
    if digest is None:
        raise InvalidValue(f"unknown bind signature method {method!r} (known: {', '.join(_BIND_METHODS)})")
    text = f"{product_id}{device_name};{nonce};{timestamp}"
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), digest).digest()).decode()


def result_reason(code: int) -> str:
    """A failed sub-device's reason: what Tencent says its ``result`` means, and the code."""
    return f"{GATEWAY_RESULTS.get(code, 'undocumented result')} (code {code})"


def result_code(operation: gw.ChildOperation, reason: str) -> int:
    """The ``result`` a refusal's ``reason`` goes out with: the code it ends in, else the first
    code whose words it holds, else one per operation (808 forbidden, or -2 system error)."""
    found = _CODE_IN_REASON.search(reason)
    if found is not None:
        return int(found.group(1))
    lowered = reason.lower()
    for words, code in _REASON_CODES:
        if words in lowered:
            return code
    return _FALLBACK_CODES[operation]


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + MAX_GATEWAY_DEVICES] for i in range(0, len(items), MAX_GATEWAY_DEVICES)]


def _named(device_id: str) -> dict[str, Any]:
    pid, dev = split_device_id(device_id)
    return {"product_id": pid, "device_name": dev}


def _gateway_request(topic: str, kind: str, devices: Sequence[Mapping[str, Any]]) -> list[ev.Outgoing]:
    return [_out(topic, {"type": kind, "payload": {"devices": list(part)}}) for part in _chunks(devices)]


def _listed(body: dict[str, Any], *, required: bool) -> list[tuple[str, dict[str, Any]]]:
    """``payload.devices``, each as ``(ProductId.DeviceName, its object)``."""
    payload = field(body, "payload", dict, required=required)
    if payload is None:
        return []
    devices = field(payload, "devices", list, required=required, where="payload.")
    if devices is None:
        return []
    out: list[tuple[str, dict[str, Any]]] = []
    for index, item in enumerate(devices):
        where = f"payload.devices[{index}]."
        if not isinstance(item, dict):
            raise CodecError(f"payload.devices[{index}] must be an object")
        pid = field(item, "product_id", str, where=where)
        dev = field(item, "device_name", str, where=where)
        try:
            out.append((_uplink_device(pid, dev), item))
        except InvalidValue as exc:
            raise CodecError(f"{where[:-1]}: {exc}") from None
    return out


def _topic_names(topic: str) -> tuple[str, str] | None:
    """The ``(ProductId, DeviceName)`` a Tencent topic names, else None (never raises)."""
    parts = topic.split("/")
    if parts[0] == "$thing" and len(parts) == 5:
        pid, dev = parts[3], parts[4]
    elif parts[0] in ("$shadow", "$sys", "$ota", "$gateway") and len(parts) in (4, 5):
        pid, dev = parts[-2], parts[-1]
    elif len(parts) >= 3 and not parts[0].startswith("$"):
        pid, dev = parts[0], parts[1]
    else:
        return None
    return (pid, dev) if pid and dev and "." not in pid else None


class _GatewayDevice:
    """What the two device halves share as a gateway (``gateway_id=None``) or as a gateway's
    child (``gateway_id=`` its gateway): the ``$gateway/operation`` requests, the decoding of
    their replies and ``change`` pushes, and :meth:`addressee`.

    A child's codec is its ordinary codec on its own ``ProductId.DeviceName`` topics, which its
    gateway's connection publishes and subscribes; it sends no gateway requests itself.
    """

    device_id: str
    product_id: str
    device_name: str
    clock: Callable[[], float]
    #: the gateway whose connection serves this device (None: it connects itself)
    gateway_id: str | None
    gateway_up: str
    gateway_down: str
    nonce: Callable[[], int]

    def _gateway_init(self, gateway_id: str | None, nonce: Callable[[], int]) -> None:
        self.device_id = f"{self.product_id}.{self.device_name}"
        if gateway_id is not None:
            split_device_id(gateway_id)
            if gateway_id == self.device_id:
                raise InvalidValue(f"{gateway_id} cannot be its own gateway")
        self.gateway_id = gateway_id
        self.nonce = nonce
        self.gateway_up, self.gateway_down = gateway_topics(self.product_id, self.device_name)

    def gateway_subscriptions(self) -> list[str]:
        """What a gateway subscribes besides :meth:`subscriptions`: its replies topic (an
        ordinary device leaves it alone; a child has none)."""
        return [] if self.gateway_id is not None else [self.gateway_down]

    def addressee(self, topic: str, payload: bytes) -> str | None:
        """The child (``ProductId.DeviceName``) a downlink is for: the device its topic names,
        when that is not this one; None for this device's own (and topics naming none)."""
        names = _topic_names(topic)
        if names is None:
            return None
        device_id = f"{names[0]}.{names[1]}"
        return None if device_id == self.device_id else device_id

    def _gateway_downlink(self, topic: str, payload: bytes) -> list[ev.Downlink]:
        """A reply (-> ChildrenAnswered, or ChildrenChanged for describe_sub_devices) or a
        ``change`` push (-> ChildrenChanged)."""
        try:
            body = loads_object(payload, limit=MAX_PAYLOAD)
            kind = field(body, "type", str)
            if kind == "describe_sub_devices":
                listed = _listed(body, required=False)
                added = [gw.ChildInfo(d, product_id=d.partition(".")[0]) for d, _ in listed]
                return [gw.ChildrenChanged(added=added, complete=True)]
            if kind == "change":
                listed = _listed(body, required=True)
                status = field(body["payload"], "status", int, where="payload.")
                if status == 1:
                    return [
                        gw.ChildrenChanged(
                            added=[gw.ChildInfo(d, product_id=d.partition(".")[0]) for d, _ in listed]
                        )
                    ]
                if status == 0:
                    return [gw.ChildrenChanged(removed=[d for d, _ in listed])]
                raise CodecError(f"field payload.'status' is {status} (0 unbound, 1 bound)")
            operation = _GATEWAY_OPERATIONS.get(kind)
            if operation is None:
                known = ", ".join([*_GATEWAY_OPERATIONS, "describe_sub_devices", "change"])
                raise CodecError(f"unknown type {kind!r:.40} (known: {known})")
            done: list[str] = []
            failed: dict[str, str] = {}
            for index, (device_id, item) in enumerate(_listed(body, required=True)):
                code = _int_or_text(item, "result", f"payload.devices[{index}].")
                if code == CODE_OK:
                    done.append(device_id)
                else:
                    failed[device_id] = result_reason(code or 0)
            return [gw.ChildrenAnswered(operation, None, done, failed)]
        except CodecError as exc:
            return [ev.Malformed(topic, str(exc))]

    def acknowledge(self, changed: gw.ChildrenChanged) -> list[ev.Outgoing]:
        """The gateway's ack of a ``change`` push it decoded (``{"type":"change","result":0}``);
        nothing for a describe_sub_devices answer (``complete``), which wants none."""
        if changed.complete or self.gateway_id is not None:
            return []
        return [_out(self.gateway_up, {"type": "change", "result": CODE_OK})]

    def _as_gateway(self, what: str) -> None:
        if self.gateway_id is not None:
            raise CodecError(f"{self.device_id} is a child of {self.gateway_id}: it cannot {what}")

    def _bind(self, m: gw.AddChildren) -> list[ev.Outgoing]:
        self._as_gateway("bind children")
        devices: dict[str, dict[str, Any]] = {}
        timestamp = int(self.clock())
        for child in m.children:
            pid, dev = split_device_id(child.device_id)
            if child.product_id is not None and child.product_id != pid:
                raise CodecError(
                    f"child {child.device_id}: product_id {child.product_id!r} is not its ProductId"
                )
            if not child.secret:
                raise CodecError(
                    f"child {child.device_id} has no secret: Tencent's bind is signed with the "
                    "sub-device's device secret (ChildInfo.secret)"
                )
            nonce = self.nonce()
            devices.setdefault(
                child.device_id,
                {
                    "product_id": pid,
                    "device_name": dev,
                    "signature": bind_signature(pid, dev, child.secret, nonce, timestamp),
                    "random": nonce,
                    "timestamp": timestamp,
                    "signmethod": "hmacsha1",  # what both SDKs send
                    "authtype": "psk",
                },
            )
        return _gateway_request(self.gateway_up, "bind", list(devices.values()))

    def _unbind(self, m: gw.RemoveChildren) -> list[ev.Outgoing]:
        self._as_gateway("unbind children")
        return _gateway_request(self.gateway_up, "unbind", [_named(d) for d in dict.fromkeys(m.device_ids)])

    def _status(self, m: gw.ChildrenStatus) -> list[ev.Outgoing]:
        self._as_gateway("say which children are online")
        by_state: dict[bool, list[dict[str, Any]]] = {}
        for device_id, online in m.online.items():
            by_state.setdefault(bool(online), []).append(_named(device_id))
        out: list[ev.Outgoing] = []
        for online, devices in by_state.items():  # one request per state, in the order they came
            out += _gateway_request(self.gateway_up, "online" if online else "offline", devices)
        return out

    def _sync(self, m: gw.SyncChildren) -> list[ev.Outgoing]:
        self._as_gateway("ask for children")
        return [_out(self.gateway_up, {"type": "describe_sub_devices"})]


for _table in (_HUB_DEVICE_SENDS, _EXPLORER_DEVICE_SENDS):
    _table.on(gw.AddChildren)(_GatewayDevice._bind)
    _table.on(gw.RemoveChildren)(_GatewayDevice._unbind)
    _table.on(gw.ChildrenStatus)(_GatewayDevice._status)
    _table.on(gw.SyncChildren)(_GatewayDevice._sync)


class _GatewayPlatform:
    """What the two platform halves share for gateways: ``$gateway/operation`` requests in
    (:class:`~thingmodel.protocol.gateway.GatewayAsked`), replies and ``change`` pushes out
    (:class:`~thingmodel.protocol.gateway.TellGateway`).

    Tencent's requests carry no id: each decoded request's ``request_id`` is its ``type``
    (``bind``, ``unbind``, ``online``, ``offline``, ``describe_sub_devices``), which the answer
    echoes (it tells an ``online`` answer from an ``offline`` one). A child's own uplinks name
    it in their topics and are decoded as any device's; downlinks to a child go on its own
    topics, which its gateway subscribes, so :attr:`parent_of` changes nothing on the wire.
    """

    clock: Callable[[], float]
    #: the gateway a device is reached through (the local cloud sets its book's)
    parent_of: Callable[[str], str | None]

    def check_proof(self, child: gw.ChildInfo, secret: str) -> str | None:
        """None when ``child.proof`` (a bind's signature, as decoded) is signed with the child's
        registered ``secret`` and not expired; else the reason, ending in its result code."""
        if child.proof is None:
            return "the bind carries no signature (code 801)"
        parts = child.proof.split(";", 4)
        if len(parts) != 5 or not all(_CODE_TEXT.fullmatch(n) for n in parts[2:4]):
            return "the bind's signature fields are not as the platform half decodes them (code 801)"
        authtype, method, nonce, timestamp, signature = parts
        if authtype != "psk":
            return f"authtype {authtype!r}: this cloud checks key (psk) binds only (code 804)"
        if method not in _BIND_METHODS:
            return (
                f"signature method {method!r} is not supported (known: {', '.join(_BIND_METHODS)}) (code 804)"
            )
        pid, dev = split_device_id(child.device_id)
        expected = bind_signature(pid, dev, secret, int(nonce), int(timestamp), method)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return f"signature check failed: not the {method} of the bind keyed by its secret (code 803)"
        now = int(self.clock())
        if int(timestamp) + BIND_SIGNATURE_TTL < now:
            return f"signature request expired: signed at {timestamp}, now {now} (code 805)"
        return None

    def _gateway_uplink(self, topic: str, payload: bytes) -> list[ev.PlatformUplink]:
        parts = topic.split("/")
        if len(parts) != 4 or parts[1] != "operation":
            return [ev.DeviceMalformed(None, topic, "not a device uplink topic")]
        try:
            gateway = _uplink_device(parts[2], parts[3])
        except InvalidValue as exc:
            return [ev.DeviceMalformed(None, topic, str(exc))]
        try:
            body = loads_object(payload, limit=MAX_PAYLOAD)
            kind = field(body, "type", str)
            if kind == "describe_sub_devices":
                return [gw.GatewayAsked(gateway, gw.SyncChildren(kind))]
            if kind == "change":  # the gateway's ack of a change push
                result = _int_or_text(body, "result", "")
                if result == CODE_OK:
                    return []
                raise CodecError(f"the gateway answered the cloud's change with result {result}")
            if kind not in _GATEWAY_OPERATIONS:
                known = ", ".join([*_GATEWAY_OPERATIONS, "describe_sub_devices", "change"])
                raise CodecError(f"unknown type {kind!r:.40} (known: {known})")
            listed = _listed(body, required=True)
            if not listed:
                raise CodecError("field payload.'devices' names no sub-device")
            request: gw.GatewayUplink
            if kind == "bind":
                children = [
                    gw.ChildInfo(d, product_id=d.partition(".")[0], proof=_proof(item, i))
                    for i, (d, item) in enumerate(listed)
                ]
                request = gw.AddChildren(kind, children)
            elif kind == "unbind":
                request = gw.RemoveChildren(kind, [d for d, _ in listed])
            else:
                request = gw.ChildrenStatus(kind, {d: kind == "online" for d, _ in listed})
            return [gw.GatewayAsked(gateway, request)]
        except CodecError as exc:
            return [ev.DeviceMalformed(gateway, topic, str(exc))]

    def _tell_gateway(self, m: gw.TellGateway) -> list[ev.Outgoing]:
        topic = gateway_topics(*split_device_id(m.device_id))[1]
        message = m.message
        if isinstance(message, gw.ChildrenChanged):
            if message.complete:  # the whole list in one reply: the gateway cannot tell parts apart
                body = {
                    "type": "describe_sub_devices",
                    "payload": {"devices": [_named(c.device_id) for c in message.added]},
                }
                return [_out(topic, body)]
            out: list[ev.Outgoing] = []
            for status, ids in ((1, [c.device_id for c in message.added]), (0, list(message.removed))):
                for part in _chunks([_named(d) for d in dict.fromkeys(ids)]):
                    out.append(
                        _out(topic, {"type": "change", "payload": {"status": status, "devices": list(part)}})
                    )
            return out
        kind = {"add": "bind", "remove": "unbind"}.get(message.operation)
        if message.operation == "status":
            if message.request_id not in ("online", "offline"):
                raise CodecError(
                    f"Tencent answers online and offline apart: the answer's request_id must be "
                    f"'online' or 'offline' (the request's), got {message.request_id!r:.40}"
                )
            kind = message.request_id
        if kind is None:
            raise CodecError("Tencent answers describe_sub_devices with the list (ChildrenChanged, complete)")
        devices = [{**_named(d), "result": CODE_OK} for d in message.done]
        devices += [
            {**_named(d), "result": result_code(message.operation, r)} for d, r in message.failed.items()
        ]
        return _gateway_request(topic, kind, devices)


def _proof(item: dict[str, Any], index: int) -> str:
    """A bind entry's signature fields, packed as ``authtype;signmethod;random;timestamp;signature``."""
    where = f"payload.devices[{index}]."
    signature = field(item, "signature", str, where=where)
    nonce = _int_or_text(item, "random", where)
    timestamp = _int_or_text(item, "timestamp", where)
    method = field(item, "signmethod", str, required=False, where=where) or "hmacsha1"
    authtype = field(item, "authtype", str, required=False, where=where) or "psk"
    for name, text in (("signmethod", method), ("authtype", authtype)):
        if ";" in text or len(text) > 32:
            raise CodecError(f"field {where}{name!r} is not a method name: {text!r:.40}")
    return f"{authtype};{method};{nonce};{timestamp};{signature}"


for _table_p in (_HUB_PLATFORM_SENDS, _EXPLORER_PLATFORM_SENDS):
    _table_p.on(gw.TellGateway)(_GatewayPlatform._tell_gateway)


# --- IoT Hub device shadow -----------------------------------------------------------------------
class TencentHubDevice(_GatewayDevice):
    """The device half of the IoT Hub shadow (``$shadow/operation/...``), and of a gateway's
    ``$gateway/operation`` (:class:`_GatewayDevice`)."""

    vendor = "tencent-hub"

    def __init__(
        self,
        device_id: str,
        *,
        service_ids: Sequence[str],
        new_id: Callable[[], str] = _new_id,
        clock: Callable[[], float] = time.time,
        gateway_id: str | None = None,
        nonce: Callable[[], int] = _nonce,
    ) -> None:
        """``new_id`` makes the uplinks' tokens; ``clock`` (Unix seconds) and ``nonce`` a bind's
        signature; ``gateway_id``: the gateway whose connection serves this device (a child)."""
        self.product_id, self.device_name = split_device_id(device_id)
        self.new_id = new_id
        self.clock = clock
        self._gateway_init(gateway_id, nonce)
        self.layout = _Layout(service_ids)
        pid, dev = self.product_id, self.device_name
        self.up, self.down = f"$shadow/operation/{pid}/{dev}", f"$shadow/operation/result/{pid}/{dev}"
        self.commands_down, self.commands_up = f"{pid}/{dev}/control", f"{pid}/{dev}/event"
        self.data = data_topic(pid, dev)
        self.sys_up, self.sys_down = sys_topics(pid, dev)
        self.ota_up, self.ota_down = ota_topics(pid, dev)
        self.messages_down = message_down_topic(pid, dev, explorer=False)
        #: the version of the last delta or get applied
        self.applied_version = 0

    def shadow_key(self, service_id: str) -> str:
        return self.product_id

    def subscriptions(self) -> list[str]:
        return [self.down, self.commands_down, self.sys_down, self.ota_down, self.messages_down]

    def custom_topic(self, name: str) -> str:
        """The full topic of the device's own custom topic ``name``: ``{pid}/{dn}/{name}``
        (InvalidValue for ``control``, ``event`` and ``message``, which carry ours)."""
        return _custom_topic(self.product_id, self.device_name, name, _RESERVED_HUB)

    def decode(self, topic: str, payload: bytes) -> list[ev.Downlink]:
        if topic == self.ota_down:
            return _ota_downlink(topic, payload)
        if topic == self.gateway_down and self.gateway_id is None:
            return self._gateway_downlink(topic, payload)
        if topic == self.messages_down:
            return _message_down(topic, payload)
        if topic == self.commands_down:
            try:
                body = loads_object(payload, limit=MAX_PAYLOAD)
                if body.get("method") != "action":
                    raise CodecError(f"unknown method {body.get('method')!r} (expected 'action')")
                return [_command_request(body, None if self.layout.nested else self.layout.service_ids[0])]
            except CodecError as exc:
                return [ev.Malformed(topic, str(exc), kind="command", request_id=_peek_token(payload))]
        if topic == self.sys_down:
            return _time_answered(topic, payload)
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
                    refused = ev.Rejected(token, result, _refusal("shadow get refused", body))
                    return [refused, ev.ShadowSnapshot(token, {})]
                return [self._snapshot(token, field(body, "payload", dict))]
            if kind in ("update", "delete"):
                if result == CODE_OK:
                    return []
                return [ev.Rejected(token, result, _refusal(f"shadow {kind} refused", body))]
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

    @_HUB_DEVICE_SENDS.on(ev.SendMessage)
    def _message(self, m: ev.SendMessage) -> list[ev.Outgoing]:
        return [_message_out(self.data, m.payload)]

    @_HUB_DEVICE_SENDS.on(ev.AskTime)
    def _ask_time(self, m: ev.AskTime) -> list[ev.Outgoing]:
        return [_out(self.sys_up, _TIME_REQUEST)]

    @_HUB_DEVICE_SENDS.on(ev.ReportVersion)
    def _report_version(self, m: ev.ReportVersion) -> list[ev.Outgoing]:
        return _version_report(self.ota_up, m)

    @_HUB_DEVICE_SENDS.on(ev.UpgradeProgress)
    def _upgrade_progress(self, m: ev.UpgradeProgress) -> list[ev.Outgoing]:
        return _progress_report(self.ota_up, m)


class TencentHubPlatform(_GatewayPlatform):
    """The cloud half of the IoT Hub shadow, for any device (gateways: :class:`_GatewayPlatform`).
    ``clock`` gives Unix seconds for the answers' timestamps, ``new_id`` the token of a request
    that came without one."""

    vendor = "tencent-hub"
    shadow_limits = SHADOW_LIMITS

    def __init__(
        self, *, clock: Callable[[], float] = time.time, new_id: Callable[[], str] = _new_id
    ) -> None:
        self.clock = clock
        self.new_id = new_id
        self.parent_of: Callable[[str], str | None] = lambda _id: None

    def shadow_key(self, device_id: str, service_id: str) -> str:
        return split_device_id(device_id)[0]

    def subscriptions(self) -> list[str]:
        return [
            "$shadow/operation/+/+",
            "+/+/event",
            data_topic("+", "+"),
            "$sys/operation/+/+",
            ota_topics("+", "+")[0],
            gateway_topics("+", "+")[0],
        ]

    def decode(self, topic: str, payload: bytes) -> list[ev.PlatformUplink]:
        if topic.startswith("$ota/"):
            return _ota_uplink(topic, payload)
        if topic.startswith("$gateway/"):
            return self._gateway_uplink(topic, payload)
        if topic.startswith("$sys/"):
            return _time_requested(topic, payload, int(self.clock() * 1000))
        shadow = topic.startswith("$shadow/operation/")
        parts = topic.split("/")
        first = 2 if shadow else 0
        if len(parts) != (4 if shadow else 3) or (not shadow and parts[2] not in ("event", "data")):
            return [ev.DeviceMalformed(None, topic, "not a device uplink topic")]
        try:
            device_id = _uplink_device(parts[first], parts[first + 1])
        except InvalidValue as exc:
            return [ev.DeviceMalformed(None, topic, str(exc))]
        if not shadow and parts[2] == "data":
            return _message_up(device_id, topic, payload)
        pid = parts[first]
        body: dict[str, Any] = {}
        try:
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
                out.append(ev.Reported(device_id, {pid: reported}, token))
            if "desired" in state:
                desired = state["desired"]
                if desired is None:
                    out.append(ev.DesiredCleared(device_id, {pid: None}, token))
                elif isinstance(desired, dict):
                    cleared = _null_paths(desired)
                    if cleared:
                        out.append(ev.DesiredCleared(device_id, {pid: cleared}, token))
                else:
                    raise CodecError("field state.'desired' must be an object or null")
            # an update that changes nothing still gets its result
            return out or [ev.Reported(device_id, {}, token)]
        except CodecError as exc:
            kind = _kind_of(_HUB_KINDS, body.get("type")) if shadow else "command"
            return [ev.DeviceMalformed(device_id, topic, str(exc), kind=kind, request_id=_token_of(body))]

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

    @_HUB_PLATFORM_SENDS.on(ev.AnswerRequest)
    def _answer_request(self, m: ev.AnswerRequest) -> list[ev.Outgoing]:
        pid, dev = split_device_id(m.device_id)
        kind = _HUB_ANSWERS.get(m.kind)
        if kind is None:
            raise CodecError(f"Tencent IoT Hub has no answer to a device's {m.kind!r} uplink")
        now = self.clock()
        body: dict[str, Any] = {"type": kind, "result": m.code, "clientToken": m.request_id}
        if kind == "update":  # tencent.md 1.2: the update result's timestamps are both in ms
            body["timestamp"] = int(now * 1000)
            body["payload"] = {"timestamp": int(now * 1000), "version": m.version or 0}
        else:
            body["timestamp"] = int(now)
        if not m.ok:
            body["status"] = m.reason or f"failed with code {m.code}"
        return [_out(f"$shadow/operation/result/{pid}/{dev}", body)]

    @_HUB_PLATFORM_SENDS.on(ev.AnswerTimeSync)
    def _answer_time_sync(self, m: ev.AnswerTimeSync) -> list[ev.Outgoing]:
        return _time_answer(m, self.clock())

    @_HUB_PLATFORM_SENDS.on(ev.OfferUpgrade)
    def _offer_upgrade(self, m: ev.OfferUpgrade) -> list[ev.Outgoing]:
        return _offer(m)

    @_HUB_PLATFORM_SENDS.on(ev.AnswerVersion)
    def _answer_version(self, m: ev.AnswerVersion) -> list[ev.Outgoing]:
        return _version_answer(m)

    @_HUB_PLATFORM_SENDS.on(ev.MessageDown)
    def _message_down(self, m: ev.MessageDown) -> list[ev.Outgoing]:
        return _message_down_out(m, explorer=False)


_HUB_KINDS: dict[str, ev.RequestKind] = {"update": "report", "get": "shadow"}
"""What a hub uplink's ``type`` asks (a report and a clear of desired are both updates)."""
_HUB_ANSWERS: dict[str, Literal["update", "get"]] = {"report": "update", "clear": "update", "shadow": "get"}


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
class TencentExplorerDevice(_GatewayDevice):
    """The device half of the data template protocol (``$thing/...``); one service per device.
    As a gateway, or a gateway's child, see :class:`_GatewayDevice`."""

    vendor = "tencent-explorer"

    def __init__(
        self,
        device_id: str,
        *,
        service_ids: Sequence[str],
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = _new_id,
        gateway_id: str | None = None,
        nonce: Callable[[], int] = _nonce,
    ) -> None:
        """``clock`` gives Unix seconds for the uplinks' timestamps, ``new_id`` their tokens,
        ``nonce`` a bind signature's random; ``gateway_id``: the gateway whose connection serves
        this device (a child)."""
        self.product_id, self.device_name = split_device_id(device_id)
        self.clock = clock
        self.new_id = new_id
        self._gateway_init(gateway_id, nonce)
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
        self.data = data_topic(self.product_id, self.device_name)
        self.sys_up, self.sys_down = sys_topics(self.product_id, self.device_name)
        self.ota_up, self.ota_down = ota_topics(self.product_id, self.device_name)
        self.messages_down = message_down_topic(self.product_id, self.device_name, explorer=True)
        self._clear_token: str | None = None

    def shadow_key(self, service_id: str) -> str:
        return self.product_id

    def subscriptions(self) -> list[str]:
        return [
            self.topics["down/property"],
            self.topics["down/event"],
            self.topics["down/action"],
            self.sys_down,
            self.ota_down,
            self.messages_down,
        ]

    def custom_topic(self, name: str) -> str:
        """The full topic of the device's own custom topic ``name``: ``{pid}/{dn}/{name}``
        (InvalidValue for ``control``, which carries messages down)."""
        return _custom_topic(self.product_id, self.device_name, name, _RESERVED_EXPLORER)

    def decode(self, topic: str, payload: bytes) -> list[ev.Downlink]:
        if topic == self.sys_down:
            return _time_answered(topic, payload)
        if topic == self.ota_down:
            return _ota_downlink(topic, payload)
        if topic == self.gateway_down and self.gateway_id is None:
            return self._gateway_downlink(topic, payload)
        if topic == self.messages_down:
            return _message_down(topic, payload)
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
            "type": m.kind,
            "timestamp": self._ms(),
            "params": dict(m.params),
        }
        return [_out(self.topics["up/event"], body)]

    @_EXPLORER_DEVICE_SENDS.on(ev.SendMessage)
    def _message(self, m: ev.SendMessage) -> list[ev.Outgoing]:
        return [_message_out(self.data, m.payload)]

    @_EXPLORER_DEVICE_SENDS.on(ev.AskTime)
    def _ask_time(self, m: ev.AskTime) -> list[ev.Outgoing]:
        return [_out(self.sys_up, _TIME_REQUEST)]

    @_EXPLORER_DEVICE_SENDS.on(ev.ReportVersion)
    def _report_version(self, m: ev.ReportVersion) -> list[ev.Outgoing]:
        return _version_report(self.ota_up, m)

    @_EXPLORER_DEVICE_SENDS.on(ev.UpgradeProgress)
    def _upgrade_progress(self, m: ev.UpgradeProgress) -> list[ev.Outgoing]:
        return _progress_report(self.ota_up, m)

    @_EXPLORER_DEVICE_SENDS.on(ev.ReportInfo)
    def _report_info(self, m: ev.ReportInfo) -> list[ev.Outgoing]:
        # tencent.md 2 report_info: fw_ver, module_softinfo and device_label's free-form facts
        params: dict[str, Any] = {}
        if m.fw_version is not None:
            params["fw_ver"] = m.fw_version
        if m.sw_version is not None:
            params["module_softinfo"] = m.sw_version
        label = dict(m.extra)
        if m.sdk_version is not None:
            label["sdk_version"] = m.sdk_version
        bad = next((k for k, v in label.items() if not isinstance(k, str) or not isinstance(v, str)), None)
        if bad is not None:
            raise CodecError(f"device info {bad!r} must be a string naming a string")
        if label:
            params["device_label"] = label
        body = {"method": "report_info", "clientToken": self.new_id(), "params": params}
        return [_out(self.topics["up/property"], body)]


class TencentExplorerPlatform(_GatewayPlatform):
    """The cloud half of the data template protocol, for any device (gateways:
    :class:`_GatewayPlatform`)."""

    vendor = "tencent-explorer"
    shadow_limits = SHADOW_LIMITS

    def __init__(
        self, *, clock: Callable[[], float] = time.time, new_id: Callable[[], str] = _new_id
    ) -> None:
        """``clock`` gives Unix seconds for timestamps, ``new_id`` the token of a tokenless request."""
        self.clock = clock
        self.new_id = new_id
        self.parent_of: Callable[[str], str | None] = lambda _id: None
        self._quirk_seen: dict[str, None] = {}  # insertion-ordered: the oldest is forgotten first

    def shadow_key(self, device_id: str, service_id: str) -> str:
        return split_device_id(device_id)[0]

    def subscriptions(self) -> list[str]:
        return [
            "$thing/up/property/+/+",
            "$thing/up/event/+/+",
            "$thing/up/action/+/+",
            data_topic("+", "+"),
            "$sys/operation/+/+",
            ota_topics("+", "+")[0],
            gateway_topics("+", "+")[0],
        ]

    def decode(self, topic: str, payload: bytes) -> list[ev.PlatformUplink]:
        if topic.startswith("$ota/"):
            return _ota_uplink(topic, payload)
        if topic.startswith("$gateway/"):
            return self._gateway_uplink(topic, payload)
        if topic.startswith("$sys/"):
            return _time_requested(topic, payload, int(self.clock() * 1000))
        parts = topic.split("/")
        if len(parts) == 3 and parts[2] == "data" and not parts[0].startswith("$"):
            try:
                return _message_up(_uplink_device(parts[0], parts[1]), topic, payload)
            except InvalidValue as exc:
                return [ev.DeviceMalformed(None, topic, str(exc), kind="message")]
        if len(parts) != 5 or parts[:2] != ["$thing", "up"] or parts[2] not in _EXPLORER_UPLINKS:
            return [ev.DeviceMalformed(None, topic, "not a device uplink topic")]
        try:
            device_id = _uplink_device(parts[3], parts[4])
        except InvalidValue as exc:
            return [ev.DeviceMalformed(None, topic, str(exc))]
        kind, pid = parts[2], parts[3]
        body: dict[str, Any] = {}
        try:
            body = loads_object(payload, limit=MAX_PAYLOAD)
            token = _token_of(body)
            method = body.get("method")
            if kind == "action":
                if method != "action_reply":
                    raise CodecError(f"unknown method {method!r} (expected 'action_reply')")
                return [_command_answered(device_id, body)]
            if kind == "event":
                return self._events(device_id, pid, body, token)
            if method is None and "code" in body and token is not None:
                method = "control_reply"
                self._quirk(device_id)
            if method == "report":
                return [ev.Reported(device_id, {pid: field(body, "params", dict)}, token)]
            if method == "control_reply":
                code = field(body, "code", int)
                errors = errors_from_text(str(body.get("status") or "")) if code != CODE_OK else {}
                return [ev.DesiredAcked(device_id, str(token), errors, code)]
            if method == "get_status":
                return [ev.ShadowRequested(device_id, token or self.new_id())]
            if method == "clear_control":
                return [ev.DesiredCleared(device_id, {pid: None}, token)]
            if method == "report_info":
                return [ev.DeviceInfo(device_id, field(body, "params", dict), token)]
            raise CodecError(f"unknown method {method!r}")
        except CodecError as exc:
            if kind == "property" and body.get("method") is None and "code" in body:
                request_kind: ev.RequestKind = "desired"  # the SDK's control_reply without method
            else:
                request_kind = _kind_of(_EXPLORER_KINDS[kind], body.get("method"))
            token = _token_of(body)
            return [ev.DeviceMalformed(device_id, topic, str(exc), kind=request_kind, request_id=token)]

    def _quirk(self, device_id: str) -> None:
        if device_id in self._quirk_seen:
            return
        self._quirk_seen[device_id] = None
        if len(self._quirk_seen) > _QUIRK_MEMORY:
            del self._quirk_seen[next(iter(self._quirk_seen))]
        log.info("%s: control_reply without method (tencent-iot-device 1.0.0 quirk) accepted", device_id)

    @staticmethod
    def _events(device_id: str, pid: str, body: dict[str, Any], token: str | None) -> list[ev.PlatformUplink]:
        method = body.get("method")
        if method not in ("event_post", "events_post"):
            raise CodecError(f"unknown method {method!r} (expected 'event_post' or 'events_post')")
        # the Python SDK wraps even a single event_post in "events": [...]
        items = body["events"] if isinstance(body.get("events"), list) else [body]
        if not items:
            raise CodecError("field 'events' holds no event")
        out: list[ev.PlatformUplink] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise CodecError(f"events[{index}] must be an object")
            where = f"events[{index}]." if item is not body else ""
            event_id = field(item, "eventId", str, where=where)
            params = field(item, "params", dict, required=False, where=where) or {}
            out.append(ev.EventUp(device_id, pid, event_id, params, token))
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

    @_EXPLORER_PLATFORM_SENDS.on(ev.AnswerRequest)
    def _answer_request(self, m: ev.AnswerRequest) -> list[ev.Outgoing]:
        pid, dev = split_device_id(m.device_id)
        reply = _EXPLORER_REPLIES.get(m.kind)
        if reply is None:
            raise CodecError(f"Tencent IoT Explorer has no reply to a device's {m.kind!r} uplink")
        topic_kind, method = reply
        status = "success" if m.ok else (m.reason or f"failed with code {m.code}")
        body: dict[str, Any] = {"method": method, "clientToken": m.request_id}
        if method == "event_reply":  # tencent.md 2: its reply carries a version and data too
            body.update({"version": "1.0", "code": m.code, "status": status, "data": {}})
        else:
            body.update({"code": m.code, "status": status})
        return [_out(f"$thing/down/{topic_kind}/{pid}/{dev}", body)]

    @_EXPLORER_PLATFORM_SENDS.on(ev.AnswerTimeSync)
    def _answer_time_sync(self, m: ev.AnswerTimeSync) -> list[ev.Outgoing]:
        return _time_answer(m, self.clock())

    @_EXPLORER_PLATFORM_SENDS.on(ev.OfferUpgrade)
    def _offer_upgrade(self, m: ev.OfferUpgrade) -> list[ev.Outgoing]:
        return _offer(m)

    @_EXPLORER_PLATFORM_SENDS.on(ev.AnswerVersion)
    def _answer_version(self, m: ev.AnswerVersion) -> list[ev.Outgoing]:
        return _version_answer(m)

    @_EXPLORER_PLATFORM_SENDS.on(ev.MessageDown)
    def _message_down(self, m: ev.MessageDown) -> list[ev.Outgoing]:
        return _message_down_out(m, explorer=True)


_EXPLORER_UPLINKS = ("property", "event", "action")
_EXPLORER_KINDS: dict[str, dict[str, ev.RequestKind]] = {
    "property": {
        "report": "report",
        "control_reply": "desired",
        "get_status": "shadow",
        "clear_control": "clear",
        "report_info": "info",
    },
    "event": {"event_post": "event", "events_post": "event"},
    "action": {"action_reply": "command"},
}
"""What each Explorer uplink method asks, by topic (``$thing/up/{topic}/...``)."""
_EXPLORER_REPLIES: dict[str, tuple[str, str]] = {
    "report": ("property", "report_reply"),
    "clear": ("property", "clear_control_reply"),
    "info": ("property", "report_info_reply"),
    "shadow": ("property", "get_status_reply"),
    "event": ("event", "event_reply"),
}
"""The reply to each kind of device request: ``$thing/down/{topic}/...`` and its method."""


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
    tls: bool | None = None,
    **options: Any,
) -> Device:
    """A device on Tencent IoT Explorer (data template, the default) or IoT Hub (shadow), with key
    authentication (``Device.for_tencent``): TLS unless ``port=1883`` (``tls`` says it for any
    port, e.g. a local cloud's)."""
    from ..transport import TlsOptions

    device_id = f"{product_id}.{device_name}"
    split_device_id(device_id)  # validates both ids
    password(secret, "check")  # a secret that is not base64 fails here, not at connect

    def credentials() -> tuple[str, str | None, str | None]:
        user = username(product_id, device_name, expiry=int(time.time()) + 3600)
        return client_id(product_id, device_name), user, password(secret, user)

    use_tls = port != 1883 if tls is None else tls
    options_tls = TlsOptions(ca_file, None, None, insecure) if use_tls else None
    scheme = "mqtt" if options_tls is None else "mqtts"
    return cls(
        services,
        device_id=device_id,
        vendor="tencent-explorer" if explorer else "tencent-hub",
        broker=f"{scheme}://{host or product_id + '.iotcloud.tencentdevices.com'}:{port}",
        credentials=credentials,
        tls=options_tls,
        **options,
    )


# --- access: identities, credential checks and topic rules (the platform side) ---
# What Tencent IoT checks when a device connects with key authentication, and which topics it may
# use, for the local cloud's broker policy (thingmodel.cloud.access). Imported here so this section
# stays self-contained.
import secrets  # noqa: E402

_PRODUCT_ID = re.compile(r"[A-Z0-9]{10}")
_sign = password  # check_credentials takes a parameter of that name


def validate_device_id(device_id: object) -> str:
    """``ProductId.DeviceName`` with a 10-character ``[A-Z0-9]`` product id (InvalidValue otherwise)."""
    product_id, name = split_device_id(validate_id("device_id", device_id))
    if not _PRODUCT_ID.fullmatch(product_id):
        raise InvalidValue(f"Tencent product id {product_id!r} must be 10 characters of A-Z 0-9")
    if ";" in name:
        raise InvalidValue(f"Tencent device name {name!r} contains ';', which would break its username")
    return f"{product_id}.{name}"


def validate_secret(secret: object) -> str:
    """A device secret: non-empty base64 (InvalidValue otherwise; the message never shows it)."""
    try:
        if isinstance(secret, str) and base64.b64decode(secret.encode(), validate=True):
            return secret
    except (binascii.Error, ValueError):
        pass
    raise InvalidValue("a Tencent device secret must be non-empty base64 (as the console shows it)")


def new_secret() -> str:
    """A fresh device secret: base64 of 16 random bytes."""
    return base64.b64encode(secrets.token_bytes(16)).decode()


def identify(client_id: str, username: str | None) -> str | None:
    """The device id (``ProductId.DeviceName``) a connecting client claims, or None.

    Tencent's form is client id ``{ProductId}{DeviceName}`` with username
    ``{ProductId}{DeviceName};{sdkappid};{connid};{expiry}``; a thingmodel ``Device`` in
    development mode connects with client id = ``ProductId.DeviceName`` and no username.
    """
    if username is None:
        candidate = client_id
    else:
        fields = username.split(";")
        if len(fields) != 4 or fields[0] != client_id or len(client_id) <= 10:
            return None
        candidate = f"{client_id[:10]}.{client_id[10:]}"
    try:
        return validate_device_id(candidate)
    except InvalidValue:
        return None


def check_credentials(
    secret_base64: str, username: str | None, password: str | None, now: float
) -> str | None:
    """None when the signed ``username``/``password`` are what Tencent expects, else the reason.

    The password is ``hex(HMAC(base64decode(secret), username)) + ";hmacsha256"`` (or
    ``";hmacsha1"``, :func:`password`), and the username's expiry (Unix seconds; Tencent's Python
    SDK sends milliseconds, which are always later) must be after ``now``. Reasons never contain
    the secret or the password.
    """
    if username is None:
        return "no username sent (Tencent expects {ProductId}{DeviceName};{sdkappid};{connid};{expiry})"
    if password is None:
        return "no password sent"
    fields = username.split(";")
    if len(fields) != 4 or not fields[3].isdigit():
        return "the username is not {ProductId}{DeviceName};{sdkappid};{connid};{expiry}"
    _, sep, algorithm = password.rpartition(";")
    if not sep or algorithm not in ("hmacsha256", "hmacsha1"):
        return "the password does not end in ';hmacsha256' or ';hmacsha1'"
    try:
        expected = _sign(secret_base64, username, algorithm=algorithm)
    except InvalidValue:
        return "the registered secret is not base64"
    if not hmac.compare_digest(expected.encode(), password.encode()):
        return f"wrong password (not the {algorithm} of the username keyed by the registered secret)"
    if int(fields[3]) <= now:
        return f"the signature expired at {fields[3]} (now {int(now)})"
    return None


def implicit_subscriptions(device_id: str) -> list[tuple[str, int]]:
    """Empty: Tencent's SDKs subscribe to their topics themselves."""
    return []


def device_topics(device_id: str) -> tuple[list[str], list[str]]:
    """``(publish filters, subscribe filters)`` of one device: its data template, shadow,
    system, OTA and custom topics, each in the direction the device uses it."""
    pid, dev = split_device_id(device_id)
    custom = f"{pid}/{dev}/#"
    publish = [
        f"$thing/up/+/{pid}/{dev}",
        f"$shadow/operation/{pid}/{dev}",
        f"$sys/operation/{pid}/{dev}",
        f"$ota/report/{pid}/{dev}",
        gateway_topics(pid, dev)[0],
        custom,
    ]
    subscribe = [
        f"$thing/down/+/{pid}/{dev}",
        f"$shadow/operation/result/{pid}/{dev}",
        f"$sys/operation/result/{pid}/{dev}",
        f"$ota/update/{pid}/{dev}",
        gateway_topics(pid, dev)[1],
        custom,
    ]
    return publish, subscribe


def topic_device(topic: str) -> str | None:
    """The device (``ProductId.DeviceName``) a topic of this protocol is about, else None: the
    data template (``$thing/{up|down}/{kind}/{pid}/{dn}``), shadow, system, OTA and custom topics."""
    parts = topic.split("/")
    if parts[0] == "$thing" and len(parts) == 5:
        pid, dev = parts[3], parts[4]
    elif parts[0] in ("$shadow", "$sys", "$ota", "$gateway") and len(parts) in (4, 5):
        pid, dev = parts[-2], parts[-1]
    elif not parts[0].startswith("$") and len(parts) >= 3:
        pid, dev = parts[0], parts[1]
    else:
        return None
    return f"{pid}.{dev}" if _PRODUCT_ID.fullmatch(pid) and dev else None
