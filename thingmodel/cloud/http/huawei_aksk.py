"""Huawei Cloud's AK/SK request signature, ``SDK-HMAC-SHA256``, from the signing algorithm of its
API gateway (APIG's AK/SK authentication), as the gateway verifies it and huaweicloudsdkcore's
signer makes it, as pure functions: :func:`canonical_request`, :func:`string_to_sign`,
:func:`signature`, :func:`verify`; :func:`authorization` signs (for tests and scripts).

:func:`verify` accepts a request whose ``Authorization`` is ``SDK-HMAC-SHA256 Access=AK,
SignedHeaders=..., Signature=...`` with the app key's AK, whose signed ``X-Sdk-Date``
(``YYYYMMDDTHHMMSSZ``, UTC) is within :data:`CLOCK_SKEW` of the clock, every signed header
present, and whose signature is the hex HMAC-SHA256, keyed with the SK, of the string to sign.
A refusal's reason is worded as the gateway words it, and never shows the secret.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

import attrs

if TYPE_CHECKING:
    from .server import AppKey

CLOCK_SKEW = 15 * 60
"""Seconds an ``X-Sdk-Date`` may differ from this machine's clock (the API gateway's bound)."""
ALGORITHM = "SDK-HMAC-SHA256"
EMPTY_HASH = hashlib.sha256(b"").hexdigest()
_SAFE_ECHO = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


def _encode(text: str) -> str:
    return quote(text, safe="~")


def canonical_uri(raw_path: str) -> str:
    """The path, each segment decoded and percent-encoded again (only ``A-Za-z0-9-_.~`` left
    bare), ending in ``/``."""
    path = "/".join(_encode(segment) for segment in unquote(raw_path).split("/"))
    return path if path.endswith("/") else f"{path}/"


def canonical_query(query: str) -> str:
    """The query's ``key=value`` pairs, decoded, sorted, encoded again and joined by ``&``."""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((unquote(key), unquote(value)))
    pairs.sort()
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs)


def canonical_request(
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
) -> str:
    """The text whose hash is signed. ``headers`` are keyed by lowercase name; every name in
    ``signed_headers`` must be among them (KeyError otherwise)."""
    lines = "".join(f"{name}:{headers[name].strip()}\n" for name in signed_headers)
    content = headers.get("x-sdk-content-sha256")
    payload = EMPTY_HASH if not body else content or hashlib.sha256(body).hexdigest()
    return "\n".join(
        [
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(query),
            lines,
            ";".join(signed_headers),
            payload,
        ]
    )


def string_to_sign(sdk_date: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def signature(secret: str, to_sign: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``to_sign`` keyed with the secret key."""
    return hmac.new(secret.encode(), to_sign.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


@attrs.frozen
class Authorization:
    """The parts of an ``Authorization: SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...``."""

    access: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> Authorization | None:
    """The parts of an SDK-HMAC-SHA256 header value (None if it is not one)."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme != ALGORITHM:
        return None
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, field_value = item.strip().partition("=")
        if not sep or name in fields:
            return None
        fields[name] = field_value.strip()
    if set(fields) != {"Access", "SignedHeaders", "Signature"}:
        return None
    names = tuple(fields["SignedHeaders"].split(";"))
    if not all(names) or any(n != n.lower() for n in names):
        return None
    return Authorization(fields["Access"], names, fields["Signature"])


def parse_sdk_date(text: str) -> float | None:
    """Unix seconds of an ``X-Sdk-Date`` (``YYYYMMDDTHHMMSSZ``, UTC); None if malformed."""
    try:
        parsed = time.strptime(text, _DATE_FORMAT)
    except ValueError:
        return None
    return float(calendar.timegm(parsed))


def sdk_date(now: float) -> str:
    return time.strftime(_DATE_FORMAT, time.gmtime(now))


def verify(
    key: AppKey,
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
) -> str | None:
    """None when the request carries a valid signature made with ``key`` within
    :data:`CLOCK_SKEW` of ``now``; else the reason, as the gateway words it (never showing the
    secret). ``headers`` are keyed by lowercase name."""
    value = headers.get("authorization")
    if value is None:
        return "x-auth-token not found"
    auth = parse_authorization(value)
    if auth is None:
        return "verify aksk signature fail"
    if auth.access != key.id:
        shown = auth.access if _SAFE_ECHO.fullmatch(auth.access) else "(unreadable)"
        return f"ak {shown} not exist"
    date = headers.get("x-sdk-date")
    when = parse_sdk_date(date) if date is not None else None
    if date is None or when is None or "x-sdk-date" not in auth.signed_headers:
        return "verify aksk signature fail, the signed X-Sdk-Date header is missing or malformed"
    if abs(now - when) > CLOCK_SKEW:
        return f"verify aksk signature fail, X-Sdk-Date {date} is more than {CLOCK_SKEW // 60} minutes off"
    try:
        canonical = canonical_request(method, raw_path, query, headers, auth.signed_headers, body)
    except KeyError:
        return "verify aksk signature fail, a signed header is missing"
    expected = signature(key.secret, string_to_sign(date, canonical))
    if not hmac.compare_digest(expected.encode(), auth.signature.encode("utf-8", "surrogateescape")):
        return "verify aksk signature fail"
    return None


def authorization(
    key: AppKey,
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes = b"",
) -> str:
    """The ``Authorization`` value signing every header in ``headers`` (lowercase names; include
    ``host`` and ``x-sdk-date``), as huaweicloudsdkcore's signer makes it."""
    names = sorted(name for name in headers if "_" not in name)
    lowered = {name: headers[name] for name in names}
    canonical = canonical_request(method, raw_path, query, lowered, names, body)
    sig = signature(key.secret, string_to_sign(headers["x-sdk-date"], canonical))
    return f"{ALGORITHM} Access={key.id}, SignedHeaders={';'.join(names)}, Signature={sig}"
