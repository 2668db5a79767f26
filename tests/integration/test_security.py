"""Secrets stay secret; ids that would break a topic and oversized payloads are refused up front."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from thingmodel import DefinitionError, InvalidValue, Property, Service
from thingmodel.brokers import Mosquitto
from thingmodel.cloud import LocalCloud
from thingmodel.device import Device
from thingmodel.testing import FakeCloud
from thingmodel.transport import ConnectError
from thingmodel.vendors import huawei

from .conftest import _need_mosquitto
from .helpers import Detector

BAD_IDS = ["a/b", "a+b", "a#b", "a\0b", "", "x" * 200]


def test_secrets_never_appear_in_logs_or_reprs(
    pki: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    _need_mosquitto()
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed")
    secret = "Very-Secret-Device-Key-4711"
    password = huawei.password(secret, huawei.timestamp())
    tls = (str(pki["ca"]), str(pki["cert"]), str(pki["key"]))
    key_text = pki["key"].read_text().splitlines()[1]
    with caplog.at_level(logging.DEBUG), Mosquitto(users={"sec-dev": password}, tls=tls) as broker:
        device = Device.for_huawei(
            device_id="sec-dev",
            secret=secret,
            host="127.0.0.1",
            port=broker.port,
            ca_file=str(pki["ca"]),
            cert_file=None,
            services=[Detector()],
            sync_timeout=0.2,
        )
        with device:
            device.report()
            shown = [repr(device), repr(device.transport), str(device.__dict__)]
        wrong = Device.for_huawei(
            device_id="sec-dev",
            secret=secret + "x",
            host="127.0.0.1",
            port=broker.port,
            ca_file=str(pki["ca"]),
            services=[Detector()],
        )
        with pytest.raises(ConnectError) as refused:
            wrong.connect(timeout=5)
    text = caplog.text + "\n".join(shown) + str(refused.value)
    assert caplog.records, "the session logged nothing: the test would prove nothing"
    for leaked in (secret, password, huawei.password(secret + "x", huawei.timestamp()), key_text):
        assert leaked not in text


@pytest.mark.parametrize("bad", BAD_IDS)
def test_device_ids_that_would_break_a_topic_are_refused_up_front(bad: str) -> None:
    with pytest.raises(InvalidValue, match="device_id"):
        Device([Detector()], device_id=bad, broker="mqtt://127.0.0.1:1")


@pytest.mark.parametrize("bad", BAD_IDS)
def test_service_ids_that_would_break_a_topic_are_refused_at_class_definition(bad: str) -> None:
    with pytest.raises(DefinitionError, match="service_id"):
        type("Bad", (Service,), {"service_id": bad})


@pytest.mark.parametrize("bad", ["a/b", "a+b", "#"])
def test_the_cloud_refuses_ids_that_would_break_a_topic(bad: str) -> None:
    from thingmodel.cloud import ShadowCloud
    from thingmodel.vendors import platform_codec

    cloud = ShadowCloud(platform_codec("huawei"), publish=lambda m: None)
    with pytest.raises(InvalidValue):
        cloud.desire(bad, {"s": {"x": 1}})
    with pytest.raises(InvalidValue):
        cloud.desire("ok", {bad: {"x": 1}})


def test_a_payload_over_the_vendor_limit_is_refused_before_publishing() -> None:
    class Notes(Service):
        text = Property(str, default="")

    notes = Notes()
    cloud = FakeCloud(notes)
    published = len(cloud.messages)
    notes.text = "x" * (2 * 1024 * 1024)
    notes.report()
    assert len(cloud.messages) == published
    assert any("exceeds IoTDA's limit of 1048576 bytes" in e.reason for e in cloud.errors)


def test_local_cloud_refuses_a_bad_device_id_from_the_application() -> None:
    cloud = LocalCloud()
    with pytest.raises(InvalidValue):
        cloud.set_desired("a/b", "s", {"x": 1})
