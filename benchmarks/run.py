"""All benchmarks, one table: each figure a ratio to a baseline measured in the same run.

    python benchmarks/run.py            # about 2-3 minutes on a 2-core machine

Baselines are raw paho-mqtt 2.x clients with TCP_NODELAY against the same mosquitto
(`set_tcp_nodelay true`, `max_queued_messages 0`). Targets are the issue's; see README.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from typing import Any

import peers
from _common import connect, nodelay_client, percentile, raw_round_trip, summary_us

from thingmodel import Property, Service, command
from thingmodel import events as ev
from thingmodel.brokers import Mosquitto
from thingmodel.cloud import LocalCloud
from thingmodel.device import Device

Row = dict[str, Any]


class SmokeDetector(Service):
    """The benchmark's device: 4 properties, one getter, one command."""

    service_id = "smokeDetector"
    alarm = Property(int, writeable=True, minimum=0, maximum=1, default=0)
    smoke_concentration = Property(float, name="smokeConcentration", minimum=0, maximum=100, default=3.5)
    temperature = Property(float, default=21.0)
    humidity = Property(int, default=40)

    def __init__(self) -> None:
        self.set_at = 0.0
        self.reported_at: list[float] = []

    def get_temperature(self) -> float:
        self.reported_at.append(time.monotonic())
        return 21.5

    def set_alarm(self, value: int) -> None:
        self.set_at = time.perf_counter()

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 10) -> dict[str, int]:
        return {"rang": duration}


PAYLOAD = {
    "services": [
        {
            "service_id": "smokeDetector",
            "properties": {"alarm": 0, "smokeConcentration": 3.5, "temperature": 21.5, "humidity": 40},
        }
    ]
}


def report_cpu(url: str, host: str, port: int, n: int) -> Row:
    """Caller CPU per report: report() through core, codec and transport vs json.dumps + publish."""
    raw = nodelay_client("cpu-raw")
    connect(raw, host, port)
    topic = "$oc/devices/cpu-dev/sys/properties/report"
    start = time.thread_time()
    for _ in range(n):
        raw.publish(topic, json.dumps(PAYLOAD, separators=(",", ":")).encode(), qos=1)
    raw_cpu = (time.thread_time() - start) / n
    raw.loop_stop()
    raw.disconnect()
    detector = SmokeDetector()
    with Device([detector], device_id="cpu-dev", broker=url, sync_timeout=0.5) as device:
        device.transport.open_gate()
        start = time.thread_time()
        for _ in range(n):
            detector.report()
        ours = (time.thread_time() - start) / n
    return {
        "figure": "1 report() caller CPU",
        "ours": ours * 1e6,
        "base": raw_cpu * 1e6,
        "unit": "us",
        "ratio": ours / raw_cpu,
        "target": "<= 1.3x",
    }


def report_throughput(url: str, host: str, port: int, n: int) -> Row:
    """Reports delivered per second to a subscriber, framework vs raw paho."""

    def measure(send: Callable[[], None], topic: str) -> float:
        got = [0, 0.0]
        done = threading.Event()
        ready = threading.Event()

        def on_message(*_: Any) -> None:
            got[0] += 1
            if got[0] == n:
                got[1] = time.perf_counter()
                done.set()

        sub = nodelay_client(f"tput-sub-{topic[-8:]}")
        sub.on_message = on_message
        sub.on_subscribe = lambda *a: ready.set()
        connect(sub, host, port)
        sub.subscribe(topic, qos=1)
        ready.wait(5)
        start = time.perf_counter()
        for _ in range(n):
            send()
        done.wait(120)
        sub.loop_stop()
        sub.disconnect()
        return got[0] / ((got[1] or time.perf_counter()) - start)

    raw = nodelay_client("tput-raw")
    connect(raw, host, port)
    raw_topic = "$oc/devices/tput-raw/sys/properties/report"
    raw_rate = measure(lambda: raw.publish(raw_topic, json.dumps(PAYLOAD).encode(), qos=1), raw_topic)
    raw.loop_stop()
    raw.disconnect()
    detector = SmokeDetector()
    with Device([detector], device_id="tput-dev", broker=url, sync_timeout=0.5) as device:
        device.transport.open_gate()
        ours = measure(detector.report, "$oc/devices/tput-dev/sys/properties/report")
    return {
        "figure": "2 report throughput",
        "ours": ours,
        "base": raw_rate,
        "unit": "msg/s",
        "ratio": ours / raw_rate,
        "target": ">= 0.9x",
    }


def one_way(host: str, port: int, n: int) -> list[float]:
    """Raw baseline for a push: publish -> subscriber callback, sequential."""
    arrived = threading.Event()
    stamp = [0.0]
    ready = threading.Event()

    def on_message(*_: Any) -> None:
        stamp[0] = time.perf_counter()
        arrived.set()

    sub = nodelay_client("oneway-sub")
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: ready.set()
    connect(sub, host, port)
    sub.subscribe("bench/oneway", qos=1)
    ready.wait(5)
    pub = nodelay_client("oneway-pub")
    connect(pub, host, port)
    samples = []
    for i in range(n + 50):
        arrived.clear()
        start = time.perf_counter()
        pub.publish("bench/oneway", b'{"services":[]}', qos=1)
        arrived.wait(5)
        if i >= 50:
            samples.append(stamp[0] - start)
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return samples


def writes_and_commands(url: str, host: str, port: int, n: int) -> list[Row]:
    """3: desired published -> setter; 4: set_desired -> reported; 5: command -> response."""
    raw_one_way = summary_us(one_way(host, port, n))
    raw_rtt = summary_us(raw_round_trip(host, port, n))
    reported = threading.Condition()
    last = [-1]

    def on_uplink(event: ev.PlatformEvent) -> None:
        if isinstance(event, ev.Reported) and "alarm" in event.services.get("smokeDetector", {}):
            with reported:
                last[0] = event.services["smokeDetector"]["alarm"]
                reported.notify_all()

    detector = SmokeDetector()
    to_setter, to_reported, commands = [], [], []
    with (
        LocalCloud(broker=url, on_uplink=on_uplink) as cloud,
        Device([detector], device_id="lat-dev", broker=url),
    ):
        for i in range(n + 50):
            value = i % 2
            start = time.perf_counter()
            outcome = cloud.set_desired("lat-dev", "smokeDetector", {"alarm": value})
            with reported:
                reported.wait_for(lambda v=value: last[0] == v, 5)
            done = time.perf_counter()
            assert outcome.ok, outcome
            if i >= 50:
                to_setter.append(detector.set_at - start)
                to_reported.append(done - start)
        for i in range(n + 50):
            start = time.perf_counter()
            answer = cloud.send_command("lat-dev", "smokeDetector", "ringAlarm", {"duration": 1})
            if i >= 50:
                commands.append(time.perf_counter() - start)
            assert answer.ok, answer
    setter, e2e, cmd = summary_us(to_setter), summary_us(to_reported), summary_us(commands)
    return [
        {
            "figure": "3 desired -> setter p50",
            "ours": setter["p50"],
            "base": raw_one_way["p50"],
            "unit": "us",
            "ratio": setter["p50"] / raw_one_way["p50"],
            "target": "<= 1.2x",
        },
        {
            "figure": "3 desired -> setter p99",
            "ours": setter["p99"],
            "base": raw_one_way["p99"],
            "unit": "us",
            "ratio": setter["p99"] / raw_one_way["p99"],
            "target": "<= 1.5x",
        },
        {
            "figure": "4 set_desired -> reported p50",
            "ours": e2e["p50"],
            "base": raw_rtt["p50"],
            "unit": "us",
            "ratio": e2e["p50"] / raw_rtt["p50"],
            "target": "<= 2x",
        },
        {
            "figure": "4 set_desired -> reported p99",
            "ours": e2e["p99"],
            "base": raw_rtt["p99"],
            "unit": "us",
            "ratio": e2e["p99"] / raw_rtt["p99"],
            "target": "<= 5 ms abs",
        },
        {
            "figure": "5 command -> response p50",
            "ours": cmd["p50"],
            "base": raw_rtt["p50"],
            "unit": "us",
            "ratio": cmd["p50"] / raw_rtt["p50"],
            "target": "<= 1.5x",
        },
    ]


def auto_report_timing(url: str, periods: int = 300, period: float = 0.1) -> list[Row]:
    detector = SmokeDetector()
    with Device([detector], device_id="timing-dev", broker=url, sync_timeout=0.5):
        detector.reported_at.clear()
        detector.enable_auto_report(period)
        deadline = time.monotonic() + periods * period + 5
        while len(detector.reported_at) < periods + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        detector.disable_auto_report()
    stamps = detector.reported_at[: periods + 1]
    intervals = [b - a for a, b in itertools.pairwise(stamps)]
    mean = sum(intervals) / len(intervals)
    drift = stamps[-1] - (stamps[0] + period * (len(stamps) - 1))
    return [
        {
            "figure": "7 auto-report mean period",
            "ours": mean * 1000,
            "base": period * 1000,
            "unit": "ms",
            "ratio": mean / period,
            "target": "~1.0x",
        },
        {
            "figure": "7 auto-report drift, 300 periods",
            "ours": drift * 1000,
            "base": period * 1000,
            "unit": "ms",
            "ratio": abs(drift) / period,
            "target": "<= 1 period",
        },
    ]


FOOTPRINT = textwrap.dedent("""
    import json, os, resource, sys, threading, time
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    def rss():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    url, mode = sys.argv[1], sys.argv[2]
    host, port = url.split("//")[1].split(":")
    if mode == "paho":
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fp-paho")
        ok = threading.Event(); c.on_connect = lambda *a: ok.set()
        c.connect(host, int(port)); c.loop_start(); ok.wait(10)
    else:
        from thingmodel import Property, Service
        from thingmodel.device import Device
        class S(Service):
            a = Property(int, writeable=True, default=0)
            b = Property(float, default=1.0)
        start = time.perf_counter()
        d = Device([S()], device_id="fp-dev", broker=url, sync_timeout=0).connect()
        connect_s = time.perf_counter() - start
    time.sleep(2)
    before_rss, cpu0, t0 = rss(), time.process_time(), time.monotonic()
    time.sleep(5)
    out = {"rss_kib": before_rss, "idle_cpu": (time.process_time() - cpu0) / (time.monotonic() - t0)}
    if mode != "paho":
        out["connect_ms"] = connect_s * 1000
        base = rss()
        extra = [S() for _ in range(5000)]
        out["per_service_kib"] = (rss() - base) / 5000
    print(json.dumps(out))
""")


def footprint(url: str) -> list[Row]:
    def run(mode: str) -> dict[str, float]:
        result = subprocess.run(
            [sys.executable, "-c", FOOTPRINT, url, mode],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(result.stdout)

    paho, ours = run("paho"), run("thingmodel")
    imports = []
    for _ in range(5):
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; t=time.perf_counter(); import thingmodel; "
                "import thingmodel.device; print(time.perf_counter()-t)",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        imports.append(float(result.stdout))
    bare = []
    for _ in range(5):
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; t=time.perf_counter(); import paho.mqtt.client; print(time.perf_counter()-t)",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        bare.append(float(result.stdout))
    extra_mib = (ours["rss_kib"] - paho["rss_kib"]) / 1024
    return [
        {
            "figure": "8 idle RSS over bare paho",
            "ours": ours["rss_kib"] / 1024,
            "base": paho["rss_kib"] / 1024,
            "unit": "MiB",
            "ratio": ours["rss_kib"] / paho["rss_kib"],
            "target": "<= +2 MiB",
            "note": f"+{extra_mib:.1f} MiB",
        },
        {
            "figure": "8 idle CPU",
            "ours": ours["idle_cpu"] * 100,
            "base": paho["idle_cpu"] * 100,
            "unit": "%",
            "ratio": float("nan"),
            "target": "0%",
        },
        {
            "figure": "8 RSS per extra service object",
            "ours": ours["per_service_kib"],
            "base": 20.0,
            "unit": "KiB",
            "ratio": ours["per_service_kib"] / 20.0,
            "target": "<= 20 KiB",
        },
        {
            "figure": "8 import thingmodel(.device)",
            "ours": percentile(imports, 50) * 1000,
            "base": percentile(bare, 50) * 1000,
            "unit": "ms",
            "ratio": percentile(imports, 50) / percentile(bare, 50),
            "target": "<= 150 ms abs",
        },
        {
            "figure": "8 connect (no fixed sleeps)",
            "ours": ours["connect_ms"],
            "base": float("nan"),
            "unit": "ms",
            "ratio": float("nan"),
            "target": "no sleep",
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="samples for latency figures")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    started = time.perf_counter()
    rows: list[Row] = []
    with Mosquitto() as broker:
        url, host, port = broker.url, broker.host, broker.port
        rows.append(report_cpu(url, host, port, 20_000))
        rows.append(report_throughput(url, host, port, 10_000))
        rows.extend(writes_and_commands(url, host, port, args.n))
        rows.extend(auto_report_timing(url))
        with LocalCloud(broker=url):  # answers the device's shadow request, as a platform does
            rows.extend(footprint(url))
        with LocalCloud(vendor="aws", broker=url):  # 6: AWS's SDKs and ours, same cloud and broker
            rows.extend(peers.rows(peers.measure(host, port, 300)))
    print(
        f"thingmodel benchmarks: {os.uname().machine}, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}, {time.perf_counter() - started:.0f} s"
    )
    print(f"| {'figure':36} | {'thingmodel':>12} | {'baseline':>12} | {'ratio':>6} | {'target':>13} |")
    print(f"|{'-' * 38}|{'-' * 14}|{'-' * 14}|{'-' * 8}|{'-' * 15}|")
    for r in rows:
        ratio = "" if r["ratio"] != r["ratio"] else f"{r['ratio']:.2f}"
        base = "" if r["base"] != r["base"] else f"{r['base']:.1f} {r['unit']}"
        ours = f"{r['ours']:.1f} {r['unit']}"
        print(
            f"| {r['figure']:36} | {ours:>12} | {base:>12} | {ratio:>6} | {r['target']:>13} |"
            + (f" {r['note']}" if r.get("note") else "")
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)


if __name__ == "__main__":
    main()
