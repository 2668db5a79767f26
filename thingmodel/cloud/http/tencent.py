"""Tencent Cloud API 3.0 as IoT Explorer and IoT Hub answer it, served by the local cloud.

``tencentcloud-sdk-python-iotexplorer`` (``IotexplorerClient``, 2019-04-23) and
``tencentcloud-sdk-python-iotcloud`` (``IotcloudClient``, 2021-04-08 or 2018-06-14) work
unchanged against ``HttpProfile(protocol="http", endpoint="127.0.0.1:PORT")``:

- Every call is ``POST /``, the action in ``X-TC-Action``, the API version in ``X-TC-Version``,
  the parameters a JSON object in the body.
- Every answer is HTTP 200 with ``{"Response": {..., "RequestId": uuid}}``; a refusal is
  ``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`` with Tencent's code, which the SDK
  raises as ``TencentCloudSDKException``.
- With an app key, every request must be signed with TC3-HMAC-SHA256 by that SecretId and
  SecretKey, its ``X-TC-Timestamp`` within five minutes of the clock
  (:func:`.tencent_tc3.verify_request`).

A device is ``ProductId.DeviceName`` in the local cloud; it must be known to it (connected,
registered, or with a shadow), else ``ResourceNotFound.DeviceNotExist``.

IoT Explorer: ``DescribeDeviceData``, ``ControlDeviceData`` (waits up to
:data:`CONTROL_TIMEOUT` for the device's ``control_reply``: a refusal is ``FailedOperation``; an
offline device gets ``{"Sent":0,"pushResult":23101}`` and the value waits in the shadow),
``CallDeviceActionSync`` (as Tencent's examples show it: an offline device gets ``Status``
``FailedOperation.ActionUnreachable|...``, a silent one a response without fields),
``PublishMessage``, ``DescribeDevice`` and ``GetDeviceList``. IoT Hub: ``DescribeDeviceShadow``,
``UpdateDeviceShadow`` (``ShadowVersion`` must be the shadow's version, else
``FailedOperation.UpdateVersionNotMatch``; it answers at once, the delta on its way to the
device) and ``PublishMessage``. The local cloud keeps no per-property timestamps: a
``LastUpdate`` is when the device was last heard from.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...errors import DeviceOffline, InvalidValue
from ...ids import validate_id
from ...protocol import messages as ev
from ..shadows import ShadowCloud
from .server import AppKey
from .tencent_tc3 import SignatureRefused, verify_request

if TYPE_CHECKING:
    from ..local import LocalCloud
    from ..presence import DeviceSummary

log = logging.getLogger("thingmodel.cloud.http.tencent")

MAX_BODY = 1024 * 1024
"""The largest request body served (Tencent takes up to 10 MB; nothing here needs more than 1)."""
MAX_DRAIN = 16 * 1024 * 1024
"""How much of an oversized body is read (and dropped) before answering it."""
CONTROL_TIMEOUT = 5.0
"""Seconds ControlDeviceData waits for the device's control_reply."""
ACTION_TIMEOUT = 5.0
"""Seconds CallDeviceActionSync waits for the device's action_reply."""
MAX_STATE = 8 * 1024
"""UpdateDeviceShadow's ``State`` limit (Tencent: 8 KB)."""
MAX_MESSAGE = 16 * 1024
"""PublishMessage's payload limit (Tencent IoT refuses MQTT messages over 16 KB)."""
PUSH_SENT = json.dumps({"Sent": 1, "pushResult": 0}, separators=(",", ":"))
PUSH_OFFLINE = json.dumps({"Sent": 0, "pushResult": 23101}, separators=(",", ":"))
"""ControlDeviceData's ``Result``: 23101 is Tencent's "device offline or not subscribed"."""
ACTION_UNREACHABLE = "FailedOperation.ActionUnreachable|动作消息不可达"
"""CallDeviceActionSync's ``Status`` for a device that is not connected (Tencent's example)."""
_TOPIC_TAIL = re.compile(r"[a-zA-Z0-9:_-]{1,128}")


@attrs.frozen
class Product:
    """One Tencent product's API: its service name (the signature's scope), versions, actions."""

    service: str
    versions: frozenset[str]
    actions: frozenset[str]


PRODUCTS = {
    "tencent-explorer": Product(
        "iotexplorer",
        frozenset({"2019-04-23"}),
        frozenset(
            {
                "DescribeDeviceData",
                "ControlDeviceData",
                "CallDeviceActionSync",
                "PublishMessage",
                "DescribeDevice",
                "GetDeviceList",
            }
        ),
    ),
    "tencent-hub": Product(
        "iotcloud",
        frozenset({"2021-04-08", "2018-06-14"}),
        frozenset({"DescribeDeviceShadow", "UpdateDeviceShadow", "PublishMessage"}),
    ),
}
"""What each Tencent vendor of the local cloud serves."""


class ApiError(Exception):
    """A request Tencent would refuse: its error code and a one-line message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


# --- the API -------------------------------------------------------------------------------------
def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _envelope(request_id: str, fields: Mapping[str, Any]) -> Response:
    # the SDK looks for errors only when Content-Type is exactly application/json
    body = json.dumps({"Response": {**fields, "RequestId": request_id}}, ensure_ascii=False)
    return Response(body.encode(), media_type="application/json")


def _error(request_id: str, code: str, message: str) -> Response:
    return _envelope(request_id, {"Error": {"Code": code, "Message": message}})


def _text(params: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise ApiError("MissingParameter", f"the request is missing {name}")
        return None
    if not isinstance(value, str):
        raise ApiError("InvalidParameter", f"{name} must be a string, got {_kind(value)}")
    return value


def _int(params: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if value is None:
        raise ApiError("MissingParameter", f"the request is missing {name}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError("InvalidParameter", f"{name} must be an integer, got {_kind(value)}")
    return value


def _kind(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )


def _json_text(text: str, name: str, code: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(code, f"{name} is not valid JSON: {str(exc)[:120]}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _ms(seconds: float | None) -> int:
    return 0 if seconds is None else int(seconds * 1000)


def _merged(shadow: Mapping[str, Mapping[str, Any]], part: str) -> dict[str, Any]:
    """The device's one document part (Tencent keeps one document per device)."""
    return {k: v for section in shadow.values() for k, v in section[part].items()}


def _version(shadow: Mapping[str, Mapping[str, Any]]) -> int:
    return max((int(section["version"]) for section in shadow.values()), default=0)


class TencentApi:
    """The actions of one Tencent product, around one local cloud (handlers run on the thread
    pool: they may block on a device)."""

    def __init__(self, cloud: LocalCloud, key: AppKey | None, clock: Callable[[], float] = time.time) -> None:
        if cloud.vendor not in PRODUCTS:
            raise InvalidValue(
                f"Tencent Cloud API 3.0 serves tencent-explorer or tencent-hub, not {cloud.vendor!r}"
            )
        self.cloud, self.key, self.clock = cloud, key, clock
        self.product = PRODUCTS[cloud.vendor]
        self.handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "DescribeDeviceData": self.describe_device_data,
            "ControlDeviceData": self.control_device_data,
            "CallDeviceActionSync": self.call_device_action_sync,
            "PublishMessage": self.publish_message,
            "DescribeDevice": self.describe_device,
            "GetDeviceList": self.get_device_list,
            "DescribeDeviceShadow": self.describe_device_shadow,
            "UpdateDeviceShadow": self.update_device_shadow,
        }

    def routes(self) -> list[BaseRoute]:
        return [Route("/", self.endpoint, methods=["POST"])]

    async def endpoint(self, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        request_id = str(uuid.uuid4())
        try:
            body = await _read_body(request)
            headers = {name.lower(): value for name, value in request.headers.items()}
            handler = self._check(request, headers, body)
            params = _params(body)
            fields = await run_in_threadpool(handler, params)
        except ApiError as exc:
            log.debug("Tencent API request %s refused: %s", request_id, exc)
            return _error(request_id, exc.code, exc.message)
        except Exception:
            log.exception("Tencent API request %s failed", request_id)
            return _error(request_id, "InternalError", "the local cloud failed to answer (see its log)")
        return _envelope(request_id, fields)

    def _check(
        self, request: Request, headers: Mapping[str, str], body: bytes
    ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """The action's handler, once the request is signed (with a key) and names an action and
        version of this product."""
        if self.key is not None:
            try:
                verify_request(
                    self.key,
                    self.product.service,
                    request.method,
                    request.url.path,
                    "",  # TC3: a POST's canonical query string is always empty
                    headers,
                    body,
                    self.clock(),
                )
            except SignatureRefused as exc:
                log.info("Tencent API request refused (%s): %s", exc.code, exc.message)
                raise ApiError(exc.code, exc.message) from None
        action = headers.get("x-tc-action", "").strip()
        if not action:
            raise ApiError(
                "MissingParameter",
                "the request has no X-TC-Action header (Tencent Cloud API 3.0 is POST / with a JSON body)",
            )
        version = headers.get("x-tc-version", "").strip()
        if not version:
            raise ApiError("MissingParameter", "the request has no X-TC-Version header")
        if action not in self.product.actions:
            raise ApiError(
                "InvalidAction",
                f"{self.product.service} has no action {action[:64]!r} here "
                f"(served: {', '.join(sorted(self.product.actions))})",
            )
        if version not in self.product.versions:
            raise ApiError(
                "NoSuchVersion",
                f"{self.product.service} has no API version {version[:20]!r} "
                f"(served: {', '.join(sorted(self.product.versions))})",
            )
        return self.handlers[action]

    # -- devices ------------------------------------------------------------------------------
    def _device(self, params: Mapping[str, Any], *, device_id_field: bool = False) -> tuple[str, str, str]:
        """``(device_id, product_id, device_name)`` of a known device named by ProductId and
        DeviceName (or Explorer's DeviceId ``ProductId/DeviceName``)."""
        combined = _text(params, "DeviceId", required=False) if device_id_field else None
        if combined:
            product_id, slash, name = combined.partition("/")
            if not slash:
                raise ApiError(
                    "InvalidParameterValue", f"DeviceId {combined[:80]!r} is not ProductId/DeviceName"
                )
        else:
            product_id, name = _text(params, "ProductId") or "", _text(params, "DeviceName") or ""
        try:
            validate_id("ProductId", product_id)
            validate_id("DeviceName", name)
        except InvalidValue as exc:
            raise ApiError("InvalidParameterValue", str(exc)) from None
        if "." in product_id:
            raise ApiError(
                "InvalidParameterValue", f"ProductId {product_id!r} contains '.', which no product id holds"
            )
        device_id = f"{product_id}.{name}"
        if not self.cloud.is_known(device_id):
            raise ApiError(
                "ResourceNotFound.DeviceNotExist", f"device {name!r} of product {product_id!r} does not exist"
            )
        return device_id, product_id, name

    def _device_info(self, summary: DeviceSummary, product_id: str, name: str) -> dict[str, Any]:
        """Explorer's DeviceInfo of one device (what the local cloud knows of it)."""
        status = 2 if summary.online is None else int(summary.online)  # 2: Tencent's "unknown"
        login = summary.connected_at or summary.last_seen
        return {
            "DeviceName": name,
            "Status": status,
            "DevicePsk": "",
            "FirstOnlineTime": None,
            "LoginTime": int(login) if login else 0,
            "CreateTime": 0,
            "Version": "",
            "DeviceCert": "",
            "LogLevel": 0,
            "DevAddr": "",
            "AppKey": "",
            "DevEUI": "",
            "AppSKey": "",
            "NwkSKey": "",
            "CreateUserId": 0,
            "CreatorNickName": "",
            "EnableState": 1,
            "ProductId": product_id,
            "ProductName": product_id,
            "DeviceType": "设备",
            "IsLora": False,
        }

    # -- IoT Explorer -------------------------------------------------------------------------
    def describe_device_data(self, params: dict[str, Any]) -> dict[str, Any]:
        """The device's reported values: ``Data`` is a JSON string of ``{prop: {Value, LastUpdate}}``."""
        device_id, _, _ = self._device(params, device_id_field=True)
        reported = _merged(self.cloud.get_shadow(device_id), "reported")
        updated = _ms(self.cloud.summary(device_id).last_seen)
        return {"Data": _dumps({k: {"Value": v, "LastUpdate": updated} for k, v in reported.items()})}

    def control_device_data(self, params: dict[str, Any]) -> dict[str, Any]:
        """Desire values; answered once the device's control_reply comes (or the wait ends)."""
        device_id, product_id, _ = self._device(params, device_id_field=True)
        method = _text(params, "Method", required=False) or "desired"
        if method == "reported":
            raise ApiError(
                "UnsupportedOperation",
                "Method 'reported' (a report made up for the device) is not served here",
            )
        if method != "desired":
            raise ApiError(
                "InvalidParameterValue", f"Method must be 'desired' or 'reported', got {method[:40]!r}"
            )
        values = _json_text(_text(params, "Data") or "", "Data", "InvalidParameterValue")
        if not isinstance(values, dict) or not values:
            raise ApiError("InvalidParameterValue", "Data must be a JSON object naming at least one property")
        try:
            outcome = self.cloud.set_desired(device_id, product_id, values, CONTROL_TIMEOUT)
        except InvalidValue as exc:
            raise ApiError("InvalidParameterValue", str(exc)) from None
        if outcome.pending:
            offline = self.cloud.presence.is_online(device_id) is False
            return {"Data": "", "Result": PUSH_OFFLINE if offline else PUSH_SENT}
        if not outcome.ok:
            refused = "; ".join(f"{k}: {v}" for k, v in outcome.errors.items())
            raise ApiError("FailedOperation", f"device {device_id!r} refused the control: {refused}"[:500])
        return {"Data": "", "Result": PUSH_SENT}

    def call_device_action_sync(self, params: dict[str, Any]) -> dict[str, Any]:
        """Call an action and answer with the device's action_reply."""
        device_id, product_id, _ = self._device(params)
        action = _text(params, "ActionId") or ""
        if not action:
            raise ApiError("InvalidParameterValue.ActionNilOrNotExist", "ActionId must not be empty")
        text = _text(params, "InputParams", required=False)
        inputs = _json_text(text, "InputParams", "InvalidParameter.ActionInputParamsInvalid") if text else {}
        if not isinstance(inputs, dict):
            raise ApiError("InvalidParameter.ActionInputParamsInvalid", "InputParams must be a JSON object")
        try:
            outcome = self.cloud.send_command(device_id, product_id, action, inputs, ACTION_TIMEOUT)
        except DeviceOffline:
            return {"ClientToken": "", "OutputParams": "", "Status": ACTION_UNREACHABLE}
        except InvalidValue as exc:
            raise ApiError("InvalidParameterValue", str(exc)) from None
        if outcome.timed_out:
            return {}  # Tencent's example: a device too slow to answer gets only the RequestId
        if outcome.code != 0:
            status = str(outcome.params.get("error") or f"failed with code {outcome.code}")
            return {"ClientToken": outcome.request_id, "OutputParams": "", "Status": status}
        return {
            "ClientToken": outcome.request_id,
            "OutputParams": _dumps(dict(outcome.params)),
            "Status": "succ",
        }

    def describe_device(self, params: dict[str, Any]) -> dict[str, Any]:
        device_id, product_id, name = self._device(params, device_id_field=True)
        return {"Device": self._device_info(self.cloud.summary(device_id), product_id, name)}

    def get_device_list(self, params: dict[str, Any]) -> dict[str, Any]:
        """The product's devices (ProductId ``-1``: every product's), a page at a time."""
        product_id = _text(params, "ProductId") or ""
        offset, limit = _int(params, "Offset", 0), _int(params, "Limit", 10)
        if offset < 0:
            raise ApiError("InvalidParameterValue", f"Offset must be 0 or more, got {offset}")
        if not 10 <= limit <= 100:
            raise ApiError("InvalidParameterValue", f"Limit must be within 10-100, got {limit}")
        wanted = _text(params, "DeviceName", required=False)
        found: list[tuple[DeviceSummary, str, str]] = []
        for summary in self.cloud.summaries():
            pid, dot, name = summary.device_id.partition(".")
            if dot and name and (product_id == "-1" or pid == product_id) and (not wanted or wanted in name):
                found.append((summary, pid, name))
        page = found[offset : offset + limit]
        return {"Devices": [self._device_info(s, pid, name) for s, pid, name in page], "Total": len(found)}

    def publish_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """A message on one of the device's own topics (``ProductId/DeviceName/name``)."""
        device_id, product_id, name = self._device(params)
        topic = _text(params, "Topic") or ""
        prefix = f"{product_id}/{name}/"
        if not topic.startswith(prefix) or not _TOPIC_TAIL.fullmatch(topic[len(prefix) :]):
            code = (
                "FailedOperation.InvalidTopicName"
                if self.cloud.vendor == "tencent-hub"
                else "InvalidParameterValue"
            )
            raise ApiError(
                code, f"Topic {topic[:80]!r} is not {prefix}<name> (name: 1-128 of a-z A-Z 0-9 : _ -)"
            )
        payload_text = _text(params, "Payload") or ""
        qos = _int(params, "Qos", 0)
        if qos not in (0, 1):
            raise ApiError("InvalidParameterValue", f"Qos must be 0 or 1, got {qos}")
        encoding = _text(params, "PayloadEncoding", required=False) or ""
        if encoding == "base64":
            try:
                payload = base64.b64decode(payload_text, validate=True)
            except (binascii.Error, ValueError):
                raise ApiError(
                    "InvalidParameterValue", "Payload is not base64 (PayloadEncoding is base64)"
                ) from None
        elif encoding:
            raise ApiError(
                "InvalidParameterValue", f"PayloadEncoding must be base64 or empty, got {encoding[:20]!r}"
            )
        else:
            payload = payload_text.encode()
        if len(payload) > MAX_MESSAGE:
            raise ApiError(
                "InvalidParameterValue.PayloadOverLimit",
                f"Payload is {len(payload)} bytes (at most {MAX_MESSAGE})",
            )
        if self.cloud.presence.is_online(device_id) is False:
            raise ApiError("FailedOperation.DeviceOffline", f"device {device_id!r} is offline")
        self.cloud.publish(ev.Outgoing(topic, payload, qos))
        log.info("PublishMessage to %s on %s (%d bytes)", device_id, topic, len(payload))
        return {}

    # -- IoT Hub ------------------------------------------------------------------------------
    def _shadow_doc(self, shadow: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        reported, desired = _merged(shadow, "reported"), _merged(shadow, "desired")
        state: dict[str, Any] = {"reported": reported}
        if desired:
            state["desired"] = desired
            state["delta"] = {k: v for k, v in desired.items() if k not in reported or reported[k] != v}
        return state

    def describe_device_shadow(self, params: dict[str, Any]) -> dict[str, Any]:
        """``Data``: the shadow document as the hub's ``get`` shows it, with its version."""
        device_id, _, _ = self._device(params)
        shadow = self.cloud.get_shadow(device_id)
        now = _ms(self.clock())
        doc = {
            "payload": {"state": self._shadow_doc(shadow), "timestamp": now, "version": _version(shadow)},
            "result": 0,
            "timestamp": now,
            "type": "get",
        }
        return {"Data": _dumps(doc)}

    def update_device_shadow(self, params: dict[str, Any]) -> dict[str, Any]:
        """Desire values if ``ShadowVersion`` is the shadow's version; the delta goes to the
        device, and the answer does not wait for it."""
        device_id, product_id, _ = self._device(params)
        version = _int(params, "ShadowVersion")
        prefix = _text(params, "Prefix", required=False) or "$shadow"
        if prefix == "$template":
            raise ApiError(
                "UnsupportedOperation", "Prefix $template (IoT Explorer's old shadow) is not served here"
            )
        if prefix != "$shadow":
            raise ApiError(
                "InvalidParameterValue", f"Prefix must be $shadow or $template, got {prefix[:20]!r}"
            )
        desired = _hub_desired(_text(params, "State") or "")
        platform = self.cloud.platform
        if not isinstance(platform, ShadowCloud):  # every Tencent cloud's platform is one
            raise ApiError("InternalError", "this cloud keeps no Tencent shadows")
        with self.cloud.turn():  # the version check and the write, with no report between them
            current = _version(_as_json(platform.shadow(device_id)))
            if version != current:
                raise ApiError(
                    "FailedOperation.UpdateVersionNotMatch",
                    f"ShadowVersion {version} is not the shadow's version {current}",
                )
            try:
                platform.desire(device_id, {product_id: desired})
            except InvalidValue as exc:
                raise ApiError("InvalidParameterValue", str(exc)) from None
            after = _version(_as_json(platform.shadow(device_id)))
        self.cloud.feed.add("shadow", device_id, remember=False)
        log.info("UpdateDeviceShadow %s: desired %s (version %d -> %d)", device_id, desired, version, after)
        now = _ms(self.clock())
        doc = {
            "payload": {"state": {"desired": desired}, "timestamp": now, "version": after},
            "result": 0,
            "timestamp": now,
            "type": "update",
        }
        return {"Data": _dumps(doc)}


def _as_json(shadows: Mapping[str, ev.ShadowState]) -> dict[str, dict[str, Any]]:
    return {
        sid: {"desired": dict(s.desired), "reported": dict(s.reported), "version": s.version}
        for sid, s in shadows.items()
    }


def _hub_desired(state_text: str) -> dict[str, Any]:
    """The desired values of UpdateDeviceShadow's ``State`` (``{"desired": {...}}``)."""
    if len(state_text.encode()) > MAX_STATE:
        raise ApiError("InvalidParameterValue.JSONSizeExceedLimit", f"State is over {MAX_STATE} bytes")
    state = _json_text(state_text, "State", "InvalidParameterValue.InvalidJSON")
    if not isinstance(state, dict):
        raise ApiError("InvalidParameterValue.InvalidJSON", "State must be a JSON object")
    others = sorted(set(state) - {"desired"})
    if others:
        raise ApiError(
            "InvalidParameterValue.JSONHasInvalidNode",
            f"State may hold only desired, not {', '.join(others)[:80]}",
        )
    desired = state.get("desired")
    if not isinstance(desired, dict) or not desired:
        raise ApiError(
            "InvalidParameterValue.JSONHasInvalidNode", "State.desired must be an object naming a property"
        )
    nulls = [k for k, v in desired.items() if v is None]
    if nulls:
        raise ApiError(
            "InvalidParameterValue.JSONHasInvalidNode",
            f"desired {', '.join(nulls)[:80]} is null: the local cloud does not clear desired values",
        )
    return desired


async def _read_body(request: Request) -> bytes:
    """The body, refused with RequestSizeLimitExceeded past :data:`MAX_BODY`. The rest of a body
    up to :data:`MAX_DRAIN` is read and dropped first, so the client, still sending, gets the
    answer rather than a broken pipe."""
    length = request.headers.get("content-length", "")
    declared = int(length) if length.isdigit() and len(length) < 20 else None
    if declared is not None and declared > MAX_DRAIN:
        raise ApiError(
            "RequestSizeLimitExceeded", f"the request body is {declared} bytes (at most {MAX_BODY})"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_DRAIN:
            break
        if size <= MAX_BODY:
            chunks.append(chunk)
    if size > MAX_BODY:
        raise ApiError("RequestSizeLimitExceeded", f"the request body is over {MAX_BODY} bytes")
    return b"".join(chunks)


def _params(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise ApiError("InvalidParameter", "the request body is empty: the parameters are a JSON object")
    try:
        params = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError("InvalidParameter", f"the request body is not JSON: {str(exc)[:120]}") from None
    if not isinstance(params, dict):
        raise ApiError("InvalidParameter", f"the request body must be a JSON object, got {_kind(params)}")
    return params


def routes(cloud: LocalCloud, key: AppKey | None) -> list[BaseRoute]:
    """``POST /``: Tencent Cloud API 3.0 for ``cloud``'s product (IoT Explorer or IoT Hub)."""
    return TencentApi(cloud, key).routes()
