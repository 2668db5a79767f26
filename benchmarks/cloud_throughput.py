"""Reports per second sustained into the local cloud, as a ratio to raw mosquitto.

    python benchmarks/cloud_throughput.py [--reports 40000] [--embedded-reports 8000]

One raw paho publisher (its own process, QoS 1, WINDOW in flight) sends Huawei property reports
for 1,000 devices, round robin, each with a sequence number. Measured from its first publish:

- baseline: a raw paho subscriber (its own process, QoS 1) draining them from mosquitto, until
  it has the last one;
- ours: ``thingmodel cloud --store FILE`` (its own process) until the last report is in the
  store (every report is then checked to be there), on mosquitto and on the embedded broker.

The cloud acknowledges a report once it is committed, so a rate here is stored reports/s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

DEVICES = 1000
WINDOW = 100  # QoS 1 in flight, as our transport; paho scans its in-flight list on every ack
FILTER = "$oc/devices/+/sys/properties/report"


def report(n: int) -> tuple[str, bytes]:
    """The n-th report: device n % DEVICES, sequence number n."""
    body = {
        "services": [
            {
                "service_id": "smokeDetector",
                "properties": {"seq": n, "alarm": n % 2, "temperature": 20.5, "humidity": 40},
            }
        ]
    }
    return f"$oc/devices/bench-{n % DEVICES}/sys/properties/report", json.dumps(body).encode()


# -- the far ends, each run as `python cloud_throughput.py publish|drain HOST PORT N` ------------
def _client(name: str) -> Any:
    import socket

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-{os.getpid()}")
    client.max_inflight_messages_set(WINDOW)
    client.on_socket_open = lambda c, u, s: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def _connect(client: Any, host: str, port: int) -> None:
    ready = threading.Event()
    client.on_connect = lambda *a: ready.set()
    client.connect(host, port)
    client.loop_start()
    if not ready.wait(10):
        raise SystemExit("raw client did not connect")


def publish(host: str, port: int, n: int) -> None:
    """Print the perf_counter of the first publish, then the seconds until the last PUBACK."""
    client = _client("bench-publisher")
    window = threading.Semaphore(WINDOW)  # never more in flight than paho sends at once
    client.on_publish = lambda *a: window.release()
    _connect(client, host, port)
    messages = [report(i) for i in range(n)]
    start = time.perf_counter()
    print(f"start {start}", flush=True)
    for topic, payload in messages:
        if not window.acquire(timeout=60):
            raise SystemExit("the broker stopped acknowledging")
        client.publish(topic, payload, qos=1)
    for _ in range(WINDOW):
        if not window.acquire(timeout=60):
            raise SystemExit("the broker stopped acknowledging")
    print(f"acked {time.perf_counter() - start}", flush=True)
    client.disconnect()
    client.loop_stop()


def drain(host: str, port: int, n: int) -> None:
    """Print ``ready`` once subscribed, then the perf_counter at which the n-th report came."""
    client = _client("bench-drain")
    got = 0
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(*_: Any) -> None:
        nonlocal got
        got += 1
        if got == n:
            print(f"done {time.perf_counter()}", flush=True)
            done.set()

    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    _connect(client, host, port)
    client.subscribe(FILTER, qos=1)
    if not subscribed.wait(10):
        raise SystemExit("no SUBACK")
    print("ready", flush=True)
    if not done.wait(120):
        raise SystemExit(f"only {got}/{n} reports arrived")
    client.disconnect()
    client.loop_stop()


# -- the measurements ----------------------------------------------------------------------------
def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, start_new_session=True
    )


def _line(process: subprocess.Popen[str], prefix: str) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith(prefix):
        raise SystemExit(f"expected {prefix!r} from {process.args}, got {line!r}")
    return line[len(prefix) :].strip()


def _run_publisher(host: str, port: int, n: int) -> tuple[subprocess.Popen[str], float]:
    publisher = _spawn("publish", host, str(port), str(n))
    return publisher, float(_line(publisher, "start "))


def raw_rate(host: str, port: int, n: int) -> float:
    """Reports/s a raw paho subscriber drains from the broker."""
    drainer = _spawn("drain", host, str(port), str(n))
    _line(drainer, "ready")
    publisher, start = _run_publisher(host, port, n)
    done = float(_line(drainer, "done "))
    publisher.wait(60)
    drainer.wait(10)
    return n / (done - start)


def _last_seq(db: sqlite3.Connection, device: str) -> int | None:
    row = db.execute(
        "SELECT json_extract(reported, '$.seq') FROM shadows WHERE device_id = ?", (device,)
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def cloud_rate(n: int, *, broker: str | None, host: str, port: int) -> float:
    """Reports/s the cloud (its own process, ``--store``) takes in, until all n are stored."""
    with tempfile.TemporaryDirectory(prefix="thingmodel-bench-") as directory:
        store = str(Path(directory) / "shadows.sqlite3")
        where = ["--broker", broker] if broker else ["--port", str(port)]
        cloud = subprocess.Popen(
            [sys.executable, "-m", "thingmodel.cli", "cloud", *where, "--store", store],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        try:
            if "serving on" not in (cloud.stdout.readline() if cloud.stdout else ""):
                raise SystemExit("the cloud did not start")
            last = n - 1
            last_device = f"bench-{last % DEVICES}"
            publisher, start = _run_publisher(host, port, n)
            db = sqlite3.connect(store, timeout=10)
            deadline = time.monotonic() + 120
            while _last_seq(db, last_device) != last:
                if time.monotonic() > deadline:
                    raise SystemExit("the cloud did not store the last report in time")
                time.sleep(0.005)
            done = time.perf_counter()
            publisher.wait(60)
            expected = {f"bench-{d}": (last - d) // DEVICES * DEVICES + d for d in range(min(n, DEVICES))}
            missing = [d for d, seq in expected.items() if _last_seq(db, d) != seq]
            if missing:
                raise SystemExit(f"{len(missing)} devices do not hold their last report, e.g. {missing[0]}")
            db.close()
            return n / (done - start)
        finally:
            cloud.send_signal(signal.SIGTERM)
            try:
                cloud.wait(15)
            except subprocess.TimeoutExpired:
                cloud.kill()
                cloud.wait(10)
            if broker:
                _end_session(host, port, "thingmodel-cloud-huawei")


def _end_session(host: str, port: int, client_id: str) -> None:
    """Make the broker drop the cloud's persistent session (it would queue the next run)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    _connect(client, host, port)
    client.disconnect()
    client.loop_stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=40_000, help="reports per run on mosquitto")
    parser.add_argument("--embedded-reports", type=int, default=8_000, help="reports on the embedded broker")
    args = parser.parse_args()

    from thingmodel.brokers import Mosquitto, free_port

    started = time.perf_counter()
    with Mosquitto() as mosquitto:
        host, port = mosquitto.host, mosquitto.port
        raw = raw_rate(host, port, args.reports)
        ours_mosquitto = cloud_rate(args.reports, broker=mosquitto.url, host=host, port=port)
        raw_after = raw_rate(host, port, args.reports)  # the machine drifts: bracket ours
    baseline = (raw + raw_after) / 2
    embedded_port = free_port()
    ours_embedded = cloud_rate(args.embedded_reports, broker=None, host="127.0.0.1", port=embedded_port)
    rows = [
        ("raw paho drain, mosquitto (before / after)", raw, raw_after),
        ("cloud --store, mosquitto", ours_mosquitto, baseline),
        ("cloud --store, embedded broker", ours_embedded, baseline),
    ]
    print(f"cloud throughput: {os.cpu_count()} cores, {time.perf_counter() - started:.0f} s")
    print(f"| {'figure':44} | {'ours':>14} | {'baseline':>14} | {'ratio':>6} |")
    print(f"|{'-' * 46}|{'-' * 16}|{'-' * 16}|{'-' * 8}|")
    for figure, ours, base in rows:
        print(f"| {figure:44} | {ours:>8.0f} msg/s | {base:>8.0f} msg/s | {ours / base:>6.2f} |")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] in ("publish", "drain"):
        {"publish": publish, "drain": drain}[sys.argv[1]](sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
