"""OTA on the cloud side: the package store, the upgrades of each device and what a vendor's
platform half says to devices about them.

:class:`PackageStore` keeps packages on disk (beside the shadow store, or in a private temporary
directory), hashed as they are written (SHA-256 and MD5), bounded in count and bytes: when full,
the least recently used package no running upgrade needs is forgotten; if every package is in
use, :class:`~.files.StoreFull`. The cloud's HTTP server serves them (:mod:`.http.packages`).

:class:`Upgrades` is the book of upgrades, without I/O: at most one runs per device; progress
reports move it through ``pending -> downloading -> installing -> succeeded | failed``; an
upgrade whose device says nothing for ``stall_timeout`` seconds fails (``timeout``). Finished
upgrades are kept, bounded (``per_device`` per device, ``history`` in all), and so are the
versions each device reported. Callers wait on it (:meth:`Upgrades.wait`).

:class:`OtaService` is what a vendor cloud (``ShadowCloud``, ``AwsCloud``) does with it: it
sends the offer (Huawei, Tencent: at once; AWS: a queued job and ``notify-next``), answers the
device's version reports (Tencent) and AWS Jobs' requests (start-next / describe, each update),
and reads the device's progress. Failures the cloud itself decides: ``timeout`` (the device went
silent), ``cancelled`` (:meth:`Upgrades.cancel`), ``version`` (it reported success with another
version than offered).
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import attrs

from ..errors import CodecError, InvalidValue, NotSupported
from ..protocol import messages as ev
from .activity import ProblemLog
from .files import BlobDir, BlobWriter, StoreFull, TooLarge, Written, write_all

log = logging.getLogger("thingmodel.cloud.ota")

UpgradeState = Literal["pending", "downloading", "installing", "succeeded", "failed"]
KINDS: tuple[ev.UpgradeKind, ...] = ("firmware", "software")
TERMINAL = frozenset({"succeeded", "failed"})
MAX_VERSION = 64
MAX_PACKAGE_NAME = 128
MAX_REASON = 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")

#: AWS Jobs' execution status of each state (a queued job is ``QUEUED`` until start-next)
JOB_STATUS: dict[str, str] = {
    "pending": "QUEUED",
    "downloading": "IN_PROGRESS",
    "installing": "IN_PROGRESS",
    "succeeded": "SUCCEEDED",
    "failed": "FAILED",
}
JOB_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "REMOVED", "CANCELED"})
JOB_STATUSES = frozenset({"QUEUED", "IN_PROGRESS"}) | JOB_TERMINAL


class UpgradeRunning(InvalidValue):
    """The device already runs an upgrade (one at a time)."""


# --- packages -------------------------------------------------------------------------------------
@attrs.frozen
class Package:
    """One package in the store: ``id`` names it in URLs; ``size`` in bytes; lowercase hex
    digests."""

    id: str
    name: str
    version: str
    size: int
    sha256: str
    md5: str
    kind: ev.UpgradeKind = "firmware"
    #: Unix seconds it was added
    added: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def validate_version(version: object) -> str:
    if not isinstance(version, str) or not version.strip():
        raise InvalidValue("a package's version must be a non-empty string")
    if len(version) > MAX_VERSION or not version.isprintable() or version != version.strip():
        raise InvalidValue(
            f"version {version[:80]!r} must be 1..{MAX_VERSION} printable characters, "
            "without leading or trailing spaces"
        )
    return version


def validate_kind(kind: object) -> ev.UpgradeKind:
    if kind not in KINDS:
        raise InvalidValue(f"an upgrade's kind is firmware or software, not {kind!r}")
    return kind


def validate_package_name(name: object) -> str:
    if not isinstance(name, str) or len(name) > MAX_PACKAGE_NAME or not _NAME.fullmatch(name):
        shown = name[:80] if isinstance(name, str) else name
        raise InvalidValue(
            f"package name {shown!r} must be 1..{MAX_PACKAGE_NAME} letters, digits and . _ + - "
            "(starting with a letter or digit)"
        )
    return name


def package_name_for(file_name: str) -> str:
    """A file's name made a package name (other characters become ``_``)."""
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", file_name).lstrip("._+-")[:MAX_PACKAGE_NAME]
    return name or "package.bin"


class PackageStore:
    """Packages on disk (``directory``; None: a private temporary one), at most ``max_packages``
    and ``max_bytes`` together. ``in_use(package_id)`` says which may not be forgotten to make
    room. The same bytes, version, kind and name added twice are one package. Thread-safe."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        max_packages: int = 32,
        max_bytes: int = 2 * 1024**3,
        in_use: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.blobs = BlobDir(directory, "thingmodel-packages-")
        self.max_packages = max_packages
        self.max_bytes = max_bytes
        self.in_use = in_use or (lambda _: False)
        self.clock = clock
        self._packages: OrderedDict[str, Package] = OrderedDict()  # least recently used first
        self._lock = threading.RLock()
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        found: list[Package] = []
        for meta in self.blobs.load():
            try:
                found.append(Package(**meta))
            except TypeError:
                self.blobs.delete(str(meta.get("id", "")))
        for package in sorted(found, key=lambda p: p.added):
            self._packages[package.id] = package

    @property
    def size(self) -> int:
        """Bytes stored."""
        with self._lock:
            self._load()
            return sum(p.size for p in self._packages.values())

    def writer(self) -> BlobWriter:
        """A :class:`~.files.BlobWriter` for a package's bytes as they come (then :meth:`commit`)."""
        return self.blobs.writer(self.max_bytes, "the package")

    def add(
        self,
        data: bytes | bytearray | memoryview | Path,
        *,
        version: str,
        name: str = "package.bin",
        kind: ev.UpgradeKind = "firmware",
    ) -> Package:
        """Store ``data`` (bytes, or a file read in chunks); InvalidValue for a bad version, name
        or kind, an empty package or a missing file; TooLarge, StoreFull when it cannot fit."""
        self._check(version, name, kind)
        return self.commit(write_all(self.writer(), data), version=version, name=name, kind=kind)

    @staticmethod
    def _check(version: str, name: str, kind: str) -> None:
        validate_version(version)
        validate_package_name(name)
        validate_kind(kind)

    def commit(
        self, written: Written, *, version: str, name: str = "package.bin", kind: ev.UpgradeKind = "firmware"
    ) -> Package:
        """Keep what a :meth:`writer` wrote as a package (the blob is removed on an error)."""
        try:
            self._check(version, name, kind)
            if written.size == 0:
                raise InvalidValue("a package must not be empty")
            with self._lock:
                self._load()
                for existing in self._packages.values():
                    if (existing.sha256, existing.version, existing.kind, existing.name) == (
                        written.sha256,
                        version,
                        kind,
                        name,
                    ):
                        self.blobs.delete(written.blob_id)
                        self._packages.move_to_end(existing.id)
                        return existing
                self._make_room(written.size)
                package = Package(
                    written.blob_id,
                    name,
                    version,
                    written.size,
                    written.sha256,
                    written.md5,
                    kind,
                    self.clock(),
                )
                self.blobs.save_meta(package.id, package.as_json())
                self._packages[package.id] = package
        except BaseException:
            self.blobs.delete(written.blob_id)
            raise
        log.info("stored package %s: %s %s %s (%d bytes)", package.id, kind, version, name, package.size)
        return package

    def _make_room(self, size: int) -> None:
        if size > self.max_bytes:
            raise TooLarge(f"a package of {size} bytes is over the store's limit of {self.max_bytes} bytes")
        used = sum(p.size for p in self._packages.values())
        for package in list(self._packages.values()):
            if len(self._packages) < self.max_packages and used + size <= self.max_bytes:
                return
            if self.in_use(package.id):
                continue
            del self._packages[package.id]
            used -= package.size
            self.blobs.delete(package.id)
            log.info("forgot package %s (%s %s) to make room", package.id, package.kind, package.version)
        if len(self._packages) >= self.max_packages or used + size > self.max_bytes:
            raise StoreFull(
                f"the package store is full ({len(self._packages)} packages, {used} bytes; at most "
                f"{self.max_packages} and {self.max_bytes} bytes) and every package is in use by an "
                "upgrade: wait for one to end"
            )

    def get(self, package_id: str) -> Package:
        """The package; InvalidValue if the store does not hold it."""
        found = self.find(package_id)
        if found is None:
            raise InvalidValue(f"package {package_id!r} is not in this cloud's store")
        return found

    def find(self, package_id: str) -> Package | None:
        with self._lock:
            self._load()
            found = self._packages.get(package_id)
            if found is not None:
                self._packages.move_to_end(package_id)
            return found

    def open(self, package_id: str) -> tuple[Package, Any] | None:
        """The package and an open binary file of it (the caller closes it), or None."""
        with self._lock:
            package = self.find(package_id)
            if package is None:
                return None
            try:
                return package, open(self.blobs.path(package.id), "rb")
            except OSError:
                return None

    def path(self, package_id: str) -> Path:
        return self.blobs.path(self.get(package_id).id)

    def packages(self) -> list[Package]:
        """Every package, the least recently used first."""
        with self._lock:
            self._load()
            return list(self._packages.values())

    def remove(self, package_id: str) -> bool:
        with self._lock:
            self._load()
            if self._packages.pop(package_id, None) is None:
                return False
            self.blobs.delete(package_id)
            return True

    def close(self) -> None:
        """Remove a private temporary directory (a named one stays)."""
        self.blobs.close()


# --- upgrades -------------------------------------------------------------------------------------
@attrs.frozen
class Upgrade:
    """One upgrade of one device, as it stands. ``percent`` 0..100 (None: not said); ``failure``
    the neutral reason class (``download``, ``verify``, ``install``, ``busy``, ``unsupported``,
    ``current``, or the cloud's ``timeout``, ``cancelled``, ``version``) and ``reason`` the
    words; ``started``/``ended``/``updated`` Unix seconds; ``revision`` counts its changes."""

    task_id: str
    device_id: str
    version: str
    kind: ev.UpgradeKind = "firmware"
    state: UpgradeState = "pending"
    percent: int | None = None
    failure: str | None = None
    reason: str = ""
    started: float = 0.0
    ended: float | None = None
    package_id: str | None = None
    updated: float = 0.0
    revision: int = 0

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def ok(self) -> bool:
        return self.state == "succeeded"

    def as_json(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "terminal": self.terminal}

    def describe(self) -> str:
        """``downloading 40%``, ``failed (verify): ...`` -- a person's reading."""
        if self.state == "failed":
            why = f" ({self.failure})" if self.failure else ""
            return f"failed{why}: {self.reason}" if self.reason else f"failed{why}"
        if self.percent is not None and self.state in ("downloading", "installing"):
            return f"{self.state} {self.percent}%"
        return self.state


@attrs.frozen
class DeviceVersions:
    """The versions a device said it runs (None: not said); ``updated`` Unix seconds."""

    fw_version: str | None = None
    sw_version: str | None = None
    updated: float = 0.0
    #: how many reports came (a waiter sees a new one)
    reports: int = 0


@attrs.define
class _Task:
    upgrade: Upgrade
    offer: ev.OfferUpgrade
    job_status: str = "QUEUED"
    job_version: int = 1


class Upgrades:
    """Every device's upgrades and versions; one upgrade runs per device at a time. ``on_change``
    is told each changed upgrade (outside the book's lock). Thread-safe."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        history: int = 1000,
        per_device: int = 20,
        max_devices: int = 100_000,
        stall_timeout: float = 3600.0,
        on_change: Callable[[Upgrade], None] | None = None,
    ) -> None:
        self.clock = clock
        self.history = history
        self.per_device = per_device
        self.max_devices = max_devices
        self.stall_timeout = stall_timeout
        self.on_change = on_change
        self._tasks: OrderedDict[str, _Task] = OrderedDict()  # oldest first
        self._running: dict[str, str] = {}  # device id -> task id
        self._versions: OrderedDict[str, DeviceVersions] = OrderedDict()
        self._changed = threading.Condition(threading.RLock())
        self._untold: list[Upgrade] = []  # changed under the lock, told once it is released

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._changed:
            self._expire()
            yield
            untold, self._untold = self._untold, []
        for upgrade in untold:
            self._tell(upgrade)

    # -- reading -------------------------------------------------------------------------------
    def get(self, task_id: str) -> Upgrade | None:
        with self._locked():
            task = self._tasks.get(task_id)
            return None if task is None else task.upgrade

    def require(self, task_id: str) -> Upgrade:
        found = self.get(task_id)
        if found is None:
            raise InvalidValue(f"no upgrade {task_id!r} (unknown, or forgotten: the cloud keeps the latest)")
        return found

    def running(self, device_id: str) -> Upgrade | None:
        with self._locked():
            task_id = self._running.get(device_id)
            return None if task_id is None else self._tasks[task_id].upgrade

    def of(self, device_id: str) -> list[Upgrade]:
        """The device's upgrades, oldest first."""
        with self._locked():
            return [t.upgrade for t in self._tasks.values() if t.upgrade.device_id == device_id]

    def latest(self, device_id: str) -> Upgrade | None:
        with self._locked():
            for task in reversed(self._tasks.values()):
                if task.upgrade.device_id == device_id:
                    return task.upgrade
            return None

    def packages_in_use(self) -> set[str]:
        with self._changed:
            return {
                pid
                for task_id in self._running.values()
                if (pid := self._tasks[task_id].upgrade.package_id) is not None
            }

    def offer(self, task_id: str) -> ev.OfferUpgrade | None:
        with self._changed:
            task = self._tasks.get(task_id)
            return None if task is None else task.offer

    def versions(self, device_id: str) -> DeviceVersions | None:
        with self._changed:
            return self._versions.get(device_id)

    # -- changes -------------------------------------------------------------------------------
    def begin(self, offer: ev.OfferUpgrade, package_id: str | None = None) -> Upgrade:
        """A new pending upgrade for ``offer`` (its ``task_id`` set); UpgradeRunning if the
        device runs one, InvalidValue for a task id in use."""
        if not offer.task_id:
            raise InvalidValue("an upgrade needs a task id")
        now = self.clock()
        with self._locked():
            running = self._running.get(offer.device_id)
            if running is not None:
                current = self._tasks[running].upgrade
                raise UpgradeRunning(
                    f"device {offer.device_id!r} is already upgrading (task {current.task_id}, to "
                    f"{current.version}: {current.describe()}); one upgrade runs at a time"
                )
            if offer.task_id in self._tasks:
                raise InvalidValue(f"task id {offer.task_id!r} is in use")
            upgrade = Upgrade(
                offer.task_id,
                offer.device_id,
                offer.version,
                offer.kind,
                started=now,
                package_id=package_id,
                updated=now,
            )
            self._tasks[offer.task_id] = _Task(upgrade, offer)
            self._running[offer.device_id] = offer.task_id
            self._trim()
            self._untold.append(upgrade)
            self._changed.notify_all()
        return upgrade

    def abandon(self, task_id: str) -> None:
        """Forget an upgrade whose offer could not be sent."""
        with self._changed:
            task = self._tasks.pop(task_id, None)
            if task is not None and self._running.get(task.upgrade.device_id) == task_id:
                del self._running[task.upgrade.device_id]
            self._changed.notify_all()

    def progress(self, event: ev.UpgradeReported) -> Upgrade | str:
        """Apply a progress report: the changed upgrade, or why the report changes nothing."""
        with self._locked():
            task = self._task_of(event.device_id, event.task_id)
            if isinstance(task, str):
                return task
            current = task.upgrade
            if current.terminal:
                return f"upgrade {current.task_id} has ended ({current.state}); the report changes nothing"
            state: UpgradeState = event.state
            failure: str | None = event.failure
            reason = event.reason[:MAX_REASON]
            if state == "succeeded" and event.version is not None and event.version != current.version:
                state, failure = "failed", "version"
                reason = f"it reports version {event.version!r} after the upgrade, not {current.version!r}"
            percent = event.percent if event.percent is None else max(0, min(100, event.percent))
            if state == "succeeded":
                percent = 100
            elif percent is None and state in (current.state, "failed"):
                percent = current.percent
            upgrade = self._change(task, state=state, percent=percent, failure=failure, reason=reason)
            if isinstance(event.code, str) and event.code in JOB_STATUSES:
                task.job_status = event.code
            else:
                task.job_status = JOB_STATUS[state]
            if state == "succeeded":
                self._set_versions(
                    current.device_id,
                    current.version if current.kind == "firmware" else None,
                    current.version if current.kind == "software" else None,
                    count=False,
                )
        return upgrade

    def cancel(self, task_id: str, reason: str = "cancelled by the application") -> Upgrade:
        """End a running upgrade as failed (``cancelled``); InvalidValue if unknown or ended."""
        with self._locked():
            task = self._tasks.get(task_id)
            if task is None:
                raise InvalidValue(f"no upgrade {task_id!r}")
            if task.upgrade.terminal:
                raise InvalidValue(f"upgrade {task_id} has ended already ({task.upgrade.state})")
            upgrade = self._change(task, state="failed", failure="cancelled", reason=reason)
            task.job_status = "CANCELED"
        return upgrade

    def reported_versions(self, device_id: str, fw_version: str | None, sw_version: str | None) -> None:
        with self._changed:
            self._set_versions(device_id, fw_version, sw_version, count=True)

    def _set_versions(self, device_id: str, fw: str | None, sw: str | None, *, count: bool) -> None:
        old = self._versions.pop(device_id, None) or DeviceVersions()
        self._versions[device_id] = DeviceVersions(
            fw if fw is not None else old.fw_version,
            sw if sw is not None else old.sw_version,
            self.clock(),
            old.reports + (1 if count else 0),
        )
        while len(self._versions) > self.max_devices:
            self._versions.popitem(last=False)
        self._changed.notify_all()

    # -- AWS Jobs ------------------------------------------------------------------------------
    def next_job(self, device_id: str, *, start: bool) -> tuple[ev.OfferUpgrade, str, int] | None:
        """The device's job to run (``(offer, status, version)``), moved to IN_PROGRESS when
        ``start`` (start-next); None: no job."""
        changed = None
        with self._locked():
            task_id = self._running.get(device_id)
            if task_id is None:
                return None
            task = self._tasks[task_id]
            if start and task.job_status == "QUEUED":
                task.job_status = "IN_PROGRESS"
                task.job_version += 1
                changed = task.upgrade
            found = (task.offer, task.job_status, task.job_version)
        if changed is not None:
            log.info("upgrade %s of %s: the device started the job", changed.task_id, device_id)
        return found

    def job(self, device_id: str, job_id: str) -> tuple[ev.OfferUpgrade, str, int] | None:
        """A job of the device, whatever its status (describe)."""
        with self._changed:
            task = self._tasks.get(job_id)
            if task is None or task.upgrade.device_id != device_id:
                return None
            return task.offer, task.job_status, task.job_version

    def job_update(self, event: ev.UpgradeReported) -> tuple[Upgrade | None, str | None, str]:
        """An AWS job update: ``(changed upgrade or None, rejection code or None, reason)``."""
        assert event.task_id is not None
        with self._locked():
            task = self._tasks.get(event.task_id)
            if task is None or task.upgrade.device_id != event.device_id:
                return None, "ResourceNotFound", f"job {event.task_id} of {event.device_id} does not exist"
            if task.job_status in JOB_TERMINAL or task.upgrade.terminal:
                return (
                    None,
                    "InvalidStateTransition",
                    f"job {event.task_id} is {task.job_status}: a terminal execution cannot be updated",
                )
            task.job_version += 1
        changed = self.progress(event)
        return (changed if isinstance(changed, Upgrade) else None), None, ""

    # -- waiting -------------------------------------------------------------------------------
    def wait(self, task_id: str, timeout: float, *, after: int | None = None) -> Upgrade:
        """The upgrade once it has ended (or, with ``after``, once its revision is past it), or
        as it stands when ``timeout`` passes; InvalidValue for an unknown task."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            upgrade = self.require(task_id)
            if upgrade.terminal or (after is not None and upgrade.revision > after):
                return upgrade
            left = deadline - time.monotonic()
            if left <= 0:
                return upgrade
            with self._changed:
                task = self._tasks.get(task_id)
                if task is not None and task.upgrade.revision == upgrade.revision:
                    # a stalled upgrade ends by the clock, not by a report: look again now and then
                    self._changed.wait(min(left, 1.0))

    def wait_versions(self, device_id: str, reports: int, timeout: float) -> DeviceVersions | None:
        """The device's versions once more than ``reports`` reports came, or None in time."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._changed:
            while True:
                found = self._versions.get(device_id)
                if found is not None and found.reports > reports:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    # -- plumbing ------------------------------------------------------------------------------
    def _task_of(self, device_id: str, task_id: str | None) -> _Task | str:
        if task_id is not None:
            task = self._tasks.get(task_id)
            if task is not None and task.upgrade.device_id == device_id:
                return task
            if device_id not in self._running:
                return f"a report about task {task_id!r}, which this cloud does not run"
        running = self._running.get(device_id)
        if running is None:
            return "a progress report, but no upgrade runs for the device"
        return self._tasks[running]

    def _change(self, task: _Task, **changes: Any) -> Upgrade:
        now = self.clock()
        old = task.upgrade
        upgrade = attrs.evolve(old, updated=now, revision=old.revision + 1, **changes)
        if upgrade.terminal and old.ended is None:
            upgrade = attrs.evolve(upgrade, ended=now)
            if self._running.get(upgrade.device_id) == upgrade.task_id:
                del self._running[upgrade.device_id]
        task.upgrade = upgrade
        self._untold.append(upgrade)
        self._changed.notify_all()
        return upgrade

    def _expire(self) -> None:
        if not self._running:
            return
        now = self.clock()
        for task_id in list(self._running.values()):
            task = self._tasks[task_id]
            if now - task.upgrade.updated > self.stall_timeout:
                reason = f"no word from the device for {self.stall_timeout:g} s"
                upgrade = self._change(task, state="failed", failure="timeout", reason=reason)
                task.job_status = "TIMED_OUT"
                log.warning("upgrade %s of %s failed: %s", upgrade.task_id, upgrade.device_id, reason)

    def _trim(self) -> None:
        per: dict[str, int] = {}
        for task in self._tasks.values():
            per[task.upgrade.device_id] = per.get(task.upgrade.device_id, 0) + 1
        for task_id, task in list(self._tasks.items()):
            if len(self._tasks) <= self.history and all(n <= self.per_device for n in per.values()):
                break
            device = task.upgrade.device_id
            if task.upgrade.terminal and (len(self._tasks) > self.history or per[device] > self.per_device):
                del self._tasks[task_id]
                per[device] -= 1

    def _tell(self, upgrade: Upgrade) -> None:
        if self.on_change is not None:
            try:
                self.on_change(upgrade)
            except Exception:
                log.exception("on_change of upgrade %s raised", upgrade.task_id)


def new_task_id() -> str:
    """A fresh task id: 12 decimal digits (an AWS job id, and an integer where Tencent wants one)."""
    return str(10**11 + secrets.randbelow(9 * 10**11))


# --- what a vendor cloud does -----------------------------------------------------------------------
class OtaService:
    """OTA for one vendor cloud: ``encode`` is its platform codec's, ``publish`` sends; ``jobs``
    (AWS) makes an offer a queued job. Called under the vendor cloud's lock."""

    def __init__(
        self,
        vendor: str,
        encode: Callable[[ev.PlatformDownlink], list[ev.Outgoing]],
        publish: Callable[[ev.Outgoing], None],
        sends: Iterable[type],
        problems: ProblemLog,
        *,
        jobs: bool = False,
        book: Upgrades | None = None,
    ) -> None:
        self.vendor = vendor
        self.encode = encode
        self.publish = publish
        self.sends = frozenset(sends)
        self.problems = problems
        self.jobs = jobs
        #: every device's upgrades and versions
        self.book = book or Upgrades()

    def start(self, offer: ev.OfferUpgrade, package_id: str | None = None) -> Upgrade:
        """Begin an upgrade and send its offer; InvalidValue (nothing kept) when the vendor
        cannot offer it, UpgradeRunning when the device runs one."""
        if ev.OfferUpgrade not in self.sends:
            raise NotSupported(f"{self.vendor} has no way to offer an upgrade")
        try:
            messages = self.encode(offer)
        except (CodecError, InvalidValue) as exc:
            raise InvalidValue(f"the offer cannot be sent to {offer.device_id}: {exc}") from None
        upgrade = self.book.begin(offer, package_id)
        try:
            for message in messages:
                self.publish(message)
        except BaseException:
            self.book.abandon(upgrade.task_id)
            raise
        how = "queued a job and told the device" if self.jobs else "offered it"
        log.info(
            "upgrade %s of %s to %s (%s, %d bytes): %s", offer.task_id, offer.device_id, offer.version,
            offer.kind, offer.size, how,
        )  # fmt: skip
        return upgrade

    def query_version(self, device_id: str) -> None:
        if ev.QueryVersion not in self.sends:
            raise NotSupported(
                f"{self.vendor} devices cannot be asked for their versions; they report them themselves"
            )
        self._send(ev.QueryVersion(device_id))

    def handle(self, event: ev.PlatformUplink) -> None:
        """A device's version report, progress, job request, or info (its versions)."""
        if isinstance(event, ev.VersionReported):
            self._versions(event)
        elif isinstance(event, ev.UpgradeReported):
            self._progress(event)
        elif isinstance(event, ev.JobRequested):
            self._job_requested(event)
        elif isinstance(event, ev.DeviceInfo):
            fw, sw = _info_versions(event.params)
            if fw is not None or sw is not None:
                self.book.reported_versions(event.device_id, fw, sw)

    def _versions(self, event: ev.VersionReported) -> None:
        fw, sw = _text(event.fw_version), _text(event.sw_version)
        self.book.reported_versions(event.device_id, fw, sw)
        log.info("device %s runs firmware %s, software %s", event.device_id, fw or "-", sw or "-")
        if ev.AnswerVersion in self.sends:
            self._send(ev.AnswerVersion(event.device_id, fw or sw))

    def _progress(self, event: ev.UpgradeReported) -> None:
        if self.jobs and event.task_id is not None:
            upgrade, code, reason = self.book.job_update(event)
            self._send(ev.AnswerJobUpdate(event.device_id, event.task_id, event.request_id, code, reason))
            if code is not None:
                self.problems.log(
                    logging.INFO, event.device_id, "job update", "job update from %s refused: %s",
                    event.device_id, reason,
                )  # fmt: skip
            elif upgrade is not None:
                self._said(upgrade)
            return
        changed = self.book.progress(event)
        if isinstance(changed, str):
            self.problems.log(
                logging.INFO, event.device_id, "stray progress", "device %s: %s", event.device_id, changed
            )
        else:
            self._said(changed)

    @staticmethod
    def _said(upgrade: Upgrade) -> None:
        level = logging.INFO if upgrade.state != "failed" else logging.WARNING
        log.log(level, "upgrade %s of %s: %s", upgrade.task_id, upgrade.device_id, upgrade.describe())

    def _job_requested(self, event: ev.JobRequested) -> None:
        if event.job_id is None:
            found = self.book.next_job(event.device_id, start=True)
        else:
            found = self.book.job(event.device_id, event.job_id)
        if found is None:
            answer = ev.AnswerJob(event.device_id, event.request_id, None, job_id=event.job_id)
        else:
            offer, status, version = found
            answer = ev.AnswerJob(event.device_id, event.request_id, offer, status, version, event.job_id)
        self._send(answer)

    def _send(self, message: ev.PlatformDownlink) -> None:
        try:
            outgoing = self.encode(message)
        except (CodecError, InvalidValue) as exc:
            self.problems.log(
                logging.WARNING, message.device_id, "unsendable ota", "%s to %s not sent: %s",
                type(message).__name__, message.device_id, exc,
            )  # fmt: skip
            if isinstance(message, ev.QueryVersion):
                raise InvalidValue(str(exc)) from None
            return
        for out in outgoing:
            self.publish(out)


def _text(value: object) -> str | None:
    return value[:MAX_VERSION] if isinstance(value, str) and value else None


def _info_versions(params: Any) -> tuple[str | None, str | None]:
    """Versions in a device's info (Huawei and AWS ``fw_version``/``sw_version``, Tencent
    ``fw_ver``/``module_softinfo``)."""
    if not isinstance(params, dict):
        return None, None
    fw = params.get("fw_version") or params.get("fw_ver")
    return _text(fw), _text(params.get("sw_version") or params.get("module_softinfo"))
