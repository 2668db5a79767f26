"""Policy hooks of the embedded broker: who may connect, what each client is subscribed to without
asking, and where it may publish and subscribe. Vendor-neutral: the vendors' rules implement
:class:`BrokerPolicy`.

The broker calls these methods on its event loop, so they must be quick and must not block. A
method that raises is logged and counts as a refusal (``authenticate``, ``may_*``) or as no
subscriptions (``implicit_subscriptions``).
"""

from __future__ import annotations

from typing import Protocol

import attrs


@attrs.frozen
class ClientInfo:
    """One client connection, as its CONNECT (and its TLS handshake, if any) described it."""

    client_id: str
    username: str | None
    #: as sent (decoded UTF-8, errors="replace"); never logged, never in repr
    password: str | None = attrs.field(repr=False)
    #: "host:port" of the peer
    address: str
    #: 3 (MQTT 3.1) or 4 (3.1.1)
    protocol: int
    #: the DER client certificate the TLS handshake verified; None on plain TCP or when the
    #: client sent none (a listener that asks for none); not in repr
    certificate: bytes | None = attrs.field(default=None, repr=False)


class BrokerPolicy(Protocol):
    """What the embedded broker asks before it lets a client connect, publish or subscribe."""

    def authenticate(self, client: ClientInfo) -> str | None:
        """None accepts; a reason refuses with CONNACK 5 "not authorized"."""
        ...

    def implicit_subscriptions(self, client: ClientInfo) -> list[tuple[str, int]]:
        """(topic filter, qos) the broker subscribes the client to right after CONNACK."""
        ...

    def may_publish(self, client: ClientInfo, topic: str) -> bool:
        """False drops the PUBLISH (QoS 1 is still acknowledged, as AWS and IoTDA do)."""
        ...

    def may_subscribe(self, client: ClientInfo, topic_filter: str) -> bool:
        """False answers SUBACK 0x80 for that filter."""
        ...

    def connected(self, client: ClientInfo) -> None:
        """The client was accepted and its CONNACK sent."""
        ...

    def disconnected(self, client: ClientInfo) -> None:
        """The client's connection ended (whatever the reason)."""
        ...


class OpenPolicy:
    """Accepts everyone, subscribes nobody implicitly, allows every topic."""

    def authenticate(self, client: ClientInfo) -> str | None:
        return None

    def implicit_subscriptions(self, client: ClientInfo) -> list[tuple[str, int]]:
        return []

    def may_publish(self, client: ClientInfo, topic: str) -> bool:
        return True

    def may_subscribe(self, client: ClientInfo, topic_filter: str) -> bool:
        return True

    def connected(self, client: ClientInfo) -> None:
        pass

    def disconnected(self, client: ClientInfo) -> None:
        pass
