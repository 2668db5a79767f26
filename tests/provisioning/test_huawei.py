"""Huawei bootstrap, both halves, against the fixtures; group sign-in; bad answers; a second boot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thingmodel.errors import CodecError, InvalidValue
from thingmodel.provisioning import Provisioned, ProvisioningError, huawei

from . import fixtures

ALL = fixtures.paths("huawei")
UP = [p for p in ALL if fixtures.load(p)["direction"] == "up"]
DOWN = [p for p in ALL if fixtures.load(p)["direction"] == "down"]


def test_the_fixtures_are_all_there_and_name_their_sources() -> None:
    assert len(UP) == 2 and len(DOWN) == 2 and len(ALL) == 5
    for path in ALL:
        assert "huawei-iotda.md" in fixtures.load(path)["source"]


@pytest.mark.parametrize("path", UP, ids=fixtures.ids(UP))
def test_the_device_half_sends_the_bootstrap_request_of_the_fixture(path: Path) -> None:
    fixture = fixtures.load(path)
    out = huawei.bootstrap_request(fixture["device_id"], fixture["request"]["static_policy"])
    assert out.topic == fixture["topic"]
    assert (json.loads(out.payload) if out.payload else None) == fixture["payload"]


@pytest.mark.parametrize("path", UP, ids=fixtures.ids(UP))
def test_the_platform_half_reads_the_bootstrap_request_of_the_fixture(path: Path) -> None:
    fixture = fixtures.load(path)
    request = huawei.parse_bootstrap_request(fixture["topic"], fixtures.wire(fixture))
    assert request == huawei.BootstrapRequest(**fixture["request"])


@pytest.mark.parametrize("path", DOWN, ids=fixtures.ids(DOWN))
def test_the_platform_half_sends_the_bootstrap_answer_of_the_fixture(path: Path) -> None:
    fixture = fixtures.load(path)
    answer = fixture["answer"]
    out = huawei.bootstrap_answer(
        fixture["device_id"], answer["host"], answer["port"], answer["device_secret"]
    )
    assert out.topic == fixture["topic"] and json.loads(out.payload) == fixture["payload"]


@pytest.mark.parametrize("path", DOWN, ids=fixtures.ids(DOWN))
def test_the_device_half_reads_the_bootstrap_answer_of_the_fixture(path: Path) -> None:
    fixture = fixtures.load(path)
    answer = huawei.read_bootstrap_answer(fixture["device_id"], fixture["topic"], fixtures.wire(fixture))
    assert answer == huawei.BootstrapAnswer(**fixture["answer"])


def test_the_answer_repr_hides_the_secret() -> None:
    assert "Xq3pL0aR7sD2fG9h" not in repr(huawei.BootstrapAnswer("h", 1, "Xq3pL0aR7sD2fG9h"))


def test_a_group_member_signs_in_as_the_fixture_computed_with_openssl() -> None:
    fx = fixtures.named("huawei", "prov-05-group-sign-in")
    assert huawei.derived_secret(fx["device_id"], fx["group_secret"]) == fx["derived_secret"]
    credentials = huawei.bootstrap_credentials(
        fx["device_id"], fx["timestamp"], scope_id=fx["scope_id"], group_secret=fx["group_secret"]
    )
    assert credentials == (fx["client_id"], fx["username"], fx["password"])
    assert (
        huawei.check_group_credentials(fx["group_secret"], fx["client_id"], fx["username"], fx["password"])
        is None
    )


def test_a_group_member_with_another_groups_secret_is_refused_without_showing_a_secret() -> None:
    fx = fixtures.named("huawei", "prov-05-group-sign-in")
    other = "b3RoZXItZ3JvdXAtc2VjcmV0"
    reason = huawei.check_group_credentials(other, fx["client_id"], fx["username"], fx["password"])
    assert reason is not None and "registration group 'scope-1'" in reason
    assert other not in reason and fx["password"] not in reason and fx["derived_secret"] not in reason


def test_standard_bootstrap_signs_in_as_a_direct_connection_does() -> None:
    credentials = huawei.bootstrap_credentials("dev-1", "2019122614", secret="12345678")
    assert credentials[0] == "dev-1_0_1_2019122614" and credentials[1] == "dev-1"


@pytest.mark.parametrize(
    ("client_id", "username", "expected"),
    [
        ("dev_0_scope-1_0_2019122614", "dev", ("dev", "scope-1", "2019122614")),
        ("a_0_b_0_c_0_d_0_2019122614", "a_0_b", ("a_0_b", "c_0_d", "2019122614")),  # ids holding _0_
        ("dev_0_1_2019122614", "dev", None),  # a direct connection (sign type 1)
        ("dev_0_0_2019122614", "dev", None),  # a direct connection (sign type 0)
        ("dev_0_scope_0_2019122614", None, None),  # no username: no device id to start from
        ("dev_0_scope_0_20191226", "dev", None),  # not an hour stamp
    ],
)
def test_a_group_client_id_is_told_from_a_direct_one(
    client_id: str, username: str | None, expected: tuple[str, str, str] | None
) -> None:
    assert huawei.parse_group_client_id(client_id, username) == expected


def test_bootstrap_needs_a_secret_or_a_group_not_both() -> None:
    with pytest.raises(InvalidValue, match="one of them"):
        huawei.bootstrap_credentials("d", "2019122614", secret="s", scope_id="g", group_secret="Zw==")
    with pytest.raises(InvalidValue, match="one of them"):
        huawei.bootstrap_credentials("d", "2019122614", scope_id="g")


def test_a_group_secret_that_is_not_base64_is_refused_without_echoing_it() -> None:
    with pytest.raises(InvalidValue, match="must be base64") as caught:
        huawei.derived_secret("d", "not base64!")
    assert "not base64!" not in str(caught.value)


@pytest.mark.parametrize(
    ("topic", "payload", "message"),
    [
        ("$oc/devices/dev-1/sys/bootstrap/down", b"not json", "not valid JSON"),
        ("$oc/devices/dev-1/sys/bootstrap/down", b"[]", "must be a JSON object"),
        ("$oc/devices/dev-1/sys/bootstrap/down", b'{"deviceSecret": "x"}', "no 'address'"),
        ("$oc/devices/dev-1/sys/bootstrap/down", b'{"address": "host"}', "is not host:port"),
        ("$oc/devices/dev-1/sys/bootstrap/down", b'{"address": "host:70000"}', "is not host:port"),
        ("$oc/devices/dev-1/sys/bootstrap/down", b'{"address": "a/b:80"}', "not a host name"),
        ("$oc/devices/dev-1/sys/bootstrap/down", b'{"address": "h:1", "deviceSecret": ""}', "non-empty"),
        ("$oc/devices/dev-2/sys/bootstrap/down", b'{"address": "h:1"}', "not on its bootstrap/down"),
    ],
)
def test_a_bad_bootstrap_answer_is_a_clear_error(topic: str, payload: bytes, message: str) -> None:
    with pytest.raises(ProvisioningError, match=message):
        huawei.read_bootstrap_answer("dev-1", topic, payload)


def test_an_ipv6_address_is_read_and_written_with_brackets() -> None:
    out = huawei.bootstrap_answer("d", "::1", 8883, None)
    assert json.loads(out.payload) == {"address": "[::1]:8883"}
    assert huawei.read_bootstrap_answer("d", out.topic, out.payload).host == "::1"


def test_the_platform_half_ignores_other_topics_and_refuses_a_non_object_request() -> None:
    assert huawei.parse_bootstrap_request("$oc/devices/d/sys/properties/report", b"{}") is None
    with pytest.raises(CodecError, match="must be a JSON object"):
        huawei.parse_bootstrap_request("$oc/devices/d/sys/bootstrap/up", b'"policy"')


def test_a_second_boot_uses_the_stored_credentials_without_connecting(tmp_path: Path) -> None:
    store = tmp_path / "credentials.json"
    Provisioned("huawei", "dev-1", "mqtt://127.0.0.1:1883", "stored-secret").save(store)
    # port 9 (discard): were it to connect, it would fail; it must not try
    found = huawei.provision("dev-1", host="127.0.0.1", port=9, secret="bootstrap", store=store, timeout=0.5)
    assert found.secret == "stored-secret"


def test_provisioning_an_unreachable_server_fails_within_its_timeout_naming_the_server() -> None:
    with pytest.raises(ProvisioningError, match=r"cannot reach mqtt://127\.0\.0\.1:9"):
        huawei.provision("dev-1", host="127.0.0.1", port=9, tls=False, secret="s", timeout=0.5)
