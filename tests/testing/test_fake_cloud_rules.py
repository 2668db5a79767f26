"""FakeCloud runs Huawei's on-device rules in memory, with the real core, both codec halves and the
cloud's rule keeping: the cloud pushes rule versions, the device asks for what it lacks and runs
the rules itself; timers run on the fake clock (UTC)."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import pytest

from thingmodel import NotSupported, Property, Service, command
from thingmodel.testing import FakeCloud

#: Wednesday 2024-05-01 07:00 UTC
START = _dt.datetime(2024, 5, 1, 7, 0)
DEVICE = "dev-1"


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

    @command("broken")
    def broken(self) -> dict[str, Any]:
        raise RuntimeError("the fan is stuck")


def hot(rule_id: str = "hot", limit: str = "30", level: int = 2, **fields: Any) -> dict[str, Any]:
    return {
        "ruleId": rule_id,
        "ruleName": "cool when hot",
        "logic": "and",
        "status": "active",
        "conditions": [
            {
                "type": "DEVICE_DATA",
                "operator": ">",
                "value": limit,
                "deviceInfo": {"deviceId": DEVICE, "path": "climate/temperature"},
            }
        ],
        "actions": [
            {
                "type": "DEVICE_CMD",
                "status": "enable",
                "deviceId": DEVICE,
                "command": {"serviceId": "climate", "commandName": "cool", "commandBody": {"level": level}},
            }
        ],
        **fields,
    }


def daily(rule_id: str, at: str, name: str = "selfTest") -> dict[str, Any]:
    return {
        "ruleId": rule_id,
        "logic": "or",
        "conditions": [{"type": "DAILY_TIMER", "time": at, "daysOfWeek": "1,2,3,4,5,6,7"}],
        "actions": [{"type": "DEVICE_CMD", "command": {"serviceId": "climate", "commandName": name}}],
    }


def make(**options: Any) -> tuple[FakeCloud, Thermostat]:
    thermostat = Thermostat()
    return FakeCloud(thermostat, device_id=DEVICE, start=START, **options), thermostat


def rule_errors(fake: FakeCloud) -> list[str]:
    return [str(e) for e in fake.errors if e.kind == "rule"]


def asks(fake: FakeCloud) -> list[Any]:
    return [p for t, p in fake.messages if t.endswith("events/up") and "device_rule_config_request" in str(p)]


def test_a_pushed_rule_runs_the_command_when_the_property_crosses_the_threshold() -> None:
    fake, thermostat = make()
    assert fake.push_rules([hot()]) == {"hot": 1}
    thermostat.enable_auto_report(10)
    fake.advance(30)
    assert thermostat.runs == []
    thermostat.reading = 31.5
    fake.advance(10)
    assert thermostat.runs == [("cool", 2)]
    fake.advance(60)  # still hot at six more reports: one crossing, one run
    assert thermostat.runs == [("cool", 2)] and fake.rules_fired == ["hot"]
    thermostat.reading = 25
    fake.advance(10)
    thermostat.reading = 35
    fake.advance(10)
    assert thermostat.runs == [("cool", 2), ("cool", 2)]
    assert fake.errors == []


class Meter(Service):
    service_id = "power"
    watts = Property(int, default=0)


def test_a_rule_that_comes_later_sees_what_was_reported_before_any_rule_was_held() -> None:
    thermostat, meter = Thermostat(), Meter()
    fake = FakeCloud(thermostat, meter, device_id=DEVICE, start=START)
    meter.update(watts=500)
    meter.report()  # no rule held yet: the device only keeps the values
    busy = hot()
    busy["conditions"].append(
        {
            "type": "DEVICE_DATA",
            "operator": ">",
            "value": "100",
            "deviceInfo": {"deviceId": DEVICE, "path": "power/watts"},
        }
    )
    fake.push_rules([busy])
    thermostat.reading = 31.5
    thermostat.report()  # the meter is not reported again: its 500 W from before count
    assert thermostat.runs == [("cool", 2)] and fake.rules_fired == ["hot"]


def test_the_device_asks_for_what_it_lacks_and_answers_the_rule_write_with_success() -> None:
    fake, _ = make()
    fake.push_rules([hot(), daily("morning", "07:30")])
    [ask] = asks(fake)
    assert ask["services"][0]["paras"] == {"ruleIds": ["hot", "morning"], "delIds": []}
    [answer] = [p for t, p in fake.messages if "properties/set/response" in t]
    assert answer == {"result_code": 0, "result_desc": "success"}
    fake.push_rules([hot(), daily("morning", "07:30")])  # the same again: nothing to ask for
    assert len(asks(fake)) == 1


def test_a_timer_rule_fires_when_the_fake_clock_passes_its_time() -> None:
    fake, thermostat = make()
    fake.push_rules([daily("morning", "07:30")])
    fake.advance(29 * 60)
    assert thermostat.runs == []
    fake.advance(60)
    assert thermostat.runs == [("selfTest", None)]
    fake.advance(24 * 3600)  # the next day, once more
    assert thermostat.runs == [("selfTest", None)] * 2


def test_a_simple_timer_runs_its_count_on_the_fake_clock() -> None:
    fake, thermostat = make()
    simple = {
        "ruleId": "every10",
        "conditions": [
            {
                "type": "SIMPLE_TIMER",
                "startTime": "2024-05-01 07:05:00",
                "repeatInterval": 600,
                "repeatCount": 3,
            }
        ],
        "actions": [{"command": {"serviceId": "climate", "commandName": "selfTest"}}],
    }
    fake.push_rules([simple])
    fake.advance(3 * 3600)
    assert len(thermostat.runs) == 3


def test_a_bad_rule_is_refused_with_its_reason_while_the_good_ones_work() -> None:
    fake, thermostat = make()
    bad = hot("bad")
    bad["conditions"][0]["operator"] = "!="
    worse = {"ruleId": "worse", "conditions": [], "actions": []}
    versions = fake.push_rules([bad, hot(), worse, daily("morning", "07:30")])
    assert set(versions) == {"bad", "hot", "worse", "morning"}  # the cloud keeps them; the device judges
    assert rule_errors(fake) == [
        "rule bad: refused: conditions[0].operator: must be one of =, >, >=, <, <=, between, in, got '!='",
        "rule worse: refused: conditions: must be a non-empty list, got []",
    ]
    thermostat.reading = 40
    fake.core.report_all()
    fake.advance(30 * 60)
    assert thermostat.runs == [("cool", 2), ("selfTest", None)]


def test_a_changed_rule_replaces_the_old_one_and_a_rule_left_out_is_deleted() -> None:
    fake, thermostat = make()
    fake.push_rules([hot(limit="30"), daily("morning", "07:30")])
    assert fake.push_rules([hot(limit="50", level=3)]) == {"hot": 2}
    [_, ask] = asks(fake)
    assert ask["services"][0]["paras"] == {"ruleIds": ["hot"], "delIds": ["morning"]}
    thermostat.reading = 40
    fake.core.report_all()
    fake.advance(3600)  # the morning timer is gone
    assert thermostat.runs == []
    thermostat.reading = 51
    fake.core.report_all()
    assert thermostat.runs == [("cool", 3)]
    fake.push_rules([])
    thermostat.reading = 0
    fake.core.report_all()
    thermostat.reading = 99
    fake.core.report_all()
    assert thermostat.runs == [("cool", 3)]
    assert fake.cloud.rules(DEVICE) == []  # type: ignore[attr-defined]


def test_rules_pushed_while_the_device_was_offline_reach_it_when_it_reconnects() -> None:
    fake, thermostat = make()
    fake.disconnect()
    fake.push_rules([hot()])
    thermostat.reading = 45
    fake.core.report_all()  # offline: the rule is not there yet
    assert thermostat.runs == []
    fake.connect()
    thermostat.reading = 46
    fake.core.report_all()
    assert thermostat.runs == [("cool", 2)]


def test_an_action_that_fails_is_a_rule_error_naming_the_rule() -> None:
    fake, thermostat = make()
    rule = hot()
    rule["actions"][0]["command"].update(commandName="broken", commandBody={})
    fake.push_rules([rule])
    thermostat.reading = 40
    fake.core.report_all()
    [error] = rule_errors(fake)
    assert error.startswith("rule climate/hot: action broken failed (") and "the fan is stuck" in error


def test_actions_that_report_and_fire_rules_again_are_stopped_after_a_few_rounds() -> None:
    class Loop(Service):
        service_id = "loop"
        level = Property(int)

        def __init__(self) -> None:
            super().__init__()
            self.value = 0

        def get_level(self) -> int:
            return self.value

        @command("flip")
        def flip(self) -> dict[str, Any]:
            self.value = 1 - self.value
            self.report()
            return {}

    def flip_when(operator: str, rule_id: str) -> dict[str, Any]:
        return {
            "ruleId": rule_id,
            "conditions": [
                {
                    "type": "DEVICE_DATA",
                    "operator": operator,
                    "value": "0.5",
                    "deviceInfo": {"path": "loop/level"},
                }
            ],
            "actions": [{"command": {"serviceId": "loop", "commandName": "flip"}}],
        }

    loop = Loop()
    fake = FakeCloud(loop, device_id=DEVICE, start=START)
    fake.push_rules([flip_when(">", "up"), flip_when("<", "down")])
    fake.core.report_all()
    assert any("kept firing rules 8 times in a row" in e for e in rule_errors(fake))
    assert len(fake.rules_fired) == 9


def test_a_device_with_rules_off_answers_the_write_and_asks_for_nothing() -> None:
    fake, thermostat = make(rules=False)
    fake.push_rules([hot()])
    assert asks(fake) == [] and fake.errors == []
    assert [p for t, p in fake.messages if "properties/set/response" in t] == [
        {"result_code": 0, "result_desc": "success"}
    ]
    thermostat.reading = 40
    fake.core.report_all()
    assert thermostat.runs == []


@pytest.mark.parametrize(("vendor", "device_id"), [("aws", "dev-1"), ("tencent-explorer", "PROD1.dev-1")])
def test_other_vendors_have_no_on_device_rules(vendor: str, device_id: str) -> None:
    fake = FakeCloud(Thermostat(), vendor=vendor, device_id=device_id)
    assert fake.features.rules is None
    with pytest.raises(NotSupported, match=f"{vendor} has no on-device rules"):
        fake.push_rules([hot()])
    fake.close()
    with pytest.raises(NotSupported, match=rf"{vendor} has no rules: its platform pushes no on-device rules"):
        FakeCloud(Thermostat(), vendor=vendor, device_id=device_id, rules=True)


def test_a_timer_a_year_away_fires_when_the_fake_clock_gets_there() -> None:
    fake, thermostat = make()
    later = {
        "ruleId": "next-year",
        "conditions": [
            {
                "type": "SIMPLE_TIMER",
                "startTime": "2025-05-01 07:00:00",
                "repeatInterval": 60,
                "repeatCount": 1,
            }
        ],
        "actions": [{"command": {"serviceId": "climate", "commandName": "selfTest"}}],
    }
    fake.push_rules([later])
    fake.advance(364 * 86400)
    assert thermostat.runs == []
    fake.advance(2 * 86400)
    assert thermostat.runs == [("selfTest", None)]
