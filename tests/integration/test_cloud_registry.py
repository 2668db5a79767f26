"""The local cloud with a device registry, on its embedded broker: who gets in, and where."""

from __future__ import annotations

import logging
import queue
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from thingmodel import InvalidValue
from thingmodel.brokers import ServerTls, free_port
from thingmodel.cloud import LocalCloud
from thingmodel.cloud.certificates import certificate_fingerprint, local_pki, make_device_certificate
from thingmodel.cloud.registry import Registry
from thingmodel.device import Device
from thingmodel.errors import AuthenticationError
from thingmodel.gateway import Gateway
from thingmodel.transport import TlsOptions
from thingmodel.vendors import aws, huawei

from .helpers import Detector, eventually

pytestmark = pytest.mark.broker

SECRET_A = "secret-of-device-a"


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    registry = Registry.new(tmp_path / "registry.json", "huawei")
    registry.add("dev-a", SECRET_A)
    registry.add("dev-b", "secret-of-device-b")
    registry.save()
    return registry


@pytest.fixture
def cloud(registry: Registry) -> Iterator[LocalCloud]:
    with LocalCloud(vendor="huawei", port=free_port(), registry=registry) as local:
        yield local


def huawei_device(cloud: LocalCloud, device_id: str, secret: str, detector: Detector) -> Device:
    return Device.for_huawei(
        device_id=device_id, secret=secret, host=cloud.host, port=cloud.port, tls=False, services=[detector]
    )


def raw_client(cloud: LocalCloud, device_id: str, secret: str) -> tuple[mqtt.Client, queue.Queue[object]]:
    """A paho client signed in as IoTDA asks (client id with hour stamp, HMAC password)."""
    stamp = huawei.timestamp()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=huawei.client_id(device_id, stamp), reconnect_on_failure=False
    )
    client.username_pw_set(device_id, huawei.password(secret, stamp))
    events: queue.Queue[object] = queue.Queue()
    client.on_connect = lambda _c, _u, _f, reason, _p: events.put(("connack", reason.value))
    client.on_subscribe = lambda _c, _u, _m, reasons, _p: events.put(("suback", [r.value for r in reasons]))
    client.on_message = lambda _c, _u, message: events.put(("message", message.topic))
    client.connect(cloud.host, cloud.port)
    client.loop_start()
    return client, events


def test_a_registered_device_with_its_secret_connects_and_syncs(cloud: LocalCloud) -> None:
    detector = Detector()
    with huawei_device(cloud, "dev-a", SECRET_A, detector):
        outcome = cloud.set_desired("dev-a", "smokeDetector", {"alarm": 1})
    assert outcome.ok and detector.set_calls == [1]


def test_a_wrong_secret_is_not_authorized_and_the_log_names_the_client_but_no_secret(
    cloud: LocalCloud, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    device = huawei_device(cloud, "dev-a", "not-the-secret", Detector())
    with pytest.raises(AuthenticationError):
        device.connect(timeout=5)
    device.disconnect()
    refusals = [r.getMessage() for r in caplog.records if "dev-a_0_" in r.getMessage()]
    assert refusals and all("not-the-secret" not in line and SECRET_A not in line for line in refusals)


def test_an_unregistered_device_is_not_authorized(cloud: LocalCloud) -> None:
    device = huawei_device(cloud, "dev-z", SECRET_A, Detector())
    with pytest.raises(AuthenticationError):
        device.connect(timeout=5)
    device.disconnect()


def test_a_desire_for_an_unregistered_device_is_refused_and_stores_nothing(cloud: LocalCloud) -> None:
    with pytest.raises(InvalidValue, match="'dev-z' is not registered"):
        cloud.set_desired("dev-z", "smokeDetector", {"alarm": 1})
    assert cloud.devices() == []


def test_device_a_can_neither_subscribe_to_nor_publish_on_device_bs_topics(cloud: LocalCloud) -> None:
    client, events = raw_client(cloud, "dev-a", SECRET_A)
    try:
        assert events.get(timeout=5) == ("connack", 0)
        client.subscribe([("$oc/devices/dev-b/sys/#", 1), ("$oc/devices/dev-a/sys/messages/down", 1)])
        assert events.get(timeout=5) == ("suback", [0x80, 1])
        report = b'{"services":[{"service_id":"smokeDetector","properties":{"alarm":1}}]}'
        client.publish("$oc/devices/dev-b/sys/properties/report", report, qos=1).wait_for_publish(5)
        client.publish("$oc/devices/dev-a/sys/properties/report", report, qos=1).wait_for_publish(5)
        eventually(lambda: "dev-a" in cloud.devices(), what="device A's own report")
        assert cloud.devices() == ["dev-a"]  # B's shadow was never touched
    finally:
        client.disconnect()
        client.loop_stop()


def test_with_an_app_key_the_cli_gets_in_only_with_that_key(registry: Registry) -> None:
    from thingmodel.cloud.http import AppKey

    key = AppKey("ops", "app-secret-1")
    with LocalCloud(vendor="huawei", port=0, registry=registry, http_port=0, app_key=key) as cloud:
        assert cloud.http_url is not None

        def shadow_get(*extra: str) -> subprocess.CompletedProcess[str]:
            args = ["shadow", "get", "dev-a", "--cloud", cloud.http_url or "", *extra]
            return subprocess.run(
                [sys.executable, "-m", "thingmodel.cli", *args], capture_output=True, text=True, timeout=60
            )

        allowed = shadow_get("--app-key", "ops:app-secret-1")
        refused = shadow_get()
        wrong = shadow_get("--app-key", "ops:guess")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.startswith("device dev-a (huawei): offline")  # registered, never connected
    for answer in (refused, wrong):
        assert answer.returncode == 3 and "Traceback" not in answer.stderr
        assert answer.stderr.strip() == "thingmodel: this cloud needs its app key (HTTP Basic ID:SECRET)"
        assert "app-secret-1" not in answer.stderr


def test_without_a_registry_the_cloud_says_it_runs_in_development_mode() -> None:
    with LocalCloud(vendor="huawei", port=free_port()) as cloud:
        assert cloud.mode.startswith("development mode")


def test_an_aws_thing_signs_in_by_its_registered_certificate_and_an_unregistered_one_is_refused(
    tmp_path: Path,
) -> None:
    pki = local_pki(tmp_path / "pki")
    cert, key = make_device_certificate(tmp_path / "pki", pki.ca, "thermostat-1")
    stranger = make_device_certificate(tmp_path / "pki", pki.ca, "stranger-1")
    registry = Registry.new(tmp_path / "aws.json", "aws")
    registry.add("thermostat-1", cert_sha256=certificate_fingerprint(cert))
    ca = str(pki.ca[0])

    def thing(name: str, pair: tuple[Path, Path], detector: Detector, port: int) -> Device:
        return Device.for_aws(
            thing_name=name,
            endpoint="127.0.0.1",
            port=port,
            cert_file=str(pair[0]),
            key_file=str(pair[1]),
            ca_file=ca,
            services=[detector],
        )

    listener = ServerTls(*pki.server, cafile=ca)
    own = TlsOptions(ca, str(pki.cloud_client[0]), str(pki.cloud_client[1]))
    cloud = LocalCloud(vendor="aws", port=free_port(), registry=registry, listener_tls=listener, tls=own)
    with cloud:
        assert cloud.url.startswith("mqtts://")
        detector = Detector()
        with thing("thermostat-1", (cert, key), detector, cloud.port):
            assert cloud.set_desired("thermostat-1", "$classic", {"alarm": 1}).ok
        assert detector.set_calls == [1]
        intruder = thing("stranger-1", stranger, Detector(), cloud.port)
        with pytest.raises(AuthenticationError):
            intruder.connect(timeout=5)
        intruder.disconnect()


def test_an_aws_gateway_serves_the_things_it_acts_for_and_is_kept_from_the_others(tmp_path: Path) -> None:
    pki = local_pki(tmp_path / "pki")
    cert, key = make_device_certificate(tmp_path / "pki", pki.ca, "hub-1")
    registry = Registry.new(tmp_path / "aws.json", "aws")
    registry.add("hub-1", cert_sha256=certificate_fingerprint(cert), acts_for=["meter-1"])
    ca = str(pki.ca[0])
    listener = ServerTls(*pki.server, cafile=ca)
    own = TlsOptions(ca, str(pki.cloud_client[0]), str(pki.cloud_client[1]))
    cloud = LocalCloud(vendor="aws", port=free_port(), registry=registry, listener_tls=listener, tls=own)
    with cloud:
        meter, stranger = Detector(), Detector()
        meter.temperature = 20.5
        gateway = aws.device(
            Gateway,
            thing_name="hub-1",
            endpoint="127.0.0.1",
            port=cloud.port,
            cert_file=str(cert),
            key_file=str(key),
            ca_file=ca,
            services=[Detector()],
        )
        gateway.add_child("meter-1", [meter])
        gateway.add_child("meter-9", [stranger])  # not in acts_for: the broker refuses its topics
        with gateway:
            meter.report()
            eventually(
                lambda: reported(cloud, "meter-1").get("temperature") == 20.5, what="the meter's report"
            )
            assert cloud.set_desired("meter-1", "$classic", {"alarm": 1}).ok
            assert meter.set_calls == [1]
            assert cloud.set_desired("meter-9", "$classic", {"alarm": 1}, timeout=1).pending
            assert stranger.set_calls == []


def reported(cloud: LocalCloud, thing: str) -> dict[str, object]:
    return dict(cloud.get_shadow(thing).get("$classic", {}).get("reported", {}))
