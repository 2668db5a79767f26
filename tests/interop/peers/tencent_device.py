"""Tencent's Python SDK (tencent-iot-device 1.0.0) as a *device* against our local cloud.

Usage: tencent_device.py MODE HOST PORT PRODUCT_ID DEVICE_NAME MAX_SECONDS, MODE = hub | explorer.
Runs under the SDK's own venv (it installs top-level packages ``hub`` and ``explorer``, pins
paho-mqtt 1.5.1 and keeps process-wide singletons). Once its subscriptions are granted it
reports ``{"alarm": 0}``; then:
- explorer: asks ``get_status``, posts one event (``event_post``) and two (``events_post``),
  reports its device info (``report_info``), clears the control once the ``get_status_reply``
  came (``clear_control``, with that reply's token, as the SDK does) and sends one malformed
  ``report`` (token ``bad-1``), so that every reply the platform owes it can be checked; it
  answers every ``control`` with ``templateControlReply`` (which omits ``method``: the SDK's
  known quirk) and reports the controlled values, as the SDK's samples do;
- hub: asks ``get``, sends one malformed ``update`` (token ``bad-1``), and for every ``delta``
  reports the values and clears desired in one update (``"desired": null``, token ``{pid}-d{n}``).
Then it prints ``ready`` and runs until its stdin closes (or MAX_SECONDS pass), then ``done``.

It prints one JSON line per fact (``step``): ``sent`` for every message the SDK publishes
(``topic``, ``payload``: taken at the SDK's MQTT client, so whatever the SDK built), and
``property`` / ``event`` / ``action`` / ``shadow`` for every message that reached the SDK's
callback of that name (``topic``, ``payload``: as the SDK handed it over, already decoded).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from typing import Any

mode, host, port, product_id, device_name, max_seconds = sys.argv[1:7]

info = {
    "auth_mode": "KEY",
    "productId": product_id,
    "deviceName": device_name,
    "productSecret": "",
    "key_deviceinfo": {"deviceSecret": "c2VjcmV0c2VjcmV0c2VjcmV0"},
    "cert_deviceinfo": {"devCaFile": "", "devCertFile": "", "devPrivateKeyFile": ""},
    "subDev": {"subdev_num": 0, "subdev_list": []},
    "region": "china",
}
device_file = os.path.join(tempfile.mkdtemp(), "device_info.json")
with open(device_file, "w") as f:
    json.dump(info, f)

_out = threading.Lock()  # steps come from the SDK's threads and this one


def step(name: str, **facts: Any) -> None:
    line = json.dumps({"step": name, **facts}, default=str)
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def fail(why: str) -> None:
    step("failed", why=why)
    sys.stdout.flush()
    os._exit(1)


from hub.utils.providers import ConnClientProvider  # noqa: E402

if mode == "explorer":
    from explorer.explorer import QcloudExplorer

    sdk: Any = QcloudExplorer(device_file=device_file, tls=False, domain=host)
else:
    from hub.hub import QcloudHub

    sdk = QcloudHub(device_file, tls=False, domain=host).hub

protocol = ConnClientProvider._instance.protocol
protocol._AsyncConnClient__host = host  # 1.0.0 would connect to productId + domain
protocol._AsyncConnClient__mqtt_tcp_port = int(port)  # tls=False hard-codes 1883
sdk_publish = protocol.publish  # every service of the SDK publishes through this one client


def publish_and_tell(topic: str, payload: str, qos: int) -> Any:
    try:
        body: Any = json.loads(payload)
    except ValueError:
        body = payload
    step("sent", topic=topic, payload=body)
    return sdk_publish(topic, payload, qos)


protocol.publish = publish_and_tell

granted = threading.Semaphore(0)
sdk.registerMqttCallback(
    lambda *a: None,  # on_connect
    lambda *a: None,  # on_disconnect
    lambda *a: None,  # on_message (not data template / shadow)
    lambda *a: None,  # on_publish
    lambda *a: granted.release(),  # on_subscribe(qos, mid, userdata)
    lambda *a: None,  # on_unsubscribe
)
sdk.connect()
deadline = time.monotonic() + 10
while not sdk.isMqttConnected():
    if time.monotonic() > deadline:
        fail("not connected after 10 s")
    time.sleep(0.02)


def wait_subscribed(count: int) -> None:
    for _ in range(count):
        if not granted.acquire(timeout=10):
            fail("a subscription was not granted within 10 s")


def report_explorer(values: dict[str, Any]) -> None:
    sdk.templateReport(
        product_id, device_name, sdk.templateJsonConstructReportArray(product_id, device_name, values)
    )


status_replied = threading.Event()


def on_property(topic: str, qos: int, payload: dict[str, Any], userdata: Any) -> None:
    step("property", topic=topic, payload=payload)
    if payload.get("method") == "get_status_reply":
        status_replied.set()
    if payload.get("method") == "control":
        reply = sdk.ReplyPara()
        reply.code, reply.status_msg = 0, "ok"
        sdk.templateControlReply(product_id, device_name, reply)
        report_explorer(payload.get("params", {}))


def on_action(topic: str, qos: int, payload: dict[str, Any], userdata: Any) -> None:
    step("action", topic=topic, payload=payload)


def on_event(topic: str, qos: int, payload: dict[str, Any], userdata: Any) -> None:
    step("event", topic=topic, payload=payload)


deltas = 0


def on_shadow(topic: str, qos: int, payload: dict[str, Any], userdata: Any) -> None:
    global deltas
    step("shadow", topic=topic, payload=payload)
    if payload.get("type") == "delta":
        deltas += 1
        state = payload["payload"]["state"]
        doc = {
            "type": "update",
            "state": {"reported": state, "desired": None},
            "clientToken": f"{product_id}-d{deltas}",
        }
        sdk.shadowUpdate(product_id, device_name, doc, len(json.dumps(doc)))  # it encodes the dict itself


if mode == "explorer":
    noop = lambda *a: None  # noqa: E731
    sdk.templateInit(product_id, device_name, on_property, on_action, on_event, noop)
    wait_subscribed(4)  # property, action, event, service
    report_explorer({"alarm": 0})
    sdk.templateGetStatus(product_id, device_name)
    one = {"eventId": "alarm_event", "type": "alert", "timestamp": 1700000000000, "params": {"level": 2}}
    sdk.templateEventPost(product_id, device_name, {"events": [one]})
    sdk.templateEventPost(product_id, device_name, {"events": [one, {**one, "eventId": "low_battery"}]})
    sdk.templateReportSysInfo(product_id, device_name, {"module_hardinfo": "sim", "fw_ver": "1.0.0"})
    if not status_replied.wait(10):  # clearControl sends the token of the get_status_reply
        fail("no get_status_reply within 10 s")
    sdk.clearControl(product_id, device_name)
    bad = {"method": "report", "clientToken": "bad-1", "params": "not an object"}
    sdk.publish(f"$thing/up/property/{product_id}/{device_name}", bad, 1)
else:
    sdk.shadowInit(product_id, device_name, on_shadow)
    wait_subscribed(1)
    doc = {"type": "update", "state": {"reported": {"alarm": 0}}, "clientToken": f"{product_id}-r"}
    sdk.shadowUpdate(product_id, device_name, doc, len(json.dumps(doc)))
    sdk.getShadow(product_id, device_name)
    bad = {"type": "update", "state": "not an object", "clientToken": "bad-1"}
    sdk.shadowUpdate(product_id, device_name, bad, len(json.dumps(bad)))
step("ready")
stdin_closed = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stdin_closed.set()), daemon=True).start()
stdin_closed.wait(float(max_seconds))
step("done")
os._exit(0)  # the SDK's threads do not all stop on disconnect
