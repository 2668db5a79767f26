"""How to unit-test a service's events: FakeCloud.events lists what the cloud received.

pytest examples/test_events_device.py
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from events_device import PRODUCT_ID, DoorSensor

from thingmodel import ValidationError
from thingmodel.testing import FakeCloud


def test_opening_the_door_reports_it_and_raises_the_alert() -> None:
    sensor = DoorSensor()
    cloud = FakeCloud(sensor)
    sensor.open_door(90, by="alice")
    assert cloud.reported["doorSensor"]["open"] is True
    [event] = cloud.events
    assert (event.event_type, dict(event.params)) == ("door_opened", {"angle": 90, "by": "alice"})


def test_who_opened_the_door_may_be_left_out() -> None:
    sensor = DoorSensor()
    cloud = FakeCloud(sensor)
    sensor.open_door(35)
    assert [dict(e.params) for e in cloud.events] == [{"angle": 35}]


def test_the_battery_event_comes_only_below_20_percent() -> None:
    sensor = DoorSensor()
    cloud = FakeCloud(sensor)
    sensor.drain(50)
    sensor.drain(15)
    assert [(e.event_type, dict(e.params)) for e in cloud.events] == [("battery_low", {"percent": 15})]


def test_a_bad_event_names_every_bad_parameter_and_sends_nothing() -> None:
    sensor = DoorSensor()
    cloud = FakeCloud(sensor)
    with pytest.raises(ValidationError) as info:
        sensor.door_opened(angle=400, colour="red")
    assert set(info.value.errors) == {"angle", "colour"}
    assert cloud.events == []


def test_on_tencent_the_alert_is_an_event_post_of_type_alert() -> None:
    sensor = DoorSensor()
    cloud = FakeCloud(sensor, vendor="tencent-explorer", device_id=f"{PRODUCT_ID}.door-1")
    sensor.open_door(60)
    [post] = [p for t, p in cloud.messages if t == f"$thing/up/event/{PRODUCT_ID}/door-1"]
    assert (post["method"], post["eventId"], post["type"], post["params"]) == (
        "event_post",
        "door_opened",
        "alert",
        {"angle": 60},
    )
    assert cloud.errors == []  # the cloud's event_reply said success


def test_events_made_offline_arrive_after_reconnect_in_order() -> None:
    sensor = DoorSensor()
    cloud = FakeCloud(sensor)
    cloud.disconnect()
    sensor.open_door(10)
    sensor.open_door(20)
    assert cloud.events == []
    cloud.connect()
    assert [e.params["angle"] for e in cloud.events] == [10, 20]


@pytest.mark.parametrize("vendor", ["huawei", "tencent-explorer"])
def test_the_example_runs_against_the_local_cloud(vendor: str) -> None:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "events_device.py"), "--vendor", vendor],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "refused, nothing sent: invalid event 'door_opened': angle: 400 is above the maximum 180"
        in done.stderr
    )
    # the program's own lines, not their echoes in the log lines it ships ("cloud: log line ...")
    received = [
        line.split(" events_device cloud: received ", 1)[1]
        for line in done.stderr.splitlines()
        if " events_device cloud: received " in line
    ]
    assert received == [
        "door_opened {'angle': 90, 'by': 'alice'}",
        "door_opened {'angle': 35}",
        "battery_low {'percent': 15}",
    ]
    logged = [line for line in done.stderr.splitlines() if "cloud: log line " in line]
    if vendor == "huawei":
        assert any("WARNING events_device: battery at 15%: replace it soon" in line for line in logged)
    else:
        assert logged == [] and "tencent-explorer has no log shipping" in done.stderr


def test_the_battery_warning_is_shipped_to_the_cloud_log() -> None:
    sensor = DoorSensor()
    cloud = FakeCloud(sensor)
    handler = cloud.log_handler()
    logging.getLogger("events_device").addHandler(handler)
    try:
        sensor.drain(12)
    finally:
        logging.getLogger("events_device").removeHandler(handler)
    assert cloud.logs == ["WARNING events_device: battery at 12%: replace it soon"]
