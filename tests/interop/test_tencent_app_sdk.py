"""Tencent's application SDKs, unchanged, against the Tencent Cloud API 3.0 of
``thingmodel cloud --vendor tencent-explorer`` / ``tencent-hub`` (the command, in its own process).

``tencentcloud-sdk-python-iotexplorer`` (IotexplorerClient 2019-04-23) and
``tencentcloud-sdk-python-iotcloud`` (IotcloudClient 2021-04-08 and 2018-06-14) live in their own
venv (made here on first use, or given by THINGMODEL_TENCENT_APP_PYTHON) and run in their own
process (peers/tencent_app.py), pointed at ``HttpProfile(endpoint="127.0.0.1:PORT")`` over
plain HTTP and signing every request with the cloud's app key. That process makes one SDK call
per line it reads and prints what the SDK returned or raised; every assertion here is on that,
with a thingmodel ``Device`` connected to the cloud's MQTT side (so a desired value is applied by
the device's setter, and an action is answered by its method).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from thingmodel import Property, Service, command
from thingmodel.cloud.http import AppKey
from thingmodel.device import Device

from ..integration.helpers import eventually
from .cloud_process import CloudProcess

pytestmark = pytest.mark.broker

PEER = Path(__file__).parent / "peers" / "tencent_app.py"
VENV = Path(__file__).resolve().parents[2] / ".cache" / "venv-tencent-app"
PACKAGES = [
    "tencentcloud-sdk-python-common==3.1.195",
    "tencentcloud-sdk-python-iotexplorer==3.1.194",
    "tencentcloud-sdk-python-iotcloud==3.0.1459",
]
PID = "ABCDEFGHIJ"
KEY = AppKey("AKIDthingmodelapp", "app-secret-key")
#: how long one SDK call may take (generous: CI machines are slow)
WAIT = 30.0


@pytest.fixture(scope="session")
def tencent_app_python() -> str:
    given = os.environ.get("THINGMODEL_TENCENT_APP_PYTHON")
    if given:
        return given
    python = VENV / "bin" / "python"
    if not python.exists():
        venv.create(VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    return str(python)


class AppPeer:
    """The SDKs in their own process: :meth:`call` makes one SDK call and gives what came of it."""

    def __init__(self, python: str) -> None:
        self.process = subprocess.Popen(
            [python, str(PEER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        assert json.loads(self._next("the peer's ready")) == {"ready": True}

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    def _next(self, what: str) -> str:
        try:
            line = self._lines.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError(f"no answer from the peer for {what}{self.trouble()}") from None
        if line is None:
            raise AssertionError(f"the peer ended before {what}{self.trouble()}")
        return line

    def trouble(self) -> str:
        return f"\npeer stderr: {''.join(self._stderr)[-3000:]}"

    def call(
        self, cloud: CloudProcess, product: str, action: str, params: dict[str, Any], key: AppKey = KEY
    ) -> dict[str, Any]:
        """``{"ok": True, "response": {...}}`` or ``{"ok": False, "class", "code", "message", ...}``."""
        assert self.process.stdin is not None
        request = {
            "endpoint": cloud.http_url.removeprefix("http://"),
            "product": product,
            "action": action,
            "params": params,
            "key": [key.id, key.secret],
        }
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self._next(f"{product} {action}"))
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=WAIT)


class Lamp(Service):
    """A writable property with a setter, and an action."""

    service_id = "lamp"
    brightness = Property(int, writeable=True, minimum=0, maximum=100, default=3)

    def __init__(self) -> None:
        self.set_calls: list[int] = []
        self.blinks: list[int] = []

    def set_brightness(self, value: int) -> None:
        self.set_calls.append(value)

    @command("blink")
    def blink(self, times: int = 1) -> dict[str, int]:
        self.blinks.append(times)
        return {"blinked": times, "brightness": self.brightness}


@attrs.define
class Rig:
    """A Tencent ``thingmodel cloud`` with an app key, our device on it, and the SDK peer to call it."""

    cloud: CloudProcess
    lamp: Lamp
    peer: AppPeer

    @property
    def mode(self) -> str:
        return self.cloud.vendor.removeprefix("tencent-")

    def reported(self) -> dict[str, Any]:
        return dict(self.cloud.get_shadow(DEVICE).get(PID, {}).get("reported", {}))

    def ok(self, product: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """The response model the SDK returned (asserting it raised nothing)."""
        answer = self.peer.call(self.cloud, product, action, params)
        assert answer["ok"], (answer, self.peer.trouble())
        assert answer["class"] == f"{action}Response" and answer["response"]["RequestId"], answer
        response: dict[str, Any] = answer["response"]
        return response

    def refused(self, product: str, action: str, params: dict[str, Any], key: AppKey = KEY) -> str:
        """The code of the TencentCloudSDKException the SDK raised."""
        answer = self.peer.call(self.cloud, product, action, params, key)
        assert not answer["ok"], answer
        assert answer["class"] == "TencentCloudSDKException" and answer["request_id"], answer
        assert answer["message"], answer
        return str(answer["code"])

    def hub_doc(self, product: str = "hub-2021") -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.ok(product, "DescribeDeviceShadow", LAMP)["Data"])
        return doc


DEVICE = f"{PID}.lamp"
LAMP = {"ProductId": PID, "DeviceName": "lamp"}
NOBODY = {"ProductId": PID, "DeviceName": "nobody"}


@pytest.fixture(scope="module")
def peer(tencent_app_python: str) -> Iterator[AppPeer]:
    app = AppPeer(tencent_app_python)
    try:
        yield app
    finally:
        app.close()


def _rig(vendor: str, peer: AppPeer, state_dir: Path) -> Iterator[Rig]:
    lamp = Lamp()
    with (
        CloudProcess(vendor, KEY, state_dir) as cloud,
        Device([lamp], device_id=DEVICE, vendor=vendor, broker=cloud.url) as device,
    ):
        rig = Rig(cloud, lamp, peer)
        device.report()
        eventually(lambda: rig.reported().get("brightness") == 3, what="the first report")
        yield rig


@pytest.fixture(scope="module")
def explorer(peer: AppPeer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    yield from _rig("tencent-explorer", peer, tmp_path_factory.mktemp("state"))


@pytest.fixture(scope="module")
def hub(peer: AppPeer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    yield from _rig("tencent-hub", peer, tmp_path_factory.mktemp("state"))


@pytest.fixture(params=["explorer", "hub"])
def rig(request: pytest.FixtureRequest) -> Rig:
    found: Rig = request.getfixturevalue(request.param)
    return found


def test_the_sdk_reads_the_reported_value(rig: Rig) -> None:
    value = rig.reported()["brightness"]
    if rig.mode == "explorer":
        data = json.loads(rig.ok("explorer", "DescribeDeviceData", LAMP)["Data"])
        assert data["brightness"]["Value"] == value and data["brightness"]["LastUpdate"] > 0
        device = rig.ok("explorer", "DescribeDevice", LAMP)["Device"]
        assert (device["DeviceName"], device["ProductId"], device["Status"]) == ("lamp", PID, 1)
        listed = rig.ok("explorer", "GetDeviceList", {"ProductId": PID, "Offset": 0, "Limit": 10})
        assert listed["Total"] == 1 and [d["DeviceName"] for d in listed["Devices"]] == ["lamp"]
    else:
        for product in ("hub-2021", "hub-2018"):  # both API versions of the iotcloud SDK
            doc = rig.hub_doc(product)
            assert doc["type"] == "get" and doc["result"] == 0
            assert doc["payload"]["state"]["reported"]["brightness"] == value
            assert doc["payload"]["version"] == rig.cloud.get_shadow(DEVICE)[PID]["version"]


def test_control_device_data_runs_the_setter_and_the_value_is_reported(explorer: Rig) -> None:
    answer = explorer.ok("explorer", "ControlDeviceData", {**LAMP, "Data": json.dumps({"brightness": 42})})
    assert answer["Data"] == "" and json.loads(answer["Result"]) == {"Sent": 1, "pushResult": 0}
    assert 42 in explorer.lamp.set_calls  # the device's control_reply came before the answer
    eventually(lambda: explorer.reported()["brightness"] == 42, what="the new value reported")
    data = json.loads(explorer.ok("explorer", "DescribeDeviceData", LAMP)["Data"])
    assert data["brightness"]["Value"] == 42


@pytest.mark.parametrize("product", ["hub-2021", "hub-2018"])
def test_update_device_shadow_runs_the_setter_and_the_value_is_reported(hub: Rig, product: str) -> None:
    wanted = 42 if product == "hub-2021" else 43
    version = hub.hub_doc(product)["payload"]["version"]
    state = json.dumps({"desired": {"brightness": wanted}})
    answer = hub.ok(product, "UpdateDeviceShadow", {**LAMP, "State": state, "ShadowVersion": version})
    doc = json.loads(answer["Data"])
    assert doc["type"] == "update" and doc["result"] == 0
    assert doc["payload"]["state"] == {"desired": {"brightness": wanted}}
    assert doc["payload"]["version"] == version + 1 and doc["payload"]["timestamp"] > 0
    eventually(lambda: wanted in hub.lamp.set_calls, what="the device's setter to run")
    eventually(
        lambda: hub.hub_doc(product)["payload"]["state"]["reported"]["brightness"] == wanted,
        what="the new value in the shadow the SDK reads",
    )


@pytest.mark.parametrize("product", ["hub-2021", "hub-2018"])
def test_a_stale_shadow_version_gets_the_version_error(hub: Rig, product: str) -> None:
    version = hub.hub_doc()["payload"]["version"]
    before = hub.cloud.get_shadow(DEVICE)
    update = {**LAMP, "State": json.dumps({"desired": {"brightness": 7}}), "ShadowVersion": version - 1}
    assert hub.refused(product, "UpdateDeviceShadow", update) == "FailedOperation.UpdateVersionNotMatch"
    assert hub.cloud.get_shadow(DEVICE) == before and 7 not in hub.lamp.set_calls


def test_call_device_action_sync_returns_the_methods_result(explorer: Rig) -> None:
    action = {**LAMP, "ActionId": "blink", "InputParams": '{"times": 2}'}
    answer = explorer.ok("explorer", "CallDeviceActionSync", action)
    assert answer["Status"] == "succ" and answer["ClientToken"]
    assert json.loads(answer["OutputParams"]) == {"blinked": 2, "brightness": explorer.lamp.brightness}
    assert explorer.lamp.blinks == [2]


def test_a_message_from_the_sdk_is_published_on_the_devices_topic(rig: Rig) -> None:
    topic = f"{PID}/lamp/data"
    product = "explorer" if rig.mode == "explorer" else "hub-2021"
    answer = rig.ok(product, "PublishMessage", {**LAMP, "Topic": topic, "Payload": "hello", "Qos": 0})
    assert set(answer) == {"RequestId"}
    assert any(e["kind"] == "down" and e["topic"] == topic for e in rig.cloud.trace(DEVICE))


def test_an_unknown_device_is_resource_not_found(rig: Rig) -> None:
    missing = "ResourceNotFound.DeviceNotExist"
    if rig.mode == "explorer":
        for action, more in [
            ("DescribeDeviceData", {}),
            ("ControlDeviceData", {"Data": '{"brightness": 1}'}),
            ("CallDeviceActionSync", {"ActionId": "blink"}),
            ("DescribeDevice", {}),
        ]:
            assert rig.refused("explorer", action, {**NOBODY, **more}) == missing
    else:
        assert rig.refused("hub-2021", "DescribeDeviceShadow", NOBODY) == missing
        update = {**NOBODY, "State": '{"desired": {"brightness": 1}}', "ShadowVersion": 0}
        assert rig.refused("hub-2018", "UpdateDeviceShadow", update) == missing
    assert not rig.cloud.is_known(f"{PID}.nobody")


def test_a_malformed_request_gets_an_invalid_parameter_code(rig: Rig) -> None:
    before = rig.cloud.get_shadow(DEVICE)
    if rig.mode == "explorer":
        not_json = {**LAMP, "Data": "{oops"}
        assert rig.refused("explorer", "ControlDeviceData", not_json) == "InvalidParameterValue"
        wrong_type = {"ProductId": 5, "DeviceName": "lamp"}
        assert rig.refused("explorer", "DescribeDeviceData", wrong_type) == "InvalidParameter"
        bad_input = {**LAMP, "ActionId": "blink", "InputParams": "[1"}
        code = rig.refused("explorer", "CallDeviceActionSync", bad_input)
        assert code == "InvalidParameter.ActionInputParamsInvalid"
    else:
        wrong_type = {**LAMP, "State": '{"desired": {"brightness": 1}}', "ShadowVersion": "one"}
        assert rig.refused("hub-2021", "UpdateDeviceShadow", wrong_type) == "InvalidParameter"
        not_json = {**LAMP, "State": "{oops", "ShadowVersion": 1}
        assert rig.refused("hub-2021", "UpdateDeviceShadow", not_json) == "InvalidParameterValue.InvalidJSON"
    assert rig.cloud.get_shadow(DEVICE) == before


def test_a_wrong_key_is_refused_and_the_right_one_works(rig: Rig) -> None:
    product, action = (
        ("explorer", "DescribeDevice") if rig.mode == "explorer" else ("hub-2021", "DescribeDeviceShadow")
    )
    wrong_secret = AppKey(KEY.id, "a-wrong-secret")
    assert rig.refused(product, action, LAMP, wrong_secret) == "AuthFailure.SignatureFailure"
    wrong_id = AppKey("AKIDnotours", KEY.secret)
    assert rig.refused(product, action, LAMP, wrong_id) == "AuthFailure.SecretIdNotFound"
    assert rig.ok(product, action, LAMP)["RequestId"]
