"""The local cloud's application API over MQTT, both ends, sans-IO.

The CLI (``thingmodel shadow``, ``thingmodel command``) runs in another process than the cloud,
so it asks over the same broker: a request on ``thingmodel/app/request/{id}``, the answer on
``thingmodel/app/response/{id}``. Payloads are JSON objects:

    request:  {"op": "get_shadow" | "set_desired" | "send_command" | "read",
               "device_id": ..., "service_id": ..., "properties": {...}, "name": ..., "params": {...},
               "timeout": seconds}
    response: {"ok": true, "result": {...}}  or  {"ok": false, "error": "reason"}
"""

from __future__ import annotations

from typing import Any

from ..errors import CodecError
from ..ids import new_id
from ..protocol.jsonwire import dumps, field, loads_object
from ..protocol.messages import Outgoing
from .app import OPERATIONS

REQUEST_PREFIX = "thingmodel/app/request/"
RESPONSE_PREFIX = "thingmodel/app/response/"
REQUEST_FILTER = REQUEST_PREFIX + "+"
OPS = tuple(OPERATIONS)
MAX_PAYLOAD = 256 * 1024


def request(op: str, **args: Any) -> tuple[str, Outgoing]:
    """``(request_id, message)`` for one application request."""
    if op not in OPS:
        raise ValueError(f"unknown operation {op!r} (known: {', '.join(OPS)})")
    rid = new_id()
    body = {"op": op, **{k: v for k, v in args.items() if v is not None}}
    return rid, Outgoing(REQUEST_PREFIX + rid, dumps(body))


def parse_request(topic: str, payload: bytes) -> tuple[str, dict[str, Any]]:
    """``(request_id, body)``; CodecError says what is wrong."""
    rid = topic[len(REQUEST_PREFIX) :]
    if not topic.startswith(REQUEST_PREFIX) or not rid or "/" in rid:
        raise CodecError(f"not an application request topic: {topic!r}")
    body = loads_object(payload, limit=MAX_PAYLOAD)
    op = field(body, "op", str)
    if op not in OPS:
        raise CodecError(f"unknown operation {op!r} (known: {', '.join(OPS)})")
    return rid, body


def response(rid: str, *, result: Any = None, error: str | None = None) -> Outgoing:
    body = {"ok": False, "error": error} if error is not None else {"ok": True, "result": result}
    return Outgoing(RESPONSE_PREFIX + rid, dumps(body))


def parse_response(payload: bytes) -> Any:
    """The result, or CodecError carrying the cloud's reason."""
    body = loads_object(payload, limit=MAX_PAYLOAD)
    if body.get("ok") is True:
        return body.get("result")
    raise CodecError(str(body.get("error") or "the cloud answered with an error"))
