"""Tencent IoT's platform-side access rules: who a client is, its signed username, its topics."""

from __future__ import annotations

import base64

import pytest

from thingmodel import InvalidValue
from thingmodel.cloud.access import filter_within
from thingmodel.protocol import messages as ev
from thingmodel.protocol.topics import topic_matches
from thingmodel.vendors import device_codec
from thingmodel.vendors.tencent import (
    check_credentials,
    client_id,
    device_topics,
    identify,
    implicit_subscriptions,
    new_secret,
    password,
    username,
    validate_device_id,
    validate_secret,
)

PID, DEV = "ZPHBLEB4J5", "light-1"
DEVICE = f"{PID}.{DEV}"
SECRET = base64.b64encode(b"sixteen byte key").decode()
NOW = 1_767_225_600.0


def signed(
    secret: str = SECRET, *, expiry: int = int(NOW) + 3600, algorithm: str = "hmacsha256"
) -> tuple[str, str]:
    user = username(PID, DEV, expiry=expiry)
    return user, password(secret, user, algorithm=algorithm)


def test_a_username_and_password_made_by_this_module_are_accepted() -> None:
    user, pw = signed()
    assert identify(client_id(PID, DEV), user) == DEVICE
    assert check_credentials(SECRET, user, pw, NOW) is None


def test_an_expired_signature_is_refused() -> None:
    user, pw = signed(expiry=int(NOW) - 1)
    reason = check_credentials(SECRET, user, pw, NOW)
    assert reason is not None and "expired" in reason


def test_a_password_signed_with_another_secret_is_refused_without_showing_either() -> None:
    other = base64.b64encode(b"another 16 bytes").decode()
    user, pw = signed(other)
    reason = check_credentials(SECRET, user, pw, NOW)
    assert reason is not None and "wrong password" in reason
    assert SECRET not in reason and other not in reason and pw.split(";")[0] not in reason


def test_hmacsha1_is_accepted() -> None:
    user, pw = signed(algorithm="hmacsha1")
    assert pw.endswith(";hmacsha1")
    assert check_credentials(SECRET, user, pw, NOW) is None


def test_the_python_sdks_millisecond_expiry_from_the_reference_is_accepted() -> None:
    user = "ABCDEFGHIJdev1;21010406;LpIPH;1795462442412"
    pw = "605391c0418b5734413773eed2ee5d55311336d7;hmacsha1"
    assert identify("ABCDEFGHIJdev1", user) == "ABCDEFGHIJ.dev1"
    assert check_credentials("c2VjcmV0c2VjcmV0c2VjcmV0", user, pw, NOW) is None


def test_an_unsigned_or_unknown_algorithm_password_is_refused() -> None:
    user, pw = signed()
    assert check_credentials(SECRET, user, None, NOW) == "no password sent"
    reason = check_credentials(SECRET, user, pw.replace("hmacsha256", "md5"), NOW)
    assert reason is not None and "hmacsha256" in reason
    reason = check_credentials(SECRET, None, pw, NOW)
    assert reason is not None and "no username" in reason


@pytest.mark.parametrize(
    ("cid", "user", "expected"),
    [
        (f"{PID}{DEV}", f"{PID}{DEV};21010406;abcde;99", DEVICE),
        (DEVICE, None, DEVICE),  # thingmodel's Device in development mode
        (f"{PID}{DEV}", f"{PID}other;21010406;abcde;99", None),  # username names another device
        (f"{PID}{DEV}", f"{PID}{DEV};21010406;99", None),  # three fields
        ("zphbleb4j5light-1", "zphbleb4j5light-1;21010406;abcde;99", None),  # lowercase product id
        (PID, f"{PID};21010406;abcde;99", None),  # no device name
    ],
)
def test_identify_names_the_device_a_client_claims(cid: str, user: str | None, expected: str | None) -> None:
    assert identify(cid, user) == expected


def test_no_implicit_subscriptions_since_tencents_sdks_subscribe() -> None:
    assert implicit_subscriptions(DEVICE) == []


@pytest.mark.parametrize("vendor", ["tencent-hub", "tencent-explorer"])
def test_a_device_may_subscribe_to_its_downlinks_and_publish_its_uplinks(vendor: str) -> None:
    publish, subscribe = device_topics(DEVICE)
    codec = device_codec(vendor, device_id=DEVICE, service_ids=[PID])
    assert all(any(filter_within(f, outer) for outer in subscribe) for f in codec.subscriptions())
    for message in (ev.ReportProperties({PID: {"power": 1}}), ev.RequestShadow("r1")):
        for out in codec.encode(message):
            assert any(topic_matches(f, out.topic) for f in publish), out.topic


def test_a_device_may_not_publish_downlinks_or_another_devices_topics() -> None:
    publish, _ = device_topics(DEVICE)
    refused = [
        f"$thing/down/property/{PID}/{DEV}",
        f"$shadow/operation/result/{PID}/{DEV}",
        f"$thing/up/property/{PID}/light-2",
        f"{PID}/light-2/event",
    ]
    assert not [t for t in refused if any(topic_matches(f, t) for f in publish)]


@pytest.mark.parametrize(
    "topic_filter", ["$thing/down/+/+/+", f"$thing/down/property/{PID}/+", f"{PID}/#", "#", "$sys/#"]
)
def test_subscriptions_reaching_another_device_are_not_within_its_own(topic_filter: str) -> None:
    _, subscribe = device_topics(DEVICE)
    assert not any(filter_within(topic_filter, outer) for outer in subscribe)


def test_device_ids_need_a_10_character_product_id() -> None:
    assert validate_device_id(DEVICE) == DEVICE
    with pytest.raises(InvalidValue, match="10 characters"):
        validate_device_id("SHORT.light")


def test_new_secrets_are_base64_of_16_random_bytes_and_others_must_be_base64() -> None:
    secret = new_secret()
    assert len(base64.b64decode(secret)) == 16 and secret != new_secret()
    assert validate_secret(secret) == secret
    with pytest.raises(InvalidValue, match="base64"):
        validate_secret("not base64!")
