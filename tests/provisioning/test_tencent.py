"""Tencent dynamic registration, both halves, against fixtures made with openssl: the signature,
the AES payload, refusals, bad answers, the missing-cryptography message."""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

import pytest

from thingmodel.errors import InvalidValue
from thingmodel.provisioning import Provisioned, ProvisioningError, Refused, tencent

from . import fixtures

REQUEST = fixtures.named("tencent", "prov-01-register-request")
ANSWER = fixtures.named("tencent", "prov-02-register-answer")
SECRET = REQUEST["product_secret"]
NOW = REQUEST["timestamp"]
HOST = "ap-guangzhou.gateway.tencentdevices.com"


def lowered(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def test_the_fixtures_are_all_there_and_name_their_sources() -> None:
    found = fixtures.paths("tencent")
    assert len(found) == 4
    for path in found:
        assert "tencent-more.md 3.1" in fixtures.load(path)["source"]


def test_the_device_half_signs_the_request_as_the_fixture_computed_with_openssl() -> None:
    sent = tencent.register_request(
        "ABCDEFGHIJ", "xyz", SECRET, url=REQUEST["url"], timestamp=NOW, nonce=REQUEST["nonce"]
    )
    assert tencent.string_to_sign(HOST, NOW, REQUEST["nonce"], sent.body) == REQUEST["string_to_sign"]
    assert sent.url == REQUEST["url"] and sent.headers == REQUEST["headers"]
    assert sent.body == REQUEST["body"].encode()


def test_the_platform_half_reads_and_verifies_the_request_of_the_fixture() -> None:
    body = REQUEST["body"].encode()
    assert tencent.parse_register_request(body) == tencent.RegisterRequest(**REQUEST["request"])
    stamp_nonce = tencent.verify_request(lowered(REQUEST["headers"]), HOST, body, SECRET, NOW + 10)
    assert stamp_nonce == (NOW, REQUEST["nonce"])


def test_hmacsha1_is_accepted_too() -> None:
    sent = tencent.register_request("ABCDEFGHIJ", "xyz", SECRET, timestamp=NOW, nonce=7, algorithm="hmacsha1")
    assert tencent.verify_request(lowered(sent.headers), HOST, sent.body, SECRET, NOW) == (NOW, 7)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"x-tc-signature": "AAAA"}, "AuthFailure.SignatureFailure"),
        ({"x-tc-timestamp": str(NOW - 301)}, "AuthFailure.SignatureExpire"),
        ({"x-tc-nonce": ""}, "MissingParameter"),
        ({"x-tc-algorithm": "md5"}, "InvalidParameterValue"),
        ({"x-tc-nonce": "12a"}, "InvalidParameterValue"),
    ],
)
def test_a_request_that_is_not_signed_right_is_refused_with_its_code(
    change: dict[str, str], code: str
) -> None:
    headers = {**lowered(REQUEST["headers"]), **change}
    with pytest.raises(Refused) as caught:
        tencent.verify_request(headers, HOST, REQUEST["body"].encode(), SECRET, NOW)
    assert caught.value.code == code and SECRET not in str(caught.value)


def test_a_request_signed_for_another_host_or_body_or_secret_is_refused() -> None:
    headers, body = lowered(REQUEST["headers"]), REQUEST["body"].encode()
    for host, signed_body, secret in (
        ("evil.example", body, SECRET),
        (HOST, body.replace(b"xyz", b"abc"), SECRET),
        (HOST, body, "another-product-secret"),
    ):
        with pytest.raises(Refused, match=r"AuthFailure\.SignatureFailure"):
            tencent.verify_request(headers, host, signed_body, secret, NOW)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "InvalidParameter"),
        (b"[]", "InvalidParameter"),
        (b'{"ProductId": "ABCDEFGHIJ"}', "InvalidParameter"),
        (b'{"ProductId": "abc", "DeviceName": "x"}', "InvalidParameterValue"),
        (b'{"ProductId": "ABCDEFGHIJ", "DeviceName": "a/b"}', "InvalidParameterValue"),
        (b"{" + b" " * tencent.MAX_BODY + b"}", "InvalidParameter"),
    ],
)
def test_a_bad_request_body_is_refused_with_its_code(body: bytes, code: str) -> None:
    with pytest.raises(Refused) as caught:
        tencent.parse_register_request(body)
    assert caught.value.code == code


def test_the_device_half_decrypts_the_answer_of_the_fixture_made_with_openssl() -> None:
    body = json.dumps(ANSWER["body"]).encode()
    assert (
        tencent.decrypt_payload(SECRET, ANSWER["body"]["Response"]["Payload"], 53)
        == ANSWER["decrypted"].encode()
    )
    registration = tencent.read_register_answer(body, SECRET)
    assert registration == tencent.Registration(**ANSWER["registration"])
    assert ANSWER["registration"]["psk"] not in repr(registration)


def test_the_platform_half_encrypts_what_the_fixture_holds() -> None:
    psk = ANSWER["registration"]["psk"]
    made = json.loads(tencent.register_answer(SECRET, psk, "f4da4f1f-d72e-40f1-9c1b-349fc0072ba0"))
    assert made == ANSWER["body"]


def test_the_refusal_of_the_fixture_is_read_as_refused_with_its_code_and_message() -> None:
    fixture = fixtures.named("tencent", "prov-03-register-refused")
    with pytest.raises(Refused) as caught:
        tencent.read_register_answer(json.dumps(fixture["body"]).encode(), SECRET)
    assert (caught.value.code, caught.value.message) == tuple(fixture["refused"].values())
    refused = Refused(**fixture["refused"])
    written = json.loads(tencent.error_answer(refused, fixture["body"]["Response"]["RequestId"]))
    assert written == fixture["body"]


def test_the_docs_answer_cannot_be_read_with_another_product_secret() -> None:
    fixture = fixtures.named("tencent", "prov-04-doc-answer")
    with pytest.raises(ProvisioningError, match="is the ProductSecret right"):
        tencent.read_register_answer(json.dumps(fixture["body"]).encode(), SECRET)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>", "not Tencent's"),
        (b'{"Response": []}', "not Tencent's"),
        (b'{"Response": {"RequestId": "r"}}', "no Len and Payload"),
        (b'{"Response": {"Len": 5, "Payload": "%%%"}}', "not base64"),
        (b'{"Response": {"Len": 5, "Payload": "AAAA"}}', "not whole AES blocks"),
    ],
)
def test_a_bad_answer_is_a_clear_error(body: bytes, message: str) -> None:
    with pytest.raises(ProvisioningError, match=message):
        tencent.read_register_answer(body, SECRET)


def test_an_answer_of_another_encryption_type_without_its_fields_is_a_clear_error() -> None:
    plain = json.dumps({"encryptionType": 1, "psk": "x"}).encode()
    body = json.dumps({"Response": {"Len": len(plain), "Payload": tencent.encrypt_payload(SECRET, plain)}})
    with pytest.raises(ProvisioningError, match="encryptionType 1 without its psk or certificate"):
        tencent.read_register_answer(body.encode(), SECRET)


def test_without_len_the_zero_padding_is_stripped() -> None:
    payload = tencent.encrypt_payload(SECRET, b'{"a":1}')
    assert tencent.decrypt_payload(SECRET, payload) == b'{"a":1}'


def test_a_product_secret_shorter_than_an_aes_key_is_refused() -> None:
    with pytest.raises(InvalidValue, match="at least 16"):
        tencent.aes_key("short")


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://gw.example/device/register", "gw.example"),
        ("https://gw.example:443/device/register", "gw.example"),
        ("http://127.0.0.1:8780/device/register", "127.0.0.1:8780"),
        ("http://[::1]:8780/device/register", "[::1]:8780"),
    ],
)
def test_the_signed_host_is_the_host_header_the_request_carries(url: str, host: str) -> None:
    assert tencent.canonical_host(url) == host


def test_without_cryptography_the_error_says_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_cryptography(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("cryptography"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cryptography)
    with pytest.raises(ProvisioningError, match=r"pip install 'thingmodel\[provisioning\]'"):
        tencent.decrypt_payload(SECRET, ANSWER["body"]["Response"]["Payload"])


def test_a_second_boot_uses_the_stored_credentials_without_asking(tmp_path: Path) -> None:
    store = tmp_path / "credentials.json"
    Provisioned("tencent-explorer", "ABCDEFGHIJ.xyz", "mqtt://127.0.0.1:1883", "c3RvcmVk").save(store)
    found = tencent.provision(
        "ABCDEFGHIJ", "xyz", SECRET, url="http://127.0.0.1:9/device/register", store=store, timeout=0.5
    )
    assert found.secret == "c3RvcmVk"


def test_an_unreachable_service_is_a_clear_error() -> None:
    with pytest.raises(ProvisioningError, match=r"cannot reach http://127\.0\.0\.1:9/device/register"):
        tencent.provision("ABCDEFGHIJ", "xyz", SECRET, url="http://127.0.0.1:9/device/register", timeout=2)
