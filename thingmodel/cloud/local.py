"""``LocalCloud``: the shadow service running live on an MQTT broker (embedded or external).

    with LocalCloud(store="shadows.sqlite3") as cloud:      # embedded broker on 127.0.0.1:1883
        outcome = cloud.set_desired("dev1", "smokeDetector", {"alarm": 1})
        print(outcome.ok, cloud.get_shadow("dev1"))

Device uplinks are handled on one worker thread (never paho's network thread); application
calls block the caller until the device answers or the timeout passes.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..brokers import EmbeddedBroker
from ..errors import CodecError, InvalidValue
from ..ids import new_id
from ..protocol import messages as ev
from ..transport import Ack, BrokerAddress, MqttTransport, TlsOptions
from ..transport.worker import Worker
from . import appapi
from .app import (
    CommandOutcome,
    DesireOutcome,
    Result,
    command_outcome,
    desire_outcome,
    reason_of,
    run_operation,
)
from .platforms import make_cloud

log = logging.getLogger("thingmodel.cloud")


class LocalCloud:
    """A device cloud on this machine: shadows, a durable store, the vendor protocol, an app API."""

    def __init__(
        self,
        *,
        vendor: str = "huawei",
        broker: str | None = None,
        host: str = "127.0.0.1",
        port: int = 1883,
        store: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: TlsOptions | None = None,
        on_uplink: Callable[[ev.PlatformUplink], None] | None = None,
    ) -> None:
        self.vendor = vendor
        self._broker_url = broker
        self.host, self.port = host, port
        self._store_path = store
        self._auth = (username, password)
        self._tls = tls
        self.embedded: EmbeddedBroker | None = None
        self.worker = Worker("local-cloud-worker")
        self.platform = make_cloud(vendor, self._publish, on_result=self._on_result, on_uplink=on_uplink)
        self._answered = threading.Condition()
        self._done: OrderedDict[str, None] = OrderedDict()  # answered request ids (bounded)
        self._app_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="local-cloud-app")
        self.transport: MqttTransport | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The broker URL devices and applications connect to."""
        return self._broker_url or f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> LocalCloud:
        if self._store_path:
            self.platform.open_store(self._store_path)
        if self._broker_url is None:
            self.embedded = EmbeddedBroker(self.host, self.port).start(timeout)
            self.port = self.embedded.port
        address = BrokerAddress.parse(self.url)
        tls = self._tls or (TlsOptions() if address.tls else None)
        client_id = f"thingmodel-cloud-{new_id()[:8]}"
        username, password = self._auth
        self.transport = MqttTransport(
            address.host,
            address.port,
            lambda: (client_id, username, password),
            tls=tls,
            subscriptions=[*self.platform.subscriptions(), appapi.REQUEST_FILTER],
            on_message=self._on_message,
            name="local-cloud",
        )
        self.worker.start()
        try:
            self.transport.start(timeout)
        except BaseException:
            self.stop()
            raise
        log.info("local cloud (%s) serving on %s", self.vendor, self.url)
        return self

    def stop(self) -> None:
        if self.transport is not None:
            self.transport.stop()
        self.worker.stop()
        self._app_pool.shutdown(wait=False, cancel_futures=True)
        if self.embedded is not None:
            self.embedded.stop()
        self.platform.close()

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- application API -----------------------------------------------------------------------
    def get_shadow(self, device_id: str) -> dict[str, dict[str, Any]]:
        """``{service_id: {"desired": {...}, "reported": {...}, "version": n}}``."""
        return {
            sid: {"desired": dict(s.desired), "reported": dict(s.reported), "version": s.version}
            for sid, s in self.platform.shadow(device_id).items()
        }

    def devices(self) -> list[str]:
        return self.platform.devices()

    def set_desired(
        self, device_id: str, service_id: str, properties: Mapping[str, Any], timeout: float = 5.0
    ) -> DesireOutcome:
        """Desire values; wait for the device's answer (``pending`` if it does not come in time)."""
        rid = self.platform.desire(device_id, {service_id: dict(properties)})
        return desire_outcome(rid, self._wait(rid, timeout))

    def send_command(
        self,
        device_id: str,
        service_id: str | None,
        name: str,
        params: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> CommandOutcome:
        rid = self.platform.command(device_id, service_id, name, params)
        result = self._wait(rid, timeout)
        if result is None:
            self.platform.forget(rid)
        return command_outcome(rid, result, silence=f"no answer within {timeout:g} s")

    def read_properties(
        self, device_id: str, service_id: str | None = None, timeout: float = 5.0
    ) -> dict[str, dict[str, Any]]:
        """The device's current values, read through its getters; TimeoutError if it is silent."""
        rid = self.platform.read(device_id, service_id)
        result = self._wait(rid, timeout)
        if result is None:
            self.platform.forget(rid)
            raise TimeoutError(f"device {device_id!r} did not answer a property read within {timeout:g} s")
        if not isinstance(result, ev.ReadAnswered):
            raise InvalidValue(f"device {device_id!r} answered the read badly: {reason_of(result)}")
        return {sid: dict(values) for sid, values in result.services.items()}

    def send_message(self, device_id: str, payload: bytes) -> None:
        """A free-form message to the device (the device logs it)."""
        self.platform.send_message(device_id, payload)

    def send_event(
        self, device_id: str, service_id: str, event_type: str, params: Mapping[str, Any] | None = None
    ) -> None:
        """A platform event to one of the device's services."""
        self.platform.send_event(device_id, service_id, event_type, params)

    def _wait(self, rid: str, timeout: float) -> Result | None:
        # _on_result runs under the shadows' lock: never take that lock while holding _answered.
        with self._answered:
            self._answered.wait_for(lambda: rid in self._done, timeout)
            self._done.pop(rid, None)
        return self.platform.take_result(rid)

    # -- plumbing ------------------------------------------------------------------------------
    def _publish(self, message: ev.Outgoing) -> None:
        if self.transport is not None:
            self.transport.publish(message)

    def _on_result(self, rid: str, result: Result) -> None:
        with self._answered:
            self._done[rid] = None
            while len(self._done) > 10_000:
                self._done.popitem(last=False)
            self._answered.notify_all()

    def _on_message(self, topic: str, payload: bytes, ack: Ack) -> None:
        # acknowledged on receipt (ack is a no-op): app requests are served by a pool, not in order
        if topic.startswith(appapi.REQUEST_PREFIX):
            self._app_pool.submit(self._serve_app, topic, payload)
        else:
            self.worker.submit(lambda: self.platform.receive(topic, payload))

    def _serve_app(self, topic: str, payload: bytes) -> None:
        try:
            rid, body = appapi.parse_request(topic, payload)
        except CodecError as exc:
            log.warning("bad application request on %s: %s", topic, exc)
            rid = topic.rsplit("/", 1)[-1]
            if rid and "+" not in rid and "#" not in rid:
                self._publish(appapi.response(rid, error=str(exc)))
            return
        try:
            result = run_operation(self, body)
        except (InvalidValue, CodecError, TimeoutError, ValueError, TypeError, KeyError) as exc:
            self._publish(appapi.response(rid, error=str(exc)))
        else:
            self._publish(appapi.response(rid, result=result))
