"""Files the local cloud keeps on disk: the blobs behind OTA packages and the files devices
upload or fetch (Huawei ``$file_manager``), and the random tokens that let a device transfer one.

:class:`BlobDir` is a directory of blobs, each with a JSON sidecar of what it is, written through
a :class:`BlobWriter` that hashes (SHA-256 and MD5) and counts as it writes and refuses to grow
past its limit. A directory the caller names survives a restart (the sidecars are read back);
without one the blobs go to a private temporary directory removed on :meth:`BlobDir.close`.

:class:`FileStore` keeps each device's files by name (``max_files_per_device`` per device and
``max_bytes`` in all: the oldest go first). :class:`FileService` answers a device's
:class:`~thingmodel.protocol.messages.FileUrlRequested` with a URL on the cloud's HTTP server that
carries a token for that one device, name and direction, valid for ``expires`` seconds.
:class:`Tokens` keeps such tokens as SHA-256 digests, bounded, never the tokens themselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import attrs

from ..errors import InvalidValue
from ..protocol import messages as ev

log = logging.getLogger("thingmodel.cloud.files")

CHUNK = 1024 * 1024
"""Bytes read or written at a time."""
TOKEN_PREFIX = "tmtok_"
"""Every transfer token starts so; the feed hides what follows (:func:`redact`)."""
_TOKEN = re.compile(rb"tmtok_[A-Za-z0-9_-]+")
MAX_NAME = 255
Direction = Literal["upload", "download"]


class TooLarge(InvalidValue):
    """A blob would be larger than its store allows."""


class StoreFull(InvalidValue):
    """A store cannot make room (everything in it is in use)."""


def new_token() -> str:
    """A fresh random transfer token (``tmtok_`` and 32 URL-safe characters)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(24)


def redact(payload: bytes) -> bytes:
    """``payload`` with every transfer token replaced by ``tmtok_***`` (for the feed)."""
    if b"tmtok_" not in payload:
        return payload
    return _TOKEN.sub(b"tmtok_***", payload)


def validate_file_name(name: object) -> str:
    """A file's name as a device gives it: 1..255 bytes, levels split by ``/`` (none empty, no
    ``.`` or ``..``), no control characters; InvalidValue naming what is wrong."""
    if not isinstance(name, str):
        raise InvalidValue(f"a file name must be a string, got {type(name).__name__}")
    if not name or len(name.encode()) > MAX_NAME:
        raise InvalidValue(f"file name {name[:40]!r} must be 1..{MAX_NAME} bytes")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise InvalidValue(f"file name {name!r} contains a control character")
    if "\\" in name:
        raise InvalidValue(f"file name {name!r} contains a backslash")
    for level in name.split("/"):
        if level in ("", ".", ".."):
            raise InvalidValue(f"file name {name!r} has an empty, '.' or '..' part")
    return name


# --- blobs on disk ------------------------------------------------------------------------------
@attrs.frozen
class Written:
    """What a :class:`BlobWriter` wrote."""

    blob_id: str
    size: int
    sha256: str
    md5: str


class BlobWriter:
    """Writes one blob (``write`` as the bytes come, then ``finish`` or ``abort``); at most
    ``limit`` bytes, TooLarge past it (the partial file is removed)."""

    def __init__(self, directory: Path, limit: int, what: str) -> None:
        self.blob_id = secrets.token_hex(8)
        self.limit, self.what = limit, what
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._part = directory / f"{self.blob_id}.part"
        self._final = directory / f"{self.blob_id}.bin"
        self._file: Any = open(self._part, "xb")  # noqa: SIM115 - closed by finish/abort

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._file is None:
            raise InvalidValue(f"{self.what} is already finished")
        self.size += len(chunk)
        if self.size > self.limit:
            self.abort()
            raise TooLarge(f"{self.what} is over the limit of {self.limit} bytes")
        self._sha256.update(chunk)
        self._md5.update(chunk)
        self._file.write(chunk)

    def finish(self) -> Written:
        if self._file is None:
            raise InvalidValue(f"{self.what} is already finished")
        self._file.close()
        self._file = None
        os.replace(self._part, self._final)
        return Written(self.blob_id, self.size, self._sha256.hexdigest(), self._md5.hexdigest())

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._part.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self.abort()


class BlobDir:
    """A directory of blobs (``<id>.bin``) with JSON sidecars (``<id>.json``). ``directory``
    None: a private temporary directory, made on first use and removed by :meth:`close`."""

    def __init__(self, directory: Path | None, prefix: str) -> None:
        self._given = directory
        self._prefix = prefix
        self._dir: Path | None = None
        self._lock = threading.Lock()

    @property
    def directory(self) -> Path:
        with self._lock:
            if self._dir is None:
                if self._given is None:
                    self._dir = Path(tempfile.mkdtemp(prefix=self._prefix))
                else:
                    self._given.mkdir(mode=0o700, parents=True, exist_ok=True)
                    self._dir = self._given
            return self._dir

    @property
    def persistent(self) -> bool:
        return self._given is not None

    def writer(self, limit: int, what: str) -> BlobWriter:
        return BlobWriter(self.directory, limit, what)

    def path(self, blob_id: str) -> Path:
        return self.directory / f"{blob_id}.bin"

    def save_meta(self, blob_id: str, meta: dict[str, Any]) -> None:
        if not self.persistent:
            return
        target = self.directory / f"{blob_id}.json"
        temporary = target.with_suffix(".json.part")
        temporary.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(temporary, target)

    def delete(self, blob_id: str) -> None:
        with contextlib.suppress(OSError):
            self.path(blob_id).unlink(missing_ok=True)
            (self.directory / f"{blob_id}.json").unlink(missing_ok=True)

    def load(self) -> Iterator[dict[str, Any]]:
        """The sidecars of a persistent directory whose blobs are whole (leftovers are removed)."""
        if self._given is None or not self._given.is_dir():
            return
        directory = self.directory
        for part in directory.glob("*.part"):
            part.unlink(missing_ok=True)
        for sidecar in sorted(directory.glob("*.json")):
            blob = sidecar.with_suffix(".bin")
            try:
                meta = json.loads(sidecar.read_text(encoding="utf-8"))
                whole = isinstance(meta, dict) and blob.stat().st_size == meta.get("size")
            except (OSError, ValueError):
                whole = False
            if whole:
                yield meta
            else:
                log.warning("%s: dropping %s (its blob is missing or not whole)", directory, sidecar.name)
                sidecar.unlink(missing_ok=True)
                blob.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            if self._given is None and self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None


def write_all(writer: BlobWriter, data: bytes | bytearray | memoryview | Path) -> Written:
    """Write ``data`` (bytes, or a file read in chunks) through ``writer`` and finish it."""
    with writer:
        if isinstance(data, Path):
            try:
                with open(data, "rb") as source:
                    while chunk := source.read(CHUNK):
                        writer.write(chunk)
            except OSError as exc:
                raise InvalidValue(f"cannot read {data}: {exc.strerror}") from None
        elif isinstance(data, (bytes, bytearray, memoryview)):
            view = memoryview(data)
            for start in range(0, len(view), CHUNK):
                writer.write(view[start : start + CHUNK])
        else:
            raise InvalidValue(f"the data must be bytes or a Path, got {type(data).__name__}")
        return writer.finish()


# --- tokens ---------------------------------------------------------------------------------------
class Tokens:
    """Transfer tokens and what each is good for (a ``scope`` tuple), until it expires or is
    revoked; at most ``max_tokens`` (the oldest go first). Only SHA-256 digests are kept.
    Thread-safe."""

    def __init__(self, *, max_tokens: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.max_tokens = max_tokens
        self.clock = clock
        self._scopes: OrderedDict[bytes, tuple[tuple[str, ...], float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "replace")).digest()

    def issue(self, scope: tuple[str, ...], ttl: float, token: str | None = None) -> str:
        """A new token (or ``token``) for ``scope``, valid for ``ttl`` seconds."""
        token = token or new_token()
        with self._lock:
            self._scopes[self._key(token)] = (scope, self.clock() + ttl)
            while len(self._scopes) > self.max_tokens:
                self._scopes.popitem(last=False)
        return token

    def scope(self, token: str | None) -> tuple[str, ...] | None:
        """What ``token`` is good for (None: unknown, revoked or expired)."""
        if not token:
            return None
        key = self._key(token)
        with self._lock:
            found = self._scopes.get(key)
            if found is None:
                return None
            if found[1] < self.clock():
                del self._scopes[key]
                return None
            return found[0]

    def revoke(self, token: str) -> None:
        with self._lock:
            self._scopes.pop(self._key(token), None)

    def revoke_where(self, matches: Callable[[tuple[str, ...]], bool]) -> int:
        """Revoke every token whose scope ``matches``; how many."""
        with self._lock:
            doomed = [key for key, (scope, _) in self._scopes.items() if matches(scope)]
            for key in doomed:
                del self._scopes[key]
        return len(doomed)

    def __len__(self) -> int:
        with self._lock:
            return len(self._scopes)


# --- devices' files -------------------------------------------------------------------------------
@attrs.frozen
class StoredFile:
    """One file the cloud keeps for a device."""

    device_id: str
    name: str
    size: int
    sha256: str
    #: Unix seconds it was stored
    stored: float
    #: who put it there: ``"device"`` (an upload) or ``"cloud"`` (:meth:`FileStore.put`)
    source: str = "cloud"
    blob_id: str = attrs.field(default="", repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "stored": self.stored,
            "source": self.source,
        }


class FileStore:
    """Each device's files by name, on disk: at most ``max_file_bytes`` each,
    ``max_files_per_device`` per device and ``max_bytes`` in all (the oldest file goes first).
    Thread-safe."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        max_file_bytes: int = 64 * 1024 * 1024,
        max_files_per_device: int = 100,
        max_bytes: int = 1024 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.blobs = BlobDir(directory, "thingmodel-files-")
        self.max_file_bytes = max_file_bytes
        self.max_files_per_device = max_files_per_device
        self.max_bytes = max_bytes
        self.clock = clock
        self.size = 0
        self._files: OrderedDict[tuple[str, str], StoredFile] = OrderedDict()  # oldest first
        self._lock = threading.RLock()
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        found = []
        for meta in self.blobs.load():
            try:
                found.append(StoredFile(**meta))
            except TypeError:
                self.blobs.delete(str(meta.get("blob_id", "")))
        for stored in sorted(found, key=lambda f: f.stored):
            self._add(stored)

    def writer(self, device_id: str, name: str) -> BlobWriter:
        """A writer for a file of ``device_id`` (then :meth:`commit` it); InvalidValue for a bad
        name."""
        validate_file_name(name)
        return self.blobs.writer(self.max_file_bytes, f"file {name!r}")

    def commit(self, device_id: str, name: str, written: Written, source: str = "cloud") -> StoredFile:
        """Keep what ``writer`` wrote as ``device_id``'s file ``name`` (replacing one so named)."""
        stored = StoredFile(
            device_id, name, written.size, written.sha256, self.clock(), source, written.blob_id
        )
        with self._lock:
            self._load()
            self.blobs.save_meta(written.blob_id, attrs.asdict(stored))
            old = self._files.pop((device_id, name), None)
            if old is not None:
                self.size -= old.size
                self.blobs.delete(old.blob_id)
            self._add(stored)
        log.info("stored file %r of %s (%d bytes, from the %s)", name, device_id, stored.size, source)
        return stored

    def _add(self, stored: StoredFile) -> None:
        self._files[(stored.device_id, stored.name)] = stored
        self.size += stored.size
        mine = [key for key in self._files if key[0] == stored.device_id]
        for key in mine[: max(0, len(mine) - self.max_files_per_device)]:
            self._drop(key)
        while self.size > self.max_bytes and len(self._files) > 1:
            self._drop(next(iter(self._files)))

    def _drop(self, key: tuple[str, str]) -> None:
        old = self._files.pop(key)
        self.size -= old.size
        self.blobs.delete(old.blob_id)
        log.info("forgot file %r of %s (the store keeps the newest)", old.name, old.device_id)

    def put(self, device_id: str, name: str, data: bytes | Path, source: str = "cloud") -> StoredFile:
        """Store ``data`` (bytes, or a file's contents) as ``device_id``'s file ``name``."""
        return self.commit(device_id, name, write_all(self.writer(device_id, name), data), source)

    def info(self, device_id: str, name: str) -> StoredFile | None:
        with self._lock:
            self._load()
            return self._files.get((device_id, name))

    def open(self, device_id: str, name: str) -> tuple[StoredFile, Any] | None:
        """The file's record and an open binary file of it (the caller closes it), or None."""
        with self._lock:
            stored = self.info(device_id, name)
            if stored is None:
                return None
            try:
                return stored, open(self.blobs.path(stored.blob_id), "rb")
            except OSError:
                return None

    def read(self, device_id: str, name: str) -> bytes | None:
        opened = self.open(device_id, name)
        if opened is None:
            return None
        with opened[1] as file:
            data: bytes = file.read()
        return data

    def listing(self, device_id: str) -> list[StoredFile]:
        """``device_id``'s files, oldest first."""
        with self._lock:
            self._load()
            return [f for (owner, _), f in self._files.items() if owner == device_id]

    def remove(self, device_id: str, name: str) -> bool:
        with self._lock:
            self._load()
            if (device_id, name) not in self._files:
                return False
            self._drop((device_id, name))
            return True

    def close(self) -> None:
        self.blobs.close()


class FileService:
    """Answers devices' requests for a file URL: a URL on ``base_url()`` (the cloud's HTTP URL;
    None: no HTTP server) with a token for that device, name and direction, valid ``expires``
    seconds. The HTTP side checks the token (:meth:`allowed`)."""

    def __init__(
        self,
        store: FileStore,
        base_url: Callable[[], str | None],
        tokens: Tokens,
        *,
        expires: int = 3600,
    ) -> None:
        self.store, self.base_url, self.tokens, self.expires = store, base_url, tokens, expires

    def url(self, device_id: str, name: str, token: str) -> str:
        from urllib.parse import quote

        base = self.base_url()
        assert base is not None
        return f"{base}/thingmodel/v1/files/{quote(device_id, safe='')}/{quote(name)}?token={token}"

    def answer(self, event: ev.FileUrlRequested) -> ev.AnswerFileUrl | str:
        """The answer to ``event``, or why there is none (a reason for the log)."""
        if self.base_url() is None:
            return "this cloud has no HTTP server to transfer files (start it with an HTTP port)"
        try:
            name = validate_file_name(event.file_name)
        except InvalidValue as exc:
            return str(exc)
        token = self.tokens.issue((event.direction, event.device_id, name), self.expires)
        return ev.AnswerFileUrl(
            event.device_id,
            event.direction,
            name,
            self.url(event.device_id, name, token),
            self.expires,
            dict(event.attributes),
        )

    def allowed(self, token: str | None, direction: Direction, device_id: str, name: str) -> bool:
        return self.tokens.scope(token) == (direction, device_id, name)
