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

(ListNamedShadowsForThing takes ``?nextToken=&pageSize=``.) Commands are not in the data plane:
AWS IoT's *commands* feature is, and :class:`AwsCommands` serves its calls on the same port --
``iot`` CreateCommand / GetCommand / DeleteCommand (``PUT|GET|DELETE /commands/{id}``) and
GetCommandExecution (``GET /command-executions/{id}``), ``iot-jobs-data`` StartCommandExecution
(``POST /command-executions``) -- so boto3 sends a command and reads the method's result.

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
``iotdata``, or ``iotdevicegateway`` as AWS's guide names it, for the data plane; ``iot`` and
``iot-jobs-data`` for the commands calls; any region), within 15 minutes of this machine's
clock. A request that is not is refused as AWS refuses it, with AWS's texts (``Missing
Authentication Token``, ``The security token included in the request is invalid.``, ``The
request signature we calculated does not match...``, ``Signature expired: ...``): 403
ForbiddenException from the data plane; InvalidSignatureException, UnrecognizedClientException
or MissingAuthenticationTokenException from the commands calls, as AWS IoT's control plane
names them. The verification is :func:`signature_problem`, from the SigV4 specification; the
secret is never logged.

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
import datetime
import email.utils
import hashlib
import hmac
import json
import logging
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, unquote_to_bytes

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
from .server import AppKey

if TYPE_CHECKING:
    from ..aws_shadow import AwsShadowService
    from ..local import LocalCloud

log = logging.getLogger("thingmodel.cloud.http.aws")

MAX_BODY = MAX_PAYLOAD
"""AWS IoT's largest message (128 KB): a longer body is refused with 413 before it is parsed."""
DRAIN_LIMIT = 8 * MAX_BODY
"""How much of a body over the limit is read (and dropped) so the client sees the 413."""
MAX_SKEW = 15 * 60
"""Seconds a signature's date may be off this machine's clock, either way (AWS: 15 minutes)."""
SERVICES = ("iotdata", "iotdevicegateway")
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


def _control_plane_refusal(message: str) -> str:
    if message == MISSING_TOKEN:
        return "MissingAuthenticationTokenException"
    return "UnrecognizedClientException" if message == UNKNOWN_KEY else "InvalidSignatureException"


def error_response(error: AwsError, request_id: str, api: Api) -> Response:
    """The restJson error: status, ``x-amzn-ErrorType`` and ``{"message", "traceId"}``."""
    body = dumps({"message": error.message, "traceId": request_id})
    headers = {"x-amzn-ErrorType": api.error_type(error), "x-amzn-RequestId": request_id}
    return Response(body, error.status, headers=headers, media_type="application/json")


# --- Signature Version 4 (pure) -------------------------------------------------------------------
ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_HEX64 = re.compile(r"[0-9a-f]{64}")
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
UNKNOWN_KEY = "The security token included in the request is invalid."
MISSING_TOKEN = "Missing Authentication Token"


@attrs.frozen
class Authorization:
    """The parts of an ``Authorization: AWS4-HMAC-SHA256 ...`` header."""

    key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


class SignatureRefused(Exception):
    """Why a request's signature is not accepted (AWS's words where known)."""


def parse_authorization(header: str) -> Authorization:
    """The header's parts; SignatureRefused naming what is missing or malformed."""
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureRefused(
            f"Unsupported signing algorithm {algorithm[:40]!r}: only {ALGORITHM} is accepted"
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name] = value.strip()
    for required in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(required):
            raise SignatureRefused(f"Authorization header requires '{required}' parameter.")
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or not all(scope):
        raise SignatureRefused(
            "Credential must be KEY-ID/YYYYMMDD/REGION/SERVICE/aws4_request, not "
            f"{'/'.join(scope[1:])[:80]!r}"
        )
    key_id, date, region, service, terminator = scope
    signed = tuple(fields["SignedHeaders"].split(";"))
    signature = fields["Signature"]
    if not _HEX64.fullmatch(signature):
        raise SignatureRefused("Signature must be 64 lowercase hex digits")
    return Authorization(key_id, date, region, service, terminator, signed, signature)


def canonical_uri(raw_path: str) -> str:
    """The path as sent (percent-encoded once), without dot segments or empty ones, encoded once
    more: SigV4 encodes each segment twice for every service but S3."""
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    path = "/" + "/".join(segments)
    if raw_path.endswith("/") and segments:
        path += "/"
    return quote(path, safe="/~")


def canonical_query(query: str) -> str:
    """Each name and value decoded and encoded as SigV4 wants (only ``A-Za-z0-9-_.~`` bare),
    sorted by name then value."""
    pairs: list[tuple[str, str]] = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def canonical_headers(headers: Sequence[tuple[str, str]], names: Sequence[str]) -> str:
    """``name:value`` lines of the signed headers (values trimmed, repeats joined by commas)."""
    lines = []
    for name in names:
        values = [" ".join(value.split()) for key, value in headers if key.lower() == name]
        lines.append(f"{name}:{','.join(values)}\n")
    return "".join(lines)


def canonical_request(
    method: str,
    raw_path: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    return "\n".join(
        [
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(query),
            canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def sign(secret: str, date: str, region: str, service: str, text: str) -> str:
    """The hex signature of a string to sign."""
    return hmac.new(
        signing_key(secret, date, region, service), text.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def _request_time(headers: Sequence[tuple[str, str]]) -> str:
    """The request's time in SigV4's basic ISO form, from ``X-Amz-Date`` (or ``Date``)."""
    found = {name.lower(): value.strip() for name, value in headers}
    if "x-amz-date" in found:
        text = found["x-amz-date"]
        try:
            datetime.datetime.strptime(text, _AMZ_DATE)
        except ValueError:
            raise SignatureRefused(f"X-Amz-Date {text[:40]!r} is not of the form YYYYMMDDTHHMMSSZ") from None
        return text
    if "date" in found:
        try:
            when = email.utils.parsedate_to_datetime(found["date"])
        except (TypeError, ValueError, OverflowError):
            raise SignatureRefused(f"Date header {found['date'][:40]!r} is not an HTTP date") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        return when.astimezone(datetime.timezone.utc).strftime(_AMZ_DATE)
    raise SignatureRefused(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )


def _check_clock(amz_date: str, now: float, skew: float) -> None:
    sent = datetime.datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=datetime.timezone.utc)
    here = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    window = datetime.timedelta(seconds=skew)
    minutes = f"{skew / 60:g} min."
    if sent < here - window:
        raise SignatureRefused(
            f"Signature expired: {amz_date} is now earlier than "
            f"{(here - window).strftime(_AMZ_DATE)} ({here.strftime(_AMZ_DATE)} - {minutes})"
        )
    if sent > here + window:
        raise SignatureRefused(
            f"Signature not yet current: {amz_date} is still later than "
            f"{(here + window).strftime(_AMZ_DATE)} ({here.strftime(_AMZ_DATE)} + {minutes})"
        )


def signature_problem(
    key: AppKey,
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    now: float,
    services: Collection[str] = SERVICES,
    skew: float = MAX_SKEW,
) -> str | None:
    """None when the request is signed with ``key`` by SigV4 for one of ``services``, within
    ``skew`` seconds of ``now``; otherwise why not, in AWS's words where they are known.

    ``raw_path`` and ``query`` are as sent (percent-encoded); ``headers`` are every header sent,
    repeats included."""
    header = [value for name, value in headers if name.lower() == "authorization"]
    if not header:
        return MISSING_TOKEN
    try:
        auth = parse_authorization(header[0])
        if auth.terminator != "aws4_request":
            raise SignatureRefused(
                "Credential should be scoped with a valid terminator: 'aws4_request', "
                f"not '{auth.terminator}'."
            )
        if auth.service not in services:
            raise SignatureRefused(
                f"Credential should be scoped to correct service: '{next(iter(services))}'."
            )
        if "host" not in auth.signed_headers:
            raise SignatureRefused(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
            )
        amz_date = _request_time(headers)
        if auth.date != amz_date[:8]:
            raise SignatureRefused(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{auth.date}' != '{amz_date[:8]}', from '{amz_date}'."
            )
        _check_clock(amz_date, now, skew)
    except SignatureRefused as exc:
        return str(exc)
    if not hmac.compare_digest(auth.key_id.encode(), key.id.encode()):
        return UNKNOWN_KEY
    body_hash = hashlib.sha256(body).hexdigest()
    declared = [value.strip() for name, value in headers if name.lower() == "x-amz-content-sha256"]
    payload_hash = declared[0] if declared else body_hash
    if payload_hash not in (body_hash, UNSIGNED_PAYLOAD):
        return "The provided 'x-amz-content-sha256' header does not match what was computed."
    canonical = canonical_request(method, raw_path, query, headers, auth.signed_headers, payload_hash)
    expected = sign(
        key.secret, auth.date, auth.region, auth.service, string_to_sign(amz_date, auth.scope, canonical)
    )
    if not hmac.compare_digest(expected, auth.signature):
        return SIGNATURE_MISMATCH
    return None


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


# --- the dialect ----------------------------------------------------------------------------------
DATA_PLANE = Api(SERVICES, ERROR_TYPES, lambda message: "ForbiddenException")
"""AWS IoT data (``iot-data``): a refused signature is 403 ForbiddenException, as the data plane says."""
_CONTROL_ERRORS = {
    400: "ValidationException",
    402: "ServiceQuotaExceededException",
    404: "ResourceNotFoundException",
    405: "MethodNotAllowedException",
    409: "ConflictException",
    413: "RequestEntityTooLargeException",
    500: "InternalServerException",
}
CONTROL_PLANE = Api(("iot",), _CONTROL_ERRORS, _control_plane_refusal)
"""AWS IoT (``iot``), for its commands calls."""
JOBS_DATA_PLANE = Api(("iot-jobs-data",), _CONTROL_ERRORS, _control_plane_refusal)
"""AWS IoT jobs data (``iot-jobs-data``), for StartCommandExecution."""
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@attrs.frozen
class _Call:
    request: Request
    body: bytes
    request_id: str
    #: the region the request was signed for ("us-east-1" when unsigned), for the ARNs it gets
    region: str


Handler = Callable[[_Call], bytes]


class _Routes:
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
                answer = await run_in_threadpool(handler, _Call(request, body, request_id, region))
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
        r = _Routes(self.key, self.shadows.clock)
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
    def shadow(self, call: _Call) -> bytes:
        """GetThingShadow, UpdateThingShadow or DeleteThingShadow."""
        request = call.request
        thing = _valid(validate_thing_name, request.path_params["thing"])
        name = request.query_params.get("name")
        shadow = None if name is None else _valid(validate_shadow_name, name)
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

    def list_named_shadows(self, call: _Call) -> bytes:
        """ListNamedShadowsForThing: the names in order, ``pageSize`` at a time."""
        request = call.request
        thing = _valid(validate_thing_name, request.path_params["thing"])
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

    def publish(self, call: _Call) -> bytes:
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


# --- AWS IoT commands -----------------------------------------------------------------------------
ACCOUNT = "000000000000"
"""The account id in the ARNs the local cloud makes."""
MAX_COMMANDS = 1000
MAX_EXECUTIONS = 10_000
DEFAULT_EXECUTION_TIMEOUT = 10
MAX_EXECUTION_TIMEOUT = 12 * 3600
_COMMAND_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_COMMAND_ARN = re.compile(r"arn:aws[a-z-]*:iot:[^:]*:[^:]*:command/([a-zA-Z0-9_-]{1,64})")
_THING_ARN = re.compile(r"arn:aws[a-z-]*:iot:[^:]*:[^:]*:thing/([^/]+)")
_FAILURES = ("FAILED", "REJECTED", "TIMED_OUT")
PAYLOAD_FORM = '{"command": NAME, "service": SERVICE_ID (optional), "params": {...} (optional)}'


@attrs.frozen
class _Command:
    command_id: str
    arn: str
    namespace: str
    content: bytes
    content_type: str
    display_name: str | None
    description: str | None
    created_at: float
    #: what the payload asks of a thingmodel device
    service: str | None
    name: str
    params: Mapping[str, Any]


@attrs.define
class _Execution:
    execution_id: str
    command_arn: str
    target_arn: str
    thing: str
    parameters: dict[str, Any]
    timeout: int
    created_at: float
    client_token: str | None
    status: str = "CREATED"
    result: dict[str, Any] | None = None
    reason: dict[str, str] | None = None
    completed_at: float | None = None


class AwsCommands:
    """AWS IoT's *commands*: CreateCommand, GetCommand and DeleteCommand (``iot``),
    StartCommandExecution (``iot-jobs-data``) and GetCommandExecution (``iot``), run on
    thingmodel devices through the cloud's command channel (AWS's commands topics).

    A command's payload must be the JSON thingmodel's AWS devices run (:data:`PAYLOAD_FORM`);
    StartCommandExecution's ``parameters`` (``{"S"|"B"|"I"|"L"|"D"|"UL"|"BIN": value}``) are
    merged into its ``params`` (AWS fills a ``payloadTemplate`` with them; templates are not
    served). An execution is CREATED until the device answers (SUCCEEDED with its result, or
    FAILED) or its ``executionTimeoutSeconds`` pass (TIMED_OUT, reason
    ``$NO_RESPONSE_FROM_DEVICE``, as AWS sets it). Commands and executions are kept in memory,
    at most :data:`MAX_COMMANDS` and :data:`MAX_EXECUTIONS` (the oldest execution is forgotten).
    ListCommands and ListCommandExecutions are not served.
    """

    def __init__(self, cloud: LocalCloud, key: AppKey | None) -> None:
        if not isinstance(cloud.platform, AwsCloud):
            raise InvalidValue(f"AWS IoT commands need a cloud in AWS mode, not {cloud.vendor!r}")
        self.cloud, self.key = cloud, key
        self.platform: AwsCloud = cloud.platform
        self.clock: Callable[[], float] = self.platform.shadow_service.clock
        self._lock = threading.Lock()
        self.commands: OrderedDict[str, _Command] = OrderedDict()
        self.executions: OrderedDict[str, _Execution] = OrderedDict()
        self._tokens: dict[str, str] = {}  # client token -> the execution it started

    def routes(self) -> list[BaseRoute]:
        r = _Routes(self.key, self.clock)
        command = {"PUT": self.create_command, "GET": self.get_command, "DELETE": self.delete_command}
        return [
            r.route("/commands/{commandId}", CONTROL_PLANE, command),
            r.route("/command-executions", JOBS_DATA_PLANE, {"POST": self.start_execution}),
            r.route("/command-executions/{executionId}", CONTROL_PLANE, {"GET": self.get_execution}),
        ]

    # -- commands ------------------------------------------------------------------------------
    def create_command(self, call: _Call) -> bytes:
        command_id = _command_id(call.request.path_params["commandId"])
        body = _json_object(call.body)
        namespace = body.get("namespace", "AWS-IoT")
        if namespace != "AWS-IoT":
            raise AwsError(400, f"The local cloud runs commands of the AWS-IoT namespace, not {namespace!r}")
        if body.get("payloadTemplate") is not None:
            raise AwsError(400, "payloadTemplate is not served by the local cloud: give the payload itself")
        payload = body.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("content"), str):
            raise AwsError(400, f"A command needs a payload whose content is {PAYLOAD_FORM}")
        try:
            content = base64.b64decode(payload["content"], validate=True)
        except binascii.Error:
            raise AwsError(400, "The payload's content is not base64") from None
        service, name, params = _command_payload(content)
        content_type = payload.get("contentType") or "application/json"
        if not isinstance(content_type, str):
            raise AwsError(400, "The payload's contentType must be a string")
        arn = f"arn:aws:iot:{call.region}:{ACCOUNT}:command/{command_id}"
        made = _Command(
            command_id,
            arn,
            namespace,
            content,
            content_type,
            _optional_text(body, "displayName"),
            _optional_text(body, "description"),
            self.clock(),
            service,
            name,
            params,
        )
        with self._lock:
            if command_id in self.commands:
                raise AwsError(409, f"A command with id '{command_id}' already exists")
            if len(self.commands) >= MAX_COMMANDS:
                raise AwsError(402, f"The local cloud keeps at most {MAX_COMMANDS} commands")
            self.commands[command_id] = made
        return dumps({"commandId": command_id, "commandArn": arn})

    def get_command(self, call: _Call) -> bytes:
        command = self._command(_command_id(call.request.path_params["commandId"]))
        answer: dict[str, Any] = {
            "commandId": command.command_id,
            "commandArn": command.arn,
            "namespace": command.namespace,
            "payload": {
                "content": base64.b64encode(command.content).decode(),
                "contentType": command.content_type,
            },
            "createdAt": command.created_at,
            "lastUpdatedAt": command.created_at,
            "deprecated": False,
            "pendingDeletion": False,
        }
        for key, value in (("displayName", command.display_name), ("description", command.description)):
            if value is not None:
                answer[key] = value
        return dumps(answer)

    def delete_command(self, call: _Call) -> bytes:
        command_id = _command_id(call.request.path_params["commandId"])
        with self._lock:
            if self.commands.pop(command_id, None) is None:
                raise AwsError(404, f"No command exists with id '{command_id}'")
        return b"{}"

    def _command(self, command_id: str) -> _Command:
        with self._lock:
            command = self.commands.get(command_id)
        if command is None:
            raise AwsError(404, f"No command exists with id '{command_id}'")
        return command

    # -- executions ----------------------------------------------------------------------------
    def start_execution(self, call: _Call) -> bytes:
        body = _json_object(call.body)
        target = body.get("targetArn")
        if not isinstance(target, str) or (found := _THING_ARN.fullmatch(target)) is None:
            raise AwsError(
                400, f"targetArn {target!r} is not a thing's ARN (arn:aws:iot:REGION:ACCOUNT:thing/NAME)"
            )
        thing = _valid(validate_thing_name, found.group(1))
        command_arn = body.get("commandArn")
        if not isinstance(command_arn, str) or (named := _COMMAND_ARN.fullmatch(command_arn)) is None:
            raise AwsError(400, f"commandArn {command_arn!r} is not a command's ARN")
        command = self._command(named.group(1))
        parameters = body.get("parameters") or {}
        values = _parameter_values(parameters)
        timeout = body.get("executionTimeoutSeconds", DEFAULT_EXECUTION_TIMEOUT)
        if type(timeout) is not int or not 1 <= timeout <= MAX_EXECUTION_TIMEOUT:
            raise AwsError(400, f"executionTimeoutSeconds must be 1 to {MAX_EXECUTION_TIMEOUT}")
        token = body.get("clientToken")
        if token is not None and not isinstance(token, str):
            raise AwsError(400, "clientToken must be a string")
        with self._lock:
            again = self._same_request(token, target, command_arn, parameters)
            if again is not None:
                return dumps({"executionId": again})
            with self.cloud.turn():
                execution_id = self.platform.command(
                    thing, command.service, command.name, {**command.params, **values}
                )
            self.executions[execution_id] = _Execution(
                execution_id, command_arn, target, thing, parameters, timeout, self.clock(), token
            )
            if token is not None:
                self._tokens[token] = execution_id
            while len(self.executions) > MAX_EXECUTIONS:
                _, old = self.executions.popitem(last=False)
                if old.client_token is not None:
                    self._tokens.pop(old.client_token, None)
                if old.status == "CREATED":
                    with self.cloud.turn():
                        self.platform.forget(old.execution_id)
        log.info("command %s started on %s (execution %s)", command.command_id, thing, execution_id)
        return dumps({"executionId": execution_id})

    def _same_request(self, token: str | None, target: str, command_arn: str, parameters: Any) -> str | None:
        """The execution an earlier request with this client token started; 409 if it differed."""
        execution = self.executions.get(self._tokens.get(token, "")) if token is not None else None
        if execution is None:
            return None
        if (execution.target_arn, execution.command_arn, execution.parameters) != (
            target,
            command_arn,
            parameters,
        ):
            raise AwsError(409, f"clientToken {token!r} was used for a different request")
        return execution.execution_id

    def get_execution(self, call: _Call) -> bytes:
        execution_id = call.request.path_params["executionId"]
        target = call.request.query_params.get("targetArn")
        if not target:
            raise AwsError(400, "targetArn is required")
        with self._lock:
            execution = self.executions.get(execution_id)
            if execution is None or target != execution.target_arn:
                raise AwsError(404, f"No command execution exists with id '{execution_id}' on {target}")
            self._settle(execution)
            answer: dict[str, Any] = {
                "executionId": execution.execution_id,
                "commandArn": execution.command_arn,
                "targetArn": execution.target_arn,
                "status": execution.status,
                "executionTimeoutSeconds": execution.timeout,
                "createdAt": execution.created_at,
                "lastUpdatedAt": execution.completed_at or execution.created_at,
            }
            if execution.parameters:
                answer["parameters"] = execution.parameters
            if execution.completed_at is not None:
                answer["completedAt"] = execution.completed_at
            if execution.reason is not None:
                answer["statusReason"] = execution.reason
            if execution.result and call.request.query_params.get("includeResult", "true").lower() != "false":
                answer["result"] = execution.result
        return dumps(answer)

    def _settle(self, execution: _Execution) -> None:
        """Take the device's answer, if it came, or time the execution out."""
        if execution.status != "CREATED":
            return
        with self.cloud.turn():
            answer = self.platform.take_result(execution.execution_id)
            now = self.clock()
            if answer is None and now > execution.created_at + execution.timeout:
                self.platform.forget(execution.execution_id)
        if answer is None:
            if now > execution.created_at + execution.timeout:
                execution.status, execution.completed_at = "TIMED_OUT", now
                execution.reason = {
                    "reasonCode": "$NO_RESPONSE_FROM_DEVICE",
                    "reasonDescription": f"the device did not answer within {execution.timeout} s",
                }
            return
        execution.completed_at = now
        if isinstance(answer, ev.CommandAnswered) and answer.code == 0:
            execution.status = "SUCCEEDED"
            execution.result = _result_map(answer.params)
            return
        params = answer.params if isinstance(answer, ev.CommandAnswered) else {}
        status = params.get("status")
        execution.status = status if status in _FAILURES else "FAILED"
        text = (
            params.get("error") if isinstance(answer, ev.CommandAnswered) else getattr(answer, "reason", "")
        )
        execution.reason = {
            "reasonCode": "COMMAND_FAILED",
            "reasonDescription": str(text or execution.status)[:1024],
        }


def _command_id(value: str) -> str:
    if not _COMMAND_ID.fullmatch(value):
        raise AwsError(400, f"commandId {value[:80]!r} must be 1-64 characters of a-z A-Z 0-9 _ -")
    return value


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = _strict_loads(body or b"{}")
    except ValueError:
        raise AwsError(400, "The request body is not JSON") from None
    if not isinstance(value, dict):
        raise AwsError(400, "The request body must be a JSON object")
    return value


def _optional_text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise AwsError(400, f"{key} must be a string")
    return value


def _command_payload(content: bytes) -> tuple[str | None, str, dict[str, Any]]:
    """(service id, command name, params) of a command payload a thingmodel device runs."""
    try:
        value = _strict_loads(content)
    except ValueError:
        value = None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("command"), str)
        or not value["command"]
        or not isinstance(value.get("service", ""), str)
        or not isinstance(value.get("params", {}), dict)
    ):
        raise AwsError(400, f"A command's payload must be {PAYLOAD_FORM}: the JSON thingmodel devices run")
    return value.get("service") or None, value["command"], dict(value.get("params") or {})


def _parameter_values(parameters: Any) -> dict[str, Any]:
    """StartCommandExecution's typed parameters as plain values."""
    if not isinstance(parameters, dict):
        raise AwsError(400, "parameters must be an object of {name: {TYPE: value}}")
    kinds: dict[str, Callable[[Any], bool]] = {
        "S": lambda v: isinstance(v, str),
        "B": lambda v: isinstance(v, bool),
        "I": lambda v: type(v) is int,
        "L": lambda v: type(v) is int,
        "D": lambda v: type(v) in (int, float),
        "UL": lambda v: isinstance(v, str) and v.isdigit(),
        "BIN": lambda v: isinstance(v, str),
    }
    values: dict[str, Any] = {}
    for name, typed in parameters.items():
        if not isinstance(typed, dict) or len(typed) != 1:
            raise AwsError(400, f"parameter {name!r} must be one of {{{', '.join(kinds)}: value}}")
        ((kind, value),) = typed.items()
        check = kinds.get(kind)
        if check is None or not check(value):
            raise AwsError(400, f"parameter {name!r}: {kind!r} does not hold {value!r}")
        values[name] = int(value) if kind == "UL" else value
    return values


def _result_map(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A device's result as GetCommandExecution's ``result``: strings and booleans as such."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        if isinstance(value, bool):
            out[str(key)] = {"B": value}
        elif isinstance(value, str):
            out[str(key)] = {"S": value}
        else:
            out[str(key)] = {"S": dumps(value).decode()}
    return out


def _valid(check: Callable[[object], str], value: str) -> str:
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
        document = _strict_loads(body)
    except ValueError:
        raise AwsError(400, "Invalid JSON") from None
    if not isinstance(document, dict):
        raise AwsError(400, "Invalid JSON")
    return document


def _strict_loads(body: bytes) -> Any:
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
    return [*AwsDataPlane(cloud, key).routes(), *AwsCommands(cloud, key).routes()]
