"""What a product model declares, as plain frozen values: services with their properties,
commands and events, and the :class:`Problem` a check reports.

:mod:`thingmodel.model.readers` builds these from files; :mod:`thingmodel.model.build` turns a
:class:`ServiceModel` into a Service class and :mod:`thingmodel.model.checks` compares a class with
one.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..errors import CommandNotImplemented
from ..types import ValueType

__all__ = [
    "CommandModel",
    "CommandNotImplemented",
    "EventModel",
    "ParamModel",
    "Problem",
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
        """The property with this wire name, or None."""
        return next((p for p in self.properties if p.name == name), None)

    def command(self, name: str) -> CommandModel | None:
        """The command with this name, or None."""
        return next((c for c in self.commands if c.name == name), None)


@attrs.frozen
class Problem:
    """One finding of a check (:mod:`thingmodel.model.checks`): a stable ``id``, what is wrong, how
    to fix it, and ``obj``, the thing concerned (a Property, a command, a model item or the class)."""

    id: str
    message: str
    hint: str
    obj: Any = attrs.field(default=None, eq=False)

    def __str__(self) -> str:
        return f"{self.id} {self.message} (hint: {self.hint})"
