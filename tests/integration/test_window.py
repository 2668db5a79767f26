"""A connected device publishing faster than the broker acknowledges: the transport's window."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from thingmodel.brokers import Mosquitto
from thingmodel.device import Device

from .helpers import Detector, eventually


def test_a_burst_past_the_offline_limit_is_delivered_whole_and_in_order(mosquitto: Mosquitto) -> None:
    seen: list[int] = []
    listener = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="window-listener")
    listener.on_message = lambda c, u, m: seen.append(int(m.payload.split(b'"counter":')[1].split(b"}")[0]))
    listener.connect(mosquitto.host, mosquitto.port)
    listener.subscribe("$oc/devices/burst-1/sys/properties/report", qos=1)
    listener.loop_start()
    detector = Detector()
    try:
        with Device(
            [detector], device_id="burst-1", broker=mosquitto.url, offline_limit=50, sync_timeout=0.2
        ) as device:
            device.transport.open_gate()
            for i in range(1, 3001):
                detector.counter = i
                detector.report()
            eventually(lambda: len(seen) >= 3000, timeout=30, what="3000 reports")
            # the listener having the last one does not mean the device has read its PUBACK yet
            eventually(lambda: device.transport.unacknowledged == 0, what="the last acknowledgement")
            assert device.dropped == 0
    finally:
        listener.loop_stop()
    assert seen == list(range(1, 3001))
