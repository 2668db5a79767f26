"""The local cloud as a provisioning service, for the vendor it speaks.

    service = ProvisioningService(groups={"group-1": "<base64 secret>"})
    with LocalCloud(vendor="huawei", registry=registry, provisioning=service) as cloud: ...

- **Huawei bootstrap** (IoTDP): a device signs in to the cloud's broker as a member of a
  registration group (``groups``: scope id -> group secret) or with its bootstrap secret
  (``bootstrap_devices``: device id -> secret), and may then use only its ``bootstrap/up`` and
  ``bootstrap/down``. Its ``bootstrap/up`` is answered with the broker's address (``address``,
  else the cloud's host and port) and a new secret, which the registry (if the cloud has one)
  now holds for it.
- **AWS fleet provisioning by claim**: a client presenting a claim certificate
  (``claim_certificates``: SHA-256 fingerprints; signed by the local CA, like every client
  certificate of the TLS listener) may use only the provisioning topics. CreateKeysAndCertificate
  mints a key and certificate from the local CA (``ca``), CreateCertificateFromCsr signs the
  device's request; each gives an ownership token, single-use, good for ``token_ttl`` seconds,
  at most ``max_pending`` outstanding. RegisterThing with a known template (``templates``)
  names the thing from its parameters and registers the certificate for it. AWS answers each
  reply to the requesting connection only; a plain broker sends it to every subscriber, so with
  a registry one claim connection is served at a time (another is refused, with the reason,
  until it has disconnected).
- **Tencent dynamic registration**: ``POST /device/register`` on the cloud's HTTP server
  (``http_port``), signed with a ProductSecret of ``products``, answers with a new device
  secret, AES-encrypted, and registers the device. Its timestamp must be within five minutes, a
  (timestamp, nonce) pair is accepted once, and a device that has connected already is not
  given a new secret (Tencent's rule).

Without a registry (development mode) the broker lets everyone in, so nobody's provisioning
credential is checked on MQTT (the signature of a Tencent registration still is). What goes to
the feed has secrets, keys and tokens replaced by ``***``; the log never shows them.
:meth:`ProvisioningService.load` reads the JSON file ``thingmodel cloud --provisioning`` takes::

    {"huawei": {"groups": {"group-1": "<base64>"}, "devices": {"dev-1": "<secret>"},
                "address": "127.0.0.1:1883"},
     "aws": {"claim_certificates": ["<sha256 hex>"],
             "templates": {"FleetTemplate": {"thing_name": "ThingPrefix_{SerialNumber}",
                                             "device_configuration": {}}}},
     "tencent": {"products": {"ABCDEFGHIJ": "<ProductSecret>"}}}
"""

from __future__ import annotations

import collections
import datetime
import json
import logging
import os
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import CodecError, InvalidValue, ModelError
from ..ids import validate_id
from ..jsonfile import read_json_file
from ..protocol.messages import Outgoing
from ..provisioning import aws, huawei, tencent
from ..provisioning.aws import ProvisioningTemplate
from ..provisioning.credentials import Refused
from ..vendors import huawei as iotda
from ..vendors import tencent as tencent_iot
from ..vendors import vendor as _vendor
from ..vendors.aws import certificate_sha256, validate_fingerprint
from .access import Admission, ClientLike, check_registry_vendor
from .certificates import make_device_certificate

if TYPE_CHECKING:
    from .local import LocalCloud

log = logging.getLogger("thingmodel.cloud.provisioning")

#: keys whose values the feed never shows
SECRET_KEYS = frozenset({"deviceSecret", "privateKey", "certificateOwnershipToken", "psk", "clientKey"})
_SECTIONS = {
    "huawei": ("groups", "devices", "address"),
    "aws": ("claim_certificates", "templates", "token_ttl"),
    "tencent": ("products",),
}


def redacted(payload: bytes) -> bytes:
    """``payload`` with the values of :data:`SECRET_KEYS` (at its top level) replaced by ``***``."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return payload
    if not isinstance(body, dict) or not SECRET_KEYS & body.keys():
        return payload
    return json.dumps({k: "***" if k in SECRET_KEYS else v for k, v in body.items()}).encode()


@attrs.frozen
class _Pending:
    """A certificate waiting for RegisterThing."""

    fingerprint: str
    certificate_id: str
    expires: float


class ProvisioningService:
    """The provisioning service of one :class:`~thingmodel.cloud.LocalCloud` (module docstring).

    Only the part for the cloud's vendor is used; :meth:`bind` (called by the cloud) says so
    when that part is empty. Handlers run on the cloud's worker (MQTT) and on the HTTP server's
    threads; the broker asks :meth:`admit` on its own thread.
    """

    def __init__(
        self,
        *,
        groups: Mapping[str, str] | None = None,
        bootstrap_devices: Mapping[str, str] | None = None,
        address: str | None = None,
        claim_certificates: Iterable[str] = (),
        templates: Iterable[ProvisioningTemplate] = (),
        ca: tuple[Path, Path] | None = None,
        token_ttl: float = 3600.0,
        max_pending: int = 1000,
        products: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.groups = {validate_id("scope_id", s): _group_secret(s, v) for s, v in (groups or {}).items()}
        self.bootstrap_devices = {
            iotda.validate_device_id(d): iotda.validate_secret(v)
            for d, v in (bootstrap_devices or {}).items()
        }
        self.address = huawei.parse_address(address) if address is not None else None
        self.claims = frozenset(validate_fingerprint(c) for c in claim_certificates)
        self.templates = {t.name: t for t in templates}
        self.ca = ca
        if token_ttl <= 0 or max_pending < 1:
            raise InvalidValue("token_ttl must be positive and max_pending at least 1")
        self.token_ttl, self.max_pending = token_ttl, max_pending
        self.products = {_product_id(p): _product_secret(p, s) for p, s in (products or {}).items()}
        self.clock = clock
        self.cloud: LocalCloud | None = None
        self.module = ""
        self._lock = threading.Lock()  # the registry's changes and saves; the pending tokens
        self._pending: collections.OrderedDict[str, _Pending] = collections.OrderedDict()
        self._nonces: collections.OrderedDict[tuple[str, int, int], float] = collections.OrderedDict()
        self._claim_holder: ClientLike | None = None

    def __repr__(self) -> str:
        parts = [f"{len(self.groups)} groups", f"{len(self.bootstrap_devices)} bootstrap devices"]
        parts += [
            f"{len(self.claims)} claims",
            f"{len(self.templates)} templates",
            f"{len(self.products)} products",
        ]
        return f"ProvisioningService({', '.join(parts)})"

    # -- configuration -------------------------------------------------------------------------
    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, ca: tuple[Path, Path] | None = None
    ) -> ProvisioningService:
        """The service a JSON file describes (module docstring); ModelError naming the file and
        the place when it is missing or wrong."""
        source = str(path)
        data = read_json_file(path)
        return cls.from_json(data, source=source, ca=ca)

    @classmethod
    def from_json(
        cls, data: Any, *, source: str = "", ca: tuple[Path, Path] | None = None
    ) -> ProvisioningService:
        """The service ``data`` (the file's JSON) describes; ModelError naming the place otherwise."""

        def section(name: str) -> dict[str, Any]:
            value = data.get(name) or {}
            if not isinstance(value, dict):
                raise ModelError("expected an object", source=source, location=name)
            for key in value:
                if key not in _SECTIONS[name]:
                    expected = ", ".join(_SECTIONS[name])
                    raise ModelError(
                        f"unknown key (expected {expected})", source=source, location=f"{name}.{key}"
                    )
            return value

        if not isinstance(data, dict) or not set(data) <= set(_SECTIONS):
            raise ModelError("expected an object with huawei, aws and/or tencent", source=source)
        hw, fleet, dynreg = section("huawei"), section("aws"), section("tencent")
        try:
            templates = [_template(name, spec) for name, spec in _mapping(fleet, "templates").items()]
            return cls(
                groups=_mapping(hw, "groups"),
                bootstrap_devices=_mapping(hw, "devices"),
                address=hw.get("address"),
                claim_certificates=fleet.get("claim_certificates") or (),
                templates=templates,
                ca=ca,
                token_ttl=float(fleet.get("token_ttl", 3600.0)),
                products=_mapping(dynreg, "products"),
            )
        except (InvalidValue, TypeError, ValueError) as exc:
            raise ModelError(str(exc), source=source) from None

    def bind(self, cloud: LocalCloud) -> None:
        """Serve ``cloud`` (its vendor's part); InvalidValue when that part is empty."""
        module = _vendor(cloud.vendor).module
        configured = {
            "huawei": bool(self.groups or self.bootstrap_devices),
            "aws": bool(self.claims and self.templates),
            "tencent": bool(self.products),
        }
        if not configured[module]:
            needs = {
                "huawei": "registration groups or bootstrap devices",
                "aws": "claim certificates and templates",
                "tencent": "product secrets",
            }
            raise InvalidValue(f"the provisioning service has no {needs[module]} for a {cloud.vendor} cloud")
        if module == "aws" and self.ca is None:
            raise InvalidValue(
                "AWS fleet provisioning issues certificates from the local CA: give ca=(cert, key) "
                "(`thingmodel cloud` takes it from --tls-dir)"
            )
        if cloud.registry is not None:
            check_registry_vendor(cloud.registry, cloud.vendor)
        self.cloud, self.module = cloud, module

    def describe(self) -> str:
        """What the bound cloud serves, in one line (the CLI's start-up lines say it)."""
        if self.module == "huawei":
            return (
                f"Huawei bootstrap (bootstrap/up) for {len(self.groups)} registration groups and "
                f"{len(self.bootstrap_devices)} bootstrap devices"
            )
        if self.module == "aws":
            names = ", ".join(sorted(self.templates))
            return (
                f"AWS fleet provisioning by claim ({len(self.claims)} claim certificates; templates {names})"
            )
        http = self.cloud.http_url if self.cloud is not None else None
        where = f"{http}{tencent.REGISTER_PATH}" if http else f"{tencent.REGISTER_PATH} (needs http_port)"
        return f"Tencent dynamic registration at {where} for products {', '.join(sorted(self.products))}"

    # -- MQTT ----------------------------------------------------------------------------------
    def subscriptions(self) -> list[str]:
        """What the cloud subscribes to for this service."""
        if self.module == "huawei":
            return ["$oc/devices/+/sys/bootstrap/up"]
        if self.module == "aws":
            return [aws.CREATE, aws.CREATE_FROM_CSR, "$aws/provisioning-templates/+/provision/json"]
        return []

    def handles(self, topic: str) -> bool:
        """True for an uplink this service answers (the cloud hands it over)."""
        if self.module == "huawei":
            return topic.startswith("$oc/devices/") and topic.endswith("/sys/bootstrap/up")
        return self.module == "aws" and aws.request_topic_of(topic) is not None

    def receive(self, topic: str, payload: bytes) -> None:
        """Answer one provisioning request (on the cloud's worker); never raises."""
        device_id = iotda.topic_device(topic) if self.module == "huawei" else None
        self._feed("up", device_id, topic, payload)
        try:
            if self.module == "huawei":
                self._bootstrap(topic, payload)
            else:
                self._fleet(topic, payload)
        except Exception:  # a bug: the device gets no answer, and the log says why
            log.exception("the provisioning request on %s failed", topic)

    def _publish(self, message: Outgoing, device_id: str | None = None) -> None:
        self._feed("down", device_id, message.topic, message.payload)
        cloud = self.cloud
        if cloud is not None and cloud.transport is not None:
            cloud.transport.publish(message)

    def _feed(self, kind: str, device_id: str | None, topic: str, payload: bytes) -> None:
        if self.cloud is not None:
            self.cloud.feed.add(kind, device_id, topic, redacted(payload))

    def _register(self, device_id: str, secret: str | None = None, *, cert_sha256: str | None = None) -> None:
        """Make the registry (if any) hold this credential for ``device_id``, saved at once."""
        registry = self.cloud.registry if self.cloud is not None else None
        if registry is None:
            return
        with self._lock:
            registry.add(device_id, secret, cert_sha256=cert_sha256, replace=True)
            registry.save()

    # -- Huawei bootstrap ----------------------------------------------------------------------
    def _bootstrap(self, topic: str, payload: bytes) -> None:
        try:
            request = huawei.parse_bootstrap_request(topic, payload)
        except CodecError as exc:  # IoTDA defines no error answer: the device times out
            log.warning("bootstrap request on %s not answered: %s", topic, exc)
            return
        assert request is not None
        if request.static_policy is not None:
            log.info(
                "bootstrap of %s with static policy %s", request.device_id, sorted(request.static_policy)
            )
        secret = iotda.new_secret()
        try:
            self._register(request.device_id, secret)
        except (InvalidValue, ModelError) as exc:
            log.error("bootstrap of %s not answered: the registry refused it: %s", request.device_id, exc)
            return
        host, port = self._broker_address()
        self._publish(huawei.bootstrap_answer(request.device_id, host, port, secret), request.device_id)
        log.info("bootstrapped %s: sent to %s:%s with a new secret", request.device_id, host, port)

    def _broker_address(self) -> tuple[str, int]:
        if self.address is not None:
            return self.address
        assert self.cloud is not None
        host = self.cloud.host
        return ("127.0.0.1" if host in ("0.0.0.0", "", "::") else host), self.cloud.port

    # -- AWS fleet provisioning ----------------------------------------------------------------
    def _fleet(self, topic: str, payload: bytes) -> None:
        try:
            request = aws.parse_request(topic, payload)
            if isinstance(request, aws.CreateKeys):
                answer = self._create_keys()
            elif isinstance(request, aws.CreateFromCsr):
                answer = self._create_from_csr(request.csr_pem)
            else:
                assert isinstance(request, aws.RegisterThing)
                answer = self._register_thing(request)
        except Refused as refused:
            log.info("fleet provisioning: %s rejected: %s %s", topic, refused.code, refused.message)
            answer = aws.rejected(topic, refused)
        self._publish(answer)

    def _issue_token(self, fingerprint: str, certificate_id: str) -> str:
        now = self.clock()
        with self._lock:
            for token in [t for t, p in self._pending.items() if p.expires <= now]:
                del self._pending[token]
            if len(self._pending) >= self.max_pending:
                raise aws.refusal(
                    "throttled", f"{len(self._pending)} certificates await RegisterThing; retry later"
                )
            token = secrets.token_urlsafe(32)
            self._pending[token] = _Pending(fingerprint, certificate_id, now + self.token_ttl)
        return token

    def _create_keys(self) -> Outgoing:
        assert self.ca is not None
        with tempfile.TemporaryDirectory(prefix="thingmodel-provisioning-") as folder:
            cert_path, key_path = make_device_certificate(folder, self.ca, f"thing-{secrets.token_hex(8)}")
            cert_pem, key_pem = cert_path.read_text(encoding="ascii"), key_path.read_text(encoding="ascii")
        fingerprint = _fingerprint(cert_pem)
        token = self._issue_token(fingerprint, fingerprint)
        log.info("fleet provisioning: certificate %s made, awaiting RegisterThing", fingerprint[:16])
        return aws.certificate_accepted(fingerprint, cert_pem, key_pem, token)

    def _create_from_csr(self, csr_pem: str) -> Outgoing:
        assert self.ca is not None
        cert_pem = sign_csr(self.ca, csr_pem)
        fingerprint = _fingerprint(cert_pem)
        token = self._issue_token(fingerprint, fingerprint)
        log.info("fleet provisioning: certificate %s signed from a CSR", fingerprint[:16])
        return aws.certificate_accepted(fingerprint, cert_pem, None, token, from_csr=True)

    def _register_thing(self, request: aws.RegisterThing) -> Outgoing:
        template = self.templates.get(request.template)
        if template is None:
            raise aws.refusal("template", f"provisioning template {request.template} does not exist")
        with self._lock:
            pending = self._pending.get(request.token)
        if pending is None or pending.expires <= self.clock():
            raise aws.refusal("token", "Certificate ownership token is invalid, used or expired.")
        thing = template.thing_for(request.parameters)
        try:
            self._register(thing, cert_sha256=pending.fingerprint)
        except (InvalidValue, ModelError) as exc:
            raise aws.refusal("internal", f"the registry refused thing {thing}: {exc}") from None
        with self._lock:
            self._pending.pop(request.token, None)
        log.info(
            "fleet provisioning: thing %s registered (certificate %s)", thing, pending.certificate_id[:16]
        )
        return aws.register_accepted(template.name, thing, template.device_configuration)

    # -- Tencent dynamic registration ----------------------------------------------------------
    def register_tencent(self, host: str, headers: Mapping[str, str], body: bytes) -> bytes:
        """Answer ``POST /device/register`` (``headers`` with lowercase names, ``host`` its Host
        header): the encrypted answer, or Tencent's error envelope."""
        request_id = str(uuid.uuid4())
        try:
            request = tencent.parse_register_request(body)
            product_secret = self.products.get(request.product_id)
            if product_secret is None:
                raise Refused(
                    tencent.ERRORS["product"],
                    f"product {request.product_id} does not exist or has no dynamic registration here",
                )
            now = self.clock()
            stamp, nonce = tencent.verify_request(headers, host, body, product_secret, now)
            self._first_use((request.product_id, stamp, nonce), now)
            if self._has_connected(request.device_id):
                raise Refused(
                    tencent.ERRORS["activated"],
                    f"device {request.device_name} has connected already: its secret is not issued again",
                )
            psk = tencent_iot.new_secret()
            try:
                self._register(request.device_id, psk)
            except (InvalidValue, ModelError) as exc:
                raise Refused(tencent.ERRORS["internal"], f"the registry refused the device: {exc}") from None
        except Refused as refused:
            log.info("dynamic registration refused (%s): %s", refused.code, refused.message)
            return tencent.error_answer(refused, request_id)
        log.info("registered %s dynamically", request.device_id)
        return tencent.register_answer(product_secret, psk, request_id)

    def _first_use(self, key: tuple[str, int, int], now: float) -> None:
        with self._lock:
            while self._nonces and next(iter(self._nonces.values())) < now - 2 * tencent.MAX_SKEW:
                self._nonces.popitem(last=False)
            if key in self._nonces:
                raise Refused(tencent.ERRORS["replayed"], "this timestamp and nonce were used already")
            self._nonces[key] = now
            while len(self._nonces) > 100_000:
                self._nonces.popitem(last=False)

    def _has_connected(self, device_id: str) -> bool:
        cloud = self.cloud
        if cloud is None:
            return False
        if cloud.presence.summary(device_id) is not None:
            return True
        with cloud.turn():
            return bool(cloud.platform.shadow(device_id))

    # -- the broker's questions ----------------------------------------------------------------
    def admit(self, client: ClientLike, peer: bytes | None, now: float) -> Admission | None:
        """The admission of a client signing in with a bootstrap or claim credential (None: it
        presents none). Asked by the broker's policy when the registry refuses the client."""
        if self.module == "huawei":
            return self._admit_bootstrap(client, now)
        if self.module == "aws" and peer and certificate_sha256(peer) in self.claims:
            holder = self._claim_holder
            what = "claim certificate"
            if holder is not None and holder.client_id != client.client_id:
                reason = (
                    f"client {holder.client_id!r} is provisioning with a claim now; the local cloud serves "
                    "one claim connection at a time (AWS's answers share topics): retry when it is done"
                )
                return Admission(what, reason=reason)
            self._claim_holder = client
            publish = (aws.CREATE, aws.CREATE_FROM_CSR, "$aws/provisioning-templates/+/provision/json")
            return Admission(what, publish, tuple(f"{topic}/+" for topic in publish))
        return None

    def _admit_bootstrap(self, client: ClientLike, now: float) -> Admission | None:
        group = huawei.parse_group_client_id(client.client_id, client.username)
        if group is not None:
            device_id, scope_id, _ = group
            what = f"registration group {scope_id!r}"
            secret = self.groups.get(scope_id)
            if secret is None:
                return Admission(what, reason="no such registration group")
            reason = huawei.check_group_credentials(
                secret, client.client_id, client.username, client.password
            )
        else:
            device_id = iotda.identify(client.client_id, client.username) or ""
            bootstrap_secret = self.bootstrap_devices.get(device_id)
            if bootstrap_secret is None:
                return None
            what = "bootstrap secret"
            reason = iotda.check_credentials(bootstrap_secret, client.client_id, client.password, now)
        return Admission(what, (huawei.up_topic(device_id),), (huawei.down_topic(device_id),), reason)

    @property
    def claim_holder(self) -> str | None:
        """The client id of the claim connection being served (None: a claim may connect)."""
        holder = self._claim_holder
        return None if holder is None else holder.client_id

    def released(self, client: ClientLike) -> None:
        """A client :meth:`admit` let in has disconnected."""
        if self._claim_holder is client:
            self._claim_holder = None


def sign_csr(ca: tuple[Path, Path], csr_pem: str, *, days: int = 365) -> str:
    """A client certificate for the key of a PEM CSR, signed by ``ca`` (a
    :func:`~thingmodel.cloud.certificates.make_ca` pair); Refused ``InvalidCertificateSigningRequest``
    for a CSR that does not parse or whose signature is wrong."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        request = x509.load_pem_x509_csr(csr_pem.encode())
        valid = request.is_signature_valid
        public_key = request.public_key()
    except (ValueError, TypeError):
        raise aws.refusal(
            "csr", "certificateSigningRequest is not a PEM certificate signing request"
        ) from None
    if not valid:
        raise aws.refusal("csr", "the certificate signing request's signature is wrong")
    if not isinstance(public_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise aws.refusal("csr", "the key must be an EC or RSA key")
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 2048:
        raise aws.refusal("csr", f"an RSA key of {public_key.key_size} bits is too small (at least 2048)")
    ca_cert = x509.load_pem_x509_certificate(ca[0].read_bytes())
    ca_key = serialization.load_pem_private_key(ca[1].read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise InvalidValue(f"{ca[1]} is not a key made by make_ca (an EC key)")
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _fingerprint(cert_pem: str) -> str:
    import ssl

    return certificate_sha256(ssl.PEM_cert_to_DER_cert(cert_pem))


def _mapping(section: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = section.get(name) or {}
    if not isinstance(value, dict):
        raise InvalidValue(f"{name} must be an object")
    return value


def _template(name: str, spec: object) -> ProvisioningTemplate:
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("thing_name"), str)
        or set(spec) - _TEMPLATE_KEYS
    ):
        raise InvalidValue(
            f"template {name!r} must be an object with thing_name (e.g. ThingPrefix_{{SerialNumber}}) "
            "and optionally device_configuration"
        )
    configuration = spec.get("device_configuration") or {}
    if not isinstance(configuration, dict):
        raise InvalidValue(f"template {name!r}: device_configuration must be an object")
    return ProvisioningTemplate(name, spec["thing_name"], configuration)


_TEMPLATE_KEYS = frozenset({"thing_name", "device_configuration"})


def _group_secret(scope_id: str, secret: object) -> str:
    if not isinstance(secret, str):
        raise InvalidValue(f"the secret of registration group {scope_id!r} must be a string")
    huawei.derived_secret("check", secret)  # InvalidValue (no secret shown) unless base64
    return secret


def _product_id(product_id: object) -> str:
    tencent_iot.validate_device_id(f"{product_id}.check")
    assert isinstance(product_id, str)
    return product_id


def _product_secret(product_id: str, secret: object) -> str:
    if not isinstance(secret, str):
        raise InvalidValue(f"the ProductSecret of {product_id} must be a string")
    tencent.aes_key(secret)
    return secret
