"""What a person types, as the values a device's model wants; and the model the application side
shows (forms in the console, tables in the CLI).

``KEY=VALUE`` on the command line and the console's form fields arrive as text. :func:`parse_text`
reads the text by the property's type: from the product model the cloud runs with
(``thingmodel cloud --model FILE``), else from the value the device last reported, else as JSON
when it is JSON and as a string when it is not. So ``name=123`` is the string ``"123"`` for a
string property, ``level=3`` the number 3 for a number, ``on=yes`` true for a boolean; JSON text
(``'name="123"'``, ``'cfg={"a": 1}'``) always means what JSON says where no type is known.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidValue
from ..types import Boolean, Decimal, Enum, Integer, String, ValueType

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_text(text: str, kind: ValueType | None = None, example: Any = None) -> Any:
    """``text`` as a value of ``kind`` (a model type), else of ``example``'s type; InvalidValue
    naming what was expected when it does not read as one."""
    if not isinstance(text, str):
        raise InvalidValue(f"expected text, got {type(text).__name__}")
    stripped = text.strip()
    if isinstance(kind, Enum):
        for choice in kind.choices:
            label = kind.labels.get(choice)
            if stripped in (str(choice), label):
                return choice
        return kind.from_wire(_json_or_text(stripped) if not isinstance(kind.base, String) else text)
    if isinstance(kind, String) or (kind is None and isinstance(example, str)):
        return text
    if isinstance(kind, Boolean) or (kind is None and isinstance(example, bool)):
        lowered = stripped.lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise InvalidValue(f"{text!r} is not a boolean (true/false, 1/0, yes/no, on/off)")
    if isinstance(kind, Integer) or (kind is None and isinstance(example, int)):
        try:
            return int(stripped)
        except ValueError:
            raise InvalidValue(f"{text!r} is not an integer") from None
    if isinstance(kind, Decimal) or (kind is None and isinstance(example, float)):
        try:
            return float(stripped)
        except ValueError:
            raise InvalidValue(f"{text!r} is not a number") from None
    value = _json_or_text(stripped)
    if kind is not None:
        return kind.from_wire(value)
    return value


def _type_json(kind: ValueType) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind.kind, "describe": kind.describe()}
    if isinstance(kind, Enum):
        out["enum"] = [{"value": c, "label": kind.labels.get(c) or str(c)} for c in kind.choices]
    for field in ("minimum", "maximum", "step", "max_length"):
        value = getattr(kind, field, None)
        if value is not None:
            out[{"minimum": "min", "maximum": "max"}.get(field, field)] = value
    return out


def _seen_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "decimal"
    if isinstance(value, str):
        return "string"
    return "json"


def model_json(
    model: Any, shadows: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None
) -> dict[str, Any]:
    """The model as the console's forms and the CLI's tables read it: from a ProductModel, or (None)
    derived from ``shadows`` (``{service_id: {"reported": {...}, "desired": {...}}}``)."""
    if model is not None:
        services = []
        for s in model.services.values():
            services.append(
                {
                    "service_id": s.service_id,
                    "description": s.description,
                    "properties": [
                        {
                            "name": p.name,
                            "writable": p.writeable,
                            "readable": p.readable,
                            "unit": p.unit,
                            "description": p.description,
                            **_type_json(p.type),
                        }
                        for p in s.properties
                    ],
                    "commands": [
                        {
                            "name": c.name,
                            "description": c.description,
                            "params": [
                                {"name": a.name, "required": a.required, **_type_json(a.type)}
                                for a in c.params
                            ],
                            "responses": [{"name": a.name, **_type_json(a.type)} for a in c.responses],
                        }
                        for c in s.commands
                    ],
                }
            )
        return {"source": model.source, "services": services}
    derived = []
    for sid, state in (shadows or {}).items():
        seen = {**dict(state.get("desired") or {}), **dict(state.get("reported") or {})}
        derived.append(
            {
                "service_id": sid,
                "description": None,
                "properties": [
                    {
                        "name": name,
                        "writable": True,
                        "readable": True,
                        "unit": None,
                        "description": None,
                        "type": _seen_type(value),
                        "describe": f"{_seen_type(value)} (as seen)",
                    }
                    for name, value in seen.items()
                ],
                "commands": [],
            }
        )
    return {"source": "seen values", "services": derived}


def typed(
    model: Any,
    service_id: str,
    texts: Mapping[str, Any],
    examples: Mapping[str, Any],
    *,
    command: str | None = None,
) -> dict[str, Any]:
    """Each text of ``texts`` read by :func:`parse_text`: types from ``model`` (the service's
    properties, or ``command``'s parameters), examples from ``examples`` (the values seen).
    ValidationError-like InvalidValue naming the first field that does not read."""
    kinds: dict[str, ValueType] = {}
    if model is not None:
        service = model.services.get(service_id)
        if service is None and len(model.services) == 1:
            service = next(iter(model.services.values()))
        if service is not None:
            if command is None:
                kinds = {p.name: p.type for p in service.properties}
            else:
                found = service.command(command)
                kinds = {a.name: a.type for a in found.params} if found is not None else {}
    out: dict[str, Any] = {}
    for name, text in texts.items():
        try:
            out[name] = parse_text(text, kinds.get(name), examples.get(name))
        except InvalidValue as exc:
            raise InvalidValue(f"{name}: {exc}") from None
    return out
