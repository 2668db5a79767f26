"""On-device rules: the parser (IoTDA's rule JSON into frozen objects, a bad rule refused naming
its id and field) and the evaluator (:class:`RuleBook`: edges after reports, timers, time ranges,
versions), with time passed in as Unix seconds: no clock, no sleep."""

from __future__ import annotations

import calendar
import copy
from typing import Any

import pytest

from thingmodel.features.rules import (
    MAX_ACTIONS,
    MAX_CONDITIONS,
    Action,
    DailyTimer,
    Operand,
    PropertyCondition,
    RuleBook,
    RuleError,
    SimpleTimer,
    TimeRange,
    parse_rule,
)

DEVICE = "dev-1"
#: Wednesday 2024-05-01 07:00:00 UTC
WED_7AM = float(calendar.timegm((2024, 5, 1, 7, 0, 0)))
HOUR = 3600.0
DAY = 86400.0


def data(
    path: Any = "BasicData/luminance", operator: str = "<", value: Any = "20", **more: Any
) -> dict[str, Any]:
    condition = {
        "type": "DEVICE_DATA",
        "operator": operator,
        "deviceInfo": {"deviceId": DEVICE, "path": path},
    }
    if value is not None:
        condition["value"] = value
    return {**condition, **more}


def switch(value: str = "ON", **more: Any) -> dict[str, Any]:
    command = {"serviceId": "LightControl", "commandName": "switch", "commandBody": {"value": value}}
    return {"type": "DEVICE_CMD", "status": "enable", "deviceId": DEVICE, "command": command, **more}


def rule(rule_id: str = "r1", *conditions: dict[str, Any], version: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "ruleId": rule_id,
        "ruleName": "lights on",
        "logic": "and",
        "status": "active",
        "conditions": list(conditions) or [data()],
        "actions": [switch()],
        "ruleVersionInShadow": version,
        **fields,
    }


def book_with(*rules: dict[str, Any], now: float = WED_7AM) -> RuleBook:
    book = RuleBook(DEVICE)
    taken, refused = book.deliver(rules, now)
    assert not refused, refused
    assert len(taken) == len(rules)
    return book


def report(book: RuleBook, luminance: Any, now: float = WED_7AM) -> list[str]:
    return [f.rule.rule_id for f in book.reported({"BasicData": {"luminance": luminance}}, now)]


# -- parsing ------------------------------------------------------------------------------------
def test_a_rule_is_parsed_into_frozen_objects_once() -> None:
    raw = rule(
        "r1",
        data(),
        {"type": "DAILY_TIMER", "time": "19:30", "daysOfWeek": "1,7"},
        {"type": "SIMPLE_TIMER", "startTime": "2024-05-01 08:00:00", "repeatInterval": 60, "repeatCount": 3},
        logic="or",
        timeRange={"startTime": "18:00", "endTime": "06:00", "daysOfWeek": "2"},
    )
    parsed = parse_rule(raw, device_id=DEVICE)
    assert (parsed.rule_id, parsed.version, parsed.logic, parsed.name, parsed.active) == (
        "r1",
        1,
        "or",
        "lights on",
        True,
    )
    assert parsed.conditions == (
        PropertyCondition("BasicData", "luminance", "<", (Operand("20", 20.0),)),
        DailyTimer(19 * 60 + 30, frozenset({6, 5})),  # 1 is Sunday, 7 Saturday (Python: 6, 5)
        SimpleTimer(WED_7AM + HOUR, 60, 3),
    )
    assert parsed.actions == (Action("LightControl", "switch", {"value": "ON"}),)
    assert parsed.time_range == TimeRange(18 * 60, 6 * 60, frozenset({0}))
    with pytest.raises(AttributeError):
        parsed.version = 2  # type: ignore[misc]


def test_iotda_s_compact_time_is_read_for_a_simple_timer_too() -> None:
    timer = {"type": "SIMPLE_TIMER", "startTime": "20240501T080000Z", "repeatInterval": 60, "repeatCount": 1}
    assert parse_rule(rule("r1", timer)).conditions == (SimpleTimer(WED_7AM + HOUR, 60, 1),)


def test_a_longer_path_names_the_first_and_last_segment_as_the_sdk_reads_it() -> None:
    parsed = parse_rule(rule("r1", data(path="BasicData/properties/luminance")))
    condition = parsed.conditions[0]
    assert isinstance(condition, PropertyCondition)
    assert (condition.service_id, condition.name) == ("BasicData", "luminance")


def test_actions_for_another_device_and_disabled_ones_are_left_out() -> None:
    raw = rule(
        actions=[switch("A"), switch("B", status="disable"), switch("C", deviceId="other"), switch("D")]
    )
    parsed = parse_rule(raw, device_id=DEVICE)
    assert [a.params["value"] for a in parsed.actions] == ["A", "D"]


def test_an_inactive_rule_is_held_but_not_active_and_one_condition_needs_no_logic() -> None:
    raw = rule(status="inactive")
    del raw["logic"]
    parsed = parse_rule(raw)
    assert not parsed.active and parsed.logic == "and"


BAD: list[tuple[str, Any, str]] = [
    ("ruleVersionInShadow", None, "ruleVersionInShadow"),
    ("ruleVersionInShadow", "3", "ruleVersionInShadow"),
    ("ruleVersionInShadow", -2, "ruleVersionInShadow"),
    ("ruleVersionInShadow", True, "ruleVersionInShadow"),
    ("status", "paused", "status"),
    ("logic", "xor", "logic"),
    ("ruleName", 5, "ruleName"),
    ("ruleName", "x" * 300, "ruleName"),
    ("conditions", [], "conditions"),
    ("conditions", "x", "conditions"),
    ("conditions", [data()] * (MAX_CONDITIONS + 1), "conditions"),
    ("conditions", [5], "conditions[0]"),
    ("conditions", [{"type": "GEO_FENCE"}], "conditions[0].type"),
    ("conditions", [data(operator="!=")], "conditions[0].operator"),
    ("conditions", [data(value=None)], "conditions[0].value"),
    ("conditions", [data(value="warm")], "conditions[0].value"),
    ("conditions", [data(value=True)], "conditions[0].value"),
    ("conditions", [data(value=[1])], "conditions[0].value"),
    ("conditions", [data(operator="between", value="30,10")], "conditions[0].value"),
    ("conditions", [data(operator="between", value="10")], "conditions[0].value"),
    ("conditions", [data(operator="between", value="a,b")], "conditions[0].value"),
    ("conditions", [data(operator="in", value=None)], "conditions[0].inValues"),
    ("conditions", [data(operator="in", value=None, inValues=[])], "conditions[0].inValues"),
    ("conditions", [data(operator="in", value=None, inValues=[{}])], "conditions[0].inValues[0]"),
    ("conditions", [data(path="luminance")], "conditions[0].deviceInfo.path"),
    ("conditions", [data(path="/luminance")], "conditions[0].deviceInfo.path"),
    ("conditions", [data(path=7)], "conditions[0].deviceInfo.path"),
    ("conditions", [{**data(), "deviceInfo": None}], "conditions[0].deviceInfo"),
    ("conditions", [{**data(), "deviceInfo": {"deviceId": "other", "path": "a/b"}}], "deviceInfo.deviceId"),
    ("conditions", [{"type": "DAILY_TIMER", "time": "24:00", "daysOfWeek": "1"}], "conditions[0].time"),
    ("conditions", [{"type": "DAILY_TIMER", "time": "7", "daysOfWeek": "1"}], "conditions[0].time"),
    (
        "conditions",
        [{"type": "DAILY_TIMER", "time": "07:00", "daysOfWeek": "0,8"}],
        "conditions[0].daysOfWeek",
    ),
    ("conditions", [{"type": "DAILY_TIMER", "time": "07:00", "daysOfWeek": [1]}], "conditions[0].daysOfWeek"),
    (
        "conditions",
        [{"type": "SIMPLE_TIMER", "startTime": "2024-02-30 00:00:00", "repeatInterval": 1, "repeatCount": 1}],
        "conditions[0].startTime",
    ),
    (
        "conditions",
        [{"type": "SIMPLE_TIMER", "startTime": "2024-05-01 08:00:00", "repeatInterval": 0, "repeatCount": 1}],
        "conditions[0].repeatInterval",
    ),
    (
        "conditions",
        [
            {
                "type": "SIMPLE_TIMER",
                "startTime": "2024-05-01 08:00:00",
                "repeatInterval": 5,
                "repeatCount": 2**40,
            }
        ],
        "conditions[0].repeatCount",
    ),
    ("actions", [], "actions"),
    ("actions", [switch()] * (MAX_ACTIONS + 1), "actions"),
    ("actions", [switch(type="DEVICE_ALARM")], "actions[0].type"),
    ("actions", [switch(status="maybe")], "actions[0].status"),
    ("actions", [{"type": "DEVICE_CMD"}], "actions[0].command"),
    ("actions", [{"command": {"commandName": "switch"}}], "actions[0].command.serviceId"),
    ("actions", [{"command": {"serviceId": "s", "commandName": ""}}], "actions[0].command.commandName"),
    ("actions", [{"command": {"serviceId": "s", "commandName": "c", "commandBody": "on"}}], "commandBody"),
    (
        "actions",
        [{"command": {"serviceId": "s", "commandName": "c", "commandBody": {"x": float("nan")}}}],
        "commandBody",
    ),
    ("timeRange", {"startTime": "18:00", "endTime": "6pm", "daysOfWeek": "1"}, "timeRange.endTime"),
    ("timeRange", {"startTime": "18:00", "endTime": "06:00"}, "timeRange.daysOfWeek"),
    ("timeRange", "always", "timeRange"),
]


@pytest.mark.parametrize(("key", "value", "field"), BAD, ids=[f"{k}:{f}:{str(v)[:20]}" for k, v, f in BAD])
def test_a_bad_rule_is_refused_in_one_line_naming_the_rule_and_the_field(
    key: str, value: Any, field: str
) -> None:
    raw = rule("r-bad")
    if value is None:
        raw.pop(key, None)
    else:
        raw[key] = value
    with pytest.raises(RuleError) as caught:
        parse_rule(raw, device_id=DEVICE)
    message = str(caught.value)
    assert message.startswith("rule 'r-bad': ") and field in message, message
    assert caught.value.rule_id == "r-bad" and field in caught.value.field
    assert "\n" not in message and len(message) < 200


def test_two_timers_anded_never_hold_and_are_refused() -> None:
    daily = {"type": "DAILY_TIMER", "time": "07:00", "daysOfWeek": "1"}
    with pytest.raises(RuleError, match=r"logic: 'and' of two timers"):
        parse_rule(rule("r1", daily, daily))


@pytest.mark.parametrize("raw", [None, 5, "rule", [], {"ruleId": ""}, {"ruleId": 7}, {"ruleId": "a/b"}])
def test_a_rule_without_a_usable_id_is_named_by_its_place(raw: Any) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(raw, index=3)
    assert "rulesInfos[3]" in str(caught.value) or "'a/b'" in str(caught.value)


# -- evaluation: the edge after reports -----------------------------------------------------------
def test_a_property_rule_fires_when_it_becomes_true_not_at_every_report_while_true() -> None:
    book = book_with(rule())
    assert report(book, 50) == []
    assert report(book, 10) == ["r1"]
    assert report(book, 5) == []  # still true: no new edge
    assert report(book, 15) == []
    assert report(book, 25) == []  # false again: re-armed
    assert report(book, 19) == ["r1"]


def test_a_rule_already_true_when_it_arrives_fires_at_the_next_report() -> None:
    book = RuleBook(DEVICE)
    book.reported({"BasicData": {"luminance": 3}}, WED_7AM)
    book.deliver([rule()], WED_7AM)
    assert report(book, 3) == ["r1"]


@pytest.mark.parametrize(
    ("operator", "value", "extra", "fires", "quiet"),
    [
        ("=", "20", {}, [20, 20.0, "20"], [21, "x", True]),
        ("=", "on", {}, ["on"], ["ON", 1, None]),
        ("=", "true", {}, [True], [False, 1]),
        (">", "20", {}, [21, 20.5, "30"], [20, "abc", None, [1]]),
        (">=", 20, {}, [20, 21], [19.99]),
        ("<=", "-1.5", {}, [-1.5, -3], [0]),
        ("between", "10, 20", {}, [10, 15, 20], [9.9, 20.1, "x"]),
        ("in", None, {"inValues": ["1", "3", "red"]}, [1, 3.0, "3", "red"], [2, "blue", True]),
    ],
)
def test_each_operator_compares_as_the_sdk_does(
    operator: str, value: Any, extra: dict[str, Any], fires: list[Any], quiet: list[Any]
) -> None:
    book = book_with(rule("r1", data(operator=operator, value=value, **extra)))
    for reading, expected in [(r, ["r1"]) for r in fires] + [(r, []) for r in quiet]:
        assert report(book, object()) == []  # nothing compares with it: false, so re-armed
        assert report(book, reading) == expected, reading


def test_conditions_may_span_services_reported_apart_and_and_or_combine_them() -> None:
    both = rule("and", data(), data(path="Power/watts", operator=">", value="100"))
    either = rule("or", data(), data(path="Power/watts", operator=">", value="100"), logic="or")
    book = book_with(both, either)
    assert [f.rule.rule_id for f in book.reported({"Power": {"watts": 500}}, WED_7AM)] == ["or"]
    assert report(book, 10) == ["and"]  # watts is still 500 from the earlier report


def test_a_rule_fires_only_inside_its_time_range_and_entering_it_is_an_edge() -> None:
    window = {"startTime": "18:00", "endTime": "06:00", "daysOfWeek": "4"}  # from Wednesday evening
    book = book_with(rule(timeRange=window))
    assert report(book, 10, WED_7AM) == []  # Wednesday 07:00: outside
    assert report(book, 10, WED_7AM + 11 * HOUR) == ["r1"]  # Wednesday 18:00: inside, still dark
    assert report(book, 10, WED_7AM + 22 * HOUR + 59 * 60) == []  # Thursday 05:59: same edge
    assert report(book, 10, WED_7AM + 23 * HOUR) == []  # Thursday 06:00: the end minute is inside
    assert report(book, 10, WED_7AM + 23 * HOUR + 60) == []  # 06:01: outside, re-armed
    assert report(book, 10, WED_7AM + DAY + 11 * HOUR) == []  # Thursday 18:00: not a listed day


def test_an_inactive_rule_never_fires() -> None:
    book = book_with(rule(status="inactive"))
    assert report(book, 1) == [] and book.next_due() is None


# -- timers ---------------------------------------------------------------------------------------
def test_a_daily_timer_fires_at_its_minute_on_its_days_only() -> None:
    daily = {"type": "DAILY_TIMER", "time": "07:30", "daysOfWeek": "4,6"}  # Wednesday, Friday
    book = book_with(rule("t1", daily))
    assert book.next_due() == WED_7AM + 30 * 60
    assert book.due(WED_7AM + 29 * 60) == []
    [fired] = book.due(WED_7AM + 30 * 60)
    assert (fired.rule.rule_id, fired.by, fired.at) == ("t1", "timer", WED_7AM + 30 * 60)
    assert book.next_due() == WED_7AM + 2 * DAY + 30 * 60  # Friday
    assert book.due(WED_7AM + DAY + HOUR) == []


def test_a_simple_timer_fires_count_times_and_a_late_clock_skips_what_it_missed() -> None:
    simple = {
        "type": "SIMPLE_TIMER",
        "startTime": "2024-05-01 08:00:00",
        "repeatInterval": 600,
        "repeatCount": 4,
    }
    book = book_with(rule("s1", simple))
    start = WED_7AM + HOUR
    assert book.next_due() == start
    assert [f.at for f in book.due(start)] == [start]
    assert book.next_due() == start + 600
    assert [f.at for f in book.due(start + 1500)] == [start + 600]  # one firing, not a burst
    assert book.next_due() == start + 1800
    assert len(book.due(start + 1800)) == 1
    assert book.next_due() is None  # four times in all... the one at +1200 was skipped


def test_a_simple_timer_that_began_before_the_rule_came_goes_on_from_its_next_slot() -> None:
    simple = {
        "type": "SIMPLE_TIMER",
        "startTime": "2024-05-01 06:00:00",
        "repeatInterval": 3600,
        "repeatCount": 3,
    }
    book = book_with(rule("s1", simple), now=WED_7AM + 1)
    assert book.next_due() == WED_7AM + HOUR  # 06:00 and 07:00 passed: 08:00 is the last


def test_a_timer_anded_with_values_fires_only_if_they_hold_then_and_reports_do_not_fire_it() -> None:
    daily = {"type": "DAILY_TIMER", "time": "07:30", "daysOfWeek": "4"}
    book = book_with(rule("t1", daily, data()))
    assert report(book, 5) == []  # reports never fire an 'and' with a timer
    assert [f.rule.rule_id for f in book.due(WED_7AM + 30 * 60)] == ["t1"]
    book = book_with(rule("t1", daily, data()))
    assert report(book, 50) == []
    assert book.due(WED_7AM + 30 * 60) == []


def test_a_timer_outside_the_time_range_does_not_fire() -> None:
    daily = {"type": "DAILY_TIMER", "time": "07:30", "daysOfWeek": "4"}
    window = {"startTime": "08:00", "endTime": "09:00", "daysOfWeek": "4"}
    book = book_with(rule("t1", daily, timeRange=window))
    assert book.due(WED_7AM + 30 * 60) == []


# -- versions -------------------------------------------------------------------------------------
def test_versions_say_what_to_ask_for_and_deletions_drop_the_rule_and_its_timers() -> None:
    daily = {"type": "DAILY_TIMER", "time": "07:30", "daysOfWeek": "4"}
    book = book_with(rule("r1", version=2), rule("t1", daily, version=1))
    ask, deleted = book.changed({"r1": 2, "t1": -1, "r9": 0, "r1x": 5})
    assert (ask, deleted) == (["r9", "r1x"], ["t1"])
    assert set(book.rules) == {"r1"} and book.next_due() is None
    assert book.changed({"r1": 3}) == (["r1"], [])


def test_an_older_or_equal_version_is_ignored_and_a_newer_one_replaces_the_rule() -> None:
    book = book_with(rule("r1", version=2))
    taken, refused = book.deliver([rule("r1", data(value="5"), version=2)], WED_7AM)
    assert (taken, refused) == ([], [])
    taken, _ = book.deliver([rule("r1", data(value="5"), version=3)], WED_7AM)
    assert [r.version for r in taken] == [3]
    assert report(book, 10) == []  # the new rule: below 5


def test_a_bad_rule_never_breaks_the_others_and_a_refused_update_keeps_the_rule_held() -> None:
    book = book_with(rule("r1", version=1))
    bad = rule("r1", data(operator="~"), version=2)
    taken, refused = book.deliver([bad, rule("r2", data(value="30")), "junk"], WED_7AM)
    assert [r.rule_id for r in taken] == ["r2"]
    assert [(e.rule_id, e.field) for e in refused] == [
        ("r1", "conditions[0].operator"),
        ("rulesInfos[2]", ""),
    ]
    assert book.rules["r1"].version == 1
    assert report(book, 10) == ["r1", "r2"]


def test_a_device_holds_at_most_max_rules() -> None:
    book = RuleBook(DEVICE, max_rules=2)
    taken, refused = book.deliver([rule("a"), rule("b"), rule("c")], WED_7AM)
    assert [r.rule_id for r in taken] == ["a", "b"]
    assert [str(e) for e in refused] == ["rule 'c': this device holds 2 rules already"]
    assert book.changed({f"n{i}": 1 for i in range(5)})[0] == ["n0", "n1"]


def test_delivering_the_same_rules_twice_changes_nothing() -> None:
    book = book_with(rule("r1"))
    before = copy.deepcopy(book.rules)
    assert book.deliver([rule("r1")], WED_7AM) == ([], [])
    assert book.rules == before
