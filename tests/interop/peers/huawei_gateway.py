"""Huawei's Python device SDK (1.2.0) as a *gateway*: its ``AbstractGateway`` with children.

Usage: huawei_gateway.py HOST PORT GATEWAY_ID SECRET. Runs under the SDK's own venv with
PYTHONPATH pointing at ``shared/peers/huawei`` (the SDK is not on PyPI). The gateway is written
as ``iot_gateway_demo`` writes one: a subclass of ``AbstractGateway`` whose ``on_sub_dev_*``
callbacks stand for forwarding to the child (here: printing what came, and answering a
command as the demo does, with ``respond_command`` on the gateway's client), a
``GtwOperateSubDeviceListener`` that syncs the children after each add or delete answer, and a
``SubDevicesPersistence`` (kept in memory here; the demo's writes a JSON file).

The test drives it through stdin, one JSON object a line (``{"do": "add", "children": [...]}``,
...: see ``COMMANDS``); every callback and every command done prints one JSON line
``{"step": ...}`` on stdout. ``{"do": "quit"}`` ends it with ``os._exit``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from iot_device_sdk_python.client.client_conf import ClientConf
from iot_device_sdk_python.client.connect_auth_info import ConnectAuthInfo
from iot_device_sdk_python.client.request.command import Command
from iot_device_sdk_python.client.request.command_response import CommandRsp
from iot_device_sdk_python.client.request.device_event import DeviceEvent
from iot_device_sdk_python.client.request.device_events import DeviceEvents
from iot_device_sdk_python.client.request.device_message import DeviceMessage
from iot_device_sdk_python.client.request.props_get import PropsGet
from iot_device_sdk_python.client.request.props_set import PropSet
from iot_device_sdk_python.client.request.service_property import ServiceProperty
from iot_device_sdk_python.gateway.abstract_gateway import AbstractGateway
from iot_device_sdk_python.gateway.gtw_operate_sub_device_listener import (
    GtwAddSubDeviceRsp,
    GtwDelSubDeviceRsp,
    GtwOperateSubDeviceListener,
)
from iot_device_sdk_python.gateway.requests.added_sub_device_info import AddedSubDeviceInfo
from iot_device_sdk_python.gateway.requests.device_info import DeviceInfo
from iot_device_sdk_python.gateway.requests.device_property import DeviceProperty
from iot_device_sdk_python.gateway.requests.device_status import DeviceStatus
from iot_device_sdk_python.gateway.requests.sub_devices_info import SubDevicesInfo
from iot_device_sdk_python.gateway.sub_devices_persistence import SubDevicesPersistence

host, port, gateway_id, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
lock = threading.Lock()


def step(name: str, /, **facts: Any) -> None:
    with lock:
        print(json.dumps({"step": name, **facts}, default=repr), flush=True)


def guarded(what: str, run: Callable[[], None]) -> None:
    try:
        run()
    except Exception as exc:  # the test must see it, whatever it is
        step("failed", why=f"{what}: {type(exc).__name__}: {exc}")


class Children(SubDevicesPersistence):
    """The children the platform told of, by node id, and the version of that list."""

    def __init__(self) -> None:
        self.version = 0
        self.by_node: dict[str, dict[str, Any]] = {}

    def get_sub_device(self, node_id: str) -> DeviceInfo | None:
        known = self.by_node.get(node_id)
        if known is None:
            return None
        info = DeviceInfo()
        info.convert_from_dict(known)
        return info

    def add_sub_devices(self, sub_devices_info: SubDevicesInfo) -> int:
        for device in sub_devices_info.devices:
            self.by_node[device.node_id] = device.to_dict()
        self.version = sub_devices_info.version
        return 0

    def delete_sub_devices(self, sub_devices_info: SubDevicesInfo) -> int:
        for device in sub_devices_info.devices:
            self.by_node.pop(device.node_id, None)
        self.version = sub_devices_info.version
        return 0

    def get_version(self) -> int:
        return self.version


class SdkGateway(AbstractGateway):
    """What a gateway forwards to its children, printed; commands answered as the demo does."""

    def on_sub_dev_command(self, request_id: str, command: Command) -> None:
        step(
            "sub_command",
            request_id=request_id,
            device_id=command.device_id,
            service_id=command.service_id,
            command_name=command.command_name,
            paras=command.paras,
        )
        response = CommandRsp()
        response.result_code = CommandRsp.success_code()
        response.paras = {"blinked": command.paras.get("times"), "by": command.device_id}
        self.get_client().respond_command(request_id, response)

    def on_sub_dev_message(self, message: DeviceMessage) -> None:
        step("sub_message", **message.to_dict())

    def on_sub_dev_properties_set(self, request_id: str, props_set: PropSet) -> None:
        step("sub_properties_set", request_id=request_id, device_id=props_set.device_id)

    def on_sub_dev_properties_get(self, request_id: str, props_get: PropsGet) -> None:
        step("sub_properties_get", request_id=request_id)

    def on_sub_dev_event(self, device_events: DeviceEvents) -> None:
        step("sub_event", **device_events.to_dict())

    def on_add_sub_devices(self, sub_devices_info: SubDevicesInfo) -> int:
        result: int = super().on_add_sub_devices(sub_devices_info)
        added = [d.to_dict() for d in sub_devices_info.devices]
        step("children_added", version=sub_devices_info.version, devices=added, result=result)
        return result

    def on_delete_sub_devices(self, sub_devices_info: SubDevicesInfo) -> int:
        result: int = super().on_delete_sub_devices(sub_devices_info)
        gone = [d.device_id for d in sub_devices_info.devices]
        step("children_deleted", version=sub_devices_info.version, devices=gone, result=result)
        return result


class Answers(GtwOperateSubDeviceListener):
    """The demo's listener: says what the platform answered, then syncs the children."""

    def on_add_sub_device_rsp(self, gtw_add_sub_device_rsp: GtwAddSubDeviceRsp, event_id: str) -> None:
        step(
            "add_response",
            event_id=event_id,
            successful=[
                {"device_id": d.device_id, "node_id": d.node_id, "product_id": d.product_id}
                for d in gtw_add_sub_device_rsp.successful_devices
            ],
            failed=[
                {"node_id": f.node_id, "error_code": f.error_code, "error_msg": f.error_msg}
                for f in gtw_add_sub_device_rsp.add_sub_device_failed_reasons
            ],
        )
        gateway.sync_sub_devices()

    def on_del_sub_device_rsp(self, gtw_del_sub_device_rsp: GtwDelSubDeviceRsp, event_id: str) -> None:
        step(
            "delete_response",
            event_id=event_id,
            successful=list(gtw_del_sub_device_rsp.successful_devices),
            failed=[f.device_id for f in gtw_del_sub_device_rsp.failed_devices],
        )
        gateway.sync_sub_devices()


auth = ConnectAuthInfo()
auth.server_uri = host
auth.port = 1883  # the SDK accepts only 1883 or 8883 here ...
auth.id = gateway_id
auth.secret = secret
auth.check_timestamp = "0"
auth.bs_mode = ConnectAuthInfo.BS_MODE_DIRECT_CONNECT
auth.reconnect_on_failure = False
children = Children()
gateway = SdkGateway(children, ClientConf(auth))
auth.port = port  # ... and reads it again when it connects
gateway.set_gtw_operate_sub_device_listener(Answers())


def do_add(order: dict[str, Any]) -> None:
    infos = []
    for child in order["children"]:
        info = AddedSubDeviceInfo()
        info.node_id, info.product_id, info.device_id = (
            child["node_id"],
            child["product_id"],
            child["device_id"],
        )
        info.name = child.get("name", "")
        infos.append(info)
    gateway.gtw_add_sub_device(infos, order["event_id"])


def do_delete(order: dict[str, Any]) -> None:
    gateway.gtw_del_sub_device(order["device_ids"], order["event_id"])


def do_status(order: dict[str, Any]) -> None:
    statuses = []
    for device_id, status in order["statuses"].items():
        entry = DeviceStatus()
        entry.device_id, entry.status = device_id, status
        statuses.append(entry)
    gateway.report_batch_status(statuses)


def do_report(order: dict[str, Any]) -> None:
    batch = []
    for device_id, services in order["reports"].items():
        entry = DeviceProperty()
        entry.device_id = device_id
        entry.services = [
            ServiceProperty(service_id=sid, properties=props) for sid, props in services.items()
        ]
        batch.append(entry)
    gateway.report_batch_properties(batch)


def do_child_message(order: dict[str, Any]) -> None:
    message = DeviceMessage()
    message.device_id, message.content = order["device_id"], order["content"]
    gateway.report_sub_device_message(message)


def do_child_event(order: dict[str, Any]) -> None:
    event = DeviceEvent()
    event.service_id, event.event_type, event.paras = order["service_id"], order["event_type"], order["paras"]
    gateway.get_client().report_sub_event(order["device_id"], event)


def do_quit(order: dict[str, Any]) -> None:
    step("done")
    sys.stdout.flush()
    os._exit(0)


COMMANDS: dict[str, Callable[[dict[str, Any]], None]] = {
    "add": do_add,
    "delete": do_delete,
    "status": do_status,
    "report": do_report,
    "child_message": do_child_message,
    "child_event": do_child_event,
    "sync": lambda order: gateway.sync_sub_devices(),
    "children": lambda order: step("children", version=children.version, nodes=sorted(children.by_node)),
    "quit": do_quit,
}

if gateway.connect() != 0:
    step("connect_failed")
    os._exit(3)
step("ready")


def obey(order: dict[str, Any]) -> None:
    guarded(order["do"], lambda: COMMANDS[order["do"]](order))
    step("did", do=order["do"])


for line in sys.stdin:
    if line.strip():
        obey(json.loads(line))
do_quit({})
