"""Vendor-neutral messages between the codecs and the device core / local cloud.

Device side: a codec decodes (topic, payload) into *events* (``DesiredChange``, ``PropertyRead``,
``CommandRequest``, ``ShadowSnapshot``, ``Malformed`` ...) and encodes *actions*
(``ReportProperties``, ``AckDesired``, ``ReadResponse``, ``CommandResponse``, ``RequestShadow`` ...).

Platform side: the same codec module decodes the device's uplinks into ``Reported``,
``DesiredAcked``, ``ReadAnswered``, ``CommandAnswered``, ``ShadowRequested``, ``DeviceInfo``,
``TimeSyncRequested`` ... and encodes ``PushDesired``, ``AskRead``, ``SendCommand``,
``AnswerShadow``, and the answers a device's own requests get (``AnswerRequest``,
``AnswerTimeSync``). A platform half also says what its shadows may hold (``ShadowLimits``).

All are frozen attrs classes; no I/O anywhere in this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

ServiceValues = Mapping[str, Mapping[str, Any]]
"""``{service_id: {wire_name: value}}``"""

RequestKind = Literal[
    "desired", "read", "command", "shadow", "message", "event", "report", "clear", "info", "other"
]
"""What a request is about: on the platform side also the device's own requests that get an
answer: ``report`` (properties), ``clear`` (desired taken out), ``event``, ``info`` (device
info), ``shadow`` (a shadow get)."""

#: :attr:`AnswerRequest.code` values of the local cloud's refusals (0 is success); a vendor puts
#: them on the wire as they are, where its protocol has a result code.
CODE_BAD_REQUEST = 400
"""the request is malformed, or names an id that cannot be"""
CODE_TOO_LARGE = 413
"""the shadow would break the vendor's document limits (:class:`ShadowLimits`)"""
CODE_CLOUD_FAILED = 500
"""the cloud could not do it (a bug, or an answer it could not encode)"""


@attrs.frozen
class Outgoing:
    """One MQTT publish a codec asks the transport to make."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


# --- device side: events (cloud -> device) -----------------------------------------------------
@attrs.frozen
class DesiredChange:
    """The cloud wants new values. ``request_id`` is None when nothing awaits an answer."""

    request_id: str | None
    services: ServiceValues
    version: int | None = None


@attrs.frozen
class PropertyRead:
    """The cloud asks for current values of one service (None: all services)."""

    request_id: str
    service_id: str | None = None


@attrs.frozen
class CommandRequest:
    request_id: str
    service_id: str | None
    name: str
    params: Any = None


@attrs.frozen
class ShadowState:
    desired: Mapping[str, Any] = attrs.field(factory=dict)
    reported: Mapping[str, Any] = attrs.field(factory=dict)
    version: int = 0


@attrs.frozen
class ShadowSnapshot:
    """The shadow as the cloud holds it; the device applies what is desired and not yet true."""

    request_id: str | None
    services: Mapping[str, ShadowState]


@attrs.frozen
class CloudMessage:
    """A free-form message from the cloud (Huawei ``messages/down``)."""

    payload: bytes


@attrs.frozen
class CloudEvent:
    """A platform event addressed to a service (Huawei ``events/down``)."""

    service_id: str
    event_type: str
    params: Mapping[str, Any]


@attrs.frozen
class Rejected:
    """The cloud refused something the device sent (AWS ``update/rejected``, a Tencent result
    code): ``request_id`` is the token of the refused request when the protocol echoes one."""

    request_id: str | None
    code: int
    reason: str


@attrs.frozen
class Malformed:
    """A message that could not be understood. ``kind`` says what answer the protocol allows."""

    topic: str
    reason: str
    kind: RequestKind = "other"
    request_id: str | None = None


# --- device side: actions (device -> cloud) ----------------------------------------------------
@attrs.frozen
class ReportProperties:
    services: ServiceValues


@attrs.frozen
class AckDesired:
    """The answer to a DesiredChange: empty ``errors`` means every value was applied."""

    request_id: str
    errors: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


@attrs.frozen
class ReadResponse:
    request_id: str
    services: ServiceValues


@attrs.frozen
class CommandResponse:
    """``code`` 0 is success; ``params`` are the command's result (or ``{"error": reason}``)."""

    request_id: str
    code: int
    params: Mapping[str, Any] = attrs.field(factory=dict)
    name: str = ""


@attrs.frozen
class RequestShadow:
    request_id: str
    service_id: str | None = None


@attrs.frozen
class SettleDesired:
    """The outcome of desired values that came with no request to answer (an AWS or Tencent hub
    delta, a shadow snapshot): ``applied`` now hold on the device; ``refused`` maps
    ``{service_id: {name: reason}}``. Shadow protocols clear what was refused from ``desired``
    so that it is neither retried nor shown as pending forever; others ignore this action."""

    applied: ServiceValues = attrs.field(factory=dict)
    refused: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)


@attrs.frozen
class SendMessage:
    payload: bytes


@attrs.frozen
class EmitEvent:
    """A thing-model event the device emits; ``kind`` is Tencent's info/alert/fault."""

    service_id: str
    event_type: str
    params: Mapping[str, Any] = attrs.field(factory=dict)
    kind: str = "info"


@attrs.frozen
class AskTime:
    """The device asks the cloud for its time; ``device_send_ms`` is its wall clock (ms since
    the epoch) as it asks."""

    request_id: str
    device_send_ms: int


@attrs.frozen
class TimeAnswered:
    """The cloud's answer to :class:`AskTime` (Huawei ``time_sync_response``, Tencent's
    ``$sys/operation/result`` time): the server's receive and send times (ms since the epoch).
    ``request_id``/``device_send_ms`` are what the answer echoes (None where it echoes nothing)."""

    request_id: str | None
    device_send_ms: int | None
    server_recv_ms: int
    server_send_ms: int


Downlink = (
    DesiredChange
    | PropertyRead
    | CommandRequest
    | ShadowSnapshot
    | CloudMessage
    | CloudEvent
    | Rejected
    | Malformed
    | TimeAnswered
)
Uplink = (
    ReportProperties
    | AckDesired
    | ReadResponse
    | CommandResponse
    | RequestShadow
    | SettleDesired
    | SendMessage
    | EmitEvent
    | AskTime
)


# --- platform side: events (device -> cloud) ---------------------------------------------------
@attrs.frozen
class Reported:
    """Reported values; ``request_id`` is the token of a report that gets an answer (Tencent)."""

    device_id: str
    services: ServiceValues
    request_id: str | None = None


@attrs.frozen
class DesiredAcked:
    device_id: str
    request_id: str
    errors: Mapping[str, str] = attrs.field(factory=dict)
    code: int = 0

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.errors


@attrs.frozen
class ReadAnswered:
    device_id: str
    request_id: str
    services: ServiceValues


@attrs.frozen
class CommandAnswered:
    device_id: str
    request_id: str
    code: int
    params: Mapping[str, Any] = attrs.field(factory=dict)
    name: str = ""


@attrs.frozen
class ShadowRequested:
    device_id: str
    request_id: str
    service_id: str | None = None


@attrs.frozen
class DesiredCleared:
    """The device took desired values out of its shadow (AWS/Tencent ``"desired": {key: null}``,
    Tencent ``clear_control``). ``services`` maps a service id to the cleared names, or to None
    for the whole section. A cleared key whose desired value the device does not report is a
    refusal."""

    device_id: str
    services: Mapping[str, tuple[str, ...] | None]
    request_id: str | None = None


@attrs.frozen
class MessageUp:
    device_id: str
    payload: bytes


@attrs.frozen
class EventUp:
    """A thing-model event; ``request_id`` is the token of a post that gets an answer (Tencent)."""

    device_id: str
    service_id: str
    event_type: str
    params: Mapping[str, Any] = attrs.field(factory=dict)
    request_id: str | None = None


@attrs.frozen
class DeviceInfo:
    """What a device says about itself (Tencent ``report_info``, Huawei ``$sdk_info``)."""

    device_id: str
    params: Mapping[str, Any]
    request_id: str | None = None


@attrs.frozen
class DeviceLog:
    """A line of the device's own log (Huawei ``$log`` ``log_report``)."""

    device_id: str
    params: Mapping[str, Any]


@attrs.frozen
class SystemEventUp:
    """An event for one of the platform's own services that the local cloud does not serve yet
    (Huawei ``$ota``, ``$file_manager``, ``$sub_device_manager`` ...)."""

    device_id: str
    service_id: str
    event_type: str
    params: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class TimeSyncRequested:
    """A device asks for the time (Huawei ``$time_sync``): ``device_send_time`` as it sent it,
    ``server_recv_time`` the platform's clock when it arrived (ms since the epoch)."""

    device_id: str
    device_send_time: int | str
    server_recv_time: int


@attrs.frozen
class DeviceMalformed:
    """A device uplink that could not be understood."""

    device_id: str | None
    topic: str
    reason: str
    kind: RequestKind = "other"
    request_id: str | None = None


# --- platform side: actions (cloud -> device) --------------------------------------------------
@attrs.frozen
class PushDesired:
    device_id: str
    request_id: str
    services: ServiceValues
    #: the shadow's version after this change, for protocols that carry one
    version: int | None = None


@attrs.frozen
class AskRead:
    device_id: str
    request_id: str
    service_id: str | None = None


@attrs.frozen
class SendCommand:
    device_id: str
    request_id: str
    service_id: str | None
    name: str
    params: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class AnswerShadow:
    device_id: str
    request_id: str
    services: Mapping[str, ShadowState]


PlatformUplink = (
    Reported
    | DesiredAcked
    | ReadAnswered
    | CommandAnswered
    | ShadowRequested
    | DesiredCleared
    | MessageUp
    | EventUp
    | DeviceInfo
    | DeviceLog
    | SystemEventUp
    | TimeSyncRequested
    | DeviceMalformed
)


@attrs.frozen
class MessageDown:
    """A free-form message to a device (Huawei ``messages/down``)."""

    device_id: str
    payload: bytes


@attrs.frozen
class EventDown:
    """A platform event to one of a device's services (Huawei ``events/down``)."""

    device_id: str
    service_id: str
    event_type: str
    params: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class AnswerRequest:
    """The cloud's answer to a device's own request (``kind``: what it answers), where the
    protocol has one: Tencent's ``report_reply``, ``event_reply``, ``clear_control_reply``,
    ``report_info_reply``, the hub's ``update`` result; and the error answer to a request that
    was malformed or refused (``code`` != 0, ``reason``), a shadow get's included. ``version``
    is the shadow's version after the request, for protocols that carry one."""

    device_id: str
    request_id: str
    kind: RequestKind
    code: int = 0
    reason: str = ""
    version: int | None = None

    @property
    def ok(self) -> bool:
        return self.code == 0


@attrs.frozen
class AnswerTimeSync:
    """The answer to a :class:`TimeSyncRequested`; the platform half adds its send time."""

    device_id: str
    device_send_time: int | str
    server_recv_time: int


PlatformDownlink = (
    PushDesired
    | AskRead
    | SendCommand
    | AnswerShadow
    | MessageDown
    | EventDown
    | AnswerRequest
    | AnswerTimeSync
)


@attrs.frozen
class ShadowLimits:
    """What a platform lets one device's shadow hold; the cloud checks every change against it,
    on the merged result. ``max_depth``: nesting of a desired or reported section (``{"a": 1}``
    is 1); ``max_bytes``: the JSON of every section of the device together;
    ``max_properties``: names in one shadow (desired and reported together; None: no limit);
    ``forbidden_in_names``: characters no property name may hold, at any depth."""

    max_depth: int
    max_bytes: int
    max_properties: int | None = None
    forbidden_in_names: str = ""
