"""Acknowledged means stored: what the broker took from devices ends up in the cloud's store,
whether the cloud is SIGKILLed mid-stream, stopped, or slower than the devices."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
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
CLOUD = [sys.executable, "-m", "thingmodel.cli", "cloud", "--vendor", "huawei"]
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


def publish_numbered(host: str, port: int, count: int, window: int = 100) -> None:
    """The publisher process: report n for device dur-n, QoS 1, ``window`` in flight; prints
    ``start`` when it begins, then ``result {json}``: the numbers acknowledged and the rate."""
    client = raw_client("durability-publisher", window)
    slots = threading.Semaphore(window)
    client.on_publish = lambda *a: slots.release()
    connect(client, host, port)
    messages = [report(f"dur-{n}", {"n": n}) for n in range(count)]
    print("start", flush=True)
    started = time.perf_counter()
    infos = []
    for topic, payload in messages:
        slots.acquire(timeout=30)
        infos.append(client.publish(topic, payload, qos=1))
    for _ in range(window):
        slots.acquire(timeout=30)
    seconds = time.perf_counter() - started
    acked = [n for n, info in enumerate(infos) if info.is_published()]
    client.disconnect()
    client.loop_stop()
    print("result " + json.dumps({"acked": acked, "rate": len(acked) / seconds}), flush=True)


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
    count = 30_000
    end(start_cloud(mosquitto.url, store, log))  # its session now collects what devices send
    publisher = subprocess.Popen(
        [*PUBLISHER, mosquitto.host, str(mosquitto.port), str(count)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    cloud = None
    try:
        assert publisher.stdout is not None
        assert publisher.stdout.readline().strip() == "start"
        time.sleep(1)
        cloud = start_cloud(mosquitto.url, store, log)
        eventually(lambda: len(stored(store)) >= 3000, timeout=15, what="3000 reports stored")
        end(cloud, signal.SIGKILL)
        at_kill = len(stored(store))
        cloud = start_cloud(mosquitto.url, store, log)
        line = publisher.stdout.readline()
        assert line.startswith("result "), f"the publisher failed: {line!r}"
        result = json.loads(line[len("result ") :])
        acked = result["acked"]
        print(
            f"publisher: {result['rate']:.0f} reports/s, {len(acked)} acknowledged;"
            f" {at_kill} stored at the kill"
        )
        assert at_kill < len(acked), "the cloud was killed after the stream, not in the middle of it"
        eventually(lambda: len(stored(store)) >= len(acked), timeout=30, what="every acknowledged report")
        shadows = stored(store)
        missing = [n for n in acked if shadows.get(f"dur-{n}") != {"n": n}]
        assert not missing, f"{len(missing)} acknowledged reports are not in the store, e.g. {missing[:5]}"
        assert len(acked) == count
        assert result["rate"] >= 5000, f"the publisher reached only {result['rate']:.0f} reports/s"
    finally:
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
    publish_numbered(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
