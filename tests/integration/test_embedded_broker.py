"""The embedded broker against real clients: MQTT 3.1 and 5, take-over, bad connections, policy.

paho-mqtt 2 clients where paho can say it, raw sockets where it cannot (garbage, a bad protocol
name, a client that never answers).
"""

from __future__ import annotations

import logging
import math
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from thingmodel.brokers import BrokerError, ClientInfo, EmbeddedBroker, OpenPolicy

from .helpers import eventually

pytestmark = pytest.mark.broker

WAIT = 5.0


class Peer:
    """A paho client that records what the broker sends it."""

    def __init__(self, broker: EmbeddedBroker, client_id: str, protocol: int, **options: Any) -> None:
        self.broker = broker
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            reconnect_on_failure=False,
            **options,
        )
        self.session_present = False
        self.connack: queue.Queue[tuple[ReasonCode, bool]] = queue.Queue()
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.subacks: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.disconnected = threading.Event()
        self.client.on_connect = lambda _c, _u, flags, reason, _p: self.connack.put(
            (reason, flags.session_present)
        )
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)
        self.client.on_subscribe = lambda _c, _u, _mid, reasons, _p: self.subacks.put(reasons)
        self.client.on_disconnect = lambda *_: self.disconnected.set()

    def connect(self, **options: Any) -> ReasonCode:
        self.client.connect(self.broker.host, self.broker.port, keepalive=30, **options)
        self.client.loop_start()
        reason, self.session_present = self.connack.get(timeout=WAIT)
        return reason

    def subscribe(self, *filters: tuple[str, int]) -> list[ReasonCode]:
        self.client.subscribe(list(filters))
        return self.subacks.get(timeout=WAIT)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish and wait until the broker has acknowledged it (QoS 1) or it is sent (QoS 0)."""
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(WAIT)

    def received(self) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=WAIT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def start_broker() -> Iterator[Callable[..., EmbeddedBroker]]:
    brokers: list[EmbeddedBroker] = []

    def start(**options: Any) -> EmbeddedBroker:
        broker = EmbeddedBroker(**options).start()
        brokers.append(broker)
        return broker

    yield start
    for broker in brokers:
        broker.stop()


@pytest.fixture
def peers() -> Iterator[Callable[..., Peer]]:
    made: list[Peer] = []

    def peer(broker: EmbeddedBroker, client_id: str, protocol: int = mqtt.MQTTv311, **options: Any) -> Peer:
        made.append(Peer(broker, client_id, protocol, **options))
        return made[-1]

    yield peer
    for each in made:
        each.close()


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    """The log records at INFO and above, from every logger."""
    caplog.set_level(logging.INFO)
    return lambda: [record for record in caplog.records if record.levelno >= logging.INFO]


def mqtt_bytes(data: str | bytes) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return len(raw).to_bytes(2, "big") + raw


def packet(header: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes([header]) + bytes(encoded) + body


def connect_packet(
    client_id: str,
    *,
    name: str = "MQTT",
    level: int = 4,
    keep_alive: int = 30,
    will: tuple[str, bytes, int] | None = None,
) -> bytes:
    flags, payload = 0x02, mqtt_bytes(client_id)
    if will is not None:
        topic, message, qos = will
        flags |= 0x04 | (qos << 3)
        payload += mqtt_bytes(topic) + mqtt_bytes(message)
    return packet(0x10, mqtt_bytes(name) + bytes([level, flags]) + keep_alive.to_bytes(2, "big") + payload)


def raw_connection(broker: EmbeddedBroker) -> socket.socket:
    return socket.create_connection((broker.host, broker.port), timeout=WAIT)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the broker sends until it closes the connection (AssertionError after WAIT s)."""
    data = b""
    sock.settimeout(WAIT)
    while True:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            raise AssertionError(f"the broker did not close the connection; it sent {data!r}") from None
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def address_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


def assert_no_traceback(records: list[logging.LogRecord]) -> None:
    assert [r.getMessage() for r in records if r.exc_info or "Traceback" in r.getMessage()] == []


# -- MQTT versions ---------------------------------------------------------------------------


def test_an_mqtt_3_1_client_subscribes_and_receives_its_qos_1_publish(
    start_broker: Callable[..., EmbeddedBroker], peers: Callable[..., Peer]
) -> None:
    broker = start_broker()
    device = peers(broker, "tencent-device", mqtt.MQTTv31)
    assert device.connect() == "Success"
    assert device.subscribe(("$thing/down/property/P1/d1", 1)) == [1]
    device.publish("$thing/down/property/P1/d1", b"qos0", qos=0)
    device.publish("$thing/down/property/P1/d1", b"qos1", qos=1)
    received = {message.payload: message.qos for message in (device.received(), device.received())}
    assert set(received) == {b"qos0", b"qos1"}
    assert received[b"qos1"] == 1


def test_an_mqtt_3_1_clients_retained_message_reaches_a_later_3_1_1_subscriber(
    start_broker: Callable[..., EmbeddedBroker], peers: Callable[..., Peer]
) -> None:
    broker = start_broker()
    device = peers(broker, "old-device", mqtt.MQTTv31)
    device.connect()
    device.publish("status/old-device", b"online", retain=True)
    later = peers(broker, "watcher")
    later.connect()
    later.subscribe(("status/#", 1))
    message = later.received()
    assert (message.topic, message.payload, message.retain) == ("status/old-device", b"online", True)


def test_an_mqtt_3_1_clients_will_is_published_when_its_connection_drops(
    start_broker: Callable[..., EmbeddedBroker], peers: Callable[..., Peer]
) -> None:
    broker = start_broker()
    watcher = peers(broker, "watcher")
    watcher.connect()
    watcher.subscribe(("will/#", 1))
    sock = raw_connection(broker)
    sock.sendall(connect_packet("dying", name="MQIsdp", level=3, will=("will/dying", b"gone", 1)))
    assert sock.recv(4) == b"\x20\x02\x00\x00"
    sock.close()  # no DISCONNECT: the will goes out
    message = watcher.received()
    assert (message.topic, message.payload) == ("will/dying", b"gone")


def test_an_mqtt_5_client_is_refused_with_unsupported_protocol_version_and_one_line(
    start_broker: Callable[..., EmbeddedBroker],
    peers: Callable[..., Peer],
    lines: Callable[[], list[logging.LogRecord]],
) -> None:
    broker = start_broker()
    modern = peers(broker, "v5-client", mqtt.MQTTv5)
    started = time.monotonic()
    reason = modern.connect()
    assert reason.is_failure and reason == "Unsupported protocol version"
    assert time.monotonic() - started < 2
    eventually(lambda: len(lines()) >= 1, what="the refusal's log line")
    [line] = lines()
    assert "MQTT 5 is not served by the embedded broker" in line.getMessage()
    assert re.search(r"127\.0\.0\.1:\d+", line.getMessage())


# -- take-over -------------------------------------------------------------------------------


def test_a_second_connection_with_the_same_client_id_closes_the_first_and_gets_the_messages(
    start_broker: Callable[..., EmbeddedBroker], peers: Callable[..., Peer]
) -> None:
    broker = start_broker()
    old = peers(broker, "device-1")
    old.connect()
    old.subscribe(("cmd/device-1", 1))
    new = peers(broker, "device-1")
    new.connect()
    assert old.disconnected.wait(WAIT), "the older connection was left open"
    new.subscribe(("cmd/device-1", 1))
    cloud = peers(broker, "cloud")
    cloud.connect()
    cloud.publish("cmd/device-1", b"ring")
    assert new.received().payload == b"ring"
    assert old.messages.empty()


def test_a_persistent_session_gets_what_was_published_while_away_and_not_as_retained(
    start_broker: Callable[..., EmbeddedBroker], peers: Callable[..., Peer]
) -> None:
    broker = start_broker()
    app = peers(broker, "cloud-app", clean_session=False)
    app.connect()
    app.subscribe(("up/#", 1))
    app.close()
    time.sleep(0.2)  # the broker has read the DISCONNECT: what follows is queued, not sent
    device = peers(broker, "device")
    device.connect()
    device.publish("up/device", b"while away")
    back = peers(broker, "cloud-app", clean_session=False)
    back.connect()
    assert back.session_present
    message = back.received()
    assert (message.topic, message.payload, message.retain) == ("up/device", b"while away", False)


# -- bad connection attempts -----------------------------------------------------------------


def test_garbage_bytes_are_one_log_line_naming_the_peer_without_traceback(
    start_broker: Callable[..., EmbeddedBroker], lines: Callable[[], list[logging.LogRecord]]
) -> None:
    broker = start_broker()
    sock = raw_connection(broker)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_until_closed(sock) == b""
    eventually(lambda: len(lines()) >= 1, what="the refusal's log line")
    time.sleep(0.2)
    [line] = lines()
    assert address_of(sock) in line.getMessage() and "not a CONNECT" in line.getMessage()
    assert_no_traceback(lines())


def test_a_connect_with_a_bad_protocol_name_is_closed_with_one_log_line(
    start_broker: Callable[..., EmbeddedBroker], lines: Callable[[], list[logging.LogRecord]]
) -> None:
    broker = start_broker()
    sock = raw_connection(broker)
    sock.sendall(connect_packet("c1", name="MQTX"))
    assert read_until_closed(sock) == b""  # no CONNACK: it is not MQTT
    eventually(lambda: len(lines()) >= 1, what="the refusal's log line")
    time.sleep(0.2)
    [line] = lines()
    assert address_of(sock) in line.getMessage() and "unknown protocol name 'MQTX'" in line.getMessage()
    assert_no_traceback(lines())


def test_a_burst_of_200_garbage_connections_logs_a_few_lines_that_count_them_all(
    start_broker: Callable[..., EmbeddedBroker], lines: Callable[[], list[logging.LogRecord]]
) -> None:
    broker = start_broker()
    began = time.monotonic()
    for _ in range(200):
        with raw_connection(broker) as sock:
            sock.sendall(b"\x00\x00garbage")
            read_until_closed(sock)
    burst = time.monotonic() - began

    def counted() -> int:
        held = sum(int(n) for r in lines() for n in re.findall(r"(\d+) more", r.getMessage()))
        return held + sum(1 for r in lines() if "refused connection" in r.getMessage())

    eventually(lambda: counted() == 200, timeout=WAIT, what="every attempt counted")
    # one line, then one count a second while the burst lasts (a busy machine makes it longer)
    assert len(lines()) <= 3 + math.ceil(burst)
    assert_no_traceback(lines())


def test_a_connection_that_sends_no_connect_is_closed_after_the_connect_timeout(
    start_broker: Callable[..., EmbeddedBroker], lines: Callable[[], list[logging.LogRecord]]
) -> None:
    broker = start_broker(connect_timeout=0.3)
    sock = raw_connection(broker)
    assert read_until_closed(sock) == b""
    eventually(lambda: len(lines()) >= 1, what="the timeout's log line")
    [line] = lines()
    assert address_of(sock) in line.getMessage() and "no CONNECT within 0.3 s" in line.getMessage()


def test_a_client_silent_for_one_and_a_half_keep_alives_is_disconnected(
    start_broker: Callable[..., EmbeddedBroker],
) -> None:
    broker = start_broker()
    sock = raw_connection(broker)
    sock.sendall(connect_packet("quiet", keep_alive=1))
    started = time.monotonic()
    assert read_until_closed(sock) == b"\x20\x02\x00\x00"
    assert 1.4 < time.monotonic() - started < 4


def test_deliveries_a_subscriber_never_acknowledges_are_one_warning_without_traceback(
    start_broker: Callable[..., EmbeddedBroker],
    peers: Callable[..., Peer],
    lines: Callable[[], list[logging.LogRecord]],
) -> None:
    broker = start_broker()
    deaf = raw_connection(broker)
    deaf.sendall(connect_packet("deaf"))
    assert deaf.recv(4) == b"\x20\x02\x00\x00"
    deaf.sendall(packet(0x82, (1).to_bytes(2, "big") + mqtt_bytes("news") + b"\x01"))
    assert deaf.recv(5) == b"\x90\x03\x00\x01\x01"  # SUBACK, QoS 1 granted; no PUBACK from here on
    publisher = peers(broker, "publisher")
    publisher.connect()
    for index in range(3):
        publisher.publish("news", b"%d" % index)

    def timeouts() -> list[str]:
        return [
            r.getMessage()
            for r in lines()
            if "delivery timeout" in r.getMessage() or "in time" in r.getMessage()
        ]

    eventually(lambda: len(timeouts()) == 2, timeout=10, what="one warning and the count of the others")
    first, count = timeouts()
    assert "'deaf' did not acknowledge a message on 'news'" in first
    assert count.startswith("2 more delivery timeout lines")
    assert_no_traceback(lines())
    deaf.close()


def test_the_broker_refuses_to_start_on_an_amqtt_whose_patched_methods_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from amqtt.broker import Broker

    async def changed(self: object, session: object, topic: str) -> bool:
        return True

    monkeypatch.setattr(Broker, "_topic_filtering", changed)
    with pytest.raises(BrokerError, match="_topic_filtering"):
        EmbeddedBroker().start()


# -- policy ----------------------------------------------------------------------------------


class RecordingPolicy(OpenPolicy):
    """Open, except where a test says otherwise; records the clients it saw."""

    def __init__(self) -> None:
        self.seen: list[ClientInfo] = []

    def authenticate(self, client: ClientInfo) -> str | None:
        self.seen.append(client)
        return None


def test_a_policy_refusing_the_password_gives_not_authorized_and_a_line_without_the_password(
    start_broker: Callable[..., EmbeddedBroker],
    peers: Callable[..., Peer],
    lines: Callable[[], list[logging.LogRecord]],
) -> None:
    class PasswordPolicy(OpenPolicy):
        def authenticate(self, client: ClientInfo) -> str | None:
            return None if client.password == "right" else "wrong password"

    broker = start_broker(policy=PasswordPolicy())
    intruder = peers(broker, "intruder-7")
    intruder.client.username_pw_set("alice", "hunter2-secret")
    assert intruder.connect() == "Not authorized"
    eventually(lambda: len(lines()) >= 1, what="the refusal's log line")
    [line] = lines()
    assert "'intruder-7'" in line.getMessage() and "wrong password" in line.getMessage()
    assert "hunter2-secret" not in line.getMessage()
    friend = peers(broker, "friend")
    friend.client.username_pw_set("bob", "right")
    assert friend.connect() == "Success"


def test_client_info_keeps_the_password_out_of_its_repr() -> None:
    client = ClientInfo("d1", "user", "hunter2-secret", "127.0.0.1:5000", 4)
    assert "hunter2-secret" not in repr(client) and "d1" in repr(client)


def test_the_policy_sees_each_clients_credentials_address_and_protocol(
    start_broker: Callable[..., EmbeddedBroker], peers: Callable[..., Peer]
) -> None:
    policy = RecordingPolicy()
    broker = start_broker(policy=policy)
    device = peers(broker, "dev-31", mqtt.MQTTv31)
    device.client.username_pw_set("user-31", "pässword")
    device.connect()
    [seen] = policy.seen
    local = device.client.socket().getsockname()
    assert seen == ClientInfo("dev-31", "user-31", "pässword", f"{local[0]}:{local[1]}", 3)


def test_a_policy_that_raises_refuses_the_client_and_is_logged_once(
    start_broker: Callable[..., EmbeddedBroker],
    peers: Callable[..., Peer],
    lines: Callable[[], list[logging.LogRecord]],
) -> None:
    class BrokenPolicy(OpenPolicy):
        def authenticate(self, client: ClientInfo) -> str | None:
            raise KeyError("registry")

    broker = start_broker(policy=BrokenPolicy())
    assert peers(broker, "dev").connect() == "Not authorized"
    eventually(lambda: len(lines()) >= 2, what="the policy error and the refusal")
    policy_line, refusal = lines()
    assert "BrokenPolicy.authenticate raised KeyError('registry')" in policy_line.getMessage()
    assert "'dev'" in refusal.getMessage()


def test_a_policy_whose_implicit_subscriptions_raise_connects_the_client_without_them(
    start_broker: Callable[..., EmbeddedBroker],
    peers: Callable[..., Peer],
    lines: Callable[[], list[logging.LogRecord]],
) -> None:
    class BrokenRegistry(OpenPolicy):
        def implicit_subscriptions(self, client: ClientInfo) -> list[tuple[str, int]]:
            raise RuntimeError("registry down")

    broker = start_broker(policy=BrokenRegistry())
    device = peers(broker, "dev")
    assert device.connect() == "Success"
    assert device.subscribe(("own/#", 1)) == [1]
    [line] = lines()
    assert "BrokenRegistry.implicit_subscriptions raised RuntimeError('registry down')" in line.getMessage()


def test_implicit_subscriptions_deliver_to_a_client_that_never_subscribed_on_each_connection(
    start_broker: Callable[..., EmbeddedBroker], peers: Callable[..., Peer]
) -> None:
    class IotdaLike(OpenPolicy):
        def __init__(self) -> None:
            self.asked: list[str] = []

        def implicit_subscriptions(self, client: ClientInfo) -> list[tuple[str, int]]:
            self.asked.append(client.client_id)
            return [(f"$oc/devices/{client.client_id}/sys/#", 1)]

    policy = IotdaLike()
    broker = start_broker(policy=policy)
    cloud = peers(broker, "cloud")
    cloud.connect()
    for attempt in (b"first", b"second"):
        device = peers(broker, "smoke-1")
        device.connect()
        cloud.publish("$oc/devices/smoke-1/sys/commands/request_id=1", attempt)
        message = device.received()
        assert (message.payload, message.qos) == (attempt, 1)
        device.close()
    assert policy.asked == ["cloud", "smoke-1", "smoke-1"]


def test_a_publish_the_policy_refuses_is_acknowledged_but_not_delivered(
    start_broker: Callable[..., EmbeddedBroker], peers: Callable[..., Peer]
) -> None:
    class NoForbidden(OpenPolicy):
        def may_publish(self, client: ClientInfo, topic: str) -> bool:
            return not topic.startswith("forbidden/")

    broker = start_broker(policy=NoForbidden())
    listener = peers(broker, "listener")
    listener.connect()
    listener.subscribe(("forbidden/#", 1), ("allowed/#", 1))
    talker = peers(broker, "talker")
    talker.connect()
    info = talker.client.publish("forbidden/x", b"dropped", qos=1)
    info.wait_for_publish(WAIT)
    assert info.is_published()  # the PUBACK came
    talker.publish("allowed/x", b"delivered")
    assert listener.received().payload == b"delivered"
    assert listener.messages.empty()


def test_a_subscription_the_policy_refuses_gets_suback_0x80_and_no_messages(
    start_broker: Callable[..., EmbeddedBroker], peers: Callable[..., Peer]
) -> None:
    class NoSecrets(OpenPolicy):
        def may_subscribe(self, client: ClientInfo, topic_filter: str) -> bool:
            return not topic_filter.startswith("secret/")

    broker = start_broker(policy=NoSecrets())
    snoop = peers(broker, "snoop")
    snoop.connect()
    refused, granted = snoop.subscribe(("secret/#", 1), ("open/#", 1))
    assert refused.is_failure and refused.value == 0x80
    assert granted == 1
    talker = peers(broker, "talker")
    talker.connect()
    talker.publish("secret/plans", b"hidden")
    talker.publish("open/news", b"public")
    assert snoop.received().payload == b"public"
    assert snoop.messages.empty()


def test_a_remaining_length_longer_than_four_bytes_closes_the_connection_and_others_are_served(
    start_broker: Callable[..., EmbeddedBroker],
    peers: Callable[..., Peer],
    lines: Callable[[], list[logging.LogRecord]],
) -> None:
    broker = start_broker()
    sock = raw_connection(broker)
    sock.sendall(connect_packet("broken-header"))
    sock.sendall(b"\x30\xff\xff\xff\xff\x01")  # a PUBLISH whose length runs to a fifth byte
    assert read_until_closed(sock).startswith(b"\x20\x02\x00\x00")  # its CONNACK, then the close
    other = peers(broker, "after-the-broken-one")
    assert other.connect() == 0
    assert_no_traceback(lines())


def test_the_policy_is_told_of_each_connection_and_its_end_a_take_over_included(
    start_broker: Callable[..., EmbeddedBroker], peers: Callable[..., Peer]
) -> None:
    class Watching(OpenPolicy):
        def __init__(self) -> None:
            self.told: list[tuple[str, str]] = []

        def connected(self, client: ClientInfo) -> None:
            self.told.append(("connected", client.client_id))

        def disconnected(self, client: ClientInfo) -> None:
            self.told.append(("disconnected", client.client_id))

    policy = Watching()
    broker = start_broker(policy=policy)
    first = peers(broker, "dev-1")
    first.connect()
    second = peers(broker, "dev-1")  # takes the first one over
    second.connect()
    second.close()
    deadline = time.monotonic() + 5
    while len(policy.told) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert policy.told == [
        ("connected", "dev-1"),
        ("disconnected", "dev-1"),
        ("connected", "dev-1"),
        ("disconnected", "dev-1"),
    ]
