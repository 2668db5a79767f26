"""JSON helpers shared by the codecs: compact encoding and guarded decoding.

orjson is used when installed (``pip install thingmodel[fast]``: encoding a report is ~10x
cheaper); the standard library otherwise. Both refuse what JSON cannot hold: orjson would write
NaN as null, so values that are not checked by a property type (jsonObject contents, command
results) are checked with :func:`require_finite` before they reach an encoder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ..errors import CodecError, InvalidValue

_orjson: Any
try:
    import orjson as _orjson

    # Before 3.9.15 orjson had no nesting limit when parsing: a deep payload crashed the
    # process (CVE-2024-27454). Older versions are ignored, not trusted.
    if tuple(int(p) for p in _orjson.__version__.split(".")[:3]) < (3, 9, 15):
        _orjson = None
except (ImportError, ValueError):  # pragma: no cover - exercised when orjson is absent
    _orjson = None

#: how deep a value that no property type checks may nest (orjson's parser allows 1024)
MAX_DEPTH = 64

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
    return json.loads(payload.decode("utf-8"))  # bytes would let json sniff UTF-16/32 too


def require_finite(value: Any, where: str = "value") -> None:
    """Raise InvalidValue if ``value`` holds NaN/infinity, a non-JSON type, an integer beyond
    64 bits or more than MAX_DEPTH levels of nesting, anywhere inside. Iterative: never recurses."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidValue(f"{path} is {item!r}, which JSON cannot hold")
        elif isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        elif isinstance(item, int):
            if not -(2**63) <= item < 2**64:
                raise InvalidValue(f"{path} is an integer beyond 64 bits, which the wire cannot carry")
        elif isinstance(item, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                raise InvalidValue(f"{path} is nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key, member in item.items():
                    if not isinstance(key, str):
                        raise InvalidValue(f"{path} has a non-string key {key!r}")
                    stack.append((member, f"{path}.{key}", depth + 1))
            else:
                stack.extend((member, f"{path}[{i}]", depth + 1) for i, member in enumerate(item))
        else:
            raise InvalidValue(f"{path} is a {type(item).__name__}, which JSON cannot hold")


def loads_object(payload: bytes, *, limit: int) -> dict[str, Any]:
    """Decode a JSON object or raise CodecError saying why (size, encoding, syntax, shape)."""
    if len(payload) > limit:
        raise CodecError(f"payload of {len(payload)} bytes exceeds the limit of {limit} bytes")
    try:  # loads(), inlined: every downlink comes through here
        value = _orjson.loads(payload) if _orjson is not None else json.loads(payload.decode("utf-8"))
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


def errors_text(errors: Mapping[str, str]) -> str:
    """Refusal reasons as text a person reads and our platform halves parse back."""
    # One '"name": reason' per line: readable in the console, and the quoted name lets our
    # platform half read it back whatever characters it holds.
    return "\n".join(f"{json.dumps(name, ensure_ascii=False)}: {reason}" for name, reason in errors.items())


def errors_from_text(text: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    decoder = json.JSONDecoder()
    for line in text.splitlines():
        try:
            name, end = decoder.raw_decode(line)
        except ValueError:
            name, end = None, 0
        if isinstance(name, str) and line[end : end + 2] == ": ":
            errors[name] = line[end + 2 :]
        elif line:  # not ours (e.g. Huawei's SDK): keep the whole text
            errors["result"] = line
    return errors
