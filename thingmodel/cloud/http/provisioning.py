"""Device provisioning over HTTP: Tencent IoT's dynamic registration, ``POST /device/register``.

Served when the cloud runs a :class:`~thingmodel.cloud.provisioning.ProvisioningService` with
product secrets. The request's signature (with the ProductSecret) is its credential, so this
route takes no app key; the answer is Tencent's ``{"Response": ...}`` envelope, HTTP 200 for a
refusal too, as Tencent Cloud API answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ...provisioning.tencent import MAX_BODY, REGISTER_PATH
from .server import AppKey

if TYPE_CHECKING:
    from ..local import LocalCloud


def routes(cloud: LocalCloud, key: AppKey | None) -> list[BaseRoute]:
    """``POST /device/register`` when ``cloud`` serves Tencent dynamic registration, else none."""
    service = cloud.provisioning
    if service is None or service.module != "tencent":
        return []

    async def register(request: Request) -> Response:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                message = {
                    "Error": {"Code": "InvalidParameter", "Message": f"the body is over {MAX_BODY} bytes"}
                }
                return JSONResponse({"Response": message}, status_code=413)
            chunks.append(chunk)
        headers = {name.lower(): value for name, value in request.headers.items()}
        answer = await run_in_threadpool(
            service.register_tencent, headers.get("host", ""), headers, b"".join(chunks)
        )
        return Response(answer, media_type="application/json")

    return [Route(REGISTER_PATH, register, methods=["POST"])]
