"""HTTP(S) downloads and uploads: OTA packages and file transfer, beside the MQTT transport.

Standard library only (``http.client``, ``ssl``, ``hashlib``).

- TLS: the same :class:`TlsOptions` as MQTT. Certificate and host-name verification are on by
  default, against the system store or ``ca_file``; ``insecure=True`` turns them off, loudly.
- :func:`download` writes ``dest + ".part"`` and renames it to ``dest`` once the whole body is
  in (after an ``fsync``, so a power cut never leaves a half file under the final name). A
  dropped connection, a 5xx or a time-out is retried with exponential backoff; each retry asks
  for the rest only (``Range: bytes={offset}-``), and a ``.part`` left by an earlier call is
  resumed the same way. The bytes already on disk are hashed again first, so SHA-256 and MD5
  always cover the whole file (MD5, the slower, on a helper thread for the length of the call).
  A server that ignores ``Range`` (200 instead of 206) is read from the start. A 4xx and a
  certificate failure end the download at once.
- Limits: a body larger than ``size`` (when given) or ``max_bytes`` is refused, from its
  ``Content-Length`` before anything is written or while reading one without, and the partial
  file is removed. At most 5 redirects; https -> http is refused; the bearer token goes only to
  the URL's own host (a redirect to a CDN does not get it).
- Nothing here logs or shows a token or a query string (presigned URLs carry their signature
  there): messages name the URL as ``scheme://host:port/path``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import queue
import re
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

import attrs

from ..errors import ThingModelError
from .mqtt import TlsOptions, is_loopback

log = logging.getLogger("thingmodel.transport.transfer")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_MAX_DELAY = 30.0  # the longest pause between two attempts, however many failed
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)
_METHOD = re.compile(r"[A-Z]+")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


class TransferError(ThingModelError):
    """A download or upload that failed. The message names the URL (without its query string)
    and the cause; :attr:`status` is the HTTP status when an answer came."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@attrs.frozen
class Downloaded:
    """A finished download: where it is, its size and the lowercase hex digests of the file."""

    path: Path
    size: int
    sha256: str
    md5: str


def redact(url: str) -> str:
    """``url`` without query string, fragment and user info: what may be logged or shown."""
    base = url.split("#", 1)[0].split("?", 1)[0]
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/]*@", r"\1", base)


def _scrub(message: str, secrets: list[str]) -> str:
    """``message`` with every secret (token, query string, header value) replaced by ``***``;
    exceptions from the standard library may quote them."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            message = message.replace(secret, "***")
    return message


@attrs.frozen
class _Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str  # what goes on the request line: path and query
    query: str
    shown: str


def _parse(url: str, what: str) -> _Target:
    shown = redact(url)
    if _UNPRINTABLE.search(url) or " " in url:
        raise TransferError(f"{what} {shown!r}: the URL contains spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TransferError(f"{what} {shown}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransferError(f"{what} {shown}: not an http:// or https:// URL")
    if parts.username is not None:
        raise TransferError(f"{what} {shown}: user info in the URL is not supported; pass a token or headers")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return _Target(url, parts.scheme, parts.hostname.lower(), port or default, path, parts.query, shown)


def _ssl_context(tls: TlsOptions | None, what: str, shown: str) -> ssl.SSLContext:
    tls = tls or TlsOptions()
    try:
        context = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise TransferError(f"{what} {shown}: cannot load the TLS files: {exc}") from None
    if tls.insecure:
        log.warning(
            "TLS VERIFICATION IS OFF for %s: the server's certificate and name are not checked; "
            "anyone on the path can impersonate it",
            shown,
        )
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Connector:
    """Opens connections for one transfer; builds its TLS context once, when first needed."""

    def __init__(self, tls: TlsOptions | None, timeout: float, what: str, shown: str) -> None:
        self._tls = tls
        self._timeout = timeout
        self._what = what
        self._shown = shown
        self._context: ssl.SSLContext | None = None

    def open(self, target: _Target) -> http.client.HTTPConnection:
        if target.scheme == "http":
            return http.client.HTTPConnection(
                target.host, target.port, timeout=self._timeout, blocksize=1 << 16
            )
        if self._context is None:
            self._context = _ssl_context(self._tls, self._what, self._shown)
        return http.client.HTTPSConnection(
            target.host, target.port, timeout=self._timeout, context=self._context, blocksize=1 << 16
        )


def _cause(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verification failed: {exc.verify_message}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Hashes:
    """SHA-256 and MD5 of a byte stream, MD5 on a helper thread: it is the slowest step of a
    download (~470 MB/s, SHA-256 ~1.2 GB/s with SHA-NI; benchmarks/ota_download.py), and there
    it overlaps with the socket and the disk. Chunks given to :meth:`update` must not change."""

    _RESET = b"reset"  # a marker compared by identity: never a chunk of the file

    def __init__(self, md5: bool = True) -> None:
        self.sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._chunks: queue.Queue[bytes | bytearray | memoryview | None] = queue.Queue(maxsize=32)
        self._thread = threading.Thread(target=self._run, name="thingmodel-md5", daemon=True)
        self._with_md5 = md5
        self._closed = not md5
        if md5:
            self._thread.start()

    def _run(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if chunk is self._RESET:
                self._md5 = hashlib.md5(usedforsecurity=False)
            else:
                self._md5.update(chunk)

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        self.sha256.update(chunk)
        if self._with_md5:
            self._chunks.put(chunk)

    def reset(self) -> None:
        self.sha256 = hashlib.sha256()
        if self._with_md5:
            self._chunks.put(self._RESET)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._chunks.put(None)
            self._thread.join()

    def hexdigests(self) -> tuple[str, str]:
        """``(sha256, md5)``; md5 is "" when it was not asked for."""
        self.close()
        return self.sha256.hexdigest(), self._md5.hexdigest() if self._with_md5 else ""


class _Retry(Exception):
    """An attempt failed in a way worth trying again."""

    def __init__(self, cause: str, status: int | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.status = status


class _Download:
    def __init__(
        self,
        url: str,
        dest: Path,
        token: str | None,
        size: int | None,
        max_bytes: int,
        tls: TlsOptions | None,
        timeout: float,
        retries: int,
        backoff: float,
        on_progress: Callable[[int, int | None], None] | None,
        chunk: int,
        should_stop: Callable[[], bool] | None,
        md5: bool = True,
    ) -> None:
        self.start = _parse(url, "download")
        self.shown = self.start.shown
        self.dest = dest
        self.part = dest.with_name(dest.name + ".part")
        self.token = token
        self.size = size
        self.limit = max_bytes if size is None else min(size, max_bytes)
        self.limit_name = "the announced size" if size is not None and size <= max_bytes else "max_bytes"
        self.retries = retries
        self.backoff = backoff
        self.on_progress = on_progress
        self.chunk = chunk
        self.should_stop = should_stop
        self.connector = _Connector(tls, timeout, "download", self.shown)
        self.file: BinaryIO | None = None
        self.offset = 0
        self.total: int | None = None  # the whole file's size, once a server has said it
        self.etag: str | None = None  # a strong validator for If-Range
        self.discard = False  # remove the .part file on the way out (its content is wrong)
        self.secrets = [s for s in (token, self.start.query) if s]
        self.hashes = _Hashes(md5)
        if token and self.start.scheme == "http" and not is_loopback(self.start.host):
            log.warning("download %s: plain http, the bearer token travels unencrypted", self.shown)

    # -- the whole download ------------------------------------------------------------------
    def run(self) -> Downloaded:
        try:
            self._open_part()
            failures = 0
            while True:
                self._check_stop()
                before = self.offset
                try:
                    if self._attempt():
                        break
                    cause, status = f"connection closed at byte {self.offset}", None
                except _Retry as exc:
                    cause, status = exc.cause, exc.status
                if self.offset > before:  # progress: a flaky link gets its retries back
                    failures = 0
                failures += 1
                if failures > self.retries:
                    raise self._error(f"{cause} (gave up after {self.retries} retries)", status)
                delay = min(self.backoff * 2 ** (failures - 1), _MAX_DELAY)
                log.warning(
                    "download %s: %s; retry %d/%d in %.2f s from byte %d",
                    self.shown,
                    cause,
                    failures,
                    self.retries,
                    delay,
                    self.offset,
                )
                self._sleep(delay)
            return self._finish()
        except BaseException:
            if self.file is not None:
                self.file.close()
            if self.discard:
                with contextlib.suppress(FileNotFoundError):
                    self.part.unlink()
            raise
        finally:
            self.hashes.close()

    def _error(self, reason: str, status: int | None = None) -> TransferError:
        return TransferError(_scrub(f"download {self.shown}: {reason}", self.secrets), status)

    def _check_stop(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise self._error("cancelled")

    def _sleep(self, delay: float) -> None:
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            self._check_stop()
            time.sleep(min(left, 0.05))

    # -- the partial file --------------------------------------------------------------------
    def _open_part(self) -> None:
        try:
            fd = os.open(self.part, os.O_RDWR | os.O_CREAT, 0o644)
            self.file = os.fdopen(fd, "r+b")
            existing = os.fstat(fd).st_size
            if existing > self.limit:
                log.info("download %s: the partial file is larger than the limit; starting over", self.shown)
                self._restart()
            elif existing:
                while data := self.file.read(self.chunk):
                    self.hashes.update(data)
                    self.offset += len(data)
                log.info(
                    "download %s: resuming after the %d bytes already in %s",
                    self.shown,
                    self.offset,
                    self.part,
                )
        except OSError as exc:
            raise self._error(f"cannot use {self.part}: {exc.strerror or exc}") from None

    def _restart(self) -> None:
        assert self.file is not None
        self.file.seek(0)
        self.file.truncate()
        self.offset = 0
        self.total = None
        self.hashes.reset()

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        assert self.file is not None
        try:
            self.file.write(data)
        except OSError as exc:
            raise self._error(f"cannot write {self.part}: {exc.strerror or exc}") from None
        self.hashes.update(data)
        self.offset += len(data)

    def _finish(self) -> Downloaded:
        assert self.file is not None
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.part, self.dest)
        except OSError as exc:
            raise self._error(f"cannot move {self.part} to {self.dest}: {exc.strerror or exc}") from None
        log.info("downloaded %s: %d bytes to %s", self.shown, self.offset, self.dest)
        return Downloaded(self.dest, self.offset, *self.hashes.hexdigests())

    def _refuse(self, reason: str) -> TransferError:
        self.discard = True
        return self._error(reason)

    # -- one attempt: the request, its redirects and the body --------------------------------
    def _attempt(self) -> bool:
        """Read the rest of the file; True once it is all in, False if the body ended early."""
        target = self.start
        hops = 0
        while True:
            headers = {"Accept-Encoding": "identity"}
            if self.token and self._trusted(target):
                headers["Authorization"] = f"Bearer {self.token}"
            if self.offset:
                headers["Range"] = f"bytes={self.offset}-"
                if self.etag:
                    headers["If-Range"] = self.etag
            connection = self.connector.open(target)
            try:
                try:
                    connection.request("GET", target.path, headers=headers)
                    response = connection.getresponse()
                except ssl.SSLCertVerificationError as exc:
                    raise self._error(_cause(exc)) from None
                except (OSError, http.client.HTTPException) as exc:
                    raise _Retry(_cause(exc)) from None
                status = response.status
                if status in _REDIRECTS:
                    hops += 1
                    target = self._redirect(target, response.getheader("Location"), status, hops)
                    continue
                if status == 416 and self.offset:
                    if self._part_is_whole(response.getheader("Content-Range")):
                        return True
                    log.info(
                        "download %s: the partial file does not fit the server's; starting over", self.shown
                    )
                    self._restart()
                    continue
                return self._body(response)
            finally:
                connection.close()

    def _trusted(self, target: _Target) -> bool:
        """The token goes to the URL's own host only (also once upgraded to https)."""
        start = self.start
        return target.host == start.host and (target.port == start.port or target.scheme == "https")

    def _redirect(self, target: _Target, location: str | None, status: int, hops: int) -> _Target:
        if not location:
            raise self._error(f"HTTP {status} redirect without a Location", status)
        if hops > _MAX_REDIRECTS:
            raise self._error(f"more than {_MAX_REDIRECTS} redirects", status)
        following = _parse(urllib.parse.urljoin(target.url, location), "download")
        if following.query:
            self.secrets.append(following.query)
        if target.scheme == "https" and following.scheme == "http":
            raise self._error(f"refused a redirect from https to plain http ({following.shown})", status)
        log.info("download %s: HTTP %d, redirected to %s", self.shown, status, following.shown)
        return following

    def _part_is_whole(self, content_range: str | None) -> bool:
        match = _CONTENT_RANGE.match(content_range or "")
        if match and match.group(3) != "*" and int(match.group(3)) == self.offset:
            self.total = self.offset
            return True
        return False

    def _body(self, response: http.client.HTTPResponse) -> bool:
        status = response.status
        reason = response.reason
        if 400 <= status < 500:
            raise self._error(f"HTTP {status} {reason}", status)
        if status >= 500:
            raise _Retry(f"HTTP {status} {reason}", status)
        length = response.length  # None for a chunked body or one that ends with the connection
        if status == 200:
            if self.offset:
                log.info("download %s: the server ignored Range; reading from the start", self.shown)
                self._restart()
            self.total = length
            etag = response.getheader("ETag")
            self.etag = etag if etag and not etag.startswith("W/") else None
        elif status == 206:
            self._check_range(response.getheader("Content-Range"), length)
        else:
            raise self._error(f"unexpected HTTP {status} {reason}", status)
        if self.total is not None:
            if self.total > self.limit:
                raise self._refuse(
                    f"the file is {self.total} bytes, more than {self.limit_name} ({self.limit})"
                )
            if self.size is not None and self.total != self.size:
                raise self._refuse(f"the file is {self.total} bytes, not the announced {self.size}")
        expected = self.total if self.total is not None else self.size
        while True:
            self._check_stop()
            try:
                buffer = bytearray(self.chunk)  # a fresh one each time: the MD5 thread may hold the last
                n = response.readinto(buffer)
            except (OSError, http.client.HTTPException) as exc:
                raise _Retry(_cause(exc)) from None
            if not n:
                break
            if self.offset + n > self.limit:
                raise self._refuse(f"the body is larger than {self.limit_name} ({self.limit} bytes)")
            self._write(memoryview(buffer)[:n] if n < self.chunk else buffer)
            if self.on_progress is not None:
                self.on_progress(self.offset, expected)
        return expected is None or self.offset == expected

    def _check_range(self, content_range: str | None, length: int | None) -> None:
        match = _CONTENT_RANGE.match(content_range or "")
        if not match or match.group(1) is None:
            raise self._error(f"HTTP 206 with an unusable Content-Range {content_range!r}", 206)
        first = int(match.group(1))
        if first != self.offset:
            raise self._error(f"asked for bytes from {self.offset}, the server sent from {first}", 206)
        if match.group(3) != "*":
            self.total = int(match.group(3))
        elif length is not None:
            self.total = self.offset + length


def download(
    url: str,
    dest: Path,
    *,
    token: str | None = None,
    size: int | None = None,
    max_bytes: int = 1 << 31,
    tls: TlsOptions | None = None,
    timeout: float = 30.0,
    retries: int = 5,
    backoff: float = 0.5,
    on_progress: Callable[[int, int | None], None] | None = None,
    chunk: int = 1 << 16,
    should_stop: Callable[[], bool] | None = None,
    md5: bool = True,
) -> Downloaded:
    """Download ``url`` to ``dest`` (through ``dest.part``), resuming after a dropped connection.

    ``token`` is sent as ``Authorization: Bearer {token}``. ``size`` is the size the sender
    announced: a body of another size is refused, as is one above ``max_bytes``. A 4xx fails at
    once; a 5xx, a time-out (``timeout`` seconds per connect or read) or a dropped connection is
    retried up to ``retries`` times in a row without progress, waiting ``backoff`` seconds
    doubled each time (at most 30). ``on_progress(bytes_so_far, total or None)`` runs after each
    ``chunk`` bytes; ``should_stop()`` returning true ends it with "cancelled". On failure the
    ``.part`` file stays (a later call resumes it) unless its content is known to be wrong.
    ``md5=False`` skips the MD5 (the slowest step; ``Downloaded.md5`` is then "").
    Raises :class:`TransferError`.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1 byte, not {chunk}")
    if max_bytes < 0 or (size is not None and size < 0):
        raise ValueError("size and max_bytes cannot be negative")
    if retries < 0 or backoff < 0 or timeout <= 0:
        raise ValueError("retries and backoff cannot be negative, and timeout must be positive")
    if token is not None and (_UNPRINTABLE.search(token) or not token.isascii()):
        raise ValueError("token must be printable ASCII (it goes into an HTTP header)")
    job = _Download(
        url,
        Path(dest),
        token,
        size,
        max_bytes,
        tls,
        timeout,
        retries,
        backoff,
        on_progress,
        chunk,
        should_stop,
        md5,
    )
    log.info("downloading %s to %s", job.shown, job.dest)
    return job.run()


def upload(
    url: str,
    data: bytes | Path,
    *,
    method: str = "PUT",
    headers: Mapping[str, str] | None = None,
    tls: TlsOptions | None = None,
    timeout: float = 30.0,
) -> int:
    """Send ``data`` (bytes, or a file streamed from disk) to ``url`` in one request; return the
    HTTP status. Only ``Content-Length`` is added to ``headers`` (a presigned URL's signature
    may cover Content-Type, so none is invented). No redirects are followed and nothing is
    retried. Raises :class:`TransferError` on a non-2xx answer or an I/O failure."""
    target = _parse(url, "upload")
    shown = target.shown
    if not _METHOD.fullmatch(method):
        raise ValueError(f"upload method must be an upper-case HTTP method like PUT or POST, not {method!r}")
    sent = {k: v for k, v in (headers or {}).items() if k.lower() != "content-length"}
    secrets = [target.query, *sent.values()]
    if (
        target.scheme == "http"
        and not is_loopback(target.host)
        and any(k.lower() == "authorization" for k in sent)
    ):
        log.warning("upload %s: plain http, the Authorization header travels unencrypted", shown)
    with contextlib.ExitStack() as stack:
        body: bytes | BinaryIO
        if isinstance(data, (bytes, bytearray, memoryview)):
            body = bytes(data)
            length = len(body)
        else:
            try:
                body = stack.enter_context(Path(data).open("rb"))
                length = os.fstat(body.fileno()).st_size
            except OSError as exc:
                raise TransferError(f"upload {shown}: cannot read {data}: {exc.strerror or exc}") from None
        sent["Content-Length"] = str(length)
        connection = _Connector(tls, timeout, "upload", shown).open(target)
        stack.callback(connection.close)
        try:
            connection.request(method, target.path, body=body, headers=sent)
            response = connection.getresponse()
            response.read(1 << 16)  # a short answer; its text is not shown, it may echo the URL
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise TransferError(_scrub(f"upload {shown}: {_cause(exc)}", secrets)) from None
    status = response.status
    if not 200 <= status < 300:
        raise TransferError(_scrub(f"upload {shown}: HTTP {status} {response.reason}", secrets), status)
    log.info("uploaded %d bytes to %s (HTTP %d)", length, shown, status)
    return status
