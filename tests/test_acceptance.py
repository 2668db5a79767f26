"""The acceptance items of the issue, one test each."""

from __future__ import annotations

from typing import Any

import pytest

from thingmodel import Property, Service, command
from thingmodel.testing import FakeCloud


# -- 1. the snippet works as written ---------------------------------------------------------------
class SmokeDetector(Service):
    service_id = "smokeDetector"
    alarm = Property(int, writeable=True, minimum=0, maximum=1)
    smoke_concentration = Property(float, name="smokeConcentration", minimum=0, maximum=100)
    temperature = Property(float)
    humidity = Property(int, default=0)

    def get_temperature(self) -> float: ...  # called when the value is read for a report or a get

    def set_alarm(self, value: int) -> None: ...  # called when the cloud writes the property

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 10) -> dict: ...  # type: ignore[type-arg]


def test_alarm_is_written_through_the_setter() -> None:
    detector = SmokeDetector()
    cloud = FakeCloud(detector)
    ack = cloud.desire({"alarm": 1})
    assert ack.ok and cloud.reported["smokeDetector"]["alarm"] == 1


# -- the same service with bodies that record what happens -----------------------------------------
class RecordingDetector(Service):
    service_id = "smokeDetector"
    alarm = Property(int, writeable=True, minimum=0, maximum=1, default=0)
    smoke_concentration = Property(float, name="smokeConcentration", minimum=0, maximum=100, default=3.5)
    temperature = Property(float)
    humidity = Property(int, default=0)

    def __init__(self) -> None:
        self.temperature_reads = 0
        self.alarm_writes: list[int] = []
        self.rings: list[int] = []

    def get_temperature(self) -> float:
        self.temperature_reads += 1
        return 20.0 + self.temperature_reads

    def set_alarm(self, value: int) -> None:
        self.alarm_writes.append(value)

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 10) -> dict[str, Any]:
        self.rings.append(duration)
        return {"rang": duration}


def test_the_snippet_service_writes_through_its_setter_and_answers_commands() -> None:
    detector = RecordingDetector()
    cloud = FakeCloud(detector)
    ack = cloud.desire({"alarm": 1})
    assert ack.ok and ack.errors == {}
    assert detector.alarm_writes == [1]
    assert cloud.reported["smokeDetector"]["alarm"] == 1
    response = cloud.command("ringAlarm", {"duration": 3})
    assert response.ok and response.params == {"rang": 3}
    assert detector.rings == [3]


# -- 2. auto-report --------------------------------------------------------------------------------
def report_messages(cloud: FakeCloud) -> list[Any]:
    return [payload for topic, payload in cloud.messages if topic.endswith("/properties/report")]


def test_auto_report_every_5_seconds_gives_3_reports_in_15_seconds_then_stops_when_disabled() -> None:
    detector = RecordingDetector()
    cloud = FakeCloud(detector)
    detector.enable_auto_report(5)
    cloud.advance(15)

    assert len(cloud.reports) == 3
    assert len(report_messages(cloud)) == 3
    assert cloud.reports == [
        {"smokeDetector": {"alarm": 0, "smokeConcentration": 3.5, "temperature": 21.0, "humidity": 0}},
        {"smokeDetector": {"alarm": 0, "smokeConcentration": 3.5, "temperature": 22.0, "humidity": 0}},
        {"smokeDetector": {"alarm": 0, "smokeConcentration": 3.5, "temperature": 23.0, "humidity": 0}},
    ]
    assert cloud.reported["smokeDetector"]["temperature"] == 23.0

    detector.disable_auto_report()
    cloud.advance(15)
    assert len(cloud.reports) == 3
    assert len(report_messages(cloud)) == 3


# -- 3. refused writes -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "name", "words"),
    [
        ({"alarm": 2}, "alarm", "above the maximum"),
        ({"alarm": "on"}, "alarm", "expected an integer"),
        ({"temperature": 30.0}, "temperature", "read-only"),
        ({"colour": "red"}, "colour", "unknown property"),
    ],
    ids=["out-of-range", "wrong-type", "read-only", "unknown"],
)
def test_a_bad_write_is_refused_with_a_reason_and_leaves_the_service_unchanged(
    values: dict[str, Any], name: str, words: str
) -> None:
    detector = RecordingDetector()
    cloud = FakeCloud(detector)
    detector.report()
    before = cloud.reported["smokeDetector"]
    ack = cloud.desire(values)
    assert not ack.ok
    assert list(ack.errors) == [name]
    assert words in ack.errors[name]
    assert detector.alarm_writes == []
    assert (detector.alarm, detector.humidity, detector.smoke_concentration) == (0, 0, 3.5)
    assert cloud.reported["smokeDetector"] == before
    assert name not in cloud.desired["smokeDetector"]


def test_a_write_mixing_valid_and_invalid_values_applies_nothing() -> None:
    detector = RecordingDetector()
    cloud = FakeCloud(detector)
    detector.report()
    before = cloud.reported["smokeDetector"]
    ack = cloud.desire({"alarm": 1, "smokeConcentration": 50.0, "colour": "red"})
    assert not ack.ok
    assert set(ack.errors) == {"smokeConcentration", "colour"}
    assert "read-only" in ack.errors["smokeConcentration"]
    assert detector.alarm_writes == []
    assert detector.alarm == 0
    assert cloud.reported["smokeDetector"] == before
