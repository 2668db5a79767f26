"""All benchmarks, one table: each figure a ratio to a baseline measured in the same run.

    python benchmarks/run.py                # about 2 minutes on a 2-core machine
    python benchmarks/run.py --figures 1,3  # a subset

Baselines are raw paho-mqtt 2.x clients with TCP_NODELAY and our transport's in-flight window,
against the same mosquitto (`set_tcp_nodelay true`, `max_queued_messages 0`). Baseline and
ours are measured in alternation (rounds for 1 and 2, single samples for 3-5, turns for 6), so
that a machine whose speed drifts shows the same drift to both; far ends run in their own
processes (_receiver.py, _peer_device.py). Targets are the issue's; see README.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import peers
from _common import (
    connect,
    interleaved,
    nodelay_client,
    percentile,
    subscribe,
    summary_us,
)

from thingmodel import Property, Service, command
from thingmodel.brokers import Mosquitto
from thingmodel.cloud import LocalCloud
from thingmodel.device import Device
from thingmodel.protocol import messages as ev

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


def require_system_clock() -> None:
    """Stamps taken in different processes are compared: perf_counter must be system-wide."""
    clock = time.get_clock_info("perf_counter").implementation
    if "CLOCK_MONOTONIC" not in clock:
        raise SystemExit(
            f"perf_counter is {clock}, not CLOCK_MONOTONIC: cross-process stamps would not compare"
        )


class Receivers:
    """The far ends, each in its own process as a device is (_receiver.py): start them, wait
    until they listen, and at the end collect the times at which messages reached their code."""

    def __init__(self, host: str, port: int, kinds: dict[str, str]) -> None:
        self.host, self.port = host, port
        script = str(Path(__file__).parent / "_receiver.py")
        self.procs = {
            kind: subprocess.Popen(
                [sys.executable, script, kind, host, str(port), device_id], stdout=subprocess.PIPE, text=True
            )
            for kind, device_id in kinds.items()
        }

    def __enter__(self) -> Receivers:
        require_system_clock()
        for kind, proc in self.procs.items():
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                self.__exit__()
                raise RuntimeError(f"receiver {kind} did not start")
        return self

    def stamps(self, client: Any, kind: str) -> Any:
        """The receiver's arrival times: a list, or for "count" lists by topic."""
        client.publish(f"bench/{kind}/done", b"", qos=1)
        out, _ = self.procs[kind].communicate(timeout=30)
        return json.loads(out.strip().splitlines()[-1])

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


#: the hand-written baseline's JSON: compact, as ours is on the wire, with the encoder built once
#: (json.dumps with separators= would build a new one on every call)
RAW_ENCODER = json.JSONEncoder(separators=(",", ":"))


def median(values: list[float]) -> float:
    return statistics.median(values)


def report_cpu(url: str, host: str, port: int, n: int, rounds: int = 20) -> list[Row]:
    """Caller CPU per report: report() through core, codec and transport vs a hand-written
    encode + publish; with orjson (the 'fast' extra) and as installed by default. Rounds of each
    alternate (_report_cpu.py); the ratio is the median of the rounds' ratios."""
    rows = []
    for mode, label in (("orjson", ", with orjson"), ("stdlib-json", " (default install)")):
        done = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).parent / "_report_cpu.py"),
                host,
                str(port),
                str(n),
                str(rounds),
                mode,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        raw_us, ours_us = result["raw"], result["ours"]
        rows.append(
            {
                "figure": f"1 report() caller CPU{label}",
                "ours": median(ours_us),
                "base": median(raw_us),
                "unit": "us",
                "ratio": median([o / r for o, r in zip(ours_us, raw_us, strict=True)]),
                "target": "<= 1.3x",
            }
        )
    return rows


def report_throughput(url: str, host: str, port: int, n: int, rounds: int = 15) -> Row:
    """Reports delivered per second to a subscriber in its own process, framework vs raw paho, in
    alternating rounds: from the first publish of a round to the subscriber receiving its last."""
    per_round = n // rounds
    progress = threading.Event()
    raw = nodelay_client("tput-raw")
    raw.on_message = lambda *a: progress.set()
    connect(raw, host, port)
    subscribe(raw, "bench/count/progress")
    raw_topic = "$oc/devices/tput-raw/sys/properties/report"
    ours_topic = "$oc/devices/tput-dev/sys/properties/report"
    detector = SmokeDetector()
    starts: dict[str, list[float]] = {raw_topic: [], ours_topic: []}
    with (
        Receivers(host, port, {"count": str(per_round)}) as far,
        Device([detector], device_id="tput-dev", broker=url, sync_timeout=0.5) as device,
    ):
        device.transport.open_gate()
        for _ in range(rounds):
            for topic in (raw_topic, ours_topic):
                progress.clear()
                starts[topic].append(time.perf_counter())
                if topic == raw_topic:
                    for _ in range(per_round):
                        raw.publish(raw_topic, RAW_ENCODER.encode(PAYLOAD).encode(), qos=1)
                else:
                    for _ in range(per_round):
                        detector.report()
                if not progress.wait(60):
                    raise RuntimeError(f"the subscriber did not receive a round on {topic}")
                time.sleep(0.05)
        stamps = far.stamps(raw, "count")
    raw.loop_stop()
    raw.disconnect()
    for topic, begun in starts.items():  # rounds are found by index: every message must be there
        if len(stamps.get(topic, [])) != per_round * len(begun):
            raise RuntimeError(
                f"{topic}: {len(stamps.get(topic, []))} of {per_round * len(begun)} reports arrived"
            )
    rates = {
        topic: [per_round / (stamps[topic][(k + 1) * per_round - 1] - start) for k, start in enumerate(begun)]
        for topic, begun in starts.items()
    }
    return {
        "figure": "2 report throughput",
        "ours": median(rates[ours_topic]),
        "base": median(rates[raw_topic]),
        "unit": "msg/s",
        "ratio": median([o / r for o, r in zip(rates[ours_topic], rates[raw_topic], strict=True)]),
        "target": ">= 0.9x",
    }


SLOT = 0.004  # figure 3: seconds between samples


def device_side_write(url: str, host: str, port: int, n: int, warmup: int = 50) -> list[Row]:
    """3: a desired change published -> the device's setter running, vs raw paho publish ->
    on_message, each receiver in its own process; samples interleaved on a fixed clock. The
    publisher plays the platform (an IoTDA ``properties/set`` request) and, for ours, also waits
    for the device's answer before the next slot."""
    kinds = ("raw", "handoff", "thingmodel")
    answered = threading.Event()
    starts: dict[str, list[float]] = {kind: [] for kind in kinds}
    samples: dict[str, list[float]] = {}
    app = nodelay_client("fig3-app")
    app.on_message = lambda *a: answered.set()
    connect(app, host, port)
    subscribe(app, "$oc/devices/fig3-dev/sys/properties/set/response/#")
    with (
        LocalCloud(broker=url),  # answers the device's shadow request at connect
        Receivers(host, port, {kind: "fig3-dev" for kind in kinds}) as far,
    ):
        # One sample every SLOT seconds on a fixed clock, the order rotating each round: every
        # kind follows every other equally often, after the same idle time (latency here
        # depends on how long the machine idled before).
        next_at = time.perf_counter()
        for i in range(n + warmup):
            for kind in kinds[i % len(kinds) :] + kinds[: i % len(kinds)]:
                next_at += SLOT
                time.sleep(max(0.0, next_at - time.perf_counter()))
                starts[kind].append(time.perf_counter())
                if kind == "thingmodel":
                    answered.clear()
                    body = json.dumps(
                        {"services": [{"service_id": "smokeDetector", "properties": {"alarm": i % 2}}]}
                    )
                    app.publish(f"$oc/devices/fig3-dev/sys/properties/set/request_id=b{i}", body, qos=1)
                    if not answered.wait(5):
                        raise RuntimeError("the device did not answer a desired change")
                else:
                    app.publish(
                        f"bench/{kind}", b'{"services":[{"service_id":"s","properties":{"alarm":1}}]}', qos=1
                    )
        for kind in kinds:
            stamps = far.stamps(app, kind)
            if len(stamps) != len(starts[kind]):
                raise RuntimeError(f"{kind}: {len(stamps)} arrivals for {len(starts[kind])} messages")
            samples[kind] = [b - a for a, b in zip(starts[kind], stamps, strict=True)][warmup:]
    app.loop_stop()
    app.disconnect()
    raw, setter, bound = (summary_us(samples[k]) for k in ("raw", "thingmodel", "handoff"))
    return [
        {
            "figure": f"3 desired -> setter {stat}",
            "ours": setter[stat],
            "base": raw[stat],
            "unit": "us",
            "ratio": setter[stat] / raw[stat],
            "target": target,
        }
        for stat, target in (("p50", "<= 1.2x"), ("p99", "<= 1.5x"))
    ] + [
        {
            "figure": f"3 raw paho + hand-off to a thread {stat}",
            "ours": bound[stat],
            "base": raw[stat],
            "unit": "us",
            "ratio": bound[stat] / raw[stat],
            "target": "(a floor)",
        }
        for stat in ("p50", "p99")
    ]


def end_to_end(url: str, host: str, port: int, n: int) -> list[Row]:
    """4: set_desired at the local cloud -> setter -> reported back in the shadow; 5: command ->
    response; the device in its own process. Each sample interleaved with a raw QoS 1 round
    trip to an echo in its own process."""
    reported = threading.Condition()
    last = [-1]
    got = threading.Event()

    def on_uplink(event: ev.PlatformUplink) -> None:
        if isinstance(event, ev.Reported) and "alarm" in event.services.get("smokeDetector", {}):
            with reported:
                last[0] = event.services["smokeDetector"]["alarm"]
                reported.notify_all()

    requester = nodelay_client("fig45-requester")
    requester.on_message = lambda *a: got.set()
    connect(requester, host, port)
    subscribe(requester, "bench/echo/reply")

    def raw(i: int) -> float:
        got.clear()
        start = time.perf_counter()
        requester.publish(
            "bench/echo/request", b'{"services":[{"service_id":"s","properties":{"alarm":1}}]}', qos=1
        )
        if not got.wait(5):
            raise RuntimeError("raw round trip lost a message")
        return time.perf_counter() - start

    with (
        LocalCloud(broker=url, on_uplink=on_uplink) as cloud,
        Receivers(host, port, {"echo": "-", "thingmodel": "lat-dev"}) as far,
    ):

        def write(i: int) -> float:
            value = i % 2
            start = time.perf_counter()
            outcome = cloud.set_desired("lat-dev", "smokeDetector", {"alarm": value})
            with reported:
                if not reported.wait_for(lambda: last[0] == value, 5):
                    raise RuntimeError("the reported value never reached the shadow")
            assert outcome.ok, outcome
            return time.perf_counter() - start

        def command_(i: int) -> float:
            start = time.perf_counter()
            answer = cloud.send_command("lat-dev", "smokeDetector", "ringAlarm", {"duration": 1})
            elapsed = time.perf_counter() - start
            assert answer.ok, answer
            return elapsed

        writes = interleaved({"raw": raw, "ours": write}, n)
        commands = interleaved({"raw": raw, "ours": command_}, n)
        for kind in ("echo", "thingmodel"):
            far.stamps(requester, kind)
    requester.loop_stop()
    requester.disconnect()
    raw_w, e2e = summary_us(writes["raw"]), summary_us(writes["ours"])
    raw_c, cmd = summary_us(commands["raw"]), summary_us(commands["ours"])
    return [
        {
            "figure": "4 set_desired -> reported p50",
            "ours": e2e["p50"],
            "base": raw_w["p50"],
            "unit": "us",
            "ratio": e2e["p50"] / raw_w["p50"],
            "target": "<= 2x",
        },
        {
            "figure": "4 set_desired -> reported p99",
            "ours": e2e["p99"],
            "base": raw_w["p99"],
            "unit": "us",
            "ratio": e2e["p99"] / raw_w["p99"],
            "target": "<= 5 ms abs",
        },
        {
            "figure": "5 command -> response p50",
            "ours": cmd["p50"],
            "base": raw_c["p50"],
            "unit": "us",
            "ratio": cmd["p50"] / raw_c["p50"],
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
        if mode == "stdlib-json":
            sys.modules["orjson"] = None  # as installed without the optional 'fast' extra
        from thingmodel import Property, Service
        from thingmodel.device import Device
        class S(Service):
            a = Property(int, writeable=True, default=0)
            b = Property(float, default=1.0)
        start = time.perf_counter()
        d = Device([S()], device_id="fp-dev", broker=url).connect()  # returns once the shadow is synced
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
    # As installed: bytecode cached (pip compiles it at install time; some shells set
    # PYTHONDONTWRITEBYTECODE, and then every import would compile our sources again).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", "import thingmodel.device"], env=env, check=True)

    def run(mode: str) -> dict[str, float]:
        result = subprocess.run(
            [sys.executable, "-c", FOOTPRINT, url, mode],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env=env,
        )
        return json.loads(result.stdout)

    paho, ours, plain = run("paho"), run("thingmodel"), run("stdlib-json")
    imports = []
    for _ in range(9):
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
            env=env,
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
            env=env,
        )
        bare.append(float(result.stdout))
    return [
        {
            "figure": f"8 idle RSS over bare paho{label}",
            "ours": run_["rss_kib"] / 1024,
            "base": paho["rss_kib"] / 1024,
            "unit": "MiB",
            "ratio": run_["rss_kib"] / paho["rss_kib"],
            "target": "<= +2 MiB",
            "note": f"+{(run_['rss_kib'] - paho['rss_kib']) / 1024:.1f} MiB",
        }
        for label, run_ in ((" (default install)", plain), (", with orjson", ours))
    ] + [
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
            "figure": "8 connect() incl. shadow sync",
            "ours": ours["connect_ms"],
            "base": float("nan"),
            "unit": "ms",
            "ratio": float("nan"),
            "target": "no sleep",
        },
    ]


FIGURES = {"1", "2", "3", "4", "5", "6", "7", "8"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="samples for latency figures")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--figures", help="only these figures, e.g. 1,3 (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    started = time.perf_counter()
    rows: list[Row] = []
    wanted = set(args.figures.split(",")) if args.figures else None
    if wanted is not None and not wanted <= FIGURES:
        parser.error(
            f"unknown figure(s) {', '.join(sorted(wanted - FIGURES))}; known: {', '.join(sorted(FIGURES))}"
        )

    def want(*figures: str) -> bool:
        return wanted is None or bool(wanted.intersection(figures))

    with Mosquitto() as broker:
        url, host, port = broker.url, broker.host, broker.port
        if want("1"):
            rows.extend(report_cpu(url, host, port, 40_000))
        if want("2"):
            rows.append(report_throughput(url, host, port, 30_000))
        if want("3"):
            rows.extend(device_side_write(url, host, port, args.n))
        if want("4", "5"):
            rows.extend(end_to_end(url, host, port, args.n))
        if want("7"):
            rows.extend(auto_report_timing(url))
        if want("8"):
            with LocalCloud(broker=url):  # answers the device's shadow request, as a platform does
                rows.extend(footprint(url))
        if want("6"):
            with LocalCloud(vendor="aws", broker=url):  # AWS's SDKs and ours, same cloud and broker
                rows.extend(peers.rows(peers.pooled([peers.measure(host, port, 600) for _ in range(3)])))
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
