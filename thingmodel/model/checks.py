"""Checking a Service class against a :class:`~thingmodel.model.schema.ServiceModel`, like Django's
checks: one function per kind (:func:`check_properties`, :func:`check_commands`,
:func:`check_events`), and :func:`check_service` running them in that order.

Each :class:`~thingmodel.model.schema.Problem` has a stable id:

=====  ========================================================================================
TM001  a property of the model is missing from the class
TM002  the class declares a property the model does not have
TM003  a property's type differs (its ``ValueType.kind``; int and long are both integers, an
       enum has the kind of its values, struct members and array items are compared too)
TM004  a bound (minimum, maximum, max_length, enum) declared by the class disagrees with the model
TM005  writeable in the class but not in the model (``method`` without W, ``mode`` "r"), or the
       other way round
TM006  a command of the model is missing from the class
TM007  the class declares a command the model does not have
TM008  a command parameter is missing (unless ``**kwargs`` takes it), extra, of another type,
       required where the model makes it optional, or bounded more narrowly than the model
TM009  the class's service_id is not in the model (nothing else is checked). A Tencent
       template is a single service, so a class is checked against it whatever its service_id.
       Reported by :meth:`~thingmodel.model.product.ProductModel.check`, which picks the service
TM010  the class declares a command, or a property wire name, that the model has only as an
       event: the device sends events, the cloud neither writes nor calls them
TM011  an event of the model is not declared by the class (as an ``Event``; one the class
       declares as a property or command is TM010 instead)
TM012  the class declares an event the model does not have
TM013  an event parameter is missing, extra, of another type, optional where the model requires
       it, or bounded more loosely than the model
TM014  an event's kind differs from the model's type (Tencent's info/alert/fault; Huawei events
       have no type, so any kind agrees)
=====  ========================================================================================

The TM004 rule: a bound the class leaves out is not a problem; the class relies on the model's.
A bound the class *declares* must not let through a value the model forbids, because every
property is reported. For a writeable property it must also not refuse a value the model allows,
because the cloud may write that value: a read-only property may be stricter than the model, a
writeable one may not. Command parameters follow the writeable rule (TM008), event parameters
the reported one (TM013): the device sends them, so a class may require a parameter the model
makes optional, or bound it more narrowly. Steps are not compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..declare.command import CommandSpec, Param
from ..declare.event import EventSpec
from ..declare.property import Property
from ..declare.service import Service
from ..types import (
    Array,
    Boolean,
    DateTime,
    Decimal,
    Enum,
    IntBoolean,
    Integer,
    JsonObject,
    String,
    StringList,
    Struct,
    Timestamp,
    ValueType,
)
from . import build
from .schema import CommandModel, EventModel, Problem, PropertyModel, ServiceModel

__all__ = [
    "check_commands",
    "check_events",
    "check_properties",
    "check_service",
    "spell",
    "type_expression",
]


def check_service(model: ServiceModel, cls: type[Service]) -> list[Problem]:
    """Every disagreement between ``cls`` and ``model``: properties, then commands, then events."""
    return [*check_properties(model, cls), *check_commands(model, cls), *check_events(model, cls)]


def check_properties(model: ServiceModel, cls: type[Service]) -> list[Problem]:
    """TM001 to TM005: the model's properties against the class's, then the class's extra ones."""
    sid = model.service_id
    spec = cls.spec
    problems: list[Problem] = []
    for prop in model.properties:
        declared = spec.by_name.get(prop.name)
        if declared is None:
            rw = ", writeable=True" if prop.writeable else ""
            problems.append(
                Problem(
                    "TM001",
                    f"{sid}: model property {prop.name!r} ({prop.type.describe()}) is missing "
                    f"from {cls.__name__}",
                    f"declare it: Property({spell(prop.type)}, name={prop.name!r}{rw})",
                    prop,
                )
            )
        else:
            problems.extend(_check_property(f"{sid}.{prop.name}", declared.prop, prop))
    for declared in spec.properties:
        if model.property(declared.name) is None:
            problems.append(
                Problem(
                    "TM002",
                    f"{sid}: property {declared.name!r} ({declared.attr}) is not in the model",
                    "remove it, or add it to the product model",
                    declared.prop,
                )
            )
    return problems


def check_commands(model: ServiceModel, cls: type[Service]) -> list[Problem]:
    """TM006 to TM008: the model's commands against the class's, then the class's extra ones."""
    sid = model.service_id
    spec = cls.spec
    problems: list[Problem] = []
    for cmd in model.commands:
        declared_cmd = spec.commands.get(cmd.name)
        if declared_cmd is None:
            problems.append(
                Problem(
                    "TM006",
                    f"{sid}: model command {cmd.name!r} is missing from {cls.__name__}",
                    f"add a method decorated with @command({cmd.name!r})",
                    cmd,
                )
            )
        else:
            problems.extend(_check_command(f"{sid}.{cmd.name}", declared_cmd, cmd))
    for name, declared_cmd in spec.commands.items():
        if model.command(name) is None:
            problems.append(
                Problem(
                    "TM007",
                    f"{sid}: command {name!r} ({declared_cmd.attr}) is not in the model",
                    "remove it, or add it to the product model",
                    declared_cmd,
                )
            )
    return problems


def _event_hint(what: str) -> str:
    return (
        "events are sent by the device, not written or called by the cloud: declare it as an "
        f"Event, or add it to the product model as a {what}"
    )


def check_events(model: ServiceModel, cls: type[Service]) -> list[Problem]:
    """TM010 to TM014: each model event declared as a property or command (TM010) or not declared
    (TM011), then each declared one against the model (TM013, TM014), then the class's events the
    model does not have (TM012)."""
    sid = model.service_id
    spec = cls.spec
    problems: list[Problem] = []
    for event in model.events:
        misdeclared = _misdeclared(model, cls, event)
        problems += misdeclared
        declared = spec.events.get(event.name)
        if declared is not None:
            problems += _check_event(f"{sid}.{event.name}", declared, event)
        elif not misdeclared:
            problems.append(
                Problem(
                    "TM011",
                    f"{sid}: model event {event.name!r} ({build.params_text(event.params)}) is missing "
                    f"from {cls.__name__}",
                    f"declare it: {_event_text(event)}",
                    event,
                )
            )
    for name, declared in spec.events.items():
        if not any(e.name == name for e in model.events):
            also = (
                " (the model has it as a property)"
                if model.property(name) is not None
                else " (the model has it as a command)"
                if model.command(name) is not None
                else ""
            )
            problems.append(
                Problem(
                    "TM012",
                    f"{sid}: event {name!r} ({declared.attr}) is not in the model{also}",
                    "remove it, or add it to the product model",
                    declared,
                )
            )
    return problems


def _misdeclared(model: ServiceModel, cls: type[Service], event: EventModel) -> list[Problem]:
    """TM010: a model event the class declares as a property or a command, unless the model has a
    property or command of that name too."""
    sid = model.service_id
    problems = []
    declared = cls.spec.by_name.get(event.name)
    if declared is not None and model.property(event.name) is None:
        problems.append(
            Problem(
                "TM010",
                f"{sid}: property {event.name!r} ({declared.attr}) is an event in the model",
                _event_hint("property"),
                declared.prop,
            )
        )
    declared_cmd = cls.spec.commands.get(event.name)
    if declared_cmd is not None and model.command(event.name) is None:
        problems.append(
            Problem(
                "TM010",
                f"{sid}: command {event.name!r} ({declared_cmd.attr}) is an event in the model",
                _event_hint("command"),
                declared_cmd,
            )
        )
    return problems


def _check_event(where: str, declared: EventSpec, model: EventModel) -> list[Problem]:
    """TM013 for each parameter that disagrees, TM014 for the kind. The device sends the values, so
    a parameter may be required where the model makes it optional and bounded more narrowly."""
    problems = []

    def problem(message: str, hint: str) -> None:
        problems.append(Problem("TM013", f"{where}: {message}", hint, declared))

    for p in model.params:
        mine = declared.params.get(p.name)
        if mine is None:
            where_to = "the required parameters" if p.required else "optional="
            problem(
                f"parameter {p.name!r} is missing", f"add {p.name!r}: {type_expression(p.type)} to {where_to}"
            )
        elif _family(mine.type) != _family(p.type):
            theirs = f"{mine.type.describe()} in the class, {p.type.describe()} in the model"
            problem(f"parameter {p.name!r} is {theirs}", f"declare it as {type_expression(p.type)}")
        else:
            if p.required and not mine.required:
                problem(
                    f"parameter {p.name!r} is optional in the class, required by the model",
                    "move it from optional= to the required parameters",
                )
            for message, hint in _too_loose(mine.type, p.type):
                problem(f"parameter {p.name!r}: {message}", hint)
    names = {p.name for p in model.params}
    for name in declared.params:
        if name not in names:
            problem(f"parameter {name!r} is not in the model", "remove it, or add it to the product model")
    kind = build.event_kind(model)
    if kind is not None and declared.kind != kind:
        problems.append(
            Problem(
                "TM014",
                f"{where}: the class declares kind {declared.kind!r}, the model type {kind!r}",
                f"declare it with kind={kind!r}",
                declared,
            )
        )
    return problems


def _event_text(event: EventModel) -> str:
    """How to declare a model event: ``attr = Event({...}, optional={...}, name=..., kind=...)``."""

    def entries(required: bool) -> str:
        items = (f"{p.name!r}: {type_expression(p.type)}" for p in event.params if p.required == required)
        return "{" + ", ".join(items) + "}"

    args = [entries(True)]
    if any(not p.required for p in event.params):
        args.append(f"optional={entries(False)}")
    attr = build.attribute_name(event.name)
    if attr != event.name:
        args.append(f"name={event.name!r}")
    kind = build.event_kind(event)
    if kind is not None and kind != "info":
        args.append(f"kind={kind!r}")
    return f"{attr} = Event({', '.join(args)})"


def _check_property(where: str, declared: Property[Any], model: PropertyModel) -> list[Problem]:
    problems = []
    if _family(declared.type) != _family(model.type):
        problems.append(
            Problem(
                "TM003",
                f"{where}: the class declares {declared.type.describe()}, the model {model.type.describe()}",
                f"declare it as Property({spell(model.type)}, ...)",
                declared,
            )
        )
    else:
        found = _too_loose(declared.type, model.type)
        if model.writeable:
            found += _too_strict(declared.type, model.type, "write")
        problems += [Problem("TM004", f"{where}: {message}", hint, declared) for message, hint in found]
    if declared.writeable != model.writeable:
        want = "writeable" if model.writeable else "read-only"
        problems.append(
            Problem(
                "TM005",
                f"{where}: the model makes it {want}, the class does not",
                f"declare it with writeable={model.writeable}",
                declared,
            )
        )
    return problems


def _check_command(where: str, declared: CommandSpec, model: CommandModel) -> list[Problem]:
    problems = []

    def problem(message: str, hint: str) -> None:
        problems.append(Problem("TM008", f"{where}: {message}", hint, declared))

    for p in model.params:
        mine: Param | None = declared.params.get(p.name)
        if mine is None:
            if not declared.accepts_extra:  # **kwargs takes it
                problem(f"parameter {p.name!r} is missing", f"add a parameter {p.name}: {spell(p.type)}")
        elif _family(mine.type) != _family(p.type):
            theirs = f"{mine.type.describe()} in the class, {p.type.describe()} in the model"
            problem(f"parameter {p.name!r} is {theirs}", f"declare it as {spell(p.type)}")
        else:
            if mine.required and not p.required:
                problem(
                    f"parameter {p.name!r} is required by the class, optional in the model",
                    "give it a default",
                )
            for message, hint in _too_strict(mine.type, p.type, "send"):
                problem(f"parameter {p.name!r}: {message}", hint)
    names = {p.name for p in model.params}
    for name in declared.params:
        if name not in names:
            problem(f"parameter {name!r} is not in the model", "remove it, or add it to the product model")
    return problems


# --- comparing value types --------------------------------------------------------------------
def _family(value_type: ValueType) -> object:
    """What two types must share to match: the kind (int and long alike), an enum's values' kind,
    struct members and array items."""
    if isinstance(value_type, Enum):
        return _family(value_type.base)
    if isinstance(value_type, Struct):
        return ("struct", tuple(sorted((k, repr(_family(v))) for k, v in value_type.fields.items())))
    if isinstance(value_type, Array):
        return ("array", _family(value_type.item))
    if isinstance(value_type, StringList):
        return ("array", "string")
    return value_type.kind


_LIMITS = (("minimum", -1), ("maximum", 1), ("max_length", 1))  # (bound, the looser direction)


def _limits(value_type: ValueType) -> dict[str, float | None]:
    base = value_type.base if isinstance(value_type, Enum) else value_type
    return {key: getattr(base, key, None) for key, _ in _LIMITS}


def _too_loose(mine: ValueType, model: ValueType) -> list[tuple[str, str]]:
    """(message, hint) for each bound ``mine`` declares that lets through values ``model`` forbids."""
    if isinstance(mine, Enum):
        bad = [c for c in mine.choices if not model.accepts(c)]
        return (
            [(f"the class allows {bad!r}, which the model forbids", f"keep to {model.describe()}")]
            if bad
            else []
        )
    found = []
    have, limit = _limits(mine), _limits(model)
    for key, looser in _LIMITS:
        c, m = have[key], limit[key]
        if c is not None and m is not None and (c - m) * looser > 0:
            found.append(
                (
                    f"the class's {key} {c} is {'above' if c > m else 'below'} the model's {m}, so it "
                    "allows values the model forbids",
                    f"use {key}={m}",
                )
            )
    return found


def _too_strict(mine: ValueType, model: ValueType, verb: str) -> list[tuple[str, str]]:
    """(message, hint) for each bound ``mine`` declares that refuses values ``model`` lets the cloud
    ``verb``; a bound the model does not have counts as infinitely loose."""
    refused = f"values the cloud may {verb}"
    if isinstance(model, Enum):
        bad = [c for c in model.choices if not mine.accepts(c)]
        return [(f"the class refuses {bad!r}, {refused}", f"accept {model.describe()}")] if bad else []
    if isinstance(mine, Enum):
        low, high = _limits(model)["minimum"], _limits(model)["maximum"]
        if isinstance(model, Integer) and low is not None and high is not None and high - low < 1000:
            bad = [v for v in range(int(low), int(high) + 1) if not mine.accepts(v)]
            return [(f"the class refuses {bad!r}, {refused}", f"accept {model.describe()}")] if bad else []
        return [
            (f"the class allows only {mine.describe()}, the model any {model.describe()}", "drop the enum")
        ]
    found = []
    have, limit = _limits(mine), _limits(model)
    for key, looser in _LIMITS:
        c, m = have[key], limit[key]
        if c is not None and (m is None or (m - c) * looser > 0):
            side = "above" if looser < 0 else "below"
            theirs, fix = ("none", f"leave {key} out") if m is None else (m, f"use {key}={m}")
            found.append(
                (f"the class's {key} {c} is {side} the model's ({theirs}), so it refuses {refused}", fix)
            )
    return found


_SHORT: tuple[tuple[ValueType, str], ...] = (
    (Integer(), "int"),
    (Decimal(), "float"),
    (String(), "str"),
    (Boolean(), "bool"),
    (JsonObject(), "dict"),
    (StringList(), "list"),
    (DateTime(), "datetime"),
)


def type_expression(value_type: ValueType) -> str:
    """A Python expression declaring ``value_type`` as a parameter: ``int`` for a plain integer,
    ``Integer(minimum=0, maximum=5)`` for a bounded one (only the fields that differ from the
    defaults; a display name only where it matters, as ``long``)."""
    return next((text for short, text in _SHORT if short == value_type), None) or _constructor(value_type)


def _constructor(value_type: ValueType) -> str:
    args = []
    for field in attrs.fields(type(value_type)):
        value = getattr(value_type, field.name)
        if not field.eq or (field.name == "name" and not isinstance(value_type, Integer)):
            continue
        default = field.default
        factory = getattr(default, "factory", None)  # an attrs.Factory (its stub is a function)
        if callable(factory):
            default = factory()
        if default is attrs.NOTHING:
            args.append(_argument(value))
        elif value != default:
            args.append(f"{field.name}={_argument(value)}")
    return f"{type(value_type).__name__}({', '.join(args)})"


def _argument(value: Any) -> str:
    if isinstance(value, ValueType):
        return _constructor(value)
    if isinstance(value, tuple):
        return repr(list(value))
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k!r}: {_argument(v)}" for k, v in value.items()) + "}"
    return repr(value)


def spell(value_type: ValueType) -> str:
    """How to declare ``value_type``: the arguments of ``Property(...)``."""
    if isinstance(value_type, Enum):
        return f"{spell(value_type.base).split(',')[0]}, enum={list(value_type.choices)!r}"
    if isinstance(value_type, (Integer, Decimal)):
        head = (
            "float" if isinstance(value_type, Decimal) else "'long'" if value_type.name == "long" else "int"
        )
        bounds = (f"{k}={getattr(value_type, k)}" for k in ("minimum", "maximum", "step"))
        return ", ".join([head, *(b for b in bounds if not b.endswith("=None"))])
    if isinstance(value_type, (String, StringList)):
        head = "str" if isinstance(value_type, String) else "list"
        return head + ("" if value_type.max_length is None else f", max_length={value_type.max_length}")
    simple = {
        Boolean: "bool",
        IntBoolean: "bool",
        DateTime: "datetime",
        Timestamp: "'timestamp'",
        JsonObject: "dict",
    }
    return simple.get(type(value_type), f"{type(value_type).__name__}(...)  # {value_type.describe()}")
