"""Product models: load them, build Service classes from them, check classes against them.

Reads Huawei IoTDA product models in both dialects — the console export (a ``.zip``, its
extracted folder, or one ``servicetype-capability.json``; camelCase) and the v5 REST JSON
(``service_capabilities``; snake_case) — and Tencent IoT data templates (one service).

``ProductModel.check(cls)`` returns :class:`Problem` objects with stable ids, like Django's checks:

======  =====================================================================================
TM001   a required property of the model is missing from the class
TM002   the class declares a property the model does not have
TM003   a property's type differs from the model's (int and long count as the same)
TM004   a property's range, length or enum allows values the model forbids; a class may be
        stricter than the model, and a class that declares no bound leaves the model's bound
        to the platform, so only a bound *declared* looser than the model's is a problem
TM005   a property is writeable in the class but not in the model, or the other way round
TM006   a command of the model is missing from the class
TM007   the class declares a command the model does not have
TM008   a command's parameters differ: missing, extra, of another type, or required by the
        class where the model lets the platform leave them out
TM009   the class's service_id is not a service of the model (nothing else is checked)
======  =====================================================================================

A broken file raises :class:`~thingmodel.errors.ModelError` naming the file and the place.
"""

from __future__ import annotations

import json
import keyword
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from .command import Param, command
from .errors import ModelError, ThingModelError
from .property import Property
from .service import Service
from .types import (
    Array,
    Boolean,
    DateTime,
    Decimal,
    Enum,
    Integer,
    JsonObject,
    String,
    StringList,
    Struct,
    Timestamp,
    ValueType,
)

__all__ = ["CommandModel", "ParamModel", "Problem", "ProductModel", "PropertyModel", "ServiceModel"]


@attrs.frozen
class PropertyModel:
    name: str
    type: ValueType
    writeable: bool
    required: bool = False
    unit: str | None = None
    description: str | None = None


@attrs.frozen
class ParamModel:
    name: str
    type: ValueType
    required: bool = False


@attrs.frozen
class CommandModel:
    name: str
    params: tuple[ParamModel, ...] = ()
    responses: tuple[ParamModel, ...] = ()
    description: str | None = None


@attrs.frozen
class ServiceModel:
    service_id: str
    properties: tuple[PropertyModel, ...] = ()
    commands: tuple[CommandModel, ...] = ()
    events: tuple[str, ...] = ()
    service_type: str | None = None
    description: str | None = None

    def property(self, name: str) -> PropertyModel | None:
        return next((p for p in self.properties if p.name == name), None)

    def command(self, name: str) -> CommandModel | None:
        return next((c for c in self.commands if c.name == name), None)


@attrs.frozen
class Problem:
    """One finding of :meth:`ProductModel.check`."""

    id: str
    message: str
    hint: str
    obj: Any = None

    def __str__(self) -> str:
        return f"{self.id} {self.message} (hint: {self.hint})"


class CommandNotImplemented(ThingModelError):
    """A command of a class built from a model was called without an implementation."""


# --- reading JSON with locations ------------------------------------------------------------
class _Reader:
    """Typed access to parsed JSON that names the file and the JSON path in every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ModelError:
        return ModelError(message, source=self.source, location=where)

    def get(
        self,
        obj: Mapping[str, Any],
        keys: tuple[str, ...],
        kind: type | tuple[type, ...],
        where: str,
        *,
        required: bool = True,
        default: Any = None,
    ) -> Any:
        for key in keys:
            if key in obj and obj[key] is not None:
                value = obj[key]
                if not isinstance(value, kind) or (
                    isinstance(value, bool) and kind in (int, float, (int, float))
                ):
                    expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
                    raise self.fail(f"{where}.{key}", f"must be {expected}, got {type(value).__name__}")
                return value
        if required:
            raise self.fail(where, f"missing {' or '.join(repr(k) for k in keys)}")
        return default

    def items(
        self, obj: Mapping[str, Any], keys: tuple[str, ...], where: str
    ) -> list[tuple[str, dict[str, Any]]]:
        values = self.get(obj, keys, list, where, required=False, default=[])
        key = next((k for k in keys if k in obj), keys[0])
        out = []
        for index, item in enumerate(values):
            place = f"{where}.{key}[{index}]" if where else f"{key}[{index}]"
            if not isinstance(item, dict):
                raise self.fail(place, f"must be an object, got {type(item).__name__}")
            out.append((place, item))
        return out

    def number(self, obj: Mapping[str, Any], keys: tuple[str, ...], where: str) -> float | None:
        raw = self.get(obj, keys, (str, int, float), where, required=False)
        if raw is None or raw == "":
            return None
        try:
            return float(raw)
        except ValueError:
            raise self.fail(f"{where}.{keys[0]}", f"{raw!r} is not a number") from None


def _parse_json(data: bytes, source: str) -> Any:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ModelError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", source=source) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(
            f"invalid JSON: {exc.msg}", source=source, location=f"line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ModelError("JSON nested too deeply", source=source) from None


# --- Huawei ---------------------------------------------------------------------------------
def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)


def _huawei_type(r: _Reader, item: Mapping[str, Any], where: str) -> ValueType:
    data_type = r.get(item, ("dataType", "data_type"), str, where)
    minimum = r.number(item, ("min",), where)
    maximum = r.number(item, ("max",), where)
    step = r.number(item, ("step",), where) or None
    max_length = r.get(item, ("maxLength", "max_length"), int, where, required=False) or None
    enum_list = r.get(item, ("enumList", "enum_list"), list, where, required=False) or []
    kind = data_type.lower()
    if kind in ("int", "long"):
        if step is not None and not float(step).is_integer():
            raise r.fail(where, f"an integer with a fractional step {step}")
        return Integer(_whole(minimum), _whole(maximum), _whole(step), name=kind)
    if kind == "decimal":
        return Decimal(minimum, maximum, step)
    if kind in ("string", "enum") and enum_list:
        if not all(isinstance(c, str) for c in enum_list):
            raise r.fail(f"{where}.enumList", "enum values must be strings")
        return Enum(tuple(enum_list), base=String(max_length=max_length))
    if kind == "enum":
        raise r.fail(where, "an enum with no enumList")
    if kind == "string":
        return String(max_length=max_length)
    if kind in ("boolean", "bool"):
        return Boolean()
    if kind == "datetime":
        return DateTime()
    if kind == "jsonobject":
        return JsonObject()
    if kind == "string list":
        return StringList(max_length=max_length)
    raise r.fail(f"{where}.dataType", f"unknown data type {data_type!r}")


def _huawei_params(r: _Reader, item: Mapping[str, Any], where: str) -> tuple[ParamModel, ...]:
    params = []
    for place, para in r.items(item, ("paras",), where):
        params.append(
            ParamModel(
                r.get(para, ("paraName", "para_name"), str, place),
                _huawei_type(r, para, place),
                bool(r.get(para, ("required",), bool, place, required=False, default=False)),
            )
        )
    return tuple(params)


def _huawei_service(r: _Reader, item: Mapping[str, Any], where: str, service_id: str | None) -> ServiceModel:
    service_type = r.get(item, ("serviceType", "service_type", "serviceId", "service_id"), str, where)
    sid = r.get(item, ("serviceId", "service_id"), str, where, required=False) or service_id or service_type
    props = []
    for place, prop in r.items(item, ("properties",), where):
        method = r.get(prop, ("method",), str, place, required=False, default="R").upper()
        props.append(
            PropertyModel(
                r.get(prop, ("propertyName", "property_name"), str, place),
                _huawei_type(r, prop, place),
                writeable="W" in method,
                required=bool(r.get(prop, ("required",), bool, place, required=False)),
                unit=r.get(prop, ("unit",), str, place, required=False) or None,
                description=r.get(prop, ("description",), str, place, required=False) or None,
            )
        )
    commands = []
    for place, cmd in r.items(item, ("commands",), where):
        responses: list[ParamModel] = []
        for rplace, response in r.items(cmd, ("responses",), place):
            responses.extend(_huawei_params(r, response, rplace))
        commands.append(
            CommandModel(
                r.get(cmd, ("commandName", "command_name"), str, place),
                _huawei_params(r, cmd, place),
                tuple(responses),
            )
        )
    events = tuple(
        r.get(e, ("eventType", "event_type"), str, place) for place, e in r.items(item, ("events",), where)
    )
    return ServiceModel(
        sid,
        tuple(props),
        tuple(commands),
        events,
        service_type,
        r.get(item, ("description",), str, where, required=False) or None,
    )


def _huawei_device_ids(data: Any, r: _Reader) -> dict[str, str]:
    """serviceType -> serviceId from a devicetype-capability.json."""
    mapping = {}
    if isinstance(data, dict):
        for place, device in r.items(data, ("devices",), ""):
            for cplace, cap in r.items(device, ("serviceTypeCapabilities",), place):
                mapping[r.get(cap, ("serviceType",), str, cplace)] = r.get(cap, ("serviceId",), str, cplace)
    return mapping


def _huawei_services(data: Any, r: _Reader, ids: Mapping[str, str]) -> list[ServiceModel]:
    if not isinstance(data, dict):
        raise r.fail("", f"must be a JSON object, got {type(data).__name__}")
    key = ("service_capabilities",) if "service_capabilities" in data else ("services",)
    services = []
    for place, item in r.items(data, key, ""):
        stype = item.get("serviceType") or item.get("service_type")
        services.append(_huawei_service(r, item, place, ids.get(stype) if isinstance(stype, str) else None))
    if not services:
        raise r.fail(key[0], "the model declares no service")
    return services


# --- Tencent --------------------------------------------------------------------------------
def _tencent_type(r: _Reader, define: Mapping[str, Any], where: str) -> ValueType:
    kind = r.get(define, ("type",), str, where)
    if kind == "bool":
        return Boolean(name="bool")
    if kind == "int":
        return Integer(_whole(r.number(define, ("min",), where)), _whole(r.number(define, ("max",), where)))
    if kind == "float":
        return Decimal(r.number(define, ("min",), where), r.number(define, ("max",), where), name="float")
    if kind == "string":
        return String(max_length=_whole(r.number(define, ("max",), where)))
    if kind in ("enum", "stringenum"):
        mapping = r.get(define, ("mapping",), dict, where)
        if not mapping:
            raise r.fail(f"{where}.mapping", "an enum with no values")
        if kind == "stringenum":
            return Enum(tuple(mapping), base=String(), labels=dict(mapping), name="stringenum")
        try:
            keys: tuple[Any, ...] = tuple(int(k) for k in mapping)
        except ValueError:
            raise r.fail(f"{where}.mapping", "enum keys must be integers") from None
        return Enum(keys, base=Integer(name="long"), labels={int(k): v for k, v in mapping.items()})
    if kind == "timestamp":
        return Timestamp()
    if kind == "struct":
        fields = {}
        for place, spec in r.items(define, ("specs",), where):
            fields[r.get(spec, ("id",), str, place)] = _tencent_type(
                r, r.get(spec, ("dataType", "define"), dict, place), f"{place}.dataType"
            )
        return Struct(fields)
    if kind == "array":
        return Array(_tencent_type(r, r.get(define, ("arrayInfo",), dict, where), f"{where}.arrayInfo"))
    raise r.fail(f"{where}.type", f"unknown data type {kind!r}")


def _tencent_params(r: _Reader, items: list[tuple[str, dict[str, Any]]]) -> tuple[ParamModel, ...]:
    return tuple(
        ParamModel(
            r.get(p, ("id",), str, place),
            _tencent_type(r, r.get(p, ("define",), dict, place), f"{place}.define"),
            True,
        )
        for place, p in items
    )


def _tencent_service(data: Any, r: _Reader, fallback_id: str) -> ServiceModel:
    if not isinstance(data, dict):
        raise r.fail("", f"must be a JSON object, got {type(data).__name__}")
    profile = r.get(data, ("profile",), dict, "", required=False, default={})
    sid = r.get(profile, ("ProductId",), str, "profile", required=False) or fallback_id
    props = []
    for place, prop in r.items(data, ("properties",), ""):
        props.append(
            PropertyModel(
                r.get(prop, ("id",), str, place),
                _tencent_type(r, r.get(prop, ("define",), dict, place), f"{place}.define"),
                writeable=r.get(prop, ("mode",), str, place, required=False, default="r") == "rw",
                required=bool(r.get(prop, ("required",), bool, place, required=False)),
                description=r.get(prop, ("desc",), str, place, required=False) or None,
            )
        )
    commands = []
    for place, action in r.items(data, ("actions",), ""):
        commands.append(
            CommandModel(
                r.get(action, ("id",), str, place),
                _tencent_params(r, r.items(action, ("input",), place)),
                _tencent_params(r, r.items(action, ("output",), place)),
                r.get(action, ("desc",), str, place, required=False) or None,
            )
        )
    events = tuple(r.get(e, ("id",), str, place) for place, e in r.items(data, ("events",), ""))
    return ServiceModel(sid, tuple(props), tuple(commands), events, "tencent data template")


# --- the model ------------------------------------------------------------------------------
class ProductModel:
    """A loaded product model: ``services`` maps each service id to its :class:`ServiceModel`."""

    def __init__(self, services: Mapping[str, ServiceModel], *, source: str = "", dialect: str = "") -> None:
        self.services: dict[str, ServiceModel] = dict(services)
        self.source = source
        self.dialect = dialect

    def __repr__(self) -> str:
        return f"<ProductModel {self.source!r} ({self.dialect}): {', '.join(self.services)}>"

    @classmethod
    def load(cls, path: str | Path) -> ProductModel:
        """A Huawei model (``.zip``, folder, or JSON in either dialect) or a Tencent template."""
        path = Path(path)
        if path.is_dir():
            return cls._load_folder(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read it: {exc.strerror or exc}", source=str(path)) from None
        if zipfile.is_zipfile(path):
            return cls._load_zip(path)
        return cls.from_json(_parse_json(data, str(path)), source=str(path), fallback_id=path.stem)

    @classmethod
    def from_json(cls, data: Any, *, source: str = "<json>", fallback_id: str = "service") -> ProductModel:
        r = _Reader(source)
        if (
            isinstance(data, dict)
            and "properties" in data
            and "services" not in data
            and "service_capabilities" not in data
        ):
            service = _tencent_service(data, r, fallback_id)
            return cls({service.service_id: service}, source=source, dialect="tencent data template")
        if isinstance(data, dict) and "devices" in data and "services" not in data:
            raise r.fail("devices", "a devicetype-capability.json holds no services; load the .zip or folder")
        dialect = (
            "huawei v5" if isinstance(data, dict) and "service_capabilities" in data else "huawei console"
        )
        services = _huawei_services(data, r, {})
        return cls({s.service_id: s for s in services}, source=source, dialect=dialect)

    @classmethod
    def _load_folder(cls, folder: Path) -> ProductModel:
        files = sorted(folder.rglob("servicetype-capability.json"))
        if not files:
            raise ModelError("no servicetype-capability.json inside", source=str(folder))
        ids: dict[str, str] = {}
        for device_file in sorted(folder.rglob("devicetype-capability.json")):
            ids.update(
                _huawei_device_ids(
                    _parse_json(device_file.read_bytes(), str(device_file)), _Reader(str(device_file))
                )
            )
        services: dict[str, ServiceModel] = {}
        for file in files:
            for service in _huawei_services(
                _parse_json(file.read_bytes(), str(file)), _Reader(str(file)), ids
            ):
                services[service.service_id] = service
        return cls(services, source=str(folder), dialect="huawei console")

    @classmethod
    def _load_zip(cls, path: Path) -> ProductModel:
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                members = {n: archive.read(n) for n in names if n.endswith("capability.json")}
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelError(f"not a readable zip: {exc}", source=str(path)) from None
        ids: dict[str, str] = {}
        for name, data in members.items():
            if name.endswith("devicetype-capability.json"):
                where = f"{path}!{name}"
                ids.update(_huawei_device_ids(_parse_json(data, where), _Reader(where)))
        services: dict[str, ServiceModel] = {}
        for name, data in members.items():
            if name.endswith("servicetype-capability.json"):
                where = f"{path}!{name}"
                for service in _huawei_services(_parse_json(data, where), _Reader(where), ids):
                    services[service.service_id] = service  # the export repeats files in a subfolder
        if not services:
            raise ModelError("no servicetype-capability.json in the archive", source=str(path))
        return cls(services, source=str(path), dialect="huawei console")

    # -- building classes ----------------------------------------------------------------------
    def _service(self, service_id: str | None) -> ServiceModel:
        if service_id is None:
            if len(self.services) != 1:
                raise KeyError(f"the model has several services ({', '.join(self.services)}): name one")
            return next(iter(self.services.values()))
        try:
            return self.services[service_id]
        except KeyError:
            raise KeyError(
                f"no service {service_id!r} in the model (it has: {', '.join(self.services)})"
            ) from None

    def service_class(self, service_id: str | None = None) -> type[Service]:
        """A working Service subclass for one service. Subclass it to add getters, setters
        and command bodies; commands left unimplemented answer with a clear failure."""
        model = self._service(service_id)
        namespace: dict[str, Any] = {
            "service_id": model.service_id,
            "__doc__": model.description,
            "__module__": __name__,
        }
        used: set[str] = set(dir(Service))
        for prop in model.properties:
            attr = _identifier(prop.name, used)
            namespace[attr] = Property(
                prop.type,
                name=prop.name,
                writeable=prop.writeable,
                unit=prop.unit,
                description=prop.description,
            )
        for cmd in model.commands:
            attr = _identifier(cmd.name, used)
            namespace[attr] = _unimplemented(cmd, attr)
        name = "".join(
            part[0].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", model.service_id) if part
        )
        return type(name if name[:1].isalpha() else f"Service{name}", (Service,), namespace)

    # -- checking classes ----------------------------------------------------------------------
    def check(self, service_class: type[Service]) -> list[Problem]:
        """Compare a Service class with the model; an empty list means they agree."""
        sid = service_class.service_id
        model = self.services.get(sid)
        if model is None and len(self.services) == 1 and self.dialect == "tencent data template":
            model = next(iter(self.services.values()))  # a template is one service, whatever its id
        if model is None:
            return [
                Problem(
                    "TM009",
                    f"{service_class.__name__}: service {sid!r} is not in the model",
                    f"set service_id to one of: {', '.join(self.services)}",
                    service_class,
                )
            ]
        problems: list[Problem] = []
        spec = service_class.spec
        for prop in model.properties:
            declared = spec.by_name.get(prop.name)
            if declared is None:
                if prop.required:
                    problems.append(
                        Problem(
                            "TM001",
                            f"{sid}: required property {prop.name!r} is missing",
                            f"declare {prop.name} = Property(...) ({prop.type.describe()})",
                            prop,
                        )
                    )
                continue
            problems.extend(_check_property(sid, declared.prop, prop))
        for declared in spec.properties:
            if model.property(declared.name) is None:
                problems.append(
                    Problem(
                        "TM002",
                        f"{sid}: property {declared.name!r} is not in the model",
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
                        f"{sid}: command {cmd.name!r} is missing",
                        f"add a method decorated with @command({cmd.name!r})",
                        cmd,
                    )
                )
            else:
                problems.extend(_check_command(sid, declared_cmd, cmd))
        for name in spec.commands:
            if model.command(name) is None:
                problems.append(
                    Problem(
                        "TM007",
                        f"{sid}: command {name!r} is not in the model",
                        "remove it, or add it to the product model",
                        spec.commands[name],
                    )
                )
        return problems

    def describe(self) -> str:
        """A human-readable summary (used by ``thingmodel model show``)."""
        lines = [f"{self.source} ({self.dialect})"]
        for service in self.services.values():
            lines.append(
                f"service {service.service_id}"
                + (
                    f" (type {service.service_type})"
                    if service.service_type not in (None, service.service_id)
                    else ""
                )
            )
            for prop in service.properties:
                rw = "RW" if prop.writeable else "R "
                lines.append(
                    f"  {rw} {prop.name}: {prop.type.describe()}" + (f" [{prop.unit}]" if prop.unit else "")
                )
            for cmd in service.commands:
                params = ", ".join(
                    f"{p.name}: {p.type.describe()}" + ("" if p.required else "?") for p in cmd.params
                )
                lines.append(f"  command {cmd.name}({params})")
            for event in service.events:
                lines.append(f"  event {event}")
        return "\n".join(lines)


def _identifier(name: str, used: set[str]) -> str:
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    snake = re.sub(r"[^0-9a-zA-Z_]", "_", snake).lower().strip("_") or "value"
    if snake[0].isdigit() or keyword.iskeyword(snake):
        snake = f"p_{snake}"
    candidate, n = snake, 2
    while candidate in used:
        candidate, n = f"{snake}_{n}", n + 1
    used.add(candidate)
    return candidate


def _unimplemented(cmd: CommandModel, attr: str) -> Callable[..., Any]:
    def body(self: Service, **paras: Any) -> None:
        raise CommandNotImplemented(
            f"command {cmd.name!r} has no implementation: subclass "
            f"{type(self).__name__} and define {attr}(self, **paras)"
        )

    body.__name__ = attr
    body.__doc__ = cmd.description
    return command(cmd.name, params={p.name: Param(p.name, p.type, p.required) for p in cmd.params})(body)


def _bounds(value_type: ValueType) -> tuple[float | None, float | None]:
    return getattr(value_type, "minimum", None), getattr(value_type, "maximum", None)


def _base_kind(value_type: ValueType) -> str:
    kind = value_type.base.kind if isinstance(value_type, Enum) else value_type.kind
    return {"boolean": "boolean", "integer": "integer"}.get(kind, kind)


def _check_property(sid: str, declared: Property[Any], model: PropertyModel) -> list[Problem]:
    problems = []
    name = model.name
    if _base_kind(declared.type) != _base_kind(model.type):
        return [
            Problem(
                "TM003",
                f"{sid}.{name}: the class declares {declared.type.describe()}, "
                f"the model {model.type.describe()}",
                f"declare it as {model.type.describe()}",
                declared,
            )
        ]
    (cmin, cmax), (mmin, mmax) = _bounds(declared.type), _bounds(model.type)
    if cmin is not None and mmin is not None and cmin < mmin:
        problems.append(
            Problem(
                "TM004",
                f"{sid}.{name}: the class allows {cmin}, below the model's minimum {mmin}",
                f"use minimum={mmin} or higher",
                declared,
            )
        )
    if cmax is not None and mmax is not None and cmax > mmax:
        problems.append(
            Problem(
                "TM004",
                f"{sid}.{name}: the class allows {cmax}, above the model's maximum {mmax}",
                f"use maximum={mmax} or lower",
                declared,
            )
        )
    clen = getattr(declared.type, "max_length", None)
    mlen = getattr(model.type, "max_length", None)
    if clen is not None and mlen is not None and clen > mlen:
        problems.append(
            Problem(
                "TM004",
                f"{sid}.{name}: the class allows {clen} characters, the model {mlen}",
                f"use max_length={mlen} or lower",
                declared,
            )
        )
    if isinstance(model.type, Enum):
        allowed = set(model.type.choices)
        extra = [c for c in getattr(declared.type, "choices", ()) if c not in allowed]
        if extra:
            problems.append(
                Problem(
                    "TM004",
                    f"{sid}.{name}: the class allows {extra!r}, not in the model's enum",
                    f"keep to {sorted(allowed, key=str)!r}",
                    declared,
                )
            )
    if declared.writeable != model.writeable:
        want = "writeable" if model.writeable else "read-only"
        problems.append(
            Problem(
                "TM005",
                f"{sid}.{name}: the model says {want}, the class does not",
                f"declare it with writeable={model.writeable}",
                declared,
            )
        )
    return problems


def _check_command(sid: str, declared: Any, model: CommandModel) -> list[Problem]:
    problems = []
    where = f"{sid}.{model.name}"
    model_params = {p.name: p for p in model.params}
    for p in model.params:
        mine = declared.params.get(p.name)
        if mine is None:
            if not declared.accepts_extra:
                problems.append(
                    Problem(
                        "TM008",
                        f"{where}: parameter {p.name!r} is missing",
                        f"add a parameter {p.name} ({p.type.describe()})",
                        declared,
                    )
                )
            continue
        if _base_kind(mine.type) != _base_kind(p.type):
            problems.append(
                Problem(
                    "TM008",
                    f"{where}: parameter {p.name!r} is {mine.type.describe()} in the class, "
                    f"{p.type.describe()} in the model",
                    f"annotate it as {p.type.describe()}",
                    declared,
                )
            )
        elif mine.required and not p.required:
            problems.append(
                Problem(
                    "TM008",
                    f"{where}: parameter {p.name!r} is required by the class but optional in the model",
                    "give it a default value",
                    declared,
                )
            )
    for name in declared.params:
        if name not in model_params:
            problems.append(
                Problem(
                    "TM008",
                    f"{where}: parameter {name!r} is not in the model",
                    "remove it, or add it to the product model",
                    declared,
                )
            )
    return problems
