"""``Event``: the descriptor a Service declares for each event its device may emit.

    class SmokeDetector(Service):
        smoke_alarm = Event({"level": Integer(minimum=0, maximum=5), "room": str}, kind="alert")

    detector.smoke_alarm(level=3, room="kitchen")   # checked, then sent (Huawei events/up, ...)

Parameters are typed like command parameters (a Python type, a vendor type name or a ValueType);
those in ``optional=`` may be left out. Their types are checked once, at class creation; each
emit checks its values, all of them, and raises ValidationError naming every bad one before
anything is sent. ``kind`` is Tencent's event type (info, alert, fault).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import DefinitionError, InvalidValue, NotAttached, ValidationError
from ..ids import validate_id
from .command import Param, _param_type

if TYPE_CHECKING:
    from .service import Service

KINDS = ("info", "alert", "fault")


@attrs.frozen
class EventSpec:
    """An event of a service, built once at class creation."""

    name: str
    attr: str
    params: Mapping[str, Param]
    kind: str = "info"
    description: str | None = None

    def check(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Checked wire values; ValidationError with every reason (unknown, missing, invalid)."""
        errors: dict[str, str] = {}
        out: dict[str, Any] = {}
        for key, value in values.items():
            param = self.params.get(key)
            if param is None:
                errors[key] = f"unknown parameter (known: {', '.join(self.params) or 'none'})"
                continue
            try:
                out[key] = param.type.to_wire(param.type.check(value))
            except InvalidValue as exc:
                errors[key] = str(exc)
        for param in self.params.values():
            if param.required and param.name not in values:
                errors[param.name] = "required parameter is missing"
        if errors:
            raise ValidationError(errors, what=f"event {self.name!r}")
        return out


class Event:
    """An event a service emits: ``Event({"level": int}, optional={"room": str}, kind="alert")``.

    ``name=`` sets the wire name (the attribute name by default). On an instance the attribute is
    a callable that checks its keyword arguments and sends the event; on the class it gives this
    Event."""

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        optional: Mapping[str, Any] | None = None,
        name: str | None = None,
        kind: str = "info",
        description: str | None = None,
    ) -> None:
        self._params = dict(params or {})
        self._optional = dict(optional or {})
        self._name = name
        self.kind = kind
        self.description = description
        self.spec: EventSpec | None = None
        #: what is wrong with the declaration; the Service class raises it (before Python 3.12 an
        #: exception raised in __set_name__ reaches the user wrapped in a RuntimeError)
        self.error: DefinitionError | None = None
        self.attr = ""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr
        try:
            self.spec = self._build(owner, attr)
        except DefinitionError as exc:
            self.error = exc

    def _build(self, owner: type, attr: str) -> EventSpec:
        if self._name is not None and not self._name:
            raise DefinitionError(f"{owner.__name__}.{attr}: an event's name= must not be empty")
        wire = self._name or attr
        where = f"{owner.__name__}.{attr} (event {wire!r})"
        try:
            validate_id("event name", wire)
        except InvalidValue as exc:
            raise DefinitionError(f"{where}: {exc}") from None
        if self.kind not in KINDS:
            raise DefinitionError(f"{where}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        params: dict[str, Param] = {}
        both = sorted(set(self._params) & set(self._optional))
        if both:
            raise DefinitionError(f"{where}: {', '.join(map(repr, both))} is both required and optional")
        for required, given in ((True, self._params), (False, self._optional)):
            for key, spec in given.items():
                if not isinstance(key, str) or not key:
                    raise DefinitionError(f"{where}: parameter names must be non-empty strings, not {key!r}")
                params[key] = Param(key, _param_type(where, key, spec), required)
        return EventSpec(wire, attr, params, self.kind, self.description)

    @property
    def name(self) -> str:
        """The wire name."""
        return self._name or self.attr

    def __get__(self, instance: Service | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return _Emitter(self, instance)

    def __repr__(self) -> str:
        return f"Event({self.name!r}, kind={self.kind!r})"


class _Emitter:
    """An event bound to a service instance: calling it checks and sends the event."""

    __slots__ = ("event", "service")

    def __init__(self, event: Event, service: Service) -> None:
        self.event, self.service = event, service

    def __call__(self, **params: Any) -> None:
        """Check ``params`` (ValidationError names every bad one) and send the event now."""
        from .state import state_of

        spec = self.event.spec
        assert spec is not None  # set by __set_name__
        values = spec.check(params)
        host = state_of(self.service).host
        if host is None:
            raise NotAttached(
                f"{type(self.service).__name__} is not attached to a device; cannot emit {spec.name!r}"
            )
        host.emit_event(self.service, spec, values)

    def __repr__(self) -> str:
        return f"<event {self.event.name!r} of {type(self.service).__name__}>"
