"""JSON helpers shared by the codecs: compact encoding and guarded decoding."""

from __future__ import annotations

import json
from typing import Any

from ..errors import CodecError


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def loads_object(payload: bytes, *, limit: int) -> dict[str, Any]:
    """Decode a JSON object or raise CodecError saying why (size, encoding, syntax, shape)."""
    if len(payload) > limit:
        raise CodecError(f"payload of {len(payload)} bytes exceeds the limit of {limit} bytes")
    try:
        value = json.loads(payload)
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
