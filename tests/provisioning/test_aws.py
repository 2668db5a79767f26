"""AWS fleet provisioning by claim, both halves, against the fixtures; rejections; templates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thingmodel.errors import InvalidValue
from thingmodel.provisioning import Provisioned, ProvisioningError, ProvisioningTemplate, Refused, aws

from . import fixtures

ALL = fixtures.paths("aws")
UP = [p for p in ALL if fixtures.load(p)["direction"] == "up"]
ACCEPTED = [p for p in ALL if "answer" in fixtures.load(p)]
REJECTED = [p for p in ALL if "refused" in fixtures.load(p)]
TOKEN = "eyJ2ZXJzaW9uIjoiMjAxOS0xMC0wMSJ9.token-1"


def test_the_fixtures_are_all_there_and_name_their_sources() -> None:
    assert (len(ALL), len(UP), len(ACCEPTED), len(REJECTED)) == (8, 3, 3, 2)
    for path in ALL:
        assert "aws-more.md 2.1" in fixtures.load(path)["source"]


def test_the_device_half_sends_the_requests_of_the_fixtures() -> None:
    create = fixtures.named("aws", "prov-01-create-keys")
    csr = fixtures.named("aws", "prov-03-create-from-csr")
    register = fixtures.named("aws", "prov-05-register-thing")
    sent = [
        aws.create_keys_request(),
        aws.create_from_csr_request(csr["payload"]["certificateSigningRequest"]),
        aws.register_thing_request("FleetTemplate", TOKEN, register["payload"]["parameters"]),
    ]
    for out, fixture in zip(sent, (create, csr, register), strict=True):
        assert out.topic == fixture["topic"] and json.loads(out.payload) == fixture["payload"]


@pytest.mark.parametrize("path", UP, ids=fixtures.ids(UP))
def test_the_platform_half_reads_the_request_of_the_fixture(path: Path) -> None:
    fixture = fixtures.load(path)
    request = aws.parse_request(fixture["topic"], fixtures.wire(fixture))
    expected = fixture["request"]
    assert type(request).__name__ == expected["type"]
    if isinstance(request, aws.RegisterThing):
        assert (request.template, request.token, request.parameters) == (
            expected["template"],
            fixture["payload"]["certificateOwnershipToken"],
            expected["parameters"],
        )
    if isinstance(request, aws.CreateFromCsr):
        assert request.csr_pem == fixture["payload"]["certificateSigningRequest"]


def test_the_platform_half_sends_the_accepted_answers_of_the_fixtures() -> None:
    keys = fixtures.named("aws", "prov-02-create-keys-accepted")
    csr = fixtures.named("aws", "prov-04-create-from-csr-accepted")
    thing = fixtures.named("aws", "prov-06-register-thing-accepted")
    k, c = keys["payload"], csr["payload"]
    sent = [
        aws.certificate_accepted(
            k["certificateId"], k["certificatePem"], k["privateKey"], k["certificateOwnershipToken"]
        ),
        aws.certificate_accepted(
            c["certificateId"], c["certificatePem"], None, c["certificateOwnershipToken"], from_csr=True
        ),
        aws.register_accepted("FleetTemplate", "ThingPrefix_1", thing["payload"]["deviceConfiguration"]),
    ]
    for out, fixture in zip(sent, (keys, csr, thing), strict=True):
        assert out.topic == fixture["topic"] and json.loads(out.payload) == fixture["payload"]


def test_the_device_half_reads_the_accepted_answers_of_the_fixtures() -> None:
    keys = fixtures.named("aws", "prov-02-create-keys-accepted")
    csr = fixtures.named("aws", "prov-04-create-from-csr-accepted")
    thing = fixtures.named("aws", "prov-06-register-thing-accepted")
    made = aws.read_certificate_answer(keys["topic"], fixtures.wire(keys))
    assert (made.certificate_id, made.ownership_token) == tuple(keys["answer"].values())
    assert made.private_key == keys["payload"]["privateKey"]
    signed = aws.read_certificate_answer(csr["topic"], fixtures.wire(csr), from_csr=True)
    assert (signed.certificate_id, signed.ownership_token, signed.private_key) == (
        *csr["answer"].values(),
        None,
    )
    registered = aws.read_register_answer("FleetTemplate", thing["topic"], fixtures.wire(thing))
    assert registered == aws.ThingRegistered(**thing["answer"])


@pytest.mark.parametrize("path", REJECTED, ids=fixtures.ids(REJECTED))
def test_both_halves_agree_on_the_rejection_of_the_fixture(path: Path) -> None:
    fixture = fixtures.load(path)
    expected = fixture["refused"]
    request_topic = fixture["topic"].removesuffix("/rejected")
    out = aws.rejected(
        request_topic, Refused(expected["code"], expected["message"], status=expected["status"])
    )
    assert out.topic == fixture["topic"] and json.loads(out.payload) == fixture["payload"]
    with pytest.raises(Refused) as caught:
        if "provisioning-templates" in request_topic:
            aws.read_register_answer(fixture["template"], fixture["topic"], fixtures.wire(fixture))
        else:
            aws.read_certificate_answer(fixture["topic"], fixtures.wire(fixture))
    refused = caught.value
    assert (refused.status, refused.code, refused.message) == (
        expected["status"],
        expected["code"],
        expected["message"],
    )
    assert expected["code"] in str(refused)


def test_the_key_and_token_stay_out_of_the_reprs() -> None:
    made = aws.NewCertificate("id", "-----BEGIN CERTIFICATE-----", "KEY-BYTES", "TOKEN-VALUE")
    request = aws.RegisterThing("T", "TOKEN-VALUE", {})
    assert "KEY-BYTES" not in repr(made) and "TOKEN-VALUE" not in repr(made) + repr(request)


@pytest.mark.parametrize(
    ("topic", "payload", "message"),
    [
        (aws.CREATE + "/accepted", b"{}", "missing or empty 'certificateId'"),
        (aws.CREATE + "/accepted", b"nope", "not valid JSON"),
        (
            aws.CREATE + "/accepted",
            b'{"certificateId":"i","certificatePem":"x","privateKey":"k","certificateOwnershipToken":"t"}',
            "not a PEM certificate",
        ),
        ("$aws/things/x/shadow/get/accepted", b"{}", "not on \\$aws/certificates/create/json/accepted"),
    ],
)
def test_a_bad_certificate_answer_is_a_clear_error(topic: str, payload: bytes, message: str) -> None:
    with pytest.raises(ProvisioningError, match=message):
        aws.read_certificate_answer(topic, payload)


def test_a_register_answer_without_a_valid_thing_name_is_a_clear_error() -> None:
    topic = aws.provision_topic("T") + "/accepted"
    with pytest.raises(ProvisioningError, match="thingName"):
        aws.read_register_answer("T", topic, b'{"deviceConfiguration": {}}')
    with pytest.raises(ProvisioningError, match="thing name"):
        aws.read_register_answer("T", topic, b'{"thingName": "a b"}')


@pytest.mark.parametrize(
    ("topic", "payload", "code"),
    [
        (aws.CREATE, b"{bad", "InvalidPayload"),
        (aws.CREATE_FROM_CSR, b"{}", "InvalidCertificateSigningRequest"),
        (aws.provision_topic("T"), b"{}", "InvalidCertificateOwnershipToken"),
        (
            aws.provision_topic("T"),
            b'{"certificateOwnershipToken": "t", "parameters": {"a": 1}}',
            "InvalidParameters",
        ),
        ("$aws/provisioning-templates/a b/provision/json", b"{}", "ResourceNotFoundException"),
    ],
)
def test_a_malformed_request_is_refused_with_an_aws_error(topic: str, payload: bytes, code: str) -> None:
    with pytest.raises(Refused) as caught:
        aws.parse_request(topic, payload)
    assert caught.value.code == code and caught.value.status in (400, 404)


def test_the_platform_half_ignores_other_topics_and_reads_an_empty_create() -> None:
    assert aws.parse_request("$aws/things/t/shadow/update", b"{}") is None
    assert aws.parse_request(aws.CREATE, b"") == aws.CreateKeys()


def test_a_template_names_the_thing_from_its_parameters() -> None:
    template = ProvisioningTemplate("FleetTemplate", "ThingPrefix_{SerialNumber}", {"LocationUrl": "u"})
    assert template.parameters == ("SerialNumber",)
    assert template.thing_for({"SerialNumber": "1", "DeviceLocation": "Seattle"}) == "ThingPrefix_1"


def test_a_missing_parameter_or_a_bad_resulting_name_is_invalid_parameters() -> None:
    template = ProvisioningTemplate("T", "dev-{Site}-{SerialNumber}")
    with pytest.raises(Refused, match="needs the parameters SerialNumber") as caught:
        template.thing_for({"Site": "a"})
    assert caught.value.code == "InvalidParameters"
    with pytest.raises(Refused, match="InvalidParameters"):
        template.thing_for({"Site": "a/b", "SerialNumber": "1"})


@pytest.mark.parametrize("pattern", ["x_{0}", "x_{a.b}", "x_{a!r}", "x_{a:>3}"])
def test_a_template_placeholder_must_be_a_plain_parameter_name(pattern: str) -> None:
    with pytest.raises(InvalidValue, match="plain parameter name"):
        ProvisioningTemplate("T", pattern)


@pytest.mark.parametrize("name", ["", "a" * 37, "with space", "slash/name"])
def test_a_template_name_is_checked_before_it_goes_into_a_topic(name: str) -> None:
    with pytest.raises(InvalidValue, match="provisioning template name"):
        aws.provision_topic(name)


def test_template_parameters_must_be_strings() -> None:
    with pytest.raises(InvalidValue, match="must be a string"):
        aws.register_thing_request("T", "t", {"SerialNumber": 1})  # type: ignore[dict-item]


def test_a_second_boot_uses_the_stored_credentials_without_connecting(tmp_path: Path) -> None:
    cert, key = tmp_path / "t.cert.pem", tmp_path / "t.private.key"
    cert.write_text("c")
    key.write_text("k")
    store = tmp_path / "credentials.json"
    Provisioned("aws", "ThingPrefix_1", "mqtts://127.0.0.1:9", cert_file=str(cert), key_file=str(key)).save(
        store
    )
    found = aws.provision(
        "127.0.0.1", port=9, claim_cert="none", claim_key="none", template="T", store=store, timeout=0.5
    )
    assert found.device_id == "ThingPrefix_1"


def test_provisioning_needs_a_place_for_the_new_key() -> None:
    with pytest.raises(InvalidValue, match="give store= or directory="):
        aws.provision("127.0.0.1", claim_cert="c", claim_key="k", template="T")
