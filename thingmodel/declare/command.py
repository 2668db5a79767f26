"""``@command``: marks a Service method as a command the cloud can call."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

import attrs

from ..errors import DefinitionError, InvalidValue, ValidationError
from ..types import Array, JsonObject, StringList, ValueType, resolve_type

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__thingmodel_command__"


@attrs.frozen
class _CommandMark:
    name: str | None
    params: Mapping[str, Any]
    description: str | None


@attrs.frozen
class Param:
    """One checked parameter of a command."""

    name: str
    type: ValueType
    required: bool
    default: Any = None


@attrs.frozen
class CommandSpec:
    """A command of a service, built once at class creation."""

    name: str
    attr: str
    params: Mapping[str, Param]
    accepts_extra: bool
    description: str | None = None

    def parse(self, params: object) -> dict[str, Any]:
        """Check wire parameters and return keyword arguments; raise ValidationError with all reasons."""
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ValidationError(
                {"paras": f"expected an object, got {type(params).__name__}"},
                what=f"parameters of command {self.name!r}",
            )
        errors: dict[str, str] = {}
        kwargs: dict[str, Any] = {}
        for key, raw in params.items():
            param = self.params.get(key)
            if param is None:
                if self.accepts_extra:
                    kwargs[key] = raw
                else:
                    known = ", ".join(self.params) or "none"
                    errors[key] = f"unknown parameter (known: {known})"
                continue
            try:
                kwargs[key] = param.type.from_wire(raw)
            except InvalidValue as exc:
                errors[key] = str(exc)
        for param in self.params.values():
            if param.name not in params and param.required:
                errors[param.name] = "required parameter is missing"
        if errors:
            raise ValidationError(errors, what=f"parameters of command {self.name!r}")
        return kwargs


@overload
def command(name: F, /) -> F: ...


@overload
def command(
    name: str | None = None, /, *, params: Mapping[str, Any] | None = None, description: str | None = None
) -> Callable[[F], F]: ...


def command(
    name: Any = None, /, *, params: Mapping[str, Any] | None = None, description: str | None = None
) -> Any:
    """Declare a command: ``@command``, ``@command("ringAlarm")``.

    Parameters come from the method's signature: annotations give their types, defaults make them
    optional. ``params={"duration": Integer(minimum=0)}`` adds constraints (or declares parameters
    taken through ``**kwargs``). The method returns a dict (the response parameters) or None.
    """
    if callable(name):
        setattr(name, _MARK, _CommandMark(None, {}, None))
        return name

    def mark(func: F) -> F:
        setattr(func, _MARK, _CommandMark(name, dict(params or {}), description))
        return func

    return mark


def command_mark(obj: object) -> _CommandMark | None:
    return getattr(obj, _MARK, None)


def build_command(owner: type, attr: str, func: Callable[..., Any], mark: _CommandMark) -> CommandSpec:
    """Turn a marked method into a CommandSpec; raise DefinitionError for what cannot work."""
    wire = mark.name or attr
    where = f"{owner.__name__}.{attr} (command {wire!r})"
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:  # an annotation that does not resolve
        raise DefinitionError(f"{where}: cannot resolve annotations: {exc}") from exc
    signature = inspect.signature(func)
    parameters = list(signature.parameters.values())[1:]  # drop self
    params: dict[str, Param] = {}
    accepts_extra = False
    for parameter in parameters:
        if parameter.kind is parameter.VAR_KEYWORD:
            accepts_extra = True
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.POSITIONAL_ONLY):
            raise DefinitionError(f"{where}: parameter {parameter.name!r} must be passable by name")
        spec = mark.params.get(parameter.name, hints.get(parameter.name))
        if spec is None:
            raise DefinitionError(
                f"{where}: parameter {parameter.name!r} has no type; annotate it or pass params="
            )
        value_type = _param_type(where, parameter.name, spec)
        required = parameter.default is parameter.empty
        if not required and parameter.default is not None:
            try:
                value_type.check(parameter.default)
            except InvalidValue as exc:
                raise DefinitionError(f"{where}: default of {parameter.name!r}: {exc}") from None
        params[parameter.name] = Param(
            parameter.name, value_type, required, None if required else parameter.default
        )
    for extra, spec in mark.params.items():
        if extra in params:
            continue
        if not accepts_extra:
            raise DefinitionError(f"{where}: params= names {extra!r}, which is not a parameter")
        required = spec.required if isinstance(spec, Param) else False
        params[extra] = Param(extra, _param_type(where, extra, spec), required=required)
    return CommandSpec(wire, attr, params, accepts_extra, mark.description or inspect.getdoc(func))


def _param_type(where: str, name: str, spec: Any) -> ValueType:
    if isinstance(spec, Param):
        return spec.type
    try:
        return _annotation_type(spec)
    except TypeError as exc:
        raise DefinitionError(f"{where}: parameter {name!r}: {exc}") from None


def _annotation_type(spec: Any) -> ValueType:
    """``Optional[X]`` is X; ``list[str]`` a string list, ``list[X]`` an array of X;
    ``dict[...]`` a JSON object; anything else as :func:`resolve_type` reads it."""
    origin = typing.get_origin(spec)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(spec) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"a union of several types ({spec}) is not a parameter type")
        return _annotation_type(args[0])
    if origin is list:
        (item,) = typing.get_args(spec) or (str,)
        return StringList() if item is str else Array(_annotation_type(item))
    if origin is dict:
        return JsonObject()
    return resolve_type(spec)
