"""``Property``: the descriptor a Service declares for each property of its product model."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import attrs

from ..errors import InvalidValue
from ..types import ValueType, resolve_type
from .state import state_of

if TYPE_CHECKING:
    from .service import Service

T = TypeVar("T")

NO_DEFAULT: Any = None


@attrs.define(init=False, eq=False, repr=False)
class Property(Generic[T]):
    """A property of a service.

    ``Property(int, writeable=True, minimum=0, maximum=1)`` declares an integer the cloud may
    write; ``name=`` sets the wire name (defaults to the attribute name). On an instance the
    attribute reads and assigns the value (assignments are checked against the type); on the
    class it gives this Property, for introspection.

    ``report_on_change=True`` reports the property whenever an assignment changes its value.
    """

    type: ValueType
    name: str
    writeable: bool
    default: Any
    unit: str | None
    description: str | None
    report_on_change: bool
    attr: str = ""
    owner: builtins.type | None = None

    @overload
    def __init__(
        self: Property[T],
        type: builtins.type[T],
        *,
        name: str | None = ...,
        writeable: bool = ...,
        default: T | None = ...,
        minimum: float | None = ...,
        maximum: float | None = ...,
        step: float | None = ...,
        max_length: int | None = ...,
        enum: Sequence[Any] | None = ...,
        unit: str | None = ...,
        description: str | None = ...,
        report_on_change: bool = ...,
    ) -> None: ...

    @overload
    def __init__(
        self: Property[Any],
        type: str | ValueType,
        *,
        name: str | None = ...,
        writeable: bool = ...,
        default: Any = ...,
        minimum: float | None = ...,
        maximum: float | None = ...,
        step: float | None = ...,
        max_length: int | None = ...,
        enum: Sequence[Any] | None = ...,
        unit: str | None = ...,
        description: str | None = ...,
        report_on_change: bool = ...,
    ) -> None: ...

    def __init__(
        self,
        type: Any,
        *,
        name: str | None = None,
        writeable: bool = False,
        default: Any = NO_DEFAULT,
        minimum: float | None = None,
        maximum: float | None = None,
        step: float | None = None,
        max_length: int | None = None,
        enum: Sequence[Any] | None = None,
        unit: str | None = None,
        description: str | None = None,
        report_on_change: bool = False,
    ) -> None:
        value_type = resolve_type(
            type, minimum=minimum, maximum=maximum, step=step, max_length=max_length, enum=enum
        )
        self.__attrs_init__(value_type, name or "", writeable, default, unit, description, report_on_change)

    def __set_name__(self, owner: builtins.type, attr: str) -> None:
        self.attr = attr
        self.owner = owner
        if not self.name:
            self.name = attr

    @overload
    def __get__(self, instance: None, owner: builtins.type) -> Property[T]: ...

    @overload
    def __get__(self, instance: Service, owner: builtins.type) -> T: ...

    def __get__(self, instance: Service | None, owner: builtins.type) -> Property[T] | T:
        if instance is None:
            return self
        return state_of(instance).get(self)  # type: ignore[no-any-return]

    def __set__(self, instance: Service, value: T) -> None:
        try:
            checked = self.type.check(value)
        except InvalidValue as exc:
            raise InvalidValue(f"{self.qualname}: {exc}") from None
        state = state_of(instance)
        old = state.set(self, checked)
        if self.report_on_change and old != checked and state.host is not None:
            state.host.report(instance, [self.name])

    @property
    def qualname(self) -> str:
        """``ServiceClass.attr``, for messages."""
        owner = self.owner.__name__ if self.owner else "?"
        return f"{owner}.{self.attr}"

    def __repr__(self) -> str:
        rw = "writeable" if self.writeable else "read-only"
        wire = f" as {self.name!r}" if self.name != self.attr else ""
        return f"<Property {self.qualname}{wire}: {self.type.describe()}, {rw}>"
