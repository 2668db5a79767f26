"""The durable outbox: reports queued offline survive the device process being killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from thingmodel.brokers import Mosquitto
from thingmodel.cloud import LocalCloud
from thingmodel.device import Device
from thingmodel.protocol import messages as ev

from .helpers import Detector, eventually, fast_backoff

# The device process: connects, waits for the broker to go, then reports 1..200 while offline.
DEVICE = textwrap.dedent(
    """
    import sys, time
    from thingmodel import Property, Service
    from thingmodel.device import Device
    from thingmodel.transport import Backoff

    class Counter(Service):
        service_id = "counter"
        tick = Property(int, default=0)

    broker, outbox, phase = sys.argv[1:4]
    counter = Counter()
    device = Device([counter], device_id="outbox-1", broker=broker, outbox=outbox,
                    backoff=Backoff(minimum=0.05, maximum=0.2))
    device.connect()
    if phase == "first":
        print("connected", flush=True)
        while device.connected:
            time.sleep(0.01)
        for i in range(1, 201):
            counter.tick = i
            counter.report()
        while device.transport.queued < 200:
            time.sleep(0.01)
        print("queued", device.transport.queued, flush=True)
        time.sleep(60)  # killed here
    else:
        while device.transport.unacknowledged:
            time.sleep(0.01)
        print("delivered", flush=True)
        device.disconnect()
    """
)


def _device(broker: str, outbox: Path, phase: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", DEVICE, broker, str(outbox), phase],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_reports_queued_offline_survive_sigkill_and_arrive_in_order(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    received: list[int] = []

    def record(event: ev.PlatformUplink) -> None:
        if isinstance(event, ev.Reported) and "counter" in event.services:
            received.append(event.services["counter"]["tick"])

    outbox = tmp_path / "outbox.sqlite3"
    cloud = LocalCloud(broker=mosquitto.url, on_uplink=record).start()
    cloud.transport.backoff = fast_backoff()  # type: ignore[union-attr]
    first = _device(mosquitto.url, outbox, "first")
    try:
        assert first.stdout is not None
        assert first.stdout.readline().strip() == "connected"
        mosquitto.kill()
        assert first.stdout.readline().split() == ["queued", "200"]
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        mosquitto.start()
        second = _device(mosquitto.url, outbox, "second")
        assert second.stdout is not None
        assert second.stdout.readline().strip() == "delivered"
        assert second.wait(20) == 0
        eventually(lambda: len([t for t in received if t]) >= 200, timeout=15, what="200 reports")
    finally:
        first.kill()
        cloud.stop()
    assert [t for t in received if t] == list(range(1, 201))


def test_a_corrupt_outbox_is_set_aside_and_the_device_still_works(cloud: LocalCloud, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.sqlite3"
    outbox.write_bytes(b"this is not an outbox\0" * 100)
    device = Device([Detector()], device_id="outbox-2", broker=cloud.url, outbox=outbox)
    with device:
        assert cloud.set_desired("outbox-2", "smokeDetector", {"alarm": 1}).ok
    problems = [e for e in device.errors if e.kind == "outbox"]
    assert len(problems) == 1 and "set aside" in problems[0].reason
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == b"this is not an outbox\0" * 100
