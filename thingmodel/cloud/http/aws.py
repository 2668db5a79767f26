"""AWS IoT's data plane (``iot-data``, API 2015-05-28) as the local cloud's REST dialect: boto3's
``client("iot-data", endpoint_url="http://127.0.0.1:PORT")`` works unchanged and raises its own
exceptions.

| operation | request |
| --- | --- |
| GetThingShadow | ``GET /things/{thing}/shadow[?name=]`` |
| UpdateThingShadow | ``POST /things/{thing}/shadow[?name=]``, body = the request document |
| DeleteThingShadow | ``DELETE /things/{thing}/shadow[?name=]`` |
| ListNamedShadowsForThing | ``GET /api/things/shadow/ListNamedShadowsForThing/{thing}`` |
| Publish | ``POST /topics/{topic}?qos=&retain=``, body = the payload |

(ListNamedShadowsForThing takes ``?nextToken=&pageSize=``.) AWS IoT's *commands* are not in the
data plane: :mod:`.aws_commands` serves them on the same port with this module's routes and
errors, and :func:`routes` wires both.

The shadow operations are :class:`~thingmodel.cloud.aws_shadow.AwsShadowService`'s, under the
cloud's :meth:`~thingmodel.cloud.LocalCloud.turn`, and what an update or delete publishes
(``update/accepted``, ``update/documents``, ``update/delta``, ``delete/accepted``) goes to the
devices over MQTT, as AWS does for the REST API too. The answers are the service's documents as
the raw JSON body. A publish goes to the broker like any other client's: one on a shadow
request topic reaches the cloud's shadow service as a device's would.

Errors are restJson: the status, ``x-amzn-ErrorType: <Name>``, and ``{"message", "traceId"}``
(``traceId`` = the ``x-amzn-RequestId`` header), e.g. 404 ResourceNotFoundException ``No shadow
exists with name: 'thing'``, 409 ConflictException ``Version conflict``, 400
InvalidRequestException, 413 RequestEntityTooLargeException (a body over AWS's 128 KB, refused
before it is parsed), 415 UnsupportedDocumentEncodingException. A bug is a 500
InternalFailureException, logged here and never shown to the client.

With an app key every request must be signed with it by AWS Signature Version 4 (service
``iotdata``, or ``iotdevicegateway`` as AWS's guide names it; any region), which
:mod:`.aws_sigv4` verifies; a request that is not is refused with 403 ForbiddenException and
AWS's text for the reason.

Where AWS documents nothing we chose, and say so:

- ``pageSize`` defaults to 25 and must be 1-100 (``pageSize argument must be between 1 and
  100``, the wording of AWS's Greengrass shadow manager); ``nextToken`` is opaque and stateless
  (the last name of the page), so paging never holds memory and survives shadows coming and
  going; a thing without shadows lists none (200, not 404);
- a Publish topic is checked as an MQTT topic name (no ``+``/``#``, no NUL, at most 256 UTF-8
  bytes and 7 slashes, AWS's limits) with InvalidRequestException; a ``$`` topic is published
  only where AWS's reserved-topics table allows clients to publish (shadow and jobs requests,
  commands responses, Basic Ingest ``$aws/rules/...``, fleet provisioning, Device Defender
  metrics, streams, device location); any other is 403 ForbiddenException, as AWS answers a
  topic a client may not use (over MQTT it drops the connection);
- a malformed ``Authorization`` header, a missing date, or a date out of the clock window are
  403 ForbiddenException too, with AWS's wording where it is known;
- UpdateThingShadow's answer echoes the request's ``clientToken``, as ``update/accepted`` does.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote_to_bytes

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...errors import InvalidValue, ShadowError
from ...protocol import messages as ev
from ...protocol.jsonwire import dumps, loads
from ...vendors.aws import MAX_PAYLOAD, shadow_prefix, validate_shadow_name, validate_thing_name
from ..aws import AwsCloud
from .aws_sigv4 import SERVICES, SignatureRefused, parse_authorization, signature_problem
from .server import AppKey

if TYPE_CHECKING:
    from ..aws_shadow import AwsShadowService
    from ..local import LocalCloud

log = logging.getLogger("thingmodel.cloud.http.aws")

MAX_BODY = MAX_PAYLOAD
"""AWS IoT's largest message (128 KB): a longer body is refused with 413 before it is parsed."""
DRAIN_LIMIT = 8 * MAX_BODY
"""How much of a body over the limit is read (and dropped) so the client sees the 413."""
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
MAX_TOPIC_BYTES = 256
MAX_TOPIC_SLASHES = 7

TOO_LARGE = "The payload exceeds the maximum size allowed"
ERROR_TYPES: dict[int, str] = {
    400: "InvalidRequestException",
    401: "UnauthorizedException",
    403: "ForbiddenException",
    404: "ResourceNotFoundException",
    405: "MethodNotAllowedException",
    409: "ConflictException",
    413: "RequestEntityTooLargeException",
    415: "UnsupportedDocumentEncodingException",
    429: "ThrottlingException",
    500: "InternalFailureException",
    503: "ServiceUnavailableException",
}
"""The data plane's error shapes by HTTP status (botocore raises ``client.exceptions.<Name>``)."""


class AwsError(Exception):
    """A request an AWS API refuses: its status, message and (unless the status says it) error type."""

    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


@attrs.frozen
class Api:
    """How one AWS API signs its requests and names its errors."""

    #: the service names a request's credential scope may give
    services: tuple[str, ...]
    #: error type by HTTP status (botocore raises ``client.exceptions.<type>``)
    error_types: Mapping[int, str]
    #: the error type of a refused signature, by the refusal's message
    refusal: Callable[[str], str]

    def error_type(self, error: AwsError) -> str:
        if error.error_type is not None:
            return error.error_type
        return self.error_types.get(error.status, self.error_types[500])


def error_response(error: AwsError, request_id: str, api: Api) -> Response:
    """The restJson error: status, ``x-amzn-ErrorType`` and ``{"message", "traceId"}``."""
    body = dumps({"message": error.message, "traceId": request_id})
    headers = {"x-amzn-ErrorType": api.error_type(error), "x-amzn-RequestId": request_id}
    return Response(body, error.status, headers=headers, media_type="application/json")


# --- Publish topics -----------------------------------------------------------------------------
_LEVEL = r"[^/]+"
PUBLISHABLE_RESERVED = tuple(
    re.compile(pattern)
    for pattern in (
        rf"\$aws/things/{_LEVEL}/shadow(/name/{_LEVEL})?/(get|update|delete)",
        rf"\$aws/things/{_LEVEL}/jobs/(get|start-next)",
        rf"\$aws/things/{_LEVEL}/jobs/{_LEVEL}/(get|update)",
        rf"\$aws/things/{_LEVEL}/defender/metrics/(json|cbor)",
        rf"\$aws/things/{_LEVEL}/streams/{_LEVEL}/(get|describe)/(json|cbor)",
        rf"\$aws/commands/(things|clients)/{_LEVEL}/executions/{_LEVEL}/response(/(json|cbor))?",
        rf"\$aws/rules/{_LEVEL}(/.*)?",
        r"\$aws/certificates/(create|create-from-csr)/(json|cbor)",
        rf"\$aws/provisioning-templates/{_LEVEL}/provision/(json|cbor)",
        rf"\$aws/device_location/{_LEVEL}/get_position_estimate",
    )
)
"""The reserved topics AWS lets clients publish to (its developer guide's reserved-topics table)."""


def check_topic(topic: str) -> None:
    """AwsError unless ``topic`` is an MQTT topic name AWS IoT lets a client publish to."""
    if not topic:
        raise AwsError(400, "The topic name must not be empty")
    for wildcard in "+#":
        if wildcard in topic:
            raise AwsError(
                400,
                f"The topic name '{topic[:300]}' holds the wildcard '{wildcard}': "
                "publish to a topic, not a filter",
            )
    if "\x00" in topic:
        raise AwsError(400, "The topic name holds a NUL character")
    size = len(topic.encode("utf-8"))
    if size > MAX_TOPIC_BYTES:
        raise AwsError(400, f"The topic name is {size} bytes long; AWS IoT allows at most {MAX_TOPIC_BYTES}")
    slashes = topic.count("/")
    if topic.startswith("$"):
        if not any(pattern.fullmatch(topic) for pattern in PUBLISHABLE_RESERVED):
            raise AwsError(403, f"The topic '{topic}' is reserved: AWS IoT lets no client publish to it")
        if topic.startswith("$aws/rules/"):
            slashes -= 3  # Basic Ingest's prefix does not count
    if slashes > MAX_TOPIC_SLASHES:
        raise AwsError(
            400, f"The topic name has {slashes} forward slashes; AWS IoT allows at most {MAX_TOPIC_SLASHES}"
        )


# --- paging ---------------------------------------------------------------------------------------
def page_token(thing: str, last: str) -> str:
    """An opaque ``nextToken``: the page's last shadow name, for this thing."""
    raw = json.dumps({"thing": thing, "after": last}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def token_position(thing: str, token: str) -> str:
    """The shadow name a ``nextToken`` continues after; AwsError for a token not made here for
    this thing."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise AwsError(400, "Invalid nextToken argument") from None
    if not isinstance(value, dict) or value.get("thing") != thing or not isinstance(value.get("after"), str):
        raise AwsError(400, "Invalid nextToken argument")
    after: str = value["after"]
    return after


# --- the routes (the data plane's and the commands') ----------------------------------------------
DATA_PLANE = Api(SERVICES, ERROR_TYPES, lambda message: "ForbiddenException")
"""AWS IoT data (``iot-data``): a refused signature is 403 ForbiddenException, as the data plane says."""
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@attrs.frozen
class Call:
    """One request, as a handler gets it (its body already read and its signature checked)."""

    request: Request
    body: bytes
    request_id: str
    #: the region the request was signed for ("us-east-1" when unsigned), for the ARNs it gets
    region: str


Handler = Callable[[Call], bytes]


class Routes:
    """Routes whose endpoints read the body (bounded), check the signature and run the handler
    on the thread pool, answering every refusal as ``api`` does and a bug with one 500."""

    def __init__(self, key: AppKey | None, clock: Callable[[], float]) -> None:
        self.key, self.clock = key, clock

    def route(self, path: str, api: Api, handlers: Mapping[str, Handler]) -> Route:
        # every method reaches the endpoint, which answers a wrong one as AWS does (405)
        return Route(path, self._endpoint(api, handlers), methods=_METHODS)

    def _endpoint(self, api: Api, handlers: Mapping[str, Handler]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            request_id = str(uuid.uuid4())
            try:
                body = await _read_body(request)
                region = self._check_signature(request, body, api)
                handler = handlers.get(request.method)
                if handler is None:
                    raise AwsError(405, "The specified combination of HTTP verb and URI is not supported.")
                answer = await run_in_threadpool(handler, Call(request, body, request_id, region))
            except AwsError as exc:
                return error_response(exc, request_id, api)
            except Exception:  # a bug: one 500 for this request, the traceback only in the log
                log.exception("%s %s failed", request.method, request.url.path)
                return error_response(AwsError(500, "Internal service failure"), request_id, api)
            headers = {"x-amzn-RequestId": request_id}
            return Response(answer, 200, headers=headers, media_type="application/json")

        return endpoint

    def _check_signature(self, request: Request, body: bytes, api: Api) -> str:
        """The region the request is signed for; AwsError(403) when it is not signed with the key."""
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw]
        region = "us-east-1"
        with contextlib.suppress(SignatureRefused):
            region = parse_authorization(request.headers.get("authorization", "")).region
        if self.key is None:
            return region
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        problem = signature_problem(
            self.key,
            method=request.method,
            raw_path=raw_path.decode("latin-1"),
            query=request.scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            now=self.clock(),
            services=api.services,
        )
        if problem is not None:
            log.info("refused %s %s: %s", request.method, request.url.path, problem)
            raise AwsError(403, problem, api.refusal(problem))
        return region


# --- the data plane -------------------------------------------------------------------------------
class AwsDataPlane:
    """The data plane's routes around one cloud in AWS mode."""

    def __init__(self, cloud: LocalCloud, key: AppKey | None) -> None:
        if not isinstance(cloud.platform, AwsCloud):
            raise InvalidValue(f"the AWS IoT data plane needs a cloud in AWS mode, not {cloud.vendor!r}")
        self.cloud, self.key = cloud, key
        self.platform: AwsCloud = cloud.platform

    @property
    def shadows(self) -> AwsShadowService:
        return self.platform.shadow_service

    def routes(self) -> list[BaseRoute]:
        r = Routes(self.key, self.shadows.clock)
        shadow = {"GET": self.shadow, "POST": self.shadow, "DELETE": self.shadow}
        return [
            r.route("/things/{thing}/shadow", DATA_PLANE, shadow),
            r.route(
                "/api/things/shadow/ListNamedShadowsForThing/{thing}",
                DATA_PLANE,
                {"GET": self.list_named_shadows},
            ),
            r.route("/topics/{topic:path}", DATA_PLANE, {"POST": self.publish}),
        ]

    # -- handlers (on the thread pool) ---------------------------------------------------------
    def shadow(self, call: Call) -> bytes:
        """GetThingShadow, UpdateThingShadow or DeleteThingShadow."""
        request = call.request
        thing = valid(validate_thing_name, request.path_params["thing"])
        name = request.query_params.get("name")
        shadow = None if name is None else valid(validate_shadow_name, name)
        try:
            if request.method == "GET":
                with self.cloud.turn():
                    return dumps(self.shadows.get(thing, shadow))
            if request.method == "DELETE":
                return self._delete(thing, shadow)
            return self._update(thing, shadow, _shadow_document(call.body))
        except ShadowError as exc:
            raise AwsError(exc.code, exc.message) from None
        except InvalidValue as exc:
            raise AwsError(400, str(exc)) from None

    def _update(self, thing: str, shadow: str | None, document: dict[str, Any]) -> bytes:
        with self.cloud.turn():
            accepted, out = self.shadows.update(thing, shadow, document)
            self._publish(out)
        self.cloud.feed.add("shadow", thing, remember=False)
        token = document.get("clientToken")
        return dumps(accepted if token is None else {**accepted, "clientToken": token})

    def _delete(self, thing: str, shadow: str | None) -> bytes:
        with self.cloud.turn():
            doc, out = self.shadows.delete(thing, shadow)
            accepted = ev.Outgoing(f"{shadow_prefix(thing, shadow)}/delete/accepted", dumps(doc))
            self._publish([*out, accepted])
        self.cloud.feed.add("shadow", thing, remember=False)
        return dumps(doc)

    def list_named_shadows(self, call: Call) -> bytes:
        """ListNamedShadowsForThing: the names in order, ``pageSize`` at a time."""
        request = call.request
        thing = valid(validate_thing_name, request.path_params["thing"])
        size = request.query_params.get("pageSize")
        page_size = DEFAULT_PAGE_SIZE
        if size is not None:
            try:
                page_size = int(size)
            except ValueError:
                page_size = 0
            if not 1 <= page_size <= MAX_PAGE_SIZE:
                raise AwsError(400, f"pageSize argument must be between 1 and {MAX_PAGE_SIZE}")
        token = request.query_params.get("nextToken")
        after = token_position(thing, token) if token else None
        with self.cloud.turn():
            names = [name for name in self.shadows.shadows(thing) if name is not None]
            now = int(self.shadows.clock())
        rest = names if after is None else [name for name in names if name > after]
        page = rest[:page_size]
        answer: dict[str, Any] = {"results": page, "timestamp": now}
        if len(rest) > page_size:
            answer["nextToken"] = page_token(thing, page[-1])
        return dumps(answer)

    def publish(self, call: Call) -> bytes:
        """Publish: the body to the topic, through the broker, to whoever subscribes."""
        raw_path = call.request.scope.get("raw_path")
        encoded = raw_path.decode("latin-1") if raw_path else quote(call.request.scope["path"])
        try:
            topic = unquote_to_bytes(encoded.split("/", 2)[2]).decode("utf-8")
        except UnicodeDecodeError:
            raise AwsError(400, "The topic name is not UTF-8") from None
        check_topic(topic)
        query = call.request.query_params
        qos = {"0": 0, "1": 1}.get(query.get("qos", "0"))
        if qos is None:
            raise AwsError(400, "qos must be 0 or 1")
        retain = {"true": True, "false": False}.get(query.get("retain", "false").lower())
        if retain is None:
            raise AwsError(400, "retain must be true or false")
        self.cloud.publish(ev.Outgoing(topic, call.body, qos=qos, retain=retain))
        return dumps({"message": "OK", "traceId": call.request_id})

    def _publish(self, messages: Sequence[ev.Outgoing]) -> None:
        for message in messages:
            self.cloud.publish(message)


def valid(check: Callable[[object], str], value: str) -> str:
    """``check(value)``, its InvalidValue answered as a 400."""
    try:
        return check(value)
    except InvalidValue as exc:
        raise AwsError(400, str(exc)) from None


def _shadow_document(body: bytes) -> dict[str, Any]:
    """The update's request document, or the error AWS answers for it."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise AwsError(415, "Unsupported documented encoding; supported encoding is UTF-8") from None
    try:
        document = strict_loads(body)
    except ValueError:
        raise AwsError(400, "Invalid JSON") from None
    if not isinstance(document, dict):
        raise AwsError(400, "Invalid JSON")
    return document


def strict_loads(body: bytes) -> Any:
    """JSON that can be written back (ValueError otherwise): the standard library's parser takes
    NaN and lone surrogates, which no encoder may send on."""
    try:
        value = loads(body)
        dumps(value)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    return value


async def _read_body(request: Request) -> bytes:
    """The body, or 413 past :data:`MAX_BODY` (what follows, up to :data:`DRAIN_LIMIT`, is read
    and dropped so the client gets to read the answer)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise AwsError(400, "Invalid Content-Length") from None
        if length > DRAIN_LIMIT:
            raise AwsError(413, TOO_LARGE)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > DRAIN_LIMIT:
            break
        if total <= MAX_BODY:
            chunks.append(chunk)
    if total > MAX_BODY:
        raise AwsError(413, TOO_LARGE)
    return b"".join(chunks)


def routes(cloud: LocalCloud, key: AppKey | None) -> list[BaseRoute]:
    """The AWS IoT data plane's routes and the commands calls for ``cloud`` (in AWS mode)."""
    from .aws_commands import AwsCommands  # here, not on top: it builds on this module

    return [*AwsDataPlane(cloud, key).routes(), *AwsCommands(cloud, key).routes()]
