"""A device's features beyond its services, joined to its core: OTA, device info, log shipping,
file URLs, on-device rules (:class:`RuleRunner`). No I/O: the live ``Device`` and ``FakeCloud``
both build one and give it their own download (``fetch``) and thread (``submit``).

What a vendor cannot carry is a :class:`~thingmodel.errors.NotSupported` when the feature is set
up, never a surprise at the first message: :func:`require` checks the codec's encoder table.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import NotSupported
from ..features.files import UrlRequests
from ..features.logs import CloudLogHandler
from ..features.ota import Ota
from ..features.rules import Firing, RuleBook
from ..protocol.codec import DeviceCodec
from ..protocol.messages import (
    AckDesired,
    AskFileUrl,
    AskRules,
    FileUrl,
    LogConfig,
    ReportInfo,
    RulesChanged,
    RulesDelivered,
    ShipLogs,
    UpgradeOffer,
    UpgradeProgress,
    VersionQuery,
)
from .commands import CODE_OK
from .core import DeviceCore
from .ota import Fetch, Upgrader
from .scheduling import Clock

log = logging.getLogger("thingmodel.engine.features")

__all__ = ["DeviceFeatures", "RuleRunner", "require"]

#: what each feature needs the vendor to send, and what to tell a user whose vendor cannot
_NEEDS: dict[str, tuple[type, str]] = {
    "OTA": (UpgradeProgress, "its platform has no OTA protocol"),
    "device info": (ReportInfo, "its protocol has no device-info report"),
    "log shipping": (ShipLogs, "it takes device logs over its own HTTP upload, not MQTT"),
    "file transfer": (AskFileUrl, "it has no file service over MQTT (use presigned URLs)"),
    "rules": (AskRules, "its platform pushes no on-device rules"),
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
    no device-info report: the Tencent hub). ``rules``: run the cloud's on-device rules
    (:class:`RuleRunner`); None (the default) runs them where the vendor pushes any (Huawei),
    True insists (NotSupported elsewhere), False ignores them (a write of rule versions is still
    answered with success)."""

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
        rules: bool | None = None,
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
        if rules:
            require(codec, vendor, "rules")
        #: the on-device rules (None: this device runs none)
        self.rules: RuleRunner | None = None
        if rules is not False and AskRules in codec.encoders.kinds:
            self.rules = RuleRunner(core, getattr(codec, "device_id", None))
            handlers[RulesChanged] = self.rules.changed
            handlers[RulesDelivered] = self.rules.delivered
            core.on_reported.append(self.rules.reported)
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


#: the schedule key of the rules' timers (no service id holds a NUL)
_RULES_JOB = "\0rules"
#: the longest the timer job sleeps before it reads the wall clock again (it may be corrected)
RULES_RECHECK = 300.0
#: how many times in a row rules' actions may make reports that fire rules again
MAX_CHAIN = 8


#: firings a RuleRunner keeps (at least; at most twice as many)
MAX_FIRED = 100


class RuleRunner:
    """On-device rules joined to the core (:mod:`thingmodel.features.rules` does the work).

    A write of rule versions (:class:`RulesChanged`) is answered with success and the rules the
    device lacks are asked for (:class:`AskRules`); the rules that come (:class:`RulesDelivered`)
    are parsed once, a refused one reported as a ``rule`` error naming it and the field. After
    every report the core makes, the rules that became true fire; timers fire on the core's
    scheduler, at the time read from ``core.wall_clock`` (UTC). An action is the core's own
    command call, on the worker; one that fails is a ``rule`` error. Reports an action makes are
    evaluated once the actions have run (never inside them), at most :data:`MAX_CHAIN` rounds.
    Everything runs under one lock: a service's ``report()`` may come from any thread.
    """

    def __init__(self, core: DeviceCore, device_id: str | None = None) -> None:
        self.core = core
        self.book = RuleBook(device_id)
        #: the latest firings, newest last (bounded)
        self.fired: list[Firing] = []  # a list, trimmed as it grows: a deque costs 0.7 KiB a device
        self._firing = False
        self._later: list[Mapping[str, Mapping[str, Any]]] = []
        self._lock = threading.RLock()  # re-entrant: actions report on the thread that fires them
        #: the longest the timer job sleeps before reading the wall clock again (None: sleep until
        #: due, for a wall clock that is the scheduler's own, as FakeCloud's)
        self.recheck: float | None = RULES_RECHECK

    def _now(self) -> float:
        return self.core.wall_clock()

    def changed(self, event: RulesChanged) -> None:
        with self._lock:
            ask, deleted = self.book.changed(event.versions)
        if event.request_id is not None:
            self.core.emit(AckDesired(event.request_id))
        if ask or deleted:
            self.core.emit(AskRules(ask, deleted))
        if deleted:
            log.info("rules deleted by the cloud: %s", ", ".join(deleted))
            with self._lock:
                self._schedule()

    def delivered(self, event: RulesDelivered) -> None:
        with self._lock:
            taken, refused = self.book.deliver(event.rules, self._now())
        for error in refused:
            reason = f"{error.field}: {error.reason}" if error.field else error.reason
            self.core.report_error("rule", None, error.rule_id, f"refused: {reason}")
        for rule in taken:
            state = "active" if rule.active else "inactive"
            log.info("rule %s version %d taken (%s)", rule.rule_id, rule.version, state)
        with self._lock:
            self._schedule()

    def reported(self, services: Mapping[str, Mapping[str, Any]]) -> None:
        with self._lock:
            if self._firing:  # a report an action made: evaluated once the actions have run
                self._later.append(services)
                return
            if not self.book.rules:  # most devices: nothing to evaluate, so no clock and no firing
                self.book.remember(services)
                return
            self._fire(self.book.reported(services, self._now()))

    def _tick(self) -> None:
        with self._lock:
            self._fire(self.book.due(self._now()))
            self._schedule()

    def _fire(self, firings: list[Firing]) -> None:
        self._firing = True
        try:
            for _ in range(MAX_CHAIN + 1):
                for firing in firings:
                    self._run(firing)
                if not self._later:
                    return
                later, self._later = self._later, []
                now = self._now()
                firings = [f for services in later for f in self.book.reported(services, now)]
            self._later.clear()
            self.core.report_error(
                "rule", None, None, f"rules' actions kept firing rules {MAX_CHAIN} times in a row: stopped"
            )
        finally:
            self._firing = False

    def _run(self, firing: Firing) -> None:
        rule = firing.rule
        log.info("rule %s fired (%s)", rule.rule_id, firing.by)
        self.fired.append(firing)
        if len(self.fired) > 2 * MAX_FIRED:
            del self.fired[:-MAX_FIRED]
        for action in rule.actions:
            response = self.core.call(
                action.service_id, action.name, dict(action.params), f"rule-{rule.rule_id}"
            )
            if response.code != CODE_OK:
                why = response.params.get("error", dict(response.params))
                self.core.report_error(
                    "rule",
                    action.service_id,
                    rule.rule_id,
                    f"action {action.name} failed ({response.code}): {why}",
                )

    def _schedule(self) -> None:
        due = self.book.next_due()
        if due is None:
            self.core.auto_reports.cancel(_RULES_JOB)
            return
        delay = max(due - self._now(), 0.001)
        if self.recheck is not None:
            delay = min(delay, self.recheck)
        self.core.auto_reports.schedule(_RULES_JOB, delay, self._tick)
