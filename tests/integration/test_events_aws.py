"""AWS IoT events and messages end to end, on our topics (docs/vendors.md): a real ``Device``
emits an event and sends a message over MQTT to ``LocalCloud(vendor="aws")``, and the cloud's
application side keeps them; bad input on those topics is refused without harm; and with a
registry (mutual TLS) a thing's events pass the broker's rules while its publishes on another
thing's topics never arrive."""

from __future__ import annotations

import json
import queue
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from thingmodel.brokers import ServerTls, free_port
from thingmodel.cloud import LocalCloud
from thingmodel.cloud.certificates import certificate_fingerprint, local_pki, make_device_certificate
from thingmodel.cloud.client import CloudClient
from thingmodel.cloud.registry import Registry
from thingmodel.device import Device
from thingmodel.protocol import messages as ev
from thingmodel.transport import TlsOptions

from .helpers import AlarmDetector as Detector
from .helpers import eventually, fast_backoff

pytestmark = pytest.mark.broker

THING = "thermostat-1"


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="aws", port=0, http_port=0) as local:
        yield local


def thing(cloud: LocalCloud, detector: Detector, name: str = THING) -> Device:
    return Device([detector], device_id=name, vendor="aws", broker=cloud.url, backoff=fast_backoff())


def send_message(device: Device, payload: bytes) -> None:
    device.send_message(payload)


def ring(cloud: LocalCloud, device: Device) -> None:
    """A command round trip: once it is answered, what the device sent before has been handled."""
    answer = cloud.send_command(device.device_id, "smokeDetector", "ringAlarm", {"duration": 1})
    assert answer.ok, answer


def test_an_emitted_event_reaches_the_application_side(cloud: LocalCloud) -> None:
    detector = Detector()
    with thing(cloud, detector) as device:
        before = time.time()
        detector.smoke_alarm(level=3, room="hall")
        eventually(lambda: bool(cloud.activity(THING).events), what="the event in the cloud's activity")
        after = time.time()
        activity = cloud.activity(THING)
        assert activity.events == (
            ev.EventUp(THING, "smokeDetector", "smoke_alarm", {"level": 3, "room": "hall"}),
        )
        [when] = activity.received["events"]
        assert before <= when <= after

        [wire] = [e for e in cloud.feed.recent(THING) if e.kind == "up" and e.topic.endswith("/events/up")]
        assert wire.topic == f"things/{THING}/events/up"
        body = json.loads(wire.payload)
        assert (body["service"], body["event"], body["kind"]) == ("smokeDetector", "smoke_alarm", "alert")
        assert before * 1000 - 1 <= body["timestamp"] <= after * 1000 + 1

        assert cloud.http_url is not None
        [shown] = CloudClient(cloud.http_url).get(f"/devices/{THING}/activity")["events"]
        assert {k: shown[k] for k in ("service_id", "event_type", "params")} == {
            "service_id": "smokeDetector",
            "event_type": "smoke_alarm",
            "params": {"level": 3, "room": "hall"},
        }
        ring(cloud, device)
        assert list(device.errors) == []


def test_a_message_reaches_the_application_side_as_its_bytes(cloud: LocalCloud) -> None:
    detector = Detector()
    with thing(cloud, detector) as device:
        send_message(device, b"\x00filter needs cleaning\xff")
        eventually(lambda: bool(cloud.activity(THING).messages), what="the message in the cloud's activity")
        assert cloud.activity(THING).messages == (ev.MessageUp(THING, b"\x00filter needs cleaning\xff"),)
        assert list(device.errors) == []


def test_an_oversized_message_is_refused_on_the_device_and_it_carries_on(cloud: LocalCloud) -> None:
    detector = Detector()
    with thing(cloud, detector) as device:
        send_message(device, b"x" * (128 * 1024 + 1))
        eventually(lambda: bool(device.errors), what="the refusal in device.errors")
        [error] = list(device.errors)
        assert error.kind == "encode" and "exceeds AWS IoT's limit of 131072 bytes" in error.reason
        detector.smoke_alarm(level=1)
        eventually(lambda: bool(cloud.activity(THING).events), what="the next event")
        assert cloud.activity(THING).messages == ()


def raw_client(cloud: LocalCloud, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, reconnect_on_failure=False)
    client.connect("127.0.0.1", cloud.port)
    client.loop_start()
    return client


def test_bad_events_and_messages_are_logged_kept_nowhere_and_the_cloud_keeps_serving(
    cloud: LocalCloud, caplog: pytest.LogCaptureFixture
) -> None:
    detector = Detector()
    with thing(cloud, detector) as device:
        other = raw_client(cloud, "raw-publisher")
        try:
            for payload in (b"{not json", b"[]", b'{"service": 1, "event": "x"}', b"\xff\xfe"):
                other.publish(f"things/{THING}/events/up", payload, qos=1).wait_for_publish(5)
            other.publish(f"things/{THING}/messages/up", b"x" * (128 * 1024 + 1), qos=1).wait_for_publish(5)
            other.publish("things/bad name/events/up", b"{}", qos=1).wait_for_publish(5)
        finally:
            other.disconnect()
            other.loop_stop()
        detector.smoke_alarm(level=4)
        eventually(lambda: bool(cloud.activity(THING).events), what="the good event after the bad ones")
        [event] = cloud.activity(THING).events
        assert event.params == {"level": 4} and cloud.activity(THING).messages == ()
        assert any("bad event from thing thermostat-1" in r.getMessage() for r in caplog.records)
        ring(cloud, device)


def test_with_a_registry_a_things_events_pass_and_its_publishes_as_another_thing_never_arrive(
    tmp_path: Path,
) -> None:
    pki = local_pki(tmp_path / "pki")
    cert, key = make_device_certificate(tmp_path / "pki", pki.ca, THING)
    registry = Registry.new(tmp_path / "aws.json", "aws")
    registry.add(THING, cert_sha256=certificate_fingerprint(cert))
    other_cert, _ = make_device_certificate(tmp_path / "pki", pki.ca, "thermostat-2")
    registry.add("thermostat-2", cert_sha256=certificate_fingerprint(other_cert))
    ca = str(pki.ca[0])
    listener = ServerTls(*pki.server, cafile=ca)
    own = TlsOptions(ca, str(pki.cloud_client[0]), str(pki.cloud_client[1]))
    with LocalCloud(
        vendor="aws", port=free_port(), registry=registry, listener_tls=listener, tls=own
    ) as cloud:
        detector = Detector()
        device = Device.for_aws(
            thing_name=THING,
            endpoint="127.0.0.1",
            port=cloud.port,
            cert_file=str(cert),
            key_file=str(key),
            ca_file=ca,
            services=[detector],
        )
        with device:
            detector.smoke_alarm(level=2)
            send_message(device, b"hello")
            eventually(
                lambda: bool(cloud.activity(THING).events and cloud.activity(THING).messages),
                what="the event and the message through the broker's rules",
            )

        # the same certificate, publishing as another thing, then as itself
        acks: queue.Queue[object] = queue.Queue()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=THING, reconnect_on_failure=False)
        client.tls_set_context(_client_context(ca, cert, key))
        client.on_connect = lambda c, u, f, rc, p: acks.put(("connack", rc.value))
        client.connect("127.0.0.1", cloud.port)
        client.loop_start()
        try:
            assert acks.get(timeout=5) == ("connack", 0)
            spoof = {"service": "smokeDetector", "event": "smoke_alarm", "params": {"level": 5}}
            client.publish("things/thermostat-2/events/up", json.dumps(spoof), qos=1).wait_for_publish(5)
            client.publish("things/thermostat-2/messages/up", b"spoofed", qos=1).wait_for_publish(5)
            client.publish(f"things/{THING}/messages/up", b"mine", qos=1).wait_for_publish(5)
            eventually(lambda: len(cloud.activity(THING).messages) == 2, what="the thing's own message")
        finally:
            client.disconnect()
            client.loop_stop()
        assert cloud.activity("thermostat-2").events == () and cloud.activity("thermostat-2").messages == ()
        assert [m.payload for m in cloud.activity(THING).messages] == [b"hello", b"mine"]


def _client_context(ca: str, cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(str(cert), str(key))
    return context
