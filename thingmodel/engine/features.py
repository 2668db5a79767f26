"""A device's features beyond its services, joined to its core: OTA, device info, log shipping,
file URLs. No I/O: the live ``Device`` and ``FakeCloud`` both build one and give it their own
download (``fetch``) and thread (``submit``).

What a vendor cannot carry is a :class:`~thingmodel.errors.NotSupported` when the feature is set
up, never a surprise at the first message: :func:`require` checks the codec's encoder table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import NotSupported
from ..features.files import UrlRequests
from ..features.logs import CloudLogHandler
from ..features.ota import Ota
from ..protocol.codec import DeviceCodec
from ..protocol.messages import (
    AskFileUrl,
    FileUrl,
    LogConfig,
    ReportInfo,
    ShipLogs,
    UpgradeOffer,
    UpgradeProgress,
    VersionQuery,
)
from .core import DeviceCore
from .ota import Fetch, Upgrader
from .scheduling import Clock

log = logging.getLogger("thingmodel.engine.features")

__all__ = ["DeviceFeatures", "require"]

#: what each feature needs the vendor to send, and what to tell a user whose vendor cannot
_NEEDS: dict[str, tuple[type, str]] = {
    "OTA": (UpgradeProgress, "its platform has no OTA protocol"),
    "device info": (ReportInfo, "its protocol has no device-info report"),
    "log shipping": (ShipLogs, "it takes device logs over its own HTTP upload, not MQTT"),
    "file transfer": (AskFileUrl, "it has no file service over MQTT (use presigned URLs)"),
}


def require(codec: DeviceCodec, vendor: str, feature: str) -> None:
    """NotSupported naming the vendor and the reason when ``codec`` cannot carry ``feature``."""
    kind, why = _NEEDS[feature]
    if kind not in codec.encoders.kinds:
        raise NotSupported(f"{vendor} has no {feature}: {why} (docs/vendors.md)")


def sdk_version() -> str:
    from .. import __version__

    return f"thingmodel {__version__}"


class DeviceFeatures:
    """The features of one device. ``ota``: its :class:`Ota` (None: none); ``info``: more facts
    for the device-info report (None with no ``ota``: no report; NotSupported on a vendor with
    no device-info report: the Tencent hub)."""

    def __init__(
        self,
        core: DeviceCore,
        codec: DeviceCodec,
        vendor: str,
        *,
        fetch: Fetch,
        clock: Clock,
        ota: Ota | None = None,
        info: Mapping[str, str] | None = None,
    ) -> None:
        self.core, self.codec, self.vendor = core, codec, vendor
        if ota is not None:
            if not isinstance(ota, Ota):
                raise TypeError(f"ota must be an Ota instance, not {type(ota).__name__}")
            require(codec, vendor, "OTA")
        if info is not None:
            require(codec, vendor, "device info")
            bad = [k for k, v in info.items() if not isinstance(k, str) or not isinstance(v, str)]
            if bad:
                raise TypeError(f"device info holds strings only: {', '.join(map(repr, bad))}")
        self.upgrader = Upgrader(ota, core.emit, fetch, clock, self._ota_error) if ota is not None else None
        self.info = dict(info or {})
        self.reports_info = (ota is not None or info is not None) and ReportInfo in codec.encoders.kinds
        self.urls = UrlRequests()
        self.log_handlers: list[CloudLogHandler] = []
        handlers: dict[type, Callable[[Any], None]] = {FileUrl: self._file_url, LogConfig: self._log_config}
        if self.upgrader is not None:
            handlers[UpgradeOffer] = self.upgrader.offer
            handlers[VersionQuery] = lambda _: self.upgrader.report_version()  # type: ignore[union-attr]
        core.feature_handlers.update(handlers)

    def announce(self) -> None:
        """After each connect (on the worker): the versions, and the device info."""
        if self.upgrader is not None:
            self.upgrader.report_version()
        if self.reports_info:
            self.core.emit(self._info())

    def _info(self) -> ReportInfo:
        fw = sw = None
        if self.upgrader is not None:
            try:
                ota = self.upgrader.ota
                fw, sw = (
                    (None, ota.version())
                    if ota.kind == "software"
                    else (ota.version(), ota.software_version())
                )
            except Exception as exc:
                self._ota_error("ota", f"version() raised {exc!r}")
        return ReportInfo(fw, sw, sdk_version(), self.info)

    def log_handler(self, submit: Callable[[Callable[[], None]], object], **options: Any) -> CloudLogHandler:
        require(self.codec, self.vendor, "log shipping")
        handler = CloudLogHandler(self.core.emit, submit, **options)
        self.log_handlers.append(handler)
        return handler

    def _log_config(self, config: LogConfig) -> None:
        if not self.log_handlers:
            log.info(
                "the cloud switched log shipping %s; no log handler is set up",
                "on" if config.enabled else "off",
            )
        for handler in self.log_handlers:
            handler.configure(config)

    def _file_url(self, answer: FileUrl) -> None:
        if not self.urls.resolve(answer):
            self.core.report_error(
                "file", None, answer.file_name, f"a {answer.direction} URL nobody asked for"
            )

    def _ota_error(self, kind: str, reason: str) -> None:
        self.core.report_error(kind, None, None, reason)
