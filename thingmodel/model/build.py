"""Building a working Service class from a :class:`~thingmodel.model.schema.ServiceModel`."""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from typing import Any

from ..declare.command import Param, command
from ..declare.event import KINDS, Event
from ..declare.property import Property
from ..declare.service import Service
from .schema import CommandModel, CommandNotImplemented, EventModel, ParamModel, ServiceModel

__all__ = ["attribute_name", "event_kind", "params_text", "service_class"]


def service_class(model: ServiceModel) -> type[Service]:
    """A Service subclass with one Property per model property, one command per model command and
    one :class:`~thingmodel.declare.event.Event` per model event (attribute names in snake_case,
    wire names the model's); until a subclass overrides it, a command raises
    :class:`CommandNotImplemented`."""
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
    for event in model.events:
        namespace[_identifier(event.name, used)] = _event(event)
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", model.service_id))
    name = name if name[:1].isalpha() else f"Service{name}"
    namespace["__qualname__"] = name
    return type(name, (Service,), namespace)


def params_text(params: tuple[ParamModel, ...]) -> str:
    """Parameters as ``name: type`` joined by commas; an optional one ends with ``?``."""
    return ", ".join(f"{p.name}: {p.type.describe()}" + ("" if p.required else "?") for p in params)


def event_kind(model: EventModel) -> str | None:
    """The Event kind a model event asks for: Tencent's type when it is one of info, alert and
    fault; None otherwise (Huawei events have no type), where a declaration may use any kind."""
    return model.type if model.type in KINDS else None


def attribute_name(name: str) -> str:
    """The Python attribute name for a wire name: camelCase becomes snake_case, other characters
    underscores; a keyword or a leading digit gets a ``p_`` prefix."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    snake = re.sub(r"\W+", "_", snake, flags=re.ASCII).strip("_").lower() or "value"
    return f"p_{snake}" if snake[0].isdigit() or keyword.iskeyword(snake) else snake


def _identifier(name: str, used: set[str], command: bool = False) -> str:
    """:func:`attribute_name`, and a suffix for a clash. A command is never named get_*/set_*,
    which Service reads as a property accessor."""
    snake = attribute_name(name)
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
    method.__doc__ = cmd.description or f"Command {cmd.name!r}({params_text(cmd.params)})."
    params = {p.name: Param(p.name, p.type, p.required) for p in cmd.params}
    return command(cmd.name, params=params)(method)


def _event(model: EventModel) -> Event:
    required = {p.name: p.type for p in model.params if p.required}
    optional = {p.name: p.type for p in model.params if not p.required}
    return Event(required, optional=optional, name=model.name, kind=event_kind(model) or "info")
