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
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

from ..brokers import EmbeddedBroker
from ..errors import CodecError, InvalidValue
from ..protocol import messages as ev
from ..transport import Ack, BrokerAddress, MqttTransport, TlsOptions
from ..transport.worker import Worker
from . import appapi
from .platforms import make_cloud
from .shadows import Result

log = logging.getLogger("thingmodel.cloud")


@attrs.frozen
class DesireOutcome:
    """How a write went: ``ok``; ``errors`` per refused property; ``pending`` when the device did
    not answer in time (the value waits in the shadow and is applied when the device connects)."""

    ok: bool
    errors: Mapping[str, str]
    request_id: str
    pending: bool = False


@attrs.frozen
class CommandOutcome:
    """A command's answer: ``code`` 0 is success; ``timed_out`` when the device did not answer."""

    code: int
    params: Mapping[str, Any]
    request_id: str
    name: str = ""
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.timed_out


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
        self.shadows = make_cloud(vendor, self._publish, on_result=self._on_result, on_uplink=on_uplink)
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
            self.shadows.open_store(self._store_path)
        if self._broker_url is None:
            self.embedded = EmbeddedBroker(self.host, self.port).start(timeout)
            self.port = self.embedded.port
        address = BrokerAddress.parse(self.url)
        tls = self._tls or (TlsOptions() if address.tls else None)
        client_id = f"thingmodel-cloud-{uuid.uuid4().hex[:8]}"
        username, password = self._auth
        self.transport = MqttTransport(
            address.host,
            address.port,
            lambda: (client_id, username, password),
            tls=tls,
            subscriptions=[*self.shadows.subscriptions(), appapi.REQUEST_FILTER],
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
        self.shadows.close()

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- application API -----------------------------------------------------------------------
    def get_shadow(self, device_id: str) -> dict[str, dict[str, Any]]:
        """``{service_id: {"desired": {...}, "reported": {...}, "version": n}}``."""
        return {
            sid: {"desired": dict(s.desired), "reported": dict(s.reported), "version": s.version}
            for sid, s in self.shadows.shadow(device_id).items()
        }

    def devices(self) -> list[str]:
        return self.shadows.devices()

    def set_desired(
        self, device_id: str, service_id: str, properties: Mapping[str, Any], timeout: float = 5.0
    ) -> DesireOutcome:
        """Desire values; wait for the device's answer (``pending`` if it does not come in time)."""
        rid = self.shadows.desire(device_id, {service_id: dict(properties)})
        result = self._wait(rid, timeout)
        if result is None:
            return DesireOutcome(False, {}, rid, pending=True)
        if isinstance(result, ev.DesiredAcked):
            errors = dict(result.errors) or ({} if result.ok else {"result": f"result code {result.code}"})
            return DesireOutcome(result.ok, errors, rid)
        return DesireOutcome(False, {"payload": _reason(result)}, rid)

    def send_command(
        self,
        device_id: str,
        service_id: str | None,
        name: str,
        params: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> CommandOutcome:
        rid = self.shadows.command(device_id, service_id, name, params)
        result = self._wait(rid, timeout)
        if result is None:
            self.shadows.forget(rid)
            return CommandOutcome(-1, {"error": f"no answer within {timeout:g} s"}, rid, timed_out=True)
        if isinstance(result, ev.CommandAnswered):
            return CommandOutcome(result.code, dict(result.params), rid, result.name)
        return CommandOutcome(-1, {"error": _reason(result)}, rid)

    def read_properties(
        self, device_id: str, service_id: str | None = None, timeout: float = 5.0
    ) -> dict[str, dict[str, Any]]:
        """The device's current values, read through its getters; TimeoutError if it is silent."""
        rid = self.shadows.read(device_id, service_id)
        result = self._wait(rid, timeout)
        if result is None:
            self.shadows.forget(rid)
            raise TimeoutError(f"device {device_id!r} did not answer a property read within {timeout:g} s")
        if not isinstance(result, ev.ReadAnswered):
            raise InvalidValue(f"device {device_id!r} answered the read badly: {_reason(result)}")
        return {sid: dict(values) for sid, values in result.services.items()}

    def send_message(self, device_id: str, payload: bytes) -> None:
        """A free-form message to the device (the device logs it)."""
        self.shadows.send_message(device_id, payload)

    def send_event(
        self, device_id: str, service_id: str, event_type: str, params: Mapping[str, Any] | None = None
    ) -> None:
        """A platform event to one of the device's services."""
        self.shadows.send_event(device_id, service_id, event_type, params)

    def _wait(self, rid: str, timeout: float) -> Result | None:
        # _on_result runs under the shadows' lock: never take that lock while holding _answered.
        with self._answered:
            self._answered.wait_for(lambda: rid in self._done, timeout)
            self._done.pop(rid, None)
        return self.shadows.take_result(rid)

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
            self.worker.submit(lambda: self.shadows.receive(topic, payload))

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
            result = self._run_app(body)
        except (InvalidValue, CodecError, TimeoutError, ValueError, TypeError, KeyError) as exc:
            self._publish(appapi.response(rid, error=str(exc)))
        else:
            self._publish(appapi.response(rid, result=result))

    def _run_app(self, body: dict[str, Any]) -> Any:
        op = body["op"]
        device_id = _text(body, "device_id")
        timeout = float(body.get("timeout", 5.0))
        if op == "get_shadow":
            return self.get_shadow(device_id)
        if op == "read":
            return self.read_properties(device_id, body.get("service_id"), timeout)
        if op == "set_desired":
            props = body.get("properties")
            if not isinstance(props, dict):
                raise InvalidValue("set_desired needs an object of properties")
            outcome = self.set_desired(device_id, _text(body, "service_id"), props, timeout)
            return {"ok": outcome.ok, "errors": dict(outcome.errors), "pending": outcome.pending}
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise InvalidValue("send_command needs an object of params")
        cmd = self.send_command(device_id, body.get("service_id"), _text(body, "name"), params, timeout)
        return {"code": cmd.code, "paras": dict(cmd.params), "timed_out": cmd.timed_out}


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidValue(f"{key} is required")
    return value


def _reason(result: Result) -> str:
    return getattr(result, "reason", None) or repr(result)
