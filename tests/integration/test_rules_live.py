"""On-device rules live: a real Device against LocalCloud(vendor="huawei") over real MQTT. The
cloud pushes the rules' versions as a ``$device_rule`` property write, the device answers it,
asks for the rules, gets them and runs them: a command when a reported value crosses a threshold
(once per crossing), a timer on the wall clock, a bad rule refused while the others run, a
device that restarted fetching its rules again, and other vendors saying they have none."""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator
from typing import Any

import pytest

from thingmodel import NotSupported, Property, Service, command
from thingmodel.cloud import LocalCloud
from thingmodel.device import Device

from .helpers import eventually, fast_backoff

pytestmark = pytest.mark.broker

DEVICE = "thermo-1"


class Thermostat(Service):
    service_id = "climate"
    temperature = Property(float)

    def __init__(self) -> None:
        super().__init__()
        self.reading = 20.0
        self.runs: list[tuple[str, Any]] = []

    def get_temperature(self) -> float:
        return self.reading

    @command("cool")
    def cool(self, level: int = 1) -> dict[str, Any]:
        self.runs.append(("cool", level))
        return {"level": level}

    @command("selfTest")
    def self_test(self) -> dict[str, Any]:
        self.runs.append(("selfTest", None))
        return {}


def hot(rule_id: str = "hot", operator: str = ">") -> dict[str, Any]:
    return {
        "ruleId": rule_id,
        "ruleName": "cool when hot",
        "logic": "and",
        "status": "active",
        "conditions": [
            {
                "type": "DEVICE_DATA",
                "operator": operator,
                "value": "30",
                "deviceInfo": {"deviceId": DEVICE, "path": "climate/temperature"},
            }
        ],
        "actions": [
            {
                "type": "DEVICE_CMD",
                "status": "enable",
                "deviceId": DEVICE,
                "command": {"serviceId": "climate", "commandName": "cool", "commandBody": {"level": 2}},
            }
        ],
    }


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="huawei", port=0, http_port=0) as local:
        yield local


def connect(cloud: LocalCloud, thermostat: Thermostat) -> Device:
    device = Device([thermostat], device_id=DEVICE, vendor="huawei", broker=cloud.url, backoff=fast_backoff())
    return device.connect()


def report(cloud: LocalCloud, device: Device, thermostat: Thermostat, reading: float) -> None:
    """Report ``reading`` and wait until the cloud has it (reports read the value on the worker)."""
    before = cloud.get_shadow(DEVICE).get("climate", {}).get("version", 0)
    thermostat.reading = reading
    device.report()
    eventually(
        lambda: cloud.get_shadow(DEVICE).get("climate", {}).get("version", 0) > before, what="a report"
    )


def held(device: Device) -> set[str]:
    runner = device.features.rules
    assert runner is not None
    return set(runner.book.rules)


def test_a_pushed_rule_runs_the_command_once_per_crossing(cloud: LocalCloud) -> None:
    thermostat = Thermostat()
    device = connect(cloud, thermostat)
    try:
        assert cloud.push_rules(DEVICE, [hot()]) == {"hot": 1}
        eventually(lambda: held(device) == {"hot"}, what="the device to fetch its rule")
        assert cloud.rules(DEVICE)[0]["ruleVersionInShadow"] == 1
        report(cloud, device, thermostat, 35)
        eventually(lambda: thermostat.runs == [("cool", 2)], what="the rule's command")
        report(cloud, device, thermostat, 35)
        report(cloud, device, thermostat, 36)
        assert thermostat.runs == [("cool", 2)]  # not at the reports while it stayed hot
        report(cloud, device, thermostat, 25)
        report(cloud, device, thermostat, 31)
        eventually(lambda: len(thermostat.runs) == 2, what="the second crossing")
        assert thermostat.runs == [("cool", 2)] * 2
        assert not [e for e in device.errors if e.kind == "rule"]
    finally:
        device.disconnect()


def test_a_bad_rule_is_refused_on_the_device_while_the_good_one_runs(cloud: LocalCloud) -> None:
    thermostat = Thermostat()
    device = connect(cloud, thermostat)
    try:
        cloud.push_rules(DEVICE, [hot("bad", operator="~"), hot()])
        eventually(lambda: held(device) == {"hot"}, what="the good rule")
        eventually(lambda: any(e.kind == "rule" for e in device.errors), what="the refusal")
        [error] = [str(e) for e in device.errors if e.kind == "rule"]
        operators = "=, >, >=, <, <=, between, in"
        assert error == f"rule bad: refused: conditions[0].operator: must be one of {operators}, got '~'"
        thermostat.reading = 40
        device.report()
        eventually(lambda: thermostat.runs == [("cool", 2)], what="the good rule's command")
    finally:
        device.disconnect()


def test_a_timer_rule_fires_on_the_wall_clock(cloud: LocalCloud) -> None:
    thermostat = Thermostat()
    device = connect(cloud, thermostat)
    try:
        start = time.gmtime(time.time() + 2)
        timer = {
            "ruleId": "soon",
            "conditions": [
                {
                    "type": "SIMPLE_TIMER",
                    "startTime": time.strftime("%Y-%m-%d %H:%M:%S", start),
                    "repeatInterval": 1,
                    "repeatCount": 2,
                }
            ],
            "actions": [
                {"type": "DEVICE_CMD", "command": {"serviceId": "climate", "commandName": "selfTest"}}
            ],
        }
        cloud.push_rules(DEVICE, [timer])
        eventually(lambda: len(thermostat.runs) == 2, timeout=15, what="both timer runs")
        assert time.time() >= calendar.timegm(start) + 1 - 0.05  # not before they were due
        assert thermostat.runs == [("selfTest", None)] * 2
    finally:
        device.disconnect()


def test_a_device_that_restarted_fetches_its_rules_again_and_deletions_reach_it(cloud: LocalCloud) -> None:
    first = connect(cloud, Thermostat())
    try:
        cloud.push_rules(DEVICE, [hot(), hot("other")])
        eventually(lambda: held(first) == {"hot", "other"}, what="the first device's rules")
    finally:
        first.disconnect()
    cloud.push_rules(DEVICE, [hot()])  # "other" deleted while the device is off
    thermostat = Thermostat()
    second = connect(cloud, thermostat)  # a fresh process: it holds no rules
    try:
        eventually(lambda: held(second) == {"hot"}, what="the rules after the reconnect")
        thermostat.reading = 33
        second.report()
        eventually(lambda: thermostat.runs == [("cool", 2)], what="the command")
    finally:
        second.disconnect()


@pytest.mark.parametrize("vendor", ["aws", "tencent-explorer"])
def test_other_vendors_say_they_have_no_on_device_rules(vendor: str) -> None:
    with LocalCloud(vendor=vendor, port=0) as local:
        device_id = "ABCDEFGHIJ.dev" if vendor.startswith("tencent") else "dev"
        device = Device([Thermostat()], device_id=device_id, vendor=vendor, broker=local.url)
        with device:
            assert device.features.rules is None
            with pytest.raises(NotSupported, match=f"{vendor} has no on-device rules"):
                local.push_rules(device_id, [hot()])
