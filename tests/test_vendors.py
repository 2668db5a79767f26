"""One behaviour suite, every vendor: the same SmokeDetector class through FakeCloud(vendor=...).

The live twin of this suite (a real broker, the local cloud) is tests/integration/test_vendors_live.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from thingmodel import Property, Service, command
from thingmodel.protocol import messages as ev
from thingmodel.testing import FakeCloud
from thingmodel.vendors import VENDORS


class SmokeDetector(Service):
    service_id = "smokeDetector"
    alarm = Property(int, writeable=True, minimum=0, maximum=1, default=0)
    smoke_concentration = Property(float, name="smokeConcentration", minimum=0, maximum=100, default=3.5)
    temperature = Property(float)
    humidity = Property(int, default=0)

    def __init__(self) -> None:
        self.alarm_writes: list[int] = []
        self.rings: list[int] = []

    def get_temperature(self) -> float:
        return 21.5

    def set_alarm(self, value: int) -> None:
        self.alarm_writes.append(value)

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 10) -> dict[str, Any]:
        self.rings.append(duration)
        return {"rang": duration}


def device_id(vendor: str) -> str:
    # Tencent's cloud side names a device ProductId.DeviceName
    return "ABCDEFGHIJ.detector-1" if vendor.startswith("tencent") else "detector-1"


@pytest.fixture(params=VENDORS)
def rig(request: pytest.FixtureRequest) -> tuple[SmokeDetector, FakeCloud]:
    detector = SmokeDetector()
    return detector, FakeCloud(detector, vendor=request.param, device_id=device_id(request.param))


def test_every_vendor_is_in_the_suite() -> None:
    assert set(VENDORS) >= {"huawei", "aws"}


def test_a_report_lands_in_the_shadow(rig: tuple[SmokeDetector, FakeCloud]) -> None:
    detector, cloud = rig
    detector.update(humidity=55)
    detector.report()
    assert cloud.reported["smokeDetector"]["humidity"] == 55
    assert cloud.reported["smokeDetector"]["temperature"] == 21.5


def test_a_desire_runs_the_setter_and_the_new_value_is_reported(rig: tuple[SmokeDetector, FakeCloud]) -> None:
    detector, cloud = rig
    ack = cloud.desire({"alarm": 1})
    assert ack.ok, ack.errors
    assert detector.alarm_writes == [1] and detector.alarm == 1
    assert cloud.reported["smokeDetector"]["alarm"] == 1


@pytest.mark.parametrize(
    ("props", "bad"),
    [({"alarm": 5}, "alarm"), ({"alarm": "on"}, "alarm"), ({"humidity": 3}, "humidity")],
    ids=["out-of-range", "wrong-type", "read-only"],
)
def test_an_invalid_desire_is_refused_and_nothing_changes(
    rig: tuple[SmokeDetector, FakeCloud], props: dict[str, Any], bad: str
) -> None:
    detector, cloud = rig
    ack = cloud.desire(props)
    assert not ack.ok and bad in ack.errors, ack
    assert detector.alarm_writes == [] and detector.alarm == 0 and detector.humidity == 0
    assert [e.kind for e in cloud.errors] == ["desired"]
    assert bad not in cloud.desired.get("smokeDetector", {})  # not left pending in the shadow


def test_a_command_runs_the_method_and_returns_its_result(rig: tuple[SmokeDetector, FakeCloud]) -> None:
    detector, cloud = rig
    response = cloud.command("ringAlarm", {"duration": 3})
    assert response.ok and detector.rings == [3]
    # AWS IoT's command result map holds strings and booleans only
    assert response.params == ({"rang": "3"} if cloud.vendor == "aws" else {"rang": 3})


def test_a_command_with_bad_parameters_fails_with_the_reason(rig: tuple[SmokeDetector, FakeCloud]) -> None:
    detector, cloud = rig
    response = cloud.command("ringAlarm", {"duration": "long"})
    assert not response.ok and "duration" in str(response.params) and detector.rings == []


def test_a_desire_made_offline_is_applied_on_reconnect(rig: tuple[SmokeDetector, FakeCloud]) -> None:
    detector, cloud = rig
    cloud.disconnect()
    ack = cloud.desire({"alarm": 1})
    assert ack.pending and detector.alarm_writes == []
    cloud.connect()
    assert detector.alarm_writes == [1]
    assert cloud.reported["smokeDetector"]["alarm"] == 1
    settled = cloud.cloud.result(ack.request_id)
    assert isinstance(settled, ev.DesiredAcked) and settled.ok


def test_auto_report_runs_on_every_vendor(rig: tuple[SmokeDetector, FakeCloud]) -> None:
    detector, cloud = rig
    before = len(cloud.reports)
    detector.enable_auto_report(5)
    cloud.advance(15)
    assert len(cloud.reports) - before == 3
