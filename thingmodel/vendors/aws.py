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

OTA runs on AWS IoT Jobs (the job document is ours: :func:`job_document`); device info is the
reported state of the thing's named shadow ``device-info``, outside the services' own shadows;
logs go up on ``things/{thing}/logs/up`` and their switch comes down on ``.../logs/config``;
messages come down on ``.../messages/down``. Files have no AWS protocol (use S3 presigned URLs).
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
from ..protocol.topics import topic_matches

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
_JOB = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_HEX = re.compile(r"[0-9a-fA-F]+")
#: hex digits of each digest a job document may carry
_DIGESTS = {"sha256": 64, "md5": 32}
_PERCENT = re.compile(r"[0-9]{1,3}")

INFO_SHADOW = "device-info"
"""The named shadow whose reported state is the device's info (:class:`~.messages.ReportInfo`);
no service's shadow may take this name."""
NEXT = "$next"
"""The job id that means "the next pending job" in a describe (``jobs/$next/get``)."""
#: AWS IoT Jobs' limit on a statusDetails value
MAX_DETAIL = 1024
#: how many job ids the device half remembers as offered and not yet finished
MAX_OPEN_JOBS = 16

#: how a failed upgrade ends its job execution. AWS asks a device that cannot run a job to
#: REJECT it; ``busy`` sends nothing: the job stays QUEUED and Jobs offers it again once the
#: running one ends (notify-next), instead of failing a job that merely has to wait.
FAILURE_STATUS: dict[ev.UpgradeFailure, str | None] = {
    "busy": None,
    "download": "FAILED",
    "verify": "FAILED",
    "install": "FAILED",
    "current": "FAILED",
    "unsupported": "REJECTED",
}
#: the failure of an execution a device ended without a known ``failure`` detail
STATUS_FAILURE: dict[str, ev.UpgradeFailure | None] = {"FAILED": None, "REJECTED": "unsupported"}
_STATE_STATUS: dict[ev.UpgradeState, str] = {
    "downloading": "IN_PROGRESS",
    "installing": "IN_PROGRESS",
    "succeeded": "SUCCEEDED",
}
_FAILURES: dict[str, ev.UpgradeFailure] = {failure: failure for failure in FAILURE_STATUS}
#: execution statuses after which there is nothing left to run
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "REMOVED", "CANCELED"})
#: what a device may set a job execution to (jobs-mqtt-api, UpdateJobExecution)
_DEVICE_STATUSES = frozenset({"IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED"})


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
_UPLINKS: dict[str, ev.RequestKind] = {"events": "event", "messages": "message", "logs": "other"}


def event_topic(thing: str) -> str:
    """Where a thing's events go (ours: AWS IoT has no event protocol)."""
    return f"things/{thing}/events/up"


def message_topic(thing: str) -> str:
    """Where a thing's free-form messages go (ours: AWS IoT has no message protocol)."""
    return f"things/{thing}/messages/up"


def parse_uplink_topic(topic: str) -> tuple[str, str] | None:
    """``(thing, "events"|"messages"|"logs")`` for one of our uplink topics, else None."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "things" or parts[2] not in _UPLINKS or parts[3] != "up":
        return None
    return parts[1], parts[2]


def jobs_topic(thing: str, operation: str, job_id: str | None = None) -> str:
    """``$aws/things/{thing}/jobs/{operation}``, or ``.../jobs/{job_id}/{operation}``."""
    base = f"$aws/things/{thing}/jobs"
    return f"{base}/{operation}" if job_id is None else f"{base}/{job_id}/{operation}"


def parse_jobs_topic(topic: str) -> tuple[str, str | None, str] | None:
    """``(thing, job id or None, operation)`` for an AWS IoT Jobs topic, e.g.
    ``("t", "job-1", "update/accepted")`` or ``("t", None, "notify-next")``; names as found."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != "$aws" or parts[1] != "things" or parts[3] != "jobs":
        return None
    rest = parts[4:]
    replies = ("accepted", "rejected")
    if rest and rest[0] in ("notify", "notify-next") and len(rest) == 1:
        return parts[2], None, rest[0]
    if (
        rest
        and rest[0] in ("get", "start-next")
        and (len(rest) == 1 or (len(rest) == 2 and rest[1] in replies))
    ):
        return parts[2], None, "/".join(rest)
    if len(rest) in (2, 3) and rest[1] in ("get", "update") and (len(rest) == 2 or rest[2] in replies):
        return parts[2], rest[0], "/".join(rest[1:])
    return None


def message_down_topic(thing: str) -> str:
    """Where the cloud's free-form messages to a thing go (ours)."""
    return f"things/{thing}/messages/down"


def log_topic(thing: str) -> str:
    """Where a thing ships its log records (ours)."""
    return f"things/{thing}/logs/up"


def log_config_topic(thing: str) -> str:
    """Where the cloud switches a thing's log shipping on or off (ours)."""
    return f"things/{thing}/logs/config"


#: our own topics in a thing's ``things/{thing}/`` namespace (no custom topic may be one)
OWN_TOPICS = ("events/up", "messages/up", "messages/down", "logs/up", "logs/config")


def parse_own_topic(topic: str) -> tuple[str, str] | None:
    """``(thing, name)`` for one of our topics ``things/{thing}/{name}`` (:data:`OWN_TOPICS`)."""
    parts = topic.split("/", 2)
    if len(parts) != 3 or parts[0] != "things" or parts[2] not in OWN_TOPICS:
        return None
    return parts[1], parts[2]


def job_document(offer: ev.OfferUpgrade) -> dict[str, Any]:
    """The job document of an OTA job, ours (docs/vendors.md): ``{"operation": "ota", "version",
    "url", "size", "sha256", "md5" (when known), "kind", "token" (when the URL needs one)}``."""
    doc: dict[str, Any] = {
        "operation": "ota",
        "version": offer.version,
        "url": offer.url,
        "size": offer.size,
        "sha256": offer.sha256.lower(),
    }
    if offer.md5:
        doc["md5"] = offer.md5.lower()
    doc["kind"] = offer.kind
    if offer.token:
        doc["token"] = offer.token
    return doc


def read_job_document(doc: object, job_id: str) -> ev.UpgradeOffer:
    """The offer an OTA job document makes (CodecError naming the field when it is not one)."""
    if not isinstance(doc, dict):
        raise CodecError(f"job document must be a JSON object, got {type(doc).__name__}")
    operation = doc.get("operation")
    if operation != "ota":
        raise CodecError(
            f"job document is not a thingmodel OTA document (operation {operation!r}, not 'ota')"
        )
    where = "jobDocument."
    version = field(doc, "version", str, where=where)
    url = field(doc, "url", str, where=where)
    if not version:
        raise CodecError("field jobDocument.'version' is empty")
    if not url.startswith(("http://", "https://")):
        raise CodecError(f"field jobDocument.'url' must be an http(s) URL, got {url[:60]!r}")
    size = field(doc, "size", int, required=False, where=where)
    if size is not None and not 0 <= size < 2**63:
        raise CodecError(f"field jobDocument.'size' is out of range: {size}")
    digests: dict[str, str | None] = {}
    for name, digits in _DIGESTS.items():
        value = field(doc, name, str, required=name == "sha256", where=where)
        if value is not None and (len(value) != digits or not _HEX.fullmatch(value)):
            raise CodecError(f"field jobDocument.{name!r} must be {digits} hex digits, got {value[:80]!r}")
        digests[name] = None if value is None else value.lower()
    text = field(doc, "kind", str, required=False, where=where) or "firmware"
    if text not in ("firmware", "software"):
        raise CodecError(f"field jobDocument.'kind' must be 'firmware' or 'software', got {text[:40]!r}")
    kind: ev.UpgradeKind = "software" if text == "software" else "firmware"
    token = field(doc, "token", str, required=False, where=where)
    return ev.UpgradeOffer(version, url, size, digests["sha256"], digests["md5"], token or None, job_id, kind)


def _details(m: ev.UpgradeProgress) -> dict[str, str]:
    """An UpgradeProgress as a job execution's statusDetails: strings, empty ones left out."""
    values = {
        "state": m.state,
        "percent": "" if m.percent is None else str(m.percent),
        "version": m.version,
        "current_version": m.current_version or "",
        "failure": m.failure or "",
        "reason": m.reason,
    }
    return {key: str(value)[:MAX_DETAIL] for key, value in values.items() if value}


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
    "AWS IoT", "shadows, commands, jobs, events, messages and logs"
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
        jobs: bool = True,
        new_id: Callable[[], str] = _new_id,
        clock: Callable[[], float] = time.time,
        gateway_id: str | None = None,
    ) -> None:
        """``shadows`` maps a service id to its shadow name (None = classic); by default one
        service uses the classic shadow and several use one named shadow each. ``commands=False``
        leaves the commands topics alone (an account without AWS IoT commands may refuse them);
        ``jobs=False`` the Jobs topics (no OTA then). ``new_id`` makes the ``clientToken`` of each
        request, ``clock`` (Unix seconds) an event's timestamp. ``gateway_id``: the thing whose
        connection serves this one (AWS has no gateway protocol: a child is an ordinary thing
        whose topics its gateway's connection publishes and subscribes, as its policy allows)."""
        self.thing = validate_thing_name(thing_name)
        self.gateway_id = gateway_id
        self.clock = clock
        if shadows is None:
            ids = list(service_ids)
            shadows = {ids[0]: None} if len(ids) == 1 else {sid: sid for sid in ids}
        self.shadows: dict[str, str | None] = {}
        for sid, name in shadows.items():
            self.shadows[sid] = None if name is None else validate_shadow_name(name)
            if name == INFO_SHADOW:
                raise InvalidValue(
                    f"service {sid!r} cannot use the shadow {INFO_SHADOW!r}: it holds the device's"
                    " info (map the service to another shadow with shadows=)"
                )
        taken = [name for name in self.shadows.values()]
        if len(set(taken)) != len(taken):
            raise InvalidValue(f"two services map to the same shadow: {self.shadows}")
        self.services = {name: sid for sid, name in self.shadows.items()}
        #: each shadow's delta topic: the downlink that matters most, found without parsing
        self._delta_topics = {
            f"{shadow_prefix(self.thing, name)}/update/delta": name for name in self.services
        }
        self.commands = commands
        self.jobs = jobs
        self.new_id = new_id
        #: per shadow, the version of the last delta or get applied
        self.applied_version: dict[str | None, int] = {}
        self._gets: dict[str, _Get] = {}
        #: job ids offered to the device and not finished yet (oldest first, bounded): Jobs
        #: hands out the same execution on notify-next, start-next and describe alike
        self.open_jobs: dict[str, None] = {}

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
        if self.jobs:
            topics.append(jobs_topic(self.thing, "notify-next"))
            for operation, job in (("start-next", None), ("update", "+"), ("get", "+")):
                topics += [
                    jobs_topic(self.thing, f"{operation}/{reply}", job) for reply in ("accepted", "rejected")
                ]
        # Only the rejection: the info shadow's accepted updates and deltas are nothing to act on.
        topics.append(f"{shadow_prefix(self.thing, INFO_SHADOW)}/update/rejected")
        topics += [message_down_topic(self.thing), log_config_topic(self.thing)]
        return topics

    def custom_topic(self, name: str) -> str:
        """``things/{thing}/{name}``: the thing's own namespace, beside our topics (none of which
        it may be or match, InvalidValue) and within AWS IoT's 7 slashes and 256 bytes."""
        topic = f"things/{self.thing}/{name}"
        for own in OWN_TOPICS:
            mine = f"things/{self.thing}/{own}"
            if topic_matches(topic, mine):
                raise InvalidValue(f"custom topic {name!r} would take in thingmodel's own topic {mine}")
        if topic.count("/") > 7 or len(topic.encode()) > 256:
            raise InvalidValue(f"custom topic {name!r}: AWS IoT topics have at most 7 slashes and 256 bytes")
        return topic

    # -- downlinks -----------------------------------------------------------------------------
    def addressee(self, topic: str, payload: bytes) -> str | None:
        """The thing a downlink is for when it is another than this one (a gateway's child):
        the thing named in the topic (``$aws/things/{thing}/...``, ``$aws/commands/things/...``,
        ``things/{thing}/...``); None for this thing's own."""
        parts = topic.split("/", 4)
        if topic.startswith("$aws/commands/things/") and len(parts) > 3:
            thing = parts[3]
        elif topic.startswith("$aws/things/") and len(parts) > 2:
            thing = parts[2]
        elif topic.startswith("things/") and len(parts) > 1:
            thing = parts[1]
        else:
            return None
        return None if thing == self.thing else thing

    def decode(self, topic: str, payload: bytes) -> list[ev.Downlink]:
        if topic in self._delta_topics:
            try:
                return self._delta(self._delta_topics[topic], loads_object(payload, limit=MAX_PAYLOAD))
            except CodecError as exc:
                return [ev.Malformed(topic, str(exc), kind="desired")]
        command = parse_command_topic(topic)
        if command is not None and command[0] == self.thing and command[2] == "request":
            return self._command(topic, command[1], payload)
        jobs = parse_jobs_topic(topic)
        if jobs is not None and jobs[0] == self.thing and self.jobs:
            return self._jobs(topic, jobs[1], jobs[2], payload)
        own = parse_own_topic(topic)
        if own is not None and own[0] == self.thing and own[1] in ("messages/down", "logs/config"):
            return self._own(topic, own[1], payload)
        parsed = parse_shadow_topic(topic)
        if parsed == (self.thing, INFO_SHADOW, "update/rejected"):
            try:
                return self._rejected(
                    INFO_SHADOW, "update/rejected", loads_object(payload, limit=MAX_PAYLOAD)
                )
            except CodecError as exc:
                return [ev.Malformed(topic, str(exc))]
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
        state, version = body.get("state"), body.get("version")
        if type(state) is not dict or type(version) is not int:  # the usual case, checked cheaply
            state = field(body, "state", dict)  # these raise the error that says why
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

    def _jobs(self, topic: str, job_id: str | None, operation: str, payload: bytes) -> list[ev.Downlink]:
        offer = operation in ("notify-next", "start-next/accepted", "get/accepted")
        # An offer on a topic that names its job can be refused by that name when unreadable.
        named = job_id if offer and job_id is not None and _JOB.fullmatch(job_id) else None
        try:
            body = loads_object(payload, limit=MAX_PAYLOAD)
            if offer:
                return self._offer(topic, job_id, body)
            if operation.endswith("/rejected"):
                code = field(body, "code", str)
                message = field(body, "message", str, required=False) or ""
                token = field(body, "clientToken", str, required=False)
                return [ev.Rejected(token, ev.CODE_BAD_REQUEST, f"{code}: {message}")]
            if operation == "update/accepted":
                return []
        except CodecError as exc:
            return [ev.Malformed(topic, str(exc), kind="ota" if offer else "other", request_id=named)]
        return [ev.Malformed(topic, f"unexpected jobs topic {operation!r}")]

    def _offer(self, topic: str, topic_job: str | None, body: dict[str, Any]) -> list[ev.Downlink]:
        execution = field(body, "execution", dict, required=False)
        if execution is None:
            return []  # nothing pending
        job_id = field(execution, "jobId", str, where="execution.")
        if not _JOB.fullmatch(job_id):
            raise CodecError(f"execution.jobId {job_id[:80]!r} is not a job id (1-64 of a-z A-Z 0-9 _ -)")
        if topic_job not in (None, NEXT, job_id):
            return [ev.Malformed(topic, f"execution of job {job_id!r} on the topic of job {topic_job!r}")]
        thing = execution.get("thingName")
        if thing is not None and thing != self.thing:
            return [ev.Malformed(topic, f"execution of job {job_id!r} is for thing {str(thing)[:130]!r}")]
        try:
            status = field(execution, "status", str, required=False, where="execution.")
            if status in _TERMINAL:
                log.debug("job %s is %s already: nothing to run", job_id, status)
                return []
            if job_id in self.open_jobs:
                log.debug("job %s is offered again while it runs: ignored", job_id)
                return []
            offer = read_job_document(execution.get("jobDocument"), job_id)
        except CodecError as exc:
            return [ev.Malformed(topic, f"job {job_id}: {exc}", kind="ota", request_id=job_id)]
        self.open_jobs[job_id] = None
        while len(self.open_jobs) > MAX_OPEN_JOBS:
            del self.open_jobs[next(iter(self.open_jobs))]
        return [offer]

    def _own(self, topic: str, name: str, payload: bytes) -> list[ev.Downlink]:
        if name == "messages/down":
            if len(payload) > MAX_PAYLOAD:
                reason = f"message of {len(payload)} bytes exceeds AWS IoT's limit of {MAX_PAYLOAD} bytes"
                return [ev.Malformed(topic, reason, kind="message")]
            return [ev.CloudMessage(bytes(payload))]
        try:
            body = loads_object(payload, limit=MAX_PAYLOAD)
            switch = field(body, "switch", str)
            until = field(body, "end_time", int, required=False)
        except CodecError as exc:
            return [ev.Malformed(topic, str(exc))]
        if switch not in ("on", "off"):
            return [ev.Malformed(topic, f"field 'switch' must be 'on' or 'off', got {switch[:40]!r}")]
        if until is not None and not 0 <= until < 2**63:
            return [ev.Malformed(topic, f"field 'end_time' is out of range: {until}")]
        return [ev.LogConfig(switch == "on", until)]

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

    @_DEVICE_SENDS.on(ev.ReportVersion)
    def _report_version(self, m: ev.ReportVersion) -> list[ev.Outgoing]:
        # Jobs has no version report: a device (re)starting asks for its next job instead.
        if not self.jobs:
            raise CodecError("this device leaves AWS IoT Jobs alone (jobs=False): it takes no OTA")
        return [_out(jobs_topic(self.thing, "start-next"), {"clientToken": self.new_id()})]

    @_DEVICE_SENDS.on(ev.UpgradeProgress)
    def _progress(self, m: ev.UpgradeProgress) -> list[ev.Outgoing]:
        job = m.task_id
        if job is None or not _JOB.fullmatch(job):
            raise CodecError(f"AWS IoT Jobs reports progress per job: {job!r} is not a job id (task_id)")
        if m.state == "failed":
            status = FAILURE_STATUS.get(m.failure, "FAILED") if m.failure else "FAILED"
        else:
            status = _STATE_STATUS[m.state]
        if m.state in ("failed", "succeeded"):
            self.open_jobs.pop(job, None)
        if status is None:
            log.info("job %s left queued: %s", job, m.reason or m.failure)
            return []
        body = {"status": status, "statusDetails": _details(m), "clientToken": self.new_id()}
        return [_out(jobs_topic(self.thing, "update", job), body)]

    @_DEVICE_SENDS.on(ev.ReportInfo)
    def _info(self, m: ev.ReportInfo) -> list[ev.Outgoing]:
        named = {"fw_version": m.fw_version, "sw_version": m.sw_version, "sdk_version": m.sdk_version}
        clash = sorted(set(m.extra) & set(named))
        if clash:
            raise CodecError(f"device info extra {clash[0]!r} clashes with the field of that name")
        reported = {**dict(m.extra), **{k: v for k, v in named.items() if v is not None}}
        if not reported:
            return []
        topic = f"{shadow_prefix(self.thing, INFO_SHADOW)}/update"
        return [_out(topic, {"state": {"reported": reported}, "clientToken": self.new_id()})]

    @_DEVICE_SENDS.on(ev.ShipLogs)
    def _logs(self, m: ev.ShipLogs) -> list[ev.Outgoing]:
        """One publish per 128 KB of records, in order."""
        topic = log_topic(self.thing)
        try:
            entries = [
                dumps({"timestamp": e.timestamp_ms, "type": e.type, "content": e.content}) for e in m.entries
            ]
        except ValueError as exc:
            raise CodecError(f"cannot encode log records for {topic}: {exc}") from None
        room = MAX_PAYLOAD - len(b'{"logs":[]}')
        for index, entry in enumerate(entries):
            if len(entry) > room:
                raise CodecError(
                    f"log record {index} is {len(entry)} bytes: more than an AWS IoT message holds"
                )
        out: list[ev.Outgoing] = []
        batch: list[bytes] = []
        size = 0
        for entry in entries:
            if batch and size + len(entry) + 1 > room:
                out.append(ev.Outgoing(topic, b'{"logs":[' + b",".join(batch) + b"]}"))
                batch, size = [], 0
            batch.append(entry)
            size += len(entry) + 1
        if batch:
            out.append(ev.Outgoing(topic, b'{"logs":[' + b",".join(batch) + b"]}"))
        return out

    def _update(self, sid: str, state: dict[str, Any]) -> ev.Outgoing:
        if sid not in self.shadows:
            raise CodecError(f"service {sid!r} has no shadow on this thing (shadows: {self.shadows})")
        topic = f"{shadow_prefix(self.thing, self.shadows[sid])}/update"
        return _out(topic, {"state": state, "clientToken": self.new_id()})


# --- the cloud's half of commands --------------------------------------------------------------
class AwsPlatform:
    """Sends command executions and reads their responses; plays AWS IoT Jobs' part for OTA
    jobs; reads the things' events, messages and logs and sends messages and log switches
    (the shadow service is separate). ``clock`` (Unix seconds) stamps Jobs' messages."""

    vendor = VENDOR

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    def subscriptions(self) -> list[str]:
        return [
            "$aws/commands/things/+/executions/+/response/#",
            event_topic("+"),
            message_topic("+"),
            log_topic("+"),
            jobs_topic("+", "start-next"),
            jobs_topic("+", "get", "+"),
            jobs_topic("+", "update", "+"),
        ]

    def decode(self, topic: str, payload: bytes) -> list[ev.PlatformUplink]:
        uplink = parse_uplink_topic(topic)
        if uplink is not None:
            return self._uplink(topic, payload, *uplink)
        jobs = parse_jobs_topic(topic)
        if (
            jobs is not None
            and jobs[2] in ("start-next", "get", "update")
            and (jobs[1] is None) == (jobs[2] == "start-next")
        ):
            return self._job_request(topic, payload, *jobs)
        parsed = parse_command_topic(topic)
        if parsed is None or parsed[2] != "response":
            return [ev.DeviceMalformed(None, topic, "not a commands response, jobs request or uplink topic")]
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
    def _job_request(
        topic: str, payload: bytes, thing: str, job_id: str | None, operation: str
    ) -> list[ev.PlatformUplink]:
        try:
            validate_thing_name(thing)
        except InvalidValue as exc:
            return [ev.DeviceMalformed(None, topic, str(exc), kind="ota")]
        token: str | None = None
        try:
            # AWS's SDKs send at least {}; an empty request is taken as one too.
            body = loads_object(payload, limit=MAX_PAYLOAD) if payload else {}
            token = field(body, "clientToken", str, required=False)
            if job_id is not None and not (_JOB.fullmatch(job_id) or (job_id == NEXT and operation == "get")):
                raise CodecError(f"{job_id[:80]!r} is not a job id (1-64 of a-z A-Z 0-9 _ -)")
            if operation != "update":
                return [ev.JobRequested(thing, token, None if job_id == NEXT else job_id)]
            return [_job_update(thing, str(job_id), token, body)]
        except CodecError as exc:
            return [ev.DeviceMalformed(thing, topic, str(exc), kind="ota", request_id=token)]

    @staticmethod
    def _uplink(topic: str, payload: bytes, thing: str, which: str) -> list[ev.PlatformUplink]:
        kind = _UPLINKS[which]
        try:
            validate_thing_name(thing)
        except InvalidValue as exc:
            return [ev.DeviceMalformed(None, topic, str(exc), kind=kind)]
        if which == "logs":
            try:
                return _log_entries(thing, loads_object(payload, limit=MAX_PAYLOAD))
            except CodecError as exc:
                return [ev.DeviceMalformed(thing, topic, str(exc), kind=kind)]
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

    @_PLATFORM_SENDS.on(ev.OfferUpgrade)
    def _offer_upgrade(self, m: ev.OfferUpgrade) -> list[ev.Outgoing]:
        now = int(self.clock())
        execution = self._execution(m.device_id, m, "QUEUED", 1, now)
        return [_out(jobs_topic(m.device_id, "notify-next"), {"timestamp": now, "execution": execution})]

    @_PLATFORM_SENDS.on(ev.AnswerJob)
    def _answer_job(self, m: ev.AnswerJob) -> list[ev.Outgoing]:
        validate_thing_name(m.device_id)
        if m.job_id is not None and not (m.job_id == NEXT or _JOB.fullmatch(m.job_id)):
            raise CodecError(f"{m.job_id[:80]!r} is not a job id")
        now = int(self.clock())
        body: dict[str, Any] = {} if m.request_id is None else {"clientToken": m.request_id}
        body["timestamp"] = now
        if m.offer is not None:
            if m.job_id not in (None, NEXT, m.offer.task_id):
                raise CodecError(f"the answer about job {m.job_id!r} offers job {m.offer.task_id!r}")
            body["execution"] = self._execution(m.device_id, m.offer, m.status, m.version_number, now)
        if m.job_id is None:
            return [_out(jobs_topic(m.device_id, "start-next/accepted"), body)]
        return [_out(jobs_topic(m.device_id, "get/accepted", m.job_id), body)]

    @_PLATFORM_SENDS.on(ev.AnswerJobUpdate)
    def _answer_job_update(self, m: ev.AnswerJobUpdate) -> list[ev.Outgoing]:
        validate_thing_name(m.device_id)
        if not _JOB.fullmatch(m.job_id):
            raise CodecError(f"{m.job_id[:80]!r} is not a job id")
        body: dict[str, Any] = {}
        if m.code is not None:
            body = {"code": m.code, "message": m.reason}
        if m.request_id is not None:
            body["clientToken"] = m.request_id
        body["timestamp"] = int(self.clock())
        reply = "update/accepted" if m.code is None else "update/rejected"
        return [_out(jobs_topic(m.device_id, reply, m.job_id), body)]

    @_PLATFORM_SENDS.on(ev.ConfigureLog)
    def _configure_log(self, m: ev.ConfigureLog) -> list[ev.Outgoing]:
        validate_thing_name(m.device_id)
        body: dict[str, Any] = {"switch": "on" if m.enabled else "off"}
        if m.until_ms is not None:
            body["end_time"] = m.until_ms
        return [_out(log_config_topic(m.device_id), body)]

    @_PLATFORM_SENDS.on(ev.MessageDown)
    def _message_down(self, m: ev.MessageDown) -> list[ev.Outgoing]:
        validate_thing_name(m.device_id)
        if not isinstance(m.payload, (bytes, bytearray, memoryview)):
            raise CodecError(f"a message is bytes, not {type(m.payload).__name__}")
        return [_sized(ev.Outgoing(message_down_topic(m.device_id), bytes(m.payload)))]

    @staticmethod
    def _execution(
        thing: str, offer: ev.OfferUpgrade, status: str, version_number: int, now: int
    ) -> dict[str, Any]:
        """A JobExecution (jobs-mqtt-api) running ``offer``; times are the cloud's ``now``."""
        validate_thing_name(thing)
        if offer.task_id is None or not _JOB.fullmatch(offer.task_id):
            raise CodecError(f"an AWS IoT job needs a job id (task_id), not {offer.task_id!r}")
        return {
            "jobId": offer.task_id,
            "thingName": thing,
            "jobDocument": job_document(offer),
            "status": status,
            "queuedAt": now,
            "lastUpdatedAt": now,
            "versionNumber": version_number,
            "executionNumber": 1,
        }


def _job_update(thing: str, job_id: str, token: str | None, body: dict[str, Any]) -> ev.UpgradeReported:
    """An UpdateJobExecution as the upgrade progress it reports (CodecError naming the field)."""
    status = field(body, "status", str)
    if status not in _DEVICE_STATUSES:
        raise CodecError(
            f"field 'status' is {status[:40]!r}, not one a device sets: {sorted(_DEVICE_STATUSES)}"
        )
    details = field(body, "statusDetails", dict, required=False) or {}
    for key, value in details.items():
        if not isinstance(value, str):
            raise CodecError(f"statusDetails.{key[:40]!r} must be a string, got {type(value).__name__}")
    said = details.get("state")
    state: ev.UpgradeState
    if status == "IN_PROGRESS":
        state = "installing" if said == "installing" else "downloading"
    else:
        state = "succeeded" if status == "SUCCEEDED" else "failed"
    percent_text = details.get("percent", "")
    percent = int(percent_text) if _PERCENT.fullmatch(percent_text) and int(percent_text) <= 100 else None
    failure: ev.UpgradeFailure | None = None
    if state == "failed":
        failure = _FAILURES.get(details.get("failure", "")) or STATUS_FAILURE.get(status)
    version = details.get("version") or None
    if state == "failed" and details.get("current_version"):
        version = details["current_version"]  # the version the device kept, as on Huawei
    return ev.UpgradeReported(
        thing,
        version,
        state,
        percent,
        job_id,
        failure,
        details.get("reason", ""),
        status,
        token,
    )


def _log_entries(thing: str, body: dict[str, Any]) -> list[ev.PlatformUplink]:
    """One DeviceLog per record of a ``logs/up`` message (CodecError naming a bad one)."""
    records = field(body, "logs", list)
    out: list[ev.PlatformUplink] = []
    for index, record in enumerate(records):
        where = f"logs[{index}]."
        if not isinstance(record, dict):
            raise CodecError(f"logs[{index}] must be an object, got {type(record).__name__}")
        params = {
            "timestamp": field(record, "timestamp", int, where=where),
            "type": field(record, "type", str, required=False, where=where) or "DEVICE_STATUS",
            "content": field(record, "content", str, where=where),
        }
        out.append(ev.DeviceLog(thing, params))
    return out


def device_info(thing: str, reported: Mapping[str, Any]) -> ev.DeviceInfo:
    """What an accepted update of the thing's :data:`INFO_SHADOW` says about it (the cloud side
    reads it off the shadow service, which serves that shadow like any other)."""
    return ev.DeviceInfo(thing, {key: value for key, value in reported.items() if value is not None})


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
    jobs: bool = True,
    **options: Any,
) -> Device:
    """A device on AWS IoT Core (``Device.for_aws``): mutual TLS with the thing's certificate,
    client id = thing name.

    ``shadows`` maps service ids to shadow names (None = the classic shadow); by default one
    service uses the classic shadow and several use one named shadow each. ``commands=False``
    leaves AWS IoT's commands topics alone, ``jobs=False`` its Jobs topics (no OTA then)."""
    from ..transport import TlsOptions

    return cls(
        services,
        device_id=thing_name,
        vendor=VENDOR,
        broker=f"mqtts://{endpoint}:{port}",
        client_id=thing_name,
        tls=TlsOptions(ca_file, cert_file, key_file),
        codec_options={"shadows": shadows, "commands": commands, "jobs": jobs},
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
    its own namespace ``things/{thing}/...`` (our event, message and log topics and its custom
    topics)."""
    thing = validate_thing_name(device_id)
    own = [f"$aws/things/{thing}/#", f"$aws/commands/things/{thing}/#", f"things/{thing}/#"]
    return own, list(own)


def topic_device(topic: str) -> str | None:
    """The thing a topic of this protocol is about (shadows, jobs, commands, our own and custom
    topics), else None."""
    parts = topic.split("/")
    if len(parts) > 3 and parts[0] == "$aws" and parts[1] == "things":
        return parts[2] or None
    if len(parts) > 4 and parts[:3] == ["$aws", "commands", "things"]:
        return parts[3] or None
    if len(parts) > 2 and parts[0] == "things":
        return parts[1] or None
    return None
