"""One device's upgrades: offer -> download -> verify -> install -> report, vendor-neutral.

:class:`Upgrader` holds the sequence and no I/O: the download is a ``fetch`` function given to it
(an HTTP download on a thread for a live device, bytes from memory for ``FakeCloud``), which
reports back through ``progress`` and ``fetched`` on the device's worker. What it sends are
neutral uplinks (``UpgradeProgress``, ``ReportVersion``); each vendor codec encodes them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path

import attrs

from ..features.ota import Ota, Package
from ..protocol.messages import ReportVersion, UpgradeFailure, UpgradeOffer, UpgradeProgress, Uplink
from .scheduling import Clock

log = logging.getLogger("thingmodel.engine.ota")

__all__ = ["Downloaded", "Fetch", "Upgrader"]

#: seconds between two progress reports while downloading (Tencent's SDK does the same)
PROGRESS_EVERY = 1.0


@attrs.frozen
class Downloaded:
    """What a fetch produced: the file and the digests of all of its bytes."""

    path: Path
    size: int
    sha256: str
    md5: str


Progress = Callable[[int, "int | None"], None]
Fetched = Callable[["Downloaded | str"], None]
Fetch = Callable[[UpgradeOffer, Path, Progress, Fetched], None]
"""``fetch(offer, dest, progress, fetched)``: start getting ``offer.url`` into ``dest``; call
``progress(done, total)`` as bytes come and ``fetched(result)`` once with a :class:`Downloaded`
or the reason it failed. Both callbacks must be called on the device's worker."""


class Upgrader:
    """Runs one upgrade at a time for ``ota``; ``emit`` receives the uplinks; ``on_error`` is told
    ``(kind, reason)`` for each failure (the device's error log)."""

    def __init__(
        self,
        ota: Ota,
        emit: Callable[[Uplink], None],
        fetch: Fetch,
        clock: Clock,
        on_error: Callable[[str, str], None],
    ) -> None:
        self.ota = ota
        self.emit = emit
        self.fetch = fetch
        self.clock = clock
        self.on_error = on_error
        #: the offer being worked on (None: idle)
        self.current: UpgradeOffer | None = None
        self._last_progress: float | None = None
        self._last_percent = 0

    @property
    def busy(self) -> bool:
        return self.current is not None

    def report_version(self) -> None:
        """Say which versions the device runs (on connect, and when the cloud asks)."""
        try:
            version = self.ota.version()
            software = self.ota.software_version()
        except Exception as exc:
            self.on_error("ota", f"version() raised {exc!r}")
            return
        if self.ota.kind == "software":
            self.emit(ReportVersion(None, version))
        else:
            self.emit(ReportVersion(version, software))

    def offer(self, offer: UpgradeOffer) -> None:
        """The cloud offers a package: refuse it, or start downloading it."""
        if self.current is not None:
            self._fail(offer, "busy", f"an upgrade to {self.current.version} is running", keep_current=True)
            return
        if not (offer.sha256 or offer.md5):
            self._fail(offer, "verify", "the offer carries no hash to check the package against")
            return
        if offer.kind != self.ota.kind:
            self._fail(offer, "unsupported", f"this device takes {self.ota.kind} upgrades, not {offer.kind}")
            return
        try:
            running = self.ota.version()
        except Exception as exc:
            self._fail(offer, "install", f"version() raised {exc!r}")
            return
        if running == offer.version:
            self._fail(offer, "current", f"version {offer.version} is already installed")
            return
        self.current = offer
        self._last_progress, self._last_percent = None, 0
        log.info("upgrade to %s: downloading", offer.version)
        self.emit(UpgradeProgress(offer.version, "downloading", 0, offer.task_id))
        name = Path(offer.url.split("?", 1)[0]).name or "package.bin"
        dest = self.ota.directory() / f"{_safe(offer.version)}-{_safe(name)}"
        self.fetch(offer, dest, self.progress, self.fetched)

    def progress(self, done: int, total: int | None) -> None:
        """Bytes arrived; reported at most once per :data:`PROGRESS_EVERY` seconds."""
        offer = self.current
        if offer is None:
            return
        total = total or offer.size
        if not total:
            return
        now = self.clock().timestamp()
        if self._last_progress is not None and now - self._last_progress < PROGRESS_EVERY:
            return
        percent = min(99, math.floor(done * 100 / total))
        if percent == self._last_percent:
            return
        self._last_progress, self._last_percent = now, percent
        self.emit(UpgradeProgress(offer.version, "downloading", percent, offer.task_id))

    def fetched(self, result: Downloaded | str) -> None:
        """The download ended: verify, install, report."""
        offer = self.current
        if offer is None:
            return
        if isinstance(result, str):
            self._fail(offer, "download", result)
            return
        try:
            problem = _mismatch(offer, result)
            if problem is not None:
                self._fail(offer, "verify", problem)
                return
            self.emit(UpgradeProgress(offer.version, "installing", 100, offer.task_id))
            package = Package(result.path, offer.version, result.size, result.sha256, result.md5, offer.kind)
            try:
                self.ota.install(package)
            except Exception as exc:
                self._fail(offer, "install", f"install() raised {exc!r}")
                return
            log.info("upgrade to %s: installed", offer.version)
            self.current = None
            self.emit(UpgradeProgress(offer.version, "succeeded", 100, offer.task_id))
            self.report_version()
        finally:
            result.path.unlink(missing_ok=True)

    def _fail(
        self, offer: UpgradeOffer, failure: UpgradeFailure, reason: str, *, keep_current: bool = False
    ) -> None:
        if not keep_current:
            self.current = None
        self.on_error("ota", f"upgrade to {offer.version} failed ({failure}): {reason}")
        try:
            running: str | None = self.ota.version()
        except Exception:
            running = None
        self.emit(
            UpgradeProgress(
                offer.version, "failed", None, offer.task_id, failure, reason, current_version=running
            )
        )


def _mismatch(offer: UpgradeOffer, got: Downloaded) -> str | None:
    """Why the downloaded bytes are not the offered package, or None."""
    if offer.size is not None and got.size != offer.size:
        return f"size {got.size} bytes, the offer says {offer.size}"
    if offer.sha256 and got.sha256 != offer.sha256.lower():
        return f"SHA-256 {got.sha256} does not match the offer's {offer.sha256.lower()}"
    if offer.md5 and got.md5 != offer.md5.lower():
        return f"MD5 {got.md5} does not match the offer's {offer.md5.lower()}"
    return None


def _safe(text: str) -> str:
    """``text`` fit for a file name (a version or URL segment can hold anything)."""
    kept = "".join(c if c.isalnum() or c in "._-" else "_" for c in text)[:64]
    return kept.lstrip(".") or "x"
