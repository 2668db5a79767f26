"""Vendor-neutral messages between the codecs and the device core / local cloud.

Device side: a codec decodes (topic, payload) into *events* (``DesiredChange``, ``PropertyRead``,
``CommandRequest``, ``ShadowSnapshot``, ``Malformed`` ...) and encodes *actions*
(``ReportProperties``, ``AckDesired``, ``ReadResponse``, ``CommandResponse``, ``RequestShadow`` ...).

Platform side: the same codec module decodes the device's uplinks into ``Reported``,
``DesiredAcked``, ``ReadAnswered``, ``CommandAnswered``, ``ShadowRequested``, ``DeviceInfo``,
``TimeSyncRequested`` ... and encodes ``PushDesired``, ``AskRead``, ``SendCommand``,
``AnswerShadow``, and the answers a device's own requests get (``AnswerRequest``,
``AnswerTimeSync``). A platform half also says what its shadows may hold (``ShadowLimits``).
Device features have their messages in sections of their own: OTA, logs, files
(``UpgradeOffer`` ...), on-device rules (``RulesChanged``, ``RulesDelivered``, ``AskRules``;
``RulesAsked``, ``PushRules``, ``AnswerRules``).

All are frozen attrs classes; no I/O anywhere in this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from .gateway import (
    AddChildren,
    ChildInfo,  # noqa: F401 - re-exported: the gateway messages' parts
    ChildrenAnswered,
    ChildrenChanged,
    ChildrenStatus,
    GatewayAsked,
    RemoveChildren,
    SyncChildren,
    TellGateway,
)

ServiceValues = Mapping[str, Mapping[str, Any]]
"""``{service_id: {wire_name: value}}``"""

RequestKind = Literal[
    "desired", "read", "command", "shadow", "message", "event", "report", "clear", "info", "ota", "other"
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


# --- device side: OTA, logs, files, custom topics (cloud -> device) ---------------------------
UpgradeKind = Literal["firmware", "software"]
UpgradeState = Literal["downloading", "installing", "succeeded", "failed"]
UpgradeFailure = Literal["busy", "download", "verify", "install", "unsupported", "current"]
"""Why an upgrade failed, vendor-neutral; each codec maps it to its result code: ``busy``
(another upgrade runs), ``download`` (the package could not be fetched), ``verify`` (size or
hash mismatch), ``install`` (the device's install raised), ``unsupported`` (no OTA declared),
``current`` (the device already runs that version)."""


@attrs.frozen
class VersionQuery:
    """The cloud asks which versions the device runs (Huawei ``$ota`` ``version_query``)."""


@attrs.frozen
class UpgradeOffer:
    """The cloud offers a package (Huawei ``firmware_upgrade``/``software_upgrade``, Tencent
    ``update_firmware``, an AWS job whose document is an OTA). ``task_id`` names the upgrade
    in progress reports (the AWS job id; None where the vendor has none). At least one of
    ``sha256``/``md5`` (lowercase hex) is set where the vendor sends one; ``token`` is a
    Bearer token for the download (Huawei ``access_token``)."""

    version: str
    url: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    token: str | None = None
    task_id: str | None = None
    kind: UpgradeKind = "firmware"


@attrs.frozen
class LogConfig:
    """The cloud switches log shipping on or off (Huawei ``$log`` ``log_config``);
    ``until_ms``: when shipping stops by itself (ms since the epoch; None: no end)."""

    enabled: bool
    until_ms: int | None = None


@attrs.frozen
class FileUrl:
    """Where to upload or download a file (Huawei ``$file_manager``
    ``get_upload_url_response``/``get_download_url_response``)."""

    direction: Literal["upload", "download"]
    file_name: str
    url: str
    expires: int | None = None


@attrs.frozen
class UpgradeAcked:
    """The cloud acknowledged a version report (Tencent ``report_version_rsp``); ``code`` 0 is
    success."""

    version: str | None
    code: int = 0
    reason: str = ""


def _strings(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)


def _objects(items: Iterable[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    return tuple(items)


@attrs.frozen
class RulesChanged:
    """The cloud's on-device rules changed (Huawei: a ``properties/set`` of the ``$device_rule``
    service, ``{rule_id: {"version": n}}``): ``versions`` maps a rule id to its version, -1
    for a deleted rule. ``request_id``: the write request that carried nothing else, which the
    device answers with success (a write that also sets other services is a
    :class:`DesiredChange` beside this, answered as usual)."""

    versions: Mapping[str, int]
    request_id: str | None = None


@attrs.frozen
class RulesDelivered:
    """The rules the device asked for (Huawei ``$device_rule`` ``device_rule_config_response``
    ``rulesInfos``), each the vendor's rule JSON as it came: the device parses and checks them
    (:mod:`thingmodel.features.rules`), so one bad rule never hides the others."""

    rules: tuple[Mapping[str, Any], ...] = attrs.field(converter=_objects)


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
    | VersionQuery
    | UpgradeOffer
    | UpgradeAcked
    | LogConfig
    | FileUrl
    | RulesChanged
    | RulesDelivered
    | ChildrenChanged
    | ChildrenAnswered
)


# --- device side: OTA, info, logs, files (device -> cloud) ------------------------------------
@attrs.frozen
class ReportVersion:
    """The versions the device runs (Huawei ``version_report``, Tencent ``report_version``
    with ``fw_version``; on AWS it asks Jobs for the next job, ``start-next``)."""

    fw_version: str | None
    sw_version: str | None = None


@attrs.frozen
class UpgradeProgress:
    """How an upgrade goes: ``state`` and ``percent`` (0..100, None where unknown);
    ``failure``/``reason`` when ``state`` is ``failed``. ``version`` is the offered version
    (Huawei wants the old one on failure: the codec takes ``current_version`` then)."""

    version: str
    state: UpgradeState
    percent: int | None = None
    task_id: str | None = None
    failure: UpgradeFailure | None = None
    reason: str = ""
    current_version: str | None = None


@attrs.frozen
class ReportInfo:
    """What the device says about itself once connected (Huawei ``$sdk_info``
    ``sdk_info_report``, Tencent ``report_info``, AWS: reported state). ``extra``: more
    string-valued facts (Tencent ``device_label``)."""

    fw_version: str | None = None
    sw_version: str | None = None
    sdk_version: str | None = None
    extra: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class LogEntry:
    """One shipped log record: ``type`` is Huawei's DEVICE_STATUS/DEVICE_PROPERTY/
    DEVICE_MESSAGE/DEVICE_COMMAND (records from :mod:`logging` are DEVICE_STATUS)."""

    timestamp_ms: int
    content: str
    type: str = "DEVICE_STATUS"


@attrs.frozen
class ShipLogs:
    """Log records for the cloud (Huawei ``$log`` ``log_report``, one event entry each)."""

    entries: tuple[LogEntry, ...]


@attrs.frozen
class AskFileUrl:
    """Ask where to upload or download ``file_name`` (Huawei ``get_upload_url`` /
    ``get_download_url``); ``attributes`` e.g. ``{"hash_code": sha256, "size": n}``."""

    direction: Literal["upload", "download"]
    file_name: str
    attributes: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class FileResult:
    """How a transfer ended (Huawei ``upload_result_report``/``download_result_report``):
    ``code`` 0 is success, ``status_code`` the HTTP status."""

    direction: Literal["upload", "download"]
    file_name: str
    code: int
    status_code: int | None = None
    description: str = ""


@attrs.frozen
class AskRules:
    """The device asks for the rules it lacks (Huawei ``$device_rule``
    ``device_rule_config_request`` ``{ruleIds, delIds}``): ``rule_ids`` new or newer than the
    versions it holds, ``deleted_ids`` those it dropped."""

    rule_ids: tuple[str, ...] = attrs.field(converter=_strings)
    deleted_ids: tuple[str, ...] = attrs.field(default=(), converter=_strings)


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
    | ReportVersion
    | UpgradeProgress
    | ReportInfo
    | ShipLogs
    | AskFileUrl
    | FileResult
    | AskRules
    | AddChildren
    | RemoveChildren
    | ChildrenStatus
    | SyncChildren
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


@attrs.frozen
class VersionReported:
    """A device said which versions it runs (Huawei ``version_report``, Tencent
    ``report_version``)."""

    device_id: str
    fw_version: str | None
    sw_version: str | None = None


@attrs.frozen
class UpgradeReported:
    """A device's upgrade progress or outcome (Huawei ``upgrade_progress_report``, Tencent
    ``report_progress``, an AWS job update). ``version``: what the device reports (the new
    version on success); ``code`` the vendor's own result code as sent. ``request_id``: the
    token of an update that gets an answer (AWS ``clientToken``)."""

    device_id: str
    version: str | None
    state: UpgradeState
    percent: int | None = None
    task_id: str | None = None
    failure: UpgradeFailure | None = None
    reason: str = ""
    code: int | str | None = None
    request_id: str | None = None


@attrs.frozen
class JobRequested:
    """A device asks AWS Jobs for a job: ``job_id`` None is start-next (or ``$next``)."""

    device_id: str
    request_id: str | None
    job_id: str | None = None


@attrs.frozen
class FileUrlRequested:
    """A device asks where to put or get a file (Huawei ``$file_manager``)."""

    device_id: str
    direction: Literal["upload", "download"]
    file_name: str
    attributes: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class FileReported:
    """How a device's file transfer ended (Huawei ``upload_result_report`` /
    ``download_result_report``)."""

    device_id: str
    direction: Literal["upload", "download"]
    file_name: str
    code: int
    status_code: int | None = None
    description: str = ""


@attrs.frozen
class RulesAsked:
    """A device asks for on-device rules (Huawei ``device_rule_config_request``)."""

    device_id: str
    rule_ids: tuple[str, ...] = attrs.field(converter=_strings)
    deleted_ids: tuple[str, ...] = attrs.field(default=(), converter=_strings)


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
    | VersionReported
    | UpgradeReported
    | JobRequested
    | FileUrlRequested
    | FileReported
    | RulesAsked
    | GatewayAsked
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


@attrs.frozen
class QueryVersion:
    """Ask a device which versions it runs (Huawei ``version_query``)."""

    device_id: str


@attrs.frozen
class OfferUpgrade:
    """Offer a package to a device (Huawei ``firmware_upgrade``/``software_upgrade``, Tencent
    ``update_firmware``, AWS ``jobs/notify-next`` with an OTA job document). ``task_id`` is
    the AWS job id (required there)."""

    device_id: str
    version: str
    url: str
    size: int
    sha256: str
    md5: str
    token: str | None = None
    task_id: str | None = None
    kind: UpgradeKind = "firmware"


@attrs.frozen
class AnswerVersion:
    """Tencent's ``report_version_rsp`` to a ``report_version``."""

    device_id: str
    version: str | None
    code: int = 0
    reason: str = "success"


@attrs.frozen
class AnswerJob:
    """AWS Jobs' answer to a start-next / describe (``start-next/accepted``): ``offer`` is the
    job the device should run (None: no job), ``status`` its execution status,
    ``version_number`` the execution's version. ``job_id`` None answers a start-next
    (``start-next/accepted``), else a describe of that job (``jobs/{job_id}/get/accepted``)."""

    device_id: str
    request_id: str | None
    offer: OfferUpgrade | None
    status: str = "IN_PROGRESS"
    version_number: int = 1
    job_id: str | None = None


@attrs.frozen
class AnswerJobUpdate:
    """AWS Jobs' answer to a job update: ``code`` None is ``update/accepted``; otherwise the
    error code of ``update/rejected`` (``InvalidStateTransition``, ``ResourceNotFound``...)."""

    device_id: str
    job_id: str
    request_id: str | None
    code: str | None = None
    reason: str = ""


@attrs.frozen
class ConfigureLog:
    """Switch a device's log shipping (Huawei ``log_config``)."""

    device_id: str
    enabled: bool
    until_ms: int | None = None


@attrs.frozen
class AnswerFileUrl:
    """Where a device uploads or downloads a file (Huawei ``get_*_url_response``)."""

    device_id: str
    direction: Literal["upload", "download"]
    file_name: str
    url: str
    expires: int = 3600
    attributes: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class PushRules:
    """Tell a device its on-device rules' versions (Huawei: a ``properties/set`` of the
    ``$device_rule`` service): ``versions`` maps a rule id to its version, -1 for a deleted
    one. ``request_id`` names the write request the device answers."""

    device_id: str
    versions: Mapping[str, int]
    request_id: str


@attrs.frozen
class AnswerRules:
    """The rules a device asked for (Huawei ``device_rule_config_response`` ``rulesInfos``),
    each the vendor's rule JSON with its ``ruleVersionInShadow``."""

    device_id: str
    rules: tuple[Mapping[str, Any], ...] = attrs.field(converter=_objects)


PlatformDownlink = (
    PushDesired
    | AskRead
    | SendCommand
    | AnswerShadow
    | MessageDown
    | EventDown
    | AnswerRequest
    | AnswerTimeSync
    | QueryVersion
    | OfferUpgrade
    | AnswerVersion
    | AnswerJob
    | AnswerJobUpdate
    | ConfigureLog
    | AnswerFileUrl
    | PushRules
    | AnswerRules
    | TellGateway
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
