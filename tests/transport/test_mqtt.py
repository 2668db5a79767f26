"""The paho client the transport builds on: packets it handles itself instead of paho, against a
broker played by hand over a socket."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from thingmodel.transport.mqtt import _Client


def read_packet(conn: socket.socket) -> tuple[int, bytes]:
    """One MQTT packet from ``conn``: (first byte, body)."""
    first = conn.recv(1)[0]
    length, shift = 0, 0
    while True:
        byte = conn.recv(1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    body = b""
    while len(body) < length:
        body += conn.recv(length - len(body))
    return first, body


Connected = tuple[_Client, socket.socket, list[tuple[int, str]]]


@pytest.fixture
def connected(request: pytest.FixtureRequest) -> Iterator[Connected]:
    """A client connected to a hand-played broker: (client, the broker's end, PUBACKs seen);
    the MQTT version is the test's parameter."""
    server = socket.create_server(("127.0.0.1", 0))
    client = _Client(CallbackAPIVersion.VERSION2, client_id="acks-1", protocol=request.param)
    acked: list[tuple[int, str]] = []

    def on_publish(c: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        acked.append((mid, str(reason)))

    client.on_publish = on_publish
    client.connect("127.0.0.1", server.getsockname()[1])
    conn, _ = server.accept()
    conn.settimeout(5)
    first, _ = read_packet(conn)
    assert first == 0x10  # CONNECT
    conn.sendall(b"\x20\x03\x00\x00\x00" if request.param == mqtt.MQTTv5 else b"\x20\x02\x00\x00")
    client.loop_start()
    try:
        yield client, conn, acked
    finally:
        client.loop_stop()
        conn.close()
        server.close()


def wait_for(condition: Any) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("connected", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["3.1.1", "5"], indirect=True)
def test_a_puback_marks_its_message_published_once_and_others_change_nothing(connected: Connected) -> None:
    client, conn, acked = connected
    wait_for(client.is_connected)
    first = client.publish("t/1", b"one", qos=1)
    second = client.publish("t/2", b"two", qos=1)
    mids = []
    for _ in range(2):
        kind, body = read_packet(conn)
        assert kind & 0xF0 == 0x30
        topic_end = 2 + int.from_bytes(body[:2], "big")
        mids.append(int.from_bytes(body[topic_end : topic_end + 2], "big"))
    assert mids == [first.mid, second.mid]
    # the first acknowledged twice, one the client never sent, then the second
    for mid in (first.mid, first.mid, 999, second.mid):
        conn.sendall(bytes([mqtt.PUBACK, 2]) + mid.to_bytes(2, "big"))
    wait_for(lambda: len(acked) >= 2)  # read in order: the others were handled before it
    assert acked == [(first.mid, "Success"), (second.mid, "Success")]
    assert first.is_published() and second.is_published()
    assert client._out_messages == {}


@pytest.mark.parametrize("connected", [mqtt.MQTTv5], ids=["5"], indirect=True)
def test_an_mqtt5_puback_still_brings_its_reason_code(connected: Connected) -> None:
    client, conn, acked = connected
    wait_for(client.is_connected)
    info = client.publish("t/1", b"one", qos=1)
    read_packet(conn)
    conn.sendall(bytes([mqtt.PUBACK, 4]) + info.mid.to_bytes(2, "big") + b"\x87\x00")  # not authorized
    wait_for(lambda: bool(acked))
    assert acked == [(info.mid, "Not authorized")]
