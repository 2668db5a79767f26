"""One device implementation, timed against the local cloud in AWS mode (run by peers.py).

Usage: _peer_device.py KIND HOST PORT, KIND = raw | thingmodel | v2 | v1. Prints ``ready`` and
the figures it offers once set up, then serves lines from stdin: ``FIGURE N`` takes N samples
(after a short warm-up) and prints ``done``; at the end of input it prints one JSON line:
``{"samples": {figure: [seconds...]}, "lost": {figure: n}}``. peers.py runs the four kinds side
by side and hands out turns, so that all of them see the same machine.

- delta: an application (raw paho, in this process) publishes a desired change to the shadow;
  the clock stops when the device's own code sees it (our setter, the SDKs' delta callbacks,
  raw paho's on_message for ``update/delta``). Every device then reports the value, as a device
  must for the delta to clear (thingmodel does it by itself).
- update: a sequential QoS 1 shadow update -> accepted, through the local cloud: raw paho
  (matched by clientToken), awsiotsdk v2 ``update_shadow().result()``, AWSIoTPythonSDK v1
  ``shadowUpdate`` -> accepted callback.
- command: the request/response thingmodel's device answers: an AWS IoT command published by
  the application -> the device's response (matched by execution id); raw paho answers the
  same topics. The SDKs have no command handling of their own, and thingmodel's device does
  not wait for update/accepted, so each is compared with raw paho doing the same operation.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import sys
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt

kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
thing = f"bench-{kind}"
P = f"$aws/things/{thing}/shadow"
WARMUP = 5  # per turn: the first samples after a pause are cold
# Samples on a fixed clock, as in figure 3: back to back, the next desired change met the cloud
# still busy with the report the device sent after the last one, so a device that reported
# later scored better (raw paho busy 200 us before its report: 0.25 ms faster deltas).
SLOT = 0.004
seen = threading.Event()
stamp = [0.0]


def saw() -> None:
    stamp[0] = time.perf_counter()
    seen.set()


def client(name: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid.uuid4().hex[:6]}")
    c.on_connect = lambda cl, *a: cl.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.connect(host, port)
    c.loop_start()
    return c


def subscribed(c: mqtt.Client, topic: str) -> None:
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.subscribe(topic, qos=1)
    done.wait(5)


lost = [0]


sequence = itertools.count(1)  # every sample sends a new value: an old one may leave no delta


def timed(send: Any, count: int) -> list[float]:
    """``count`` samples, one per SLOT on a fixed clock; one that never arrives (v1 uses QoS 0) is
    counted as lost, not waited for."""
    out = []
    next_at = time.perf_counter()
    for i in range(count + WARMUP):
        next_at = max(next_at + SLOT, time.perf_counter())
        time.sleep(max(0.0, next_at - time.perf_counter()))
        seen.clear()
        start = time.perf_counter()
        send(next(sequence))
        if not seen.wait(2):
            lost[0] += 1
            if lost[0] > 10:
                print(f"{kind}: more than 10 answers lost", file=sys.stderr, flush=True)
                os._exit(1)
            continue
        if i >= WARMUP:
            out.append(stamp[0] - start)
    return out


app = client("bench-app")


def desire(i: int) -> None:
    app.publish(f"{P}/update", json.dumps({"state": {"desired": {"level": i}}}), qos=1)


def token_of(payload: bytes) -> Any:
    return json.loads(payload).get("clientToken")


rr_token = [""]
C = f"$aws/commands/things/{thing}/executions"
COMMAND = json.dumps({"command": "ringAlarm", "params": {"duration": 1}})


def on_command_response(cl: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
    if message.topic == f"{C}/{rr_token[0]}/response/json":
        saw()


def send_command(i: int) -> None:
    rr_token[0] = f"e{i}"
    app.publish(f"{C}/e{i}/request/json", COMMAND, qos=1)


if kind == "raw":
    dev = client("raw-dev")

    def on_raw(cl: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/delta"):
            saw()
            state = json.loads(message.payload)["state"]
            cl.publish(f"{P}/update", json.dumps({"state": {"reported": state}}), qos=1)
        elif message.topic.endswith("/request/json"):  # a command: answer it, as a device does
            answer = {"status": "SUCCEEDED", "result": {"rang": {"n": 1}}}
            cl.publish(message.topic[: -len("request/json")] + "response/json", json.dumps(answer), qos=1)
        elif token_of(message.payload) == rr_token[0]:  # update/accepted of an update sample
            saw()

    dev.on_message = on_raw
    subscribed(dev, f"{P}/update/delta")
    subscribed(dev, f"{P}/update/accepted")
    subscribed(dev, f"{C}/+/request/json")
    app.on_message = on_command_response
    subscribed(app, f"{C}/+/response/json")

    def request(i: int) -> None:
        rr_token[0] = f"rr{i}"
        body = {"state": {"reported": {"n": i}}, "clientToken": rr_token[0]}
        dev.publish(f"{P}/update", json.dumps(body), qos=1)

    def close() -> None:
        pass

elif kind == "thingmodel":
    from thingmodel import Property, Service, command
    from thingmodel.device import Device

    class Detector(Service):
        service_id = "smokeDetector"
        level = Property(int, writeable=True, default=0)

        def set_level(self, value: int) -> None:
            saw()

        @command("ringAlarm")
        def ring_alarm(self, duration: int = 1) -> dict[str, int]:
            return {"rang": duration}

    device = Device([Detector()], device_id=thing, vendor="aws", broker=f"mqtt://{host}:{port}").connect()
    app.on_message = on_command_response
    subscribed(app, f"{C}/+/response/json")

    def close() -> None:
        device.disconnect()

elif kind == "v2":
    from awscrt import io, mqtt_request_response
    from awscrt import mqtt as crt_mqtt
    from awsiot import ServiceStreamOptions, iotshadow

    conn = crt_mqtt.Connection(
        client=crt_mqtt.Client(io.ClientBootstrap.get_or_create_static_default(), None),
        host_name=host,
        port=port,
        client_id=f"v2-{uuid.uuid4().hex[:6]}",
    )
    conn.connect().result(10)
    shadow = iotshadow.IotShadowClientV2(
        conn,
        mqtt_request_response.ClientOptions(
            max_request_response_subscriptions=3,
            max_streaming_subscriptions=2,
            operation_timeout_in_seconds=10,
        ),
    )

    def on_v2_delta(event: Any) -> None:
        saw()
        state = iotshadow.ShadowState(reported=dict(event.state))
        shadow.update_shadow(iotshadow.UpdateShadowRequest(thing_name=thing, state=state))  # not awaited

    stream = shadow.create_shadow_delta_updated_stream(
        iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing),
        ServiceStreamOptions(incoming_event_listener=on_v2_delta),
    )
    stream.open()
    time.sleep(1)

    def request(i: int) -> None:
        update = iotshadow.UpdateShadowRequest(
            thing_name=thing, state=iotshadow.ShadowState(reported={"n": i})
        )
        shadow.update_shadow(update).result(10)
        saw()

    def close() -> None:
        conn.disconnect().result(10)

elif kind == "v1":
    from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTShadowClient

    sc = AWSIoTMQTTShadowClient(f"v1-{uuid.uuid4().hex[:6]}")
    sc.configureEndpoint(host, port)
    sc.configureConnectDisconnectTimeout(10)
    sc.configureMQTTOperationTimeout(10)
    sc.getMQTTConnection().disableMetricsCollection()
    sc.connect()
    handler = sc.createShadowHandlerWithName(thing, True)

    def on_v1_delta(payload: str, status: str, token: Any) -> None:
        saw()
        body = json.dumps({"state": {"reported": json.loads(payload)["state"]}})
        # the plain MQTT publish: shadowUpdate from a callback blocks the SDK (v1 issue #97)
        threading.Thread(
            target=sc.getMQTTConnection().publish, args=(f"{P}/update", body, 0), daemon=True
        ).start()

    handler.shadowRegisterDeltaCallback(on_v1_delta)
    time.sleep(2.5)  # the SDK sleeps 2 s after each subscribe

    def request(i: int) -> None:
        handler.shadowUpdate(json.dumps({"state": {"reported": {"n": i}}}), lambda *a: saw(), 10)

    def close() -> None:
        sc.disconnect()

else:
    raise SystemExit(f"unknown kind {kind!r}")

# delta: desired -> device code (figure 3); update: shadow update -> accepted, and command:
# command -> response (figure 5, the request/response each offers; raw paho does both)
if kind == "raw":
    figures = {"delta": desire, "update": request, "command": send_command}
elif kind == "thingmodel":
    figures = {"delta": desire, "command": send_command}
else:
    figures = {"delta": desire, "update": request}
samples: dict[str, list[float]] = {name: [] for name in figures}
lost_by: dict[str, int] = {name: 0 for name in figures}
print("ready " + ",".join(figures), flush=True)
for line in sys.stdin:
    name, count = line.split()
    before = lost[0]
    samples[name].extend(timed(figures[name], int(count)))
    lost_by[name] += lost[0] - before
    print("done", flush=True)
close()
print(json.dumps({"samples": samples, "lost": lost_by}), flush=True)
os._exit(0)  # the SDKs' threads need not be waited for
