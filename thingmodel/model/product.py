"""Product models: load them, build Service classes from them, check classes against them.

:meth:`ProductModel.load` reads (see :mod:`thingmodel.model.readers`), detecting the dialect from
the content:

- a Huawei console export: the ``.zip``, its extracted folder (``profile/devicetype-capability.json``
  and ``service/*/profile/servicetype-capability.json``, possibly under one top folder), one
  ``servicetype-capability.json``, or a ``devicetype-capability.json`` beside its service files
  (camelCase; the devicetype file gives each serviceType its serviceId);
- the Huawei IoTDA v5 REST JSON (``service_capabilities``; snake_case);
- a Tencent IoT Explorer data template (``properties``/``events``/``actions``). A template is one
  service; its id is ``profile.ProductId``, or the file stem when the template has no profile.

Huawei ``min``/``max`` bound numbers only (a string's length is ``maxLength``; 0 means none); a
Huawei ``step`` above 0 is enforced. Tencent's ``step`` is a UI hint, not enforced (nor by its
SDKs). A broken file raises :class:`~thingmodel.errors.ModelError` naming the file (and zip
member), the JSON path or line/column, and the reason.

:meth:`ProductModel.check` compares a Service class with the model, like Django's checks. Each
:class:`Problem` has a stable id:

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
       template is a single service, so a class is checked against it whatever its service_id
=====  ========================================================================================

The TM004 rule: a bound the class leaves out is not a problem; the class relies on the model's.
A bound the class *declares* must not let through a value the model forbids, because every
property is reported. For a writeable property it must also not refuse a value the model allows,
because the cloud may write that value: a read-only property may be stricter than the model, a
writeable one may not. Command parameters follow the writeable rule (TM008). Steps are not
compared.
"""

from __future__ import annotations

import keyword
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from ..declare.command import CommandSpec, Param, command
from ..declare.property import Property
from ..declare.service import Service
from ..errors import InvalidValue, ThingModelError
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

__all__ = [
    "CommandModel",
    "CommandNotImplemented",
    "EventModel",
    "ParamModel",
    "Problem",
    "ProductModel",
    "PropertyModel",
    "ServiceModel",
]


@attrs.frozen
class PropertyModel:
    """A property as the model declares it."""

    name: str
    type: ValueType
    writeable: bool = False
    readable: bool = True
    required: bool = False
    unit: str | None = None
    description: str | None = None


@attrs.frozen
class ParamModel:
    """A parameter of a command, a command response or an event."""

    name: str
    type: ValueType
    required: bool = False


@attrs.frozen
class CommandModel:
    """A command (Huawei) or action (Tencent); ``responses`` are its output parameters."""

    name: str
    params: tuple[ParamModel, ...] = ()
    responses: tuple[ParamModel, ...] = ()
    description: str | None = None


@attrs.frozen
class EventModel:
    """An event the device may send; ``type`` is Tencent's info/alert/fault."""

    name: str
    params: tuple[ParamModel, ...] = ()
    type: str | None = None


@attrs.frozen
class ServiceModel:
    """One service of a product model."""

    service_id: str
    properties: tuple[PropertyModel, ...] = ()
    commands: tuple[CommandModel, ...] = ()
    events: tuple[EventModel, ...] = ()
    service_type: str | None = None
    description: str | None = None

    def property(self, name: str) -> PropertyModel | None:
        return next((p for p in self.properties if p.name == name), None)

    def command(self, name: str) -> CommandModel | None:
        return next((c for c in self.commands if c.name == name), None)


@attrs.frozen
class Problem:
    """One finding of :meth:`ProductModel.check`: a stable ``id``, what is wrong, how to fix it,
    and ``obj``, the thing concerned (a Property, a command, a model property or the class)."""

    id: str
    message: str
    hint: str
    obj: Any = attrs.field(default=None, eq=False)

    def __str__(self) -> str:
        return f"{self.id} {self.message} (hint: {self.hint})"


class CommandNotImplemented(ThingModelError):
    """A command of a class built from a model was called, but no subclass implements it."""


# --- the model ------------------------------------------------------------------------------
@attrs.frozen
class ProductModel:
    """A loaded product model: ``services`` maps each service id to its :class:`ServiceModel`."""

    services: dict[str, ServiceModel]
    source: str = ""
    dialect: str = ""  # "huawei console", "huawei v5" or "tencent data template"

    @property
    def vendor(self) -> str:
        return self.dialect.split()[0] if self.dialect else ""

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ProductModel:
        """Load a model file or folder of any supported dialect (see the module docstring)."""
        from .readers import read_path

        services, dialect = read_path(Path(path))
        return cls(services, str(path), dialect)

    @classmethod
    def from_json(cls, data: Any, *, source: str = "<json>", fallback_id: str = "service") -> ProductModel:
        """A model from decoded JSON (one servicetype file, the v5 REST JSON or a Tencent template);
        ``fallback_id`` names a Tencent template that has no ``profile.ProductId``."""
        from .readers import read_json

        services, dialect = read_json(data, source, fallback_id)
        return cls(services, source, dialect)

    # -- building classes ----------------------------------------------------------------------
    def service(self, service_id: str | None = None) -> ServiceModel:
        """One service; ``service_id`` may be left out when the model has only one."""
        if service_id is None and len(self.services) == 1:
            return next(iter(self.services.values()))
        if service_id in self.services:
            return self.services[service_id]
        raise KeyError(
            f"no service {service_id!r} in {self.source or 'the model'} (it has: {', '.join(self.services)})"
        )

    def service_class(self, service_id: str | None = None) -> type[Service]:
        """A working Service subclass for one service, one Property per model property and one
        command per model command. Subclass it to add getters, setters and command bodies (override
        the generated method); until then a command answers that it is not implemented."""
        model = self.service(service_id)
        namespace: dict[str, Any] = {"service_id": model.service_id, "__doc__": model.description}
        used = {*dir(Service), "service_id", "spec", "_tm", "_tm_explicit_id"}
        for prop in model.properties:
            namespace[_identifier(prop.name, used)] = Property(
                prop.type,
                name=prop.name,
                writeable=prop.writeable,
                unit=prop.unit,
                description=prop.description,
            )
        for cmd in model.commands:
            attr = _identifier(cmd.name, used, command=True)
            namespace[attr] = _unimplemented(cmd, attr)
        name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", model.service_id))
        name = name if name[:1].isalpha() else f"Service{name}"
        namespace["__qualname__"] = name
        return type(name, (Service,), namespace)

    # -- checking classes ----------------------------------------------------------------------
    def check(self, service_class: type[Service]) -> list[Problem]:
        """Compare a Service class with its service in the model; ``[]`` means they agree."""
        model = self.services.get(service_class.service_id)
        if model is None and self.vendor == "tencent" and len(self.services) == 1:
            model = next(iter(self.services.values()))  # a template is one service, whatever its id
        if model is None:
            return [
                Problem(
                    "TM009",
                    f"{service_class.__name__}: service {service_class.service_id!r} is not in the model",
                    f"set service_id to one of: {', '.join(self.services)}",
                    service_class,
                )
            ]
        return check_service(model, service_class)

    def describe(self) -> str:
        """A short human-readable listing (``thingmodel model show``)."""
        lines = [f"{self.source} ({self.dialect})"]
        for s in self.services.values():
            other_type = s.service_type not in (None, s.service_id)
            lines.append(f"service {s.service_id}" + (f" (type {s.service_type})" if other_type else ""))
            for p in s.properties:
                mode = ("R" if p.readable else " ") + ("W" if p.writeable else " ")
                lines.append(f"  {mode} {p.name}: {p.type.describe()}" + (f" [{p.unit}]" if p.unit else ""))
            for c in s.commands:
                out = f" -> ({_params_text(c.responses)})" if c.responses else ""
                lines.append(f"  command {c.name}({_params_text(c.params)}){out}")
            for e in s.events:
                lines.append(
                    f"  event {e.name}({_params_text(e.params)})" + (f" [{e.type}]" if e.type else "")
                )
        return "\n".join(lines)


def _params_text(params: tuple[ParamModel, ...]) -> str:
    return ", ".join(f"{p.name}: {p.type.describe()}" + ("" if p.required else "?") for p in params)


def _identifier(name: str, used: set[str], command: bool = False) -> str:
    """A Python attribute name for a wire name: camelCase becomes snake_case, clashes get a suffix.
    A command is never named get_*/set_*, which Service reads as a property accessor."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    snake = re.sub(r"\W+", "_", snake, flags=re.ASCII).strip("_").lower() or "value"
    if snake[0].isdigit() or keyword.iskeyword(snake):
        snake = f"p_{snake}"
    if command and snake.startswith(("get_", "set_")):
        snake = f"{snake}_command"
    candidate, n = snake, 2
    while candidate in used:
        candidate, n = f"{snake}_{n}", n + 1
    used.add(candidate)
    return candidate


def _unimplemented(cmd: CommandModel, attr: str) -> Callable[..., Any]:
    def method(self: Service, /, **paras: Any) -> None:
        raise CommandNotImplemented(
            f"command {cmd.name!r} is not implemented: subclass {type(self).__name__} "
            f"and override {attr}(self, **paras)"
        )

    method.__name__ = method.__qualname__ = attr
    method.__doc__ = cmd.description or f"Command {cmd.name!r}({_params_text(cmd.params)})."
    params = {p.name: Param(p.name, p.type, p.required) for p in cmd.params}
    return command(cmd.name, params=params)(method)


# --- checking a class against a service ------------------------------------------------------
def check_service(model: ServiceModel, cls: type[Service]) -> list[Problem]:
    """Every disagreement between ``cls`` and ``model``, properties first, then commands."""
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


def _accepts(value_type: ValueType, value: Any) -> bool:
    try:
        value_type.from_wire(value)
    except InvalidValue:
        return False
    return True


def _too_loose(mine: ValueType, model: ValueType) -> list[tuple[str, str]]:
    """(message, hint) for each bound ``mine`` declares that lets through values ``model`` forbids."""
    if isinstance(mine, Enum):
        bad = [c for c in mine.choices if not _accepts(model, c)]
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
        bad = [c for c in model.choices if not _accepts(mine, c)]
        return [(f"the class refuses {bad!r}, {refused}", f"accept {model.describe()}")] if bad else []
    if isinstance(mine, Enum):
        low, high = _limits(model)["minimum"], _limits(model)["maximum"]
        if isinstance(model, Integer) and low is not None and high is not None and high - low < 1000:
            bad = [v for v in range(int(low), int(high) + 1) if not _accepts(mine, v)]
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
