"""MQTT topic-filter matching (MQTT 3.1.1 section 4.7)."""

from __future__ import annotations


def topic_matches(topic_filter: str, topic: str) -> bool:
    """True when ``topic`` matches ``topic_filter`` (with ``+`` and ``#`` wildcards).

    As the spec requires, a wildcard in the first level does not match a topic starting with ``$``.
    """
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == len(topic_levels)


def validate_filter(topic_filter: str) -> str:
    """Return the filter if wildcards are used as the spec allows, else raise ValueError."""
    if not topic_filter:
        raise ValueError("an empty topic filter")
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValueError(f"'#' must be a whole last level: {topic_filter!r}")
        if "+" in level and level != "+":
            raise ValueError(f"'+' must be a whole level: {topic_filter!r}")
    return topic_filter
