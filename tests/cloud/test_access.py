"""CloudPolicy, the local cloud's broker policy: development mode, registered devices, the cloud's
own clients, and each device kept to its own topics."""

from __future__ import annotations

import base64
import hashlib
import itertools
from pathlib import Path
from typing import Any

import attrs
import pytest

from thingmodel import InvalidValue
from thingmodel.cloud.access import CloudPolicy, filter_within
from thingmodel.cloud.registry import Registry
from thingmodel.protocol.topics import topic_matches, validate_filter
from thingmodel.vendors import huawei, tencent
from thingmodel.vendors.huawei import HuaweiDevice

CLOUD_PASSWORD = "per-run-cloud-password"
NOW = 1_767_225_600.0  # 2026-01-01 00:00 UTC
STAMP = "2026010100"


@attrs.frozen
class _ClientInfo:  # used only until thingmodel.brokers.policy exists
    client_id: str
    username: str | None
    password: str | None = attrs.field(repr=False)
    address: str
    protocol: int


def client(client_id: str, username: str | None = None, password: str | None = None) -> Any:
    try:
        from thingmodel.brokers.policy import ClientInfo
    except ImportError:
        return _ClientInfo(client_id, username, password, "127.0.0.1:50000", 4)
    return ClientInfo(client_id, username, password, "127.0.0.1:50000", 4)


def huawei_client(device_id: str, secret: str, stamp: str = STAMP) -> Any:
    return client(huawei.client_id(device_id, stamp), device_id, huawei.password(secret, stamp))


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    registry = Registry.new(tmp_path / "registry.json", "huawei")
    registry.add("A", "secret-of-A")
    registry.add("B", "secret-of-B")
    return registry


@pytest.fixture
def policy(registry: Registry) -> CloudPolicy:
    return CloudPolicy("huawei", registry, CLOUD_PASSWORD, clock=lambda: NOW)


def test_development_mode_accepts_anyone_and_enforces_no_topic_rules() -> None:
    open_policy = CloudPolicy("huawei", None, CLOUD_PASSWORD)
    stranger = client("anything", "anyone", "any password")
    assert open_policy.authenticate(stranger) is None
    assert open_policy.authenticate(client("thingmodel-app-1234")) is None
    assert open_policy.may_publish(stranger, "$oc/devices/B/sys/properties/report")
    assert open_policy.may_subscribe(stranger, "#")


def test_development_mode_still_gives_huawei_devices_their_implicit_subscriptions() -> None:
    open_policy = CloudPolicy("huawei", None, CLOUD_PASSWORD)
    expected = [(f, 0) for f in HuaweiDevice("smoke-1").subscriptions()]
    assert open_policy.implicit_subscriptions(client("smoke-1")) == expected  # thingmodel's Device
    assert open_policy.implicit_subscriptions(huawei_client("smoke-1", "x")) == expected  # Huawei's SDK
    assert open_policy.implicit_subscriptions(client("thingmodel-cloud-1234")) == []


def test_other_vendors_give_no_implicit_subscriptions() -> None:
    assert CloudPolicy("aws", None, CLOUD_PASSWORD).implicit_subscriptions(client("thermostat-1")) == []


def test_a_registered_device_with_the_right_password_is_accepted(policy: CloudPolicy) -> None:
    assert policy.authenticate(huawei_client("A", "secret-of-A")) is None


def test_a_wrong_secret_is_refused_naming_the_client_id_but_no_secret(policy: CloudPolicy) -> None:
    intruder = huawei_client("A", "secret-of-B")
    reason = policy.authenticate(intruder)
    assert reason is not None and intruder.client_id in reason and "wrong password" in reason
    assert "secret-of-A" not in reason and "secret-of-B" not in reason and intruder.password not in reason


def test_an_unregistered_device_is_an_unknown_client_id(policy: CloudPolicy) -> None:
    reason = policy.authenticate(huawei_client("C", "whatever"))
    assert reason is not None and reason.startswith("unknown client id 'C_0_1_2026010100'")


def test_a_client_id_naming_no_device_is_an_unknown_client_id(policy: CloudPolicy) -> None:
    reason = policy.authenticate(client("A", "B", "secret-of-B"))
    assert reason is not None and reason.startswith("unknown client id 'A'")


def test_a_development_form_client_is_refused_once_there_is_a_registry(policy: CloudPolicy) -> None:
    reason = policy.authenticate(client("A"))
    assert reason is not None and "'A'" in reason and "timestamp" in reason


def test_the_clouds_own_clients_need_the_cloud_password(policy: CloudPolicy) -> None:
    assert policy.authenticate(client("thingmodel-cloud-1234", password=CLOUD_PASSWORD)) is None
    assert policy.authenticate(client("thingmodel-app-5678", password=CLOUD_PASSWORD)) is None
    reason = policy.authenticate(client("thingmodel-app-5678", password="guess"))
    assert reason is not None and "thingmodel-app-5678" in reason and "guess" not in reason
    assert policy.authenticate(client("thingmodel-cloud-1234")) is not None


def test_the_clouds_own_clients_may_use_any_topic(policy: CloudPolicy) -> None:
    cloud = client("thingmodel-cloud-1234", password=CLOUD_PASSWORD)
    assert policy.may_subscribe(cloud, "$oc/devices/+/sys/#")
    assert policy.may_publish(cloud, "$oc/devices/A/sys/commands/request_id=1")
    assert policy.implicit_subscriptions(cloud) == []


def test_a_cloud_prefix_without_the_password_gets_no_topics(policy: CloudPolicy) -> None:
    impostor = client("thingmodel-cloud-1234", password="guess")
    assert not policy.may_subscribe(impostor, "$oc/devices/A/sys/#")
    assert not policy.may_publish(impostor, "$oc/devices/A/sys/properties/report")


def test_a_device_may_use_its_own_topics(policy: CloudPolicy) -> None:
    a = huawei_client("A", "secret-of-A")
    assert policy.may_publish(a, "$oc/devices/A/sys/properties/report")
    assert policy.may_subscribe(a, "$oc/devices/A/sys/commands/#")
    assert policy.implicit_subscriptions(a) == [(f, 0) for f in HuaweiDevice("A").subscriptions()]


@pytest.mark.parametrize(
    "topic", ["$oc/devices/B/sys/properties/report", "$oc/devices/B/sys/commands/request_id=1", "other/topic"]
)
def test_device_a_may_not_publish_on_device_bs_topics(policy: CloudPolicy, topic: str) -> None:
    assert not policy.may_publish(huawei_client("A", "secret-of-A"), topic)


@pytest.mark.parametrize(
    "topic_filter",
    [
        "$oc/devices/B/sys/commands/+",
        "$oc/devices/+/sys/#",
        "$oc/devices/#",
        "#",
        "+/devices/A/sys/#",
        "$oc/devices/A/sys/#/x",  # not a valid filter
    ],
)
def test_device_a_may_not_subscribe_to_filters_that_reach_other_devices(
    policy: CloudPolicy, topic_filter: str
) -> None:
    assert not policy.may_subscribe(huawei_client("A", "secret-of-A"), topic_filter)


def test_a_wildcard_topic_name_is_never_published(policy: CloudPolicy) -> None:
    assert not policy.may_publish(huawei_client("A", "secret-of-A"), "$oc/devices/A/sys/+")


def test_tencent_devices_sign_in_with_their_signed_username(tmp_path: Path) -> None:
    registry = Registry.new(tmp_path / "t.json", "tencent-explorer")
    secret = registry.add("ZPHBLEB4J5.light-1")
    tencent_policy = CloudPolicy("tencent-explorer", registry, CLOUD_PASSWORD, clock=lambda: NOW)
    user = tencent.username("ZPHBLEB4J5", "light-1", expiry=int(NOW) + 60)
    good = client("ZPHBLEB4J5light-1", user, tencent.password(secret, user))
    wrong_key = base64.b64encode(b"some other key!!").decode()
    bad = client("ZPHBLEB4J5light-1", user, tencent.password(wrong_key, user))
    assert tencent_policy.authenticate(good) is None
    reason = tencent_policy.authenticate(bad)
    assert reason is not None and "ZPHBLEB4J5light-1" in reason and secret not in reason
    assert tencent_policy.may_publish(good, "$thing/up/property/ZPHBLEB4J5/light-1")
    assert not tencent_policy.may_subscribe(good, "$thing/down/property/ZPHBLEB4J5/+")


def test_aws_things_are_checked_by_the_certificate_the_listener_passes(tmp_path: Path) -> None:
    certificate = b"the thing's DER certificate"
    registry = Registry.new(tmp_path / "a.json", "aws")
    registry.add("thermostat-1", cert_sha256=hashlib.sha256(certificate).hexdigest())
    presented = [certificate]
    aws_policy = CloudPolicy("aws", registry, CLOUD_PASSWORD, peer_certificate=lambda c: presented[0])
    assert aws_policy.authenticate(client("thermostat-1")) is None
    presented[0] = b"another certificate"
    reason = aws_policy.authenticate(client("thermostat-1"))
    assert reason is not None and "not the registered one" in reason
    no_listener = CloudPolicy("aws", registry, CLOUD_PASSWORD)
    reason = no_listener.authenticate(client("thermostat-1"))
    assert reason is not None and "no client certificate" in reason


def test_an_aws_thing_uses_the_topics_of_the_things_it_acts_for_and_no_others(tmp_path: Path) -> None:
    registry = Registry.new(tmp_path / "a.json", "aws")
    registry.add("gw-1", cert_sha256="a" * 64, acts_for=["meter-1"])
    registry.add("gw-2", cert_sha256="b" * 64)
    aws_policy = CloudPolicy("aws", registry, CLOUD_PASSWORD)
    gateway, other = client("gw-1"), client("gw-2")
    assert aws_policy.may_publish(gateway, "$aws/things/meter-1/shadow/update")
    assert aws_policy.may_subscribe(gateway, "$aws/things/meter-1/shadow/update/delta")
    assert aws_policy.may_subscribe(gateway, "$aws/things/meter-1/shadow/name/heating/#")
    assert not aws_policy.may_publish(gateway, "$aws/things/meter-2/shadow/update")
    assert not aws_policy.may_subscribe(gateway, "$aws/things/+/shadow/update/delta")
    assert not aws_policy.may_publish(other, "$aws/things/meter-1/shadow/update")
    assert not aws_policy.may_subscribe(other, "$aws/things/meter-1/shadow/#")


def test_a_registry_of_another_vendor_is_refused(registry: Registry) -> None:
    with pytest.raises(InvalidValue, match="registers huawei devices, not aws"):
        CloudPolicy("aws", registry, CLOUD_PASSWORD)


def test_an_empty_cloud_password_is_refused() -> None:
    with pytest.raises(InvalidValue, match="cloud password"):
        CloudPolicy("huawei", None, "")


@pytest.mark.parametrize(
    ("inner", "outer", "within"),
    [
        ("a/b", "a/#", True),
        ("a", "a/#", True),  # 'a/#' matches 'a' itself
        ("a/#", "a/+", False),
        ("a/+", "a/+", True),
        ("a/+/c", "a/b/c", False),
        ("a/b/c", "a/+/c", True),
        ("#", "+/#", True),
        ("$x/y", "#", False),  # a first-level wildcard never matches a '$' topic
        ("$x/y", "+/y", False),
        ("a/b", "a/b/c", False),
    ],
)
def test_filter_within_follows_mqtt_matching(inner: str, outer: str, within: bool) -> None:
    assert filter_within(inner, outer) is within


def test_filter_within_agrees_with_topic_matching_on_every_small_filter_pair() -> None:
    levels, topic_levels = ["a", "$s", "+", "#"], ["a", "b", "$s", ""]
    filters = [f for f in _joined(levels, 3) if _valid(f)]
    topics = [t for t in _joined(topic_levels, 4) if t]
    matched = {f: frozenset(t for t in topics if topic_matches(f, t)) for f in filters}
    wrong = [
        (inner, outer)
        for inner in filters
        for outer in filters
        if filter_within(inner, outer) != (matched[inner] <= matched[outer])
    ]
    assert wrong == []


def _joined(levels: list[str], depth: int) -> list[str]:
    out: list[str] = []
    for count in range(1, depth + 1):
        out += ["/".join(p) for p in itertools.product(levels, repeat=count)]
    return out


def _valid(topic_filter: str) -> bool:
    try:
        validate_filter(topic_filter)
    except ValueError:
        return False
    return True


def test_a_device_speaking_another_vendor_is_told_in_one_line_once(caplog: pytest.LogCaptureFixture) -> None:
    policy = CloudPolicy("huawei", None, CLOUD_PASSWORD)
    thing = client("thermostat-1")
    with caplog.at_level("WARNING", logger="thingmodel.cloud.access"):
        for _ in range(3):
            assert policy.may_publish(thing, "$aws/things/thermostat-1/shadow/update")
        assert policy.may_publish(client("dev-1"), "$oc/devices/dev-1/sys/properties/report")
    assert [r.getMessage() for r in caplog.records] == [
        "client 'thermostat-1' publishes aws topics ($aws/things/thermostat-1/shadow/update), but this "
        "cloud speaks huawei: give the device --vendor huawei, or run a cloud with --vendor aws"
    ]
