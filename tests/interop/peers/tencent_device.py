"""Tencent's Python SDK (tencent-iot-device 1.0.0) as a *device* against our local cloud.

Usage: tencent_device.py MODE HOST PORT PRODUCT_ID DEVICE_NAME SECONDS, MODE = hub | explorer.
Runs under the SDK's own venv (it installs top-level packages ``hub`` and ``explorer``, pins
paho-mqtt 1.5.1 and keeps process-wide singletons). It reports ``{"alarm": 0}``; then:
- explorer: answers every ``control`` with ``templateControlReply`` (which omits ``method``:
  the SDK's known quirk) and reports the controlled values, as the SDK's samples do;
- hub: for every ``delta`` reports the values and clears desired (``"desired": null``).
Every message it receives is printed as one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import Any

mode, host, port, product_id, device_name, seconds = sys.argv[1:7]

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


def step(name: str, **facts: Any) -> None:
    print(json.dumps({"step": name, **facts}, default=str), flush=True)


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
sdk.registerMqttCallback(*[lambda *a, **k: None] * 6)
sdk.connect()
deadline = time.monotonic() + 10
while not sdk.isMqttConnected():
    if time.monotonic() > deadline:
        step("not_connected")
        sys.exit(1)
    time.sleep(0.05)


def report_explorer(values: dict[str, Any]) -> None:
    sdk.templateReport(
        product_id, device_name, sdk.templateJsonConstructReportArray(product_id, device_name, values)
    )


def on_property(topic: str, qos: int, payload: dict[str, Any], userdata: Any) -> None:
    step("property", payload=payload)
    if payload.get("method") == "control":
        reply = sdk.ReplyPara()
        reply.code, reply.status_msg = 0, "ok"
        sdk.templateControlReply(product_id, device_name, reply)
        report_explorer(payload.get("params", {}))


def on_action(topic: str, qos: int, payload: dict[str, Any], userdata: Any) -> None:
    step("action", payload=payload)


def on_shadow(topic: str, qos: int, payload: dict[str, Any], userdata: Any) -> None:
    step("shadow", payload=payload)
    if payload.get("type") == "delta":
        state = payload["payload"]["state"]
        doc = {
            "type": "update",
            "state": {"reported": state, "desired": None},
            "clientToken": f"{product_id}-d",
        }
        sdk.shadowUpdate(product_id, device_name, doc, len(json.dumps(doc)))  # it encodes the dict itself


if mode == "explorer":
    noop = lambda *a: None  # noqa: E731
    sdk.templateInit(product_id, device_name, on_property, on_action, noop, noop)
    time.sleep(0.5)
    report_explorer({"alarm": 0})
    sdk.templateGetStatus(product_id, device_name)
else:
    sdk.shadowInit(product_id, device_name, on_shadow)
    time.sleep(0.5)
    doc = {"type": "update", "state": {"reported": {"alarm": 0}}, "clientToken": f"{product_id}-r"}
    sdk.shadowUpdate(product_id, device_name, doc, len(json.dumps(doc)))
    sdk.getShadow(product_id, device_name)
step("ready")
time.sleep(float(seconds))
step("done")
os._exit(0)  # the SDK's threads do not all stop on disconnect
