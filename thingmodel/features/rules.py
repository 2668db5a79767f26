"""On-device rules (Huawei IoTDA ``$device_rule``): rules the cloud pushes, run on the device.

A rule says *when* (conditions on the device's own property values, and timers), *how they
combine* (``logic`` ``and``/``or``), *during which hours* (``timeRange``) and *what to do*
(commands of the device's own services, run locally: no round trip to the cloud, so a rule keeps
working while the device is offline). The wire format is IoTDA's rule JSON as Huawei's device
SDKs read it (``rule/rule_manage_service.py`` and ``rule/model/`` of the Python SDK, the C SDK's
rule parser)::

    {"ruleId": "r1", "ruleName": "lights on", "logic": "or", "status": "active",
     "ruleVersionInShadow": 3,
     "timeRange": {"startTime": "18:00", "endTime": "06:00", "daysOfWeek": "1,2,3,4,5,6,7"},
     "conditions": [{"type": "DEVICE_DATA", "operator": "<", "value": "20",
                     "deviceInfo": {"deviceId": "dev1", "path": "BasicData/luminance"}},
                    {"type": "DAILY_TIMER", "time": "19:30", "daysOfWeek": "2,3,4,5,6"},
                    {"type": "SIMPLE_TIMER", "startTime": "2024-05-01 08:00:00",
                     "repeatInterval": 3600, "repeatCount": 5}],
     "actions": [{"type": "DEVICE_CMD", "status": "enable", "deviceId": "dev1",
                  "command": {"serviceId": "LightControl", "commandName": "switch",
                              "commandBody": {"value": "ON"}}}]}

- ``DEVICE_DATA``: ``path`` is ``service_id/property`` (wire names; the SDK takes the first and
  the last segment of a longer path, so do we); operators ``=`` ``>`` ``>=`` ``<`` ``<=``
  (``value`` a number; ``=`` also compares text), ``between`` (``value`` ``"low,high"``,
  inclusive) and ``in`` (``inValues``).
- ``DAILY_TIMER``: at ``time`` (``HH:MM``) on ``daysOfWeek``; ``SIMPLE_TIMER``: at
  ``startTime`` (``yyyy-MM-dd HH:mm:ss``, or IoTDA's ``yyyyMMdd'T'HHmmss'Z'``), then every
  ``repeatInterval`` seconds, ``repeatCount`` times in all. A timer makes its condition true
  at that moment only: with ``or`` it fires the rule; with ``and`` the rule fires if the
  other (property) conditions hold then.
- ``daysOfWeek``: ``1`` is Sunday ... ``7`` Saturday. All times are UTC, as the SDKs read them.
- ``timeRange``: the rule fires only inside it (an ``endTime`` before the ``startTime`` runs past
  midnight, counted from the listed start day; the end minute is inside).

**When a property rule fires**: when its conditions *become* true after a report the device
makes (an edge), not again at each report while they stay true. Huawei's SDKs fire at every
report while the conditions hold, so a device reporting every 5 s would re-run the command every
5 s; an edge runs it once per crossing, and again only after the conditions were false in
between (leaving the ``timeRange`` counts as false). Values are those the device last reported
for each service, so conditions may span services reported separately.

Work is done once: :func:`parse_rule` turns the JSON into frozen objects when it arrives (a bad
rule is refused with a :class:`RuleError` naming the rule and the field, and never affects the
others); :class:`RuleBook` evaluates them with no I/O and no clock of its own (``now`` is Unix
seconds, passed in). Bounded: :data:`MAX_RULES` rules, :data:`MAX_CONDITIONS` conditions and
:data:`MAX_ACTIONS` actions each (IoTDA allows 10 actions per rule).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Literal

import attrs

from ..errors import InvalidValue
from ..ids import validate_id
from ..protocol.jsonwire import require_finite

__all__ = [
    "MAX_ACTIONS",
    "MAX_CONDITIONS",
    "MAX_RULES",
    "Action",
    "DailyTimer",
    "Firing",
    "Operand",
    "PropertyCondition",
    "Rule",
    "RuleBook",
    "RuleError",
    "SimpleTimer",
    "TimeRange",
    "parse_rule",
]

MAX_RULES = 100
"""Rules one device holds (inactive ones included)."""
MAX_CONDITIONS = 10
MAX_ACTIONS = 10
MAX_IN_VALUES = 64
MAX_TEXT = 256
"""Characters of a rule name or a compared value."""
MAX_REPEAT = 2**31 - 1
"""The largest ``repeatInterval`` and ``repeatCount`` (IoTDA's are 32-bit integers)."""

Operator = Literal["=", ">", ">=", "<", "<=", "between", "in"]
OPERATORS: tuple[Operator, ...] = ("=", ">", ">=", "<", "<=", "between", "in")
Logic = Literal["and", "or"]
_TIMERS = ("DAILY_TIMER", "SIMPLE_TIMER")
_DAY = 86400
_HH_MM = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_SIMPLE_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")
_COMPACT_TIME = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")
#: a timer that comes due this many seconds early still counts (clocks round to microseconds)
EARLY = 0.002


class RuleError(InvalidValue):
    """A rule refused: ``rule_id`` (or ``rulesInfos[i]`` when it has none), the ``field`` at fault
    and why, as one line."""

    def __init__(self, rule_id: str, field: str, reason: str) -> None:
        self.rule_id, self.field, self.reason = rule_id, field, reason
        super().__init__(f"rule {rule_id!r}: {field}: {reason}" if field else f"rule {rule_id!r}: {reason}")


# -- the parsed form ------------------------------------------------------------------------------
@attrs.frozen
class Operand:
    """A value a property is compared with: its text, and its number when it reads as one."""

    text: str
    number: float | None

    @classmethod
    def of(cls, value: str | int | float) -> Operand:
        text = value if isinstance(value, str) else _number_text(value)
        return cls(text, _as_number(value))


@attrs.frozen
class PropertyCondition:
    """``service_id``/``name`` (wire names) ``operator`` ``operands`` (two for ``between``)."""

    service_id: str
    name: str
    operator: Operator
    operands: tuple[Operand, ...]

    def holds(self, values: Mapping[str, Mapping[str, Any]]) -> bool:
        service = values.get(self.service_id)
        if service is None or self.name not in service:
            return False
        value = service[self.name]
        number = _as_number(value)
        op = self.operator
        if op == "=":
            return _equal(value, number, self.operands[0])
        if op == "in":
            return any(_equal(value, number, operand) for operand in self.operands)
        if number is None:
            return False
        if op == "between":
            low, high = self.operands
            assert low.number is not None and high.number is not None
            return low.number <= number <= high.number
        limit = self.operands[0].number
        assert limit is not None
        if op == ">":
            return number > limit
        if op == ">=":
            return number >= limit
        if op == "<":
            return number < limit
        return number <= limit


@attrs.frozen
class DailyTimer:
    """At ``minute`` (of the UTC day) on ``days`` (Python weekdays: 0 is Monday)."""

    minute: int
    days: frozenset[int]

    def next_at(self, after: float, *, inclusive: bool) -> float | None:
        midnight = math.floor(after / _DAY) * _DAY
        for offset in range(8):
            day = midnight + offset * _DAY
            at = day + self.minute * 60
            if (at >= after if inclusive else at > after) and _weekday(day) in self.days:
                return float(at)
        return None


@attrs.frozen
class SimpleTimer:
    """At ``start`` (Unix seconds), then every ``interval`` seconds, ``count`` times in all."""

    start: float
    interval: int
    count: int

    def next_at(self, after: float, *, inclusive: bool) -> float | None:
        if after < self.start or (inclusive and after == self.start):
            return self.start
        steps = (after - self.start) / self.interval
        k = math.ceil(steps) if inclusive else math.floor(steps) + 1
        return self.start + k * self.interval if k < self.count else None


Timer = DailyTimer | SimpleTimer
Condition = PropertyCondition | DailyTimer | SimpleTimer


@attrs.frozen
class TimeRange:
    """From ``start`` to ``end`` (minutes of the UTC day, both inside) on ``days`` (Python
    weekdays); an ``end`` before ``start`` runs past midnight from a listed day."""

    start: int
    end: int
    days: frozenset[int]

    def contains(self, now: float) -> bool:
        minute = int(now % _DAY) // 60
        today = _weekday(now)
        if self.start <= self.end:
            return today in self.days and self.start <= minute <= self.end
        if minute >= self.start:
            return today in self.days
        return minute <= self.end and (today - 1) % 7 in self.days


@attrs.frozen
class Action:
    """Run command ``name`` of service ``service_id`` with ``params``."""

    service_id: str
    name: str
    params: Mapping[str, Any]


@attrs.frozen
class Rule:
    """One rule as the device runs it; ``active`` False holds its version and does nothing."""

    rule_id: str
    version: int
    conditions: tuple[Condition, ...]
    actions: tuple[Action, ...]
    logic: Logic = "and"
    name: str = ""
    time_range: TimeRange | None = None
    active: bool = True

    @property
    def watches_values(self) -> bool:
        """Whether reports can fire it (it has a property condition and is not an ``and`` with a
        timer, which only a timer can fire)."""
        has_data = any(isinstance(c, PropertyCondition) for c in self.conditions)
        has_timer = any(not isinstance(c, PropertyCondition) for c in self.conditions)
        return has_data and not (self.logic == "and" and has_timer)

    def holds(self, values: Mapping[str, Mapping[str, Any]], timer: int | None = None) -> bool:
        """Whether the conditions hold, with the timer at index ``timer`` (if any) just due."""
        results = (
            c.holds(values) if isinstance(c, PropertyCondition) else index == timer
            for index, c in enumerate(self.conditions)
        )
        return all(results) if self.logic == "and" else any(results)


@attrs.frozen
class Firing:
    """A rule that fired: ``at`` (Unix seconds), ``by`` "values" (a report) or "timer"."""

    rule: Rule
    at: float
    by: Literal["values", "timer"]


# -- parsing --------------------------------------------------------------------------------------
def parse_rule(raw: object, *, device_id: str | None = None, index: int = 0) -> Rule:
    """One rule from IoTDA's JSON, checked; :class:`RuleError` naming the rule and the field.

    ``device_id``: this device (conditions on another device's values are refused, actions for
    another device left out, as Huawei's SDK skips them). ``index`` names a rule with no id.
    """
    where = f"rulesInfos[{index}]"
    if not isinstance(raw, Mapping):
        raise RuleError(where, "", f"must be an object, got {type(raw).__name__}")
    rule_id = raw.get("ruleId")
    if not isinstance(rule_id, str) or not rule_id:
        raise RuleError(where, "ruleId", f"must be a non-empty string, got {_short(rule_id)}")
    try:
        validate_id("ruleId", rule_id)
    except InvalidValue as exc:  # not an id to name it by
        raise RuleError(where, "ruleId", str(exc)) from None
    p = _Parser(rule_id, device_id)
    version = p.integer(raw, "ruleVersionInShadow", 0, 2**63 - 1)
    status = raw.get("status", "active")
    if status not in ("active", "inactive"):
        raise p.error("status", f"must be 'active' or 'inactive', got {_short(status)}")
    name = p.text(raw, "ruleName", required=False) or ""
    conditions = p.conditions(raw.get("conditions"))
    logic = raw.get("logic")
    if logic is None and len(conditions) == 1:
        logic = "and"
    if logic not in ("and", "or"):
        raise p.error("logic", f"must be 'and' or 'or', got {_short(logic)}")
    timers = sum(1 for c in conditions if not isinstance(c, PropertyCondition))
    if logic == "and" and timers > 1:
        raise p.error("logic", "'and' of two timers never holds (two timers are never due at once)")
    window = raw.get("timeRange")
    return Rule(
        rule_id,
        version,
        conditions,
        p.actions(raw.get("actions")),
        logic,
        name,
        None if window is None else p.time_range(window),
        status == "active",
    )


class _Parser:
    """The checks of one rule's fields; each failure names the field."""

    def __init__(self, rule_id: str, device_id: str | None) -> None:
        self.rule_id, self.device_id = rule_id, device_id

    def error(self, field: str, reason: str) -> RuleError:
        return RuleError(self.rule_id, field, reason)

    def obj(self, value: object, field: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(field, f"must be an object, got {type(value).__name__}")
        return value

    def items(self, value: object, field: str, most: int) -> Sequence[Any]:
        if not isinstance(value, list) or not value:
            raise self.error(field, f"must be a non-empty list, got {_short(value)}")
        if len(value) > most:
            raise self.error(field, f"holds {len(value)} entries (at most {most})")
        return value

    def text(self, obj: Mapping[str, Any], key: str, where: str = "", *, required: bool = True) -> str | None:
        value = obj.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(where + key, f"must be a non-empty string, got {_short(value)}")
        if len(value) > MAX_TEXT:
            raise self.error(where + key, f"is {len(value)} characters long (at most {MAX_TEXT})")
        return value

    def integer(self, obj: Mapping[str, Any], key: str, low: int, high: int, where: str = "") -> int:
        value = obj.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(where + key, f"must be an integer {low}..{high}, got {_short(value)}")
        return value

    def days(self, value: object, field: str) -> frozenset[int]:
        """IoTDA's ``"1,2,7"`` (1 is Sunday) as Python weekdays (0 is Monday)."""
        if not isinstance(value, str) or not value.strip():
            raise self.error(field, f"must be days as text like '1,2,7' (1 is Sunday), got {_short(value)}")
        days = set()
        for part in value.split(","):
            part = part.strip()
            if part not in ("1", "2", "3", "4", "5", "6", "7"):
                raise self.error(field, f"{_short(part)} is not a day 1..7 (1 is Sunday)")
            days.add((int(part) - 2) % 7)
        return frozenset(days)

    def minute(self, value: object, field: str) -> int:
        match = _HH_MM.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise self.error(field, f"must be a UTC time HH:MM, got {_short(value)}")
        return int(match[1]) * 60 + int(match[2])

    def time_range(self, value: object) -> TimeRange:
        window = self.obj(value, "timeRange")
        return TimeRange(
            self.minute(window.get("startTime"), "timeRange.startTime"),
            self.minute(window.get("endTime"), "timeRange.endTime"),
            self.days(window.get("daysOfWeek"), "timeRange.daysOfWeek"),
        )

    def conditions(self, value: object) -> tuple[Condition, ...]:
        items = self.items(value, "conditions", MAX_CONDITIONS)
        return tuple(self.condition(item, f"conditions[{i}].") for i, item in enumerate(items))

    def condition(self, value: object, where: str) -> Condition:
        obj = self.obj(value, where[:-1])
        kind = obj.get("type")
        if kind == "DEVICE_DATA":
            return self.property_condition(obj, where)
        if kind == "DAILY_TIMER":
            return DailyTimer(
                self.minute(obj.get("time"), where + "time"),
                self.days(obj.get("daysOfWeek"), where + "daysOfWeek"),
            )
        if kind == "SIMPLE_TIMER":
            return SimpleTimer(
                self.utc(obj.get("startTime"), where + "startTime"),
                self.integer(obj, "repeatInterval", 1, MAX_REPEAT, where),
                self.integer(obj, "repeatCount", 1, MAX_REPEAT, where),
            )
        raise self.error(
            where + "type", f"must be DEVICE_DATA, DAILY_TIMER or SIMPLE_TIMER, got {_short(kind)}"
        )

    def utc(self, value: object, field: str) -> float:
        match = None
        if isinstance(value, str):
            match = _SIMPLE_TIME.fullmatch(value) or _COMPACT_TIME.fullmatch(value)
        try:
            if match is None:
                raise ValueError(value)
            year, month, day, hour, minute, second = (int(part) for part in match.groups())
            stamp = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
        except ValueError:
            raise self.error(
                field, f"must be a UTC time 'yyyy-MM-dd HH:mm:ss', got {_short(value)}"
            ) from None
        return stamp.timestamp()

    def property_condition(self, obj: Mapping[str, Any], where: str) -> PropertyCondition:
        info = self.obj(obj.get("deviceInfo"), where + "deviceInfo")
        other = info.get("deviceId")
        if other not in (None, "") and self.device_id is not None and other != self.device_id:
            raise self.error(
                where + "deviceInfo.deviceId",
                f"{_short(other)} is another device; a device evaluates its own properties only",
            )
        path = info.get("path")
        segments = path.split("/") if isinstance(path, str) else []
        if len(segments) < 2 or not segments[0] or not segments[-1]:
            raise self.error(where + "deviceInfo.path", f"must be 'service_id/property', got {_short(path)}")
        operator = obj.get("operator")
        if operator not in OPERATORS:
            raise self.error(
                where + "operator", f"must be one of {', '.join(OPERATORS)}, got {_short(operator)}"
            )
        operands: tuple[Operand, ...]
        if operator == "in":
            values = self.items(obj.get("inValues"), where + "inValues", MAX_IN_VALUES)
            operands = tuple(self.operand(v, f"{where}inValues[{i}]") for i, v in enumerate(values))
        elif operator == "between":
            value = obj.get("value")
            parts = value.split(",") if isinstance(value, str) else []
            bounds = [Operand.of(part.strip()) for part in parts]
            if len(bounds) != 2 or any(b.number is None for b in bounds):
                raise self.error(where + "value", f"must be 'low,high' (two numbers), got {_short(value)}")
            low, high = bounds
            assert low.number is not None and high.number is not None
            if low.number > high.number:
                raise self.error(where + "value", f"low {low.text} is above high {high.text}")
            operands = (low, high)
        else:
            operand = self.operand(obj.get("value"), where + "value")
            if operator != "=" and operand.number is None:
                raise self.error(
                    where + "value", f"must be a number for {operator!r}, got {_short(operand.text)}"
                )
            operands = (operand,)
        return PropertyCondition(segments[0], segments[-1], operator, operands)

    def operand(self, value: object, field: str) -> Operand:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.error(field, f"must be a string or a number, got {_short(value)}")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise self.error(field, f"is {len(value)} characters long (at most {MAX_TEXT})")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(field, f"must be finite, got {value!r}")
        return Operand.of(value)

    def actions(self, value: object) -> tuple[Action, ...]:
        items = self.items(value, "actions", MAX_ACTIONS)
        actions = []
        for i, item in enumerate(items):
            where = f"actions[{i}]."
            obj = self.obj(item, where[:-1])
            kind = obj.get("type", "DEVICE_CMD")
            if kind != "DEVICE_CMD":
                raise self.error(where + "type", f"only DEVICE_CMD runs on a device, got {_short(kind)}")
            status = obj.get("status", "enable")
            if status not in ("enable", "disable"):
                raise self.error(where + "status", f"must be 'enable' or 'disable', got {_short(status)}")
            command = self.obj(obj.get("command"), where + "command")
            service_id = self.text(command, "serviceId", where + "command.")
            name = self.text(command, "commandName", where + "command.")
            assert service_id is not None and name is not None
            body = command.get("commandBody")
            params = {} if body is None else dict(self.obj(body, where + "command.commandBody"))
            try:
                require_finite(params, "commandBody")
            except InvalidValue as exc:
                raise self.error(where + "command.commandBody", str(exc)) from None
            other = obj.get("deviceId")
            foreign = other not in (None, "") and self.device_id is not None and other != self.device_id
            if status == "enable" and not foreign:
                actions.append(Action(service_id, name, params))
        return tuple(actions)


# -- evaluating -----------------------------------------------------------------------------------
class RuleBook:
    """The rules one device holds and what they need to fire on the edge; no I/O, no clock.

    The cloud's versions come to :meth:`changed` (which says what to ask for), the rules to
    :meth:`deliver`; :meth:`reported` takes each report the device makes and :meth:`due` the
    passing of time (:meth:`next_due` says when a timer is next due). Not thread-safe: the
    device's worker calls it.
    """

    def __init__(self, device_id: str | None = None, *, max_rules: int = MAX_RULES) -> None:
        self.device_id = device_id
        self.max_rules = max_rules
        #: the rules held, by id (inactive ones too)
        self.rules: dict[str, Rule] = {}
        #: what the device last reported: ``{service_id: {wire_name: value}}``
        self.values: dict[str, dict[str, Any]] = {}
        self._held: dict[str, bool] = {}  # whether a rule's conditions held at the last report
        self._timers: dict[tuple[str, int], float] = {}  # (rule id, condition index) -> when due

    def changed(self, versions: Mapping[str, int]) -> tuple[list[str], list[str]]:
        """``(ids to ask for, ids deleted)``: rules new or newer than held (at most
        ``max_rules``), and those at version -1, which are dropped now."""
        ask: list[str] = []
        deleted: list[str] = []
        for rule_id, version in versions.items():
            if version < 0:
                self.drop(rule_id)
                deleted.append(rule_id)
                continue
            held = self.rules.get(rule_id)
            if (held is None or version > held.version) and len(ask) < self.max_rules:
                ask.append(rule_id)
        return ask, deleted

    def deliver(self, raws: Iterable[object], now: float) -> tuple[list[Rule], list[RuleError]]:
        """Take the rules that came: ``(taken, refused)``. A rule not newer than the one held is
        ignored; a refused one leaves the one held (if any) as it was."""
        taken: list[Rule] = []
        refused: list[RuleError] = []
        for index, raw in enumerate(raws):
            try:
                rule = parse_rule(raw, device_id=self.device_id, index=index)
            except RuleError as exc:
                refused.append(exc)
                continue
            held = self.rules.get(rule.rule_id)
            if held is not None and held.version >= rule.version:
                continue
            if held is None and len(self.rules) >= self.max_rules:
                refused.append(
                    RuleError(rule.rule_id, "", f"this device holds {self.max_rules} rules already")
                )
                continue
            self.drop(rule.rule_id)
            self.rules[rule.rule_id] = rule
            if rule.active:
                for i, condition in enumerate(rule.conditions):
                    if not isinstance(condition, PropertyCondition):
                        due = condition.next_at(now, inclusive=True)
                        if due is not None:
                            self._timers[(rule.rule_id, i)] = due
            taken.append(rule)
        return taken, refused

    def drop(self, rule_id: str) -> None:
        self.rules.pop(rule_id, None)
        self._held.pop(rule_id, None)
        for key in [k for k in self._timers if k[0] == rule_id]:
            del self._timers[key]

    def remember(self, services: Mapping[str, Mapping[str, Any]]) -> None:
        """Keep a report's values for the rules to come, evaluating none."""
        for sid, values in services.items():
            self.values.setdefault(sid, {}).update(values)

    def reported(self, services: Mapping[str, Mapping[str, Any]], now: float) -> list[Firing]:
        """The rules a report makes fire: those whose conditions hold now and did not at the
        previous report (outside its ``timeRange`` a rule does not hold)."""
        self.remember(services)
        fired = []
        for rule in self.rules.values():
            if not rule.active or not rule.watches_values:
                continue
            holds = _in_range(rule, now) and rule.holds(self.values)
            if holds and not self._held.get(rule.rule_id, False):
                fired.append(Firing(rule, now, "values"))
            self._held[rule.rule_id] = holds
        return fired

    def next_due(self) -> float | None:
        """When the next timer is due (Unix seconds), None without timers."""
        return min(self._timers.values(), default=None)

    def due(self, now: float) -> list[Firing]:
        """The rules whose timers are due by ``now``, in time order; missed runs are not caught up
        (each timer moves to its next time after ``now``)."""
        fired = []
        for key, at in sorted(self._timers.items(), key=lambda item: item[1]):
            if at > now + EARLY:
                continue
            rule_id, index = key
            rule = self.rules[rule_id]
            timer = rule.conditions[index]
            assert not isinstance(timer, PropertyCondition)
            after = timer.next_at(max(now, at), inclusive=False)
            if after is None:
                del self._timers[key]
            else:
                self._timers[key] = after
            if _in_range(rule, at) and rule.holds(self.values, timer=index):
                fired.append(Firing(rule, at, "timer"))
        return fired


def _in_range(rule: Rule, now: float) -> bool:
    return rule.time_range is None or rule.time_range.contains(now)


def _weekday(unix: float) -> int:
    """The UTC weekday of a Unix time, 0 for Monday (1970-01-01 was a Thursday)."""
    return (math.floor(unix / _DAY) + 3) % 7


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and len(value) <= 64:
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _number_text(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _equal(value: Any, number: float | None, operand: Operand) -> bool:
    if number is not None and operand.number is not None:
        return number == operand.number
    if isinstance(value, bool):
        return operand.text == ("true" if value else "false")
    return isinstance(value, str) and value == operand.text


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
