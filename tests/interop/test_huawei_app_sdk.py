"""Huawei's application SDK (huaweicloudsdkiotda 3.1) against the IoTDA v5 API of
``thingmodel cloud --vendor huawei`` (the command, in its own process), with a thingmodel Huawei
device connected to the cloud's broker.

The SDK lives in its own venv (made here on first use, or given by THINGMODEL_HUAWEI_APP_PYTHON)
and runs in its own process (peers/huawei_app.py), signing every request with AK/SK as it does
for IoTDA. That process prints one JSON line per call: what the SDK returned, or what it raised
(exception class, status code, IoTDA's error code). The assertions are on those lines and on
what the device did: its setter ran, its command ran, its values came back.
"""

from __future__ import annotations

import json
import os
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thingmodel.cloud.http import AppKey
from thingmodel.device import Device

from ..integration.helpers import Detector, eventually
from .cloud_process import CloudProcess

PEER = Path(__file__).parent / "peers" / "huawei_app.py"
VENV = Path(__file__).resolve().parents[2] / ".cache" / "venv-huawei-app"
SDK = "huaweicloudsdkiotda==3.1.219"
DEVICE, SERVICE = "sdk-app-1", "smokeDetector"
KEY = AppKey("AK-THINGMODEL-SDK", "sk-thingmodel-sdk-secret")

pytestmark = pytest.mark.broker

Steps = dict[str, dict[str, Any]]


@pytest.fixture(scope="session")
def huawei_app_python() -> str:
    given = os.environ.get("THINGMODEL_HUAWEI_APP_PYTHON")
    if given:
        return given
    python = VENV / "bin" / "python"
    if not python.exists():
        venv.create(VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", SDK], check=True)
    return str(python)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    with CloudProcess("huawei", KEY, tmp_path_factory.mktemp("state")) as running:
        yield running


@pytest.fixture(scope="module")
def messages() -> list[bytes]:
    """What the device received on its message topic."""
    return []


@pytest.fixture(scope="module")
def detector(cloud: CloudProcess, messages: list[bytes]) -> Iterator[Detector]:
    service = Detector()
    with Device(
        [service], device_id=DEVICE, broker=cloud.url, on_message=lambda m: messages.append(m.payload)
    ) as device:
        device.report()
        eventually(lambda: bool(cloud.get_shadow(DEVICE)), what="the device's first report")
        yield service


def run_peer(python: str, cloud: CloudProcess, key: AppKey, mode: str) -> Steps:
    args = [python, str(PEER), cloud.http_url, key.id, key.secret, DEVICE, mode]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    steps = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, f"the peer failed: {steps}\n{done.stderr[-3000:]}"
    return {s["step"]: s for s in steps}


def properties(step: dict[str, Any]) -> dict[str, Any]:
    [service] = [s for s in step["body"]["shadow"] if s["service_id"] == SERVICE]
    return dict(service["reported"]["properties"])


def test_the_sdk_drives_a_thingmodel_device_through_the_iotda_api(
    huawei_app_python: str, cloud: CloudProcess, detector: Detector, messages: list[bytes]
) -> None:
    steps = run_peer(huawei_app_python, cloud, KEY, "full")

    # ShowDeviceShadow: what the device reported
    assert steps["show_shadow"]["status_code"] == 200
    assert properties(steps["show_shadow"]) == {"alarm": 0, "temperature": 20.0, "counter": 0}

    # UpdateDeviceShadowDesiredData: stored and answered at once; the device's setter ran
    desired = steps["update_desired"]["body"]["shadow"][0]
    assert desired["service_id"] == SERVICE and desired["desired"]["properties"] == {"alarm": 1}
    assert properties(steps["after_desired"])["alarm"] == 1

    # UpdateProperties: the device's answer to the write, then its report in the shadow
    written = steps["update_properties"]
    assert written["status_code"] == 200 and written["body"]["error_code"] is None
    assert written["body"]["response"] == {"result_code": 0, "result_desc": "success"}
    assert properties(steps["after_properties"])["alarm"] == 0
    assert detector.set_calls == [1, 0]

    # ListProperties: the values read through the device's getters
    [read] = steps["list_properties"]["body"]["response"]["services"]
    assert read["service_id"] == SERVICE and read["properties"] == {
        "alarm": 0,
        "temperature": 20.0,
        "counter": 0,
    }

    # CreateCommand: the method ran and its result came back
    command = steps["create_command"]["body"]
    assert command["response"] == {"result_code": 0, "response_name": "", "paras": {"rang": 3}}
    assert command["command_id"] and detector.commands == [3]

    # CreateMessage: 201, and the device got it
    sent = steps["create_message"]
    assert sent["status_code"] == 201 and sent["body"]["message_id"] == "sdk-msg-1"
    assert sent["body"]["result"]["status"] == "DELIVERED"
    eventually(lambda: bool(messages), what="the message down")
    assert json.loads(messages[0])["content"] == {"text": "hi"}

    # ListDevices / ShowDevice: ONLINE
    listed = {d["device_id"]: d for d in steps["list_devices"]["body"]["devices"]}
    assert listed[DEVICE]["status"] == "ONLINE" and listed[DEVICE]["node_type"] == "GATEWAY"
    assert steps["list_devices"]["body"]["page"]["count"] == len(listed)
    assert steps["show_device"]["body"]["status"] == "ONLINE"
    assert steps["show_device"]["body"]["device_id"] == DEVICE

    # IoTDA's errors, raised by the SDK as ClientRequestException with IoTDA's codes
    for step, status, code in [
        ("unknown_device", 404, "IOTDA.014000"),
        ("malformed", 400, "IOTDA.000006"),
        ("stale_version", 400, "IOTDA.000006"),
    ]:
        got = steps[step]
        assert (got.get("raised"), got["status_code"], got["error_code"]) == (
            "ClientRequestException",
            status,
            code,
        ), got
        assert got["error_msg"] and got["request_id"]
    assert "desired" in steps["malformed"]["error_msg"]
    assert cloud.get_shadow(DEVICE)["smokeDetector"]["reported"]["alarm"] == 0


def test_the_sdk_with_a_wrong_secret_is_refused_and_changes_nothing(
    huawei_app_python: str, cloud: CloudProcess, detector: Detector
) -> None:
    before = cloud.get_shadow(DEVICE)
    steps = run_peer(huawei_app_python, cloud, AppKey(KEY.id, "a-wrong-secret"), "refused")
    for step in ("show_shadow", "update_desired"):
        got = steps[step]
        assert (got.get("raised"), got["status_code"], got["error_code"]) == (
            "ClientRequestException",
            401,
            "APIGW.0301",
        ), got
        assert got["error_msg"] == "Incorrect IAM authentication information: verify aksk signature fail"
    assert cloud.get_shadow(DEVICE) == before
    right = run_peer(huawei_app_python, cloud, KEY, "read")
    assert right["show_shadow"]["status_code"] == 200 and properties(right["show_shadow"])
