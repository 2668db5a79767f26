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
import functools
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from paho.mqtt.client import topic_matches_sub

from .declare.service import Service
from .engine.core import DeviceError, check_events, check_services, require_time_sync
from .engine.features import DeviceFeatures, require
from .engine.ota import Downloaded, Fetched, Progress
from .engine.scheduling import Clock, monotonic_clock
from .engine.session import DeviceSession
from .features.logs import CloudLogHandler
from .features.ota import Ota
from .ids import new_id, validate_custom_topic, validate_id
from .protocol.messages import (
    AskFileUrl,
    CloudEvent,
    CloudMessage,
    FileResult,
    Outgoing,
    SendMessage,
    UpgradeOffer,
)
from .transport import Ack, Backoff, BrokerAddress, Credentials, MqttTransport, TlsOptions
from .transport.flag import Flag
from .transport.worker import Worker
from .vendors import device_codec

log = logging.getLogger("thingmodel.device")

#: room in the outbox beyond the offline queue's limit: the messages in flight (the transport's
#: window), which the outbox keeps too until the broker acknowledges them
OUTBOX_SLACK = 100

#: bytes read per step of an OTA download (large steps keep Python's per-chunk cost small)
DOWNLOAD_CHUNK = 1 << 20


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
        ota: Ota | None = None,
        info: Mapping[str, str] | None = None,
        rules: bool | None = None,
        outbox: str | os.PathLike[str] | None = None,
        download_tls: TlsOptions | None = None,
    ) -> None:
        self.device_id = validate_id("device_id", device_id)
        #: how long connect() waits for the shadow to be fetched and applied
        self.sync_timeout = sync_timeout
        self.vendor = vendor
        address = BrokerAddress.parse(broker)
        if address.tls and tls is None:
            tls = TlsOptions()
        self._errors: collections.deque[DeviceError] | None = None  # made on first use: 0.7 KiB
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
        durable = None
        if outbox is not None:
            from .transport.outbox import SqliteOutbox  # sqlite3 costs ~2 MiB: only when asked for

            durable = SqliteOutbox(outbox, limit=offline_limit + OUTBOX_SLACK)
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
            outbox=durable,
        )
        self.worker = Worker(
            f"device-{device_id}-worker",
            idle_seconds=self._idle_seconds,
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
        #: TLS for package and file downloads over HTTPS (None: verify with the system's CAs)
        self.download_tls = download_tls
        self._stopping = Flag(self._synced)
        #: OTA, device info, log shipping and file URLs (engine/features.py)
        self.features = DeviceFeatures(
            self.core,
            self.codec,
            vendor,
            fetch=self._fetch,
            clock=clock,
            ota=ota,
            info=info,
            rules=rules,
        )
        if durable is not None and durable.problem is not None:
            self._record_error(DeviceError("outbox", None, None, durable.problem))
        #: the device's own custom topics: ``{full filter: handler}``, re-subscribed on reconnect
        self._custom: dict[str, Callable[[str, bytes], object]] = {}

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
        self._stopping.clear()
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
        self._stopping.set()  # a download in flight stops at its next chunk
        self.worker.stop()
        self.transport.stop()
        self.core.detach()

    def __enter__(self) -> Device:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    @property
    def errors(self) -> collections.deque[DeviceError]:
        """The most recent errors the device surfaced (at most 100; also logged, and passed to
        ``on_error``)."""
        if self._errors is None:
            self._errors = collections.deque(maxlen=100)
        return self._errors

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

    # -- custom topics -------------------------------------------------------------------------
    def topic(self, name: str) -> str:
        """The full topic of this device's custom topic ``name`` (Huawei
        ``$oc/devices/{id}/user/{name}``, Tencent ``{pid}/{dn}/{name}``, AWS
        ``things/{thing}/{name}``); InvalidValue for a name that cannot be one."""
        return self.codec.custom_topic(validate_custom_topic(name, filter=True))

    def subscribe(self, name: str, handler: Callable[[str, bytes], object], qos: int = 1) -> str:
        """Call ``handler(topic, payload)`` on the device's worker for each message on the custom
        topic ``name`` (``+``/``#`` allowed); kept across reconnects. When connected, returns once
        the broker confirmed it (at most 5 s). Returns the full filter."""
        if not callable(handler):
            raise TypeError("handler must be callable as handler(topic, payload)")
        if qos not in (0, 1):
            raise ValueError(f"qos must be 0 or 1, not {qos!r}")
        topic_filter = self.topic(name)
        self._check_own(topic_filter)
        self._custom[topic_filter] = handler
        if self.worker.is_current():
            self.transport.subscribe(topic_filter, qos, timeout=0)  # a handler must not wait here
        elif self.connected and not self.transport.subscribe(topic_filter, qos):
            log.warning("%s: the broker did not confirm the subscription to %s", self.device_id, topic_filter)
        return topic_filter

    def unsubscribe(self, name: str) -> None:
        """Stop receiving the custom topic ``name``."""
        topic_filter = self.topic(name)
        self._custom.pop(topic_filter, None)
        self.transport.unsubscribe(topic_filter)

    def publish(self, name: str, payload: bytes | str, qos: int = 1) -> None:
        """Publish on the custom topic ``name`` (no wildcards); queued while offline like every
        uplink. Text is sent as UTF-8."""
        if isinstance(payload, str):
            payload = payload.encode()
        if not isinstance(payload, bytes):
            raise TypeError(f"a payload is bytes or text, not {type(payload).__name__}")
        if qos not in (0, 1):
            raise ValueError(f"qos must be 0 or 1, not {qos!r}")
        topic = self.codec.custom_topic(validate_custom_topic(name))
        self._check_own(topic)
        self.transport.publish(Outgoing(topic, payload, qos))

    def _check_own(self, topic: str) -> None:
        """InvalidValue when a custom topic is one the vendor's protocol uses itself."""
        from .errors import InvalidValue

        for system in self.codec.subscriptions():
            if topic_matches_sub(system, topic) or topic_matches_sub(topic, system):
                raise InvalidValue(f"custom topic {topic!r} is one of {self.vendor}'s own topics ({system})")

    def _deliver_custom(self, topic: str, payload: bytes) -> bool:
        for topic_filter, handler in list(self._custom.items()):
            if topic_matches_sub(topic_filter, topic):
                try:
                    handler(topic, payload)
                except Exception as exc:
                    self._record_error(
                        DeviceError("callback", None, topic, f"custom-topic handler raised {exc!r}")
                    )
                return True
        return False

    # -- logs, files, OTA ------------------------------------------------------------------------
    def log_handler(self, level: int = logging.INFO, **options: Any) -> CloudLogHandler:
        """A :class:`logging.Handler` that ships records to the cloud (see
        :mod:`thingmodel.features.logs`); NotSupported on a vendor without log shipping."""
        password = self.transport._credentials()[2]  # masked in every record, with ``redact``
        redact = [*options.pop("redact", ()), *([password] if password else [])]
        return self.features.log_handler(self.worker.submit, level=level, redact=redact, **options)

    def upload_file(self, name: str, data: bytes | Path, timeout: float = 30.0) -> None:
        """Upload a file to the cloud: ask for a URL, PUT the bytes, report the result.
        NotSupported on vendors without a file service; TransferError when the upload fails."""
        from .transport.transfer import TransferError, upload

        url = self._file_url("upload", name, data, timeout)
        try:
            status = upload(url, data, tls=self.download_tls, timeout=timeout)
        except TransferError as exc:
            self._file_result("upload", name, 1, exc.status, str(exc))
            raise
        self._file_result("upload", name, 0, status, "success")

    def download_file(self, name: str, dest: Path | str, timeout: float = 30.0) -> Path:
        """Download the cloud's file ``name`` to ``dest``; returns the path."""
        from .transport.transfer import TransferError, download

        url = self._file_url("download", name, None, timeout)
        try:
            got = download(
                url, Path(dest), tls=self.download_tls, timeout=timeout, should_stop=self._stopping.is_set
            )
        except TransferError as exc:
            self._file_result("download", name, 1, exc.status, str(exc))
            raise
        self._file_result("download", name, 0, 200, "success")
        return got.path

    def _file_url(
        self, direction: Literal["upload", "download"], name: str, data: bytes | Path | None, timeout: float
    ) -> str:
        require(self.codec, self.vendor, "file transfer")
        if not isinstance(name, str) or not name or "/" in name or len(name) > 255:
            raise ValueError(f"a file name is 1..255 characters without '/', not {name!r}")
        if self.worker.is_current():
            raise RuntimeError("file transfers wait for the device's worker: call them from your own thread")
        attributes: dict[str, Any] = {}
        if data is not None:
            body = data.read_bytes() if isinstance(data, Path) else data
            attributes = {"hash_code": hashlib.sha256(body).hexdigest(), "size": len(body)}
        done, answers = self.features.urls.expect(direction, name)
        try:
            self.worker.submit(lambda: self.core.emit(AskFileUrl(direction, name, attributes)))
            if not done.wait(timeout):
                raise TimeoutError(f"{self.device_id}: no {direction} URL for {name!r} within {timeout:g} s")
        finally:
            self.features.urls.forget(direction, name)
        return answers[0].url

    def _file_result(
        self, direction: Literal["upload", "download"], name: str, code: int, status: int | None, text: str
    ) -> None:
        result = FileResult(direction, name, code, status, text)
        self.worker.submit(lambda: self.core.emit(result))

    def _fetch(self, offer: UpgradeOffer, dest: Path, progress: Progress, fetched: Fetched) -> None:
        """Download an OTA package on its own thread; results go back to the worker."""

        def run() -> None:
            from .transport.transfer import TransferError, download

            last = [0.0]

            def on_progress(done: int, total: int | None) -> None:
                now = time.monotonic()
                if now - last[0] >= 0.5:
                    last[0] = now
                    self.worker.submit(lambda: progress(done, total))

            try:
                got = download(
                    offer.url,
                    dest,
                    token=offer.token,
                    size=offer.size,
                    tls=self.download_tls,
                    on_progress=on_progress,
                    should_stop=self._stopping.is_set,
                    md5=bool(offer.md5),  # the slowest hash: only where the vendor sends one
                    chunk=DOWNLOAD_CHUNK,
                )
            except TransferError as exc:
                reason = str(exc)
                self.worker.submit(lambda: fetched(reason))
                return
            except Exception as exc:  # a bug, or an OS error the transfer did not name
                log.exception("downloading %s failed", offer.version)
                reason = f"download failed: {exc!r}"
                self.worker.submit(lambda: fetched(reason))
                return
            result = Downloaded(got.path, got.size, got.sha256, got.md5)
            self.worker.submit(lambda: fetched(result))

        threading.Thread(target=run, name=f"device-{self.device_id}-download", daemon=True).start()

    # -- time sync -----------------------------------------------------------------------------
    def time_sync(self, timeout: float = 5.0) -> float:
        """Ask the cloud for its time and return the offset in seconds (add it to this device's
        clock to get the cloud's; also kept in :attr:`time_offset`). TimeoutError when no answer
        comes within ``timeout``; CodecError at once on a vendor with no time service (AWS)."""
        require_time_sync(self.codec, self.vendor)
        if not timeout > 0:
            raise ValueError(f"time_sync timeout must be positive, got {timeout!r}")
        if self.worker.is_current():
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
        self.worker.submit(functools.partial(self._receive, topic, payload, ack))

    def _receive(self, topic: str, payload: bytes, ack: Ack) -> None:
        try:
            if self._custom and self._deliver_custom(topic, payload):
                return
            self.session.receive(topic, payload)
        finally:
            ack()  # the broker hears of the message once it is handled (one worker: in order)

    def _on_connect(self) -> None:
        with self._synced:
            self._gate_open = False
        self.worker.submit(lambda: self.session.connected(self._clock()))
        self.worker.submit(self.features.announce)  # queued behind the shadow sync, like reports

    def _on_disconnect(self) -> None:
        self.worker.submit(self.session.disconnected)

    def _idle_seconds(self) -> float | None:
        """Seconds until the worker has something due (None: nothing scheduled)."""
        return self.session.idle_seconds(self._clock)

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
