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

Also here: the MQTT credentials IoTDA expects (:func:`client_id`, :func:`password`) and the
``Device`` factory behind ``Device.for_huawei`` (:func:`device`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import CodecError, InvalidValue
from ..ids import validate_id
from ..protocol import messages as ev
from ..protocol.codec import EncoderTable
from ..protocol.jsonwire import MAX_DEPTH, dumps, errors_from_text, errors_text, field, loads_object

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
            return self._decode(kind, rid, body)
        except CodecError as exc:
            return [ev.Malformed(topic, str(exc), kind=kind, request_id=rid)]

    def _decode(self, kind: str, rid: str | None, body: dict[str, Any]) -> list[ev.Downlink]:
        assert rid is not None or kind == "event"
        if kind == "desired":
            return [ev.DesiredChange(rid, _services_values(body))]
        if kind == "read":
            return [ev.PropertyRead(rid, field(body, "service_id", str, required=False) or None)]  # type: ignore[arg-type]
        if kind == "command":
            return [
                ev.CommandRequest(
                    rid,  # type: ignore[arg-type]
                    field(body, "service_id", str, required=False),
                    field(body, "command_name", str),
                    field(body, "paras", dict, required=False) or {},
                )
            ]
        if kind == "shadow":
            code = field(body, "result_code", int, required=False) or RESULT_OK
            if code != RESULT_OK:  # the sync goes on with an empty shadow; the refusal is surfaced
                reason = field(body, "result_desc", str, required=False) or f"result code {code}"
                return [ev.Rejected(rid, code, f"shadow get refused: {reason}"), ev.ShadowSnapshot(rid, {})]
            return [ev.ShadowSnapshot(rid, _shadow_from_wire(field(body, "shadow", list)))]
        return [_device_event(*event) for event in _events_from_wire(body)]

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


def _device_event(service_id: str, event_type: str, params: dict[str, Any]) -> ev.Downlink:
    """An ``events/down`` entry: a time-sync answer, or an event for a service."""
    if (service_id, event_type) != (TIME_SYNC, "time_sync_response"):
        return ev.CloudEvent(service_id, event_type, params)
    recv, send = _ms_field(params, "server_recv_time"), _ms_field(params, "server_send_time")
    assert recv is not None and send is not None
    return ev.TimeAnswered(None, _ms_field(params, "device_send_time", required=False), recv, send)


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
            return self._decode(kind, device_id, rid, body)
        except CodecError as exc:
            return [ev.DeviceMalformed(device_id, topic, str(exc), kind=kind, request_id=rid)]

    def _decode(
        self, kind: str, device_id: str, rid: str | None, body: dict[str, Any]
    ) -> list[ev.PlatformUplink]:
        if kind == "report":
            return [ev.Reported(device_id, _services_values(body))]
        if kind == "event":
            return [self._event(device_id, *event) for event in _events_from_wire(body)]
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
        if (service_id, event_type) == ("$sdk_info", "sdk_info_report"):
            return ev.DeviceInfo(device_id, params)
        if (service_id, event_type) == ("$log", "log_report"):
            return ev.DeviceLog(device_id, params)
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
import calendar  # noqa: E402
import re  # noqa: E402
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
