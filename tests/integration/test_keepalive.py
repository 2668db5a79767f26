"""Keep-alive on the shared I/O loop: pings keep a quiet connection up; a silent broker is noticed."""

from __future__ import annotations

import signal
import time

from thingmodel.brokers import Mosquitto
from thingmodel.device import Device

from .helpers import Detector, eventually


def test_a_quiet_device_stays_connected_past_its_keepalive(mosquitto: Mosquitto) -> None:
    drops: list[float] = []
    # 2 s, not 1: mosquitto counts 1.5 periods in whole seconds, so at 1 s a ping late by a
    # scheduling hiccup on a busy machine could be taken for silence
    device = Device([Detector()], device_id="quiet-1", broker=mosquitto.url, keepalive=2, sync_timeout=0.2)
    with device:
        device.transport.on_disconnect = lambda: drops.append(time.monotonic())
        time.sleep(5)  # mosquitto drops a client silent for 1.5 keep-alive periods (3 s)
        assert device.connected and drops == []


def test_a_broker_that_stops_answering_is_noticed_within_two_keepalives(mosquitto: Mosquitto) -> None:
    device = Device([Detector()], device_id="quiet-2", broker=mosquitto.url, keepalive=1, sync_timeout=0.2)
    assert mosquitto.process is not None
    with device:
        mosquitto.process.send_signal(signal.SIGSTOP)
        try:
            eventually(lambda: not device.connected, timeout=6, what="the device to give up on the broker")
        finally:
            mosquitto.process.send_signal(signal.SIGCONT)
        eventually(lambda: device.connected, timeout=20, what="the device to reconnect")
