"""The fleet simulator: many devices of the same services, reporting generated values.

    plan = FleetPlan(make_services, classes, vendor="huawei", devices=2000, seconds=20)
    numbers = Simulation(plan, OwnCloud("huawei")).run()
    code, why = verdict(numbers)

A run: the cloud side starts (:mod:`.clouds`); the shard's devices connect, at most
``concurrency`` connects in flight, each starting to report once connected; when every device
has connected (or failed to) the fleet reports for ``seconds``; then reporting stops, each
device's worker finishes the reports it was asked for, the reports still on their way are
awaited (at most :data:`DRAIN_SECONDS`), the cloud is asked for each device's shadow, and the
devices disconnect. Ctrl-C (KeyboardInterrupt in the calling thread) skips to that end, so the
summary still comes.

Reports: one ticker thread, not one per device. Each device reports once connected, then at
its phase of the report period (its position in the shard, spread evenly). At each tick it sets
its properties from its generators (:mod:`.values`) and asks its worker for a report of every
service. A tick too late for its time is skipped and counted (``late``), not bunched with the
next.

Latency is from the device emitting a report (the engine's ``on_reported`` hook) to the cloud
side seeing it arrive (:class:`~.stats.Tally`).
"""

from __future__ import annotations

import concurrent.futures
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

import attrs

from ..declare.service import Service
from ..engine.core import DeviceError
from ..errors import ValidationError
from .clouds import CloudSide
from .report import Progress, RunNumbers, progress_line
from .shard import Shard, device_ids
from .stats import Tally
from .values import DeviceValues, ServicePlan, device_rng, plan_values

if TYPE_CHECKING:
    from ..device import Device

log = logging.getLogger("thingmodel.fleet")

DRAIN_SECONDS = 10.0
"""After the run, how long reports still on their way are awaited."""
SHADOW_SECONDS = 10.0
"""How long a shadow that is not there yet is looked for again (a running cloud may lag)."""
PROGRESS_TTY = 1.0
PROGRESS_LOG = 5.0
"""Seconds between progress lines: on a terminal (rewritten in place), and elsewhere."""


@attrs.frozen
class FleetPlan:
    """What to simulate. ``make_services()`` returns one device's fresh service instances, of
    ``classes`` in that order."""

    make_services: Callable[[], list[Service]]
    classes: tuple[type[Service], ...]
    vendor: str = "huawei"
    devices: int = 1
    shard: Shard = attrs.field(factory=Shard)
    prefix: str = "sim-"
    seconds: float = 30.0
    report_every: float = 5.0
    overrides: Mapping[str, str] = attrs.field(factory=dict)
    seed: int = 0
    concurrency: int = 64
    connect_timeout: float = 30.0
    username: str | None = None
    password: str | None = None


class _Member:
    """One simulated device."""

    __slots__ = ("device", "device_id", "due", "index", "offset", "services", "values")

    def __init__(self, index: int, device_id: str, offset: float) -> None:
        self.index, self.device_id, self.offset = index, device_id, offset
        self.device: Device | None = None
        self.services: list[Service] = []
        self.values: DeviceValues | None = None
        self.due = 0.0


class _Errors:
    """Errors counted by kind, with the first reason of each. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.reasons: dict[str, str] = {}

    def add(self, kind: str, reason: str) -> None:
        with self._lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.reasons.setdefault(kind, reason)
        log.debug("%s: %s", kind, reason)

    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())


class _Ticker:
    """Runs each device's ticks at its phase of the period, on one thread."""

    def __init__(self, period: float, tick: Callable[[_Member], None], clock: Callable[[], float]) -> None:
        self.period, self.tick, self.clock = period, tick, clock
        self.origin = clock()
        self.late = 0
        self._heap: list[tuple[float, int, _Member]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="fleet-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, member: _Member) -> None:
        """Start ticking ``member`` at the next time of its phase."""
        now = self.clock()
        first = self.origin + member.offset
        if first < now:
            first += -(-(now - first) // self.period) * self.period
        with self._wake:
            heapq.heappush(self._heap, (first, next(self._order), member))
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped:
                    wait = self._heap[0][0] - self.clock() if self._heap else None
                    if wait is not None and wait <= 0:
                        break
                    self._wake.wait(wait)
                if self._stopped:
                    return
                due, _, member = heapq.heappop(self._heap)
            try:
                self.tick(member)
            except Exception:  # a bug in a tick must not stop the fleet
                log.exception("the tick of %s failed", member.device_id)
            due += self.period
            now = self.clock()
            if due < now:
                missed = int((now - due) // self.period) + 1
                self.late += missed
                due += missed * self.period
            with self._wake:
                heapq.heappush(self._heap, (due, next(self._order), member))


class Simulation:
    """One run of a :class:`FleetPlan` against a cloud side; :meth:`run` returns its numbers."""

    def __init__(
        self,
        plan: FleetPlan,
        cloud: CloudSide,
        *,
        progress: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plan = plan
        self.cloud = cloud
        self.clock = clock
        self.progress = progress
        self.tty = progress.isatty() if tty is None and progress is not None else bool(tty)
        self.tally = Tally(clock)
        self.errors = _Errors()
        self.value_plans: list[ServicePlan] = plan_values(plan.classes, plan.overrides)
        ids = device_ids(plan.prefix, plan.devices, plan.shard)
        count = len(ids)
        self.members = [
            _Member(index, device_id, plan.report_every * position / count)
            for position, (index, device_id) in enumerate(ids)
        ]
        self._connected: list[_Member] = []
        self._connected_lock = threading.Lock()
        self._last_connect: float | None = None
        self._stop_progress = threading.Event()

    # -- the run -------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> RunNumbers:
        """Run the fleet (``stop`` ends it early, as Ctrl-C does) and return its numbers."""
        plan = self.plan
        stop = stop or threading.Event()
        self.cloud.start(self.tally.arrived)
        ticker = _Ticker(plan.report_every, self._tick, self.clock)
        progress = threading.Thread(target=self._show_progress, name="fleet-progress", daemon=True)
        interrupted = False
        started = self.clock()
        reporting = started
        try:
            ticker.start()
            if self.progress is not None:
                progress.start()
            interrupted = not self._connect_all(ticker, stop)
            reporting = self.tally.steady_since = self.clock()
            if not interrupted:
                interrupted = stop.wait(plan.seconds)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            ticker.stop()
            seconds = self.clock() - reporting
            try:
                drain = 1.0 if interrupted else DRAIN_SECONDS
                self._wait_for_workers(drain)
                self.tally.wait_drained(drain)
                self.tally.finish()
                self._stop_progress.set()
                if progress.is_alive():
                    progress.join()
                missing = self._missing_shadows(retry=not interrupted)
                devices = [m.device for m in self._connected if m.device is not None]
                offline = sum(1 for d in devices if not d.connected)
                if offline:
                    self.errors.add(
                        "offline at the end", f"{offline} devices were not connected when the run ended"
                    )
                dropped = sum(d.dropped for d in devices)
            finally:
                self._disconnect_all()
                self.cloud.stop()
        return self._numbers(started, seconds, missing, dropped, ticker.late, interrupted)

    def _connect_all(self, ticker: _Ticker, stop: threading.Event) -> bool:
        """Connect every member, at most ``concurrency`` at once; False if stopped first."""
        pool = concurrent.futures.ThreadPoolExecutor(
            self.plan.concurrency, thread_name_prefix="fleet-connect"
        )
        try:
            futures = [pool.submit(self._connect, member, ticker, stop) for member in self.members]
            for future in concurrent.futures.as_completed(futures):
                future.result()
                if stop.is_set():
                    return False
            return True
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _connect(self, member: _Member, ticker: _Ticker, stop: threading.Event) -> None:
        from ..device import Device

        if stop.is_set():
            return
        plan = self.plan
        try:
            services = plan.make_services()
            classes = tuple(type(s) for s in services)
            if classes != plan.classes:
                raise TypeError(f"the factory made {_names(classes)}, not {_names(plan.classes)} as at first")
            device = Device(
                services,
                device_id=member.device_id,
                vendor=plan.vendor,
                broker=self.cloud.broker,
                username=plan.username,
                password=plan.password,
                on_error=self._device_error,
            )
        except Exception as exc:
            self.errors.add("setup", f"{member.device_id}: {type(exc).__name__}: {exc}")
            return
        keys = {s.service_id: device.codec.shadow_key(s.service_id) for s in services}
        self.tally.watch(member.device_id, keys.values())
        sent = self.tally.sent
        device_id = member.device_id
        device.core.on_reported.append(
            lambda reported: sent(device_id, {keys[s] for s in reported if s in keys})
        )
        member.device, member.services = device, services
        member.values = DeviceValues(self.value_plans, device_rng(plan.seed, member.index))
        try:
            device.connect(plan.connect_timeout)
        except Exception as exc:
            self.errors.add("connect", f"{member.device_id}: {type(exc).__name__}: {exc}")
            return
        with self._connected_lock:
            self._connected.append(member)
            self._last_connect = self.clock()
        self._tick(member)  # a device reports once connected, as a real one does
        ticker.add(member)

    def _wait_for_workers(self, timeout: float) -> None:
        """Wait until each device has run the reports it was asked for: a device records a
        send after its bytes are on their way, so the cloud may see a report before it is
        counted as sent, and the run must not end in between."""
        with self._connected_lock:
            devices = [m.device for m in self._connected if m.device is not None]
        done = []
        for device in devices:
            event = threading.Event()
            device.worker.submit(event.set)
            done.append(event)
        deadline = self.clock() + timeout
        for event in done:
            if not event.wait(max(0.0, deadline - self.clock())):
                break

    def _tick(self, member: _Member) -> None:
        values = member.values
        assert values is not None
        for position, service in enumerate(member.services):
            changes = values.next(position)
            if changes:
                try:
                    service.update(**changes)
                except ValidationError as exc:
                    self.errors.add("value", f"{member.device_id}: {exc}")
        assert member.device is not None
        member.device.report()

    def _device_error(self, error: DeviceError) -> None:
        self.errors.add(error.kind, str(error))

    def _missing_shadows(self, *, retry: bool) -> int:
        """How many connected devices have no shadow (those that did not connect are counted as
        such already)."""
        with self._connected_lock:
            ids = [m.device_id for m in self._connected]
        missing = self.cloud.missing_shadows(ids)
        deadline = self.clock() + SHADOW_SECONDS
        while retry and missing and self.clock() < deadline:
            time.sleep(0.5)
            missing = self.cloud.missing_shadows(missing)
        return len(missing)

    def _disconnect_all(self) -> None:
        def disconnect(member: _Member) -> None:
            try:
                assert member.device is not None
                member.device.disconnect()
            except Exception as exc:
                log.debug("disconnecting %s: %r", member.device_id, exc)

        built = [m for m in self.members if m.device is not None]
        with concurrent.futures.ThreadPoolExecutor(
            self.plan.concurrency, thread_name_prefix="fleet-disconnect"
        ) as pool:
            list(pool.map(disconnect, built))

    # -- what is shown -------------------------------------------------------------------------
    def _show_progress(self) -> None:
        out = self.progress
        assert out is not None
        interval = PROGRESS_TTY if self.tty else PROGRESS_LOG
        last_time, last_received = self.clock(), 0
        while not self._stop_progress.wait(interval):
            now, received = self.clock(), self.tally.received
            rate = (received - last_received) / max(now - last_time, 1e-9)
            last_time, last_received = now, received
            line = progress_line(self.snapshot(rate))
            out.write(f"\r{line}\x1b[K" if self.tty else line + "\n")
            out.flush()
        if self.tty:
            out.write("\n")
            out.flush()

    def snapshot(self, rate: float) -> Progress:
        """The progress line's numbers now (``rate``: reports/s the caller measured)."""
        with self._connected_lock:
            members = list(self._connected)
        connected = sum(1 for m in members if m.device is not None and m.device.connected)
        p50, p99 = self.tally.window()
        return Progress(connected, len(self.members), rate, p50, p99, self.errors.total())

    def _numbers(
        self, started: float, seconds: float, missing: int, dropped: int, late: int, interrupted: bool
    ) -> RunNumbers:
        tally = self.tally
        errors = dict(self.errors.counts)
        reasons = dict(self.errors.reasons)
        if tally.unexpected:
            errors["unexpected report"] = tally.unexpected
            reasons["unexpected report"] = "reports arrived for these devices that this run did not send"
        last = self._last_connect
        return RunNumbers(
            devices=len(self.members),
            connected=len(self._connected),
            connect_seconds=None if last is None else last - started,
            seconds=seconds,
            sent=tally.sent_count,
            received=tally.received,
            lost=tally.lost,
            latency_p50=tally.histogram.percentile(50),
            latency_p99=tally.histogram.percentile(99),
            latency_max=tally.histogram.max if tally.histogram.count else None,
            steady_p50=tally.steady.percentile(50),
            steady_p99=tally.steady.percentile(99),
            steady_max=tally.steady.max if tally.steady.count else None,
            errors=errors,
            dropped=dropped,
            missing_shadows=missing,
            late=late,
            interrupted=interrupted,
            seed=self.plan.seed,
            shard=str(self.plan.shard),
            reasons=reasons,
        )


def _names(classes: Sequence[type]) -> str:
    return ", ".join(c.__name__ for c in classes)
