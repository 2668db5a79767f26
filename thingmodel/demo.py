"""``thingmodel demo``: a smoke detector syncing with a local cloud, narrated on both sides."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, TextIO

from .brokers import free_port
from .cloud import LocalCloud, discovery
from .cloud.discovery import DEFAULT_HTTP_PORT
from .demo_device import SmokeDetector  # the same file as examples/smoke_detector.py
from .device import Device
from .protocol import messages as ev
from .vendors import shadow_key


class _Narrator:
    """Prints what happens, one line per step, tagged with the side it happens on."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.start = time.monotonic()
        self.lock = threading.Lock()

    def say(self, side: str, text: str) -> None:
        with self.lock:
            print(f"{time.monotonic() - self.start:6.2f}s  [{side:^6}]  {text}", file=self.out, flush=True)

    def uplink(self, event: ev.PlatformUplink) -> None:
        if isinstance(event, ev.Reported):
            for sid, values in event.services.items():
                self.say("cloud", f"report from {event.device_id}/{sid}: {_fmt(values)}")
        elif isinstance(event, ev.DesiredAcked):
            verdict = "applied" if event.ok else f"refused ({_reasons(event.errors)})"
            self.say("cloud", f"write acknowledged by {event.device_id}: {verdict}")
        elif isinstance(event, ev.CommandAnswered):
            self.say(
                "cloud", f"command response from {event.device_id}: code {event.code}, {_fmt(event.params)}"
            )
        elif isinstance(event, ev.DesiredCleared):
            for sid, names in event.services.items():
                what = "all of desired" if names is None else ", ".join(names)
                self.say("cloud", f"{event.device_id}/{sid} cleared {what} from its desired state")
        elif isinstance(event, ev.ShadowRequested):
            self.say("cloud", f"{event.device_id} asked for its shadow (it does on every connect)")
        elif isinstance(event, ev.DeviceMalformed):
            self.say("cloud", f"bad message from {event.device_id}: {event.reason}")


class _DeviceLog(logging.Handler):
    def __init__(self, narrator: _Narrator) -> None:
        super().__init__(logging.INFO)
        self.narrator = narrator

    def emit(self, record: logging.LogRecord) -> None:
        self.narrator.say("device", record.getMessage())


#: the demo device's id per vendor (Tencent ids are ProductId.DeviceName)
DEMO_DEVICE = {"tencent-hub": "DEMOPRD001.demo-smoke-1", "tencent-explorer": "DEMOPRD001.demo-smoke-1"}


def _await_reported(cloud: LocalCloud, device: str, service: str, name: str, value: Any) -> None:
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if cloud.get_shadow(device).get(service, {}).get("reported", {}).get(name) == value:
            return
        time.sleep(0.01)


def _reasons(errors: Any) -> str:
    return "; ".join(f"{k}: {v}" for k, v in dict(errors).items())


def _fmt(values: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in dict(values).items()) or "(nothing)"


def run_demo(
    *,
    vendor: str = "huawei",
    port: int | None = None,
    forever: bool = False,
    interval: float = 2.0,
    out: TextIO = sys.stdout,
    console_port: int | None = None,
) -> int:
    """Run the demo; return the process exit code. With ``console_port`` the web console is served
    there (-1: the default port, or a free one if it is taken) and the demo runs until Ctrl-C."""
    narrator = _Narrator(out)
    device_log = logging.getLogger("smoke_detector")
    handler = _DeviceLog(narrator)
    device_log.addHandler(handler)
    device_log.setLevel(logging.INFO)
    device_log.propagate = False
    http_port = None
    if console_port is not None:
        http_port = console_port if console_port >= 0 else _free_or(DEFAULT_HTTP_PORT)
    cloud = LocalCloud(
        vendor=vendor,
        port=port if port is not None else free_port(),
        on_uplink=narrator.uplink,
        http_port=http_port,
    )
    try:
        cloud.start()
        narrator.say(
            "cloud",
            f"local cloud up: embedded MQTT broker on {cloud.url}, {vendor} protocol, shadows in memory",
        )
        if cloud.http_url is not None:
            discovery.record(vendor=vendor, mqtt_url=cloud.url, http_url=cloud.http_url)
            narrator.say("cloud", f"web console on {cloud.http_url}/ (open it in a browser)")
        detector = SmokeDetector(seed=1)
        dev = DEMO_DEVICE.get(vendor, "demo-smoke-1")
        device = Device([detector], device_id=dev, vendor=vendor, broker=cloud.url)
        shadow = shadow_key(device.codec, detector.service_id)
        with device:
            narrator.say("device", f"{dev} connected; {detector.service_id} reports every {interval:g} s")
            detector.enable_auto_report(interval)
            time.sleep(interval + 0.5)
            narrator.say("app", "desire smokeDetector.alarm = 1")
            outcome = cloud.set_desired(dev, shadow, {"alarm": 1})
            _await_reported(cloud, dev, shadow, "alarm", 1)  # the report follows the ack
            narrator.say(
                "app",
                f"-> {'applied' if outcome.ok else outcome.errors}; shadow now: "
                f"{_fmt(cloud.get_shadow(dev)[shadow]['reported'])}",
            )
            narrator.say("app", "command ringAlarm(duration=3)")
            answer = cloud.send_command(dev, "smokeDetector", "ringAlarm", {"duration": 3})
            narrator.say("app", f"-> code {answer.code}, {_fmt(answer.params)}")
            narrator.say("app", "desire smokeDetector.alarm = 5 (out of range, to see a refusal)")
            refused = cloud.set_desired(dev, shadow, {"alarm": 5})
            narrator.say(
                "app",
                f"-> refused as expected ({_reasons(refused.errors)})"
                if not refused.ok
                else "-> unexpectedly applied",
            )
            if forever:
                narrator.say("app", "running until Ctrl-C")
                while True:
                    time.sleep(3600)
            time.sleep(interval)
        ok = outcome.ok and answer.ok and not refused.ok
        narrator.say("app", "demo finished" if ok else "demo finished with unexpected results")
        if cloud.http_url is None:
            narrator.say("app", "to watch and drive the device in a browser: thingmodel demo --console")
        return 0 if ok else 1
    except KeyboardInterrupt:
        narrator.say("app", "stopped")
        return 0
    finally:
        discovery.forget()
        cloud.stop()
        device_log.removeHandler(handler)


def _free_or(port: int) -> int:
    """``port`` when nothing listens there, else 0 (a free one)."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return 0
    return port
