"""thingmodel's own application API, under ``/thingmodel/v1``: what the CLI and the console call.

JSON in and out. Errors are a status and ``{"error": {"code": ..., "message": ...}}``: 400
``InvalidValue`` (a bad request: the message names the field), 401 ``Unauthorized``, 404
``UnknownDevice``, 409 ``DeviceOffline``, 413 ``TooLarge``, 504 ``Timeout``. With an app key,
every request carries it as HTTP Basic credentials (``ID:SECRET``).

A write answers 200 whether the device applied it or refused it (``ok`` and ``errors`` say which);
``pending`` means the device did not answer in time and the value waits in the shadow.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ... import __version__
from ...errors import CodecError, DeviceOffline, InvalidValue, UnknownDevice
from ..values import model_json, typed
from .server import AppKey, basic_auth_problem

if TYPE_CHECKING:
    from ..local import LocalCloud

log = logging.getLogger("thingmodel.cloud.http")

PREFIX = "/thingmodel/v1"
MAX_BODY = 1024 * 1024
MAX_TIMEOUT = 60.0
HEARTBEAT = 15.0
"""Seconds between the event stream's keep-alive comments."""


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _json_body(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY:
        raise _Refusal(413, "TooLarge", f"the request body is over {MAX_BODY} bytes")
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise _Refusal(400, "InvalidValue", f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _Refusal(400, "InvalidValue", "the request body must be a JSON object")
    return body


def _text_field(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _Refusal(400, "InvalidValue", f"{name} must be a non-empty string")
    return value


def _timeout(body: dict[str, Any]) -> float:
    value = body.get("timeout", 5.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_TIMEOUT:
        raise _Refusal(400, "InvalidValue", f"timeout must be a number of seconds in [0, {MAX_TIMEOUT:g}]")
    return float(value)


def _object(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Refusal(400, "InvalidValue", f"{name} must be a JSON object")
    return value


def _delta(desired: dict[str, Any], reported: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in desired.items() if k not in reported or reported[k] != v}


class NativeApi:
    """The routes' handlers, around one cloud."""

    def __init__(self, cloud: LocalCloud, key: AppKey | None) -> None:
        self.cloud, self.key = cloud, key

    def routes(self) -> list[BaseRoute]:
        p = PREFIX
        return [
            Route(f"{p}/info", self._wrap(self.info), methods=["GET"]),
            Route(f"{p}/devices", self._wrap(self.devices), methods=["GET"]),
            Route(f"{p}/devices/{{device_id}}", self._wrap(self.device), methods=["GET"]),
            Route(f"{p}/devices/{{device_id}}/shadow", self._wrap(self.delete_shadow), methods=["DELETE"]),
            Route(f"{p}/devices/{{device_id}}/desired", self._wrap(self.desire), methods=["POST"]),
            Route(f"{p}/devices/{{device_id}}/commands", self._wrap(self.command), methods=["POST"]),
            Route(f"{p}/devices/{{device_id}}/read", self._wrap(self.read), methods=["POST"]),
            Route(f"{p}/devices/{{device_id}}/messages", self._wrap(self.message), methods=["POST"]),
            Route(f"{p}/devices/{{device_id}}/activity", self._wrap(self.activity), methods=["GET"]),
            Route(f"{p}/model", self._wrap(self.model), methods=["GET"]),
            Route(f"{p}/trace", self._wrap(self.trace), methods=["GET"]),
            Route(f"{p}/stream", self.stream, methods=["GET"]),
        ]

    def _wrap(self, handler: Callable[[Request, bytes], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            problem = basic_auth_problem(request, self.key)
            if problem is not None:
                return problem
            raw = await request.body()
            try:
                # handlers block on devices: they run on the thread pool
                result = await run_in_threadpool(handler, request, raw)
            except _Refusal as exc:
                return error(exc.status, exc.code, exc.message)
            except UnknownDevice as exc:
                return error(404, "UnknownDevice", str(exc))
            except DeviceOffline as exc:
                return error(409, "DeviceOffline", str(exc))
            except TimeoutError as exc:
                return error(504, "Timeout", str(exc))
            except (InvalidValue, CodecError, ValueError, TypeError) as exc:
                return error(400, "InvalidValue", str(exc))
            return result if isinstance(result, Response) else JSONResponse(result)

        return endpoint

    # -- handlers (on the thread pool) ---------------------------------------------------------
    def info(self, request: Request, raw: bytes) -> Any:
        cloud = self.cloud
        return {
            "vendor": cloud.vendor,
            "mqtt_url": cloud.url,
            "http_url": cloud.http_url,
            "mode": cloud.mode,
            "version": __version__,
            "authenticated": self.key is not None,
            "model": cloud.model.source if cloud.model is not None else None,
        }

    def devices(self, request: Request, raw: bytes) -> Any:
        return {"devices": [s.as_json() for s in self.cloud.summaries()]}

    def _services(self, device_id: str) -> dict[str, dict[str, Any]]:
        out = {}
        for sid, s in self.cloud.get_shadow(device_id).items():
            out[sid] = {**s, "delta": _delta(s["desired"], s["reported"])}
        return out

    def device(self, request: Request, raw: bytes) -> Any:
        device_id = request.path_params["device_id"]
        summary = self.cloud.summary(device_id)
        return {"device": summary.as_json(), "services": self._services(device_id)}

    def delete_shadow(self, request: Request, raw: bytes) -> Any:
        device_id = request.path_params["device_id"]
        self.cloud.require(device_id)
        return {"deleted": self.cloud.delete_shadow(device_id, request.query_params.get("service_id"))}

    def _values(
        self, device_id: str, body: dict[str, Any], service_id: str, command: str | None
    ) -> dict[str, Any]:
        values = _object(body, "properties" if command is None else "params")
        texts = _object(body, "text")
        if values is not None and texts is not None:
            raise _Refusal(400, "InvalidValue", "give values or text, not both")
        if texts is None:
            return values or {}
        examples: dict[str, Any] = {}
        if command is None:
            state = self.cloud.get_shadow(device_id).get(service_id) or {}
            examples = {**state.get("desired", {}), **state.get("reported", {})}
        return typed(self.cloud.model, service_id, texts, examples, command=command)

    def desire(self, request: Request, raw: bytes) -> Any:
        device_id = request.path_params["device_id"]
        body = _json_body(raw)
        service_id = _text_field(body, "service_id")
        assert service_id is not None
        timeout = _timeout(body)
        properties = self._values(device_id, body, service_id, None)
        if not properties:
            raise _Refusal(400, "InvalidValue", "name at least one property to desire")
        outcome = self.cloud.set_desired(device_id, service_id, properties, timeout)
        return {
            "ok": outcome.ok,
            "errors": dict(outcome.errors),
            "pending": outcome.pending,
            "request_id": outcome.request_id,
            "properties": properties,
        }

    def command(self, request: Request, raw: bytes) -> Any:
        device_id = request.path_params["device_id"]
        body = _json_body(raw)
        name = _text_field(body, "name")
        assert name is not None
        service_id = _text_field(body, "service_id", required=False)
        timeout = _timeout(body)
        params = self._values(device_id, body, service_id or "", name)
        outcome = self.cloud.send_command(device_id, service_id, name, params, timeout)
        return {
            "ok": outcome.ok,
            "code": outcome.code,
            "params": dict(outcome.params),
            "timed_out": outcome.timed_out,
            "request_id": outcome.request_id,
        }

    def read(self, request: Request, raw: bytes) -> Any:
        device_id = request.path_params["device_id"]
        body = _json_body(raw)
        service_id = _text_field(body, "service_id", required=False)
        return {"services": self.cloud.read_properties(device_id, service_id, _timeout(body))}

    def message(self, request: Request, raw: bytes) -> Any:
        device_id = request.path_params["device_id"]
        if len(raw) > MAX_BODY:
            raise _Refusal(413, "TooLarge", f"a message is at most {MAX_BODY} bytes")
        self.cloud.require(device_id)
        self.cloud.send_message(device_id, raw)
        return JSONResponse({"sent": len(raw)}, status_code=202)

    def activity(self, request: Request, raw: bytes) -> Any:
        device_id = request.path_params["device_id"]
        self.cloud.require(device_id)
        found = self.cloud.activity(device_id)

        def times(kind: str, count: int) -> list[float | None]:
            received: list[float | None] = list(found.received.get(kind, ()))
            return received if len(received) == count else [None] * count

        return {
            "messages": [
                {"time": t, "payload": m.payload.decode("utf-8", "replace")}
                for t, m in zip(times("messages", len(found.messages)), found.messages, strict=True)
            ],
            **{
                kind: [
                    {"time": t, **_event_json(e)}
                    for t, e in zip(times(kind, len(entries)), entries, strict=True)
                ]
                for kind, entries in (("events", found.events), ("logs", found.logs), ("info", found.info))
            },
        }

    def model(self, request: Request, raw: bytes) -> Any:
        if self.cloud.model is not None:
            return model_json(self.cloud.model)
        device_id = request.query_params.get("device_id")
        shadows = self.cloud.get_shadow(device_id) if device_id else {}
        return model_json(None, shadows)

    def trace(self, request: Request, raw: bytes) -> Any:
        device_id = request.query_params.get("device_id") or None
        try:
            limit = int(request.query_params.get("limit", "200"))
        except ValueError:
            raise _Refusal(400, "InvalidValue", "limit must be a whole number") from None
        entries = self.cloud.feed.recent(device_id, max(1, min(limit, 1000)))
        return {"entries": [e.as_json() for e in entries]}

    # -- the event stream ----------------------------------------------------------------------
    async def stream(self, request: Request) -> Response:
        problem = basic_auth_problem(request, self.key)
        if problem is not None:
            return problem
        device_id = request.query_params.get("device_id") or None
        return StreamingResponse(
            self._events(device_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _events(self, device_id: str | None) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()

        def wake() -> None:  # on the thread that added the entry
            loop.call_soon_threadsafe(ready.set)

        watcher = self.cloud.feed.watch(device_id, wake=wake)
        try:
            yield ": thingmodel event stream\n\n"
            while True:
                try:
                    await asyncio.wait_for(ready.wait(), HEARTBEAT)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                ready.clear()
                missed, watcher.missed = watcher.missed, 0
                if missed:
                    yield f"event: missed\ndata: {json.dumps({'missed': missed})}\n\n"
                for entry in watcher.take():
                    yield f"event: {entry.kind}\ndata: {json.dumps(entry.as_json(), ensure_ascii=False)}\n\n"
        finally:
            watcher.close()


def _event_json(event: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in ("service_id", "event_type", "params", "event_time"):
        value = getattr(event, field, None)
        if value is not None:
            out[field] = dict(value) if field == "params" else value
    return out


def routes(cloud: LocalCloud, key: AppKey | None) -> list[BaseRoute]:
    """The thingmodel API's routes."""
    return NativeApi(cloud, key).routes()
