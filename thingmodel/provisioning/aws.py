"""AWS IoT fleet provisioning by claim: both ends, sans-IO, and ``provision()``.

The wire (aws-more.md 2; the v2 SDK's ``awsiot/iotidentity.py``), JSON only (the ``cbor``
topics are not served):

- CreateKeysAndCertificate: ``{}`` on ``$aws/certificates/create/json``; accepted:
  ``{"certificateId", "certificatePem", "privateKey", "certificateOwnershipToken"}``.
- CreateCertificateFromCsr (the key never leaves the device): ``{"certificateSigningRequest"}``
  on ``$aws/certificates/create-from-csr/json``; accepted: the same without ``privateKey``.
- RegisterThing: ``{"certificateOwnershipToken", "parameters": {...}}`` on
  ``$aws/provisioning-templates/{template}/provision/json``; accepted: ``{"deviceConfiguration":
  {...}, "thingName"}``.
- Each answer comes on the request topic plus ``/accepted`` or ``/rejected``; a rejection is
  ``{"statusCode": 400, "errorCode": "...", "errorMessage": "..."}``. The device subscribes to
  both before it publishes.

The device signs in with the claim certificate, asks for a certificate, registers the thing,
stores the new certificate and key, and reconnects with them. AWS documents one error code
(``InvalidCertificateOwnershipToken``, 400); the others the platform half sends are ours and
named in :data:`ERRORS`.
"""

from __future__ import annotations

import logging
import os
import re
import string
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..errors import CodecError, InvalidValue
from ..protocol.jsonwire import dumps, loads_object, require_finite
from ..protocol.messages import Outgoing
from ..transport import TlsOptions
from ..vendors.aws import MAX_PAYLOAD, validate_thing_name
from .credentials import Provisioned, ProvisioningError, Refused, stored, write_secret_file
from .session import MqttExchange

log = logging.getLogger("thingmodel.provisioning")

VENDOR = "aws"
CREATE = "$aws/certificates/create/json"
CREATE_FROM_CSR = "$aws/certificates/create-from-csr/json"
ACCEPTED, REJECTED = "/accepted", "/rejected"
_TEMPLATE = re.compile(r"[0-9A-Za-z_-]{1,36}")
_PROVISION = re.compile(r"\$aws/provisioning-templates/(?P<template>[^/]+)/provision/json")

#: ``(statusCode, errorCode)`` of each refusal the platform half sends; only the token's is AWS's
#: documented one, the others are ours
ERRORS = {
    "token": (400, "InvalidCertificateOwnershipToken"),
    "payload": (400, "InvalidPayload"),
    "parameters": (400, "InvalidParameters"),
    "csr": (400, "InvalidCertificateSigningRequest"),
    "template": (404, "ResourceNotFoundException"),
    "throttled": (429, "ThrottlingException"),
    "internal": (500, "InternalFailure"),
}


def refusal(kind: str, message: str) -> Refused:
    """The refusal ``kind`` of :data:`ERRORS` with ``message``."""
    status, code = ERRORS[kind]
    return Refused(code, message, status=status)


def validate_template_name(name: object) -> str:
    """A provisioning template's name: 1..36 of ``[0-9A-Za-z_-]`` (InvalidValue otherwise)."""
    if isinstance(name, str) and _TEMPLATE.fullmatch(name):
        return name
    raise InvalidValue(f"provisioning template name {name!r} must be 1..36 characters of 0-9 A-Z a-z _ -")


def provision_topic(template: str) -> str:
    return f"$aws/provisioning-templates/{validate_template_name(template)}/provision/json"


def answer_topics(request_topic: str) -> tuple[str, str]:
    """``(accepted, rejected)`` of a request topic."""
    return request_topic + ACCEPTED, request_topic + REJECTED


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise CodecError(f"missing or empty {name!r}")
    return value


# --- the device half -----------------------------------------------------------------------------
def create_keys_request() -> Outgoing:
    """CreateKeysAndCertificate (the v2 SDK publishes ``{}``)."""
    return Outgoing(CREATE, b"{}")


def create_from_csr_request(csr_pem: str) -> Outgoing:
    """CreateCertificateFromCsr with a PEM certificate signing request."""
    if "BEGIN CERTIFICATE REQUEST" not in csr_pem:
        raise InvalidValue("a certificate signing request must be PEM (-----BEGIN CERTIFICATE REQUEST-----)")
    return Outgoing(CREATE_FROM_CSR, dumps({"certificateSigningRequest": csr_pem}))


def register_thing_request(
    template: str, token: str, parameters: Mapping[str, str] | None = None
) -> Outgoing:
    """RegisterThing with the ownership token of the new certificate and the template's parameters."""
    params = dict(parameters or {})
    for name, value in params.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidValue(f"template parameter {name!r} must be a string (AWS parameters are strings)")
    body: dict[str, Any] = {"certificateOwnershipToken": token}
    if params:
        body["parameters"] = params
    return Outgoing(provision_topic(template), dumps(body))


@attrs.frozen
class NewCertificate:
    """The answer to CreateKeysAndCertificate (``private_key`` None after a CSR)."""

    certificate_id: str
    certificate_pem: str
    private_key: str | None = attrs.field(repr=False)
    ownership_token: str = attrs.field(repr=False)


@attrs.frozen
class ThingRegistered:
    """The answer to RegisterThing."""

    thing_name: str
    device_configuration: dict[str, Any]


def _read_answer(what: str, topic: str, payload: bytes, request_topic: str) -> dict[str, Any]:
    accepted, rejected = answer_topics(request_topic)
    try:
        body = loads_object(payload, limit=MAX_PAYLOAD)
    except CodecError as exc:
        raise ProvisioningError(f"{what}: a bad answer on {topic}: {exc}") from None
    if topic == rejected:
        status, code, message = body.get("statusCode"), body.get("errorCode"), body.get("errorMessage")
        raise Refused(
            str(code) if code else "Unknown",
            str(message) if message else "(no errorMessage)",
            status=status if isinstance(status, int) and not isinstance(status, bool) else None,
            what=what,
        )
    if topic != accepted:
        raise ProvisioningError(f"{what}: an answer on {topic!r}, not on {accepted}")
    return body


def read_certificate_answer(topic: str, payload: bytes, *, from_csr: bool = False) -> NewCertificate:
    """The answer to CreateKeysAndCertificate (or CreateCertificateFromCsr); Refused on its
    ``/rejected`` topic, ProvisioningError when it lacks what a device needs."""
    request = CREATE_FROM_CSR if from_csr else CREATE
    what = "CreateCertificateFromCsr" if from_csr else "CreateKeysAndCertificate"
    body = _read_answer(what, topic, payload, request)
    try:
        certificate = NewCertificate(
            _text(body, "certificateId"),
            _text(body, "certificatePem"),
            None if from_csr else _text(body, "privateKey"),
            _text(body, "certificateOwnershipToken"),
        )
    except CodecError as exc:
        raise ProvisioningError(f"{what}: a bad answer: {exc}") from None
    if "BEGIN CERTIFICATE" not in certificate.certificate_pem:
        raise ProvisioningError(f"{what}: a bad answer: certificatePem is not a PEM certificate")
    if certificate.private_key is not None and "PRIVATE KEY" not in certificate.private_key:
        raise ProvisioningError(f"{what}: a bad answer: privateKey is not a PEM private key")
    return certificate


def read_register_answer(template: str, topic: str, payload: bytes) -> ThingRegistered:
    """The answer to RegisterThing; Refused on its ``/rejected`` topic."""
    body = _read_answer("RegisterThing", topic, payload, provision_topic(template))
    try:
        name = validate_thing_name(_text(body, "thingName"))
    except (CodecError, InvalidValue) as exc:
        raise ProvisioningError(f"RegisterThing: a bad answer: {exc}") from None
    configuration = body.get("deviceConfiguration") or {}
    if not isinstance(configuration, dict):
        raise ProvisioningError("RegisterThing: a bad answer: deviceConfiguration is not an object")
    return ThingRegistered(name, configuration)


def _key_and_csr(common_name: str) -> tuple[bytes, str]:
    """A new EC P-256 key (PEM, PKCS#8) and a CSR for it."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        raise ProvisioningError(
            "a certificate signing request needs the cryptography package: "
            "pip install 'thingmodel[provisioning]'"
        ) from None
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, request.public_bytes(serialization.Encoding.PEM).decode()


def provision(
    endpoint: str,
    *,
    claim_cert: str,
    claim_key: str,
    template: str,
    parameters: Mapping[str, str] | None = None,
    port: int = 8883,
    ca_file: str | None = None,
    csr: bool = False,
    client_id: str | None = None,
    timeout: float = 30.0,
    store: str | os.PathLike[str] | None = None,
    directory: str | os.PathLike[str] | None = None,
) -> Provisioned:
    """Provision a thing by claim on ``endpoint`` and return its credentials (saved to
    ``store``, which a later call reads instead of provisioning again).

    Signs in with the claim certificate and key (mutual TLS, the broker verified with
    ``ca_file`` or the system's store), asks for a certificate (``csr=True``: from a key made
    here, which never leaves the device), registers the thing with ``template`` and its
    ``parameters``, and writes ``{thing}.cert.pem`` and ``{thing}.private.key`` (mode 0600)
    into ``directory`` (default: the store's). ProvisioningError (:class:`Refused` for the
    service's refusals) when a step fails or gets no answer within ``timeout`` seconds.
    """
    found = stored(store, VENDOR)
    if found is not None:
        return found
    validate_template_name(template)
    register_thing_request(template, "-", parameters)  # bad parameters fail before connecting
    folder = Path(directory) if directory is not None else Path(store).parent if store is not None else None
    if folder is None:
        raise InvalidValue("give store= or directory=: the thing's certificate and key are written there")
    client = client_id or f"provision-{uuid.uuid4().hex[:16]}"
    key_pem: bytes | None = None
    request = create_keys_request()
    if csr:
        key_pem, csr_pem = _key_and_csr(client)
        request = create_from_csr_request(csr_pem)
    register = provision_topic(template)
    broker = f"mqtts://{endpoint}:{port}"
    options = TlsOptions(ca_file, claim_cert, claim_key)
    with MqttExchange(
        broker, lambda: (client, None, None), tls=options, timeout=timeout, what="fleet provisioning"
    ) as x:
        x.subscribe([*answer_topics(request.topic), *answer_topics(register)])
        topic, payload = x.ask(request, answer_topics(request.topic))
        certificate = read_certificate_answer(topic, payload, from_csr=csr)
        topic, payload = x.ask(
            register_thing_request(template, certificate.ownership_token, parameters), answer_topics(register)
        )
    thing = read_register_answer(template, topic, payload)
    key = key_pem if key_pem is not None else (certificate.private_key or "").encode()
    cert_path, key_path = folder / f"{thing.thing_name}.cert.pem", folder / f"{thing.thing_name}.private.key"
    write_secret_file(key_path, key, private=True)
    write_secret_file(cert_path, certificate.certificate_pem.encode(), private=False)
    provisioned = Provisioned(
        VENDOR,
        thing.thing_name,
        broker,
        cert_file=str(cert_path),
        key_file=str(key_path),
        ca_file=ca_file,
        extra={
            "certificateId": certificate.certificate_id,
            "deviceConfiguration": thing.device_configuration,
        },
    )
    log.info("thing %s provisioned (certificate %s)", thing.thing_name, certificate.certificate_id[:16])
    if store is not None:
        provisioned.save(store)
    return provisioned


# --- the platform half ---------------------------------------------------------------------------
@attrs.frozen
class CreateKeys:
    """A device asked for a new key and certificate."""


@attrs.frozen
class CreateFromCsr:
    """A device asked for a certificate for its own key."""

    csr_pem: str


@attrs.frozen
class RegisterThing:
    """A device asked to register a thing with a template."""

    template: str
    token: str = attrs.field(repr=False)
    parameters: dict[str, str]


ProvisioningRequest = CreateKeys | CreateFromCsr | RegisterThing


def request_topic_of(topic: str) -> str | None:
    """The request topic when ``topic`` is one of fleet provisioning's (None otherwise)."""
    if topic in (CREATE, CREATE_FROM_CSR) or _PROVISION.fullmatch(topic):
        return topic
    return None


def parse_request(topic: str, payload: bytes) -> ProvisioningRequest | None:
    """The request on a fleet-provisioning topic (None for any other); Refused (``InvalidPayload``,
    ``ResourceNotFoundException`` for a bad template name, ...) for one the service must reject."""
    if request_topic_of(topic) is None:
        return None
    try:
        body = loads_object(payload, limit=MAX_PAYLOAD) if payload.strip() else {}
    except CodecError as exc:
        raise refusal("payload", str(exc)) from None
    if topic == CREATE:
        return CreateKeys()
    if topic == CREATE_FROM_CSR:
        csr_pem = body.get("certificateSigningRequest")
        if not isinstance(csr_pem, str) or "BEGIN CERTIFICATE REQUEST" not in csr_pem:
            raise refusal("csr", "certificateSigningRequest must be a PEM certificate signing request")
        return CreateFromCsr(csr_pem)
    match = _PROVISION.fullmatch(topic)
    assert match is not None
    try:
        template = validate_template_name(match["template"])
    except InvalidValue as exc:
        raise refusal("template", str(exc)) from None
    token = body.get("certificateOwnershipToken")
    if not isinstance(token, str) or not token:
        raise refusal("token", "Certificate ownership token cannot be empty.")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
        raise refusal("parameters", "parameters must be an object of strings")
    return RegisterThing(template, token, parameters)


def certificate_accepted(
    certificate_id: str, certificate_pem: str, private_key: str | None, token: str, *, from_csr: bool = False
) -> Outgoing:
    body: dict[str, Any] = {
        "certificateId": certificate_id,
        "certificatePem": certificate_pem,
        "certificateOwnershipToken": token,
    }
    if private_key is not None:
        body["privateKey"] = private_key
    return Outgoing((CREATE_FROM_CSR if from_csr else CREATE) + ACCEPTED, dumps(body))


def register_accepted(template: str, thing_name: str, device_configuration: Mapping[str, Any]) -> Outgoing:
    body = {"deviceConfiguration": dict(device_configuration), "thingName": thing_name}
    return Outgoing(provision_topic(template) + ACCEPTED, dumps(body))


def rejected(request_topic: str, refused: Refused) -> Outgoing:
    """The ``/rejected`` answer to a request: ``{statusCode, errorCode, errorMessage}``."""
    body = {"statusCode": refused.status or 400, "errorCode": refused.code, "errorMessage": refused.message}
    return Outgoing(request_topic + REJECTED, dumps(body))


def _placeholders(pattern: str) -> tuple[str, ...]:
    names = []
    for _, name, spec, conversion in string.Formatter().parse(pattern):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise InvalidValue(f"thing name template {pattern!r}: {{{name}}} must be a plain parameter name")
        names.append(name)
    return tuple(dict.fromkeys(names))


@attrs.frozen
class ProvisioningTemplate:
    """A provisioning template as the local cloud keeps it: the thing name made from the
    parameters (``ThingPrefix_{SerialNumber}``, AWS's sample template) and the
    ``deviceConfiguration`` returned."""

    name: str = attrs.field(converter=validate_template_name)
    thing_name: str = "ThingPrefix_{SerialNumber}"
    device_configuration: Mapping[str, Any] = attrs.field(factory=dict)
    parameters: tuple[str, ...] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "parameters", _placeholders(self.thing_name))
        require_finite(dict(self.device_configuration), "deviceConfiguration")

    def thing_for(self, parameters: Mapping[str, str]) -> str:
        """The thing name for these parameters; Refused ``InvalidParameters`` when one is missing
        or the name is not a valid thing name."""
        missing = [name for name in self.parameters if not parameters.get(name)]
        if missing:
            raise refusal("parameters", f"template {self.name} needs the parameters {', '.join(missing)}")
        name = self.thing_name.format_map({key: parameters[key] for key in self.parameters})
        try:
            return validate_thing_name(name)
        except InvalidValue as exc:
            raise refusal("parameters", f"template {self.name}: {exc}") from None
