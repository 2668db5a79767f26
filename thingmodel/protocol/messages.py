"""Vendor-neutral messages between the codecs and the device core / local cloud.

Device side: a codec decodes (topic, payload) into *events* (``DesiredChange``, ``PropertyRead``,
``CommandRequest``, ``ShadowSnapshot``, ``Malformed`` ...) and encodes *actions*
(``ReportProperties``, ``AckDesired``, ``ReadResponse``, ``CommandResponse``, ``RequestShadow`` ...).

Platform side: the same codec module decodes the device's uplinks into ``Reported``,
``DesiredAcked``, ``ReadAnswered``, ``CommandAnswered``, ``ShadowRequested`` ... and encodes
``PushDesired``, ``AskRead``, ``SendCommand``, ``AnswerShadow``.

All are frozen attrs classes; no I/O anywhere in this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

ServiceValues = Mapping[str, Mapping[str, Any]]
"""``{service_id: {wire_name: value}}``"""

RequestKind = Literal["desired", "read", "command", "shadow", "message", "event", "report", "other"]


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
    service_id: str
    event_type: str
    params: Mapping[str, Any] = attrs.field(factory=dict)


Downlink = (
    DesiredChange
    | PropertyRead
    | CommandRequest
    | ShadowSnapshot
    | CloudMessage
    | CloudEvent
    | Rejected
    | Malformed
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
)


# --- platform side: events (device -> cloud) ---------------------------------------------------
@attrs.frozen
class Reported:
    device_id: str
    services: ServiceValues


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


@attrs.frozen
class MessageUp:
    device_id: str
    payload: bytes


@attrs.frozen
class EventUp:
    device_id: str
    service_id: str
    event_type: str
    params: Mapping[str, Any] = attrs.field(factory=dict)


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


PlatformDownlink = PushDesired | AskRead | SendCommand | AnswerShadow | MessageDown | EventDown
