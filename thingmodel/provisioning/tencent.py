"""Tencent IoT dynamic registration ("one secret per product"): both ends, sans-IO, and ``provision()``.

The wire (tencent-more.md 3.1; Tencent's signing page and its Python SDK ``hub/hub.py``):

- ``POST https://ap-guangzhou.gateway.tencentdevices.com/device/register`` with the JSON body
  ``{"ProductId":"...","DeviceName":"..."}`` and the headers ``Content-Type: application/json;
  charset=utf-8``, ``X-TC-Algorithm: hmacsha256``, ``X-TC-Timestamp`` (Unix seconds),
  ``X-TC-Nonce`` (an integer) and ``X-TC-Signature``.
- The signature is ``Base64(HMAC-SHA256(ProductSecret, StringToSign))`` over eight lines:
  ``POST``, the Host, ``/device/register``, an empty query string, the algorithm, the
  timestamp, the nonce and the lowercase hex SHA-256 of the body (:func:`string_to_sign`).
  ``hmacsha1`` is accepted too (the signing page names both).
- The answer is ``{"Response": {"Len": n, "Payload": "<base64>", "RequestId": "..."}}``:
  ``Payload`` is AES-128-CBC with the first 16 characters of the ProductSecret as key and
  sixteen ASCII ``0`` as IV, over the JSON ``{"encryptionType": 2, "psk": "<device secret>"}``
  (``1`` with ``clientCert``/``clientKey`` for certificate products), zero-padded; ``Len`` is
  the length of that JSON (53 for the doc's 64-byte example). A refusal is ``{"Response":
  {"Error": {"Code": "...", "Message": "..."}, "RequestId": "..."}}``.

Tencent documents no error codes for this API: the platform half's (:data:`ERRORS`) follow
Tencent Cloud API 3.0's names and are ours. AES is not in the standard library: both halves
use the ``cryptography`` package (``pip install 'thingmodel[provisioning]'``), imported when first needed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from ..errors import InvalidValue
from ..vendors import tencent as hub
from .credentials import Provisioned, ProvisioningError, Refused, stored

log = logging.getLogger("thingmodel.provisioning")

DEFAULT_URL = "https://ap-guangzhou.gateway.tencentdevices.com/device/register"
REGISTER_PATH = "/device/register"
ALGORITHMS = {"hmacsha256": hashlib.sha256, "hmacsha1": hashlib.sha1}
IV = b"0" * 16
#: seconds ``X-TC-Timestamp`` may differ from the service's clock (Tencent Cloud API's five minutes)
MAX_SKEW = 300
#: the largest request or answer body either end reads (ours)
MAX_BODY = 16 * 1024
KEY_AUTH, CERT_AUTH = 2, 1

#: the error codes the platform half answers with (ours, in Tencent Cloud API 3.0's style)
ERRORS = {
    "body": "InvalidParameter",
    "value": "InvalidParameterValue",
    "headers": "MissingParameter",
    "product": "ResourceNotFound.ProductNotExist",
    "signature": "AuthFailure.SignatureFailure",
    "expired": "AuthFailure.SignatureExpire",
    "replayed": "AuthFailure.RequestReplayed",
    "activated": "UnsupportedOperation.DeviceHasActivated",
    "internal": "InternalError",
}


def _aes() -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        raise ProvisioningError(
            "Tencent's dynamic registration encrypts with AES, which needs the cryptography package: "
            "pip install 'thingmodel[provisioning]'"
        ) from None
    return Cipher, algorithms, modes


def aes_key(product_secret: str) -> bytes:
    """The AES-128 key: the first 16 characters of the ProductSecret (InvalidValue if shorter)."""
    key = product_secret[:16].encode()
    if len(product_secret) < 16 or len(key) != 16:
        raise InvalidValue("a ProductSecret must be at least 16 (ASCII) characters: it keys AES-128")
    return key


def encrypt_payload(product_secret: str, plaintext: bytes) -> str:
    """AES-128-CBC (key :func:`aes_key`, IV sixteen ``'0'``), zero-padded, base64."""
    cipher, algorithms, modes = _aes()
    padded = plaintext + b"\0" * (-len(plaintext) % 16)
    encryptor = cipher(algorithms.AES(aes_key(product_secret)), modes.CBC(IV)).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def decrypt_payload(product_secret: str, payload: str, length: int | None = None) -> bytes:
    """The plaintext of an encrypted ``Payload``: its first ``length`` bytes (``Len``), or without
    the trailing zero padding. ProvisioningError for a payload that is not base64 of whole blocks."""
    cipher, algorithms, modes = _aes()
    try:
        data = base64.b64decode(payload.encode(), validate=True)
    except (binascii.Error, ValueError):
        raise ProvisioningError("dynamic registration: Payload is not base64") from None
    if not data or len(data) % 16:
        raise ProvisioningError(f"dynamic registration: Payload is {len(data)} bytes, not whole AES blocks")
    decryptor = cipher(algorithms.AES(aes_key(product_secret)), modes.CBC(IV)).decryptor()
    plain: bytes = decryptor.update(data) + decryptor.finalize()
    if length is not None and 0 < length <= len(plain):
        return plain[:length]
    return plain.rstrip(b"\0")


def string_to_sign(host: str, timestamp: int, nonce: int, body: bytes, algorithm: str = "hmacsha256") -> str:
    """The eight lines signed: method, host, URI, empty query, algorithm, timestamp, nonce, body hash."""
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join(["POST", host, REGISTER_PATH, "", algorithm, str(timestamp), str(nonce), digest])


def signature(product_secret: str, text: str, algorithm: str = "hmacsha256") -> str:
    """``Base64(HMAC(ProductSecret, StringToSign))``."""
    if algorithm not in ALGORITHMS:
        raise InvalidValue(f"unknown signing algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")
    mac = hmac.new(product_secret.encode(), text.encode(), ALGORITHMS[algorithm]).digest()
    return base64.b64encode(mac).decode()


def request_body(product_id: str, device_name: str) -> bytes:
    """``{"ProductId":"...","DeviceName":"..."}``, in that order (as Tencent's SDK writes it)."""
    hub.validate_device_id(f"{product_id}.{device_name}")
    return json.dumps({"ProductId": product_id, "DeviceName": device_name}, separators=(",", ":")).encode()


# --- the device half -----------------------------------------------------------------------------
@attrs.frozen
class HttpRequest:
    """One HTTP request, as urllib (or any client) sends it."""

    url: str
    headers: dict[str, str]
    body: bytes


def canonical_host(url: str) -> str:
    """The ``Host`` header of a request to ``url`` (the port only when it is not the scheme's)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidValue(f"registration URL {url!r} must be http(s)://host[:port]/device/register")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def register_request(
    product_id: str,
    device_name: str,
    product_secret: str,
    *,
    url: str = DEFAULT_URL,
    timestamp: int,
    nonce: int,
    algorithm: str = "hmacsha256",
) -> HttpRequest:
    """The signed registration request (the caller picks the clock's ``timestamp`` and a random ``nonce``)."""
    body = request_body(product_id, device_name)
    host = canonical_host(url)
    headers = {
        "Host": host,
        "Content-Type": "application/json; charset=utf-8",
        "X-TC-Algorithm": algorithm,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Nonce": str(nonce),
        "X-TC-Signature": signature(
            product_secret, string_to_sign(host, timestamp, nonce, body, algorithm), algorithm
        ),
    }
    return HttpRequest(url, headers, body)


@attrs.frozen
class Registration:
    """What the service gave: a device secret (``psk``), or a certificate and its key."""

    encryption_type: int
    psk: str | None = attrs.field(repr=False)
    client_cert: str | None = None
    client_key: str | None = attrs.field(default=None, repr=False)


def read_register_answer(body: bytes, product_secret: str) -> Registration:
    """The answer's registration; Refused for ``Response.Error``, ProvisioningError for a body
    that is not what the protocol says (or does not decrypt with this ProductSecret)."""
    what = "dynamic registration"
    try:
        if len(body) > MAX_BODY:
            raise ValueError(f"the answer is over {MAX_BODY} bytes")
        answer = json.loads(body)
        response = answer["Response"]
        if not isinstance(response, dict):
            raise TypeError("Response is not an object")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ProvisioningError(f'{what}: the answer is not Tencent\'s {{"Response": ...}}: {exc}') from None
    error = response.get("Error")
    if isinstance(error, dict):
        raise Refused(
            str(error.get("Code") or "Unknown"), str(error.get("Message") or "(no Message)"), what=what
        )
    length, payload = response.get("Len"), response.get("Payload")
    if not isinstance(length, int) or isinstance(length, bool) or length <= 0 or not isinstance(payload, str):
        raise ProvisioningError(f"{what}: the answer has no Len and Payload")
    plain = decrypt_payload(product_secret, payload, length)
    try:
        fields = json.loads(plain)
        if not isinstance(fields, dict):
            raise TypeError("not an object")
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ProvisioningError(
            f"{what}: the Payload does not decrypt to JSON: is the ProductSecret right?"
        ) from None
    kind = fields.get("encryptionType")
    if kind == KEY_AUTH and isinstance(fields.get("psk"), str) and fields["psk"]:
        return Registration(KEY_AUTH, fields["psk"])
    if (
        kind == CERT_AUTH
        and isinstance(fields.get("clientCert"), str)
        and isinstance(fields.get("clientKey"), str)
    ):
        return Registration(CERT_AUTH, None, fields["clientCert"], fields["clientKey"])
    raise ProvisioningError(f"{what}: the Payload has encryptionType {kind!r} without its psk or certificate")


def _post(request: HttpRequest, *, ca_file: str | None, timeout: float) -> bytes:
    context = ssl.create_default_context(cafile=ca_file) if request.url.startswith("https:") else None
    http = urllib.request.Request(request.url, data=request.body, headers=request.headers, method="POST")
    try:
        with urllib.request.urlopen(http, timeout=timeout, context=context) as answer:
            body: bytes = answer.read(MAX_BODY + 1)
            return body
    except urllib.error.HTTPError as exc:  # an error status may still carry Tencent's error body
        body = exc.read(MAX_BODY + 1)
        if body.strip().startswith(b"{"):
            return body
        raise ProvisioningError(
            f"dynamic registration: {request.url} answered HTTP {exc.code} {exc.reason}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProvisioningError(f"dynamic registration: cannot reach {request.url}: {reason}") from None


def provision(
    product_id: str,
    device_name: str,
    product_secret: str,
    *,
    url: str = DEFAULT_URL,
    mqtt_host: str | None = None,
    port: int = 8883,
    tls: bool | None = None,
    ca_file: str | None = None,
    explorer: bool = True,
    timeout: float = 30.0,
    store: str | os.PathLike[str] | None = None,
) -> Provisioned:
    """Register ``device_name`` of ``product_id`` with the ProductSecret and return its
    credentials (saved to ``store``, which a later call reads instead of registering again).

    The request goes to ``url`` (HTTPS verified with ``ca_file`` or the system's store); the
    device then connects to ``mqtt_host`` (default ``{ProductId}.iotcloud.tencentdevices.com``)
    on ``port``, TLS unless 1883 (``tls`` says it for other ports). ProvisioningError
    (:class:`Refused` for the service's refusals) when it fails.
    """
    vendor_name = "tencent-explorer" if explorer else "tencent-hub"
    device_id = hub.validate_device_id(f"{product_id}.{device_name}")
    found = stored(store, vendor_name, device_id)
    if found is not None:
        return found
    aes_key(product_secret)
    request = register_request(
        product_id,
        device_name,
        product_secret,
        url=url,
        timestamp=int(time.time()),
        nonce=secrets.randbelow(2**31 - 1),
    )
    registration = read_register_answer(_post(request, ca_file=ca_file, timeout=timeout), product_secret)
    if registration.psk is None:
        raise ProvisioningError(
            f"dynamic registration of {device_id}: the product signs in by certificate, which "
            "Device.for_tencent does not support; give the product key authentication"
        )
    use_tls = port != 1883 if tls is None else tls
    host = mqtt_host or f"{product_id}.iotcloud.tencentdevices.com"
    provisioned = Provisioned(
        vendor_name,
        device_id,
        f"{'mqtts' if use_tls else 'mqtt'}://{host}:{port}",
        registration.psk,
        ca_file=ca_file if use_tls else None,
    )
    log.info("%s registered dynamically", device_id)
    if store is not None:
        provisioned.save(store)
    return provisioned


# --- the platform half ---------------------------------------------------------------------------
@attrs.frozen
class RegisterRequest:
    """A device asked to be registered."""

    product_id: str
    device_name: str

    @property
    def device_id(self) -> str:
        return f"{self.product_id}.{self.device_name}"


def parse_register_request(body: bytes) -> RegisterRequest:
    """The body's ProductId and DeviceName; Refused (``InvalidParameter``...) otherwise."""
    if len(body) > MAX_BODY:
        raise Refused(ERRORS["body"], f"the request body is over {MAX_BODY} bytes")
    try:
        fields = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(ERRORS["body"], "the request body is not JSON") from None
    if not isinstance(fields, dict):
        raise Refused(ERRORS["body"], "the request body must be a JSON object")
    product_id, name = fields.get("ProductId"), fields.get("DeviceName")
    if not isinstance(product_id, str) or not isinstance(name, str):
        raise Refused(ERRORS["body"], "the body needs ProductId and DeviceName (strings)")
    try:
        hub.validate_device_id(f"{product_id}.{name}")
    except InvalidValue as exc:
        raise Refused(ERRORS["value"], str(exc)) from None
    return RegisterRequest(product_id, name)


def verify_request(
    headers: Mapping[str, str],
    host: str,
    body: bytes,
    product_secret: str,
    now: float,
    *,
    max_skew: float = MAX_SKEW,
) -> tuple[int, int]:
    """Check the request's signature with the ProductSecret; ``(timestamp, nonce)`` when it is
    right, else Refused (``AuthFailure.SignatureFailure``, ``AuthFailure.SignatureExpire``,
    ``MissingParameter``). ``headers`` have lowercase names; ``host`` is the request's Host."""
    algorithm = headers.get("x-tc-algorithm", "").strip().lower()
    stamp, nonce, given = (
        headers.get(f"x-tc-{name}", "").strip() for name in ("timestamp", "nonce", "signature")
    )
    if not (algorithm and stamp and nonce and given):
        raise Refused(
            ERRORS["headers"], "X-TC-Algorithm, X-TC-Timestamp, X-TC-Nonce and X-TC-Signature are all needed"
        )
    if algorithm not in ALGORITHMS:
        raise Refused(ERRORS["value"], f"X-TC-Algorithm {algorithm[:20]!r} is not hmacsha256 or hmacsha1")
    if not stamp.isdigit() or len(stamp) > 12 or not nonce.isdigit() or len(nonce) > 20:
        raise Refused(ERRORS["value"], "X-TC-Timestamp and X-TC-Nonce must be integers")
    if abs(int(stamp) - now) > max_skew:
        raise Refused(
            ERRORS["expired"],
            f"X-TC-Timestamp {stamp} is more than {max_skew:g} s from the server's clock ({int(now)})",
        )
    expected = signature(
        product_secret, string_to_sign(host, int(stamp), int(nonce), body, algorithm), algorithm
    )
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Refused(
            ERRORS["signature"], "the signature is not the HMAC of the request with the ProductSecret"
        )
    return int(stamp), int(nonce)


def _answer(fields: Mapping[str, Any], request_id: str) -> bytes:
    return json.dumps({"Response": {**fields, "RequestId": request_id}}, separators=(",", ":")).encode()


def register_answer(product_secret: str, psk: str, request_id: str) -> bytes:
    """The answer carrying ``{"encryptionType": 2, "psk": ...}``, encrypted."""
    plain = json.dumps({"encryptionType": KEY_AUTH, "psk": psk}, separators=(",", ":")).encode()
    return _answer({"Len": len(plain), "Payload": encrypt_payload(product_secret, plain)}, request_id)


def error_answer(refused: Refused, request_id: str) -> bytes:
    """``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}``."""
    return _answer({"Error": {"Code": refused.code, "Message": refused.message}}, request_id)
