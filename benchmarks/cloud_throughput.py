"""Reports per second sustained into the local cloud, and report -> stored latency, each next to
raw mosquitto measured in the same run.

    python benchmarks/cloud_throughput.py [--reports 60000] [--embedded-reports 12000] [--rounds 2]
                                          [--latency-seconds 12] [--no-latency]

The load: Huawei property reports, each carrying its sequence number, from a raw publisher in its
own process that writes pre-encoded MQTT 3.1.1 QoS 1 PUBLISH packets straight to a socket, at
most WINDOW unacknowledged. It takes a small part of a core where paho's publish() took most of
one, which on 2 cores was taken from the cloud and the broker being measured.

Throughput (1,000 devices, round robin, as fast as the broker takes them), measured from the
first publish:

- raw: a raw paho subscriber (its own process, QoS 1) draining them from mosquitto, until it has
  the last one;
- ours: ``thingmodel cloud --store FILE`` (its own process) until the last report is in the
  store (then every device is checked to hold its last report), on mosquitto (``--broker``) and
  on the embedded broker. The cloud acknowledges a report once it is committed, so a rate here is
  stored reports/s. The lines the cloud logs meanwhile are counted.

Runs alternate: raw, ours (mosquitto), ours (embedded), raw, ... ending on raw, so each of ours
sits between two raw runs and its ratio is to their mean; the table gives medians over rounds.

Latency (mosquitto, ``--store``): 5,000 devices reporting once a second (device d at offset
d/5000 s of every second), for ``--latency-seconds`` of which the first 2 are warm-up. Every
25th device is watched: raw, by a subscriber in its own process that reads the socket itself
and acknowledges each chunk at once (publish -> received: mosquitto's own latency; a paho
subscriber is not the baseline here, as 5,000/s is near all it can take and its p99 swings from
tens of milliseconds to seconds); ours, by polling the store every millisecond (``PRAGMA
data_version``, then the watched rows), so "stored" is seen up to about a millisecond late,
never early (a report overwritten before a poll saw it counts as stored when its successor is
seen). Runs: raw, ours, raw.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thingmodel.brokers import Mosquitto

DEVICES = 1000
PACED_DEVICES = 5000  # each reports once a second
WATCH_EVERY = 25  # of them, every 25th is watched for latency
WARMUP = 2.0  # seconds of the latency run not counted
TICK = 0.002  # the paced publisher sends what is due every 2 ms
WINDOW = 100  # QoS 1 in flight, as our transport
FILTER = "$oc/devices/+/sys/properties/report"
CLOUD_CLIENT_ID = "thingmodel-cloud-huawei"
_SEQ = re.compile(rb'"seq": ?(\d+)')


def report(n: int, devices: int = DEVICES) -> tuple[str, bytes]:
    """The n-th report: device n % devices, sequence number n."""
    body = {
        "services": [
            {
                "service_id": "smokeDetector",
                "properties": {"seq": n, "alarm": n % 2, "temperature": 20.5, "humidity": 40},
            }
        ]
    }
    return f"$oc/devices/bench-{n % devices}/sys/properties/report", json.dumps(body).encode()


# -- the raw publisher: MQTT 3.1.1 packets written to a socket -----------------------------------
def _packet(first_byte: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (128 if length else 0))
        if not length:
            return bytes([first_byte]) + bytes(encoded) + body


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def _publish_packet(topic: str, payload: bytes, mid: int) -> bytes:
    return _packet(0x32, _string(topic) + struct.pack("!H", mid) + payload)  # QoS 1


class RawPublisher:
    """A clean-session MQTT connection that sends ready-made packets and counts PUBACKs."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # protocol "MQTT" level 4, clean session, keep-alive 60 s
        self.sock.sendall(
            _packet(0x10, _string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + _string(client_id))
        )
        connack = b""
        while len(connack) < 4:
            more = self.sock.recv(4 - len(connack))
            if not more:
                raise SystemExit("the broker closed the raw publisher's connection")
            connack += more
        if connack[0] != 0x20 or connack[3] != 0:
            raise SystemExit(f"the broker refused the raw publisher: CONNACK {connack.hex()}")
        self._rest = b""

    def acks(self) -> int:
        """Wait for the broker; the number of PUBACKs it sent (the only packets it sends here)."""
        data = self.sock.recv(65536)
        if not data:
            raise SystemExit("the broker closed the raw publisher's connection")
        data = self._rest + data
        count = len(data) // 4
        if data[: count * 4 : 4] != b"\x40" * count:
            raise SystemExit(f"expected only PUBACKs from the broker, got {data[:16].hex()}...")
        self._rest = data[count * 4 :]
        return count

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        self.sock.close()


# -- the far ends, each run as `python cloud_throughput.py ROLE HOST PORT ...` -------------------
def publish(host: str, port: int, n: int) -> None:
    """Print the perf_counter of the first publish, then the seconds until the last PUBACK."""
    packets = [_publish_packet(*report(i), i % 65535 + 1) for i in range(n)]
    publisher = RawPublisher(host, port, f"bench-publisher-{os.getpid()}")
    start = time.perf_counter()
    print(f"start {start}", flush=True)
    sent = acked = 0
    while acked < n:
        if sent < n and sent - acked < WINDOW:
            more = min(WINDOW - (sent - acked), n - sent)
            publisher.sock.sendall(b"".join(packets[sent : sent + more]))
            sent += more
        acked += publisher.acks()
    print(f"acked {time.perf_counter() - start}", flush=True)
    publisher.close()


def publish_paced(host: str, port: int, seconds: float, sent_file: str) -> None:
    """PACED_DEVICES devices, once a second each, for ``seconds``; print the start, then write
    each report's send time (perf_counter, by sequence number) to ``sent_file``. What is due is
    sent every TICK seconds, in one write (a device's report leaves at most TICK late)."""
    n = int(seconds * PACED_DEVICES)
    packets = [_publish_packet(*report(i, PACED_DEVICES), i % 65535 + 1) for i in range(n)]
    publisher = RawPublisher(host, port, f"bench-paced-{os.getpid()}")
    acked = 0

    def count_acks() -> None:
        nonlocal acked
        while acked < n:
            acked += publisher.acks()

    reader = threading.Thread(target=count_acks, daemon=True)
    reader.start()
    sent_at = array("d", bytes(8 * n))
    start = time.perf_counter() + 0.01
    print(f"start {start}", flush=True)
    sent = 0
    while sent < n:
        now = time.perf_counter()
        due = min(n, math.floor((now - start) * PACED_DEVICES) + 1)
        if due > sent:
            publisher.sock.sendall(b"".join(packets[sent:due]))
            sent_at[sent:due] = array("d", [time.perf_counter()]) * (due - sent)
            sent = due
        time.sleep(max(TICK - (time.perf_counter() - now), 0.0))
    reader.join(60)
    if acked < n:
        raise SystemExit(f"the broker acknowledged only {acked}/{n} reports")
    Path(sent_file).write_bytes(sent_at.tobytes())
    print(f"acked {time.perf_counter() - start}", flush=True)
    publisher.close()


def _paho_client(name: str) -> Any:
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


def drain(host: str, port: int, n: int) -> None:
    """Print ``ready`` once subscribed, then the perf_counter at which the n-th report came."""
    client = _paho_client("bench-drain")
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
    if not done.wait(180):
        raise SystemExit(f"only {got}/{n} reports arrived")
    client.disconnect()
    client.loop_stop()


def drain_raw(host: str, port: int, n: int, received_file: str) -> None:
    """Like ``drain`` with ``received_file``, on a socket of its own: SUBSCRIBE at QoS 1, then
    the PUBACKs of what each read brought, in one write."""
    sock = RawPublisher(host, port, f"bench-raw-drain-{os.getpid()}").sock
    sock.sendall(_packet(0x82, struct.pack("!H", 1) + _string(FILTER) + b"\x01"))
    data, got, watched, subscribed = b"", 0, array("d"), False
    while got < n:
        more = sock.recv(65536)
        if not more:
            raise SystemExit(f"the broker closed the raw subscriber's connection after {got}/{n}")
        now = time.perf_counter()
        data, at, acks = data + more, 0, []
        while (framed := _frame(data, at)) is not None:
            start, end = framed
            kind = data[at] >> 4
            if kind == 3:  # PUBLISH, at QoS 1 as subscribed
                topic_end = start + 2 + struct.unpack_from("!H", data, start)[0]
                acks.append(b"\x40\x02" + data[topic_end : topic_end + 2])
                match = _SEQ.search(data, topic_end + 2, end)
                seq = int(match.group(1)) if match else -1
                if seq % PACED_DEVICES % WATCH_EVERY == 0:
                    watched.extend((seq, now))
                got += 1
            elif kind == 9 and not subscribed:  # SUBACK
                subscribed = True
                print("ready", flush=True)
            at = end
        data = data[at:]
        if acks:
            sock.sendall(b"".join(acks))
    print(f"done {time.perf_counter()}", flush=True)
    Path(received_file).write_bytes(watched.tobytes())
    sock.close()


def _frame(data: bytes, at: int) -> tuple[int, int] | None:
    """Where the body of the packet at ``data[at]`` starts and ends, if it is all in ``data``."""
    i, length, shift = at + 1, 0, 0
    while i < len(data):
        byte = data[i]
        i += 1
        length |= (byte & 127) << shift
        if byte < 128:
            return (i, i + length) if i + length <= len(data) else None
        shift += 7
    return None


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


def _finish(process: subprocess.Popen[str], what: str) -> None:
    _line(process, "acked ")
    if process.wait(60) != 0:
        raise SystemExit(f"the {what} failed")


def raw_rate(host: str, port: int, n: int) -> float:
    """Reports/s a raw paho subscriber drains from the broker."""
    drainer = _spawn("drain", host, str(port), str(n))
    _line(drainer, "ready")
    publisher = _spawn("publish", host, str(port), str(n))
    start = float(_line(publisher, "start "))
    done = float(_line(drainer, "done "))
    _finish(publisher, "publisher")
    drainer.wait(10)
    return n / (done - start)


def _last_seq(db: sqlite3.Connection, device: str) -> int | None:
    row = db.execute(
        "SELECT json_extract(reported, '$.seq') FROM shadows WHERE device_id = ?", (device,)
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


class Cloud:
    """``thingmodel cloud --store`` in its own process; counts the lines it logs."""

    def __init__(self, broker: Mosquitto | None, port: int, directory: str) -> None:
        self.store = str(Path(directory) / "shadows.sqlite3")
        self._log = Path(directory) / "cloud.log"
        self._broker = broker
        where = ["--broker", broker.url] if broker else ["--port", str(port)]
        with self._log.open("w") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "thingmodel.cli",
                    "cloud",
                    *where,
                    "--store",
                    self.store,
                    "--http-port",
                    "0",
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if "serving on" not in line:
            self.stop()
            raise SystemExit(f"the cloud did not start: {self.log_text()}")

    def log_text(self) -> str:
        return self._log.read_text()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self._broker is not None:  # the broker would queue the next run for this session
            _end_session(self._broker.host, self._broker.port, CLOUD_CLIENT_ID)


@contextlib.contextmanager
def _cloud(broker: Mosquitto | None, port: int) -> Iterator[Cloud]:
    with tempfile.TemporaryDirectory(prefix="thingmodel-bench-") as directory:
        cloud = Cloud(broker, port, directory)
        try:
            yield cloud
        finally:
            cloud.stop()


def cloud_rate(n: int, broker: Mosquitto | None, host: str, port: int) -> tuple[float, int]:
    """Reports/s the cloud takes in until all n are stored, and the lines it logged meanwhile."""
    with _cloud(broker, port) as cloud:
        last = n - 1
        last_device = f"bench-{last % DEVICES}"
        publisher = _spawn("publish", host, str(port), str(n))
        start = float(_line(publisher, "start "))
        db = sqlite3.connect(cloud.store, timeout=10)
        deadline = time.monotonic() + 180
        while _last_seq(db, last_device) != last:
            if time.monotonic() > deadline:
                raise SystemExit("the cloud did not store the last report in time")
            time.sleep(0.005)
        done = time.perf_counter()
        _finish(publisher, "publisher")
        expected = {f"bench-{d}": (last - d) // DEVICES * DEVICES + d for d in range(min(n, DEVICES))}
        missing = [d for d, seq in expected.items() if _last_seq(db, d) != seq]
        if missing:
            raise SystemExit(f"{len(missing)} devices do not hold their last report, e.g. {missing[0]}")
        db.close()
        logged = len(cloud.log_text().splitlines())
    return n / (done - start), logged


def _end_session(host: str, port: int, client_id: str) -> None:
    """Make the broker drop the cloud's persistent session (it would queue the next run)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    _connect(client, host, port)
    client.disconnect()
    client.loop_stop()


# -- latency -------------------------------------------------------------------------------------
def _watched_devices() -> list[str]:
    return [f"bench-{d}" for d in range(0, PACED_DEVICES, WATCH_EVERY)]


def _latencies(sent_at: array[float], seen: dict[int, float]) -> list[float]:
    """Seconds from send to seen for every watched report sent after the warm-up; a report never
    seen itself counts as seen when the device's next one was (it was stored by then)."""
    n = len(sent_at)
    counted_from = sent_at[0] + WARMUP
    out = []
    for first in range(0, PACED_DEVICES, WATCH_EVERY):
        later: float | None = None  # when this device's next report was seen
        for seq in reversed(range(first, n, PACED_DEVICES)):
            at = seen.get(seq)
            if at is not None:
                later = at
            if later is None:
                raise SystemExit(f"report {seq} of bench-{first} was never seen")
            if sent_at[seq] >= counted_from:
                out.append(later - sent_at[seq])
    return out


def _watch_store(store: str, stop: threading.Event, seen: dict[int, float]) -> None:
    """Note when each watched report is first seen in the store, polling every millisecond."""
    devices = _watched_devices()
    query = (
        "SELECT json_extract(reported, '$.seq') FROM shadows"
        f" WHERE device_id IN ({','.join('?' * len(devices))})"
    )
    db = sqlite3.connect(store, timeout=10)
    version = None
    while not stop.is_set():
        now = db.execute("PRAGMA data_version").fetchone()[0]
        if now != version:
            version = now
            rows = db.execute(query, devices).fetchall()
            at = time.perf_counter()
            for (seq,) in rows:
                if seq is not None and seq not in seen:
                    seen[seq] = at
        time.sleep(0.001)
    db.close()


def _read_doubles(path: Path) -> array[float]:
    values = array("d")
    values.frombytes(path.read_bytes())
    return values


def raw_latency(host: str, port: int, seconds: float) -> tuple[list[float], float]:
    """Publish -> received by the raw subscriber, for the watched devices; and the load's rate."""
    n = int(seconds * PACED_DEVICES)
    with tempfile.TemporaryDirectory(prefix="thingmodel-bench-") as directory:
        sent_file, received_file = Path(directory) / "sent", Path(directory) / "received"
        drainer = _spawn("drain-raw", host, str(port), str(n), str(received_file))
        _line(drainer, "ready")
        publisher = _spawn("paced", host, str(port), str(seconds), str(sent_file))
        start = float(_line(publisher, "start "))
        _finish(publisher, "paced publisher")
        _line(drainer, "done ")
        if drainer.wait(30) != 0:
            raise SystemExit("the raw subscriber failed")
        sent_at, pairs = _read_doubles(sent_file), _read_doubles(received_file)
    seen = {int(pairs[i]): pairs[i + 1] for i in range(0, len(pairs), 2)}
    return _latencies(sent_at, seen), n / (sent_at[-1] - start)


def cloud_latency(broker: Mosquitto, seconds: float) -> tuple[list[float], float, int]:
    """Publish -> seen in the cloud's store, for the watched devices; the load's rate; log lines."""
    n = int(seconds * PACED_DEVICES)
    with _cloud(broker, broker.port) as cloud, tempfile.TemporaryDirectory() as directory:
        sent_file = Path(directory) / "sent"
        seen: dict[int, float] = {}
        stop = threading.Event()
        watcher = threading.Thread(target=_watch_store, args=(cloud.store, stop, seen), daemon=True)
        watcher.start()
        publisher = _spawn("paced", broker.host, str(broker.port), str(seconds), str(sent_file))
        start = float(_line(publisher, "start "))
        _finish(publisher, "paced publisher")
        last = {
            (n - 1 - d) // PACED_DEVICES * PACED_DEVICES + d for d in range(0, PACED_DEVICES, WATCH_EVERY)
        }
        deadline = time.monotonic() + 60
        while not last <= seen.keys():
            if time.monotonic() > deadline:
                raise SystemExit("the cloud did not store the last watched reports in time")
            time.sleep(0.01)
        stop.set()
        watcher.join(10)
        sent_at = _read_doubles(sent_file)
        logged = len(cloud.log_text().splitlines())
    return _latencies(sent_at, seen), n / (sent_at[-1] - start), logged


# -- the table -----------------------------------------------------------------------------------
def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=60_000, help="reports per run on mosquitto")
    parser.add_argument(
        "--embedded-reports", type=int, default=12_000, help="reports per run, embedded broker"
    )
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds (raw, ours, ours)")
    parser.add_argument("--latency-seconds", type=float, default=12.0, help="length of each latency run")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency runs")
    args = parser.parse_args()

    from thingmodel.brokers import Mosquitto, free_port

    started = time.perf_counter()
    raws: list[float] = []
    ours_mosquitto: list[tuple[float, int]] = []
    ours_embedded: list[tuple[float, int]] = []
    with Mosquitto() as mosquitto:
        host, port = mosquitto.host, mosquitto.port
        raws.append(raw_rate(host, port, args.reports))
        for _ in range(args.rounds):
            ours_mosquitto.append(cloud_rate(args.reports, mosquitto, host, port))
            embedded_port = free_port()
            ours_embedded.append(cloud_rate(args.embedded_reports, None, "127.0.0.1", embedded_port))
            raws.append(raw_rate(host, port, args.reports))
        if not args.no_latency:
            raw_before = raw_latency(host, port, args.latency_seconds)
            ours_latency = cloud_latency(mosquitto, args.latency_seconds)
            raw_after = raw_latency(host, port, args.latency_seconds)

    baselines = [(raws[i] + raws[i + 1]) / 2 for i in range(args.rounds)]

    def median_ratio(runs: list[tuple[float, int]]) -> tuple[float, float, float, int]:
        rates = [rate for rate, _ in runs]
        ratios = [rate / base for rate, base in zip(rates, baselines, strict=True)]
        return (
            statistics.median(rates),
            statistics.median(baselines),
            statistics.median(ratios),
            max(logged for _, logged in runs),
        )

    print(
        f"cloud throughput: {os.cpu_count()} cores, {time.perf_counter() - started:.0f} s;"
        f" raw runs {', '.join(f'{r:.0f}' for r in raws)} msg/s"
    )
    head = ("figure", "ours", "baseline", "ratio", "log lines", "target")
    print("| {:46} | {:>14} | {:>14} | {:>6} | {:>9} | {:>14} |".format(*head))
    print(f"|{'-' * 48}|{'-' * 16}|{'-' * 16}|{'-' * 8}|{'-' * 11}|{'-' * 16}|")
    rows = [
        ("stored reports/s, cloud --store, mosquitto", ours_mosquitto, ">= 10000 msg/s"),
        ("stored reports/s, cloud --store, embedded", ours_embedded, ">= 2000 msg/s"),
    ]
    for figure, runs, target in rows:
        ours, base, ratio, logged = median_ratio(runs)
        each = " / ".join(f"{rate:.0f}" for rate, _ in runs)
        print(
            f"| {figure:46} | {ours:>8.0f} msg/s | {base:>8.0f} msg/s | {ratio:>6.2f} | {logged:>9} |"
            f" {target:>14} |  runs: {each}"
        )
    if not args.no_latency:
        raw_samples = raw_before[0] + raw_after[0]
        samples, load, logged = ours_latency
        for name, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
            ours_q, raw_q = _quantile(samples, q) * 1000, _quantile(raw_samples, q) * 1000
            target = "<= 50 ms" if name == "p99" else ""
            figure = f"report -> stored {name}, 5000 devices at 1/s"
            print(
                f"| {figure:46} | {ours_q:>11.1f} ms | {raw_q:>11.1f} ms | {ours_q / raw_q:>6.2f} |"
                f" {logged if name == 'p50' else '':>9} | {target:>14} |"
            )
        print(
            f"latency: {len(samples)} watched reports stored (of {load:.0f} reports/s sent), baseline"
            f" publish -> raw socket subscriber ({len(raw_samples)} samples, runs before and after);"
            f" loads {raw_before[1]:.0f} / {load:.0f} / {raw_after[1]:.0f} reports/s"
        )


if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role == "publish":
        publish(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif role == "drain":
        drain(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif role == "drain-raw":
        drain_raw(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif role == "paced":
        publish_paced(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    else:
        main()
