"""MQTT topic-filter matching and validation (MQTT 3.1.1 section 4.7)."""

from __future__ import annotations

import pytest

from thingmodel.protocol.topics import topic_matches, validate_filter


@pytest.mark.parametrize(
    ("topic_filter", "topic"),
    [
        ("a/b/c", "a/b/c"),
        ("a/+/c", "a/b/c"),
        ("a/+", "a/"),  # '+' matches an empty level
        ("+/+", "/b"),
        ("a/#", "a/b/c"),
        ("a/#", "a"),  # '#' also matches the parent level
        ("#", "a/b"),
        ("$oc/#", "$oc/devices/d1/sys/commands/request_id=1"),
        ("$oc/devices/+/sys/properties/report", "$oc/devices/d1/sys/properties/report"),
        ("$oc/devices/d1/sys/commands/+", "$oc/devices/d1/sys/commands/request_id=abc"),
    ],
)
def test_a_topic_matches_a_filter(topic_filter: str, topic: str) -> None:
    assert topic_matches(topic_filter, topic)


@pytest.mark.parametrize(
    ("topic_filter", "topic"),
    [
        ("a/b/c", "a/b/d"),
        ("a/b", "a/b/c"),
        ("a/b/c", "a/b"),
        ("a/b", "a/b/"),
        ("A/b", "a/b"),  # topics are case sensitive
        ("a/+", "a/b/c"),  # '+' is exactly one level
        ("a/+/c", "a/c"),
        ("a/b/#", "a/c"),
        ("$oc/devices/+/sys/commands/+", "$oc/devices/d1/sys/commands/response/request_id=1"),
    ],
)
def test_a_topic_does_not_match_a_filter(topic_filter: str, topic: str) -> None:
    assert not topic_matches(topic_filter, topic)


@pytest.mark.parametrize("topic_filter", ["#", "+/devices/#", "+/#", "+"])
def test_a_leading_wildcard_does_not_match_a_dollar_topic(topic_filter: str) -> None:
    assert not topic_matches(topic_filter, "$oc/devices/d1/sys/properties/report")
    assert not topic_matches(topic_filter, "$SYS")


def test_a_leading_wildcard_still_matches_ordinary_topics() -> None:
    assert topic_matches("+/devices/#", "oc/devices/d1")


@pytest.mark.parametrize("topic_filter", ["a/b", "a/+/c", "a/#", "#", "+", "$oc/devices/+/sys/#"])
def test_a_valid_filter_is_returned_unchanged(topic_filter: str) -> None:
    assert validate_filter(topic_filter) == topic_filter


@pytest.mark.parametrize("topic_filter", ["", "a/#/b", "a#", "a/b#", "a+/b", "a/+b", "#/a"])
def test_a_filter_misusing_wildcards_is_refused(topic_filter: str) -> None:
    with pytest.raises(ValueError):
        validate_filter(topic_filter)
