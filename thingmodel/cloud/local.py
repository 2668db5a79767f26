"""``LocalCloud``: the shadow service running live on an MQTT broker (embedded or external).

    with LocalCloud(store="shadows.sqlite3") as cloud:      # embedded broker on 127.0.0.1:1883
        outcome = cloud.set_desired("dev1", "smokeDetector", {"alarm": 1})
        print(outcome.ok, cloud.get_shadow("dev1"))

Device uplinks are handled on one worker thread (never paho's network thread); application
calls block the caller until the device answers or the timeout passes.

This class is the application core: the methods under "application API" are what the CLI, the
console and the vendors' HTTP dialects (:mod:`.http`, served with ``http_port``) all call.
:attr:`presence` says which devices are online and :attr:`feed` what passes to and from them.

Acknowledged means stored: the worker takes the uplinks waiting (up to 500, or ~20 ms of work),
handles them inside one store transaction, commits, and only then sends their PUBACKs, in
arrival order. Application calls run between batches (waiting callers go before the next
batch), so they see and answer only what is committed, and never share a transaction with
the worker. At most
``queue_limit`` uplinks wait: when they do, paho's network thread waits, so the broker holds
back instead of this process growing. The cloud's MQTT session is persistent (a fixed client
id, ``clean_session=False``, QoS 1 device filters): with an external broker, what devices send
while the cloud is down (or restarting after a crash) is delivered when it is back.

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
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..brokers import EmbeddedBroker, ServerTls
from ..errors import DeviceOffline, InvalidValue, UnknownDevice
from ..protocol import messages as ev
from ..transport import Ack, BrokerAddress, MqttTransport, TlsOptions
from ..transport.mqtt import ack_all
from ..transport.worker import BatchWorker
from .access import CloudPolicy, vendor_rules
from .activity import DeviceActivity
from .app import CommandOutcome, DesireOutcome, Result, command_outcome, desire_outcome, reason_of
from .feed import Feed
from .platforms import VendorCloud, make_cloud
from .presence import DeviceSummary, Presence
from .shadows import ShadowCloud

if TYPE_CHECKING:
    from ..model.product import ProductModel
    from .http import AppKey, HttpServer
    from .registry import Registry

log = logging.getLogger("thingmodel.cloud")

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
        http_port: int | None = None,
        app_key: AppKey | None = None,
        model: ProductModel | None = None,
    ) -> None:
        self.vendor = vendor
        #: the devices that may connect (None: development mode, everyone may)
        self.registry = registry
        self._cloud_password = registry.cloud_secret if registry is not None else secrets.token_urlsafe(24)
        #: what the embedded broker asks about each connection, publish and subscribe
        #: which devices are online (exact with the embedded broker) and when each was last heard
        self.presence = Presence(exact=broker is None, on_change=self._presence_changed)
        #: the messages exchanged with devices, their comings and goings, shadow changes
        self.feed = Feed()
        #: the product model the console's forms and typed ``KEY=VALUE`` input follow (optional)
        self.model = model
        self._rules = vendor_rules(vendor)
        self.policy = CloudPolicy(vendor, registry, self._cloud_password, presence=self.presence)
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
        self.transport: MqttTransport | None = None
        self._http_port, self._app_key = http_port, app_key
        #: the HTTP side (thingmodel API, console, the vendor's REST dialect), with ``http_port``
        self.http: HttpServer | None = None

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
            subscriptions=self.platform.subscriptions(),
            clean_session=False,
            on_message=self._on_message,
            ack_when_handled=True,
            name="local-cloud",
        )
        self.worker.start()
        try:
            self.transport.start(timeout)
            if self._http_port is not None:
                from .http import HttpServer

                # unauthenticated, the HTTP side is for this machine only, whatever host MQTT uses
                http_host = self.host if self._app_key is not None else "127.0.0.1"
                self.http = HttpServer(self, http_host, self._http_port, self._app_key).start(timeout)
        except BaseException:
            self.stop()
            raise
        log.info("local cloud (%s) serving on %s; %s", self.vendor, self.url, self.mode)
        return self

    @property
    def http_url(self) -> str | None:
        """Where the HTTP side listens (None without ``http_port``)."""
        return None if self.http is None else self.http.url

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
        if self.http is not None:
            self.http.stop()
        if self.transport is not None:
            self.transport.stop()
        self.worker.stop()
        if self.embedded is not None:
            self.embedded.stop()
        self.platform.close()

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- application API -----------------------------------------------------------------------
    def turn(self) -> AbstractContextManager[None]:
        """Hold the platform between the worker's batches: what runs inside sees only committed
        state and may call ``self.platform`` directly (the vendor dialects do)."""
        return self._turns.call()

    def publish(self, message: ev.Outgoing) -> None:
        """Send a message to a device (it appears in the feed)."""
        self._publish(message)

    def is_known(self, device_id: str) -> bool:
        """True for a device with a shadow, a connection since the start, or a registration."""
        if self.presence.summary(device_id) is not None:
            return True
        if self.registry is not None and device_id in self.registry:
            return True
        with self._turns.call():
            return bool(self.platform.shadow(device_id))

    def require(self, device_id: str) -> None:
        """UnknownDevice unless :meth:`is_known`."""
        if not self.is_known(device_id):
            raise UnknownDevice(device_id)

    def summaries(self) -> list[DeviceSummary]:
        """Every device the cloud knows: online state and last seen, sorted by id."""
        seen = {s.device_id: s for s in self.presence.summaries()}
        ids = set(seen) | set(self.devices())
        if self.registry is not None:
            ids |= set(self.registry.devices())
        exact = self.presence.exact
        return [seen.get(i) or DeviceSummary(i, False if exact else None) for i in sorted(ids)]

    def summary(self, device_id: str) -> DeviceSummary:
        """One device's summary; UnknownDevice for a device the cloud does not know."""
        found = self.presence.summary(device_id)
        if found is not None:
            return found
        self.require(device_id)
        return DeviceSummary(device_id, False if self.presence.exact else None)

    def activity(self, device_id: str) -> DeviceActivity:
        """What the device sent that no shadow keeps: messages, events, info and logs."""
        with self._turns.call():
            of = getattr(self.platform, "activity", None)
            return of(device_id) if callable(of) else DeviceActivity()

    def delete_shadow(self, device_id: str, service_id: str | None = None) -> list[str]:
        """Delete the device's shadow (one service's, or all); the services deleted."""
        with self._turns.call():
            deleted = self.platform.delete_shadow(device_id, service_id)
        if deleted:
            log.info("deleted the shadow of %s: %s", device_id, ", ".join(deleted))
            self.feed.add("shadow", device_id, remember=False)
        return deleted

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
        """Desire values; wait for the device's answer (``pending`` if it does not come in time,
        or at once when the device is offline)."""
        with self._turns.call():
            rid = self.platform.desire(device_id, {service_id: dict(properties)})
        log.info("desired %s/%s %s (request %s)", device_id, service_id, dict(properties), rid)
        self.feed.add("shadow", device_id, remember=False)
        wait = 0.0 if self.presence.is_online(device_id) is False else timeout
        outcome = desire_outcome(rid, self._wait(rid, wait, forget=False))  # a desire stays pending
        log.info("desire %s of %s: %s", rid, device_id, _said(outcome))
        return outcome

    def send_command(
        self,
        device_id: str,
        service_id: str | None,
        name: str,
        params: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> CommandOutcome:
        """Send a command and wait for the device's response; DeviceOffline at once for a device
        the embedded broker knows is not connected."""
        if self.presence.is_online(device_id) is False:
            self.require(device_id)
            raise DeviceOffline(device_id)
        with self._turns.call():
            rid = self.platform.command(device_id, service_id, name, params)
        log.info("command %s to %s/%s %s (request %s)", name, device_id, service_id, dict(params or {}), rid)
        result = self._wait(rid, timeout)
        outcome = command_outcome(rid, result, silence=f"no answer within {timeout:g} s")
        log.info("command %s of %s: code %s %s", rid, device_id, outcome.code, dict(outcome.params))
        return outcome

    def read_properties(
        self, device_id: str, service_id: str | None = None, timeout: float = 5.0
    ) -> dict[str, dict[str, Any]]:
        """The device's current values, read through its getters; TimeoutError if it is silent,
        DeviceOffline at once when it is known not to be connected."""
        if self.presence.is_online(device_id) is False:
            self.require(device_id)
            raise DeviceOffline(device_id)
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
        self.feed.add("down", self._rules.topic_device(message.topic), message.topic, message.payload)
        if self.transport is not None:
            self.transport.publish(message)

    def _presence_changed(self, device_id: str, online: bool) -> None:
        log.info("device %s %s", device_id, "connected" if online else "disconnected")
        self.feed.add("online" if online else "offline", device_id)

    def _on_result(self, rid: str, result: Result) -> None:
        with self._answered:
            self._done[rid] = None
            while len(self._done) > MAX_ANSWERED:
                self._done.popitem(last=False)
            self._answered.notify_all()

    def _on_message(self, topic: str, payload: bytes, ack: Ack) -> None:
        # On paho's network thread: device uplinks wait for the worker, blocking here while it
        # is full.
        if not self.worker.put((topic, payload, ack)):
            log.warning("uplink on %s arrived after the worker stopped; the broker sends it again", topic)

    def _handle_uplinks(self, uplinks: Iterator[_Uplink]) -> None:
        """One batch: handled in one store transaction, acknowledged in order once committed."""
        acks: list[Ack] = []
        touched: dict[str | None, None] = {}
        try:
            with self._turns.batch(), store_transaction(self.platform):
                for topic, payload, ack in uplinks:
                    acks.append(ack)
                    device_id = self._rules.topic_device(topic)
                    touched[device_id] = None
                    self.feed.add("up", device_id, topic, payload)
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
            for device_id in touched:  # committed: watchers may read the shadows now
                if device_id is not None:
                    self.presence.heard(device_id)
                    self.feed.add("shadow", device_id, remember=False)


def _said(outcome: DesireOutcome) -> str:
    if outcome.pending:
        return "pending (no answer yet)"
    return "applied" if outcome.ok else f"refused {dict(outcome.errors)}"
