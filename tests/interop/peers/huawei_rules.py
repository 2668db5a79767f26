"""Huawei's Python device SDK (1.2.0) running the cloud's on-device rules, as a *device*.

Usage: huawei_rules.py HOST PORT DEVICE_ID SECRET. Runs under the SDK's own venv with PYTHONPATH
pointing at ``shared/peers/huawei``. The device is the SDK's rule sample
(``iot_device_demo/rule/device_rule_sample.py``) with ``enable_rule_manage = True``: its
``RuleManageService`` takes the ``$device_rule`` write, asks for the rules, parses them, and on
each ``report_properties`` (or when a timer is due) calls the command listener with the rule's
command.

Driven through stdin, one JSON object a line: ``{"do": "report", "service": ..., "properties":
{...}}``, ``{"do": "rules"}`` (the rule ids the SDK holds: read from its rule service, whose
only record they are), ``{"do": "quit"}``. Every command the listener gets prints ``{"step":
"command", ...}``; every order done ``{"step": "did", ...}``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from typing import Any

from iot_device_sdk_python.client.client_conf import ClientConf
from iot_device_sdk_python.client.connect_auth_info import ConnectAuthInfo
from iot_device_sdk_python.client.listener.command_listener import CommandListener
from iot_device_sdk_python.client.request.service_property import ServiceProperty
from iot_device_sdk_python.iot_device import IotDevice

host, port, device_id, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
lock = threading.Lock()


def step(name: str, /, **facts: Any) -> None:
    with lock:
        print(json.dumps({"step": name, **facts}, default=repr), flush=True)


auth = ConnectAuthInfo()
auth.server_uri = host
auth.port = 1883  # the SDK accepts only 1883 or 8883 here ...
auth.id = device_id
auth.secret = secret
auth.check_timestamp = "0"
auth.bs_mode = ConnectAuthInfo.BS_MODE_DIRECT_CONNECT
auth.reconnect_on_failure = False
auth.auto_report_device_info = False
auth.enable_rule_manage = True
device = IotDevice(ClientConf(auth))
auth.port = port  # ... and reads it again when it connects
client = device.get_client()


class Commands(CommandListener):
    """The rule sample's listener: a rule's action arrives as a command with a fresh request id."""

    def on_command(self, request_id: str, service_id: str, command_name: str, paras: dict[str, Any]) -> None:
        step("command", request_id=request_id, service_id=service_id, command_name=command_name, paras=paras)


client.set_command_listener(Commands())
if device.connect() != 0:
    step("failed", why="the SDK could not connect")
    os._exit(1)
step("ready")

for line in sys.stdin:
    order = json.loads(line)
    what = order["do"]
    try:
        if what == "report":
            client.report_properties(
                [ServiceProperty(service_id=order["service"], properties=order["properties"])]
            )
            step("did", what=what)
        elif what == "rules":
            held = device.get_rule_manage_service()._rule_info  # the SDK keeps them nowhere else
            step("did", what=what, rules={k: v.rule_version_in_shadow for k, v in held.items()})
        elif what == "quit":
            sys.stdout.flush()
            os._exit(0)  # the SDK's client would reconnect after close()
        else:
            step("failed", why=f"unknown order {what!r}")
    except Exception as exc:  # the test must see it, whatever it is
        step("failed", why=f"{what}: {type(exc).__name__}: {exc}")
