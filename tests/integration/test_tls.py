"""TLS: verification on by default, refused for a wrong CA or host name, off only when asked."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from thingmodel.brokers import Mosquitto
from thingmodel.device import Device
from thingmodel.transport import ConnectError, TlsOptions
from thingmodel.vendors import huawei

from .conftest import _need_mosquitto
from .helpers import Detector


@pytest.fixture
def tls_broker(pki: dict[str, Path]) -> Iterator[Mosquitto]:
    _need_mosquitto()
    with Mosquitto(tls=(str(pki["ca"]), str(pki["cert"]), str(pki["key"]))) as broker:
        yield broker


def test_a_device_connects_over_tls_with_the_right_ca(tls_broker: Mosquitto, pki: dict[str, Path]) -> None:
    device = Device(
        [Detector()],
        device_id="tls-ok",
        broker=tls_broker.url,
        tls=TlsOptions(str(pki["ca"])),
        sync_timeout=0,
    )
    with device:
        assert device.connected


def test_a_server_certificate_from_another_ca_is_refused(tls_broker: Mosquitto, pki: dict[str, Path]) -> None:
    device = Device(
        [Detector()], device_id="tls-ca", broker=tls_broker.url, tls=TlsOptions(str(pki["other_ca"]))
    )
    with pytest.raises(ConnectError, match="certificate verification failed"):
        device.connect(timeout=5)


def test_the_system_store_is_used_by_default_and_refuses_a_private_ca(tls_broker: Mosquitto) -> None:
    device = Device([Detector()], device_id="tls-default", broker=tls_broker.url)  # mqtts:// => TLS
    with pytest.raises(ConnectError, match="certificate verification failed"):
        device.connect(timeout=5)


def test_a_certificate_for_another_host_name_is_refused(pki: dict[str, Path]) -> None:
    _need_mosquitto()
    tls = (str(pki["ca"]), str(pki["elsewhere_cert"]), str(pki["elsewhere_key"]))
    with Mosquitto(tls=tls) as broker:
        device = Device([Detector()], device_id="tls-host", broker=broker.url, tls=TlsOptions(str(pki["ca"])))
        with pytest.raises(ConnectError, match=r"certificate verification failed: .*(mismatch|match)"):
            device.connect(timeout=5)


def test_turning_verification_off_is_explicit_and_loudly_logged(
    tls_broker: Mosquitto, pki: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    device = Device(
        [Detector()],
        device_id="tls-insecure",
        broker=tls_broker.url,
        tls=TlsOptions(str(pki["other_ca"]), insecure=True),
    )
    with caplog.at_level(logging.WARNING, logger="thingmodel.transport"), device:
        assert device.connected
    assert "TLS VERIFICATION IS OFF" in caplog.text


def test_for_huawei_signs_in_with_the_iotda_password_over_tls(pki: dict[str, Path]) -> None:
    _need_mosquitto()
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed")
    secret = "s3cret-for-test"
    stamp = huawei.timestamp()
    users = {"hw-device-1": huawei.password(secret, stamp)}
    tls = (str(pki["ca"]), str(pki["cert"]), str(pki["key"]))
    with Mosquitto(users=users, tls=tls) as broker:
        device = Device.for_huawei(
            device_id="hw-device-1",
            secret=secret,
            host="127.0.0.1",
            port=broker.port,
            ca_file=str(pki["ca"]),
            services=[Detector()],
        )
        if huawei.timestamp() != stamp:
            pytest.skip("the hour turned while the test ran")
        with device:
            assert device.connected
        wrong = Device.for_huawei(
            device_id="hw-device-1",
            secret="not-the-secret",
            host="127.0.0.1",
            port=broker.port,
            ca_file=str(pki["ca"]),
            services=[Detector()],
        )
        with pytest.raises(ConnectError, match="refused the credentials"):
            wrong.connect(timeout=5)
