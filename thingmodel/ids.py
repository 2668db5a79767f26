"""Ids: validation of those that end up inside MQTT topics (device, product, service ids), and
the one function that makes request ids."""

from __future__ import annotations

import itertools
import os
import unicodedata

from .errors import InvalidValue

MAX_ID_LENGTH = 128
_FORBIDDEN = {
    "/": "a slash",
    "+": "an MQTT wildcard '+'",
    "#": "an MQTT wildcard '#'",
    "\0": "a NUL character",
}


def validate_id(kind: str, value: object, *, max_length: int = MAX_ID_LENGTH) -> str:
    """Return ``value`` if it is safe inside a topic level, else raise InvalidValue naming why."""
    if not isinstance(value, str):
        raise InvalidValue(f"{kind} must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidValue(f"{kind} must not be empty")
    if len(value) > max_length:
        raise InvalidValue(f"{kind} {value[:20]!r}... is {len(value)} characters long (max {max_length})")
    for char, what in _FORBIDDEN.items():
        if char in value:
            raise InvalidValue(f"{kind} {value!r} contains {what}, which would break its MQTT topic")
    if not value.isprintable() and any(unicodedata.category(c) == "Cc" for c in value):
        raise InvalidValue(f"{kind} {value!r} contains a control character")
    return value


_id_prefix = ""
_id_count = itertools.count()


def _new_id_prefix() -> None:
    global _id_prefix, _id_count
    _id_prefix = os.urandom(8).hex()
    _id_count = itertools.count()


_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)  # a forked child must not repeat the parent's ids


def new_id() -> str:
    """A fresh request id: 32 lowercase hex digits, 16 drawn at random per process and 16 counting
    (one per report: no system call, unlike a random UUID each). Unique, not secret. The one id
    function of thingmodel; codecs and clouds take it as ``new_id=`` so tests can pass a counter."""
    return f"{_id_prefix}{next(_id_count):016x}"


MAX_CUSTOM_TOPIC = 128


def validate_custom_topic(name: object, *, filter: bool = False) -> str:
    """A device's custom topic name, relative to its vendor's root (``"alerts"``,
    ``"cfg/+/set"``): levels split by ``/``, none empty, no ``$`` start, no NUL or control
    characters; wildcards only with ``filter`` (``+`` as a whole level, ``#`` as the last)."""
    if not isinstance(name, str):
        raise InvalidValue(f"custom topic must be a string, got {type(name).__name__}")
    if not name or len(name.encode()) > MAX_CUSTOM_TOPIC:
        raise InvalidValue(f"custom topic {name[:20]!r} must be 1..{MAX_CUSTOM_TOPIC} bytes")
    if name.startswith("$"):
        raise InvalidValue(f"custom topic {name!r} starts with '$' (reserved for system topics)")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise InvalidValue(f"custom topic {name!r} contains a control character")
    levels = name.split("/")
    for index, level in enumerate(levels):
        if not level:
            raise InvalidValue(f"custom topic {name!r} has an empty level")
        if level in (".", ".."):
            raise InvalidValue(f"custom topic {name!r} has a {level!r} level")
        wild = "+" in level or "#" in level
        if wild and not filter:
            raise InvalidValue(f"custom topic {name!r} holds a wildcard: publish to a topic, not a filter")
        if wild and not (level == "+" or (level == "#" and index == len(levels) - 1)):
            raise InvalidValue(f"custom topic filter {name!r}: '+' must be a whole level and '#' the last")
    return name
