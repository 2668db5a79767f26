"""Huawei ``$device_rule``, both halves: rule versions in a ``properties/set``, the device's
``device_rule_config_request`` and the cloud's ``device_rule_config_response``.

The golden fixtures (``tests/fixtures/huawei/40``-``43``) run through test_huawei.py's generic
tests, both directions; here: that they are there and name their sources, and the details
(what a malformed write or answer decodes into, what the encoders refuse)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from thingmodel import CodecError
from thingmodel.protocol import messages as ev
from thingmodel.vendors.huawei import HuaweiDevice, HuaweiPlatform

from . import golden

DEVICE = "dev-1"
PREFIX = f"$oc/devices/{DEVICE}/sys/"
SET = PREFIX + "properties/set/request_id=r1"
DOWN = PREFIX + "events/down"
UP = PREFIX + "events/up"
RULES = [p for p in golden.fixture_paths("huawei") if int(p.stem[:2]) >= 40]


def rules_write(properties: Any, *more: dict[str, Any]) -> bytes:
    return json.dumps(
        {"services": [{"service_id": "$device_rule", "properties": properties}, *more]}
    ).encode()


def rules_event(event_type: str, paras: Any) -> bytes:
    return json.dumps(
        {"services": [{"service_id": "$device_rule", "event_type": event_type, "paras": paras}]}
    ).encode()


def test_the_rule_fixtures_are_there_and_name_their_sources() -> None:
    assert [p.stem[:2] for p in RULES] == ["40", "41", "42", "43"]
    for path in RULES:
        source = golden.load(path)["source"]
        assert "huawei-iotda.md 5" in source or "huawei-iotda.md 1.2" in source, path


def test_a_write_of_rule_versions_alone_is_rules_changed_carrying_the_request() -> None:
    decoded = HuaweiDevice(DEVICE).decode(SET, rules_write({"a": {"version": 2}, "b": {"version": -1}}))
    assert decoded == [ev.RulesChanged({"a": 2, "b": -1}, "r1")]


def test_a_write_of_rule_versions_and_values_is_both_and_the_values_carry_the_request() -> None:
    other = {"service_id": "climate", "properties": {"target": 21}}
    decoded = HuaweiDevice(DEVICE).decode(SET, rules_write({"a": {"version": 2}}, other))
    assert decoded == [ev.RulesChanged({"a": 2}), ev.DesiredChange("r1", {"climate": {"target": 21}})]


@pytest.mark.parametrize(
    ("properties", "named"),
    [
        ({"a": 2}, "$device_rule.'a'"),
        ({"a": {}}, "'version'"),
        ({"a": {"version": "2"}}, "'version'"),
        ({"a": {"version": True}}, "'version'"),
        ({"a": {"version": -2}}, "'version'"),
        ({"a": {"version": 2**63}}, "'version'"),
        ({"a/b": {"version": 1}}, "rule id"),
        ({"x" * 200: {"version": 1}}, "rule id"),
        ([1], "'properties'"),
    ],
)
def test_a_bad_write_of_rule_versions_is_malformed_and_answered_as_a_failed_write(
    properties: Any, named: str
) -> None:
    [event] = HuaweiDevice(DEVICE).decode(SET, rules_write(properties))
    assert isinstance(event, ev.Malformed), event
    assert (event.kind, event.request_id) == ("desired", "r1") and named in event.reason, event.reason


def test_the_rules_answer_delivers_every_object_and_names_each_entry_that_is_not_one() -> None:
    rules = [{"ruleId": "a"}, 5, {"ruleId": "b", "anything": [1]}, "x"]
    decoded = HuaweiDevice(DEVICE).decode(
        DOWN, rules_event("device_rule_config_response", {"rulesInfos": rules})
    )
    assert decoded[0] == ev.RulesDelivered(({"ruleId": "a"}, {"ruleId": "b", "anything": [1]}))
    malformed = [m for m in decoded[1:] if isinstance(m, ev.Malformed)]
    assert [(m.kind, m.topic) for m in malformed] == [("event", DOWN)] * 2
    assert "'rulesInfos'[1]" in malformed[0].reason and "'rulesInfos'[3]" in malformed[1].reason


@pytest.mark.parametrize("paras", [{}, {"rulesInfos": {"a": 1}}, {"rulesInfos": "[]"}])
def test_a_rules_answer_without_a_list_is_malformed_naming_rules_infos(paras: Any) -> None:
    [event] = HuaweiDevice(DEVICE).decode(DOWN, rules_event("device_rule_config_response", paras))
    assert isinstance(event, ev.Malformed) and "'rulesInfos'" in event.reason


def test_the_platform_reads_an_ask_without_deletions_and_refuses_bad_ids() -> None:
    platform = HuaweiPlatform()
    assert platform.decode(UP, rules_event("device_rule_config_request", {"ruleIds": ["a"]})) == [
        ev.RulesAsked(DEVICE, ("a",), ())
    ]
    for paras, named in [
        ({}, "'ruleIds'"),
        ({"ruleIds": "a"}, "'ruleIds'"),
        ({"ruleIds": [1]}, "'ruleIds'[0]"),
        ({"ruleIds": ["a"], "delIds": ["a/b"]}, "'delIds'[0]"),
    ]:
        [event] = platform.decode(UP, rules_event("device_rule_config_request", paras))
        assert isinstance(event, ev.DeviceMalformed) and named in event.reason, (paras, event)


def test_the_encoders_refuse_what_the_wire_cannot_carry_naming_it() -> None:
    with pytest.raises(CodecError, match="PushRules version of 'a' must be -1 or >= 0"):
        HuaweiPlatform().encode(ev.PushRules(DEVICE, {"a": -5}, "r1"))
    with pytest.raises(CodecError, match="PushRules rule id"):
        HuaweiPlatform().encode(ev.PushRules(DEVICE, {"": 1}, "r1"))
    with pytest.raises(CodecError, match=r"AnswerRules rules\[0\]"):
        HuaweiPlatform().encode(ev.AnswerRules(DEVICE, [{"ruleId": "a", "x": float("nan")}]))
    with pytest.raises(CodecError, match=r"AskRules rule_ids\[0\]"):
        HuaweiDevice(DEVICE).encode(ev.AskRules(["a#b"]))


def test_messages_hold_tuples_whatever_sequence_they_were_given() -> None:
    assert ev.AskRules(["a"], ["b"]) == ev.AskRules(("a",), ("b",))
    assert ev.RulesDelivered([{"a": 1}]).rules == ({"a": 1},)
    assert ev.AnswerRules(DEVICE, iter([{"a": 1}])).rules == ({"a": 1},)
