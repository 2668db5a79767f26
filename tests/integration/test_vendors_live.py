"""The shared behaviour suite over a real broker: every vendor's local cloud and our device.

The in-memory twin is tests/test_vendors.py; both drive the same kind of service.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from thingmodel.cloud import LocalCloud
from thingmodel.device import Device
from thingmodel.vendors import VENDORS, shadow_key

from .conftest import Broker
from .helpers import Detector, eventually, fast_backoff


@pytest.fixture(params=VENDORS)
def vendor_cloud(request: pytest.FixtureRequest, broker: Broker) -> Iterator[LocalCloud]:
    with LocalCloud(vendor=request.param, broker=broker.url) as cloud:
        yield cloud


def device_for(cloud: LocalCloud, detector: Detector, name: str) -> Device:
    device_id = f"ABCDEFGHIJ.{name}" if cloud.vendor.startswith("tencent") else name
    return Device(
        [detector], device_id=device_id, vendor=cloud.vendor, broker=cloud.url, backoff=fast_backoff()
    )


def reported(cloud: LocalCloud, device: Device) -> dict[str, Any]:
    key = shadow_key(device.codec, "smokeDetector")
    return dict(cloud.get_shadow(device.device_id).get(key, {}).get("reported", {}))


def test_a_report_lands_in_the_shadow(vendor_cloud: LocalCloud) -> None:
    detector = Detector()
    detector.temperature = 23.5
    with device_for(vendor_cloud, detector, "live-report") as device:
        device.report()
        eventually(lambda: reported(vendor_cloud, device).get("temperature") == 23.5, what="the report")


def test_a_desire_runs_the_setter_and_is_reported(vendor_cloud: LocalCloud) -> None:
    detector = Detector()
    with device_for(vendor_cloud, detector, "live-desire") as device:
        device.report()
        eventually(lambda: bool(reported(vendor_cloud, device)), what="the first report")
        key = shadow_key(device.codec, "smokeDetector")
        outcome = vendor_cloud.set_desired(device.device_id, key, {"alarm": 1})
        assert outcome.ok, outcome
        assert detector.set_calls == [1]
        eventually(lambda: reported(vendor_cloud, device).get("alarm") == 1, what="the new value reported")


def test_an_invalid_desire_is_refused_and_not_applied(vendor_cloud: LocalCloud) -> None:
    detector = Detector()
    with device_for(vendor_cloud, detector, "live-refuse") as device:
        device.report()
        eventually(lambda: bool(reported(vendor_cloud, device)), what="the first report")
        key = shadow_key(device.codec, "smokeDetector")
        outcome = vendor_cloud.set_desired(device.device_id, key, {"alarm": 7})
        assert not outcome.ok and "alarm" in outcome.errors, outcome
        assert detector.set_calls == [] and detector.alarm == 0


def test_a_command_runs_the_method(vendor_cloud: LocalCloud) -> None:
    detector = Detector()
    with device_for(vendor_cloud, detector, "live-command") as device:
        answer = vendor_cloud.send_command(device.device_id, "smokeDetector", "ringAlarm", {"duration": 2})
        assert answer.ok, answer
        assert detector.commands == [2]


def test_a_desire_made_offline_is_applied_on_reconnect(vendor_cloud: LocalCloud) -> None:
    detector = Detector()
    device = device_for(vendor_cloud, detector, "live-offline")
    with device:
        device.report()
        eventually(lambda: bool(reported(vendor_cloud, device)), what="the first report")
    key = shadow_key(device.codec, "smokeDetector")
    outcome = vendor_cloud.set_desired(device.device_id, key, {"alarm": 1}, timeout=0.3)
    assert outcome.pending and detector.set_calls == []
    with device_for(vendor_cloud, detector, "live-offline") as again:
        assert detector.set_calls == [1]  # applied before connect() returned
        eventually(lambda: reported(vendor_cloud, again).get("alarm") == 1, what="the applied value")
