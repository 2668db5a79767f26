"""JSON helpers shared by the codecs: compact encoding and guarded decoding.

orjson is used when installed (``pip install thingmodel[fast]``: encoding a report is ~10x
cheaper); the standard library otherwise. Both refuse what JSON cannot hold: orjson would write
NaN as null, so values that are not checked by a property type (jsonObject contents, command
results) are checked with :func:`require_finite` before they reach an encoder.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..errors import CodecError, InvalidValue

_orjson: Any
try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised when orjson is absent
    _orjson = None

# Built once: json.dumps() with non-default options constructs a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON. Raises ValueError for what JSON cannot hold."""
    if _orjson is not None:
        try:
            encoded: bytes = _orjson.dumps(obj)
            return encoded
        except TypeError as exc:  # orjson: non-str keys, ints over 64 bits, unknown types
            raise ValueError(str(exc)) from None
    return _ENCODER.encode(obj).encode()


def loads(payload: bytes) -> Any:
    """Decode JSON bytes; ValueError (UnicodeDecodeError, RecursionError) for bad input."""
    if _orjson is not None:
        return _orjson.loads(payload)
    return json.loads(payload)


def require_finite(value: Any, where: str = "value") -> None:
    """Raise InvalidValue if ``value`` holds NaN/infinity or a non-JSON type, anywhere inside."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValue(f"{where} is {value!r}, which JSON cannot hold")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidValue(f"{where} has a non-string key {key!r}")
            require_finite(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            require_finite(item, f"{where}[{index}]")
    elif value is not None and not isinstance(value, (str, int)):
        raise InvalidValue(f"{where} is a {type(value).__name__}, which JSON cannot hold")


def loads_object(payload: bytes, *, limit: int) -> dict[str, Any]:
    """Decode a JSON object or raise CodecError saying why (size, encoding, syntax, shape)."""
    if len(payload) > limit:
        raise CodecError(f"payload of {len(payload)} bytes exceeds the limit of {limit} bytes")
    try:
        value = loads(payload)
    except UnicodeDecodeError as exc:
        raise CodecError(f"payload is not UTF-8: {exc.reason}") from None
    except RecursionError:
        raise CodecError("payload JSON is nested too deeply") from None
    except ValueError as exc:
        raise CodecError(f"payload is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CodecError(f"payload must be a JSON object, got {type(value).__name__}")
    return value


def field(
    obj: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = True, where: str = ""
) -> Any:
    """``obj[name]`` checked against ``kind``; absent optional fields give None."""
    if name not in obj or obj[name] is None:
        if required:
            raise CodecError(f"missing field {where}{name!r}")
        return None
    value = obj[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise CodecError(f"field {where}{name!r} must be {expected}, got {type(value).__name__}")
    return value
