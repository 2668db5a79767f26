"""``LocalCloud``: the shadow service running live on an MQTT broker (embedded or external).

    with LocalCloud(store="shadows.sqlite3") as cloud:      # embedded broker on 127.0.0.1:1883
        outcome = cloud.set_desired("dev1", "smokeDetector", {"alarm": 1})
        print(outcome.ok, cloud.get_shadow("dev1"))

Device uplinks are handled on one worker thread (never paho's network thread); application
calls block the caller until the device answers or the timeout passes.

Acknowledged means stored: the worker takes the uplinks waiting (up to 500, or ~20 ms of work),
handles them inside one store transaction, commits, and only then sends their PUBACKs, in
arrival order. Application calls run between batches (waiting callers go before the next
batch), so they see and answer only what is committed, and never share a transaction with
the worker. At most
``queue_limit`` uplinks wait: when they do, paho's network thread waits, so the broker holds
back instead of this process growing. The cloud's MQTT session is persistent (a fixed client
id, ``clean_session=False``, QoS 1 device filters): with an external broker, what devices send
while the cloud is down (or restarting after a crash) is delivered when it is back. Application
requests are subscribed at QoS 0, so a request its caller gave up on while the cloud was away
is not served late.

Who gets in (embedded broker): without a ``registry`` the cloud runs in development mode, every
client is accepted and may use any topic (Huawei devices are still subscribed to IoTDA's system
downlinks without asking, as on IoTDA). With one, only its devices connect, each checked as its
vendor checks it (:mod:`.access`), and each may use only its own topics; the cloud's own clients
present the registry's ``cloud_secret``, and a desire for an unregistered device is refused. With
an external ``broker``, that broker does the authentication (see the README).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..brokers import EmbeddedBroker, ServerTls
from ..errors import CodecError, InvalidValue
from ..protocol import messages as ev
from ..transport import Ack, BrokerAddress, MqttTransport, TlsOptions
from ..transport.mqtt import ack_all
from ..transport.worker import BatchWorker
from . import appapi
from .access import CloudPolicy
from .app import (
    CommandOutcome,
    DesireOutcome,
    Result,
    command_outcome,
    desire_outcome,
    reason_of,
    run_operation,
)
from .platforms import VendorCloud, make_cloud
from .shadows import ShadowCloud

if TYPE_CHECKING:
    from .registry import Registry

log = logging.getLogger("thingmodel.cloud")

APP_WORKERS = 4
APP_BACKLOG = 256
"""Application requests waiting for the pool beyond those it runs; past that they are refused."""
MAX_ANSWERED = 10_000
"""Answered request ids kept for waiters (the oldest go first)."""

_Uplink = tuple[str, bytes, Ack]


class _Turns:
    """Batches of the worker and application calls, one at a time; callers waiting when a batch
    ends go before the next one (a busy worker cannot starve the application API)."""

    def __init__(self, patience: float = 0.05) -> None:
        self._lock = threading.RLock()  # re-entrant: on_uplink code may call the application API
        self._waiting = threading.Condition()
        self._callers = 0
        self._patience = patience  # the longest a batch waits for callers to have their turn

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        with self._waiting:
            self._callers += 1
        try:
            self._lock.acquire()
        finally:
            with self._waiting:
                self._callers -= 1
                self._waiting.notify_all()
        try:
            yield
        finally:
            self._lock.release()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        with self._waiting:
            self._waiting.wait_for(lambda: not self._callers, self._patience)
        with self._lock:
            yield


def store_transaction(platform: VendorCloud) -> AbstractContextManager[None]:
    """The transaction of the store behind a vendor cloud (a no-op if it has none)."""
    store = getattr(platform, "store", None)  # ShadowCloud
    if store is None:  # AwsCloud
        store = getattr(getattr(platform, "shadow_service", None), "store", None)
    begin = getattr(store, "transaction", None)
    return begin() if callable(begin) else contextlib.nullcontext()


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
        client_id: str | None = None,
        queue_limit: int = 10_000,
        registry: Registry | None = None,
        listener_tls: ServerTls | None = None,
    ) -> None:
        self.vendor = vendor
        #: the devices that may connect (None: development mode, everyone may)
        self.registry = registry
        self._cloud_password = registry.cloud_secret if registry is not None else secrets.token_urlsafe(24)
        #: what the embedded broker asks about each connection, publish and subscribe
        self.policy = CloudPolicy(vendor, registry, self._cloud_password)
        #: the embedded broker's TLS listener (None: plain MQTT); its clients verify it with ``tls``
        self.listener_tls = listener_tls
        #: the cloud's MQTT client id; fixed, so the broker keeps its session across restarts
        #: (two clouds of one vendor on one broker need distinct ids)
        self.client_id = client_id or f"thingmodel-cloud-{vendor}"
        self._broker_url = broker
        self.host, self.port = host, port
        self._store_path = store
        self._auth = (username, password)
        self._tls = tls
        self.embedded: EmbeddedBroker | None = None
        #: handles device uplinks in batches, one store transaction each; at most queue_limit wait
        self.worker: BatchWorker[_Uplink] = BatchWorker(
            "local-cloud-worker", self._handle_uplinks, maxsize=queue_limit
        )
        self.platform = make_cloud(vendor, self._publish, on_result=self._on_result, on_uplink=on_uplink)
        if registry is not None and isinstance(self.platform, ShadowCloud):
            self.platform.known = registry.__contains__
        self._answered = threading.Condition()
        self._done: OrderedDict[str, None] = OrderedDict()  # answered request ids (bounded)
        self._turns = _Turns()
        self._app_pool = ThreadPoolExecutor(max_workers=APP_WORKERS, thread_name_prefix="local-cloud-app")
        self._app_slots = threading.BoundedSemaphore(APP_WORKERS + APP_BACKLOG)
        self._app_refusing = False
        #: application requests refused because the pool's backlog was full
        self.app_refused = 0
        self.transport: MqttTransport | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The broker URL devices and applications connect to."""
        scheme = "mqtt" if self.listener_tls is None else "mqtts"
        return self._broker_url or f"{scheme}://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> LocalCloud:
        if self._store_path:
            self.platform.open_store(self._store_path)
        if self._broker_url is None:
            broker = EmbeddedBroker(self.host, self.port, self.policy, tls=self.listener_tls)
            self.embedded = broker.start(timeout)
            self.port = self.embedded.port
        address = BrokerAddress.parse(self.url)
        tls = self._tls or (TlsOptions() if address.tls else None)
        client_id = self.client_id
        username, password = self._auth
        if self.embedded is not None and username is None and password is None:
            username, password = client_id, self._cloud_password
        self.transport = MqttTransport(
            address.host,
            address.port,
            lambda: (client_id, username, password),
            tls=tls,
            subscriptions=[*self.platform.subscriptions(), appapi.REQUEST_FILTER],
            subscription_qos={appapi.REQUEST_FILTER: 0},
            clean_session=False,
            on_message=self._on_message,
            ack_when_handled=True,
            name="local-cloud",
        )
        self.worker.start()
        try:
            self.transport.start(timeout)
        except BaseException:
            self.stop()
            raise
        log.info("local cloud (%s) serving on %s; %s", self.vendor, self.url, self.mode)
        return self

    @property
    def mode(self) -> str:
        """Who may connect, in words (the CLI's start-up line says it)."""
        if self._broker_url is not None:
            return f"authentication is the broker's ({self._broker_url})"
        if self.registry is None:
            return "development mode: any client may connect and use any topic (no --registry)"
        count = len(self.registry)
        devices = f"{count} registered device{'' if count == 1 else 's'}"
        return f"{devices} ({self.registry.path}), each on its own topics"

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
        with self._turns.call():
            shadows = self.platform.shadow(device_id)
        return {
            sid: {"desired": dict(s.desired), "reported": dict(s.reported), "version": s.version}
            for sid, s in shadows.items()
        }

    def devices(self) -> list[str]:
        with self._turns.call():
            return self.platform.devices()

    def set_desired(
        self, device_id: str, service_id: str, properties: Mapping[str, Any], timeout: float = 5.0
    ) -> DesireOutcome:
        """Desire values; wait for the device's answer (``pending`` if it does not come in time)."""
        with self._turns.call():
            rid = self.platform.desire(device_id, {service_id: dict(properties)})
        return desire_outcome(rid, self._wait(rid, timeout, forget=False))  # a desire stays pending

    def send_command(
        self,
        device_id: str,
        service_id: str | None,
        name: str,
        params: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> CommandOutcome:
        with self._turns.call():
            rid = self.platform.command(device_id, service_id, name, params)
        result = self._wait(rid, timeout)
        return command_outcome(rid, result, silence=f"no answer within {timeout:g} s")

    def read_properties(
        self, device_id: str, service_id: str | None = None, timeout: float = 5.0
    ) -> dict[str, dict[str, Any]]:
        """The device's current values, read through its getters; TimeoutError if it is silent."""
        with self._turns.call():
            rid = self.platform.read(device_id, service_id)
        result = self._wait(rid, timeout)
        if result is None:
            raise TimeoutError(f"device {device_id!r} did not answer a property read within {timeout:g} s")
        if not isinstance(result, ev.ReadAnswered):
            raise InvalidValue(f"device {device_id!r} answered the read badly: {reason_of(result)}")
        return {sid: dict(values) for sid, values in result.services.items()}

    def send_message(self, device_id: str, payload: bytes) -> None:
        """A free-form message to the device (the device logs it)."""
        with self._turns.call():
            self.platform.send_message(device_id, payload)

    def send_event(
        self, device_id: str, service_id: str, event_type: str, params: Mapping[str, Any] | None = None
    ) -> None:
        """A platform event to one of the device's services."""
        with self._turns.call():
            self.platform.send_event(device_id, service_id, event_type, params)

    def _wait(self, rid: str, timeout: float, *, forget: bool = True) -> Result | None:
        """The answer to ``rid``; None if it did not come in time (then ``forget`` it)."""
        # _on_result runs under the shadows' lock: never take that lock while holding _answered.
        with self._answered:
            self._answered.wait_for(lambda: rid in self._done, timeout)
            self._done.pop(rid, None)
        with self._turns.call():  # after the batch that brought the answer is committed
            result = self.platform.take_result(rid)
            if result is None and forget:
                self.platform.forget(rid)
        return result

    # -- plumbing ------------------------------------------------------------------------------
    def _publish(self, message: ev.Outgoing) -> None:
        if self.transport is not None:
            self.transport.publish(message)

    def _on_result(self, rid: str, result: Result) -> None:
        with self._answered:
            self._done[rid] = None
            while len(self._done) > MAX_ANSWERED:
                self._done.popitem(last=False)
            self._answered.notify_all()

    def _on_message(self, topic: str, payload: bytes, ack: Ack) -> None:
        # On paho's network thread. App requests come at QoS 0 (ack is a no-op), served by a
        # pool, not in order; device uplinks wait for the worker, blocking here while it is full.
        if topic.startswith(appapi.REQUEST_PREFIX):
            self._admit_app(topic, payload)
            ack()
        elif not self.worker.put((topic, payload, ack)):
            log.warning("uplink on %s arrived after the worker stopped; the broker sends it again", topic)

    def _handle_uplinks(self, uplinks: Iterator[_Uplink]) -> None:
        """One batch: handled in one store transaction, acknowledged in order once committed."""
        acks: list[Ack] = []
        try:
            with self._turns.batch(), store_transaction(self.platform):
                for topic, payload, ack in uplinks:
                    acks.append(ack)
                    try:
                        self.platform.receive(topic, payload)
                    except Exception:  # receive() logs bad input itself; this is a bug
                        log.exception("handling the uplink on %s failed", topic)
        except Exception:
            # MQTT 3.1.1 has no negative acknowledgement, and withholding PUBACKs would stall
            # the session: these are acknowledged, and the log says they are not stored.
            log.exception("committing %d uplinks failed: they are acknowledged but not stored", len(acks))
        finally:
            ack_all(acks)  # in order, in one write

    def _admit_app(self, topic: str, payload: bytes) -> None:
        if not self._app_slots.acquire(blocking=False):
            self.app_refused += 1
            if not self._app_refusing:  # once per overload, not per request
                log.warning("more than %d application requests wait: refusing new ones", APP_BACKLOG)
                self._app_refusing = True
            self._answer_bad_request(topic, f"the local cloud is busy ({APP_BACKLOG} requests wait); retry")
            return
        self._app_refusing = False
        try:
            future = self._app_pool.submit(self._serve_app, topic, payload)
        except RuntimeError:  # the pool is shut down: the cloud is stopping
            self._app_slots.release()
            return
        future.add_done_callback(self._free_app_slot)

    def _free_app_slot(self, future: Future[None]) -> None:
        self._app_slots.release()

    def _answer_bad_request(self, topic: str, reason: str) -> None:
        rid = topic.rsplit("/", 1)[-1]
        if rid and "+" not in rid and "#" not in rid:
            self._publish(appapi.response(rid, error=reason))

    def _serve_app(self, topic: str, payload: bytes) -> None:
        try:
            rid, body = appapi.parse_request(topic, payload)
        except CodecError as exc:
            log.warning("bad application request on %s: %s", topic, exc)
            self._answer_bad_request(topic, str(exc))
            return
        try:
            result = run_operation(self, body)
        except (InvalidValue, CodecError, TimeoutError, ValueError, TypeError, KeyError) as exc:
            self._publish(appapi.response(rid, error=str(exc)))
        else:
            self._publish(appapi.response(rid, result=result))
