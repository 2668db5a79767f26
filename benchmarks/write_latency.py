"""Desired change -> setter -> acknowledged -> reported, over loopback mosquitto, next to the raw
paho QoS 1 request/response round trip measured in the same run.

    python benchmarks/write_latency.py [--changes 1000]
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import threading
import time

from _common import raw_round_trip, summary_us

from thingmodel import Property, Service
from thingmodel.brokers import Mosquitto
from thingmodel.cloud import LocalCloud
from thingmodel.device import Device
from thingmodel.protocol import messages as ev


class Thermostat(Service):
    service_id = "thermostat"
    target = Property(int, writeable=True, default=0)

    def __init__(self) -> None:
        self.set_at: float = 0.0

    def set_target(self, value: int) -> None:
        self.set_at = time.perf_counter()


def framework_writes(url: str, n: int, warmup: int = 50) -> dict[str, list[float]]:
    reported = threading.Condition()
    last: list[int] = [0]

    def on_uplink(event: ev.PlatformUplink) -> None:
        if isinstance(event, ev.Reported) and "thermostat" in event.services:
            with reported:
                last[0] = event.services["thermostat"].get("target", last[0])
                reported.notify_all()

    thermostat = Thermostat()
    to_setter, to_ack, to_reported = [], [], []
    with (
        LocalCloud(broker=url, on_uplink=on_uplink) as cloud,
        Device([thermostat], device_id="bench-device", broker=url),
    ):
        for i in range(1, n + warmup + 1):
            start = time.perf_counter()
            outcome = cloud.set_desired("bench-device", "thermostat", {"target": i})
            acked = time.perf_counter()
            with reported:
                if not reported.wait_for(lambda i=i: last[0] == i, 5):
                    raise RuntimeError(f"value {i} never reported")
            done = time.perf_counter()
            if not outcome.ok:
                raise RuntimeError(f"write {i} refused: {outcome}")
            if i > warmup:
                to_setter.append(thermostat.set_at - start)
                to_ack.append(acked - start)
                to_reported.append(done - start)
    return {"setter": to_setter, "ack": to_ack, "reported": to_reported}


def demo_startup() -> float:
    """Seconds from launching `thingmodel demo` to the device being connected."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "thingmodel.cli", "demo", "--interval", "0.5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "connected" in line:
            elapsed = time.perf_counter() - start
            break
    else:
        raise RuntimeError("the demo never connected")
    process.wait(30)
    if process.returncode != 0:
        raise RuntimeError(f"the demo exited {process.returncode}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    startup = demo_startup()
    with Mosquitto() as broker:
        raw = summary_us(raw_round_trip(broker.host, broker.port, args.changes))
        ours = {k: summary_us(v) for k, v in framework_writes(broker.url, args.changes).items()}
    print(f"thingmodel demo: launch -> device connected {startup * 1000:.0f} ms (includes the Python start)")
    print(f"{'path (mosquitto, loopback)':58} {'p50 us':>9} {'p99 us':>9} {'n':>6}")
    print(f"{'raw paho QoS 1 request -> reply':58} {raw['p50']:9.0f} {raw['p99']:9.0f} {raw['n']:6.0f}")
    labels = {
        "setter": "set_desired -> setter running on the device",
        "ack": "set_desired -> device ack back at the cloud",
        "reported": "set_desired -> new value reported into the shadow",
    }
    for key, label in labels.items():
        s = ours[key]
        print(
            f"{label:58} {s['p50']:9.0f} {s['p99']:9.0f} {s['n']:6.0f}   "
            f"({s['p50'] / raw['p50']:.2f}x / {s['p99'] / raw['p99']:.2f}x raw)"
        )


if __name__ == "__main__":
    main()
