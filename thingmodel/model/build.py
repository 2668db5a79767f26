"""Building a working Service class from a :class:`~thingmodel.model.schema.ServiceModel`."""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from typing import Any

from ..declare.command import Param, command
from ..declare.property import Property
from ..declare.service import Service
from .schema import CommandModel, CommandNotImplemented, ParamModel, ServiceModel

__all__ = ["params_text", "service_class"]


def service_class(model: ServiceModel) -> type[Service]:
    """A Service subclass with one Property per model property and one command per model command;
    until a subclass overrides it, a command raises :class:`CommandNotImplemented`."""
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


def params_text(params: tuple[ParamModel, ...]) -> str:
    """Parameters as ``name: type`` joined by commas; an optional one ends with ``?``."""
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
    method.__doc__ = cmd.description or f"Command {cmd.name!r}({params_text(cmd.params)})."
    params = {p.name: Param(p.name, p.type, p.required) for p in cmd.params}
    return command(cmd.name, params=params)(method)
