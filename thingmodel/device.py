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
from .engine.core import DeviceCore, DeviceError, new_request_id
from .engine.scheduling import Clock, monotonic_clock
from .engine.session import DeviceSession
from .ids import validate_id
from .protocol.messages import CloudEvent, CloudMessage, Outgoing, RequestShadow, ShadowSnapshot
from .transport import Ack, Backoff, BrokerAddress, Credentials, MqttTransport, TlsOptions
from .transport.worker import Worker
from .vendors import device_codec
from .vendors import huawei as _huawei

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
        self.core = DeviceCore(services, clock=clock, on_error=self._record_error)
        self.core.on_message = on_message
        self.core.on_event = on_event
        self.codec = device_codec(
            vendor, device_id=device_id, service_ids=list(self.core.services), **(codec_options or {})
        )
        if credentials is None:
            fixed = (client_id or device_id, username, password)
            credentials = lambda: fixed  # noqa: E731
        self._dropped_since_connect = 0
        self._connection = 0
        self._gate_open = False
        self._synced = threading.Condition()
        #: how often, and how many times, the shadow is requested after a connect before the
        #: queued messages are sent anyway
        self.shadow_retry_interval = 1.0
        self.shadow_retries = 10
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
            on_drop=self._on_drop,
            name=f"device-{device_id}",
        )
        self.session = DeviceSession(self.core, self.codec, publish=self.transport.publish)
        self.worker = Worker(
            f"device-{device_id}-worker",
            idle_seconds=lambda: self.core.scheduler.idle_seconds,
            run_pending=self.core.run_pending,
        )
        self.core.on_schedule_change = self.worker.wake

    @classmethod
    def for_huawei(
        cls,
        *,
        device_id: str,
        secret: str,
        host: str,
        services: Sequence[Service],
        port: int = 8883,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        check_timestamp: bool = True,
        insecure: bool = False,
        **options: Any,
    ) -> Device:
        """A device on Huawei IoTDA (secret authentication; port 8883 is TLS, 1883 plain)."""
        validate_id("device_id", device_id)

        def credentials() -> tuple[str, str | None, str | None]:
            stamp = _huawei.timestamp()
            client = _huawei.client_id(device_id, stamp, check_timestamp=check_timestamp)
            return client, device_id, _huawei.password(secret, stamp)

        tls = TlsOptions(ca_file, cert_file, key_file, insecure) if port != 1883 else None
        scheme = "mqtt" if tls is None else "mqtts"
        return cls(
            services,
            device_id=device_id,
            vendor="huawei",
            broker=f"{scheme}://{host}:{port}",
            credentials=credentials,
            tls=tls,
            **options,
        )

    @classmethod
    def for_aws(
        cls,
        *,
        thing_name: str,
        endpoint: str,
        cert_file: str,
        key_file: str,
        services: Sequence[Service],
        ca_file: str | None = None,
        port: int = 8883,
        shadows: Mapping[str, str | None] | None = None,
        commands: bool = True,
        **options: Any,
    ) -> Device:
        """A device on AWS IoT Core: mutual TLS with the thing's certificate, client id = thing name.

        ``shadows`` maps service ids to shadow names (None = the classic shadow); by default one
        service uses the classic shadow and several use one named shadow each. ``commands=False``
        leaves AWS IoT's commands topics alone."""
        tls = TlsOptions(ca_file, cert_file, key_file)
        return cls(
            services,
            device_id=thing_name,
            vendor="aws",
            broker=f"mqtts://{endpoint}:{port}",
            client_id=thing_name,
            tls=tls,
            codec_options={"shadows": shadows, "commands": commands},
            **options,
        )

    @classmethod
    def for_tencent(
        cls,
        *,
        product_id: str,
        device_name: str,
        secret: str,
        services: Sequence[Service],
        explorer: bool = True,
        host: str | None = None,
        port: int = 8883,
        ca_file: str | None = None,
        insecure: bool = False,
        **options: Any,
    ) -> Device:
        """A device on Tencent IoT Explorer (data template, the default) or IoT Hub (shadow),
        with key authentication: TLS on 8883 unless ``port=1883``."""
        from .vendors import tencent as _tencent

        device_id = f"{product_id}.{device_name}"
        _tencent.split_device_id(device_id)  # validates both ids
        _tencent.password(secret, "check")  # a secret that is not base64 fails here, not at connect

        def credentials() -> tuple[str, str | None, str | None]:
            user = _tencent.username(product_id, device_name, expiry=int(time.time()) + 3600)
            return _tencent.client_id(product_id, device_name), user, _tencent.password(secret, user)

        tls = TlsOptions(ca_file, None, None, insecure) if port != 1883 else None
        scheme = "mqtt" if tls is None else "mqtts"
        return cls(
            services,
            device_id=device_id,
            vendor="tencent-explorer" if explorer else "tencent-hub",
            broker=f"{scheme}://{host or product_id + '.iotcloud.tencentdevices.com'}:{port}",
            credentials=credentials,
            tls=tls,
            **options,
        )

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

    @property
    def dropped(self) -> int:
        """Messages refused because the offline queue was full."""
        return self.transport.dropped

    # -- transport callbacks (network thread: enqueue only) -----------------------------------
    def _on_message(self, topic: str, payload: bytes, ack: Ack) -> None:
        self.worker.submit(lambda: self._receive(topic, payload, ack))

    def _receive(self, topic: str, payload: bytes, ack: Ack) -> None:
        try:
            events = self.session.receive(topic, payload)
        finally:
            ack()  # the broker hears of the message once it is handled (one worker: in order)
        if any(isinstance(e, ShadowSnapshot) for e in events):
            self._gate_open_after_shadow()

    def _on_connect(self) -> None:
        self._gate_open = False
        self._connection += 1
        connection = self._connection
        self.worker.submit(lambda: self._request_shadow(connection, 1))

    def _request_shadow(self, connection: int, attempt: int) -> None:
        """Ask for the shadow past the gate; ask again every second until the cloud answers.

        The answer (handled in _receive) proves the cloud listens again; only then does the
        queue of reports made while offline go out, so none is sent into an empty broker.
        """
        if connection != self._connection or not self.transport.connected or self._gate_open:
            return
        if attempt > self.shadow_retries:
            log.warning("no shadow answer after %d requests: sending queued messages anyway", attempt - 1)
            self._gate_open_after_shadow()
            return
        for message in self.codec.encode(RequestShadow(new_request_id())):
            self.transport.send_now(message)

        def again() -> None:
            self.worker.submit(lambda: self._request_shadow(connection, attempt + 1))

        timer = threading.Timer(self.shadow_retry_interval, again)
        timer.daemon = True
        timer.start()

    def _gate_open_after_shadow(self) -> None:
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
