"""Acknowledged means stored: what the broker took from devices ends up in the cloud's store,
whether the cloud is SIGKILLed mid-stream, stopped, or slower than the devices."""

from __future__ import annotations

import json
import logging
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from thingmodel.brokers import Mosquitto
from thingmodel.cloud import LocalCloud

from .helpers import WireTap, eventually

REPO = Path(__file__).resolve().parents[2]
CLOUD = [sys.executable, "-m", "thingmodel.cli", "cloud", "--vendor", "huawei", "--http-port", "0"]
PUBLISHER = [sys.executable, "-m", "tests.integration.test_durability"]


def report(device: str, properties: dict[str, Any]) -> tuple[str, bytes]:
    body = {"services": [{"service_id": "s", "properties": properties}]}
    return f"$oc/devices/{device}/sys/properties/report", json.dumps(body).encode()


def raw_client(name: str, window: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name)
    client.max_inflight_messages_set(window)
    return client


def connect(client: mqtt.Client, host: str, port: int) -> None:
    ready = threading.Event()
    client.on_connect = lambda *a: ready.set()
    client.connect(host, port)
    client.loop_start()
    assert ready.wait(10), "raw client did not connect"


def _mqtt_packet(first_byte: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (128 if length else 0))
        if not length:
            return bytes([first_byte]) + bytes(encoded) + body


def _mqtt_string(text: str) -> bytes:
    return struct.pack("!H", len(text.encode())) + text.encode()


def publish_numbered(host: str, port: int, first: int, count: int, rate: float, window: int = 200) -> None:
    """One publisher process: report n for device dur-n (n from ``first``), QoS 1, at most
    ``rate`` a second and ``window`` in flight, written as ready-made packets to a socket (paho's
    publish() alone can take a core); prints ``start`` when it begins, then ``result {json}``:
    the numbers whose PUBACK came, and the seconds it took."""
    sock = socket.create_connection((host, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    hello = _mqtt_string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60)  # 3.1.1, clean session
    sock.sendall(_mqtt_packet(0x10, hello + _mqtt_string(f"durability-publisher-{first}")))
    connack = b""
    while len(connack) < 4:
        connack += sock.recv(4 - len(connack))
    assert connack == b"\x20\x02\x00\x00", f"CONNACK {connack.hex()}"
    numbers = list(range(first, first + count))
    packets = []
    for i, n in enumerate(numbers):
        topic, payload = report(f"dur-{n}", {"n": n})
        packets.append(_mqtt_packet(0x32, _mqtt_string(topic) + struct.pack("!H", i % 65535 + 1) + payload))
    in_flight: dict[int, int] = {}  # packet id -> n
    acked: list[int] = []
    rest, sent = b"", 0
    print("start", flush=True)
    started = time.perf_counter()
    while len(acked) < count:
        allowed = min(count, int((time.perf_counter() - started) * rate) + 1)
        while sent < allowed and len(in_flight) < window:
            in_flight[sent % 65535 + 1] = numbers[sent]
            sock.sendall(packets[sent])
            sent += 1
        if not in_flight:
            time.sleep(0.001)  # ahead of the pace
            continue
        data = sock.recv(65536)
        assert data, "the broker closed the publisher's connection"
        data, whole = rest + data, (len(rest) + len(data)) // 4 * 4
        for at in range(0, whole, 4):
            kind, _, mid = struct.unpack_from("!BBH", data, at)
            assert kind == 0x40, f"expected only PUBACKs, got {data[at : at + 4].hex()}"
            acked.append(in_flight.pop(mid))
        rest = data[whole:]
    seconds = time.perf_counter() - started
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    print("result " + json.dumps({"acked": acked, "seconds": seconds}), flush=True)


def start_cloud(url: str, store: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as errors:
        process = subprocess.Popen(
            [*CLOUD, "--broker", url, "--store", str(store)],
            stdout=subprocess.PIPE,
            stderr=errors,
        )
    assert process.stdout is not None
    assert b"serving on" in process.stdout.readline(), log.read_text()
    return process


def end(process: subprocess.Popen[Any], sig: signal.Signals = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def stored(store: Path) -> dict[str, dict[str, Any]]:
    """Every device's reported values of service "s", read as another process would."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10) as db:
        rows = db.execute("SELECT device_id, reported FROM shadows WHERE service_id = 's'").fetchall()
    return {device: json.loads(reported) for device, reported in rows}


def test_every_report_the_broker_acknowledged_is_stored_though_the_cloud_is_sigkilled_mid_stream(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The cloud comes up a second into the stream, so it is behind (the broker holds a backlog
    for its session) when it is killed: a cloud that acknowledged on receipt would have pulled
    that backlog into memory and lost it."""
    store, log = tmp_path / "shadows.sqlite3", tmp_path / "cloud.log"
    count, publishers, rate = 40_000, 2, 5_000.0  # 10,000 reports/s for 4 s
    end(start_cloud(mosquitto.url, store, log))  # its session now collects what devices send
    share = count // publishers
    running = [
        subprocess.Popen(
            [*PUBLISHER, mosquitto.host, str(mosquitto.port), str(k * share), str(share), str(rate)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(publishers)
    ]
    cloud = None
    try:
        for publisher in running:
            assert publisher.stdout is not None
            assert publisher.stdout.readline().strip() == "start"
        time.sleep(1)
        cloud = start_cloud(mosquitto.url, store, log)
        eventually(lambda: len(stored(store)) >= 3000, timeout=15, what="3000 reports stored")
        streaming = all(publisher.poll() is None for publisher in running)
        end(cloud, signal.SIGKILL)
        at_kill = len(stored(store))
        cloud = start_cloud(mosquitto.url, store, log)
        acked, seconds = [], 0.0
        for publisher in running:
            assert publisher.stdout is not None
            line = publisher.stdout.readline()
            assert line.startswith("result "), f"a publisher failed: {line!r}"
            result = json.loads(line[len("result ") :])
            acked += result["acked"]
            seconds = max(seconds, result["seconds"])
        rate = len(acked) / seconds
        print(f"publishers: {rate:.0f} reports/s, {len(acked)} acknowledged; {at_kill} stored at the kill")
        assert streaming and at_kill < len(acked), "the cloud was killed after the stream, not in it"
        eventually(lambda: len(stored(store)) >= len(acked), timeout=30, what="every acknowledged report")
        shadows = stored(store)
        missing = [n for n in acked if shadows.get(f"dur-{n}") != {"n": n}]
        assert not missing, f"{len(missing)} acknowledged reports are not in the store, e.g. {missing[:5]}"
        assert len(acked) == count
        assert rate >= 5000, f"the publishers reached only {rate:.0f} reports/s"
    finally:
        for publisher in running:
            end(publisher)
        if cloud is not None:
            end(cloud)


def test_reports_sent_while_the_cloud_is_stopped_are_stored_when_it_starts_again(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    store, log = tmp_path / "shadows.sqlite3", tmp_path / "cloud.log"
    end(start_cloud(mosquitto.url, store, log))  # SIGTERM: the broker keeps its session
    devices = [f"away-{d}" for d in range(10)]
    client = raw_client("durability-offline-publisher", 100)
    connect(client, mosquitto.host, mosquitto.port)
    infos = [client.publish(*report(device, {f"r{i}": i}), qos=1) for i in range(100) for device in devices]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
    assert len(infos) == 1000
    cloud = start_cloud(mosquitto.url, store, log)
    try:
        everything = {device: {f"r{i}": i for i in range(100)} for device in devices}
        eventually(lambda: stored(store) == everything, timeout=15, what="the 1000 reports sent meanwhile")
    finally:
        end(cloud)


def test_an_uplink_whose_handling_fails_is_still_acknowledged_and_the_next_is_handled(
    mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tap = WireTap(mosquitto.host, mosquitto.port)
    cloud = LocalCloud(broker=tap.url)
    receive = cloud.platform.receive

    def buggy(topic: str, payload: bytes) -> None:
        if "/bug-" in topic:
            raise RuntimeError("a bug in the cloud")
        receive(topic, payload)

    monkeypatch.setattr(cloud.platform, "receive", buggy)
    client = raw_client("durability-bug-publisher", 20)
    with cloud, caplog.at_level(logging.ERROR, "thingmodel.cloud"):
        connect(client, mosquitto.host, mosquitto.port)
        client.publish(*report("bug-1", {"a": 1}), qos=1).wait_for_publish(5)
        client.publish(*report("fine-1", {"a": 2}), qos=1).wait_for_publish(5)
        eventually(lambda: cloud.get_shadow("fine-1").get("s", {}).get("reported") == {"a": 2})
        (mid,) = [m for d, k, m, t in tap.packets if d == "down" and k == "PUBLISH" and "bug-1" in (t or "")]
        eventually(lambda: ("up", "PUBACK", mid, None) in tap.packets, what="the PUBACK of the failed uplink")
    client.disconnect()
    client.loop_stop()
    tap.close()
    assert any("handling the uplink on $oc/devices/bug-1" in r.getMessage() for r in caplog.records)


def test_a_cloud_slower_than_its_devices_holds_at_most_queue_limit_uplinks_and_loses_none(
    mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = LocalCloud(broker=mosquitto.url, queue_limit=5)
    receive = cloud.platform.receive

    def slow(topic: str, payload: bytes) -> None:
        time.sleep(0.002)
        receive(topic, payload)

    monkeypatch.setattr(cloud.platform, "receive", slow)
    most = 0
    client = raw_client("durability-fast-publisher", 100)
    with cloud:
        connect(client, mosquitto.host, mosquitto.port)
        infos = [client.publish(*report("busy-1", {f"r{i}": i}), qos=1) for i in range(300)]
        deadline = time.monotonic() + 20
        while cloud.get_shadow("busy-1").get("s", {}).get("reported", {}).get("r299") is None:
            assert time.monotonic() < deadline, "the cloud did not catch up"
            most = max(most, cloud.worker.queued)
            time.sleep(0.001)
        reported = cloud.get_shadow("busy-1")["s"]["reported"]
    client.disconnect()
    client.loop_stop()
    assert all(info.is_published() for info in infos)
    assert reported == {f"r{i}": i for i in range(300)}
    assert 0 < most <= 5


if __name__ == "__main__":
    publish_numbered(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
