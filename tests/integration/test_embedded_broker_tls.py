"""The embedded broker's TLS listener against real paho clients: client certificates from the CA
are verified and reach the policy, every other handshake is refused with one log line, and the
local cloud's AWS policy authenticates things by their registered certificate.

The certificates are made with ``thingmodel.cloud.registry``'s helpers, as ``thingmodel cloud``
makes them.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from thingmodel.brokers import BrokerError, ClientInfo, EmbeddedBroker, OpenPolicy, ServerTls
from thingmodel.cloud.access import CloudPolicy
from thingmodel.cloud.certificates import (
    certificate_fingerprint,
    make_ca,
    make_device_certificate,
    make_server_certificate,
)
from thingmodel.cloud.registry import Registry

from .helpers import eventually

pytestmark = pytest.mark.broker

WAIT = 5.0
THING = "thermostat-1"


@attrs.frozen
class Pki:
    """A CA, the broker's certificate from it, and device certificates from it and from another CA."""

    ca: Path
    server: tuple[Path, Path]
    device: tuple[Path, Path]
    #: signed by the CA, but registered nowhere
    unregistered: tuple[Path, Path]
    #: a certificate for the same thing, signed by another CA
    foreign: tuple[Path, Path]


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = make_ca(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return Pki(
        ca=ca[0],
        server=make_server_certificate(tmp_path, ca, ["127.0.0.1", "localhost"]),
        device=make_device_certificate(tmp_path, ca, THING),
        unregistered=make_device_certificate(tmp_path, ca, "stranger"),
        foreign=make_device_certificate(elsewhere, make_ca(elsewhere, "other-ca"), THING),
    )


class RecordingPolicy(OpenPolicy):
    """Open; records the clients it authenticated."""

    def __init__(self) -> None:
        self.seen: list[ClientInfo] = []

    def authenticate(self, client: ClientInfo) -> str | None:
        self.seen.append(client)
        return None


class Peer:
    """A paho client over TLS (or plain TCP) that records what the broker sends it."""

    def __init__(
        self, broker: EmbeddedBroker, client_id: str, ca: Path | None, cert: tuple[Path, Path] | None
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, reconnect_on_failure=False
        )
        if ca is not None:
            certfile, keyfile = (str(cert[0]), str(cert[1])) if cert is not None else (None, None)
            self.client.tls_set(ca_certs=str(ca), certfile=certfile, keyfile=keyfile)
        self.connack: queue.Queue[ReasonCode] = queue.Queue()
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.subacks: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.disconnected = threading.Event()
        #: "host:port" of the client's end, once it connected
        self.address = ""
        self.client.on_connect = lambda _c, _u, _flags, reason, _p: self.connack.put(reason)
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)
        self.client.on_subscribe = lambda _c, _u, _mid, reasons, _p: self.subacks.put(reasons)
        self.client.on_disconnect = lambda *_: self.disconnected.set()

    def connect(self) -> ReasonCode:
        """The CONNACK's reason code; AssertionError when none comes (see :meth:`refused`)."""
        self._start()
        try:
            return self.connack.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError(f"no CONNACK for {self.client_id!r}") from None

    def refused(self) -> bool:
        """True when the broker ended the connection without a CONNACK (at or after the handshake)."""
        try:
            self._start()
        except (ssl.SSLError, OSError):
            return self.connack.empty()
        return self.disconnected.wait(WAIT) and self.connack.empty()

    def subscribe(self, topic_filter: str) -> list[ReasonCode]:
        self.client.subscribe(topic_filter, qos=1)
        return self.subacks.get(timeout=WAIT)

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK."""
        self.client.publish(topic, payload, qos=1).wait_for_publish(WAIT)

    def _start(self) -> None:
        self.client.connect(self.broker.host, self.broker.port, keepalive=30)
        sock = self.client.socket()
        assert isinstance(sock, socket.socket)  # ssl.SSLSocket over TLS
        host, port = sock.getsockname()[:2]
        self.address = f"{host}:{port}"
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def start_broker(pki: Pki) -> Iterator[Callable[..., EmbeddedBroker]]:
    brokers: list[EmbeddedBroker] = []

    def start(*, cafile: Path | None = pki.ca, **options: Any) -> EmbeddedBroker:
        tls = ServerTls(pki.server[0], pki.server[1], cafile)
        brokers.append(EmbeddedBroker(tls=tls, **options).start())
        return brokers[-1]

    yield start
    for broker in brokers:
        broker.stop()


@pytest.fixture
def peers(pki: Pki) -> Iterator[Callable[..., Peer]]:
    made: list[Peer] = []

    def peer(
        broker: EmbeddedBroker, client_id: str, cert: tuple[Path, Path] | None = None, *, tls: bool = True
    ) -> Peer:
        made.append(Peer(broker, client_id, pki.ca if tls else None, cert))
        return made[-1]

    yield peer
    for each in made:
        each.close()


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    """The log records at INFO and above, from every logger."""
    caplog.set_level(logging.INFO)
    return lambda: [record for record in caplog.records if record.levelno >= logging.INFO]


def assert_one_refusal_line(lines: Callable[[], list[logging.LogRecord]], peer: Peer, reason: str) -> None:
    """Exactly one line was logged: the refusal of ``peer``'s address, for ``reason``; no traceback."""
    eventually(lambda: len(lines()) >= 1, timeout=WAIT, what="the refusal's log line")
    [line] = lines()
    assert f"refused TLS connection from {peer.address}" in line.getMessage()
    assert reason in line.getMessage()
    assert not line.exc_info and "Traceback" not in line.getMessage()


def assert_serving(broker: EmbeddedBroker, peers: Callable[..., Peer], pki: Pki, client_id: str) -> None:
    """A client with a certificate from the CA still connects, subscribes and gets its message."""
    device = peers(broker, client_id, pki.device)
    assert device.connect() == "Success"
    assert device.subscribe(f"check/{client_id}") == [1]
    device.publish(f"check/{client_id}", b"ok")
    assert device.messages.get(timeout=WAIT).payload == b"ok"


def test_the_url_of_a_tls_listener_is_mqtts(start_broker: Callable[..., EmbeddedBroker]) -> None:
    broker = start_broker()
    assert broker.url == f"mqtts://127.0.0.1:{broker.port}"


def test_a_device_certificate_from_the_ca_connects_and_reaches_the_policy_as_client_info_certificate(
    start_broker: Callable[..., EmbeddedBroker], peers: Callable[..., Peer], pki: Pki
) -> None:
    policy = RecordingPolicy()
    broker = start_broker(policy=policy)
    assert peers(broker, THING, pki.device).connect() == "Success"
    [client] = policy.seen
    assert client.certificate is not None
    assert hashlib.sha256(client.certificate).hexdigest() == certificate_fingerprint(pki.device[0])
    assert "certificate" not in repr(client)


def test_without_a_client_ca_no_certificate_is_asked_and_client_info_certificate_is_none(
    start_broker: Callable[..., EmbeddedBroker], peers: Callable[..., Peer]
) -> None:
    policy = RecordingPolicy()
    broker = start_broker(policy=policy, cafile=None)
    assert peers(broker, "anonymous").connect() == "Success"
    [client] = policy.seen
    assert client.certificate is None


def test_a_client_without_a_certificate_is_refused_at_the_handshake_and_others_are_still_served(
    start_broker: Callable[..., EmbeddedBroker],
    peers: Callable[..., Peer],
    pki: Pki,
    lines: Callable[[], list[logging.LogRecord]],
) -> None:
    policy = RecordingPolicy()
    broker = start_broker(policy=policy)
    anonymous = peers(broker, "anonymous")
    assert anonymous.refused()
    assert_one_refusal_line(lines, anonymous, "no client certificate presented")
    assert policy.seen == []  # refused before any CONNECT was read
    assert_serving(broker, peers, pki, THING)


def test_a_client_certificate_from_another_ca_is_refused_at_the_handshake(
    start_broker: Callable[..., EmbeddedBroker],
    peers: Callable[..., Peer],
    pki: Pki,
    lines: Callable[[], list[logging.LogRecord]],
) -> None:
    policy = RecordingPolicy()
    broker = start_broker(policy=policy)
    intruder = peers(broker, THING, pki.foreign)
    assert intruder.refused()
    assert_one_refusal_line(lines, intruder, "client certificate not accepted: unable to get local issuer")
    assert policy.seen == []
    assert_serving(broker, peers, pki, "after-the-intruder")


def test_a_plain_tcp_client_on_the_tls_port_is_refused_with_one_log_line(
    start_broker: Callable[..., EmbeddedBroker],
    peers: Callable[..., Peer],
    pki: Pki,
    lines: Callable[[], list[logging.LogRecord]],
) -> None:
    broker = start_broker()
    plain = peers(broker, THING, tls=False)
    assert plain.refused()
    assert_one_refusal_line(lines, plain, "not TLS")
    assert_serving(broker, peers, pki, THING)


def test_aws_policy_accepts_the_registered_certificate_and_refuses_an_unregistered_one_with_connack_5(
    start_broker: Callable[..., EmbeddedBroker],
    peers: Callable[..., Peer],
    pki: Pki,
    tmp_path: Path,
    lines: Callable[[], list[logging.LogRecord]],
) -> None:
    registry = Registry.new(tmp_path / "registry.json", "aws")
    registry.add(THING, cert_sha256=certificate_fingerprint(pki.device[0]))
    broker = start_broker(policy=CloudPolicy("aws", registry, "pw"))
    device = peers(broker, THING, pki.device)
    assert device.connect() == "Success"
    impostor = peers(broker, THING, pki.unregistered)  # signed by the CA, so it passes the handshake
    assert impostor.connect() == "Not authorized"  # CONNACK 5
    eventually(lambda: len(lines()) >= 1, timeout=WAIT, what="the refusal's log line")
    [line] = lines()
    assert f"refused client {THING!r} from {impostor.address}: not authorized" in line.getMessage()
    assert "is not the registered one" in line.getMessage()
    assert not device.disconnected.is_set()  # a refused CONNECT takes nothing over


def test_a_client_that_never_starts_its_handshake_is_closed_after_the_connect_timeout_with_one_line(
    start_broker: Callable[..., EmbeddedBroker], lines: Callable[[], list[logging.LogRecord]]
) -> None:
    broker = start_broker(connect_timeout=0.3)
    with socket.create_connection((broker.host, broker.port), timeout=WAIT) as silent:
        host, port = silent.getsockname()[:2]
        address = f"{host}:{port}"
        assert silent.recv(16) == b""  # closed by the broker, not by the socket timeout
    eventually(lambda: len(lines()) >= 1, timeout=WAIT, what="the timeout's log line")
    [line] = lines()
    assert line.getMessage() == f"refused TLS connection from {address}: no TLS handshake within 0.3 s"


def test_a_port_probe_on_the_tls_port_logs_nothing(
    start_broker: Callable[..., EmbeddedBroker],
    peers: Callable[..., Peer],
    pki: Pki,
    lines: Callable[[], list[logging.LogRecord]],
) -> None:
    broker = start_broker()
    socket.create_connection((broker.host, broker.port), timeout=WAIT).close()
    assert_serving(broker, peers, pki, THING)
    assert lines() == []


def test_a_tls_listener_whose_certificate_cannot_be_read_does_not_start(pki: Pki, tmp_path: Path) -> None:
    tls = ServerTls(tmp_path / "missing.crt", pki.server[1], pki.ca)
    with pytest.raises(BrokerError, match=r"cannot load the server certificate \S*missing\.crt"):
        EmbeddedBroker(tls=tls).start()
