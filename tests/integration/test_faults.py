"""Faults users fear, made on purpose: a broker and a cloud killed with SIGKILL mid-run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from thingmodel import Property, Service
from thingmodel.brokers import Mosquitto
from thingmodel.cloud import LocalCloud
from thingmodel.device import Device
from thingmodel.protocol import messages as ev

from .helpers import Detector, eventually, fast_backoff


class Ticker(Service):
    """Every report carries the next number, so the order and completeness of reports show."""

    service_id = "ticker"
    tick = Property(int, default=0)

    def __init__(self) -> None:
        self.made: list[int] = []

    def get_tick(self) -> int:
        number = len(self.made) + 1
        self.made.append(number)
        return number


def test_reports_every_100ms_survive_a_sigkilled_broker_in_order(mosquitto: Mosquitto) -> None:
    received: list[int] = []

    def record(event: ev.PlatformUplink) -> None:
        if isinstance(event, ev.Reported) and "ticker" in event.services:
            received.append(event.services["ticker"]["tick"])

    ticker = Ticker()
    cloud = LocalCloud(broker=mosquitto.url, on_uplink=record).start()
    cloud.transport.backoff = fast_backoff()  # type: ignore[union-attr]
    device = Device([ticker], device_id="ticker-1", broker=mosquitto.url, backoff=fast_backoff())
    try:
        device.connect()
        ticker.enable_auto_report(0.1)
        time.sleep(8)
        mosquitto.kill()
        made_before_outage = len(ticker.made)
        time.sleep(5)  # the device keeps reporting into its offline queue
        mosquitto.start()
        time.sleep(8)
        ticker.disable_auto_report()
        last = len(ticker.made)
        eventually(lambda: received[-1:] == [last], timeout=15, what="the last report")
    finally:
        device.disconnect()
        cloud.stop()
    # 210 slots in 21 s; a slot the worker reaches over 100 ms late is skipped, not bunched, and a
    # busy machine skips a few around the restart
    assert last >= 150, f"only {last} reports in 21 s"
    during_outage = list(range(made_before_outage + 1, made_before_outage + 45))
    assert all(n in received for n in during_outage), "a report made during the outage was lost"
    assert sorted(set(received)) == list(range(1, last + 1)), "a report was lost"
    deduplicated = [n for i, n in enumerate(received) if n not in received[:i]]
    assert deduplicated == sorted(deduplicated), "reports arrived out of order"
    assert cloud.get_shadow("ticker-1")["ticker"]["reported"]["tick"] == last == ticker.tick


def test_a_sigkilled_cloud_keeps_its_shadows_and_delivers_a_desire_made_before_the_kill(
    mosquitto: Mosquitto, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from thingmodel.cloud.client import CloudClient

    store = str(tmp_path / "shadows.sqlite3")

    def start_cloud() -> tuple[subprocess.Popen[bytes], CloudClient]:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "thingmodel.cli",
                "cloud",
                "--broker",
                mosquitto.url,
                "--store",
                store,
                "--http-port",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None
        assert b"serving on" in process.stdout.readline()
        console = process.stdout.readline().decode()
        return process, CloudClient(console.split("console:", 1)[1].strip().rstrip("/"))

    def shadow(app: CloudClient) -> dict[str, object]:
        services: dict[str, object] = app.get("/devices/faulty-1")["services"]
        return services

    cloud, app = start_cloud()
    try:
        desire = {"service_id": "smokeDetector", "properties": {"alarm": 1}, "timeout": 0.3}
        answer = app.post("/devices/faulty-1/desired", desire, wait=0.3)
        assert answer["pending"] is True  # the device is not there yet
        before = shadow(app)
        cloud.send_signal(signal.SIGKILL)
        cloud.wait(10)
        cloud, app = start_cloud()
        assert shadow(app) == before
        detector = Detector()
        with Device([detector], device_id="faulty-1", broker=mosquitto.url):
            assert detector.set_calls == [1]
            eventually(
                lambda: shadow(app)["smokeDetector"]["reported"].get("alarm") == 1,  # type: ignore[index]
                what="alarm=1 reported to the restarted cloud",
            )
    finally:
        cloud.send_signal(signal.SIGTERM)
        try:
            cloud.wait(10)
        except subprocess.TimeoutExpired:
            cloud.kill()
            cloud.wait(10)
