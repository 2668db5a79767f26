"""The local cloud's provisioning service, without a broker: its configuration, what it answers
(recorded instead of published), what it registers, and what the broker policy lets in."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

import attrs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from thingmodel.brokers.policy import ClientInfo
from thingmodel.cloud import LocalCloud
from thingmodel.cloud.certificates import certificate_fingerprint, local_pki, make_device_certificate
from thingmodel.cloud.provisioning import ProvisioningService, redacted, sign_csr
from thingmodel.cloud.registry import Registry
from thingmodel.errors import InvalidValue, ModelError
from thingmodel.protocol.messages import Outgoing
from thingmodel.provisioning import ProvisioningTemplate, Refused, aws, huawei, tencent
from thingmodel.vendors import huawei as iotda

GROUP_SECRET = base64.b64encode(b"group-secret-of-the-test").decode()
PRODUCT, PRODUCT_SECRET = "ABCDEFGHIJ", "product-secret-0123456789"
STAMP = "2019122614"


class Recorder:
    """Stands in for the cloud's MQTT transport: keeps what the service publishes."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    def publish(self, message: Outgoing) -> None:
        self.sent.append(message)

    def last(self) -> tuple[str, dict[str, Any]]:
        message = self.sent[-1]
        return message.topic, json.loads(message.payload)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def bound(
    vendor: str, service: ProvisioningService, registry: Registry | None
) -> tuple[LocalCloud, Recorder]:
    cloud = LocalCloud(vendor=vendor, registry=registry, provisioning=service)
    recorder = Recorder()
    cloud.transport = recorder  # type: ignore[assignment]
    return cloud, recorder


def client(
    client_id: str, username: str | None = None, password: str | None = None, cert: bytes | None = None
) -> ClientInfo:
    return ClientInfo(client_id, username, password, "127.0.0.1:5000", 4, cert)


# -- configuration --------------------------------------------------------------------------------
def test_the_file_describes_every_vendors_part(tmp_path: Path) -> None:
    path = tmp_path / "provisioning.json"
    path.write_text(
        json.dumps(
            {
                "huawei": {
                    "groups": {"g1": GROUP_SECRET},
                    "devices": {"dev-9": "bootstrap-9"},
                    "address": "h:1",
                },
                "aws": {
                    "claim_certificates": ["AB" * 32],
                    "templates": {"FleetTemplate": {"thing_name": "ThingPrefix_{SerialNumber}"}},
                },
                "tencent": {"products": {PRODUCT: PRODUCT_SECRET}},
            }
        )
    )
    service = ProvisioningService.load(path)
    assert service.groups == {"g1": GROUP_SECRET} and service.bootstrap_devices == {"dev-9": "bootstrap-9"}
    assert service.address == ("h", 1) and service.claims == {"ab" * 32}
    assert list(service.templates) == ["FleetTemplate"] and service.products == {PRODUCT: PRODUCT_SECRET}
    assert GROUP_SECRET not in repr(service) and PRODUCT_SECRET not in repr(service)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"azure": {}}, "expected an object with huawei, aws and/or tencent"),
        ({"huawei": {"group": {}}}, "unknown key"),
        ({"huawei": {"groups": {"g1": "not base64!"}}}, "must be base64"),
        ({"huawei": {"devices": {"a/b": "s"}}}, "contains a slash"),
        ({"aws": {"claim_certificates": ["beef"]}}, "is not a SHA-256 fingerprint"),
        ({"aws": {"templates": {"T": {"name": "x"}}}}, "must be an object with thing_name"),
        ({"aws": {"templates": {"bad name": {"thing_name": "x"}}}}, "provisioning template name"),
        ({"tencent": {"products": {PRODUCT: "short"}}}, "at least 16"),
        ({"tencent": {"products": {"abc": PRODUCT_SECRET}}}, "must be 10 characters"),
    ],
)
def test_a_wrong_file_is_a_model_error_naming_the_place(data: Any, message: str) -> None:
    with pytest.raises(ModelError, match=message) as caught:
        ProvisioningService.from_json(data, source="prov.json")
    assert "prov.json" in str(caught.value) and "not base64!" not in str(caught.value)


def test_a_cloud_whose_vendor_part_is_empty_says_what_it_lacks() -> None:
    with pytest.raises(InvalidValue, match="no registration groups or bootstrap devices for a huawei cloud"):
        LocalCloud(vendor="huawei", provisioning=ProvisioningService(products={PRODUCT: PRODUCT_SECRET}))
    fleet = ProvisioningService(claim_certificates=["ab" * 32], templates=[ProvisioningTemplate("T")])
    with pytest.raises(InvalidValue, match="give ca=\\(cert, key\\)"):
        LocalCloud(vendor="aws", provisioning=fleet)


def test_the_feed_never_shows_a_secret_key_or_token() -> None:
    shown = json.loads(
        redacted(
            b'{"address": "h:1", "deviceSecret": "s", "privateKey": "k", "certificateOwnershipToken": "t"}'
        )
    )
    assert shown == {
        "address": "h:1",
        "deviceSecret": "***",
        "privateKey": "***",
        "certificateOwnershipToken": "***",
    }
    assert redacted(b"not json") == b"not json"


# -- Huawei bootstrap -----------------------------------------------------------------------------
@pytest.fixture
def huawei_registry(tmp_path: Path) -> Registry:
    registry = Registry.new(tmp_path / "registry.json", "huawei")
    registry.save()
    return registry


def test_a_bootstrap_request_is_answered_with_the_address_and_a_new_secret_the_registry_holds(
    huawei_registry: Registry,
) -> None:
    service = ProvisioningService(groups={"g1": GROUP_SECRET}, address="127.0.0.1:18830")
    cloud, sent = bound("huawei", service, huawei_registry)
    service.receive(huawei.up_topic("dev-1"), b'{"baseStrategyKeyword": "1111"}')
    topic, body = sent.last()
    assert topic == huawei.down_topic("dev-1") and body["address"] == "127.0.0.1:18830"
    assert (
        huawei_registry.get("dev-1") is not None
        and huawei_registry.get("dev-1").secret == body["deviceSecret"]
    )
    on_disk = json.loads(huawei_registry.path.read_text())["devices"]["dev-1"]["secret"]
    assert on_disk == body["deviceSecret"] and stat.S_IMODE(huawei_registry.path.stat().st_mode) == 0o600
    shown = [entry.as_json() for entry in cloud.feed.recent("dev-1")]
    assert [entry["kind"] for entry in shown] == ["up", "down"]
    assert '"deviceSecret": "***"' in shown[1]["payload"]
    assert all(body["deviceSecret"] not in json.dumps(entry) for entry in shown)


def test_the_address_defaults_to_the_clouds_own() -> None:
    service = ProvisioningService(groups={"g1": GROUP_SECRET})
    cloud, sent = bound("huawei", service, None)
    service.receive(huawei.up_topic("dev-1"), b"")
    assert sent.last()[1]["address"] == f"{cloud.host}:{cloud.port}"


def test_a_malformed_bootstrap_request_gets_no_answer_and_registers_nothing(
    huawei_registry: Registry,
) -> None:
    service = ProvisioningService(groups={"g1": GROUP_SECRET})
    _, sent = bound("huawei", service, huawei_registry)
    service.receive(huawei.up_topic("dev-1"), b"[1, 2]")
    assert sent.sent == [] and "dev-1" not in huawei_registry


def group_client(device_id: str, group_secret: str, scope: str = "g1") -> ClientInfo:
    client_id, username, password = huawei.bootstrap_credentials(
        device_id, STAMP, scope_id=scope, group_secret=group_secret
    )
    return client(client_id, username, password)


def test_the_policy_lets_a_group_member_onto_its_bootstrap_topics_only(huawei_registry: Registry) -> None:
    service = ProvisioningService(groups={"g1": GROUP_SECRET})
    cloud, _ = bound("huawei", service, huawei_registry)
    member = group_client("dev-1", GROUP_SECRET)
    policy = cloud.policy
    assert policy.authenticate(member) is None
    assert policy.implicit_subscriptions(member) == []
    assert policy.may_publish(member, huawei.up_topic("dev-1"))
    assert not policy.may_publish(member, "$oc/devices/dev-1/sys/properties/report")
    assert not policy.may_publish(member, huawei.up_topic("dev-2"))
    assert policy.may_subscribe(member, huawei.down_topic("dev-1"))
    assert not policy.may_subscribe(member, "$oc/devices/dev-1/sys/#")
    policy.connected(member)
    assert cloud.presence.summary("dev-1") is None  # being provisioned is not being online
    policy.disconnected(member)
    assert not policy.may_publish(member, huawei.up_topic("dev-1"))


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (group_client("dev-1", base64.b64encode(b"another group's secret").decode()), "wrong password"),
        (group_client("dev-1", GROUP_SECRET, scope="g2"), "no such registration group"),
    ],
)
def test_the_policy_refuses_a_wrong_group_secret_or_group_saying_why(
    huawei_registry: Registry, member: ClientInfo, reason: str
) -> None:
    cloud, _ = bound("huawei", ProvisioningService(groups={"g1": GROUP_SECRET}), huawei_registry)
    refusal = cloud.policy.authenticate(member)
    assert refusal is not None and reason in refusal and "registration group" in refusal
    assert GROUP_SECRET not in refusal and (member.password or "") not in refusal


def test_a_standard_bootstrap_device_signs_in_with_its_bootstrap_secret(huawei_registry: Registry) -> None:
    service = ProvisioningService(bootstrap_devices={"dev-7": "bootstrap-7"})
    cloud, _ = bound("huawei", service, huawei_registry)
    policy = cloud.policy
    stamp = iotda.timestamp()
    right = client(iotda.client_id("dev-7", stamp), "dev-7", iotda.password("bootstrap-7", stamp))
    wrong = client(iotda.client_id("dev-7", stamp), "dev-7", iotda.password("guess", stamp))
    stranger = client(iotda.client_id("dev-8", stamp), "dev-8", iotda.password("bootstrap-7", stamp))
    assert policy.authenticate(right) is None and policy.may_publish(right, huawei.up_topic("dev-7"))
    assert "bootstrap secret" in (policy.authenticate(wrong) or "")
    assert "is not registered" in (policy.authenticate(stranger) or "")


def test_after_bootstrapping_the_device_signs_in_with_its_new_secret(huawei_registry: Registry) -> None:
    service = ProvisioningService(groups={"g1": GROUP_SECRET})
    cloud, sent = bound("huawei", service, huawei_registry)
    service.receive(huawei.up_topic("dev-1"), b"")
    secret = sent.last()[1]["deviceSecret"]
    stamp = iotda.timestamp()
    device = client(iotda.client_id("dev-1", stamp), "dev-1", iotda.password(secret, stamp))
    assert cloud.policy.authenticate(device) is None
    assert cloud.policy.may_publish(device, "$oc/devices/dev-1/sys/properties/report")


# -- AWS fleet provisioning -----------------------------------------------------------------------
@attrs.define
class Fleet:
    service: ProvisioningService
    cloud: LocalCloud
    sent: Recorder
    registry: Registry
    clock: Clock
    ca: tuple[Path, Path]
    claim: ClientInfo


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    pki = local_pki(tmp_path / "pki")
    claim_cert, _ = make_device_certificate(tmp_path / "pki", pki.ca, "claim")
    registry = Registry.new(tmp_path / "aws.json", "aws")
    clock = Clock()
    template = ProvisioningTemplate("FleetTemplate", "ThingPrefix_{SerialNumber}", {"LocationUrl": "u"})
    service = ProvisioningService(
        claim_certificates=[certificate_fingerprint(claim_cert)],
        templates=[template],
        ca=pki.ca,
        clock=clock,
        max_pending=3,
    )
    cloud, sent = bound("aws", service, registry)
    der = x509.load_pem_x509_certificate(claim_cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    return Fleet(service, cloud, sent, registry, clock, pki.ca, client("claim-1", cert=der))


def create_keys(fleet: Fleet) -> dict[str, Any]:
    fleet.service.receive(aws.CREATE, b"{}")
    topic, body = fleet.sent.last()
    assert topic == aws.CREATE + "/accepted", body
    return body


def register(fleet: Fleet, token: str, **parameters: str) -> tuple[str, dict[str, Any]]:
    fleet.service.receive(
        aws.provision_topic("FleetTemplate"),
        aws.register_thing_request("FleetTemplate", token, parameters).payload,
    )
    return fleet.sent.last()


def test_create_keys_gives_a_key_and_a_certificate_from_the_local_ca(fleet: Fleet) -> None:
    body = create_keys(fleet)
    certificate = x509.load_pem_x509_certificate(body["certificatePem"].encode())
    ca = x509.load_pem_x509_certificate(fleet.ca[0].read_bytes())
    certificate.verify_directly_issued_by(ca)
    key = serialization.load_pem_private_key(body["privateKey"].encode(), password=None)
    assert key.public_key() == certificate.public_key()
    assert body["certificateId"] == certificate.fingerprint(hashes.SHA256()).hex()
    assert len(fleet.registry) == 0  # not usable before RegisterThing


def test_register_thing_names_the_thing_by_the_template_and_registers_its_certificate(fleet: Fleet) -> None:
    body = create_keys(fleet)
    topic, answer = register(
        fleet, body["certificateOwnershipToken"], SerialNumber="42", DeviceLocation="Seattle"
    )
    assert topic == aws.provision_topic("FleetTemplate") + "/accepted"
    assert answer == {"deviceConfiguration": {"LocationUrl": "u"}, "thingName": "ThingPrefix_42"}
    credential = fleet.registry.get("ThingPrefix_42")
    assert credential is not None and credential.cert_sha256 == body["certificateId"]


def test_an_ownership_token_is_good_once(fleet: Fleet) -> None:
    token = create_keys(fleet)["certificateOwnershipToken"]
    register(fleet, token, SerialNumber="1")
    topic, answer = register(fleet, token, SerialNumber="2")
    assert topic.endswith("/rejected") and answer["errorCode"] == "InvalidCertificateOwnershipToken"
    assert "ThingPrefix_2" not in fleet.registry


def test_an_expired_ownership_token_is_rejected(fleet: Fleet) -> None:
    token = create_keys(fleet)["certificateOwnershipToken"]
    fleet.clock.now += 3601
    _, answer = register(fleet, token, SerialNumber="1")
    assert answer == {
        "statusCode": 400,
        "errorCode": "InvalidCertificateOwnershipToken",
        "errorMessage": "Certificate ownership token is invalid, used or expired.",
    }


def test_a_missing_parameter_is_rejected_and_leaves_the_token_usable(fleet: Fleet) -> None:
    token = create_keys(fleet)["certificateOwnershipToken"]
    _, answer = register(fleet, token, DeviceLocation="Seattle")
    assert answer["statusCode"] == 400 and answer["errorCode"] == "InvalidParameters"
    assert "SerialNumber" in answer["errorMessage"]
    assert register(fleet, token, SerialNumber="7")[1]["thingName"] == "ThingPrefix_7"


def test_an_unknown_template_is_rejected_on_its_own_topic(fleet: Fleet) -> None:
    token = create_keys(fleet)["certificateOwnershipToken"]
    topic = aws.provision_topic("Unknown")
    fleet.service.receive(topic, aws.register_thing_request("Unknown", token, {"SerialNumber": "1"}).payload)
    rejected_topic, answer = fleet.sent.last()
    assert rejected_topic == topic + "/rejected" and answer["statusCode"] == 404
    assert answer["errorCode"] == "ResourceNotFoundException" and "Unknown" in answer["errorMessage"]


def test_pending_certificates_are_bounded(fleet: Fleet) -> None:
    for _ in range(3):
        create_keys(fleet)
    fleet.service.receive(aws.CREATE, b"{}")
    topic, answer = fleet.sent.last()
    assert topic == aws.CREATE + "/rejected" and answer["errorCode"] == "ThrottlingException"
    fleet.clock.now += 3601  # the expired ones make room
    create_keys(fleet)


def csr_pem() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "device")])
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return key, request.public_bytes(serialization.Encoding.PEM).decode()


def test_a_csr_is_signed_for_the_devices_own_key(fleet: Fleet) -> None:
    key, pem = csr_pem()
    fleet.service.receive(aws.CREATE_FROM_CSR, aws.create_from_csr_request(pem).payload)
    topic, body = fleet.sent.last()
    assert topic == aws.CREATE_FROM_CSR + "/accepted" and "privateKey" not in body
    certificate = x509.load_pem_x509_certificate(body["certificatePem"].encode())
    assert certificate.public_key() == key.public_key()
    assert (
        register(fleet, body["certificateOwnershipToken"], SerialNumber="9")[1]["thingName"]
        == "ThingPrefix_9"
    )


def test_a_csr_with_a_wrong_signature_is_rejected(fleet: Fleet) -> None:
    _, pem = csr_pem()
    request = x509.load_pem_x509_csr(pem.encode())
    der = bytearray(request.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0xFF  # inside the signature
    broken = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(Refused, match="signature is wrong"):
        sign_csr(fleet.ca, broken)
    fleet.service.receive(aws.CREATE_FROM_CSR, aws.create_from_csr_request(broken).payload)
    assert fleet.sent.last()[1]["errorCode"] == "InvalidCertificateSigningRequest"


def test_the_policy_lets_a_claim_onto_the_provisioning_topics_only(fleet: Fleet) -> None:
    policy = fleet.cloud.policy
    assert policy.authenticate(fleet.claim) is None
    assert policy.may_publish(fleet.claim, aws.CREATE)
    assert policy.may_publish(fleet.claim, aws.provision_topic("FleetTemplate"))
    assert policy.may_subscribe(fleet.claim, aws.CREATE + "/accepted")
    assert not policy.may_publish(fleet.claim, "$aws/things/claim-1/shadow/update")
    assert not policy.may_subscribe(fleet.claim, "$aws/#")


def test_one_claim_connection_is_served_at_a_time(fleet: Fleet) -> None:
    policy = fleet.cloud.policy
    second = attrs.evolve(fleet.claim, client_id="claim-2")
    assert policy.authenticate(fleet.claim) is None
    refusal = policy.authenticate(second)
    assert refusal is not None and "one claim connection at a time" in refusal and "'claim-1'" in refusal
    again = attrs.evolve(fleet.claim, address="127.0.0.1:5001")  # the same client reconnecting
    assert policy.authenticate(again) is None
    policy.disconnected(fleet.claim)  # the older connection ends after the take-over: no release
    assert policy.authenticate(second) is not None
    policy.disconnected(again)
    assert policy.authenticate(second) is None


def test_a_certificate_that_is_no_claim_is_refused_as_unregistered(fleet: Fleet, tmp_path: Path) -> None:
    other, _ = make_device_certificate(tmp_path / "pki", fleet.ca, "other")
    der = x509.load_pem_x509_certificate(other.read_bytes()).public_bytes(serialization.Encoding.DER)
    refusal = fleet.cloud.policy.authenticate(client("other-1", cert=der))
    assert refusal is not None and "is not registered" in refusal


# -- Tencent dynamic registration -----------------------------------------------------------------
@pytest.fixture
def dynreg(tmp_path: Path) -> tuple[ProvisioningService, LocalCloud, Registry, Clock]:
    registry = Registry.new(tmp_path / "tencent.json", "tencent-explorer")
    clock = Clock()
    service = ProvisioningService(products={PRODUCT: PRODUCT_SECRET}, clock=clock)
    cloud, _ = bound("tencent-explorer", service, registry)
    return service, cloud, registry, clock


def ask(
    service: ProvisioningService,
    clock: Clock,
    *,
    secret: str = PRODUCT_SECRET,
    nonce: int = 1,
    name: str = "lamp-1",
) -> bytes:
    url = "http://127.0.0.1:8780/device/register"
    request = tencent.register_request(PRODUCT, name, secret, url=url, timestamp=int(clock.now), nonce=nonce)
    headers = {k.lower(): v for k, v in request.headers.items()}
    return service.register_tencent(headers["host"], headers, request.body)


def test_a_signed_registration_gets_a_new_secret_the_registry_holds(dynreg: Any) -> None:
    service, _, registry, clock = dynreg
    registration = tencent.read_register_answer(ask(service, clock), PRODUCT_SECRET)
    assert registration.encryption_type == 2 and registration.psk
    credential = registry.get(f"{PRODUCT}.lamp-1")
    assert credential is not None and credential.secret == registration.psk


@pytest.mark.parametrize(
    ("secret", "code"),
    [("another-product-secret-xx", "AuthFailure.SignatureFailure")],
)
def test_a_registration_signed_with_another_secret_is_refused(dynreg: Any, secret: str, code: str) -> None:
    service, _, registry, clock = dynreg
    with pytest.raises(Refused) as caught:
        tencent.read_register_answer(ask(service, clock, secret=secret), PRODUCT_SECRET)
    assert caught.value.code == code and len(registry) == 0


def test_a_replayed_registration_is_refused(dynreg: Any) -> None:
    service, _, _, clock = dynreg
    ask(service, clock, nonce=5)
    with pytest.raises(Refused, match=r"AuthFailure\.RequestReplayed"):
        tencent.read_register_answer(ask(service, clock, nonce=5), PRODUCT_SECRET)


def test_a_device_that_has_connected_is_not_given_a_new_secret(dynreg: Any) -> None:
    service, cloud, registry, clock = dynreg
    first = tencent.read_register_answer(ask(service, clock, nonce=1), PRODUCT_SECRET)
    cloud.presence.connected(f"{PRODUCT}.lamp-1")
    with pytest.raises(Refused, match="has connected already"):
        tencent.read_register_answer(ask(service, clock, nonce=2), PRODUCT_SECRET)
    assert registry.get(f"{PRODUCT}.lamp-1").secret == first.psk


def test_an_unknown_product_is_refused(dynreg: Any) -> None:
    service, _, _, clock = dynreg
    request = tencent.register_request("ZZZZZZZZZZ", "x", PRODUCT_SECRET, timestamp=int(clock.now), nonce=1)
    headers = {k.lower(): v for k, v in request.headers.items()}
    answer = json.loads(service.register_tencent(headers["host"], headers, request.body))
    assert answer["Response"]["Error"]["Code"] == "ResourceNotFound.ProductNotExist"
