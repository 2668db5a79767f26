"""Huawei IoTDA's v5 application API, as the local cloud's HTTP dialect for ``vendor="huawei"``.

``huaweicloudsdkiotda`` works against it unchanged (``IoTDAClient.new_builder()
.with_credentials(BasicCredentials(ak, sk, project_id)).with_endpoint(cloud.http_url)``, any
project id) and raises its own exceptions for the errors. The routes, under
``/v5/iot/{project_id}``:

========================================  ===============================  ======
``GET  /devices``                         ListDevices                      200
``GET  /devices/{id}``                    ShowDevice                       200
``GET  /devices/{id}/shadow``             ShowDeviceShadow                 200
``PUT  /devices/{id}/shadow``             UpdateDeviceShadowDesiredData    200
``PUT  /devices/{id}/properties``         UpdateProperties (synchronous)   200
``GET  /devices/{id}/properties``         ListProperties (synchronous)     200
``POST /devices/{id}/commands``           CreateCommand (synchronous)      200
``POST /devices/{id}/messages``           CreateMessage                    201
========================================  ===============================  ======

Errors are IoTDA's: an HTTP status and ``{"error_code": "IOTDA.xxxxxx", "error_msg": "..."}``
(and an ``X-Request-Id`` header, which the SDK reports as ``request_id``). As on IoTDA, a
synchronous call the device does not answer within :data:`SYNC_TIMEOUT` seconds is answered
**200** with ``error_code`` ``IOTDA.014111`` in the body (the SDK returns it, it does not raise).
Refusals of the API gateway in front of IoTDA are ``APIGW.xxxx``: a bad or missing AK/SK
signature (401 ``APIGW.0301``), a body over :data:`MAX_BODY` (413 ``APIGW.0201``), a path that
is no API (404 ``APIGW.0101``).

Choices where the local cloud differs from IoTDA (its core has no more):

- UpdateDeviceShadowDesiredData stores the desire and answers at once with the shadow, as IoTDA
  does; the write reaches an online device through the cloud's usual push and is settled when it
  answers (a refused value is taken out of ``desired`` again). It cannot delete desired values
  (``{}`` or ``null``): that is refused as invalid input. A ``version`` other than the service's
  current one is refused as invalid input too (400 ``IOTDA.000006``): IoTDA documents the check,
  not its error code.
- UpdateProperties writes through the shadow (the value stays desired), where IoTDA writes the
  device alone.
- CreateMessage to an offline device is refused with ``IOTDA.014016``: the local cloud keeps no
  message cache to deliver it later.
- Device records: ``node_id``/``product_id`` follow IoTDA's ``{product_id}_{node_id}`` id
  convention when the id has an ``_`` (else ``node_id`` is the id and ``product_id`` null);
  the paging marker is a stable 24-hex record id derived from the device id.

The AK/SK check is :mod:`.huawei_aksk`'s (``SDK-HMAC-SHA256``, Huawei Cloud's API gateway).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ...errors import DeviceOffline, InvalidValue, UnknownDevice
from ...ids import validate_id
from ...protocol import messages as ev
from ..activity import ProblemLog
from ..presence import DeviceSummary
from ..shadows import ShadowCloud
from .huawei_aksk import parse_sdk_date, sdk_date, verify

if TYPE_CHECKING:
    from ..local import LocalCloud
    from .server import AppKey

log = logging.getLogger("thingmodel.cloud.http.huawei")

PREFIX = "/v5/iot/{project_id}"
SYNC_TIMEOUT = 20.0
"""Seconds a synchronous command or property call waits for the device (IoTDA's 20 s; read at
each call, so a test may lower it)."""
MAX_BODY = 1024 * 1024
"""The largest request body accepted (bytes); IoTDA's gateway allows more, the local cloud keeps
its memory."""
DRAIN_LIMIT = 8 * MAX_BODY
"""The largest body read (and dropped) before a 413 is answered."""
DEFAULT_MARKER = "f" * 24
MAX_LIMIT, MAX_OFFSET = 50, 500
MAX_SHADOW_ITEMS = 64

_IOTDA_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_RECORD_ID = re.compile(r"[0-9a-f]{24}")

Answer = tuple[int, Any]
"""A handler's result: the HTTP status and the JSON body."""


# --- errors ----------------------------------------------------------------------------------------
@attrs.frozen
class Problem:
    """One of IoTDA's (or its gateway's) errors: status, code and the message's fixed part."""

    status: int
    code: str
    message: str


INVALID_INPUT = Problem(400, "IOTDA.000006", "Invalid input data.")
BAD_FORMAT = Problem(400, "IOTDA.000008", "Invalid input. The request format is invalid.")
BAD_TIME = Problem(400, "IOTDA.000009", "Invalid input. Invalid time format.")
BAD_LIMIT = Problem(400, "IOTDA.000017", "Invalid input. The specified parameter 'limit' is out of range.")
NO_DEVICE = Problem(404, "IOTDA.014000", "The device does not exist.")
OFFLINE = Problem(403, "IOTDA.014016", "Operation not allowed. The device is not online.")
TIMED_OUT = Problem(
    200,
    "IOTDA.014111",
    "Command request timed out. Check whether the device returns a response within the specified "
    "time after receiving the request.",
)
INTERNAL = Problem(500, "IOTDA.000001", "Internal server error.")
NO_API = Problem(404, "APIGW.0101", "The API does not exist or has not been published in the environment.")
TOO_LARGE = Problem(413, "APIGW.0201", "Request entity too large.")
UNAUTHENTICATED = Problem(401, "APIGW.0301", "Incorrect IAM authentication information:")


class IotdaError(Exception):
    """A request refused with ``problem``; ``detail`` is appended to its message."""

    def __init__(self, problem: Problem, detail: str = "") -> None:
        self.problem = problem
        self.detail = detail
        super().__init__(self.error_msg)

    @property
    def error_msg(self) -> str:
        return f"{self.problem.message} {self.detail}".strip()


def error_response(problem: Problem, detail: str = "") -> JSONResponse:
    """``{"error_code", "error_msg"}`` with the problem's status and a request id."""
    message = f"{problem.message} {detail}".strip()
    return _json(problem.status, {"error_code": problem.code, "error_msg": message})


def _json(status: int, body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"X-Request-Id": uuid.uuid4().hex})


def _invalid(detail: str) -> IotdaError:
    return IotdaError(INVALID_INPUT, detail)


# --- the request's parts ---------------------------------------------------------------------------
def request_headers(request: Request) -> dict[str, str]:
    """The request's headers by lowercase name, values decoded as UTF-8 (the signer's
    encoding); repeated headers joined by ``,``."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in request.headers.raw:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("utf-8", "surrogateescape")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def _device_id(request: Request) -> str:
    device_id = request.path_params["device_id"]
    if not isinstance(device_id, str) or not _IOTDA_ID.fullmatch(device_id):
        raise _invalid("device_id must be 1-128 letters, digits, '_' or '-'.")
    return device_id


def _body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise IotdaError(BAD_FORMAT, "The request body is empty.")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        reason = "it nests too deep" if isinstance(exc, RecursionError) else str(exc)
        raise IotdaError(BAD_FORMAT, f"The request body is not JSON: {reason}.") from None
    if not isinstance(body, dict):
        raise IotdaError(BAD_FORMAT, "The request body must be a JSON object.")
    return body


def _text(
    body: Mapping[str, Any],
    name: str,
    where: str,
    *,
    required: bool = True,
    max_length: int = 128,
    pattern: re.Pattern[str] | None = None,
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _invalid(f"{where}{name} is required.")
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise _invalid(f"{where}{name} must be a string of 1-{max_length} characters.")
    if pattern is not None and not pattern.fullmatch(value):
        raise _invalid(f"{where}{name} may hold only letters, digits, '_' and '-'.")
    return value


def _service_id(body: Mapping[str, Any], where: str, *, required: bool = True) -> str | None:
    value = _text(body, "service_id", where, required=required, max_length=64)
    if value is not None:
        try:
            validate_id("service_id", value)
        except InvalidValue as exc:
            raise _invalid(f"{where}{exc}.") from None
    return value


def _properties(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"{where} must be a JSON object.")
    if not value:
        raise _invalid(f"{where} names no property (the local cloud cannot delete values).")
    nulls = [k for k, v in value.items() if v is None]
    if nulls:
        raise _invalid(f"{where}.{nulls[0]} is null (the local cloud cannot delete values).")
    return value


def _query_int(request: Request, name: str, default: int, low: int, high: int, problem: Problem) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"[0-9]{1,6}", text) or not low <= int(text) <= high:
        raise IotdaError(problem, f"{name} must be an integer in [{low}, {high}].")
    return int(text)


def _require(cloud: LocalCloud, device_id: str) -> None:
    if not cloud.is_known(device_id):
        raise IotdaError(NO_DEVICE)


def _require_online(cloud: LocalCloud, device_id: str) -> None:
    _require(cloud, device_id)
    if cloud.presence.is_online(device_id) is False:
        raise IotdaError(OFFLINE)


def _utc(seconds: float | None, *, millis: bool = False) -> str | None:
    if seconds is None:
        return None
    if not millis:
        return sdk_date(seconds)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{int(seconds * 1000) % 1000:03d}Z"


# --- records ---------------------------------------------------------------------------------------
def record_id(device_id: str) -> str:
    """The device's stable 24-hex record id (what ListDevices pages by)."""
    return hashlib.sha256(device_id.encode()).hexdigest()[:24]


def _split_id(device_id: str) -> tuple[str | None, str]:
    """``(product_id, node_id)`` by IoTDA's ``{product_id}_{node_id}`` convention."""
    product, sep, node = device_id.partition("_")
    return (product, node) if sep and product and node else (None, device_id)


def status_of(summary: DeviceSummary) -> str:
    """IoTDA's status word: ONLINE, OFFLINE, INACTIVE (never connected) or ABNORMAL (the cloud
    cannot tell: an external broker)."""
    if summary.online:
        return "ONLINE"
    if summary.online is None:
        return "ABNORMAL"
    return "OFFLINE" if summary.last_seen is not None else "INACTIVE"


def device_record(summary: DeviceSummary, info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A device as ListDevices lists it (``QueryDeviceSimplify``)."""
    product_id, node_id = _split_id(summary.device_id)
    info = info or {}
    return {
        "device_id": summary.device_id,
        "node_id": node_id,
        "gateway_id": summary.device_id,
        "device_name": summary.device_id,
        "node_type": "GATEWAY",
        "description": None,
        "fw_version": info.get("fw_version"),
        "sw_version": info.get("sw_version"),
        "device_sdk_version": info.get("device_sdk_version"),
        "product_id": product_id,
        "product_name": None,
        "status": status_of(summary),
        "tags": [],
    }


def shadow_body(device_id: str, shadows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``{"device_id", "shadow": [...]}`` from :meth:`LocalCloud.get_shadow`'s value."""
    return {
        "device_id": device_id,
        "shadow": [
            {
                "service_id": sid,
                "desired": {"properties": dict(state["desired"])},
                "reported": {"properties": dict(state["reported"])},
                "version": state["version"],
            }
            for sid, state in sorted(shadows.items())
        ],
    }


# --- the API ---------------------------------------------------------------------------------------
class IotdaApi:
    """The handlers, around one cloud. Each runs on the thread pool and returns an
    :data:`Answer` or raises :class:`IotdaError`."""

    def __init__(self, cloud: LocalCloud, key: AppKey | None) -> None:
        self.cloud, self.key = cloud, key
        self._problems = ProblemLog(log)
        self._problems_lock = threading.Lock()

    def routes(self) -> list[BaseRoute]:
        p = f"{PREFIX}/devices"
        d = f"{p}/{{device_id}}"
        return [
            Route(p, self._endpoint(self.list_devices), methods=["GET"]),
            Route(d, self._endpoint(self.show_device), methods=["GET"]),
            Route(f"{d}/shadow", self._endpoint(self.show_shadow), methods=["GET"]),
            Route(f"{d}/shadow", self._endpoint(self.update_desired), methods=["PUT"]),
            Route(f"{d}/properties", self._endpoint(self.update_properties), methods=["PUT"]),
            Route(f"{d}/properties", self._endpoint(self.list_properties), methods=["GET"]),
            Route(f"{d}/commands", self._endpoint(self.create_command), methods=["POST"]),
            Route(f"{d}/messages", self._endpoint(self.create_message), methods=["POST"]),
            # anything else under /v5 is no API, whatever the method (not Starlette's 405)
            Route("/v5/{rest:path}", _no_api, methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]),
        ]

    @property
    def platform(self) -> ShadowCloud:
        platform = self.cloud.platform
        if not isinstance(platform, ShadowCloud):  # only a Huawei cloud serves this dialect
            raise IotdaError(INTERNAL, f"the cloud's vendor is {self.cloud.vendor}, not huawei.")
        return platform

    def _endpoint(
        self, handler: Callable[[Request, bytes], Answer]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                raw = await _read_body(request)
                self._authenticate(request, raw)
                status, body = await run_in_threadpool(handler, request, raw)
            except IotdaError as exc:
                return error_response(exc.problem, exc.detail)
            except UnknownDevice:
                return error_response(NO_DEVICE)
            except DeviceOffline:
                return error_response(OFFLINE)
            except InvalidValue as exc:
                return error_response(INVALID_INPUT, f"{exc}.")
            except Exception:  # a bug: logged with its traceback, answered as IoTDA would
                log.exception("%s %s failed", request.method, request.url.path)
                return error_response(INTERNAL)
            return _json(status, body)

        return endpoint

    def _authenticate(self, request: Request, raw: bytes) -> None:
        if self.key is None:
            return
        query = request.scope.get("query_string", b"").decode("latin-1")
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        headers = request_headers(request)
        why = verify(self.key, request.method, raw_path.decode("latin-1"), query, headers, raw, time.time())
        if why is None:
            return
        with self._problems_lock:
            self._problems.log(
                logging.WARNING, None, "signature", "refused %s %s: %s", request.method, request.url.path, why
            )
        raise IotdaError(UNAUTHENTICATED, why)

    # -- devices -------------------------------------------------------------------------------
    def _info(self, device_id: str) -> dict[str, Any]:
        info = self.cloud.activity(device_id).info
        return dict(info[-1].params) if info else {}

    def list_devices(self, request: Request, raw: bytes) -> Answer:
        query = request.query_params
        limit = _query_int(request, "limit", 10, 1, MAX_LIMIT, BAD_LIMIT)
        offset = _query_int(request, "offset", 0, 0, MAX_OFFSET, INVALID_INPUT)
        marker = query.get("marker", DEFAULT_MARKER).lower()
        if not _RECORD_ID.fullmatch(marker):
            raise _invalid("marker must be a 24-digit hexadecimal string.")
        for name in ("start_time", "end_time"):
            given = query.get(name)
            if given is not None and parse_sdk_date(given) is None:
                raise IotdaError(BAD_TIME, f"{name} must be yyyyMMdd'T'HHmmss'Z'.")
        filters = {}
        for name in ("product_id", "node_id", "device_name", "gateway_id"):
            given = query.get(name)
            if given is not None:
                if not given or len(given) > 256:
                    raise _invalid(f"{name} must be a string of 1-256 characters.")
                filters[name] = given
        records = []
        for summary in self.cloud.summaries():
            if not _IOTDA_ID.fullmatch(summary.device_id):
                continue  # not an id IoTDA could have
            record = device_record(summary)
            gateway = filters.get("gateway_id")
            if gateway is not None and (gateway == summary.device_id or record["gateway_id"] != gateway):
                continue  # a gateway's query lists its children: these devices connect directly
            if any(record[name] != value for name, value in filters.items() if name != "gateway_id"):
                continue
            records.append((record_id(summary.device_id), summary))
        records.sort(key=lambda item: item[0], reverse=True)  # newest record first, as IoTDA
        after = [item for item in records if item[0] < marker]
        page = after[offset : offset + limit]
        devices = [device_record(s, self._info(s.device_id)) for _, s in page]
        paging: dict[str, Any] = {"count": len(records)}
        if page:
            paging["marker"] = page[-1][0]
        return 200, {"devices": devices, "page": paging}

    def show_device(self, request: Request, raw: bytes) -> Answer:
        device_id = _device_id(request)
        summary = self.cloud.summary(device_id)
        record = device_record(summary, self._info(device_id))
        changed = summary.connected_at if summary.online else summary.last_seen
        record.update(
            auth_info={"auth_type": "SECRET", "secure_access": False, "timeout": 0},
            create_time=None,
            connection_status_update_time=_utc(changed, millis=True),
            active_time=None,
            extension_info=None,
        )
        return 200, record

    # -- shadow --------------------------------------------------------------------------------
    def show_shadow(self, request: Request, raw: bytes) -> Answer:
        device_id = _device_id(request)
        _require(self.cloud, device_id)
        return 200, shadow_body(device_id, self.cloud.get_shadow(device_id))

    def update_desired(self, request: Request, raw: bytes) -> Answer:
        device_id = _device_id(request)
        body = _body(raw)
        items = body.get("shadow")
        if not isinstance(items, list) or not items or len(items) > MAX_SHADOW_ITEMS:
            raise _invalid(f"shadow must be a list of 1-{MAX_SHADOW_ITEMS} objects.")
        wanted: dict[str, dict[str, Any]] = {}
        versions: dict[str, int] = {}
        for i, item in enumerate(items):
            where = f"shadow[{i}]."
            if not isinstance(item, dict):
                raise _invalid(f"shadow[{i}] must be a JSON object.")
            sid = _service_id(item, where)
            assert sid is not None
            if sid in wanted:
                raise _invalid(f"{where}service_id {sid!r} appears twice.")
            wanted[sid] = _properties(item.get("desired"), f"{where}desired")
            version = item.get("version")
            if version is not None:
                if isinstance(version, bool) or not isinstance(version, int) or version < 0:
                    raise _invalid(f"{where}version must be a non-negative integer.")
                versions[sid] = version
        _require(self.cloud, device_id)
        platform = self.platform
        # check the versions and store in one turn: nothing the device sends comes in between
        with self.cloud.turn():
            stored = platform.shadow(device_id)
            for sid, version in versions.items():
                current = stored[sid].version if sid in stored else 0
                if version != current:
                    raise _invalid(f"shadow version of {sid!r} is {current}, the request gives {version}.")
            rid = platform.desire(device_id, wanted)
        names = {sid: sorted(props) for sid, props in wanted.items()}
        log.info("desired %s %s over IoTDA's API (request %s)", device_id, names, rid)
        self.cloud.feed.add("shadow", device_id, remember=False)
        return 200, shadow_body(device_id, self.cloud.get_shadow(device_id))

    # -- synchronous calls ---------------------------------------------------------------------
    def update_properties(self, request: Request, raw: bytes) -> Answer:
        device_id = _device_id(request)
        body = _body(raw)
        services = body.get("services")
        if not isinstance(services, list) or not services or len(services) > MAX_SHADOW_ITEMS:
            raise _invalid(f"services must be a list of 1-{MAX_SHADOW_ITEMS} objects.")
        writes: list[tuple[str, dict[str, Any]]] = []
        for i, item in enumerate(services):
            where = f"services[{i}]."
            if not isinstance(item, dict):
                raise _invalid(f"services[{i}] must be a JSON object.")
            sid = _service_id(item, where)
            assert sid is not None
            writes.append((sid, _properties(item.get("properties"), f"{where}properties")))
        _require_online(self.cloud, device_id)
        request_id = None
        result: dict[str, Any] = {"result_code": 0, "result_desc": "success"}
        for sid, props in writes:
            outcome = self.cloud.set_desired(device_id, sid, props, SYNC_TIMEOUT)
            request_id = request_id or outcome.request_id
            if outcome.pending:
                return 200, _timed_out("request_id", outcome.request_id)
            if not outcome.ok:
                reasons = "; ".join(f"{name}: {why}" for name, why in outcome.errors.items())
                result = {"result_code": 1, "result_desc": reasons or "refused"}
                break
        return 200, {"request_id": request_id, "response": result}

    def list_properties(self, request: Request, raw: bytes) -> Answer:
        device_id = _device_id(request)
        sid = _service_id(dict(request.query_params), "", required=True)
        _require_online(self.cloud, device_id)
        request_id = uuid.uuid4().hex
        try:
            values = self.cloud.read_properties(device_id, sid, SYNC_TIMEOUT)
        except TimeoutError:
            return 200, _timed_out("request_id", request_id)
        except InvalidValue as exc:  # the device's answer did not decode
            return 200, {"request_id": request_id, "response": {"result_code": 1, "result_desc": str(exc)}}
        services = [{"service_id": s, "properties": v, "event_time": None} for s, v in values.items()]
        return 200, {"request_id": request_id, "response": {"services": services}}

    def create_command(self, request: Request, raw: bytes) -> Answer:
        device_id = _device_id(request)
        body = _body(raw)
        sid = _service_id(body, "", required=False)
        name = _text(body, "command_name", "")
        assert name is not None
        paras = body.get("paras")
        if not isinstance(paras, dict):
            raise _invalid("paras must be a JSON object.")
        _require_online(self.cloud, device_id)
        outcome = self.cloud.send_command(device_id, sid, name, paras, SYNC_TIMEOUT)
        if outcome.timed_out:
            return 200, _timed_out("command_id", outcome.request_id)
        response = {"result_code": outcome.code, "response_name": outcome.name, "paras": dict(outcome.params)}
        return 200, {"command_id": outcome.request_id, "response": response}

    # -- messages ------------------------------------------------------------------------------
    def create_message(self, request: Request, raw: bytes) -> Answer:
        device_id = _device_id(request)
        body = _body(raw)
        message_id = _text(body, "message_id", "", required=False, pattern=_IOTDA_ID) or uuid.uuid4().hex
        name = _text(body, "name", "", required=False)
        if "message" not in body or body["message"] is None:
            raise _invalid("message is required.")
        encoding = _choice(body, "encoding", ("none", "base64"))
        payload_format = _choice(body, "payload_format", ("standard", "raw"))
        ttl = body.get("ttl", 1440)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= 1440 or ttl % 5:
            raise _invalid("ttl must be a multiple of 5 in [0, 1440] (minutes).")
        topic = _topic(body, device_id)
        payload = _payload(body["message"], encoding, payload_format, device_id, message_id, name)
        _require_online(self.cloud, device_id)
        if topic is None:
            self.cloud.send_message(device_id, payload)
        else:
            self.cloud.publish(ev.Outgoing(topic, payload))
        now = _utc(time.time())
        result = {"status": "DELIVERED", "created_time": now, "finished_time": now}
        return 201, {"message_id": message_id, "result": result}


def _timed_out(id_field: str, request_id: str) -> dict[str, Any]:
    return {
        id_field: request_id,
        "response": None,
        "error_code": TIMED_OUT.code,
        "error_msg": TIMED_OUT.message,
    }


def _choice(body: Mapping[str, Any], name: str, allowed: Iterable[str]) -> str:
    options = tuple(allowed)
    value = body.get(name, options[0])
    if value not in options:
        raise _invalid(f"{name} must be one of {', '.join(options)}.")
    return str(value)


def _topic(body: Mapping[str, Any], device_id: str) -> str | None:
    suffix = _text(body, "topic", "", required=False)
    full = _text(body, "topic_full_name", "", required=False)
    if suffix is not None and full is not None:
        raise _invalid("give topic or topic_full_name, not both.")
    topic = f"$oc/devices/{device_id}/user/{suffix}" if suffix is not None else full
    if topic is not None and (
        any(c in topic for c in "+#\0") or not topic.isprintable() or "//" in topic or topic.endswith("/")
    ):
        raise _invalid("topic must be a printable MQTT topic name without wildcards.")
    return topic


def _payload(
    message: Any, encoding: str, payload_format: str, device_id: str, message_id: str, name: str | None
) -> bytes:
    if encoding == "base64":  # IoTDA passes base64 content through, decoded
        if not isinstance(message, str):
            raise _invalid("message must be a base64 string when encoding is base64.")
        try:
            return base64.b64decode(message, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid("message is not valid base64.") from None
    if payload_format == "raw":
        text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
        return text.encode()
    standard = {"object_device_id": device_id, "name": name, "id": message_id, "content": message}
    return json.dumps(standard, separators=(",", ":")).encode()


async def _read_body(request: Request) -> bytes:
    """The body; 413 when it is over :data:`MAX_BODY`. The rest of a body up to
    :data:`DRAIN_LIMIT` is read and dropped first, so that the client, still sending, gets the
    answer instead of a broken connection; a larger one is answered at once."""
    length = request.headers.get("content-length", "")
    declared = int(length) if length.isdigit() else None
    if declared is not None and declared > DRAIN_LIMIT:
        raise IotdaError(TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > DRAIN_LIMIT:
            break
        if size <= MAX_BODY:
            chunks.append(chunk)
    if size > MAX_BODY or (declared is not None and declared > MAX_BODY):
        raise IotdaError(TOO_LARGE)
    return b"".join(chunks)


async def _no_api(request: Request) -> Response:
    return error_response(NO_API)


def routes(cloud: LocalCloud, key: AppKey | None) -> list[BaseRoute]:
    """IoTDA's v5 application API on ``cloud``; with ``key``, every request must be signed with
    it (AK = ``key.id``, SK = ``key.secret``)."""
    return IotdaApi(cloud, key).routes()
