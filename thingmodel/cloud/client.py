"""``CloudClient``: the thingmodel API of a running local cloud, over HTTP (the CLI uses it)."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConnectError, ThingModelError
from .http.server import AppKey

PREFIX = "/thingmodel/v1"


class ApiError(ThingModelError):
    """The cloud refused a request: its HTTP ``status``, error ``code`` and one-line ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class CloudClient:
    """Calls on the cloud at ``url`` (``http://host:port``); ConnectError when nothing answers there."""

    def __init__(self, url: str, *, app_key: AppKey | None = None, connect_timeout: float = 2.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConnectError(f"{url!r} is not the cloud's HTTP URL (http://host:port)")
        self.url = url.rstrip("/")
        self.connect_timeout = connect_timeout
        self._headers = {"Accept": "application/json"}
        if app_key is not None:
            token = base64.b64encode(f"{app_key.id}:{app_key.secret}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"

    def __repr__(self) -> str:
        return f"CloudClient({self.url!r})"

    def get(self, path: str, wait: float = 0.0, **query: Any) -> Any:
        return self._call("GET", path, None, wait, query)

    def post(self, path: str, body: Any, wait: float = 0.0) -> Any:
        return self._call("POST", path, json.dumps(body).encode(), wait, {})

    def delete(self, path: str, **query: Any) -> Any:
        return self._call("DELETE", path, None, 0.0, query)

    # -- OTA and files -------------------------------------------------------------------------
    def upgrade(
        self,
        device_id: str,
        package: bytes | Path,
        *,
        version: str,
        kind: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Upload ``package`` (bytes, or a file streamed from disk) and start upgrading the
        device to it: ``{"upgrade": {...}, "package": {...}}`` (the upgrade is pending)."""
        if name is None and isinstance(package, Path):
            from .ota import package_name_for

            name = package_name_for(package.name)
        query = {"version": version, "kind": kind, "name": name}
        answer: dict[str, Any] = self._send_bytes("POST", _device(device_id) + "/upgrades", package, query)
        return answer

    def upgrades(self, device_id: str) -> dict[str, Any]:
        """``{"upgrades": [...], "fw_version": ..., "sw_version": ...}``, oldest upgrade first."""
        answer: dict[str, Any] = self.get(_device(device_id) + "/upgrades")
        return answer

    def get_upgrade(
        self, device_id: str, task_id: str, *, wait: float = 0.0, after: int | None = None
    ) -> dict[str, Any]:
        """One upgrade; with ``wait``, once its revision is past ``after`` (default: the
        current one) or it has ended, waiting at most ``wait`` seconds."""
        path = f"{_device(device_id)}/upgrades/{urllib.parse.quote(task_id, safe='')}"
        query = {"wait": wait or None, "after": after}
        found: dict[str, Any] = self._call("GET", path, None, wait, query)["upgrade"]
        return found

    def cancel_upgrade(self, device_id: str, task_id: str) -> dict[str, Any]:
        path = f"{_device(device_id)}/upgrades/{urllib.parse.quote(task_id, safe='')}"
        found: dict[str, Any] = self.delete(path)["upgrade"]
        return found

    def files(self, device_id: str) -> dict[str, Any]:
        """``{"files": [{name, size, sha256, stored, source}], "transfers": [...]}``."""
        answer: dict[str, Any] = self.get(_device(device_id) + "/files")
        return answer

    def file(self, device_id: str, name: str) -> bytes:
        """The bytes of the device's file ``name`` (ApiError 404 when there is none)."""
        path = f"{_device(device_id)}/files/{urllib.parse.quote(name)}"
        with self._open("GET", path, None, self.connect_timeout + 60, {}) as response:
            data: bytes = response.read()
        return data

    def put_file(self, device_id: str, name: str, data: bytes | Path) -> dict[str, Any]:
        """Keep ``data`` as the device's file ``name`` (the device can then download it)."""
        path = f"{_device(device_id)}/files/{urllib.parse.quote(name)}"
        answer: dict[str, Any] = self._send_bytes("PUT", path, data, {})["file"]
        return answer

    def _send_bytes(self, method: str, path: str, data: bytes | Path, query: dict[str, Any]) -> Any:
        with contextlib.ExitStack() as stack:
            if isinstance(data, Path):
                try:
                    body: Any = stack.enter_context(open(data, "rb"))
                    size = data.stat().st_size
                except OSError as exc:
                    raise ThingModelError(f"cannot read {data}: {exc.strerror}") from None
            else:
                body, size = data, len(data)
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            timeout = self.connect_timeout + 60 + size / 1e6  # a slow disk or link: 1 MB/s at worst
            with self._open(method, path, body, timeout, query, headers) as response:
                return json.loads(response.read() or b"null")

    def stream(self, path: str, **query: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(event, data)`` of a server-sent event stream, as they come, until it ends; first
        ``("open", {})`` once the cloud watches for this stream (nothing after it is missed)."""
        response = self._open("GET", path, None, None, query)
        with response:
            event, data = "message", list[str]()
            opened = False
            for raw in response:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line.startswith(":"):  # a comment: the first says the stream is watched
                    if not opened:
                        opened = True
                        yield "open", {}
                    continue
                if not line:
                    if data:
                        yield event, json.loads("\n".join(data))
                    event, data = "message", list[str]()
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())

    def _call(self, method: str, path: str, body: bytes | None, wait: float, query: dict[str, Any]) -> Any:
        # the cloud may wait up to `wait` for a device: the read timeout allows for it
        with self._open(method, path, body, self.connect_timeout + wait + 5, query) as response:
            return json.loads(response.read() or b"null")

    def _open(
        self,
        method: str,
        path: str,
        body: Any,
        timeout: float | None,
        query: dict[str, Any],
        extra: dict[str, str] | None = None,
    ) -> Any:
        wanted = {k: v for k, v in query.items() if v is not None}
        url = self.url + PREFIX + path + (f"?{urllib.parse.urlencode(wanted)}" if wanted else "")
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        headers.update(extra or {})
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise _api_error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ConnectionRefusedError):
                why = "connection refused (is `thingmodel cloud` running? it says where it listens)"
            elif isinstance(reason, (socket.timeout, TimeoutError)):
                why = "no answer in time"
            else:
                why = str(getattr(reason, "strerror", None) or reason)
            raise ConnectError(f"no local cloud at {self.url}: {why}") from None


def _device(device_id: str) -> str:
    return "/devices/" + urllib.parse.quote(device_id, safe="")


def _api_error(exc: urllib.error.HTTPError) -> ApiError:
    try:
        body = json.loads(exc.read())
        found = body["error"]
        return ApiError(exc.code, str(found["code"]), str(found["message"]))
    except (ValueError, KeyError, TypeError):
        return ApiError(exc.code, "HTTP", f"the cloud answered {exc.code} {exc.reason}")
