"""How to unit-test a service class: FakeCloud runs the real device core and codec, in memory.

    pytest examples/test_smoke_detector.py

No broker, no sleeping: ``cloud.advance(seconds)`` moves a fake clock.
"""

from __future__ import annotations

import pytest
from smoke_detector import SmokeDetector

from thingmodel.testing import FakeCloud


@pytest.fixture
def detector() -> SmokeDetector:
    return SmokeDetector(seed=7)


@pytest.fixture
def cloud(detector: SmokeDetector) -> FakeCloud:
    return FakeCloud(detector)


def test_alarm_is_written_through_the_setter(detector: SmokeDetector, cloud: FakeCloud) -> None:
    ack = cloud.desire({"alarm": 1})
    assert ack.ok
    assert detector.alarm == 1
    assert cloud.reported["smokeDetector"]["alarm"] == 1


def test_an_out_of_range_alarm_is_refused_and_changes_nothing(
    detector: SmokeDetector, cloud: FakeCloud
) -> None:
    ack = cloud.desire({"alarm": 2})
    assert not ack.ok
    assert ack.errors == {"alarm": "2 is above the maximum 1"}
    assert detector.alarm == 0


def test_sensor_values_are_read_through_the_getters(cloud: FakeCloud) -> None:
    values = cloud.read()
    assert 20.5 <= values["temperature"] <= 21.5
    assert 35 <= values["humidity"] <= 45


def test_smoke_rises_while_the_alarm_sounds(cloud: FakeCloud) -> None:
    quiet = cloud.read()["smokeConcentration"]
    cloud.desire({"alarm": 1})
    assert cloud.read()["smokeConcentration"] > quiet + 50


def test_ring_alarm_answers_with_the_duration(detector: SmokeDetector, cloud: FakeCloud) -> None:
    response = cloud.command("ringAlarm", {"duration": 3})
    assert response.code == 0 and response.params == {"rang": 3}
    assert detector.buzzer_rings == 1


def test_ring_alarm_refuses_a_duration_that_is_not_a_number(
    detector: SmokeDetector, cloud: FakeCloud
) -> None:
    response = cloud.command("ringAlarm", {"duration": "long"})
    assert response.code != 0
    assert "duration" in response.params["error"]
    assert detector.buzzer_rings == 0


def test_auto_report_sends_every_property_every_period(detector: SmokeDetector, cloud: FakeCloud) -> None:
    detector.enable_auto_report(5)
    cloud.advance(15)
    assert len(cloud.reports) == 3
    assert set(cloud.reports[-1]["smokeDetector"]) == {
        "alarm",
        "smokeConcentration",
        "temperature",
        "humidity",
    }


def test_a_write_made_while_offline_is_applied_on_reconnect(
    detector: SmokeDetector, cloud: FakeCloud
) -> None:
    cloud.disconnect()
    assert cloud.desire({"alarm": 1}).pending
    assert detector.alarm == 0
    cloud.connect()
    assert detector.alarm == 1
    assert cloud.reported["smokeDetector"]["alarm"] == 1
