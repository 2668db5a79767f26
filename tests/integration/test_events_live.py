"""Events end to end: a real Device emits one over MQTT to a local cloud of each vendor with
events, and the application side sees it (the core's activity and GET .../activity); on Tencent
IoT Explorer the device gets the cloud's event_reply, and a refusal reaches ``device.errors``."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from thingmodel.cloud import LocalCloud
from thingmodel.cloud.client import CloudClient
from thingmodel.cloud.shadows import ShadowCloud
from thingmodel.device import Device
from thingmodel.protocol import messages as ev

from .helpers import AlarmDetector as Detector
from .helpers import WireTap, eventually, fast_backoff

pytestmark = pytest.mark.broker

VENDORS = ["huawei", "tencent-explorer"]


@pytest.fixture(params=VENDORS)
def cloud(request: pytest.FixtureRequest) -> Iterator[LocalCloud]:
    with LocalCloud(vendor=request.param, port=0, http_port=0) as local:
        yield local


@pytest.fixture
def explorer() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="tencent-explorer", port=0, http_port=0) as local:
        yield local


@contextlib.contextmanager
def tapped(cloud: LocalCloud) -> Iterator[WireTap]:
    """A proxy between the device and the cloud's broker that shows what reached the device."""
    wire = WireTap("127.0.0.1", cloud.port)
    try:
        yield wire
    finally:
        wire.close()


def device_for(cloud: LocalCloud, detector: Detector, name: str, url: str) -> Device:
    device_id = f"ABCDEFGHIJ.{name}" if cloud.vendor.startswith("tencent") else name
    return Device([detector], device_id=device_id, vendor=cloud.vendor, broker=url, backoff=fast_backoff())


def events_of(cloud: LocalCloud, device_id: str) -> list[ev.EventUp]:
    return list(cloud.activity(device_id).events)


def feed(cloud: LocalCloud, device_id: str, kind: str, topic_part: str) -> list[dict[str, Any]]:
    return [
        json.loads(e.payload)
        for e in cloud.feed.recent(device_id)
        if e.kind == kind and topic_part in e.topic
    ]


def ring(cloud: LocalCloud, device: Device) -> None:
    """A command round trip: the device handles downlinks in order on one worker, so whatever
    reached it before the command has been handled once the answer is back."""
    answer = cloud.send_command(device.device_id, "smokeDetector", "ringAlarm", {"duration": 1})
    assert answer.ok, answer


def test_an_emitted_event_reaches_the_application_side(cloud: LocalCloud) -> None:
    detector = Detector()
    with device_for(cloud, detector, "ev-live", cloud.url) as device:
        before = time.time()
        detector.smoke_alarm(level=3, room="hall")
        eventually(lambda: bool(events_of(cloud, device.device_id)), what="the event in the cloud's activity")
        after = time.time()

        # the cloud names an Explorer event's service by its product id (one data template each)
        service_id = "ABCDEFGHIJ" if cloud.vendor == "tencent-explorer" else "smokeDetector"
        [event] = events_of(cloud, device.device_id)
        assert (event.device_id, event.service_id, event.event_type, dict(event.params)) == (
            device.device_id,
            service_id,
            "smoke_alarm",
            {"level": 3, "room": "hall"},
        )

        assert cloud.http_url is not None
        listed = CloudClient(cloud.http_url).get(f"/devices/{device.device_id}/activity")["events"]
        [shown] = listed
        assert {k: shown[k] for k in ("service_id", "event_type", "params")} == {
            "service_id": service_id,
            "event_type": "smoke_alarm",
            "params": {"level": 3, "room": "hall"},
        }
        assert isinstance(shown["time"], float) and before <= shown["time"] <= after

        ring(cloud, device)
        assert list(device.errors) == []


def test_an_explorer_device_receives_the_clouds_event_reply(explorer: LocalCloud) -> None:
    cloud, detector = explorer, Detector()
    with tapped(cloud) as tap, device_for(cloud, detector, "ev-reply", tap.url) as device:
        detector.smoke_alarm(level=2)
        eventually(
            lambda: bool(feed(cloud, device.device_id, "down", "$thing/down/event/")), what="the event_reply"
        )
        [post] = feed(cloud, device.device_id, "up", "$thing/up/event/")
        [reply] = feed(cloud, device.device_id, "down", "$thing/down/event/")
        assert (post["method"], post["eventId"], post["type"]) == ("event_post", "smoke_alarm", "alert")
        assert (reply["method"], reply["clientToken"], reply["code"]) == (
            "event_reply",
            post["clientToken"],
            0,
        )
        down = "$thing/down/event/ABCDEFGHIJ/ev-reply"
        eventually(
            lambda: ("down", "PUBLISH", down) in [(d, k, t) for d, k, _, t in tap.packets],
            what="the event_reply on the device's connection",
        )
        ring(cloud, device)
        assert list(device.errors) == []


def test_an_event_the_explorer_cloud_refuses_reaches_device_errors(explorer: LocalCloud) -> None:
    cloud, platform = explorer, explorer.platform
    assert isinstance(platform, ShadowCloud)

    def refuse_events(uplink: ev.PlatformUplink) -> None:
        if isinstance(uplink, ev.EventUp):
            raise RuntimeError("the event store is full")  # the cloud fails to take the event

    with cloud.turn():
        platform.on_uplink = refuse_events
    detector = Detector()
    with device_for(cloud, detector, "ev-refused", cloud.url) as device:
        detector.smoke_alarm(level=5)
        eventually(lambda: bool(device.errors), what="the refusal in device.errors")
        [post] = feed(cloud, device.device_id, "up", "$thing/up/event/")
        [error] = list(device.errors)
        assert (error.kind, error.name) == ("rejected", post["clientToken"])
        assert "the cloud refused it" in error.reason and "event_reply" in error.reason
        [reply] = feed(cloud, device.device_id, "down", "$thing/down/event/")
        assert reply["clientToken"] == post["clientToken"] and reply["code"] != 0


@pytest.mark.parametrize("vendor", ["huawei", "tencent-explorer", "aws"])
def test_a_message_the_device_sends_is_kept_by_the_cloud_byte_for_byte(vendor: str) -> None:
    from thingmodel.device import Device

    device_id = {"huawei": "msg-1", "aws": "msg-1", "tencent-explorer": "ABCDEFGHIJ.msg1"}[vendor]
    with LocalCloud(vendor=vendor, port=0) as cloud:
        detector = Detector()
        with Device([detector], device_id=device_id, vendor=vendor, broker=cloud.url) as device:
            device.send_message(b'{"boot": "ok"}')
            device.send_message("plain text")
            eventually(lambda: len(cloud.activity(device_id).messages) == 2, what="both messages kept")
        assert [m.payload for m in cloud.activity(device_id).messages] == [b'{"boot": "ok"}', b"plain text"]
        assert not device.errors
