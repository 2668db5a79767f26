"""Value types shared by properties, command parameters and product models.

Each type turns a wire value (decoded JSON) into a Python value with :meth:`ValueType.from_wire`,
checking range, step, length and enum membership, and back with :meth:`ValueType.to_wire`.
Failures raise :class:`~thingmodel.errors.InvalidValue` with a reason a person can act on.

Huawei IoTDA types: int, long, decimal, string, boolean, enum, DateTime, jsonObject, string list.
Tencent IoT types: bool, int, float, string, enum, stringenum, timestamp, struct, array.
"""

from __future__ import annotations

import abc
import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs

from .errors import InvalidValue

__all__ = [
    "Array",
    "Boolean",
    "DateTime",
    "Decimal",
    "Enum",
    "Integer",
    "JsonObject",
    "String",
    "StringList",
    "Struct",
    "Timestamp",
    "ValueType",
    "resolve_type",
]

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


def _kind(raw: object) -> str:
    if raw is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(raw), type(raw).__name__)


def _show(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


@attrs.frozen
class ValueType(abc.ABC):
    """Base of all value types. ``kind`` names the family used when comparing with models."""

    kind: ClassVar[str] = "value"
    #: True when ``to_wire`` returns its argument unchanged (lets reports skip the call).
    wire_is_python: ClassVar[bool] = True

    @abc.abstractmethod
    def from_wire(self, raw: object) -> Any:
        """Convert and check a decoded JSON value; raise InvalidValue naming the reason."""

    def to_wire(self, value: Any) -> Any:
        """The JSON-ready form of a checked Python value."""
        return value

    def check(self, value: Any) -> Any:
        """Check a Python-side value (an assignment, a getter's result); return it converted."""
        return self.from_wire(value)

    def accepts(self, value: object) -> bool:
        """Whether :meth:`from_wire` takes ``value`` without raising InvalidValue."""
        try:
            self.from_wire(value)
        except InvalidValue:
            return False
        return True

    def describe(self) -> str:
        """A short human description, used in error messages and ``model show``."""
        return self.kind


def _check_range(value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise InvalidValue(f"{_show(value)} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise InvalidValue(f"{_show(value)} is above the maximum {maximum}")


def _check_step(value: float, minimum: float | None, step: float | None) -> None:
    if not step:
        return
    offset = (value - (minimum or 0)) / step
    if not math.isclose(offset, round(offset), abs_tol=1e-9):
        raise InvalidValue(
            f"{_show(value)} is not a multiple of the step {step}" + (f" from {minimum}" if minimum else "")
        )


def _range_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is None and maximum is None:
        return ""
    return f" in [{'-inf' if minimum is None else minimum}, {'inf' if maximum is None else maximum}]"


@attrs.frozen
class Integer(ValueType):
    """A whole number: Huawei ``int`` (32-bit) and ``long`` (64-bit), Tencent ``int``."""

    minimum: int | None = None
    maximum: int | None = None
    step: int | None = None
    name: str = "int"
    kind: ClassVar[str] = "integer"

    def from_wire(self, raw: object) -> int:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise InvalidValue(f"expected an integer, got {_kind(raw)} {_show(raw)}")
        if isinstance(raw, float):
            if not raw.is_integer():
                raise InvalidValue(f"expected an integer, got {_show(raw)}")
            raw = int(raw)
        low, high = INT32 if self.name == "int" else INT64
        if not low <= raw <= high:
            raise InvalidValue(f"{_show(raw)} does not fit a {self.name} ({low}..{high})")
        if self.minimum is not None or self.maximum is not None:
            _check_range(raw, self.minimum, self.maximum)
        if self.step:
            _check_step(raw, self.minimum, self.step)
        return raw

    def describe(self) -> str:
        return self.name + _range_text(self.minimum, self.maximum)


@attrs.frozen
class Decimal(ValueType):
    """A floating-point number: Huawei ``decimal``, Tencent ``float``."""

    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    name: str = "decimal"
    kind: ClassVar[str] = "decimal"

    def from_wire(self, raw: object) -> float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise InvalidValue(f"expected a number, got {_kind(raw)} {_show(raw)}")
        value = float(raw)
        if not math.isfinite(value):
            raise InvalidValue(f"{_show(raw)} is not a finite number")
        if self.minimum is not None or self.maximum is not None:
            _check_range(value, self.minimum, self.maximum)
        if self.step:
            _check_step(value, self.minimum, self.step)
        return value

    def describe(self) -> str:
        return self.name + _range_text(self.minimum, self.maximum)


@attrs.frozen
class String(ValueType):
    """A text value; ``max_length`` counts characters."""

    max_length: int | None = None
    min_length: int = 0
    name: str = "string"
    kind: ClassVar[str] = "string"

    def from_wire(self, raw: object) -> str:
        if not isinstance(raw, str):
            raise InvalidValue(f"expected a string, got {_kind(raw)} {_show(raw)}")
        if self.max_length is not None and len(raw) > self.max_length:
            raise InvalidValue(f"string of length {len(raw)} is longer than max_length {self.max_length}")
        if len(raw) < self.min_length:
            raise InvalidValue(f"string of length {len(raw)} is shorter than {self.min_length}")
        return raw

    def describe(self) -> str:
        return self.name + (f" (max {self.max_length} chars)" if self.max_length is not None else "")


@attrs.frozen
class Boolean(ValueType):
    """True or false. Accepts JSON booleans and, as Tencent's ``bool`` sends them, 0 and 1."""

    name: str = "boolean"
    kind: ClassVar[str] = "boolean"

    def from_wire(self, raw: object) -> bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        raise InvalidValue(f"expected a boolean (true/false or 0/1), got {_kind(raw)} {_show(raw)}")


@attrs.frozen
class IntBoolean(Boolean):
    """Tencent's ``bool``: true or false in Python, 0 or 1 on the wire."""

    name: str = "bool"
    wire_is_python: ClassVar[bool] = False

    def to_wire(self, value: bool) -> int:
        return int(value)


@attrs.frozen
class Enum(ValueType):
    """One of a fixed set of values: Huawei ``enum`` (strings), Tencent ``enum`` (int keys)
    and ``stringenum`` (string keys). ``labels`` maps a value to its display name."""

    choices: tuple[Any, ...] = attrs.field(converter=tuple)
    base: ValueType = attrs.field(factory=lambda: String())
    labels: Mapping[Any, str] = attrs.field(factory=dict, eq=False)
    name: str = "enum"
    kind: ClassVar[str] = "enum"

    def from_wire(self, raw: object) -> Any:
        value = self.base.from_wire(raw)
        if value not in self.choices:
            allowed = ", ".join(_show(c) for c in self.choices)
            raise InvalidValue(f"{_show(raw)} is not one of {allowed}")
        return value

    def describe(self) -> str:
        return f"{self.name} of {', '.join(map(repr, self.choices))}"


_DATETIME_FORMATS = ("%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ")


@attrs.frozen
class DateTime(ValueType):
    """Huawei ``DateTime``: an aware UTC datetime, on the wire ``yyyyMMdd'T'HHmmss'Z'``."""

    name: str = "DateTime"
    kind: ClassVar[str] = "datetime"
    wire_is_python: ClassVar[bool] = False

    def from_wire(self, raw: object) -> _dt.datetime:
        if isinstance(raw, str):
            for fmt in _DATETIME_FORMATS:
                try:
                    return _dt.datetime.strptime(raw, fmt).replace(tzinfo=_dt.timezone.utc)
                except ValueError:
                    continue
            raise InvalidValue(f"{_show(raw)} is not a UTC time like 20151212T121212Z")
        raise InvalidValue(f"expected a UTC time string, got {_kind(raw)} {_show(raw)}")

    def check(self, value: Any) -> _dt.datetime:
        if isinstance(value, _dt.datetime):
            if value.tzinfo is None:
                raise InvalidValue("a naive datetime is ambiguous: give it a timezone")
            return value.astimezone(_dt.timezone.utc)
        return self.from_wire(value)

    def to_wire(self, value: _dt.datetime) -> str:
        return value.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


@attrs.frozen
class Timestamp(ValueType):
    """Tencent ``timestamp``: a non-negative whole number of seconds (or milliseconds)."""

    name: str = "timestamp"
    kind: ClassVar[str] = "timestamp"

    def from_wire(self, raw: object) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise InvalidValue(f"expected a timestamp (whole number), got {_kind(raw)} {_show(raw)}")
        if not 0 <= raw <= INT64[1]:
            raise InvalidValue(f"{_show(raw)} is not a valid timestamp")
        return raw


@attrs.frozen
class JsonObject(ValueType):
    """Huawei ``jsonObject``: any JSON object."""

    name: str = "jsonObject"
    kind: ClassVar[str] = "object"

    def from_wire(self, raw: object) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise InvalidValue(f"expected a JSON object, got {_kind(raw)} {_show(raw)}")
        from .protocol.jsonwire import require_finite

        require_finite(raw, "object")
        return raw


@attrs.frozen
class StringList(ValueType):
    """Huawei ``string list``: a list of strings, each at most ``max_length`` long."""

    max_length: int | None = None
    name: str = "string list"
    kind: ClassVar[str] = "string list"

    def from_wire(self, raw: object) -> list[str]:
        if not isinstance(raw, list):
            raise InvalidValue(f"expected a list of strings, got {_kind(raw)} {_show(raw)}")
        item = String(max_length=self.max_length)
        errors = []
        for index, entry in enumerate(raw):
            try:
                item.from_wire(entry)
            except InvalidValue as exc:
                errors.append(f"[{index}]: {exc}")
        if errors:
            raise InvalidValue("; ".join(errors))
        return list(raw)


def _member_dict(members: Mapping[str, ValueType]) -> dict[str, ValueType]:
    return dict(members)


@attrs.frozen
class Struct(ValueType):
    """Tencent ``struct``: an object whose members each have their own type.

    Members may be left out (a partial write); unknown members are refused.
    """

    fields: Mapping[str, ValueType] = attrs.field(converter=_member_dict)
    name: str = "struct"
    kind: ClassVar[str] = "struct"
    wire_is_python: ClassVar[bool] = False

    def from_wire(self, raw: object) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise InvalidValue(f"expected an object, got {_kind(raw)} {_show(raw)}")
        out: dict[str, Any] = {}
        errors = []
        for key, member in raw.items():
            field_type = self.fields.get(key)
            if field_type is None:
                errors.append(f"{key}: unknown member (known: {', '.join(self.fields)})")
                continue
            try:
                out[key] = field_type.from_wire(member)
            except InvalidValue as exc:
                errors.append(f"{key}: {exc}")
        if errors:
            raise InvalidValue("; ".join(errors))
        return out

    def check(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise InvalidValue(f"expected a dict, got {_kind(value)} {_show(value)}")
        errors = []
        out = {}
        for key, member in value.items():
            field_type = self.fields.get(key)
            if field_type is None:
                errors.append(f"{key}: unknown member")
                continue
            try:
                out[key] = field_type.check(member)
            except InvalidValue as exc:
                errors.append(f"{key}: {exc}")
        if errors:
            raise InvalidValue("; ".join(errors))
        return out

    def to_wire(self, value: dict[str, Any]) -> dict[str, Any]:
        return {k: self.fields[k].to_wire(v) for k, v in value.items()}

    def describe(self) -> str:
        return "struct {" + ", ".join(f"{k}: {t.describe()}" for k, t in self.fields.items()) + "}"


@attrs.frozen
class Array(ValueType):
    """Tencent ``array``: a list whose items all have one type."""

    item: ValueType
    max_items: int | None = None
    name: str = "array"
    kind: ClassVar[str] = "array"
    wire_is_python: ClassVar[bool] = False

    def from_wire(self, raw: object) -> list[Any]:
        return self._each(raw, self.item.from_wire)

    def check(self, value: Any) -> list[Any]:
        return self._each(value, self.item.check)

    def _each(self, raw: object, convert: Any) -> list[Any]:
        if not isinstance(raw, list):
            raise InvalidValue(f"expected an array, got {_kind(raw)} {_show(raw)}")
        if self.max_items is not None and len(raw) > self.max_items:
            raise InvalidValue(f"array of {len(raw)} items is longer than {self.max_items}")
        out, errors = [], []
        for index, entry in enumerate(raw):
            try:
                out.append(convert(entry))
            except InvalidValue as exc:
                errors.append(f"[{index}]: {exc}")
        if errors:
            raise InvalidValue("; ".join(errors))
        return out

    def to_wire(self, value: list[Any]) -> list[Any]:
        if self.item.wire_is_python:
            return value
        return [self.item.to_wire(v) for v in value]

    def describe(self) -> str:
        return f"array of {self.item.describe()}"


_BY_NAME: dict[str, type[ValueType]] = {
    "int": Integer,
    "integer": Integer,
    "long": Integer,
    "decimal": Decimal,
    "float": Decimal,
    "double": Decimal,
    "string": String,
    "text": String,
    "boolean": Boolean,
    "bool": Boolean,
    "datetime": DateTime,
    "timestamp": Timestamp,
    "jsonobject": JsonObject,
    "string list": StringList,
}


def resolve_type(
    spec: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    step: float | None = None,
    max_length: int | None = None,
    enum: Sequence[Any] | None = None,
) -> ValueType:
    """Build a :class:`ValueType` from a Python type, a vendor type name or a ValueType.

    ``int``/``float``/``str``/``bool``/``dict``/``list``/``datetime`` map to Integer, Decimal,
    String, Boolean, JsonObject, StringList and DateTime; names are the vendors' (``"long"``,
    ``"decimal"``, ``"string list"``, ``"timestamp"`` ...). Constraints that do not apply to the
    type raise :class:`TypeError`.
    """
    given = {
        k: v
        for k, v in (("minimum", minimum), ("maximum", maximum), ("step", step), ("max_length", max_length))
        if v is not None
    }
    if isinstance(spec, ValueType):
        if given or enum is not None:
            raise TypeError("constraints go into the ValueType itself when one is given")
        return spec
    python_names = {
        int: "int",
        float: "decimal",
        str: "string",
        bool: "boolean",
        dict: "jsonobject",
        list: "string list",
        _dt.datetime: "datetime",
    }
    if isinstance(spec, type) and spec in python_names:
        name = python_names[spec]
    elif isinstance(spec, str) and spec.lower() in _BY_NAME:
        name = spec.lower()
    elif isinstance(spec, str) and spec.lower() in ("enum", "stringenum"):
        if enum is None:
            raise TypeError(f"type {spec!r} needs enum=[...]")
        name = spec.lower()
    else:
        known = "int, float, str, bool, dict, list, datetime, a ValueType, or one of " + ", ".join(
            sorted({*_BY_NAME, "enum", "stringenum"})
        )
        raise TypeError(f"unknown property type {spec!r}: use {known}")

    if enum is not None:
        choices = tuple(enum)
        if not choices:
            raise TypeError("enum=[] allows no value at all")
        if name in ("enum", "stringenum"):
            base: ValueType = String() if all(isinstance(c, str) for c in choices) else Integer(name="long")
        else:
            base = resolve_type(name, **given)  # type: ignore[arg-type]
            given = {}
        if given:
            raise TypeError(f"{', '.join(given)} cannot be combined with enum")
        for choice in choices:
            base.from_wire(choice)  # an enum of the wrong type is a declaration error
        return Enum(choices, base=base, name="stringenum" if name == "stringenum" else "enum")

    cls = _BY_NAME[name]
    allowed = {
        Integer: {"minimum", "maximum", "step"},
        Decimal: {"minimum", "maximum", "step"},
        String: {"max_length"},
        StringList: {"max_length"},
    }.get(cls, set())
    wrong = set(given) - allowed
    if wrong:
        raise TypeError(f"{', '.join(sorted(wrong))} does not apply to type {name!r}")
    if cls is Integer:
        if given.get("step") is not None and not float(given["step"]).is_integer():
            raise TypeError(f"an integer step must be whole, got {given['step']}")
        return Integer(name="long" if name == "long" else "int", **{k: _whole(v) for k, v in given.items()})
    if cls is Decimal:
        return Decimal(
            name="float" if name in ("float", "double") else "decimal",
            **{k: float(v) for k, v in given.items()},
        )
    if cls is Boolean:
        return Boolean(name="bool" if name == "bool" else "boolean")
    return cls(**given)


def _whole(value: float) -> int:
    return int(value) if float(value).is_integer() else value  # type: ignore[return-value]
