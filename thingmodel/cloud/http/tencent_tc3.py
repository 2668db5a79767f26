"""Tencent Cloud API 3.0's request signature, ``TC3-HMAC-SHA256`` (signature v3), from Tencent
Cloud's API documentation ("Signature v3"), as pure functions: :func:`canonical_request`,
:func:`signature` and :func:`sign_request` make it (the last for tests and scripts), and
:func:`verify_request` checks a request.

A request is accepted when its ``Authorization`` is ``TC3-HMAC-SHA256 Credential=SecretId/
YYYY-MM-DD/service/tc3_request, SignedHeaders=..., Signature=...`` with the app key's SecretId,
its ``X-TC-Timestamp`` within :data:`MAX_SKEW` of the clock and the credential's date that
timestamp's UTC date, the product's service in the scope, ``content-type`` and ``host`` among
the signed headers (each present), and the signature the SecretKey makes over the body's hash
(or ``UNSIGNED-PAYLOAD``'s, when ``X-TC-Content-SHA256`` says so). A refusal is
:class:`SignatureRefused` with Tencent's error code (``AuthFailure.*`` mostly).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from .server import AppKey

ALGORITHM = "TC3-HMAC-SHA256"
MAX_SKEW = 300
"""Seconds ``X-TC-Timestamp`` may differ from the clock (Tencent: five minutes)."""


class SignatureRefused(Exception):
    """A request whose signature Tencent would refuse: its error code and a one-line message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


@attrs.frozen
class Authorization:
    """The parts of an ``Authorization: TC3-HMAC-SHA256 Credential=..., ...`` header."""

    secret_id: str
    date: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.service}/tc3_request"


def parse_authorization(value: str) -> Authorization:
    """The header's parts; SignatureRefused ``AuthFailure.InvalidAuthorization`` if it is not TC3's form."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureRefused(
            "AuthFailure.InvalidAuthorization", f"the Authorization header is not {ALGORITHM}"
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, text = part.strip().partition("=")
        if not eq:
            raise SignatureRefused(
                "AuthFailure.InvalidAuthorization", f"Authorization part {name[:40]!r} has no '='"
            )
        fields[name] = text
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
    if missing:
        raise SignatureRefused(
            "AuthFailure.InvalidAuthorization", f"the Authorization header lacks {', '.join(missing)}"
        )
    credential = fields["Credential"].split("/")
    if len(credential) != 4 or credential[3] != "tc3_request" or not all(credential):
        raise SignatureRefused(
            "AuthFailure.InvalidAuthorization",
            "Credential must be SecretId/YYYY-MM-DD/service/tc3_request",
        )
    signed = tuple(fields["SignedHeaders"].lower().split(";"))
    return Authorization(credential[0], credential[1], credential[2], signed, fields["Signature"].lower())


def hashed_payload(body: bytes, *, unsigned: bool = False) -> str:
    """Hex SHA-256 of the body (of the text ``UNSIGNED-PAYLOAD`` when the client said so)."""
    return hashlib.sha256(b"UNSIGNED-PAYLOAD" if unsigned else body).hexdigest()


def canonical_request(
    method: str,
    uri: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """TC3's canonical request; ``headers`` by lowercase name, each signed one lowercased and trimmed."""
    lines = "".join(f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed_headers)
    return "\n".join([method.upper(), uri, query, lines, ";".join(signed_headers), payload_hash])


def credential_date(timestamp: int) -> str:
    """The UTC date of a Unix timestamp, as TC3's credential scope names it."""
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp))


def signature(secret_key: str, date: str, service: str, timestamp: int, canonical: str) -> str:
    """TC3's hex signature of a canonical request: HMAC-SHA256 of the string to sign, keyed by
    ``TC3<key>`` chained through the date, the service and ``tc3_request``."""

    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    scope = f"{date}/{service}/tc3_request"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"
    key = mac(mac(mac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def sign_request(
    key: AppKey,
    service: str,
    timestamp: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str = "POST",
    uri: str = "/",
    query: str = "",
) -> str:
    """The ``Authorization`` header a client sends (signing ``content-type`` and ``host``);
    ``headers`` by lowercase name."""
    signed = ("content-type", "host")
    canonical = canonical_request(method, uri, query, headers, signed, hashed_payload(body))
    date = credential_date(timestamp)
    sig = signature(key.secret, date, service, timestamp, canonical)
    scope = f"{key.id}/{date}/{service}/tc3_request"
    return f"{ALGORITHM} Credential={scope}, SignedHeaders={';'.join(signed)}, Signature={sig}"


def verify_request(
    key: AppKey,
    service: str,
    method: str,
    uri: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
) -> None:
    """Nothing if the request is signed by ``key`` for ``service`` at a time within
    :data:`MAX_SKEW` of ``now``; else SignatureRefused with Tencent's ``AuthFailure.*`` code."""
    value = headers.get("authorization")
    if not value:
        raise SignatureRefused(
            "AuthFailure.InvalidAuthorization", f"the request has no Authorization header ({ALGORITHM})"
        )
    auth = parse_authorization(value)
    if not hmac.compare_digest(auth.secret_id.encode(), key.id.encode()):
        raise SignatureRefused(
            "AuthFailure.SecretIdNotFound", f"SecretId {auth.secret_id[:64]!r} is not this cloud's key"
        )
    stamp = headers.get("x-tc-timestamp", "").strip()
    if not stamp:
        raise SignatureRefused("MissingParameter", "the request has no X-TC-Timestamp header")
    if not stamp.isdigit() or len(stamp) > 12:
        raise SignatureRefused("InvalidParameter", f"X-TC-Timestamp {stamp[:20]!r} is not Unix seconds")
    timestamp = int(stamp)
    if abs(now - timestamp) > MAX_SKEW:
        raise SignatureRefused(
            "AuthFailure.SignatureExpire",
            f"X-TC-Timestamp {timestamp} is {abs(now - timestamp):.0f} s from the server's clock "
            f"(at most {MAX_SKEW} s)",
        )
    if auth.service != service:
        raise SignatureRefused(
            "AuthFailure.SignatureFailure", f"the request is signed for {auth.service!r}, not {service!r}"
        )
    if auth.date != credential_date(timestamp):
        raise SignatureRefused(
            "AuthFailure.SignatureFailure",
            f"the Credential's date {auth.date[:20]!r} is not the UTC date of X-TC-Timestamp",
        )
    for needed in ("content-type", "host"):
        if needed not in auth.signed_headers:
            raise SignatureRefused("AuthFailure.InvalidAuthorization", f"SignedHeaders must include {needed}")
    for name in auth.signed_headers:
        if name not in headers:
            raise SignatureRefused(
                "AuthFailure.InvalidAuthorization", f"signed header {name[:40]!r} is not in the request"
            )
    unsigned = headers.get("x-tc-content-sha256", "").strip() == "UNSIGNED-PAYLOAD"
    canonical = canonical_request(
        method, uri, query, headers, auth.signed_headers, hashed_payload(body, unsigned=unsigned)
    )
    wanted = signature(key.secret, auth.date, service, timestamp, canonical)
    if not hmac.compare_digest(wanted.encode(), auth.signature.encode()):
        raise SignatureRefused(
            "AuthFailure.SignatureFailure",
            "the signature does not match: check the SecretKey and the signing steps of TC3-HMAC-SHA256",
        )
