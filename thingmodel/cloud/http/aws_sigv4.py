"""AWS Signature Version 4 (``AWS4-HMAC-SHA256``), from AWS's SigV4 specification ("Create a
signed AWS API request"), as pure functions: :func:`canonical_request`, :func:`string_to_sign`,
:func:`signing_key` and :func:`sign` make a signature, :func:`parse_authorization` reads the
``Authorization`` header, and :func:`signature_problem` verifies a request.

A request is accepted when its ``Authorization`` is ``AWS4-HMAC-SHA256`` with a credential scope
``KEY-ID/YYYYMMDD/REGION/SERVICE/aws4_request`` (any region; a service the API names, e.g.
``iotdata`` or ``iotdevicegateway`` for the data plane), ``host`` is among the signed headers,
its ``X-Amz-Date`` (or ``Date``) is within 15 minutes of this machine's clock and the scope's
date is that date's, the key id is the app key's, ``x-amz-content-sha256`` (when sent) is the
body's hash or ``UNSIGNED-PAYLOAD``, and the signature is the one the secret makes. A refusal
is AWS's text where it is known (``Missing Authentication Token``, ``The security token included
in the request is invalid.``, ``The request signature we calculated does not match...``,
``Signature expired: ...``); the secret is never in one.
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import hmac
import re
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

import attrs

if TYPE_CHECKING:
    from .server import AppKey

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
MAX_SKEW = 15 * 60
"""Seconds a signature's date may be off this machine's clock, either way (AWS: 15 minutes)."""
SERVICES = ("iotdata", "iotdevicegateway")
"""The service names a data plane request's credential scope may give (:func:`signature_problem`'s
default)."""


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
