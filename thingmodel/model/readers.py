"""Reading product-model files: Huawei console exports (zip, folder, JSON), the IoTDA v5 REST JSON
and Tencent data templates, into :mod:`thingmodel.model.schema` objects.

Use :meth:`thingmodel.model.product.ProductModel.load`; every failure here is a
:class:`~thingmodel.errors.ModelError` naming the file (and zip member), the place and the reason.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import attrs

from ..errors import InvalidValue, ModelError
from ..ids import validate_id
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
from .schema import CommandModel, EventModel, ParamModel, PropertyModel, ServiceModel

MAX_MEMBER_BYTES = 16 * 2**20  # a zip member larger than this is refused, not inflated
MAX_NESTING = 4  # Tencent struct/array nesting
LAYOUT_NAMES = ("servicetype-capability.json", "devicetype-capability.json")
TENCENT = "tencent data template"
HUAWEI_CONSOLE = "huawei console"

Services = dict[str, ServiceModel]


# --- reading JSON, naming the place of every error ------------------------------------------
class _HasName(Protocol):
    @property
    def name(self) -> str: ...


_Named = TypeVar("_Named", bound=_HasName)


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}
    return kinds.get(type(value), "an object")


def _at(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


class _Reader:
    """Typed access to decoded JSON; every failure is a ModelError naming the source and place."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, where: str, message: str) -> ModelError:
        return ModelError(message, source=self.source, location=where)

    def field(
        self, obj: Mapping[str, Any], keys: tuple[str, ...], kind: type, where: str, required: bool = True
    ) -> Any:
        """The first of ``keys`` present and not null, checked to be of ``kind``."""
        for key in keys:
            value = obj.get(key)
            if value is None:
                continue
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                expected = {str: "a string", bool: "a boolean", int: "an integer", list: "an array"}
                raise self.error(
                    _at(where, key), f"must be {expected.get(kind, 'an object')}, got {_json_kind(value)}"
                )
            return value
        if required:
            raise self.error(where or "top level", f"missing {' or '.join(repr(k) for k in keys)}")
        return None

    def name(self, obj: Mapping[str, Any], keys: tuple[str, ...], where: str) -> str:
        value: str = self.field(obj, keys, str, where)
        if not value.strip():
            raise self.error(_at(where, next(k for k in keys if obj.get(k) is not None)), "must not be empty")
        return value

    def text(self, obj: Mapping[str, Any], key: str, where: str) -> str | None:
        return self.field(obj, (key,), str, where, required=False) or None

    def flag(self, obj: Mapping[str, Any], key: str, where: str) -> bool:
        return bool(self.field(obj, (key,), bool, where, required=False))

    def objects(
        self, obj: Mapping[str, Any], keys: tuple[str, ...], where: str, required: bool = False
    ) -> list[tuple[str, dict[str, Any]]]:
        items = self.field(obj, keys, list, where, required) or []
        place = _at(where, next((k for k in keys if obj.get(k) is not None), keys[0]))
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.error(_at(place, index), f"must be an object, got {_json_kind(item)}")
        return [(_at(place, i), item) for i, item in enumerate(items)]

    def number(self, obj: Mapping[str, Any], key: str, where: str, whole: bool = False) -> float | None:
        raw = obj.get(key)
        if raw is None or raw == "":
            return None
        value = _as_number(raw)
        if value is None:
            raise self.error(_at(where, key), f"{raw!r} is not a number")
        if whole and not value.is_integer():
            raise self.error(_at(where, key), f"{raw!r} is not a whole number")
        return value

    def service_id(self, value: str, where: str) -> str:
        try:
            return validate_id("service id", value)
        except InvalidValue as exc:
            raise self.error(where, str(exc)) from None

    def unique(self, what: str, items: Iterable[tuple[str, _Named]]) -> tuple[_Named, ...]:
        """The items, in order; a second item with the same name is an error at its place."""
        seen: dict[str, _Named] = {}
        for where, item in items:
            if item.name in seen:
                raise self.error(where, f"{what} {item.name!r} is declared twice")
            seen[item.name] = item
        return tuple(seen.values())


def _as_number(raw: object) -> float | None:
    """A finite number from a JSON number or a numeric string, else None."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        return None
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


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
        raise ModelError("invalid JSON: nested too deeply", source=source) from None


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)


def _range(r: _Reader, obj: Mapping[str, Any], where: str, whole: bool) -> tuple[float | None, float | None]:
    low, high = r.number(obj, "min", where, whole), r.number(obj, "max", where, whole)
    if low is not None and high is not None and low > high:
        raise r.error(where, f"min {low:g} is greater than max {high:g}")
    return low, high


# --- Huawei ---------------------------------------------------------------------------------
_HUAWEI_TYPES = "int, long, decimal, string, boolean, enum, DateTime, jsonObject, string list"


def _huawei_type(r: _Reader, item: Mapping[str, Any], where: str) -> ValueType:
    data_type = r.name(item, ("dataType", "data_type"), where)
    kind = data_type.lower()
    max_length = r.field(item, ("maxLength", "max_length"), int, where, required=False) or None
    if max_length is not None and max_length < 0:
        raise r.error(where, f"maxLength {max_length} is negative")
    base: ValueType
    if kind in ("int", "long", "decimal"):
        whole = kind != "decimal"
        low, high = _range(r, item, where, whole)
        step = r.number(item, "step", where) or None
        if step is not None and step < 0:
            raise r.error(_at(where, "step"), f"{step:g} is negative")
        if whole and step is not None and not step.is_integer():
            raise r.error(_at(where, "step"), f"{step:g} is not a whole number, but {kind} is")
        if whole:
            base = Integer(_whole(low), _whole(high), _whole(step), name=kind)
        else:
            base = Decimal(low, high, step)
    elif kind in ("string", "enum"):
        base = String(max_length=max_length)
    elif kind == "boolean":
        base = Boolean()
    elif kind == "datetime":
        base = DateTime()
    elif kind == "jsonobject":
        base = JsonObject()
    elif kind == "string list":
        base = StringList(max_length=max_length)
    else:
        key = "dataType" if "dataType" in item else "data_type"
        raise r.error(_at(where, key), f"unknown data type {data_type!r} (known: {_HUAWEI_TYPES})")
    enum_list = r.field(item, ("enumList", "enum_list"), list, where, required=False)
    if not enum_list:
        if kind == "enum":
            raise r.error(where, "data type enum needs a non-empty enumList")
        return base
    place = _at(where, "enumList" if "enumList" in item else "enum_list")
    if not isinstance(base, (String, Integer, Decimal)):
        raise r.error(place, f"an enumList does not apply to data type {data_type!r}")
    choices: list[Any] = []
    for index, raw in enumerate(enum_list):
        value: Any = raw
        if not isinstance(raw, str):
            raise r.error(_at(place, index), f"must be a string, got {_json_kind(raw)}")
        if not isinstance(base, String):
            value = _as_number(raw)
            if value is None:
                raise r.error(_at(place, index), f"{raw!r} is not a number")
            value = int(value) if isinstance(base, Integer) and value.is_integer() else value
        try:
            choices.append(base.from_wire(value))
        except InvalidValue as exc:
            raise r.error(_at(place, index), str(exc)) from None
    return Enum(choices, base=base)


def _huawei_params(r: _Reader, item: Mapping[str, Any], where: str) -> tuple[ParamModel, ...]:
    params = []
    for at, p in r.objects(item, ("paras",), where):
        name, value_type = r.name(p, ("paraName", "para_name"), at), _huawei_type(r, p, at)
        params.append((at, ParamModel(name, value_type, r.flag(p, "required", at))))
    return r.unique("parameter", params)


def _huawei_property(r: _Reader, p: Mapping[str, Any], at: str) -> PropertyModel:
    name, value_type = r.name(p, ("propertyName", "property_name"), at), _huawei_type(r, p, at)
    method = r.name(p, ("method",), at).upper()
    if not set(method) <= set("RWE"):
        raise r.error(_at(at, "method"), f"{method!r} is not a combination of R, W and E")
    unit, description, required = (
        r.text(p, "unit", at),
        r.text(p, "description", at),
        r.flag(p, "required", at),
    )
    return PropertyModel(name, value_type, "W" in method, "R" in method, required, unit, description)


def _huawei_command(r: _Reader, c: Mapping[str, Any], at: str) -> CommandModel:
    responses = [_huawei_params(r, response, place) for place, response in r.objects(c, ("responses",), at)]
    name, params = r.name(c, ("commandName", "command_name"), at), _huawei_params(r, c, at)
    return CommandModel(
        name, params, tuple(p for group in responses for p in group), r.text(c, "description", at)
    )


def _huawei_event(r: _Reader, e: Mapping[str, Any], at: str) -> EventModel:
    return EventModel(r.name(e, ("eventType", "event_type"), at), _huawei_params(r, e, at))


def _huawei_service(r: _Reader, item: Mapping[str, Any], where: str) -> ServiceModel:
    stype = r.name(item, ("serviceType", "service_type", "serviceId", "service_id"), where)
    sid = r.service_id(r.field(item, ("serviceId", "service_id"), str, where, required=False) or stype, where)
    props = [(at, _huawei_property(r, p, at)) for at, p in r.objects(item, ("properties",), where)]
    commands = [(at, _huawei_command(r, c, at)) for at, c in r.objects(item, ("commands",), where)]
    events = [(at, _huawei_event(r, e, at)) for at, e in r.objects(item, ("events",), where)]
    return ServiceModel(
        sid,
        r.unique("property", props),
        r.unique("command", commands),
        r.unique("event", events),
        stype,
        r.text(item, "description", where),
    )


_Doc = tuple[_Reader, Any]  # a decoded file and the reader that names it


def _huawei_definitions(doc: _Doc) -> list[ServiceModel]:
    r, data = doc
    if not isinstance(data, dict):
        raise r.error("", f"expected a JSON object, got {_json_kind(data)}")
    keys = ("service_capabilities",) if "service_capabilities" in data else ("services",)
    services = [_huawei_service(r, item, place) for place, item in r.objects(data, keys, "", required=True)]
    if not services:
        raise r.error(keys[0], "the model declares no service")
    return services


def _huawei_instances(doc: _Doc) -> list[tuple[str, str, str, _Reader]]:
    """(serviceId, serviceType, place, reader) for every service a devicetype file lists."""
    r, data = doc
    if not isinstance(data, dict):
        raise r.error("", f"expected a JSON object, got {_json_kind(data)}")
    out = []
    for place, device in r.objects(data, ("devices",), "", required=True):
        for cplace, cap in r.objects(device, ("serviceTypeCapabilities",), place):
            sid = r.service_id(r.name(cap, ("serviceId",), cplace), _at(cplace, "serviceId"))
            out.append((sid, r.name(cap, ("serviceType",), cplace), cplace, r))
    return out


def _huawei_product(device_docs: list[_Doc], service_docs: list[_Doc]) -> Services:
    """The services defined in the servicetype files, under the ids the devicetype files give
    each serviceType (one type may serve several ids); without a devicetype file, as defined."""
    definitions: dict[str, tuple[ServiceModel, str]] = {}
    for doc in service_docs:
        for service in _huawei_definitions(doc):
            known = definitions.get(service.service_id)
            if known is not None and known[0] != service:
                raise doc[0].error(
                    "", f"service {service.service_id!r} is also defined, differently, in {known[1]}"
                )
            definitions[service.service_id] = (service, doc[0].source)
    by_type: dict[str | None, ServiceModel] = {}
    for service, _ in definitions.values():
        by_type.setdefault(service.service_type, service)
    services: Services = {}
    for sid, stype, place, r in (i for doc in device_docs for i in _huawei_instances(doc)):
        if stype not in by_type:
            raise r.error(place, f"service type {stype!r} has no servicetype-capability.json")
        if sid in services and services[sid].service_type != stype:
            raise r.error(place, f"service id {sid!r} is listed twice with different types")
        services[sid] = attrs.evolve(by_type[stype], service_id=sid)
    listed = {s.service_type for s in services.values()}
    for sid, (service, _) in definitions.items():
        if service.service_type not in listed:
            services.setdefault(sid, service)
    return services


# --- Tencent --------------------------------------------------------------------------------
def _tencent_type(r: _Reader, define: Mapping[str, Any], where: str, depth: int = 0) -> ValueType:
    if depth > MAX_NESTING:
        raise r.error(where, f"structs and arrays nested more than {MAX_NESTING} deep")
    kind = r.name(define, ("type",), where)
    if kind == "bool":
        return IntBoolean()
    if kind == "int":
        low, high = _range(r, define, where, whole=True)
        return Integer(_whole(low), _whole(high))
    if kind == "float":
        return Decimal(*_range(r, define, where, whole=False), name="float")
    if kind == "string":
        longest = r.number(define, "max", where, whole=True)
        if longest is not None and longest < 0:
            raise r.error(_at(where, "max"), f"{longest:g} is negative")
        return String(max_length=_whole(longest) or None)
    if kind in ("enum", "stringenum"):
        mapping = r.field(define, ("mapping",), dict, where)
        if not mapping:
            raise r.error(_at(where, "mapping"), "an enum needs at least one value")
        labels: dict[Any, str] = {}
        for key, label in mapping.items():
            if not isinstance(label, str):
                raise r.error(_at(_at(where, "mapping"), key), f"must be a string, got {_json_kind(label)}")
            number = _as_number(key)
            if kind == "stringenum":
                labels[key] = label
            elif number is not None and number.is_integer() and Integer().accepts(int(number)):
                labels[int(number)] = label
            else:
                raise r.error(_at(_at(where, "mapping"), key), "an enum key must be a 32-bit whole number")
        if kind == "stringenum":
            return Enum(tuple(labels), base=String(), labels=labels, name="stringenum")
        return Enum(tuple(labels), base=Integer(), labels=labels)
    if kind == "timestamp":
        return Timestamp()
    if kind == "struct":
        fields = []
        for at, spec in r.objects(define, ("specs",), where):
            key = "dataType" if spec.get("dataType") is not None else "define"
            member = _tencent_type(
                r, r.field(spec, ("dataType", "define"), dict, at), _at(at, key), depth + 1
            )
            fields.append((at, ParamModel(r.name(spec, ("id",), at), member)))
        members: dict[str, ValueType] = {f.name: f.type for f in r.unique("struct member", fields)}
        return Struct(members)
    if kind == "array":
        info = r.field(define, ("arrayInfo",), dict, where)
        return Array(_tencent_type(r, info, _at(where, "arrayInfo"), depth + 1))
    known = "bool, int, float, string, enum, stringenum, timestamp, struct, array"
    raise r.error(_at(where, "type"), f"unknown data type {kind!r} (known: {known})")


def _tencent_params(r: _Reader, obj: Mapping[str, Any], key: str, where: str) -> tuple[ParamModel, ...]:
    """Tencent's action inputs and outputs and event parameters; its SDKs require every one."""
    items = []
    for at, p in r.objects(obj, (key,), where):
        value_type = _tencent_type(r, r.field(p, ("define",), dict, at), _at(at, "define"))
        items.append((at, ParamModel(r.name(p, ("id",), at), value_type, True)))
    return r.unique("parameter", items)


def _tencent_property(r: _Reader, p: Mapping[str, Any], at: str) -> PropertyModel:
    mode = r.name(p, ("mode",), at)
    if mode not in ("r", "rw"):
        raise r.error(_at(at, "mode"), f"{mode!r} is neither 'r' nor 'rw'")
    define = r.field(p, ("define",), dict, at)
    value_type, unit = _tencent_type(r, define, _at(at, "define")), r.text(define, "unit", _at(at, "define"))
    description = r.text(p, "desc", at) or r.text(p, "name", at)
    return PropertyModel(
        r.name(p, ("id",), at), value_type, mode == "rw", True, r.flag(p, "required", at), unit, description
    )


def _tencent_action(r: _Reader, a: Mapping[str, Any], at: str) -> CommandModel:
    inputs, outputs = _tencent_params(r, a, "input", at), _tencent_params(r, a, "output", at)
    return CommandModel(r.name(a, ("id",), at), inputs, outputs, r.text(a, "desc", at))


def _tencent_event(r: _Reader, e: Mapping[str, Any], at: str) -> EventModel:
    return EventModel(r.name(e, ("id",), at), _tencent_params(r, e, "params", at), r.text(e, "type", at))


def _tencent_service(r: _Reader, data: Mapping[str, Any], fallback_id: str) -> ServiceModel:
    """A data template is one service, named by ``profile.ProductId`` or else ``fallback_id``."""
    profile = r.field(data, ("profile",), dict, "", required=False) or {}
    product_id = r.field(profile, ("ProductId",), str, "profile", required=False)
    if product_id:
        sid = r.service_id(product_id, "profile.ProductId")
    else:
        sid = r.service_id(fallback_id, "file name")
    props = [(at, _tencent_property(r, p, at)) for at, p in r.objects(data, ("properties",), "")]
    actions = [(at, _tencent_action(r, a, at)) for at, a in r.objects(data, ("actions",), "")]
    events = [(at, _tencent_event(r, e, at)) for at, e in r.objects(data, ("events",), "")]
    return ServiceModel(
        sid, r.unique("property", props), r.unique("action", actions), r.unique("event", events)
    )


# --- files, folders, archives -------------------------------------------------------------
def read_path(path: Path) -> tuple[Services, str]:
    """The services in a file or folder, and the dialect they were read in."""
    if path.is_dir():
        return _read_folder(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read it: {exc.strerror or exc}", source=str(path)) from None
    if data[:2] == b"PK" or path.suffix.lower() == ".zip":
        return _read_zip(path, data)
    decoded = _parse_json(data, str(path))
    if isinstance(decoded, dict) and "devices" in decoded and "services" not in decoded:
        return _read_device_file(path, _Reader(str(path)))
    return read_json(decoded, str(path), path.stem)


def read_json(data: Any, source: str, fallback_id: str) -> tuple[Services, str]:
    """The services in decoded JSON: one servicetype file, the v5 REST JSON or a Tencent template."""
    r = _Reader(source)
    if not isinstance(data, dict):
        raise r.error("", f"expected a JSON object, got {_json_kind(data)}")
    if "service_capabilities" in data or "services" in data:
        dialect = "huawei v5" if "service_capabilities" in data else HUAWEI_CONSOLE
        return _huawei_product([], [(r, data)]), dialect
    if "devices" in data:
        raise r.error(
            "devices", "a devicetype-capability.json alone defines no service: load the .zip or folder"
        )
    if any(key in data for key in ("properties", "events", "actions")):
        service = _tencent_service(r, data, fallback_id)
        return {service.service_id: service}, TENCENT
    raise r.error(
        "",
        "not a product model: expected 'services' (Huawei), 'service_capabilities' (IoTDA v5) "
        "or 'properties'/'events'/'actions' (Tencent data template)",
    )


def _read_files(source: str, files: Iterable[tuple[str, bytes]]) -> tuple[Services, str]:
    """The product in Huawei capability files, each given as (its name for errors, its bytes)."""
    device_docs: list[_Doc] = []
    service_docs: list[_Doc] = []
    for name, data in files:
        docs = device_docs if "devicetype-capability.json" in name.rsplit("/", 1)[-1] else service_docs
        docs.append((_Reader(name), _parse_json(data, name)))
    if not service_docs:
        raise ModelError("nothing to load: no servicetype-capability.json in it", source=source)
    return _huawei_product(device_docs, service_docs), HUAWEI_CONSOLE


def _read_folder(folder: Path) -> tuple[Services, str]:
    try:
        paths = sorted(p for p in folder.rglob("*-capability.json") if p.name in LAYOUT_NAMES)
        return _read_files(str(folder), [(str(p), p.read_bytes()) for p in paths])
    except OSError as exc:
        raise ModelError(f"cannot read it: {exc}", source=str(folder)) from None


def _read_device_file(path: Path, r: _Reader) -> tuple[Services, str]:
    """A devicetype file with its service files: ``NAME.servicetype-capability.json`` beside it,
    or the extracted layout when it is ``profile/devicetype-capability.json``."""
    sibling = path.with_name(path.name.replace("devicetype-capability", "servicetype-capability"))
    if sibling != path and sibling.is_file():
        try:
            return _read_files(
                str(path), [(str(path), path.read_bytes()), (str(sibling), sibling.read_bytes())]
            )
        except OSError as exc:
            raise ModelError(f"cannot read it: {exc}", source=str(sibling)) from None
    if path.name == "devicetype-capability.json" and path.parent.name == "profile":
        return _read_folder(path.parent.parent)
    raise r.error("", "no servicetype-capability.json beside it: load the .zip or the folder")


def _read_zip(path: Path, data: bytes) -> tuple[Services, str]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # zipfile raises many types (even NotImplementedError) for a damaged file
        raise ModelError(f"not a readable zip archive: {exc}", source=str(path)) from None
    files = []
    with archive:
        for info in archive.infolist():
            if info.is_dir() or info.filename.rsplit("/", 1)[-1] not in LAYOUT_NAMES:
                continue
            member = f"{path} (member {info.filename})"
            if info.file_size > MAX_MEMBER_BYTES:
                raise ModelError(f"{info.file_size} bytes is too large for a model", source=member)
            try:
                files.append((member, archive.read(info)))
            except Exception as exc:  # as above, for a damaged member
                raise ModelError(f"cannot extract it: {exc}", source=member) from None
    return _read_files(str(path), files)
