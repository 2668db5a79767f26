"""thingmodel's own application API, under ``/thingmodel/v1``: what the CLI and the console call.

JSON in and out. Errors are a status and ``{"error": {"code": ..., "message": ...}}``: 400
``InvalidValue`` (a bad request: the message names the field), 401 ``Unauthorized``, 404
``UnknownDevice`` (or ``NotFound``: an upgrade, package or file), 409 ``DeviceOffline`` or
``UpgradeRunning``, 413 ``TooLarge``, 504 ``Timeout``, 507 ``StoreFull``. With an app key, every
request carries it as HTTP Basic credentials (``ID:SECRET``).

OTA and files: ``POST /devices/{id}/upgrades?version=V&kind=K&name=N`` with the package as the
body (or ``?package_id=`` of a stored one) starts an upgrade (202); ``GET .../upgrades`` lists
the device's, ``GET .../upgrades/{task}?wait=S&after=R`` answers once the upgrade's revision is
past ``R`` or it has ended (a long poll, at most 60 s), ``DELETE`` cancels it;
``POST /packages?version=...`` stores a package, ``GET /packages`` lists them;
``GET /devices/{id}/files`` lists a device's files, ``GET|PUT .../files/{name}`` reads or writes
one; ``POST /devices/{id}/versions/query`` asks a (Huawei) device for its versions.

A write answers 200 whether the device applied it or refused it (``ok`` and ``errors`` say which);
``pending`` means the device did not answer in time and the value waits in the shadow.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ... import __version__
from ...errors import CodecError, DeviceOffline, InvalidValue, UnknownDevice
from ..files import StoreFull, TooLarge, validate_file_name
from ..ota import Package, UpgradeRunning, validate_kind, validate_package_name, validate_version
from ..values import model_json, typed
from .packages import receive_into, serve
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
            Route(
                f"{p}/devices/{{device_id}}/upgrades", self._streaming(self.start_upgrade), methods=["POST"]
            ),
            Route(f"{p}/devices/{{device_id}}/upgrades", self._wrap(self.upgrades), methods=["GET"]),
            Route(
                f"{p}/devices/{{device_id}}/upgrades/{{task_id}}", self._wrap(self.upgrade), methods=["GET"]
            ),
            Route(
                f"{p}/devices/{{device_id}}/upgrades/{{task_id}}", self._wrap(self.cancel), methods=["DELETE"]
            ),
            Route(
                f"{p}/devices/{{device_id}}/versions/query", self._wrap(self.query_version), methods=["POST"]
            ),
            Route(f"{p}/packages", self._streaming(self.add_package), methods=["POST"]),
            Route(f"{p}/packages", self._wrap(self.list_packages), methods=["GET"]),
            Route(f"{p}/devices/{{device_id}}/files", self._wrap(self.files), methods=["GET"]),
            Route(
                f"{p}/devices/{{device_id}}/files/{{name:path}}",
                self._streaming(self.get_file),
                methods=["GET", "HEAD"],
            ),
            Route(
                f"{p}/devices/{{device_id}}/files/{{name:path}}",
                self._streaming(self.put_file),
                methods=["PUT"],
            ),
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
            except Exception as exc:
                return _error_of(exc)
            return result if isinstance(result, Response) else JSONResponse(result)

        return endpoint

    def _streaming(self, handler: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Any]:
        """Like :meth:`_wrap` for a handler that reads the body itself, as it comes."""

        async def endpoint(request: Request) -> Response:
            problem = basic_auth_problem(request, self.key)
            if problem is not None:
                return problem
            try:
                result = await handler(request)
            except Exception as exc:
                answer = _error_of(exc)
                await _drain(request)
                return answer
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
        return {
            "devices": [{**s.as_json(), "upgrade": self._latest(s.device_id)} for s in self.cloud.summaries()]
        }

    def _latest(self, device_id: str) -> dict[str, Any] | None:
        latest = self.cloud.latest_upgrade(device_id)
        return None if latest is None else latest.as_json()

    def _services(self, device_id: str) -> dict[str, dict[str, Any]]:
        out = {}
        for sid, s in self.cloud.get_shadow(device_id).items():
            out[sid] = {**s, "delta": _delta(s["desired"], s["reported"])}
        return out

    def device(self, request: Request, raw: bytes) -> Any:
        device_id = request.path_params["device_id"]
        summary = self.cloud.summary(device_id)
        return {
            "device": summary.as_json(),
            "services": self._services(device_id),
            "upgrade": self._latest(device_id),
        }

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

    # -- OTA -----------------------------------------------------------------------------------
    async def start_upgrade(self, request: Request) -> Any:
        cloud = self.cloud
        device_id = request.path_params["device_id"]
        query = request.query_params
        version = query.get("version") or None
        given = query.get("kind") or None
        kind = validate_kind(given) if given is not None else None
        await run_in_threadpool(cloud.check_upgrade, device_id)  # before the body is read
        package_id = query.get("package_id")
        if package_id:
            package = cloud.packages.find(package_id)
            if package is None:
                raise _Refusal(404, "NotFound", f"package {package_id!r} is not in this cloud's store")
        else:
            if version is None:
                raise _Refusal(400, "InvalidValue", "give ?version= (the version the package installs)")
            package = await self._receive_package(request, version, query.get("name") or "package.bin", kind)
        start = functools.partial(cloud.upgrade, device_id, package, version=version, kind=kind)
        upgrade = await run_in_threadpool(start)
        return JSONResponse({"upgrade": upgrade.as_json(), "package": package.as_json()}, status_code=202)

    async def _receive_package(self, request: Request, version: str, name: str, kind: str | None) -> Package:
        validate_version(version)
        validate_package_name(name)
        store = self.cloud.packages
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > store.max_bytes:
            raise _Refusal(
                413, "TooLarge", f"a package is at most {store.max_bytes} bytes; this one is {declared}"
            )
        writer = await run_in_threadpool(store.writer)
        try:
            await receive_into(request, writer.write)
            written = await run_in_threadpool(writer.finish)
        except BaseException:
            writer.abort()
            raise
        commit = functools.partial(
            store.commit, written, version=version, name=name, kind=validate_kind(kind or "firmware")
        )
        package: Package = await run_in_threadpool(commit)
        return package

    async def add_package(self, request: Request) -> Any:
        query = request.query_params
        version = query.get("version")
        if not version:
            raise _Refusal(400, "InvalidValue", "give ?version= (the version the package installs)")
        kind = query.get("kind") or None
        if kind is not None:
            validate_kind(kind)
        package = await self._receive_package(request, version, query.get("name") or "package.bin", kind)
        return JSONResponse({"package": package.as_json()}, status_code=201)

    def list_packages(self, request: Request, raw: bytes) -> Any:
        return {"packages": [p.as_json() for p in self.cloud.packages.packages()]}

    def _task(self, request: Request) -> Any:
        device_id, task_id = request.path_params["device_id"], request.path_params["task_id"]
        self.cloud.require(device_id)
        try:
            upgrade = self.cloud.get_upgrade(task_id)
        except InvalidValue as exc:
            raise _Refusal(404, "NotFound", str(exc)) from None
        if upgrade.device_id != device_id:
            raise _Refusal(404, "NotFound", f"device {device_id!r} has no upgrade {task_id!r}")
        return upgrade

    def upgrades(self, request: Request, raw: bytes) -> Any:
        device_id = request.path_params["device_id"]
        upgrades = self.cloud.upgrades(device_id)
        versions = self.cloud.versions(device_id)
        return {
            "upgrades": [u.as_json() for u in upgrades],
            "fw_version": versions.fw_version if versions else None,
            "sw_version": versions.sw_version if versions else None,
        }

    def upgrade(self, request: Request, raw: bytes) -> Any:
        upgrade = self._task(request)
        query = request.query_params
        try:
            wait = float(query.get("wait", "0"))
            after = int(query["after"]) if "after" in query else upgrade.revision
        except ValueError:
            raise _Refusal(400, "InvalidValue", "wait is seconds and after a revision number") from None
        if not 0 <= wait <= MAX_TIMEOUT:
            raise _Refusal(400, "InvalidValue", f"wait must be a number of seconds in [0, {MAX_TIMEOUT:g}]")
        if wait > 0:
            upgrade = self.cloud.next_upgrade_change(upgrade.task_id, after, wait)
        return {"upgrade": upgrade.as_json()}

    def cancel(self, request: Request, raw: bytes) -> Any:
        upgrade = self._task(request)
        return {"upgrade": self.cloud.cancel_upgrade(upgrade.task_id).as_json()}

    def query_version(self, request: Request, raw: bytes) -> Any:
        device_id = request.path_params["device_id"]
        body = _json_body(raw)
        found = self.cloud.query_version(device_id, _timeout(body))
        return {"fw_version": found.fw_version, "sw_version": found.sw_version}

    # -- files ---------------------------------------------------------------------------------
    def files(self, request: Request, raw: bytes) -> Any:
        device_id = request.path_params["device_id"]
        self.cloud.require(device_id)
        reports = self.cloud.activity(device_id).files
        return {
            "files": [f.as_json() for f in self.cloud.file_store.listing(device_id)],
            "transfers": [
                {
                    "direction": r.direction,
                    "name": r.file_name,
                    "code": r.code,
                    "status_code": r.status_code,
                    "description": r.description,
                }
                for r in reports
            ],
        }

    async def get_file(self, request: Request) -> Any:
        device_id, name = request.path_params["device_id"], request.path_params["name"]
        await run_in_threadpool(self.cloud.require, device_id)
        opened = self.cloud.file_store.open(device_id, name)
        if opened is None:
            raise _Refusal(404, "NotFound", f"device {device_id!r} has no file {name!r}")
        stored, file = opened
        return serve(request, file, stored.size, f'"{stored.sha256}"', name)

    async def put_file(self, request: Request) -> Any:
        device_id, name = request.path_params["device_id"], request.path_params["name"]
        await run_in_threadpool(self.cloud.require, device_id)
        validate_file_name(name)
        store = self.cloud.file_store
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > store.max_file_bytes:
            raise _Refusal(
                413, "TooLarge", f"a file is at most {store.max_file_bytes} bytes; this one is {declared}"
            )
        writer = await run_in_threadpool(store.writer, device_id, name)
        try:
            await receive_into(request, writer.write)
            written = await run_in_threadpool(writer.finish)
        except BaseException:
            writer.abort()
            raise
        stored = await run_in_threadpool(store.commit, device_id, name, written, "cloud")
        return JSONResponse({"file": stored.as_json()}, status_code=201)

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


DRAIN_LIMIT = 1024**3
"""Bytes of a refused upload read and dropped, so that the client, still sending, reads the
refusal instead of a broken pipe (a larger body is cut off)."""


async def _drain(request: Request) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_LIMIT:
        return
    try:
        async for _ in request.stream():
            pass
    except Exception:  # already read, or the client went away: nothing to drain
        return


def _error_of(exc: Exception) -> JSONResponse:
    """The JSON error answer to what a handler raised (re-raises what is not a refusal)."""
    if isinstance(exc, _Refusal):
        return error(exc.status, exc.code, exc.message)
    if isinstance(exc, UnknownDevice):
        return error(404, "UnknownDevice", str(exc))
    if isinstance(exc, DeviceOffline):
        return error(409, "DeviceOffline", str(exc))
    if isinstance(exc, UpgradeRunning):
        return error(409, "UpgradeRunning", str(exc))
    if isinstance(exc, TooLarge):
        return error(413, "TooLarge", str(exc))
    if isinstance(exc, StoreFull):
        return error(507, "StoreFull", str(exc))
    if isinstance(exc, TimeoutError):
        return error(504, "Timeout", str(exc))
    if isinstance(exc, (InvalidValue, CodecError, ValueError, TypeError)):
        return error(400, "InvalidValue", str(exc))
    raise exc


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
