"""Huawei's Python device SDK (huaweicloud-iot-device-sdk-python 1.2.0) as a *device*.

Usage: huawei_device.py HOST PORT DEVICE_ID SECRET SECONDS. Runs under the SDK's own venv with
PYTHONPATH pointing at ``shared/peers/huawei`` (the SDK is not on PyPI). The device is written as
the SDK's samples write one: listeners on its DeviceClient, never a subscription of its own (IoTDA
subscribes its devices implicitly). It reports the smoke detector's properties, answers property
sets (applying them), property gets, commands and the shadow, sends a message up and asks for the
time. Every callback prints one JSON line ``{"step": ..., ...}``; it ends with ``os._exit`` (its
client reconnects after its own close()).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from typing import Any

from iot_device_sdk_python.client.client_conf import ClientConf
from iot_device_sdk_python.client.connect_auth_info import ConnectAuthInfo
from iot_device_sdk_python.client.iot_result import IotResult
from iot_device_sdk_python.client.listener.command_listener import CommandListener
from iot_device_sdk_python.client.listener.device_shadow_listener import DeviceShadowListener
from iot_device_sdk_python.client.listener.property_listener import PropertyListener
from iot_device_sdk_python.client.request.command_response import CommandRsp
from iot_device_sdk_python.client.request.device_message import DeviceMessage
from iot_device_sdk_python.client.request.service_property import ServiceProperty
from iot_device_sdk_python.iot_device import IotDevice
from iot_device_sdk_python.timesync.time_sync_listener import TimeSyncListener

host, port, device_id, secret, seconds = (
    sys.argv[1],
    int(sys.argv[2]),
    sys.argv[3],
    sys.argv[4],
    float(sys.argv[5]),
)
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
lock = threading.Lock()
values: dict[str, Any] = {"alarm": 0, "smokeConcentration": 12.5, "temperature": 21.0, "humidity": 40}


def step(kind: str, **facts: Any) -> None:
    with lock:
        print(json.dumps({"step": kind, **facts}, default=str), flush=True)


auth = ConnectAuthInfo()
auth.server_uri = host
auth.port = 1883  # the SDK accepts only 1883 or 8883 here ...
auth.id = device_id
auth.secret = secret
auth.check_timestamp = "0"
auth.bs_mode = ConnectAuthInfo.BS_MODE_DIRECT_CONNECT
auth.reconnect_on_failure = False
device = IotDevice(ClientConf(auth))
auth.port = port  # ... and reads it again when it connects
client = device.get_client()


class Properties(PropertyListener):
    def on_property_set(self, request_id: str, services: list[ServiceProperty]) -> None:
        for service in services:
            values.update(service.properties)
        step("property_set", request_id=request_id, services={s.service_id: s.properties for s in services})
        client.respond_properties_set(request_id, IotResult(0, "success"))
        client.report_properties([ServiceProperty("smokeDetector", dict(values))])

    def on_property_get(self, request_id: str, service_id: str) -> None:
        step("property_get", request_id=request_id, service_id=service_id)
        client.respond_properties_get(request_id, [ServiceProperty("smokeDetector", dict(values))])


class Commands(CommandListener):
    def on_command(self, request_id: str, service_id: str, command_name: str, paras: dict) -> None:
        step("command", request_id=request_id, service_id=service_id, name=command_name, paras=paras)
        response = CommandRsp()
        response.result_code = 0
        response.response_name = command_name
        response.paras = {"rang": paras.get("duration", 10)}
        client.respond_command(request_id, response)


class Shadow(DeviceShadowListener):
    def on_shadow_get(self, request_id: str, object_device_id: str, shadow: list[Any]) -> None:
        step(
            "shadow",
            request_id=request_id,
            object_device_id=object_device_id,
            shadow=[
                {
                    "service_id": s.service_id,
                    "desired": s.desired.properties,
                    "reported": s.reported.properties,
                }
                for s in shadow
            ],
        )


class Clock(TimeSyncListener):
    def on_time_sync_response(
        self, device_send_time: int, server_recv_time: int, server_send_time: int
    ) -> None:
        step(
            "time_sync",
            device_send_time=device_send_time,
            server_recv_time=server_recv_time,
            server_send_time=server_send_time,
            device_recv_time=int(time.time() * 1000),
        )


client.set_properties_listener(Properties())
client.set_command_listener(Commands())
client.set_device_shadow_listener(Shadow())
device.get_time_sync_service().set_listener(Clock())
if device.connect() != 0:
    step("connect_failed")
    os._exit(3)
step("ready")
client.report_properties([ServiceProperty("smokeDetector", dict(values))])
message = DeviceMessage()
message.content = "hello from the Huawei SDK"
client.report_device_message(message)
client.get_device_shadow("sdk-shadow-1", "smokeDetector")
device.get_time_sync_service().request_time_sync()
time.sleep(seconds)
step("done")
os._exit(0)
