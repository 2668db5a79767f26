"""Huawei IoTDA's platform-side access rules: who a client is, its HMAC password, its topics."""

from __future__ import annotations

import calendar

import pytest

from thingmodel.cloud.access import filter_within
from thingmodel.protocol import messages as ev
from thingmodel.protocol.topics import topic_matches
from thingmodel.vendors.huawei import (
    CLOCK_SKEW,
    HuaweiDevice,
    check_credentials,
    client_id,
    device_topics,
    identify,
    implicit_subscriptions,
    new_secret,
    password,
)

# The worked example of huawei-iotda.md §1.1.
DEVICE = "5f052ac562369102d42b0fb6"
SECRET = "12345678"
STAMP = "2019122614"
PASSWORD = "73e8623a1fe614ab2095280a91cb1e12f39560fb961555acc6d4a8838ba06cf5"
AT_STAMP = calendar.timegm((2019, 12, 26, 14, 30, 0))


def test_the_reference_worked_example_is_accepted() -> None:
    assert password(SECRET, STAMP) == PASSWORD
    assert check_credentials(SECRET, f"{DEVICE}_0_1_{STAMP}", PASSWORD, AT_STAMP) is None


def test_a_password_made_with_another_secret_is_refused_without_showing_either() -> None:
    wrong = password("87654321", STAMP)
    reason = check_credentials(SECRET, f"{DEVICE}_0_1_{STAMP}", wrong, AT_STAMP)
    assert reason is not None and "wrong password" in reason
    assert SECRET not in reason and wrong not in reason and "87654321" not in reason


def test_a_stamp_two_hours_old_is_refused_with_sign_type_1() -> None:
    reason = check_credentials(SECRET, f"{DEVICE}_0_1_{STAMP}", PASSWORD, AT_STAMP + 2 * 3600)
    assert reason is not None and f"timestamp {STAMP}" in reason and "clock" in reason


def test_a_stamp_two_hours_old_is_accepted_with_sign_type_0() -> None:
    assert check_credentials(SECRET, f"{DEVICE}_0_0_{STAMP}", PASSWORD, AT_STAMP + 2 * 3600) is None


def test_the_previous_hour_and_a_slightly_fast_device_clock_are_accepted() -> None:
    cid = f"{DEVICE}_0_1_{STAMP}"
    assert check_credentials(SECRET, cid, PASSWORD, AT_STAMP + 3600) is None  # 15:30, stamp 14
    assert check_credentials(SECRET, cid, PASSWORD, AT_STAMP - 1800 - CLOCK_SKEW + 1) is None  # 13:55
    assert check_credentials(SECRET, cid, PASSWORD, AT_STAMP - 1800 - CLOCK_SKEW - 1) is not None


def test_no_password_or_a_client_id_without_a_stamp_is_refused() -> None:
    assert check_credentials(SECRET, f"{DEVICE}_0_1_{STAMP}", None, AT_STAMP) == "no password sent"
    reason = check_credentials(SECRET, DEVICE, PASSWORD, AT_STAMP)
    assert reason is not None and "timestamp" in reason


def test_a_stamp_that_is_no_hour_is_refused() -> None:
    reason = check_credentials(SECRET, f"{DEVICE}_0_1_2019133014", password(SECRET, "2019133014"), AT_STAMP)
    assert reason is not None and "2019133014" in reason and "not a UTC hour" in reason


def test_credentials_made_by_this_module_for_now_are_accepted() -> None:
    now = 1_767_225_600.0  # 2026-01-01 00:00 UTC
    stamp = "2026010100"
    cid = client_id("smoke-1", stamp)
    assert identify(cid, "smoke-1") == "smoke-1"
    assert check_credentials(SECRET, cid, password(SECRET, stamp), now + 59) is None


@pytest.mark.parametrize(
    ("cid", "username", "expected"),
    [
        (f"{DEVICE}_0_1_{STAMP}", DEVICE, DEVICE),  # IoTDA's form
        (f"{DEVICE}_0_0_{STAMP}", DEVICE, DEVICE),
        ("smoke-1", None, "smoke-1"),  # thingmodel's Device in development mode
        ("smoke-1", "smoke-1", "smoke-1"),
        (f"{DEVICE}_0_1_{STAMP}", "another-device", None),
        ("smoke-1", "another-device", None),
        ("a+b", None, None),  # no valid device id
    ],
)
def test_identify_names_the_device_a_client_claims(
    cid: str, username: str | None, expected: str | None
) -> None:
    assert identify(cid, username) == expected


def test_implicit_subscriptions_are_the_device_halfs_downlinks_at_qos_0() -> None:
    subscriptions = implicit_subscriptions("smoke-1")
    assert subscriptions == [(f, 0) for f in HuaweiDevice("smoke-1").subscriptions()]
    assert ("$oc/devices/smoke-1/sys/commands/+", 0) in subscriptions


def test_a_device_may_publish_its_own_uplinks_only() -> None:
    publish, _ = device_topics("A")
    own = HuaweiDevice("A").encode(ev.ReportProperties({"s": {"x": 1}}))[0].topic
    theirs = HuaweiDevice("B").encode(ev.ReportProperties({"s": {"x": 1}}))[0].topic
    assert any(topic_matches(f, own) for f in publish)
    assert not any(topic_matches(f, theirs) for f in publish)


@pytest.mark.parametrize(
    "topic_filter",
    ["$oc/devices/+/sys/#", "$oc/devices/B/sys/commands/+", "#", "+/devices/A/sys/#", "$oc/#"],
)
def test_subscriptions_reaching_another_device_are_not_within_its_own(topic_filter: str) -> None:
    _, subscribe = device_topics("A")
    assert not any(filter_within(topic_filter, outer) for outer in subscribe)


def test_the_devices_own_filters_and_sdk_style_wildcards_are_within_its_own() -> None:
    _, subscribe = device_topics("A")
    wanted = [*HuaweiDevice("A").subscriptions(), "$oc/devices/A/sys/commands/#", "$oc/devices/A/user/x"]
    assert all(any(filter_within(f, outer) for outer in subscribe) for f in wanted)


def test_new_secrets_are_16_random_letters_and_digits() -> None:
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    assert all(len(s) == 16 and s.isalnum() and s.isascii() for s in secrets)
