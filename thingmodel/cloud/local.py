"""``LocalCloud``: the shadow service running live on an MQTT broker (embedded or external).

    with LocalCloud(store="shadows.sqlite3") as cloud:      # embedded broker on 127.0.0.1:1883
        outcome = cloud.set_desired("dev1", "smokeDetector", {"alarm": 1})
        print(outcome.ok, cloud.get_shadow("dev1"))

Device uplinks are handled on one worker thread (never paho's network thread); application
calls block the caller until the device answers or the timeout passes.

This class is the application core: the methods under "application API" are what the CLI, the
console and the vendors' HTTP dialects (:mod:`.http`, served with ``http_port``) all call.
:attr:`presence` says which devices are online and :attr:`feed` what passes to and from them.

OTA and files (they need ``http_port``: devices download and upload over HTTP):

    upgrade = cloud.upgrade("dev1", Path("fw-1.1.bin"), version="1.1")   # or cloud.packages.add(...)
    cloud.wait_upgrade(upgrade.task_id, timeout=60).state               # "succeeded" | "failed"
    cloud.put_file("dev1", "settings.bin", data); cloud.file("dev1", "upload.log")

:attr:`packages` and :attr:`file_store` keep their bytes beside the ``store`` file (else in a
private temporary directory); each offer or file URL carries a token good for that transfer
only, which the feed never shows.

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
import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import quote

import attrs

from ..brokers import EmbeddedBroker, ServerTls
from ..errors import DeviceOffline, InvalidValue, NotSupported, UnknownDevice
from ..protocol import messages as ev
from ..transport import Ack, BrokerAddress, IoLoop, MqttTransport, TlsOptions
from ..transport.mqtt import ack_all
from ..transport.worker import BatchWorker
from .access import CloudPolicy, vendor_rules
from .activity import DeviceActivity
from .app import CommandOutcome, DesireOutcome, Result, command_outcome, desire_outcome, reason_of
from .feed import Feed
from .files import FileService, FileStore, StoredFile, Tokens, new_token, redact
from .gateways import GatewayBook
from .ota import (
    DeviceVersions,
    OtaService,
    Package,
    PackageStore,
    Upgrade,
    UpgradeRunning,
    new_task_id,
    package_name_for,
    validate_kind,
)
from .platforms import VendorCloud, make_cloud
from .presence import DeviceSummary, Presence
from .shadows import ShadowCloud

if TYPE_CHECKING:
    from ..model.product import ProductModel
    from .http import AppKey, HttpServer
    from .provisioning import ProvisioningService
    from .registry import Registry

log = logging.getLogger("thingmodel.cloud")

MAX_ANSWERED = 10_000
"""Answered request ids kept for waiters (the oldest go first)."""
OFFER_TTL = 86400.0
"""Seconds a package's download token lasts at most (the upgrade's end revokes it first)."""
BEARER_VENDORS = frozenset({"huawei"})
"""Vendors whose offer carries the download token (Huawei ``access_token``, sent back as
``Authorization: Bearer``); elsewhere the token is in the URL's query (like a presigned URL)."""


class _OtaPlatform(Protocol):
    """What :class:`ShadowCloud` and :class:`~.aws.AwsCloud` add to a vendor cloud for OTA."""

    ota: OtaService

    def start_upgrade(self, offer: ev.OfferUpgrade, package_id: str | None = None) -> Upgrade: ...
    def query_version(self, device_id: str) -> None: ...


def _beside(store: str | None, suffix: str) -> Path | None:
    """The directory beside a shadow store file (None for a store in memory)."""
    if not store or store == ":memory:":
        return None
    return Path(store).with_suffix(suffix)


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
        provisioning: ProvisioningService | None = None,
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
        #: which children each gateway speaks for (children are devices with their own shadows)
        self.gateways = GatewayBook()
        #: the provisioning service (Huawei bootstrap, AWS fleet provisioning, Tencent dynamic
        #: registration) this cloud runs, if any
        self.provisioning = provisioning
        self.policy = CloudPolicy(
            vendor, registry, self._cloud_password, presence=self.presence, provisioning=provisioning
        )
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
            # a gateway's child is a device too, registered or not (Huawei's never are), and so
            # is a thing a registered one acts for (AWS)
            self.platform.known = lambda d: (
                d in registry or self.gateways.parent_of(d) is not None or registry.actor_for(d) is not None
            )
        self._serve_gateways()
        self._answered = threading.Condition()
        self._done: OrderedDict[str, None] = OrderedDict()  # answered request ids (bounded)
        self._turns = _Turns()
        self.transport: MqttTransport | None = None
        self._http_port, self._app_key = http_port, app_key
        #: the HTTP side (thingmodel API, console, the vendor's REST dialect), with ``http_port``
        self.http: HttpServer | None = None
        #: the tokens of package downloads and device file transfers
        self.transfer_tokens = Tokens()
        #: OTA packages, on disk beside the store (or in a private temporary directory)
        self.packages = PackageStore(_beside(store, ".packages"), in_use=self._package_in_use)
        #: devices' files (Huawei ``$file_manager``), on disk beside the store (or temporary)
        self.file_store = FileStore(_beside(store, ".files"))
        #: issues the URLs devices upload and download files with
        self.file_service = FileService(self.file_store, lambda: self.http_url, self.transfer_tokens)
        self._ota.ota.book.on_change = self._upgrade_changed
        if isinstance(self.platform, ShadowCloud):
            self.platform.file_urls = self.file_service.answer
        if provisioning is not None:
            provisioning.bind(self)

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The broker URL devices and applications connect to."""
        scheme = "mqtt" if self.listener_tls is None else "mqtts"
        return self._broker_url or f"{scheme}://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> LocalCloud:
        if self._store_path:
            self.platform.open_store(self._store_path)
            self.gateways.keep_in(self._store_path)
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
        extra = self.provisioning.subscriptions() if self.provisioning is not None else []
        self.transport = MqttTransport(
            address.host,
            address.port,
            lambda: (client_id, username, password),
            tls=tls,
            subscriptions=[*self.platform.subscriptions(), *extra],
            clean_session=False,
            on_message=self._on_message,
            ack_when_handled=True,
            name="local-cloud",
            # its own I/O loop: the cloud's traffic never waits behind devices in the same process
            loop=IoLoop("thingmodel-cloud-io", connectors=1),
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
            self.transport.loop.close()
        self.worker.stop()
        if self.embedded is not None:
            self.embedded.stop()
        self.platform.close()
        self.gateways.close()
        self.packages.close()
        self.file_store.close()

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
        """True for a device with a shadow, a connection since the start, a registration, or a
        gateway it is a child of."""
        if self.presence.summary(device_id) is not None or self.gateways.parent_of(device_id):
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
        return [
            self._versioned(seen.get(i) or DeviceSummary(i, False if exact else None)) for i in sorted(ids)
        ]

    def summary(self, device_id: str) -> DeviceSummary:
        """One device's summary; UnknownDevice for a device the cloud does not know."""
        found = self.presence.summary(device_id)
        if found is not None:
            return self._versioned(found)
        self.require(device_id)
        return self._versioned(DeviceSummary(device_id, False if self.presence.exact else None))

    def _versioned(self, summary: DeviceSummary) -> DeviceSummary:
        versions = self._ota.ota.book.versions(summary.device_id)
        if versions is None:
            return summary
        return attrs.evolve(summary, fw_version=versions.fw_version, sw_version=versions.sw_version)

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
        """The devices with a shadow, then the gateways' children that have none yet."""
        with self._turns.call():
            found = self.platform.devices()
        known = set(found)
        children = [c.device_id for g in self.gateways.gateways() for c in self.gateways.children_of(g)]
        return found + [c for c in children if c not in known]

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

    # -- on-device rules -----------------------------------------------------------------------
    def push_rules(self, device_id: str, rules: list[dict[str, Any]]) -> dict[str, int]:
        """Make ``rules`` (IoTDA's rule JSON) the device's on-device rules (Huawei
        ``$device_rule``): changed ones get a new version, those left out are deleted, and the
        device is told now (if online) and after each reconnect; it fetches what it lacks and
        runs them itself. Returns ``{rule_id: version}``. UnknownDevice, NotSupported on a
        vendor without rules, InvalidValue (nothing changed) for rules the cloud cannot keep."""
        self.require(device_id)
        if not isinstance(self.platform, ShadowCloud):
            raise NotSupported(f"{self.vendor} has no on-device rules (Huawei IoTDA's $device_rule only)")
        with self._turns.call():
            versions = self.platform.push_rules(device_id, rules)
        log.info("rules of %s: %s", device_id, versions)
        return versions

    def rules(self, device_id: str) -> list[dict[str, Any]]:
        """The device's on-device rules as the cloud keeps them (with ``ruleVersionInShadow``)."""
        self.require(device_id)
        if not isinstance(self.platform, ShadowCloud):
            return []
        with self._turns.call():
            return self.platform.rules(device_id)

    # -- OTA -----------------------------------------------------------------------------------
    @property
    def _ota(self) -> _OtaPlatform:
        return cast(_OtaPlatform, self.platform)

    def check_upgrade(self, device_id: str) -> None:
        """Raise what :meth:`upgrade` would before it stores anything: InvalidValue without an
        HTTP server, UnknownDevice, DeviceOffline, :class:`~.ota.UpgradeRunning`."""
        if self.http_url is None:
            raise InvalidValue(
                "an upgrade needs the cloud's HTTP server to serve the package: start the LocalCloud "
                "with http_port=0 (a free port) or a port number (`thingmodel cloud` serves HTTP on "
                "its --http-port, 8780 by default)"
            )
        self.require(device_id)
        if self.presence.is_online(device_id) is False:
            raise DeviceOffline(device_id)
        running = self._ota.ota.book.running(device_id)
        if running is not None:
            raise UpgradeRunning(
                f"device {device_id!r} is already upgrading (task {running.task_id}, to "
                f"{running.version}: {running.describe()}); one upgrade runs at a time"
            )

    def upgrade(
        self,
        device_id: str,
        package: Package | bytes | Path,
        *,
        version: str | None = None,
        kind: ev.UpgradeKind | None = None,
    ) -> Upgrade:
        """Start upgrading the device to ``package`` (one from :attr:`packages`, or bytes or a
        file, stored first: ``version`` is then required; ``kind`` firmware unless said) and
        return the pending upgrade at once (:meth:`wait_upgrade` waits for its end). The device
        is offered a URL on the HTTP server with a token good for this upgrade only (Huawei: as
        ``access_token``, elsewhere in the URL). Raises what :meth:`check_upgrade` raises, and
        InvalidValue for a bad package, version or kind."""
        self.check_upgrade(device_id)
        chosen = self._package(package, version, kind)
        base = self.http_url
        assert base is not None
        task_id = new_task_id()
        token = self.transfer_tokens.issue(("package", chosen.id, task_id), OFFER_TTL, new_token())
        url = f"{base}/thingmodel/v1/packages/{chosen.id}/{quote(chosen.name)}"
        bearer = self.vendor in BEARER_VENDORS
        if not bearer:
            url += f"?token={token}"
        offer = ev.OfferUpgrade(
            device_id,
            chosen.version,
            url,
            chosen.size,
            chosen.sha256,
            chosen.md5,
            token if bearer else None,
            task_id,
            chosen.kind,
        )
        try:
            with self._turns.call():
                return self._ota.start_upgrade(offer, chosen.id)
        except BaseException:
            self.transfer_tokens.revoke(token)
            raise

    def _package(self, package: Package | bytes | Path, version: str | None, kind: str | None) -> Package:
        if kind is not None:
            validate_kind(kind)
        if isinstance(package, Package):
            stored = self.packages.get(package.id)
            if version is not None and version != stored.version:
                raise InvalidValue(f"package {stored.id} is version {stored.version}, not {version}")
            if kind is not None and kind != stored.kind:
                raise InvalidValue(f"package {stored.id} is {stored.kind}, not {kind}")
            return stored
        if version is None:
            raise InvalidValue("give the version the package installs (version=...)")
        name = package_name_for(package.name) if isinstance(package, Path) else "package.bin"
        return self.packages.add(package, version=version, name=name, kind=validate_kind(kind or "firmware"))

    def get_upgrade(self, task_id: str) -> Upgrade:
        """One upgrade as it stands; InvalidValue for an unknown (or long forgotten) task."""
        return self._ota.ota.book.require(task_id)

    def upgrades(self, device_id: str) -> list[Upgrade]:
        """The device's upgrades, oldest first (the latest ``per_device`` are kept)."""
        self.require(device_id)
        return self._ota.ota.book.of(device_id)

    def latest_upgrade(self, device_id: str) -> Upgrade | None:
        """The device's most recent upgrade (None: none kept)."""
        return self._ota.ota.book.latest(device_id)

    def wait_upgrade(self, task_id: str, timeout: float = 60.0) -> Upgrade:
        """The upgrade once it has ended (succeeded or failed); TimeoutError if it has not
        within ``timeout`` seconds (it goes on), InvalidValue for an unknown task."""
        upgrade = self._ota.ota.book.wait(task_id, timeout)
        if not upgrade.terminal:
            raise TimeoutError(
                f"upgrade {task_id} of {upgrade.device_id} did not end within {timeout:g} s "
                f"(it is {upgrade.describe()}; it goes on)"
            )
        return upgrade

    def next_upgrade_change(self, task_id: str, after: int, timeout: float) -> Upgrade:
        """The upgrade once its ``revision`` is past ``after`` or it has ended, else as it is
        when ``timeout`` passes (a long poll)."""
        return self._ota.ota.book.wait(task_id, timeout, after=after)

    def cancel_upgrade(self, task_id: str, reason: str = "cancelled by the application") -> Upgrade:
        """End a running upgrade as failed (``cancelled``), so that another may start; the
        device is not told (no vendor protocol has a cancel) and its reports are then ignored."""
        return self._ota.ota.book.cancel(task_id, reason)

    def versions(self, device_id: str) -> DeviceVersions | None:
        """The versions the device last reported (or installed through an upgrade)."""
        return self._ota.ota.book.versions(device_id)

    def query_version(self, device_id: str, timeout: float = 5.0) -> DeviceVersions:
        """Ask the device which versions it runs and wait for its report (Huawei
        ``version_query``); NotSupported on other vendors, TimeoutError if it does not answer."""
        self.require(device_id)
        if self.presence.is_online(device_id) is False:
            raise DeviceOffline(device_id)
        book = self._ota.ota.book
        before = book.versions(device_id)
        with self._turns.call():
            self._ota.query_version(device_id)
        found = book.wait_versions(device_id, before.reports if before else 0, timeout)
        if found is None:
            raise TimeoutError(f"device {device_id!r} did not report its versions within {timeout:g} s")
        return found

    def _package_in_use(self, package_id: str) -> bool:
        return package_id in self._ota.ota.book.packages_in_use()

    def _upgrade_changed(self, upgrade: Upgrade) -> None:
        payload = json.dumps(upgrade.as_json()).encode()
        self.feed.add("upgrade", upgrade.device_id, f"upgrade/{upgrade.task_id}", payload, remember=False)
        if upgrade.terminal:
            task = upgrade.task_id
            self.transfer_tokens.revoke_where(lambda scope: scope[0] == "package" and scope[2:] == (task,))

    # -- files ---------------------------------------------------------------------------------
    def files(self, device_id: str) -> list[str]:
        """The names of the files the cloud keeps for the device (uploaded by it, or put)."""
        self.require(device_id)
        return [f.name for f in self.file_store.listing(device_id)]

    def file(self, device_id: str, name: str) -> bytes | None:
        """The device's file ``name`` (None: there is none)."""
        return self.file_store.read(device_id, name)

    def put_file(self, device_id: str, name: str, data: bytes | Path) -> StoredFile:
        """Keep ``data`` as the device's file ``name``: the device can download it (Huawei
        ``get_download_url``)."""
        self.require(device_id)
        return self.file_store.put(device_id, name, data)

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
        # the feed is shown to people: transfer tokens in offers and file URLs are hidden
        device_id = self._rules.topic_device(message.topic)
        self.feed.add("down", device_id, message.topic, redact(message.payload))
        if self.transport is not None:
            self.transport.publish(message)

    def _presence_changed(self, device_id: str, online: bool) -> None:
        log.info("device %s %s", device_id, "connected" if online else "disconnected")
        self.feed.add("online" if online else "offline", device_id)
        if not online:  # a gateway's children go with it
            self._children_status(device_id, dict.fromkeys(self.gateways.online_children(device_id), False))

    # -- gateways --------------------------------------------------------------------------------
    def _serve_gateways(self) -> None:
        """Give the vendor cloud, its codec and the broker policy this cloud's book of gateways,
        and (with a registry) the children's secrets that binds are checked against."""
        self.policy.gateways = self.gateways
        if not isinstance(self.platform, ShadowCloud):
            return
        self.platform.gateways = self.gateways
        self.platform.on_children = self._children_status
        if hasattr(self.platform.codec, "parent_of"):
            self.platform.codec.parent_of = self.gateways.parent_of
        registry = self.registry
        if registry is not None:
            self.platform.child_secret = lambda device_id: getattr(registry.get(device_id), "secret", None)

    def _children_status(self, gateway_id: str, changed: Mapping[str, bool]) -> None:
        """Children its gateway said went online or offline: presence follows (once each)."""
        for device_id, online in changed.items():
            if online:
                self.presence.connected(device_id, f"through {gateway_id}")
            else:
                self.gateways.set_online(device_id, False)
                self.presence.disconnected(device_id)

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
                    if self.provisioning is not None and self.provisioning.handles(topic):
                        self.provisioning.receive(topic, payload)  # it feeds what it may show
                        continue
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
