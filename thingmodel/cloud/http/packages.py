"""What devices fetch and put over HTTP: OTA packages and their files (Huawei ``$file_manager``).

- ``GET|HEAD /thingmodel/v1/packages/{package_id}/{name}``: a package, with the token of an
  upgrade that offers it, as ``Authorization: Bearer <token>`` (Huawei's ``access_token``) or
  ``?token=`` (the URL the other vendors' offers carry). 401 without a token, 403 with one that is
  not good for this package (wrong, expired, or its upgrade has ended), 404 for an unknown
  package.
- ``GET|HEAD|PUT /thingmodel/v1/files/{device_id}/{name}?token=``: a device's file, with the
  token of the URL the cloud gave it for that name and direction.

Downloads take ``Range: bytes=a-b`` (also ``a-`` and ``-n``): 206 with ``Content-Range``, 416
(``Content-Range: bytes */size``) past the end; ``If-Range`` with the ETag (the SHA-256); several
ranges are answered with the whole file (200), as RFC 9110 allows. Bodies go out in 1 MiB reads
(``os.pread`` on a worker thread), the transfer stops when the client goes away, and an upload
is written as it arrives, never held whole in memory. These routes take no app key: a device
has none; the token is its credential, and no token is ever logged.
"""

from __future__ import annotations

import logging
import os
import re
from typing import TYPE_CHECKING, Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from ...errors import InvalidValue
from ..files import CHUNK, Direction, TooLarge, validate_file_name
from .server import AppKey

if TYPE_CHECKING:
    from ..local import LocalCloud

log = logging.getLogger("thingmodel.cloud.http")

PREFIX = "/thingmodel/v1"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def token_of(request: Request) -> str | None:
    """The token a request carries: ``Authorization: Bearer`` first, else ``?token=``."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token") or None


def _missing_token(what: str) -> JSONResponse:
    return error(
        401,
        "Unauthorized",
        f"{what} needs its token (Authorization: Bearer <token>, or ?token=)",
        {"WWW-Authenticate": 'Bearer realm="thingmodel"'},
    )


class FileBody(Response):
    """An open file (or ``length`` bytes of it from ``start``) as a response body, read in
    :data:`~thingmodel.cloud.files.CHUNK` reads on a worker thread; the file is closed at the
    end. Stops early when the client disconnects."""

    def __init__(self, file: Any, start: int, length: int, status_code: int, headers: dict[str, str]) -> None:
        super().__init__(status_code=status_code, headers=headers, media_type=None)
        self.file, self.start, self.length = file, start, length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = anyio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(watch)
                await self._stream(scope, send, gone)
                group.cancel_scope.cancel()
        finally:
            self.file.close()

    async def _stream(self, scope: Scope, send: Send, gone: anyio.Event) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope.get("method") == "HEAD" or self.length == 0:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        fd = self.file.fileno()
        offset, left = self.start, self.length
        while left > 0 and not gone.is_set():
            chunk = await anyio.to_thread.run_sync(os.pread, fd, min(CHUNK, left), offset)
            if not chunk:  # the file shrank under us: cannot happen to a stored blob
                raise RuntimeError("the file is shorter than its size")
            offset += len(chunk)
            left -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})


def serve(request: Request, file: Any, size: int, etag: str, name: str) -> Response:
    """The response to a GET or HEAD of ``file`` (``size`` bytes), honouring ``Range``."""
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f"attachment; filename*=utf-8''{_quoted(name)}",
        "Cache-Control": "no-store",
    }
    wanted = _range(request, size, etag)
    if isinstance(wanted, str):  # "unsatisfiable"
        file.close()
        return Response(
            status_code=416, headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"}
        )
    if wanted is None:
        return FileBody(file, 0, size, 200, {**headers, "Content-Length": str(size)})
    start, end = wanted
    headers.update({"Content-Range": f"bytes {start}-{end - 1}/{size}", "Content-Length": str(end - start)})
    return FileBody(file, start, end - start, 206, headers)


def _quoted(name: str) -> str:
    from urllib.parse import quote

    return quote(name.rsplit("/", 1)[-1], safe="")


def _range(request: Request, size: int, etag: str) -> tuple[int, int] | str | None:
    """``(start, end)`` of a single satisfiable range, ``"unsatisfiable"``, or None: the whole
    file (no Range, several ranges, one it cannot read, or an ``If-Range`` that does not match)."""
    header = request.headers.get("range")
    if header is None:
        return None
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:
        return None
    found = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if found is None:
        return None  # several ranges, or another unit: answered whole
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:  # the last n bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    end = size if not last else min(size, int(last) + 1)
    if end <= start:
        return None  # last < first: not a valid range, so ignored
    return start, end


class DeviceTransfers:
    """The routes' handlers, around one cloud."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{PREFIX}/packages/{{package_id}}/{{name}}", self.package, methods=["GET", "HEAD"]),
            Route(f"{PREFIX}/files/{{device_id}}/{{name:path}}", self.file, methods=["GET", "HEAD", "PUT"]),
        ]

    async def package(self, request: Request) -> Response:
        package_id = request.path_params["package_id"]
        token = token_of(request)
        if token is None:
            return _missing_token("a package download")
        store = self.cloud.packages
        found = store.find(package_id)
        if found is None or found.name != request.path_params["name"]:
            return error(404, "NotFound", f"no package {package_id!r} here")
        scope = self.cloud.transfer_tokens.scope(token)
        if scope is None or scope[:2] != ("package", package_id):
            return error(
                403,
                "Forbidden",
                "the token is not good for this package (wrong, expired, or its upgrade has ended)",
            )
        opened = store.open(package_id)
        if opened is None:
            return error(404, "NotFound", f"package {package_id!r} is gone")
        package, file = opened
        log.debug("serving package %s to %s", package_id, request.client.host if request.client else "?")
        return serve(request, file, package.size, f'"{package.sha256}"', package.name)

    async def file(self, request: Request) -> Response:
        device_id, name = request.path_params["device_id"], request.path_params["name"]
        direction: Direction = "upload" if request.method == "PUT" else "download"
        token = token_of(request)
        if token is None:
            return _missing_token(f"a file {direction}")
        try:
            validate_file_name(name)
        except InvalidValue as exc:
            return error(400, "InvalidValue", str(exc))
        if not self.cloud.file_service.allowed(token, direction, device_id, name):
            return error(
                403,
                "Forbidden",
                f"the token is not good for {direction}ing {name!r} (wrong, or expired: ask for a new URL)",
            )
        if direction == "upload":
            return await self._upload(request, device_id, name)
        opened = self.cloud.file_store.open(device_id, name)
        if opened is None:
            return error(404, "NotFound", f"device {device_id!r} has no file {name!r}")
        stored, file = opened
        return serve(request, file, stored.size, f'"{stored.sha256}"', name)

    async def _upload(self, request: Request, device_id: str, name: str) -> Response:
        store = self.cloud.file_store
        limit = store.max_file_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return error(413, "TooLarge", f"a file is at most {limit} bytes; this one is {declared}")
        writer = await run_in_threadpool(store.writer, device_id, name)
        try:
            await receive_into(request, writer.write)
            written = await run_in_threadpool(writer.finish)
        except TooLarge as exc:
            return error(413, "TooLarge", str(exc))
        except BaseException:
            writer.abort()
            raise
        stored = await run_in_threadpool(store.commit, device_id, name, written, "device")
        return JSONResponse(stored.as_json(), headers={"ETag": f'"{stored.sha256}"'})


async def receive_into(request: Request, write: Any) -> int:
    """Hand the request's body to ``write`` (on the thread pool) in pieces of up to 1 MiB, as it
    arrives; how many bytes."""
    pending = bytearray()
    total = 0
    async for chunk in request.stream():
        pending += chunk
        total += len(chunk)
        if len(pending) >= CHUNK:
            await run_in_threadpool(write, bytes(pending))
            pending.clear()
    if pending:
        await run_in_threadpool(write, bytes(pending))
    return total


def routes(cloud: LocalCloud, key: AppKey | None) -> list[BaseRoute]:
    """The device transfer routes (they take a transfer token, never the app key)."""
    return DeviceTransfers(cloud).routes()
