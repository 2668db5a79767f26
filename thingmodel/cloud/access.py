"""The local cloud's broker policy: who may connect, and on which topics.

:class:`CloudPolicy` is what the embedded broker asks (its ``BrokerPolicy``): it accepts or refuses
each CONNECT, names the subscriptions a client gets without asking, and allows or denies each
PUBLISH and SUBSCRIBE. It applies each vendor's own rules (the ``access`` section at the end of
``thingmodel/vendors/<vendor>.py``), gathered per vendor by :func:`vendor_rules`.

- The cloud's own clients (client ids starting ``thingmodel-cloud`` or ``thingmodel-app``) may use
  any topic when they present the cloud's per-run password.
- Without a registry (development mode) every client is accepted and no topic rule applies; Huawei
  devices still get IoTDA's implicit subscriptions, so Huawei's SDK (which never subscribes) works.
- With a registry only its devices connect, each checked as its vendor checks it, and each may
  publish and subscribe on its own topics only, and a gateway on those of each child that is
  bound to it and online (``gateways``: the cloud's book; Tencent children use their own topics
  over their gateway's connection). A subscription granted stays until the gateway drops it or
  disconnects: MQTT has no way to take one back.
- With a provisioning service too, a client that is no registered device but presents a
  provisioning credential (a Huawei bootstrap secret or registration group, an AWS claim
  certificate) is let in onto the provisioning topics the service names, and nothing else; it
  does not count as online.

A SUBSCRIBE filter is allowed when one of the device's own filters matches every topic it can
match (:func:`filter_within`). A filter that only several of them cover together is refused: the
rule errs on the side of refusing, and no device needs such a filter.
"""

from __future__ import annotations

import functools
import hmac
import importlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import attrs

from ..errors import InvalidValue
from ..protocol.topics import topic_matches, validate_filter
from ..vendors import vendor as _vendor

if TYPE_CHECKING:
    from ..brokers.policy import BrokerPolicy
    from .gateways import GatewayBook
    from .presence import Presence
    from .registry import Credential, Registry

log = logging.getLogger("thingmodel.cloud.access")

#: Client-id prefixes of the cloud's own connections (LocalCloud, the CLI's application client).
CLOUD_PREFIXES = ("thingmodel-cloud", "thingmodel-app")
#: The system topics of each vendor protocol (by vendor module), to tell a device that speaks
#: another vendor than the cloud.
_VENDOR_PREFIXES = (("$oc/", "huawei"), ("$aws/", "aws"), ("$thing/", "tencent"), ("$shadow/", "tencent"))
_VENDOR_NAMES = {"huawei": "huawei", "aws": "aws", "tencent": "tencent-hub or tencent-explorer"}


class ClientLike(Protocol):
    """What the policy reads of a connecting client (the broker's ``ClientInfo``).

    A ``certificate`` attribute (DER bytes or None), when the client has one, is the client
    certificate the broker's TLS listener verified; see :func:`presented_certificate`.
    """

    @property
    def client_id(self) -> str: ...

    @property
    def username(self) -> str | None: ...

    @property
    def password(self) -> str | None: ...


@attrs.frozen
class Admission:
    """A client let in to be provisioned, onto these topics only; or refused, with the reason."""

    what: str
    """What it signed in with, in words (``registration group 'g1'``, ``claim certificate``)."""
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    reason: str | None = None


class ProvisioningAccess(Protocol):
    """What the policy asks the provisioning service (:mod:`thingmodel.cloud.provisioning`)."""

    def admit(self, client: ClientLike, peer: bytes | None, now: float) -> Admission | None:
        """The admission of a client presenting a provisioning credential (None: it presents none)."""
        ...

    def released(self, client: ClientLike) -> None:
        """A client it admitted has disconnected."""
        ...


@attrs.frozen
class VendorRules:
    """One vendor's access rules, as the registry and the policy use them."""

    module: str
    """The vendor module (``huawei``, ``tencent``, ``aws``): vendors sharing it share rules."""
    credential: str
    """What the registry keeps per device: ``"secret"`` or ``"cert_sha256"``."""
    validate_device_id: Callable[[str], str]
    validate_credential: Callable[[str], str]
    new_secret: Callable[[], str] | None
    identify: Callable[[str, str | None], str | None]
    implicit_subscriptions: Callable[[str], list[tuple[str, int]]]
    device_topics: Callable[[str], tuple[list[str], list[str]]]
    check: Callable[[Credential, ClientLike, bytes | None, float], str | None]
    """``(registered credential, client, peer certificate DER, now)`` -> None or the reason."""
    topic_device: Callable[[str], str | None]
    """The device a topic is about (None: not a device topic of this vendor)."""


@functools.cache
def vendor_rules(vendor: str) -> VendorRules:
    """The access rules of ``vendor`` (a name of ``thingmodel.vendors.VENDORS``)."""
    module_name = _vendor(vendor).module
    module = importlib.import_module(f"thingmodel.vendors.{module_name}")
    if module_name == "huawei":

        def check(cred: Credential, client: ClientLike, peer: bytes | None, now: float) -> str | None:
            reason: str | None = module.check_credentials(cred.secret, client.client_id, client.password, now)
            return reason

    elif module_name == "tencent":

        def check(cred: Credential, client: ClientLike, peer: bytes | None, now: float) -> str | None:
            reason: str | None = module.check_credentials(cred.secret, client.username, client.password, now)
            return reason

    else:

        def check(cred: Credential, client: ClientLike, peer: bytes | None, now: float) -> str | None:
            reason: str | None = module.check_certificate(cred.cert_sha256, peer)
            return reason

    by_certificate = module_name == "aws"
    return VendorRules(
        module=module_name,
        credential="cert_sha256" if by_certificate else "secret",
        validate_device_id=module.validate_device_id,
        validate_credential=module.validate_fingerprint if by_certificate else module.validate_secret,
        new_secret=None if by_certificate else module.new_secret,
        identify=module.identify,
        implicit_subscriptions=module.implicit_subscriptions,
        device_topics=module.device_topics,
        check=check,
        topic_device=module.topic_device,
    )


def presented_certificate(client: ClientLike) -> bytes | None:
    """The DER client certificate the broker's TLS listener verified (``ClientInfo.certificate``);
    None when there is none or the client has no such attribute."""
    certificate = getattr(client, "certificate", None)
    return certificate if isinstance(certificate, bytes) and certificate else None


def check_registry_vendor(registry: Registry, vendor: str) -> None:
    """InvalidValue unless ``registry``'s devices can sign in to a cloud speaking ``vendor``."""
    if vendor_rules(registry.vendor).module != vendor_rules(vendor).module:
        raise InvalidValue(f"{registry.path} registers {registry.vendor} devices, not {vendor} ones")


def filter_within(topic_filter: str, outer: str) -> bool:
    """True when every topic ``topic_filter`` can match is also matched by ``outer``.

    Both are valid MQTT filters. A wildcard in the first level never matches a ``$`` topic,
    so ``#`` is within ``+/#`` but ``$x`` is not.
    """
    inner_levels, outer_levels = topic_filter.split("/"), outer.split("/")
    for index, level in enumerate(outer_levels):
        if level == "#":
            return not (index == 0 and inner_levels[0].startswith("$"))
        if index >= len(inner_levels):
            return False  # inner's topics end here; outer's need another level
        inner = inner_levels[index]
        if inner == "#":  # any depth from here: only '#' covers it, or '+/#' (every topic has a level)
            return index == 0 and outer_levels == ["+", "#"]
        if level == "+":
            if index == 0 and inner.startswith("$"):
                return False
            continue
        if inner != level:  # a literal covers only itself, never '+'
            return False
    return len(inner_levels) == len(outer_levels)


class CloudPolicy:
    """The broker policy of the local cloud (see the module docstring).

    ``cloud_password`` is the per-run secret the cloud's own clients present; ``clock`` gives
    Unix seconds for signature times; ``peer_certificate`` returns the DER client certificate a
    TLS listener received from a client (None: no certificate), which AWS devices need. By
    default it is :func:`presented_certificate`: what the embedded broker's TLS listener verified.
    """

    def __init__(
        self,
        vendor: str,
        registry: Registry | None,
        cloud_password: str,
        *,
        clock: Callable[[], float] = time.time,
        peer_certificate: Callable[[ClientLike], bytes | None] | None = None,
        presence: Presence | None = None,
        provisioning: ProvisioningAccess | None = None,
    ) -> None:
        if not cloud_password:
            raise InvalidValue("the cloud password must not be empty")
        self.vendor = vendor
        self.rules = vendor_rules(vendor)
        if registry is not None:
            check_registry_vendor(registry, vendor)
        self.registry = registry
        self._cloud_password = cloud_password.encode()
        self._clock = clock
        self._peer_certificate = presented_certificate if peer_certificate is None else peer_certificate
        self._topics: dict[str, tuple[list[str], list[str]]] = {}
        #: told of each device's connections (the cloud's online states)
        self.presence = presence
        self._own_prefixes = tuple(p for p, name in _VENDOR_PREFIXES if name == self.rules.module)
        self._told: dict[str, None] = {}  # clients told they speak another vendor (bounded)
        #: admits clients presenting a bootstrap or claim credential onto its topics only
        self.provisioning = provisioning
        self._provisional: dict[ClientLike, Admission] = {}  # connected; by connection, bounded
        #: which children each gateway has, and which are online (None: no gateways)
        self.gateways: GatewayBook | None = None

    def __repr__(self) -> str:
        mode = "development mode" if self.registry is None else f"registry {self.registry.path}"
        return f"CloudPolicy(vendor={self.vendor!r}, {mode})"

    def authenticate(self, client: ClientLike) -> str | None:
        """None to accept the client, else the reason it is refused (never a secret)."""
        cid = client.client_id
        if client.client_id.startswith(CLOUD_PREFIXES):
            if self.registry is None or self._privileged(client):
                return None
            return f"client id {cid!r} is reserved for the cloud's own clients: wrong or no cloud password"
        if self.registry is None:
            return None
        reason = self._registered(client, self.registry)
        if reason is not None and self.provisioning is not None:
            admission = self.provisioning.admit(client, self._peer_certificate(client), self._clock())
            if admission is not None and admission.reason is None:
                self._provisional[client] = admission
                while len(self._provisional) > 10_000:
                    self.disconnected(next(iter(self._provisional)))
                return None
            if admission is not None:
                return f"client id {cid!r} ({admission.what}): {admission.reason}"
        return reason

    def _registered(self, client: ClientLike, registry: Registry) -> str | None:
        """None when the client is a registered device with its credential, else the reason."""
        cid = client.client_id
        device_id = self.rules.identify(cid, client.username)
        if device_id is None:
            return f"unknown client id {cid!r}: it names no {self.vendor} device"
        credential = registry.get(device_id)
        if credential is None:
            return f"unknown client id {cid!r}: device {device_id!r} is not registered"
        peer = self._peer_certificate(client)
        reason = self.rules.check(credential, client, peer, self._clock())
        return None if reason is None else f"client id {cid!r} (device {device_id!r}): {reason}"

    def implicit_subscriptions(self, client: ClientLike) -> list[tuple[str, int]]:
        """``(filter, qos)`` the platform subscribes this client to on connect (IoTDA's system topics)."""
        if client.client_id.startswith(CLOUD_PREFIXES) or client in self._provisional:
            return []
        device_id = self.rules.identify(client.client_id, client.username)
        return [] if device_id is None else self.rules.implicit_subscriptions(device_id)

    def may_publish(self, client: ClientLike, topic: str) -> bool:
        """True when the client may publish to ``topic``."""
        if topic.startswith("$") and not topic.startswith(self._own_prefixes):
            self._foreign(client, topic)
        if self.registry is None or self._privileged(client):
            return True
        own = self._own_topics(client)
        allowed = (
            own is not None
            and bool(topic)
            and "+" not in topic
            and "#" not in topic
            and any(
                topic_matches(topic_filter, topic) for topic_filter in own[0] + self._childs(client, topic)[0]
            )
        )
        if not allowed:
            log.info("client %r may not publish to %r", client.client_id, topic)
        return allowed

    def may_subscribe(self, client: ClientLike, topic_filter: str) -> bool:
        """True when every topic ``topic_filter`` can match is one of the client's own."""
        if self.registry is None or self._privileged(client):
            return True
        own = self._own_topics(client)
        try:
            validate_filter(topic_filter)
        except ValueError:
            own = None
        allowed = own is not None and any(
            filter_within(topic_filter, outer) for outer in own[1] + self._childs(client, topic_filter)[1]
        )
        if not allowed:
            log.info("client %r may not subscribe to %r", client.client_id, topic_filter)
        return allowed

    def _foreign(self, client: ClientLike, topic: str) -> None:
        """Say once per client that it speaks another vendor's protocol than this cloud."""
        speaks = next((name for prefix, name in _VENDOR_PREFIXES if topic.startswith(prefix)), None)
        if speaks is None or client.client_id in self._told or client.client_id.startswith(CLOUD_PREFIXES):
            return
        self._told[client.client_id] = None
        while len(self._told) > 10_000:
            self._told.pop(next(iter(self._told)))
        log.warning(
            "client %r publishes %s topics (%s), but this cloud speaks %s: give the device --vendor %s, "
            "or run a cloud with --vendor %s",
            client.client_id,
            speaks,
            topic[:80],
            self.vendor,
            self.vendor,
            _VENDOR_NAMES[speaks],
        )

    def connected(self, client: ClientLike) -> None:
        """A device's connection was accepted: it is online."""
        device_id = None if client in self._provisional else self._device_of(client)
        if device_id is not None and self.presence is not None:
            self.presence.connected(device_id, getattr(client, "address", None))

    def disconnected(self, client: ClientLike) -> None:
        if self._provisional.pop(client, None) is not None:  # being provisioned: not online
            if self.provisioning is not None:
                self.provisioning.released(client)
            return
        device_id = self._device_of(client)
        if device_id is not None and self.presence is not None:
            self.presence.disconnected(device_id)

    def _device_of(self, client: ClientLike) -> str | None:
        if client.client_id.startswith(CLOUD_PREFIXES):
            return None
        return self.rules.identify(client.client_id, client.username)

    def _privileged(self, client: ClientLike) -> bool:
        return (
            client.client_id.startswith(CLOUD_PREFIXES)
            and client.password is not None
            and hmac.compare_digest(client.password.encode(), self._cloud_password)
        )

    def _childs(self, client: ClientLike, topic: str) -> tuple[list[str], list[str]]:
        """The topics of the child ``topic`` names, when ``client`` is its gateway and the child
        is bound to it and online, or when the registry says the client's thing acts for it
        (AWS); else none."""
        child = self.rules.topic_device(topic)
        if child is None:
            return [], []
        actor = None if self.registry is None else self.registry.actor_for(child)
        if actor is None and self.gateways is not None and self.gateways.is_online(child):
            actor = self.gateways.parent_of(child)
        if actor is None or actor != self._device_of(client):
            return [], []
        topics = self._topics.get(child)
        if topics is None:
            topics = self._topics[child] = self.rules.device_topics(child)
        return topics

    def _own_topics(self, client: ClientLike) -> tuple[list[str], list[str]] | None:
        """``(publish, subscribe)`` filters of a registered device's client, else None."""
        admission = self._provisional.get(client)
        if admission is not None:
            return list(admission.publish), list(admission.subscribe)
        if client.client_id.startswith(CLOUD_PREFIXES):
            return None
        device_id = self.rules.identify(client.client_id, client.username)
        if device_id is None or self.registry is None or self.registry.get(device_id) is None:
            return None
        topics = self._topics.get(device_id)
        if topics is None:
            topics = self._topics[device_id] = self.rules.device_topics(device_id)
        return topics


if TYPE_CHECKING:

    def _is_a_broker_policy(policy: CloudPolicy) -> BrokerPolicy:  # mypy checks the fit
        return policy
