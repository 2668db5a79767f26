"""``Service``: the base class a device engineer subclasses, one per service of a product model.

All reflection happens once, in ``__init_subclass__``: properties, ``get_<attr>``/``set_<attr>``
accessors and ``@command`` methods are collected into a frozen :class:`ServiceSpec`. Mistakes
(an accessor for an undeclared property, a wire-name clash, a setter on a read-only property, a
default outside its own range) raise :class:`~thingmodel.errors.DefinitionError` right there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

import attrs

from ..errors import DefinitionError, InvalidValue, NotAttached, ValidationError
from ..ids import validate_id
from .command import CommandSpec, build_command, command_mark
from .event import Event, EventSpec
from .property import Property
from .state import new_state, state_of

_ACCESSOR_PREFIXES = ("get_", "set_")


class PropertySpec:
    """A property as the engine uses it: the declaration plus its resolved accessors."""

    __slots__ = ("attr", "check", "default", "getter", "name", "prop", "setter", "to_wire")

    def __init__(
        self,
        prop: Property[Any],
        getter: Callable[[Any], Any] | None,
        setter: Callable[[Any, Any], Any] | None,
    ) -> None:
        # A plain class: an attrs field typed Property would look like a descriptor to mypy.
        self.prop = prop
        self.getter = getter
        self.setter = setter
        # Flattened once here so that reports do no attribute chasing per message.
        self.name = prop.name
        self.attr = prop.attr
        self.default = prop.default
        self.check = prop.type.check
        self.to_wire: Callable[[Any], Any] | None = None if prop.type.wire_is_python else prop.type.to_wire

    def __repr__(self) -> str:
        return f"PropertySpec({self.prop!r})"


@attrs.frozen
class ServiceSpec:
    """Everything the engine needs to know about a Service class, computed once per class."""

    service_id: str
    properties: tuple[PropertySpec, ...]
    by_name: Mapping[str, PropertySpec]
    commands: Mapping[str, CommandSpec]
    by_attr: Mapping[str, PropertySpec] = attrs.field(factory=dict)
    events: Mapping[str, EventSpec] = attrs.field(factory=dict)


class ServiceHost(Protocol):
    """What a Service needs from the device it is attached to."""

    def schedule_auto_report(self, service: Service, seconds: float) -> None: ...

    def cancel_auto_report(self, service: Service) -> None: ...

    def report(self, service: Service, names: list[str] | None = None) -> None: ...

    def emit_event(self, service: Service, event: EventSpec, params: Mapping[str, Any]) -> None: ...


class Service:
    """Base class of a device service. Subclass it, set ``service_id`` and declare properties.

    ``service_id`` defaults to the class name. See :class:`~thingmodel.Property` and
    :func:`~thingmodel.declare.command`.
    """

    service_id: ClassVar[str]
    spec: ClassVar[ServiceSpec]
    _tm_explicit_id: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # An explicit service_id is inherited (a subclass adds behaviour to the same service);
        # without one anywhere in the hierarchy the class name is used.
        if "service_id" in cls.__dict__:
            cls._tm_explicit_id = True
        elif not getattr(cls, "_tm_explicit_id", False):
            cls.service_id = cls.__name__
        try:
            validate_id("service_id", cls.service_id)
        except InvalidValue as exc:
            raise DefinitionError(f"{cls.__name__}: {exc}") from None
        cls.spec = _build_spec(cls)

    def __new__(cls, *args: Any, **kwargs: Any) -> Service:
        if cls is Service:
            raise TypeError("Service is a base class: subclass it and declare properties")
        self = super().__new__(cls)
        # Here rather than in __init__ so that a subclass's own __init__ need not call super().
        new_state(self)
        return self

    # -- public API --------------------------------------------------------------------------
    def update(self, **values: Any) -> None:
        """Assign several properties (by attribute name) at once: all are checked first, then
        assigned together, so no report or read ever sees some of them changed and not others."""
        by_attr = self.spec.by_attr
        errors: dict[str, str] = {}
        checked: list[tuple[Property[Any], Any]] = []
        for attr, value in values.items():
            p = by_attr.get(attr)
            if p is None:
                errors[attr] = f"{type(self).__name__} has no property {attr!r}"
                continue
            try:
                checked.append((p.prop, p.check(value)))
            except InvalidValue as exc:
                errors[attr] = str(exc)
        if errors:
            raise ValidationError(errors, what=f"update of {type(self).__name__}")
        state = state_of(self)
        changed = []
        with state.lock:
            for prop, value in checked:
                if state.set(prop, value) != value:
                    changed.append(prop)
        on_change = [p.name for p in changed if p.report_on_change]
        if on_change and state.host is not None:
            state.host.report(self, on_change)

    def enable_auto_report(self, seconds: float) -> None:
        """Report every property every ``seconds``. Calling it again changes the period."""
        if not seconds > 0:
            raise ValueError(f"auto-report period must be positive, got {seconds!r}")
        state = state_of(self)
        state.auto_report = float(seconds)
        if state.host is not None:
            state.host.schedule_auto_report(self, state.auto_report)

    def disable_auto_report(self) -> None:
        """Stop the periodic report; safe to call when it is not enabled."""
        state = state_of(self)
        state.auto_report = None
        if state.host is not None:
            state.host.cancel_auto_report(self)

    @property
    def auto_report_interval(self) -> float | None:
        """The auto-report period in seconds, or None when off."""
        return state_of(self).auto_report

    def report(self, *names: str) -> None:
        """Report the named properties (wire or attribute names), or all of them, now."""
        host = state_of(self).host
        if host is None:
            raise NotAttached(f"{type(self).__name__} is not attached to a device; cannot report")
        wire = [self._wire_name(n) for n in names] if names else None
        host.report(self, wire)

    def _wire_name(self, name: str) -> str:
        spec = self.spec
        if name in spec.by_name:
            return name
        p = spec.by_attr.get(name)
        if p is not None:
            return p.name
        raise KeyError(f"{type(self).__name__} has no property {name!r}")

    def __repr__(self) -> str:
        state = state_of(self)
        values = ", ".join(f"{p.attr}={state.get(p)!r}" for p in self.spec.properties)
        return f"<{type(self).__name__} {self.service_id!r} {values}>"


def _build_spec(cls: type[Service]) -> ServiceSpec:
    props: dict[str, Property[Any]] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Property):
                props[attr] = value
            elif attr in props and not isinstance(value, Property):
                del props[attr]  # a subclass replaced the property with something else

    by_name: dict[str, Property[Any]] = {}
    for attr, prop in props.items():
        other = by_name.get(prop.name)
        if other is not None:
            raise DefinitionError(
                f"{cls.__name__}: properties {other.attr!r} and {attr!r} both use the wire name {prop.name!r}"
            )
        by_name[prop.name] = prop
        if prop.default is not None:
            try:
                prop.type.check(prop.default)
            except InvalidValue as exc:
                raise DefinitionError(
                    f"{cls.__name__}.{attr}: default {prop.default!r} is invalid: {exc}"
                ) from None

    accessors: dict[str, Callable[..., Any]] = {}
    commands: dict[str, CommandSpec] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            func = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            mark = command_mark(func)
            if mark is not None:
                spec = build_command(cls, attr, func, mark)
                clash = commands.get(spec.name)
                if clash is not None and clash.attr != attr:
                    raise DefinitionError(
                        f"{cls.__name__}: methods {clash.attr!r} and {attr!r} "
                        f"both declare command {spec.name!r}"
                    )
                commands[spec.name] = spec
            elif attr.startswith(_ACCESSOR_PREFIXES) and callable(value) and klass is not Service:
                accessors[attr] = value

    for attr in accessors:
        target = attr[4:]
        if target not in props:
            kind = "getter" if attr.startswith("get_") else "setter"
            known = ", ".join(props) or "none"
            raise DefinitionError(
                f"{cls.__name__}.{attr}: {kind} for an undeclared property {target!r} (declared: {known})"
            )
        if attr.startswith("set_") and not props[target].writeable:
            raise DefinitionError(
                f"{cls.__name__}.{attr}: setter for read-only property {target!r}; "
                f"declare it with writeable=True"
            )

    specs = tuple(
        PropertySpec(prop, accessors.get(f"get_{attr}"), accessors.get(f"set_{attr}"))
        for attr, prop in props.items()
    )
    return ServiceSpec(
        cls.service_id,
        specs,
        {p.name: p for p in specs},
        commands,
        {p.attr: p for p in specs},
        _events(cls),
    )


def _events(cls: type[Service]) -> dict[str, EventSpec]:
    """The class's events by wire name (a subclass's replace its parents'); DefinitionError for
    two attributes declaring one wire name."""
    by_attr: dict[str, EventSpec] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Event):
                if value.error is not None:
                    raise value.error
                assert value.spec is not None
                by_attr[attr] = value.spec
            elif attr in by_attr:
                del by_attr[attr]
    events: dict[str, EventSpec] = {}
    for attr, spec in by_attr.items():
        clash = events.get(spec.name)
        if clash is not None:
            raise DefinitionError(
                f"{cls.__name__}: attributes {clash.attr!r} and {attr!r} both declare event {spec.name!r}"
            )
        events[spec.name] = spec
    return events
