"""Tencent's Python SDK (tencent-iot-device 1.0.0) as a *gateway* against our local cloud.

Usage: tencent_gateway.py MODE HOST PORT GW_PID GW_DN GW_SECRET SUB_PID SUB_DN SUB_SECRET MAX_SECONDS,
MODE = hub | explorer. Runs under the SDK's own venv, as peers/tencent_device.py does (whose
connection patching it repeats). With the SDK's gateway API (hub/services/gateway) it:
``gatewayInit``; binds SUB_DN-other with a wrong secret, then the sub-device with SUB_SECRET
(``gatewaySubdevBind``, which signs the bind itself); brings it online (``gatewaySubdevOnline``);
asks for its sub-devices (``gatewaySubdevGetBindList``); then, on the gateway's one connection,
serves the sub-device's own topics: explorer ``templateInit`` + ``templateReport``, hub
``shadowInit`` + ``shadowUpdate``, answering the cloud's ``control`` / ``delta`` for it as the
SDK's samples do. It prints ``ready``, and once its stdin closes takes the sub-device offline
(``gatewaySubdevOffline``) and prints ``done``.

One JSON line per fact (``step``): ``sent`` for every publish (taken at the SDK's MQTT client),
``gateway`` for every message the SDK's gateway handler got, ``property`` / ``shadow`` for the
sub-device's data-template / shadow callbacks, and ``bind`` / ``online`` / ``describe`` /
``offline`` with the return code the SDK's call gave (0: the cloud's reply had result 0).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from typing import Any

mode, host, port, gw_pid, gw_dn, gw_secret, sub_pid, sub_dn, sub_secret, max_seconds = sys.argv[1:11]

info = {
    "auth_mode": "KEY",
    "productId": gw_pid,
    "deviceName": gw_dn,
    "productSecret": "",
    "key_deviceinfo": {"deviceSecret": gw_secret},
    "cert_deviceinfo": {"devCaFile": "", "devCertFile": "", "devPrivateKeyFile": ""},
    "subDev": {"subdev_num": 1, "subdev_list": [{"sub_productId": sub_pid, "sub_devName": sub_dn}]},
    "region": "china",
}
device_file = os.path.join(tempfile.mkdtemp(), "device_info.json")
with open(device_file, "w") as f:
    json.dump(info, f)

_out = threading.Lock()


def step(name: str, **facts: Any) -> None:
    line = json.dumps({"step": name, **facts}, default=str)
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def fail(why: str) -> None:
    step("failed", why=why)
    os._exit(1)


from hub.services.gateway.gateway import Gateway  # noqa: E402
from hub.utils.providers import ConnClientProvider  # noqa: E402

_handle_gateway = Gateway.handle_gateway


def handle_and_tell(self: Any, topic: str, message: Any) -> Any:
    step("gateway", topic=topic, payload=message)
    return _handle_gateway(self, topic, message)


Gateway.handle_gateway = handle_and_tell  # type: ignore[method-assign]

if mode == "explorer":
    from explorer.explorer import QcloudExplorer

    sdk: Any = QcloudExplorer(device_file=device_file, tls=False, domain=host)
    hub: Any = sdk._QcloudExplorer__hub  # the explorer has no gatewaySubdevGetBindList of its own
else:
    from hub.hub import QcloudHub

    sdk = hub = QcloudHub(device_file, tls=False, domain=host).hub

protocol = ConnClientProvider._instance.protocol
protocol._AsyncConnClient__host = host  # 1.0.0 would connect to productId + domain
protocol._AsyncConnClient__mqtt_tcp_port = int(port)  # tls=False hard-codes 1883
sdk_publish = protocol.publish


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
    lambda *a: None,
    lambda *a: None,
    lambda *a: None,
    lambda *a: None,
    lambda *a: granted.release(),  # on_subscribe
    lambda *a: None,
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


sdk.gatewayInit()
wait_subscribed(1)
# a refused reply stays in the SDK's table of replies for that sub-device (only a success is
# taken out), so the wrong-secret bind is tried on another sub-device, {SUB_DN}-other
step("bind", rc=sdk.gatewaySubdevBind(sub_pid, f"{sub_dn}-other", "d3Jvbmcgc2VjcmV0")[0], secret="wrong")
step("bind", rc=sdk.gatewaySubdevBind(sub_pid, sub_dn, sub_secret)[0], secret="right")
step("online", rc=sdk.gatewaySubdevOnline(sub_pid, sub_dn)[0])
rc, bound = hub.gatewaySubdevGetBindList(gw_pid, gw_dn)
step("describe", rc=rc, devices=[f"{d.product_id}.{d.device_name}" for d in bound])


def report_explorer(values: dict[str, Any]) -> None:
    sdk.templateReport(sub_pid, sub_dn, sdk.templateJsonConstructReportArray(sub_pid, sub_dn, values))


def on_property(topic: str, qos: int, payload: dict[str, Any], userdata: Any) -> None:
    step("property", topic=topic, payload=payload)
    if payload.get("method") == "control":
        reply = sdk.ReplyPara()
        reply.code, reply.status_msg = 0, "ok"
        sdk.templateControlReply(sub_pid, sub_dn, reply)
        report_explorer(payload.get("params", {}))


deltas = 0


def on_shadow(topic: str, qos: int, payload: dict[str, Any], userdata: Any) -> None:
    global deltas
    step("shadow", topic=topic, payload=payload)
    if payload.get("type") == "delta":
        deltas += 1
        doc = {
            "type": "update",
            "state": {"reported": payload["payload"]["state"], "desired": None},
            "clientToken": f"{sub_pid}-d{deltas}",
        }
        sdk.shadowUpdate(sub_pid, sub_dn, doc, len(json.dumps(doc)))


if mode == "explorer":
    noop = lambda *a: None  # noqa: E731
    sdk.templateInit(sub_pid, sub_dn, on_property, noop, noop, noop)
    wait_subscribed(4)  # property, action, event, service
    report_explorer({"alarm": 0})
else:
    sdk.shadowInit(sub_pid, sub_dn, on_shadow)
    wait_subscribed(1)
    doc = {"type": "update", "state": {"reported": {"alarm": 0}}, "clientToken": f"{sub_pid}-r"}
    sdk.shadowUpdate(sub_pid, sub_dn, doc, len(json.dumps(doc)))
step("ready")
stdin_closed = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stdin_closed.set()), daemon=True).start()
stdin_closed.wait(float(max_seconds))
step("offline", rc=sdk.gatewaySubdevOffline(sub_pid, sub_dn)[0])
step("done")
os._exit(0)
