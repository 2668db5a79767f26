"""The local cloud's HTTP side: one Starlette application, served by uvicorn on its own thread.

Every part of it is a user of the application core (:class:`~thingmodel.cloud.LocalCloud`): the
thingmodel API the CLI and the console call (:mod:`.native`), the console's pages (:mod:`.console`),
the packages and files devices download and upload (:mod:`.packages`), and one module per vendor
dialect (:mod:`.aws`, :mod:`.huawei`, :mod:`.tencent`) that answers
requests as that vendor's REST API answers them, so the vendor's own application SDK works
unchanged against ``http://127.0.0.1:PORT``.

Starlette and uvicorn (the ``local`` extra): a small, well-kept ASGI stack whose sync endpoints
run on a thread pool, which suits an application core whose calls block until a device answers;
server-sent events are a streaming response.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hmac
import importlib
import logging
import socket
import threading
from typing import TYPE_CHECKING, Any

import attrs

from ...errors import InvalidValue

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute
    from starlette.types import ASGIApp, Receive, Scope, Send

    from ..local import LocalCloud

log = logging.getLogger("thingmodel.cloud.http")


@attrs.frozen
class AppKey:
    """The application key every HTTP request must be signed with (``--app-key ID:SECRET``)."""

    id: str
    secret: str = attrs.field(repr=False)

    @classmethod
    def parse(cls, text: str) -> AppKey:
        """``ID:SECRET``; InvalidValue (never echoing the secret) otherwise."""
        key_id, sep, secret = text.partition(":")
        if not sep or not key_id or not secret:
            raise InvalidValue("an app key is ID:SECRET, both non-empty")
        if any(c.isspace() or c in ",/=" for c in key_id):
            raise InvalidValue(f"app key id {key_id!r} must not hold spaces, ',', '/' or '='")
        return cls(key_id, secret)


def basic_auth_problem(request: Request, key: AppKey | None) -> Response | None:
    """None when ``request`` may proceed (no key, or HTTP Basic ``key.id:key.secret``), else the
    401 to answer: the thingmodel API and the console's pages ask for the key this way."""
    if key is None:
        return None
    from starlette.responses import JSONResponse

    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except ValueError:
            given = b""
        wanted = f"{key.id}:{key.secret}".encode()
        if hmac.compare_digest(given, wanted):
            return None
    return JSONResponse(
        {"error": {"code": "Unauthorized", "message": "this cloud needs its app key (HTTP Basic ID:SECRET)"}},
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="thingmodel"'},
    )


def vendor_routes(cloud: LocalCloud, key: AppKey | None) -> list[BaseRoute]:
    """The routes of the REST dialect ``cloud``'s vendor speaks: AWS IoT's data plane, IoTDA's v5
    API, or Tencent Cloud API 3.0 (IoT Explorer or IoT Hub). Each dialect module has
    ``routes(cloud, key)``."""
    module = {"aws": "aws", "huawei": "huawei"}.get(cloud.vendor, "tencent")
    dialect = importlib.import_module(f"{__package__}.{module}")
    routes: list[BaseRoute] = dialect.routes(cloud, key)
    return routes


def make_app(cloud: LocalCloud, key: AppKey | None) -> Starlette:
    """The whole HTTP side of ``cloud``."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    console = importlib.import_module(f"{__package__}.console")
    native = importlib.import_module(f"{__package__}.native")
    packages = importlib.import_module(f"{__package__}.packages")
    provisioning = importlib.import_module(f"{__package__}.provisioning")
    # the thingmodel API and the console first: the vendor dialects own the rest (Tencent's is
    # "POST /"); devices' downloads and uploads take their transfer token, not the app key
    routes = [
        *packages.routes(cloud, key),
        *provisioning.routes(cloud, key),  # Tencent's /device/register, signed with the ProductSecret
        *native.routes(cloud, key),
        *console.routes(cloud, key),
        *vendor_routes(cloud, key),
    ]
    return Starlette(routes=routes, middleware=[Middleware(BrowserGuard, open_api=key is None)])


_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]", "::1"}


class BrowserGuard:
    """Keeps other web pages out of an unauthenticated cloud: a request whose ``Host`` is not this
    machine (DNS rebinding) or a browser's write from another site (``Sec-Fetch-Site``, CSRF) is
    refused with 403. SDKs and the CLI send neither, so they pass; with an app key the vendors'
    signatures and the Basic credentials already keep such requests out, and only the writes
    are checked."""

    def __init__(self, app: ASGIApp, *, open_api: bool) -> None:
        self.app, self.open_api = app, open_api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = self._problem(scope)
            if problem is not None:
                from starlette.responses import PlainTextResponse

                log.warning("refused %s %s: %s", scope.get("method"), scope.get("path"), problem)
                await PlainTextResponse(problem + "\n", status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _problem(self, scope: Scope) -> str | None:
        headers: dict[str, str] = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        if self.open_api:
            host = headers.get("host", "").strip().lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if host and name not in _LOOPBACK_NAMES:
                return (
                    f"host {host[:80]!r} is not this machine: the cloud answers only 127.0.0.1 or localhost"
                )
        site = headers.get("sec-fetch-site", "").strip().lower()
        if scope.get("method") not in ("GET", "HEAD", "OPTIONS") and site in ("cross-site", "same-site"):
            return f"a write from another web site is refused (Sec-Fetch-Site: {site})"
        return None


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: a free port); InvalidValue saying what to do when
    the port is taken."""
    # IPPROTO_TCP, not 0: asyncio turns Nagle off only on accepted sockets of a TCP-proto listener,
    # and with it on, a kept-alive request waits ~40 ms for the delayed ACK between head and body
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidValue(
                f"HTTP port {port} on {host} is taken (another `thingmodel cloud`?): "
                "stop it, or give --http-port 0 for a free port"
            ) from None
        raise InvalidValue(f"cannot listen on {host}:{port} for HTTP: {exc.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class HttpServer:
    """uvicorn serving :func:`make_app` on a daemon thread, on a socket bound before it starts."""

    def __init__(self, cloud: LocalCloud, host: str = "127.0.0.1", port: int = 0, key: AppKey | None = None):
        self.cloud, self.key = cloud, key
        self._socket = bind(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> HttpServer:
        import uvicorn

        config = uvicorn.Config(
            make_app(self.cloud, self.key),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="local-cloud-http", daemon=True)
        self._thread.start()
        ready = threading.Event()

        def started() -> bool:
            return bool(self._server.started) or not self._thread.is_alive()  # type: ignore[union-attr]

        for _ in range(int(timeout / 0.01)):
            if started():
                ready.set()
                break
            ready.wait(0.01)
        if not self._server.started:
            raise InvalidValue(f"the HTTP server on {self.url} did not start within {timeout:g} s")
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except Exception:  # uvicorn logs its own errors; this keeps the thread's end quiet
            log.exception("the HTTP server stopped")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self._socket.close()
