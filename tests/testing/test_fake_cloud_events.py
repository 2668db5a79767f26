"""``FakeCloud.events``: what a device's events look like on each vendor's wire, the cloud's
answer (Tencent ``event_reply``), and events made offline."""

from __future__ import annotations

from typing import Any

import pytest

from thingmodel import Event, Property, Service
from thingmodel.cloud.shadows import ShadowCloud
from thingmodel.protocol import messages as ev
from thingmodel.testing import FakeCloud
from thingmodel.types import Integer

HUAWEI = "fake-device"
TENCENT = "ABCDEFGHIJ.dev1"


class Detector(Service):
    service_id = "smokeDetector"
    alarm = Property(int, default=0)
    smoke_alarm = Event({"level": Integer(minimum=0, maximum=5)}, optional={"room": str}, kind="alert")
    battery_low = Event({"percent": int}, name="batteryLow")


class Valve(Service):
    service_id = "valve"
    stuck = Event({"opening": int}, kind="fault")


def cloud_for(vendor: str, *services: Service) -> FakeCloud:
    device_id = TENCENT if vendor == "tencent-explorer" else HUAWEI
    return FakeCloud(*services, vendor=vendor, device_id=device_id)


def on(cloud: FakeCloud, topic: str) -> list[Any]:
    return [payload for t, payload in cloud.messages if t == topic]


# -- Huawei ----------------------------------------------------------------------------------------
def test_a_huawei_event_reaches_the_cloud_as_events_up() -> None:
    detector = Detector()
    cloud = FakeCloud(detector)
    detector.smoke_alarm(level=3, room="kitchen")
    [event] = cloud.events
    assert event == ev.EventUp(HUAWEI, "smokeDetector", "smoke_alarm", {"level": 3, "room": "kitchen"})
    assert on(cloud, f"$oc/devices/{HUAWEI}/sys/events/up") == [
        {
            "services": [
                {
                    "service_id": "smokeDetector",
                    "event_type": "smoke_alarm",
                    "paras": {"level": 3, "room": "kitchen"},
                }
            ]
        }
    ]
    assert cloud.errors == []


def test_huawei_events_of_several_services_carry_their_own_service_id() -> None:
    detector, valve = Detector(), Valve()
    cloud = FakeCloud(detector, valve)
    detector.battery_low(percent=9)
    valve.stuck(opening=40)
    assert [(e.service_id, e.event_type, dict(e.params)) for e in cloud.events] == [
        ("smokeDetector", "batteryLow", {"percent": 9}),
        ("valve", "stuck", {"opening": 40}),
    ]


def test_huawei_has_no_answer_to_an_event() -> None:
    detector = Detector()
    cloud = FakeCloud(detector)
    before = len(cloud.messages)
    detector.smoke_alarm(level=1)
    assert [t for t, _ in cloud.messages[before:]] == [f"$oc/devices/{HUAWEI}/sys/events/up"]


# -- Tencent IoT Explorer --------------------------------------------------------------------------
def test_a_tencent_event_is_an_event_post_with_its_kind_and_gets_an_event_reply() -> None:
    detector = Detector()
    cloud = cloud_for("tencent-explorer", detector)
    detector.smoke_alarm(level=4)
    [post] = on(cloud, "$thing/up/event/ABCDEFGHIJ/dev1")
    assert {k: post[k] for k in ("method", "eventId", "type", "params")} == {
        "method": "event_post",
        "eventId": "smoke_alarm",
        "type": "alert",
        "params": {"level": 4},
    }
    assert isinstance(post["clientToken"], str) and post["clientToken"]
    assert isinstance(post["timestamp"], int)
    [reply] = on(cloud, "$thing/down/event/ABCDEFGHIJ/dev1")
    assert reply["method"] == "event_reply" and reply["clientToken"] == post["clientToken"]
    assert reply["code"] == 0
    # one data template per product: the wire names no service, and the fake cloud gives the
    # event back under the service that emitted it
    assert cloud.events == [
        ev.EventUp(TENCENT, "smokeDetector", "smoke_alarm", {"level": 4}, post["clientToken"])
    ]
    assert cloud.errors == []


def test_the_kind_of_each_tencent_event_is_its_type_on_the_wire() -> None:
    detector = Detector()
    cloud = cloud_for("tencent-explorer", detector)
    detector.battery_low(percent=12)
    detector.smoke_alarm(level=2)
    posts = on(cloud, "$thing/up/event/ABCDEFGHIJ/dev1")
    assert [(p["eventId"], p["type"]) for p in posts] == [("batteryLow", "info"), ("smoke_alarm", "alert")]
    assert len({p["clientToken"] for p in posts}) == 2


def test_a_tencent_event_the_cloud_refuses_surfaces_in_cloud_errors() -> None:
    detector = Detector()
    cloud = cloud_for("tencent-explorer", detector)
    platform = cloud.cloud
    assert isinstance(platform, ShadowCloud)
    keep = platform.on_uplink
    assert keep is not None

    def refuse_events(uplink: ev.PlatformUplink) -> None:
        if isinstance(uplink, ev.EventUp):
            raise RuntimeError("the event store is full")  # the cloud fails to take the event
        keep(uplink)

    platform.on_uplink = refuse_events
    detector.smoke_alarm(level=5)
    [post] = on(cloud, "$thing/up/event/ABCDEFGHIJ/dev1")
    [reply] = on(cloud, "$thing/down/event/ABCDEFGHIJ/dev1")
    assert reply["method"] == "event_reply" and reply["clientToken"] == post["clientToken"]
    assert reply["code"] != 0
    [error] = cloud.errors
    assert (error.kind, error.name) == ("rejected", post["clientToken"])
    assert f"the cloud refused it ({reply['code']})" in error.reason and "event_reply" in error.reason
    assert cloud.events == []

    platform.on_uplink = keep  # the device carries on: the next event is taken
    detector.smoke_alarm(level=1)
    assert [dict(e.params) for e in cloud.events] == [{"level": 1}]
    assert len(cloud.errors) == 1


# -- offline ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("vendor", ["huawei", "tencent-explorer"])
def test_events_emitted_offline_are_sent_in_order_after_reconnect(vendor: str) -> None:
    detector = Detector()
    cloud = cloud_for(vendor, detector)
    cloud.disconnect()
    for level in range(4):
        detector.smoke_alarm(level=level)
    detector.battery_low(percent=3)
    assert cloud.events == []  # nothing reached the cloud while offline
    cloud.connect()
    assert [(e.event_type, dict(e.params)) for e in cloud.events] == [
        *(("smoke_alarm", {"level": level}) for level in range(4)),
        ("batteryLow", {"percent": 3}),
    ]
    assert cloud.errors == []


def test_offline_events_and_reports_keep_their_order() -> None:
    detector = Detector()
    cloud = FakeCloud(detector)
    cloud.disconnect()
    detector.report("alarm")
    detector.smoke_alarm(level=1)
    detector.report("alarm")
    cloud.connect()
    kinds = [type(u).__name__ for u in cloud.uplinks if isinstance(u, (ev.Reported, ev.EventUp))]
    assert kinds == ["Reported", "EventUp", "Reported"]
