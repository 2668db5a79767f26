"""The far end of figures 3-5 in its own process, as a device is (run by run.py).

Usage: _receiver.py KIND HOST PORT [ARG], KIND = raw | handoff | echo | thingmodel | count.
Prints ``ready`` once subscribed, then, when ``bench/<KIND>/done`` arrives, one JSON line: the
``time.perf_counter()`` (CLOCK_MONOTONIC, comparable across processes) at which each message
reached the device's code.

- raw: paho's on_message on ``bench/raw`` stops the clock.
- handoff: on_message puts the message on a SimpleQueue; a second thread stops the clock.
- echo: answers each message on ``bench/echo/request`` on ``bench/echo/reply`` (QoS 1), the raw
  responder of a round trip.
- thingmodel: a Device (IoTDA; ARG its device id) whose ``alarm`` setter stops the clock; it
  also has a command.
- count: a subscriber to ``$oc/devices/+/sys/properties/report`` that stamps every message and,
  each time a device's count reaches a multiple of ARG, says so on ``bench/count/progress``.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from _common import connect, nodelay_client, subscribe

kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
arg = sys.argv[4] if len(sys.argv) > 4 else "fig3-dev"
stamps: list[float] = []
finished = threading.Event()


def client(name: str) -> mqtt.Client:
    return nodelay_client(name)


def start(c: mqtt.Client, topics: list[str]) -> None:
    connect(c, host, port)
    for topic in topics:
        subscribe(c, topic)


done_topic = f"bench/{kind}/done"
by_topic: dict[str, list[float]] = {}
if kind == "count":
    every = int(arg)

    def count(cl: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == done_topic:
            finished.set()
            return
        got = by_topic.setdefault(message.topic, [])
        got.append(time.perf_counter())
        if len(got) % every == 0:
            cl.publish("bench/count/progress", message.topic, qos=1)

    c = client("recv-count")
    c.on_message = count
    start(c, ["$oc/devices/+/sys/properties/report", done_topic])
elif kind == "echo":

    def echo(cl: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == done_topic:
            finished.set()
        else:
            cl.publish("bench/echo/reply", message.payload, qos=1)

    c = client("recv-echo")
    c.on_message = echo
    start(c, ["bench/echo/request", done_topic])
elif kind in ("raw", "handoff"):
    jobs: queue.SimpleQueue[float] = queue.SimpleQueue()

    def work() -> None:
        while True:
            jobs.get()
            stamps.append(time.perf_counter())

    threading.Thread(target=work, daemon=True).start()

    def on_message(cl: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == done_topic:
            finished.set()
        elif kind == "raw":
            stamps.append(time.perf_counter())
        else:
            jobs.put(0.0)

    c = client(f"recv-{kind}")
    c.on_message = on_message
    start(c, [f"bench/{kind}", done_topic])
else:
    from thingmodel import Property, Service, command
    from thingmodel.device import Device

    class Detector(Service):
        service_id = "smokeDetector"
        alarm = Property(int, writeable=True, minimum=0, maximum=1, default=0)
        temperature = Property(float, default=21.0)

        def set_alarm(self, value: int) -> None:
            stamps.append(time.perf_counter())

        @command("ringAlarm")
        def ring_alarm(self, duration: int = 10) -> dict[str, int]:
            return {"rang": duration}

    device = Device([Detector()], device_id=arg, broker=f"mqtt://{host}:{port}").connect()
    watcher = client(f"recv-done-{arg}")
    watcher.on_message = lambda *a: finished.set()
    start(watcher, [done_topic])

print("ready", flush=True)
finished.wait(600)
print(json.dumps(by_topic if kind == "count" else stamps), flush=True)
os._exit(0)
