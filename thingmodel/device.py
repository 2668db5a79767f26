"""``Device``: services + a vendor codec + the MQTT transport, live.

    device = Device.for_huawei(device_id="...", secret="...", host="...", services=[SmokeDetector()])
    with device:                                    # connect() ... disconnect()
        device.service("smokeDetector").enable_auto_report(5)

Threads: paho's network thread only receives and enqueues; one worker thread owned by the
device runs user code (getters, setters, commands) and the auto-reports. On every (re)connect
the device fetches its shadow and applies pending desired values, so nothing desired while it
was offline is lost.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .declare.service import Service
from .engine.core import DeviceError, check_events, check_services, require_time_sync
from .engine.scheduling import Clock, monotonic_clock
from .engine.session import DeviceSession
from .ids import new_id, validate_id
from .protocol.messages import CloudEvent, CloudMessage, Outgoing, SendMessage
from .transport import Ack, Backoff, BrokerAddress, Credentials, MqttTransport, TlsOptions
from .transport.worker import Worker
from .vendors import device_codec

log = logging.getLogger("thingmodel.device")


class Device:
    """A device made of services, connected to a cloud (or the local cloud) over MQTT."""

    def __init__(
        self,
        services: Sequence[Service],
        *,
        device_id: str,
        vendor: str = "huawei",
        broker: str = "mqtt://127.0.0.1:1883",
        username: str | None = None,
        password: str | None = None,
        client_id: str | None = None,
        credentials: Credentials | None = None,
        tls: TlsOptions | None = None,
        offline_limit: int = 1000,
        backoff: Backoff | None = None,
        keepalive: int = 60,
        will: Outgoing | None = None,
        on_error: Callable[[DeviceError], None] | None = None,
        on_message: Callable[[CloudMessage], object] | None = None,
        on_event: Callable[[CloudEvent], object] | None = None,
        on_time_sync: Callable[[float], object] | None = None,
        clock: Clock = monotonic_clock,
        sync_timeout: float = 3.0,
        codec_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.device_id = validate_id("device_id", device_id)
        #: how long connect() waits for the shadow to be fetched and applied
        self.sync_timeout = sync_timeout
        self.vendor = vendor
        address = BrokerAddress.parse(broker)
        if address.tls and tls is None:
            tls = TlsOptions()
        #: the most recent errors the device surfaced (also logged, and passed to on_error)
        self.errors: collections.deque[DeviceError] = collections.deque(maxlen=100)
        self._on_error = on_error
        self._clock = clock
        services_by_id = check_services(services)
        self.codec = device_codec(
            vendor, device_id=device_id, service_ids=list(services_by_id), **(codec_options or {})
        )
        check_events(self.codec, vendor, services_by_id.values())
        if credentials is None:
            fixed = (client_id or device_id, username, password)
            credentials = lambda: fixed  # noqa: E731
        self._dropped_since_connect = 0
        self._synced = threading.Condition()
        self._gate_open = False
        self.transport = MqttTransport(
            address.host,
            address.port,
            credentials,
            tls=tls,
            subscriptions=self.codec.subscriptions(),
            keepalive=keepalive,
            backoff=backoff,
            offline_limit=offline_limit,
            gated=True,
            will=will,
            on_message=self._on_message,
            ack_when_handled=True,
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            on_drop=self._on_drop,
            name=f"device-{device_id}",
        )
        self.worker = Worker(
            f"device-{device_id}-worker",
            idle_seconds=lambda: self.session.idle_seconds(self._clock),
            run_pending=self._run_pending,
        )
        self.session = DeviceSession(
            list(services_by_id.values()),
            self.codec,
            publish=self.transport.publish,
            publish_now=self.transport.send_now,
            on_gate_open=self._gate_opened,
            clock=clock,
            on_error=self._record_error,
            on_message=on_message,
            on_event=on_event,
            on_schedule_change=self.worker.wake,
        )
        self.core = self.session.core
        #: the last clock offset time sync measured: seconds to add to this device's clock to get
        #: the cloud's (None until an answer came)
        self.time_offset: float | None = None
        #: called on the worker with each offset measured (on demand or periodic)
        self.on_time_sync = on_time_sync
        self._time_waiters: dict[str, tuple[threading.Event, list[float]]] = {}
        self._time_lock = threading.Lock()
        self.core.on_time_sync = self._time_synced

    # Each vendor's credentials and hosts live beside its codec (thingmodel/vendors/<vendor>.py).
    @classmethod
    def for_huawei(cls, **options: Any) -> Device:
        """A device on Huawei IoTDA: see :func:`thingmodel.vendors.huawei.device` for the options."""
        from .vendors import huawei

        return huawei.device(cls, **options)

    @classmethod
    def for_aws(cls, **options: Any) -> Device:
        """A device on AWS IoT Core: see :func:`thingmodel.vendors.aws.device` for the options."""
        from .vendors import aws

        return aws.device(cls, **options)

    @classmethod
    def for_tencent(cls, **options: Any) -> Device:
        """A device on Tencent IoT: see :func:`thingmodel.vendors.tencent.device` for the options."""
        from .vendors import tencent

        return tencent.device(cls, **options)

    def __repr__(self) -> str:
        return f"<Device {self.device_id!r} {self.vendor} {self.transport!r}>"

    # -- lifecycle -----------------------------------------------------------------------------
    def connect(self, timeout: float = 30.0) -> Device:
        """Connect, blocking until connected; raise ConnectError / AuthenticationError otherwise."""
        self.worker.start()
        deadline = time.monotonic() + timeout
        try:
            self.transport.start(timeout)
        except BaseException:
            self.worker.stop()
            raise
        # Return once the shadow is synced (pending desired values applied), or sync_timeout passed.
        wait = max(0.0, min(deadline - time.monotonic(), self.sync_timeout))
        with self._synced:
            synced = self._synced.wait_for(lambda: self._gate_open, wait)
        if not synced:
            log.warning(
                "%s: no shadow answer within %g s; continuing (pending desired values will be "
                "applied when the cloud answers)",
                self.device_id,
                wait,
            )
        return self

    def disconnect(self) -> None:
        """Stop reporting, finish queued work and disconnect."""
        for service in self.core.services.values():
            self.core.cancel_auto_report(service)
        self.core.cancel_time_sync()
        self.worker.stop()
        self.transport.stop()
        self.core.detach()

    def __enter__(self) -> Device:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    @property
    def connected(self) -> bool:
        return self.transport.connected

    # -- API -----------------------------------------------------------------------------------
    @property
    def services(self) -> dict[str, Service]:
        return dict(self.core.services)

    def service(self, service_id: str) -> Service:
        """The service with this id; KeyError naming the known ids otherwise."""
        try:
            return self.core.services[service_id]
        except KeyError:
            raise KeyError(
                f"no service {service_id!r} (this device has: {', '.join(self.core.services)})"
            ) from None

    def report(self) -> None:
        """Report every property of every service now (on the worker thread)."""
        self.worker.submit(self.core.report_all)

    def send_message(self, payload: bytes | str) -> None:
        """Send a free-form message to the cloud (Huawei ``messages/up``; Tencent's ``/data``
        topic; AWS ``things/{thing}/messages/up``, see docs/vendors.md). Text is sent as UTF-8.
        Queued while offline like every uplink; a message the vendor cannot carry (too large)
        is an error in :attr:`errors`, not an exception here."""
        if isinstance(payload, str):
            payload = payload.encode()
        if not isinstance(payload, bytes):
            raise TypeError(f"a message is bytes or text, not {type(payload).__name__}")
        message = SendMessage(payload)
        self.worker.submit(lambda: self.core.emit(message))

    # -- time sync -----------------------------------------------------------------------------
    def time_sync(self, timeout: float = 5.0) -> float:
        """Ask the cloud for its time and return the offset in seconds (add it to this device's
        clock to get the cloud's; also kept in :attr:`time_offset`). TimeoutError when no answer
        comes within ``timeout``; CodecError at once on a vendor with no time service (AWS)."""
        require_time_sync(self.codec, self.vendor)
        if not timeout > 0:
            raise ValueError(f"time_sync timeout must be positive, got {timeout!r}")
        if threading.current_thread().name == self.worker.name:
            raise RuntimeError(
                "time_sync() waits for the device's worker, so it cannot be called from a handler: "
                "use enable_time_sync() and on_time_sync instead"
            )
        rid = new_id()
        done, result = threading.Event(), list[float]()
        with self._time_lock:
            self._time_waiters[rid] = (done, result)
        try:
            self.worker.submit(lambda: self.core.ask_time(rid))
            if not done.wait(timeout):
                self.worker.submit(lambda: self.core.time_requests.forget(rid))
                raise TimeoutError(
                    f"{self.device_id}: no answer to the time-sync request within {timeout:g} s"
                    + ("" if self.connected else " (the device is not connected)")
                )
        finally:
            with self._time_lock:
                self._time_waiters.pop(rid, None)
        return result[0]

    def enable_time_sync(self, seconds: float) -> None:
        """Ask the cloud for its time every ``seconds`` while connected (on the worker, like an
        auto-report); each offset lands in :attr:`time_offset` and reaches ``on_time_sync``."""
        require_time_sync(self.codec, self.vendor)
        if not seconds > 0:
            raise ValueError(f"time-sync period must be positive, got {seconds!r}")
        self.core.schedule_time_sync(float(seconds), self._periodic_time_sync)

    def disable_time_sync(self) -> None:
        """Stop the periodic time sync; safe to call when it is not enabled."""
        self.core.cancel_time_sync()

    def _periodic_time_sync(self) -> None:
        if self.transport.connected:
            self.core.ask_time()

    def _time_synced(self, request_id: str, offset: float) -> None:
        """On the worker: an answer came (the core matched it to ``request_id``)."""
        self.time_offset = offset
        with self._time_lock:
            waiter = self._time_waiters.get(request_id)
        if waiter is not None:
            waiter[1].append(offset)
            waiter[0].set()
        if self.on_time_sync is not None:
            try:
                self.on_time_sync(offset)
            except Exception as exc:
                self._record_error(DeviceError("callback", None, "time_sync", f"on_time_sync raised {exc!r}"))

    @property
    def dropped(self) -> int:
        """Messages refused because the offline queue was full."""
        return self.transport.dropped

    # -- the shadow sync (engine/sync.py): how often it asks, and how many times -----------------
    @property
    def shadow_retry_interval(self) -> float:
        """Seconds between shadow requests after a connect while the cloud does not answer."""
        return self.session.sync.retry_interval

    @shadow_retry_interval.setter
    def shadow_retry_interval(self, seconds: float) -> None:
        self.session.sync.retry_interval = seconds

    @property
    def shadow_retries(self) -> int:
        """Shadow requests made after a connect before the queued messages are sent anyway."""
        return self.session.sync.max_requests

    @shadow_retries.setter
    def shadow_retries(self, count: int) -> None:
        self.session.sync.max_requests = count

    # -- transport callbacks (network thread: enqueue only) -----------------------------------
    def _on_message(self, topic: str, payload: bytes, ack: Ack) -> None:
        self.worker.submit(lambda: self._receive(topic, payload, ack))

    def _receive(self, topic: str, payload: bytes, ack: Ack) -> None:
        try:
            self.session.receive(topic, payload)
        finally:
            ack()  # the broker hears of the message once it is handled (one worker: in order)

    def _on_connect(self) -> None:
        with self._synced:
            self._gate_open = False
        self.worker.submit(lambda: self.session.connected(self._clock()))

    def _on_disconnect(self) -> None:
        self.worker.submit(self.session.disconnected)

    def _run_pending(self) -> None:
        """On the worker, whenever it wakes: due auto-reports, then a due shadow request."""
        self.core.run_pending()
        self.session.tick_if_due(self._clock)

    def _gate_opened(self, gave_up: bool) -> None:
        """The cloud answered the shadow request (or never did): send what waits."""
        if not self.transport.connected:
            return
        with self._synced:
            self._gate_open = True
            self._synced.notify_all()
        self.transport.open_gate()
        if self._dropped_since_connect:
            # Some reports were dropped while offline: send the whole state so the shadow converges.
            self._dropped_since_connect = 0
            self.core.report_all()

    def _on_drop(self, message: Outgoing) -> None:
        self._dropped_since_connect += 1
        self._record_error(
            DeviceError(
                "offline-queue",
                None,
                message.topic,
                f"offline queue full ({self.transport.offline_limit}); message dropped",
            )
        )

    def _record_error(self, error: DeviceError) -> None:
        self.errors.append(error)
        if self._on_error is not None:
            try:
                self._on_error(error)
            except Exception:
                log.exception("on_error callback raised")
