"""Tencent Cloud API 3.0 (IoT Explorer and IoT Hub) on a live local cloud, over plain HTTP:
each action's answer, each of Tencent's error codes, paging, the shadow version check and the
TC3-HMAC-SHA256 signature."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from thingmodel import Property, Service, command
from thingmodel.cloud import LocalCloud
from thingmodel.cloud.http import AppKey, tencent, tencent_tc3
from thingmodel.cloud.http.tencent_tc3 import SignatureRefused, parse_authorization, sign_request
from thingmodel.device import Device

from ...integration.helpers import eventually

PID = "ABCDEFGHIJ"
EXPLORER, HUB = "2019-04-23", "2021-04-08"
KEY = AppKey("AKIDthingmodeltest", "the-secret-key")


class Lamp(Service):
    """A Tencent device's one service: a writable property with a setter, and an action."""

    service_id = "lamp"
    brightness = Property(int, writeable=True, minimum=0, maximum=100, default=3)

    def __init__(self, pause: float = 0.0) -> None:
        self.set_calls: list[int] = []
        self.blinks: list[int] = []
        self.pause = pause

    def set_brightness(self, value: int) -> None:
        self.set_calls.append(value)

    @command("blink")
    def blink(self, times: int = 1) -> dict[str, int]:
        time.sleep(self.pause)
        self.blinks.append(times)
        return {"blinked": times}

    @command("jam")
    def jam(self) -> dict[str, int]:
        raise RuntimeError("the lamp is jammed")


def post(
    cloud: LocalCloud,
    action: str | None,
    body: Any,
    version: str | None = EXPLORER,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One API call; the ``Response`` object (every answer is HTTP 200, application/json)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json"}
    if action is not None:
        sent["X-TC-Action"] = action
    if version is not None:
        sent["X-TC-Version"] = version
    sent.update(headers or {})
    request = urllib.request.Request(f"{cloud.http_url}/", data=data, method="POST", headers=sent)
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        answer = json.loads(response.read())
    assert set(answer) == {"Response"}, answer
    inner: dict[str, Any] = answer["Response"]
    assert isinstance(inner["RequestId"], str) and len(inner["RequestId"]) == 36, inner
    return inner


def code_of(response: dict[str, Any]) -> str:
    assert "Error" in response, response
    error = response["Error"]
    assert isinstance(error["Message"], str) and error["Message"] and "\n" not in error["Message"]
    return str(error["Code"])


def device_params(name: str, **more: Any) -> dict[str, Any]:
    return {"ProductId": PID, "DeviceName": name, **more}


def reported(cloud: LocalCloud, device_id: str) -> dict[str, Any]:
    return dict(cloud.get_shadow(device_id).get(PID, {}).get("reported", {}))


@pytest.fixture(scope="module")
def explorer() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="tencent-explorer", port=0, http_port=0) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def lamp(explorer: LocalCloud) -> Iterator[Lamp]:
    service = Lamp()
    with Device([service], device_id=f"{PID}.lamp", vendor="tencent-explorer", broker=explorer.url) as device:
        device.report()
        eventually(lambda: "brightness" in reported(explorer, f"{PID}.lamp"), what="the first report")
        yield service


@pytest.fixture(scope="module")
def hub() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="tencent-hub", port=0, http_port=0) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def hub_lamp(hub: LocalCloud) -> Iterator[Lamp]:
    service = Lamp()
    with Device([service], device_id=f"{PID}.hublamp", vendor="tencent-hub", broker=hub.url) as device:
        device.report()
        eventually(lambda: "brightness" in reported(hub, f"{PID}.hublamp"), what="the first report")
        yield service


@pytest.fixture(scope="module")
def gone(explorer: LocalCloud) -> str:
    """A device the cloud knows (it connected once) that is offline now."""
    with Device([Lamp()], device_id=f"{PID}.gone", vendor="tencent-explorer", broker=explorer.url) as device:
        device.report()
        eventually(lambda: bool(reported(explorer, f"{PID}.gone")), what="its first report")
    eventually(lambda: explorer.presence.is_online(f"{PID}.gone") is False, what="it going offline")
    return "gone"


# --- the signature, as pure functions ------------------------------------------------------------
def test_the_signature_of_tencents_documented_example_is_reproduced() -> None:
    # Tencent's TC3-HMAC-SHA256 documentation: its example key, request and signature
    body = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    key = AppKey("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE")
    headers = {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"}
    assert tencent_tc3.hashed_payload(body) == (
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    assert sign_request(key, "cvm", 1551113065, headers, body) == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )


@pytest.mark.parametrize(
    "header",
    [
        "HMAC-SHA1 Credential=a/2020-01-01/iotcloud/tc3_request, SignedHeaders=host, Signature=ab",
        "TC3-HMAC-SHA256 Credential=a/2020-01-01/iotcloud, SignedHeaders=host, Signature=ab",
        "TC3-HMAC-SHA256 Credential=a/2020-01-01/iotcloud/tc3_request, Signature=ab",
        "TC3-HMAC-SHA256 garbage",
        "TC3-HMAC-SHA256 ",
    ],
)
def test_a_malformed_authorization_header_is_invalid_authorization(header: str) -> None:
    with pytest.raises(SignatureRefused) as caught:
        parse_authorization(header)
    assert caught.value.code == "AuthFailure.InvalidAuthorization"


# --- IoT Explorer --------------------------------------------------------------------------------


@pytest.mark.broker
def test_describe_device_data_gives_each_reported_value_with_its_time(
    explorer: LocalCloud, lamp: Lamp
) -> None:
    before = int(time.time() * 1000)
    answer = post(explorer, "DescribeDeviceData", device_params("lamp"))
    data = json.loads(answer["Data"])
    assert data["brightness"]["Value"] == reported(explorer, f"{PID}.lamp")["brightness"]
    assert 0 < data["brightness"]["LastUpdate"] <= before + 1000
    # Explorer's DeviceId form names the same device
    again = post(explorer, "DescribeDeviceData", {"DeviceId": f"{PID}/lamp"})
    assert json.loads(again["Data"]).keys() == data.keys()


@pytest.mark.broker
def test_control_device_data_runs_the_setter_and_the_new_value_is_reported(
    explorer: LocalCloud, lamp: Lamp
) -> None:
    answer = post(explorer, "ControlDeviceData", device_params("lamp", Data=json.dumps({"brightness": 42})))
    assert answer["Data"] == ""
    assert json.loads(answer["Result"]) == {"Sent": 1, "pushResult": 0}
    assert 42 in lamp.set_calls
    eventually(lambda: reported(explorer, f"{PID}.lamp")["brightness"] == 42, what="the new value reported")
    data = json.loads(post(explorer, "DescribeDeviceData", device_params("lamp"))["Data"])
    assert data["brightness"]["Value"] == 42


@pytest.mark.broker
def test_a_control_the_device_refuses_is_a_failed_operation_naming_the_property(
    explorer: LocalCloud, lamp: Lamp
) -> None:
    answer = post(explorer, "ControlDeviceData", device_params("lamp", Data=json.dumps({"brightness": 420})))
    assert code_of(answer) == "FailedOperation"
    assert "brightness" in answer["Error"]["Message"]
    assert 420 not in lamp.set_calls


@pytest.mark.broker
def test_call_device_action_sync_answers_with_the_methods_result(explorer: LocalCloud, lamp: Lamp) -> None:
    answer = post(
        explorer, "CallDeviceActionSync", device_params("lamp", ActionId="blink", InputParams='{"times": 3}')
    )
    assert json.loads(answer["OutputParams"]) == {"blinked": 3}
    assert answer["Status"] == "succ" and answer["ClientToken"]
    assert lamp.blinks[-1] == 3


@pytest.mark.broker
def test_an_action_that_fails_on_the_device_says_why_in_its_status(explorer: LocalCloud, lamp: Lamp) -> None:
    answer = post(explorer, "CallDeviceActionSync", device_params("lamp", ActionId="jam"))
    assert answer["ClientToken"] and answer["OutputParams"] == ""
    assert "jammed" in answer["Status"], answer


@pytest.mark.broker
def test_an_action_the_device_does_not_answer_in_time_gets_a_response_without_fields(
    explorer: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tencent, "ACTION_TIMEOUT", 0.3)
    slow = Lamp(pause=1.0)
    with Device([slow], device_id=f"{PID}.slow", vendor="tencent-explorer", broker=explorer.url):
        answer = post(explorer, "CallDeviceActionSync", device_params("slow", ActionId="blink"))
        assert set(answer) == {"RequestId"}  # as Tencent's example shows a timed-out call
        eventually(lambda: slow.blinks == [1], what="the slow action to finish")


@pytest.mark.broker
def test_an_offline_device_gets_tencents_offline_answers(explorer: LocalCloud, gone: str) -> None:
    control = post(explorer, "ControlDeviceData", device_params(gone, Data='{"brightness": 7}'))
    assert json.loads(control["Result"]) == {"Sent": 0, "pushResult": 23101}
    # the value waits in the shadow for the device
    assert explorer.get_shadow(f"{PID}.{gone}")[PID]["desired"]["brightness"] == 7
    action = post(explorer, "CallDeviceActionSync", device_params(gone, ActionId="blink"))
    assert action["Status"].startswith("FailedOperation.ActionUnreachable|")
    assert action["ClientToken"] == "" and action["OutputParams"] == ""
    message = post(explorer, "PublishMessage", device_params(gone, Topic=f"{PID}/{gone}/data", Payload="x"))
    assert code_of(message) == "FailedOperation.DeviceOffline"
    info = post(explorer, "DescribeDevice", device_params(gone))
    assert info["Device"]["Status"] == 0


@pytest.mark.broker
def test_describe_device_says_it_is_online(explorer: LocalCloud, lamp: Lamp) -> None:
    device = post(explorer, "DescribeDevice", device_params("lamp"))["Device"]
    assert (device["DeviceName"], device["ProductId"], device["Status"]) == ("lamp", PID, 1)
    assert device["LoginTime"] > 0 and device["DevicePsk"] == ""


@pytest.mark.broker
def test_get_device_list_pages_a_products_devices(explorer: LocalCloud, lamp: Lamp) -> None:
    product = "PAGEPRODUC"
    names = [f"d{i:02d}" for i in range(23)]
    for name in names:  # each becomes known by its shadow (the desire waits for it)
        explorer.set_desired(f"{product}.{name}", product, {"brightness": 1}, timeout=0)
    pages = [
        post(explorer, "GetDeviceList", {"ProductId": product, "Offset": offset, "Limit": 10})
        for offset in (0, 10, 20, 30)
    ]
    assert [p["Total"] for p in pages] == [23] * 4
    assert [len(p["Devices"]) for p in pages] == [10, 10, 3, 0]
    assert [d["DeviceName"] for p in pages for d in p["Devices"]] == names
    assert {d["ProductId"] for p in pages for d in p["Devices"]} == {product}
    default = post(explorer, "GetDeviceList", {"ProductId": product})
    assert len(default["Devices"]) == 10
    filtered = post(explorer, "GetDeviceList", {"ProductId": product, "DeviceName": "d1"})
    assert [d["DeviceName"] for d in filtered["Devices"]] == [f"d1{i}" for i in range(10)]
    everyone = post(explorer, "GetDeviceList", {"ProductId": "-1", "Limit": 100})
    assert everyone["Total"] >= 24 and f"{PID}" in {d["ProductId"] for d in everyone["Devices"]}


@contextlib.contextmanager
def listening(cloud: LocalCloud, topic: str) -> Iterator[queue.Queue[bytes]]:
    """The payloads an MQTT client subscribed to ``topic`` on the cloud's broker receives."""
    received: queue.Queue[bytes] = queue.Queue()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tencent-api-listener")
    client.on_message = lambda _c, _u, message: received.put(message.payload)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    address = urllib.parse.urlsplit(cloud.url)
    client.connect(str(address.hostname), int(address.port or 1883))
    client.loop_start()
    try:
        assert subscribed.wait(10), "no SUBACK"
        yield received
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.broker
def test_publish_message_reaches_the_devices_topic(explorer: LocalCloud, lamp: Lamp) -> None:
    topic = f"{PID}/lamp/data"
    with listening(explorer, topic) as received:
        plain = post(explorer, "PublishMessage", device_params("lamp", Topic=topic, Payload="hello", Qos=1))
        assert set(plain) == {"RequestId"}
        assert received.get(timeout=10) == b"hello"
        coded = post(
            explorer,
            "PublishMessage",
            device_params("lamp", Topic=topic, Payload="AAH/", PayloadEncoding="base64"),
        )
        assert set(coded) == {"RequestId"}
        assert received.get(timeout=10) == b"\x00\x01\xff"


EXPLORER_REFUSALS: list[tuple[str, str | None, Any, str]] = [
    ("unknown device", "DescribeDeviceData", device_params("nobody"), "ResourceNotFound.DeviceNotExist"),
    (
        "unknown device",
        "ControlDeviceData",
        device_params("nobody", Data="{}"),
        "ResourceNotFound.DeviceNotExist",
    ),
    (
        "unknown device",
        "CallDeviceActionSync",
        device_params("nobody", ActionId="a"),
        "ResourceNotFound.DeviceNotExist",
    ),
    ("unknown device", "DescribeDevice", device_params("nobody"), "ResourceNotFound.DeviceNotExist"),
    ("missing ProductId", "DescribeDeviceData", {"DeviceName": "lamp"}, "MissingParameter"),
    ("missing DeviceName", "DescribeDevice", {"ProductId": PID}, "MissingParameter"),
    ("ProductId a number", "DescribeDeviceData", {"ProductId": 5, "DeviceName": "lamp"}, "InvalidParameter"),
    ("DeviceName an object", "DescribeDevice", {"ProductId": PID, "DeviceName": {}}, "InvalidParameter"),
    ("a slash in DeviceName", "DescribeDeviceData", device_params("a/b"), "InvalidParameterValue"),
    ("a wildcard", "DescribeDeviceData", device_params("a#"), "InvalidParameterValue"),
    ("a control character", "DescribeDeviceData", device_params("a\u0007"), "InvalidParameterValue"),
    (
        "a dot in ProductId",
        "DescribeDevice",
        {"ProductId": "A.B", "DeviceName": "c"},
        "InvalidParameterValue",
    ),
    ("an empty DeviceName", "DescribeDevice", device_params(""), "InvalidParameterValue"),
    ("a long DeviceName", "DescribeDevice", device_params("x" * 100_000), "InvalidParameterValue"),
    ("DeviceId without a slash", "DescribeDevice", {"DeviceId": "ABC"}, "InvalidParameterValue"),
    ("Data not JSON", "ControlDeviceData", device_params("lamp", Data="{oops"), "InvalidParameterValue"),
    ("Data an array", "ControlDeviceData", device_params("lamp", Data="[1]"), "InvalidParameterValue"),
    ("Data empty", "ControlDeviceData", device_params("lamp", Data="{}"), "InvalidParameterValue"),
    (
        "Data NaN",
        "ControlDeviceData",
        device_params("lamp", Data='{"brightness": NaN}'),
        "InvalidParameterValue",
    ),
    ("Data missing", "ControlDeviceData", device_params("lamp"), "MissingParameter"),
    ("Data a number", "ControlDeviceData", device_params("lamp", Data=5), "InvalidParameter"),
    (
        "Method reported",
        "ControlDeviceData",
        device_params("lamp", Data="{}", Method="reported"),
        "UnsupportedOperation",
    ),
    (
        "Method unknown",
        "ControlDeviceData",
        device_params("lamp", Data="{}", Method="x"),
        "InvalidParameterValue",
    ),
    ("no ActionId", "CallDeviceActionSync", device_params("lamp"), "MissingParameter"),
    (
        "empty ActionId",
        "CallDeviceActionSync",
        device_params("lamp", ActionId=""),
        "InvalidParameterValue.ActionNilOrNotExist",
    ),
    (
        "InputParams not JSON",
        "CallDeviceActionSync",
        device_params("lamp", ActionId="blink", InputParams="{"),
        "InvalidParameter.ActionInputParamsInvalid",
    ),
    (
        "InputParams an array",
        "CallDeviceActionSync",
        device_params("lamp", ActionId="blink", InputParams="[]"),
        "InvalidParameter.ActionInputParamsInvalid",
    ),
    ("Limit too small", "GetDeviceList", {"ProductId": PID, "Limit": 5}, "InvalidParameterValue"),
    ("Limit too large", "GetDeviceList", {"ProductId": PID, "Limit": 101}, "InvalidParameterValue"),
    ("Offset negative", "GetDeviceList", {"ProductId": PID, "Offset": -1}, "InvalidParameterValue"),
    ("Limit a string", "GetDeviceList", {"ProductId": PID, "Limit": "10"}, "InvalidParameter"),
    ("Limit a boolean", "GetDeviceList", {"ProductId": PID, "Limit": True}, "InvalidParameter"),
    ("no ProductId to list", "GetDeviceList", {}, "MissingParameter"),
    (
        "topic of another device",
        "PublishMessage",
        device_params("lamp", Topic=f"{PID}/other/x", Payload="x"),
        "InvalidParameterValue",
    ),
    (
        "topic with a wildcard",
        "PublishMessage",
        device_params("lamp", Topic=f"{PID}/lamp/#", Payload="x"),
        "InvalidParameterValue",
    ),
    ("no Topic", "PublishMessage", device_params("lamp", Payload="x"), "MissingParameter"),
    (
        "Payload not base64",
        "PublishMessage",
        device_params("lamp", Topic=f"{PID}/lamp/data", Payload="!!", PayloadEncoding="base64"),
        "InvalidParameterValue",
    ),
    (
        "PayloadEncoding unknown",
        "PublishMessage",
        device_params("lamp", Topic=f"{PID}/lamp/data", Payload="x", PayloadEncoding="hex"),
        "InvalidParameterValue",
    ),
    (
        "Payload over 16 KB",
        "PublishMessage",
        device_params("lamp", Topic=f"{PID}/lamp/data", Payload="x" * 17_000),
        "InvalidParameterValue.PayloadOverLimit",
    ),
    (
        "Qos 2",
        "PublishMessage",
        device_params("lamp", Topic=f"{PID}/lamp/data", Payload="x", Qos=2),
        "InvalidParameterValue",
    ),
    ("an unknown action", "DeleteEverything", {}, "InvalidAction"),
    ("an IoT Hub action", "DescribeDeviceShadow", device_params("lamp"), "InvalidAction"),
    ("no action header", None, {}, "MissingParameter"),
    ("a body that is not JSON", "DescribeDevice", b"{bad", "InvalidParameter"),
    ("a body that is an array", "DescribeDevice", b"[]", "InvalidParameter"),
    ("an empty body", "DescribeDevice", b"", "InvalidParameter"),
    ("a body that is not UTF-8", "DescribeDevice", b'{"ProductId": "\xff"}', "InvalidParameter"),
    ("a body nested 100000 deep", "DescribeDevice", b"[" * 100_000 + b"]" * 100_000, "InvalidParameter"),
    ("a body over 1 MiB", "DescribeDevice", b" " * (tencent.MAX_BODY + 1), "RequestSizeLimitExceeded"),
]


@pytest.mark.broker
@pytest.mark.parametrize(
    ("action", "body", "code"),
    [case[1:] for case in EXPLORER_REFUSALS],
    ids=[c[0] for c in EXPLORER_REFUSALS],
)
def test_explorer_refuses_bad_input_with_tencents_code(
    explorer: LocalCloud, lamp: Lamp, action: str | None, body: Any, code: str
) -> None:
    before = explorer.get_shadow(f"{PID}.lamp")
    assert code_of(post(explorer, action, body)) == code
    assert explorer.get_shadow(f"{PID}.lamp") == before  # nothing changed
    assert not explorer.is_known(f"{PID}.nobody")


@pytest.mark.broker
def test_an_unknown_api_version_is_no_such_version(explorer: LocalCloud, lamp: Lamp) -> None:
    assert code_of(post(explorer, "DescribeDevice", device_params("lamp"), version=HUB)) == "NoSuchVersion"
    assert (
        code_of(post(explorer, "DescribeDevice", device_params("lamp"), version=None)) == "MissingParameter"
    )


# --- IoT Hub -------------------------------------------------------------------------------------
def hub_shadow(hub: LocalCloud, name: str, version: str = HUB) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(post(hub, "DescribeDeviceShadow", device_params(name), version)["Data"])
    return data


@pytest.mark.broker
@pytest.mark.parametrize("version", ["2021-04-08", "2018-06-14"])
def test_describe_device_shadow_gives_the_document_as_the_hub_shows_it(
    hub: LocalCloud, hub_lamp: Lamp, version: str
) -> None:
    doc = hub_shadow(hub, "hublamp", version)
    assert doc["type"] == "get" and doc["result"] == 0 and doc["timestamp"] > 0
    stored = hub.get_shadow(f"{PID}.hublamp")[PID]
    assert doc["payload"]["version"] == stored["version"] >= 1
    assert doc["payload"]["state"]["reported"] == stored["reported"]


@pytest.mark.broker
def test_update_device_shadow_at_the_current_version_pushes_the_delta_and_the_device_applies_it(
    hub: LocalCloud, hub_lamp: Lamp
) -> None:
    version = hub_shadow(hub, "hublamp")["payload"]["version"]
    state = json.dumps({"desired": {"brightness": 55}})
    answer = post(
        hub, "UpdateDeviceShadow", device_params("hublamp", State=state, ShadowVersion=version), HUB
    )
    doc = json.loads(answer["Data"])
    assert doc["type"] == "update" and doc["result"] == 0
    assert doc["payload"]["state"] == {"desired": {"brightness": 55}}
    assert doc["payload"]["version"] == version + 1
    eventually(lambda: 55 in hub_lamp.set_calls, what="the setter to run")
    eventually(
        lambda: hub_shadow(hub, "hublamp")["payload"]["state"]["reported"]["brightness"] == 55,
        what="the report",
    )
    assert hub_shadow(hub, "hublamp")["payload"]["version"] > version + 1
    # the same version again is stale now
    stale = post(hub, "UpdateDeviceShadow", device_params("hublamp", State=state, ShadowVersion=version), HUB)
    assert code_of(stale) == "FailedOperation.UpdateVersionNotMatch"


@pytest.mark.broker
def test_a_stale_shadow_version_changes_nothing(hub: LocalCloud, hub_lamp: Lamp) -> None:
    before = hub.get_shadow(f"{PID}.hublamp")
    for wrong in (before[PID]["version"] - 1, before[PID]["version"] + 1, 10**9):
        answer = post(
            hub,
            "UpdateDeviceShadow",
            device_params("hublamp", State='{"desired": {"brightness": 9}}', ShadowVersion=wrong),
            HUB,
        )
        assert code_of(answer) == "FailedOperation.UpdateVersionNotMatch"
    assert hub.get_shadow(f"{PID}.hublamp") == before and 9 not in hub_lamp.set_calls


@pytest.mark.broker
def test_a_desire_the_shadow_cannot_hold_is_invalid_parameter_value(hub: LocalCloud, hub_lamp: Lamp) -> None:
    before = hub.get_shadow(f"{PID}.hublamp")
    deep = json.dumps({"desired": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}})
    answer = post(hub, "UpdateDeviceShadow", update(deep, before[PID]["version"]), HUB)
    assert code_of(answer) == "InvalidParameterValue" and "deeper" in answer["Error"]["Message"]
    assert hub.get_shadow(f"{PID}.hublamp") == before


@pytest.mark.broker
def test_hub_publish_message_reaches_the_devices_topic(hub: LocalCloud, hub_lamp: Lamp) -> None:
    topic = f"{PID}/hublamp/data"
    with listening(hub, topic) as received:
        answer = post(hub, "PublishMessage", device_params("hublamp", Topic=topic, Payload="hi"), HUB)
        assert set(answer) == {"RequestId"}
        assert received.get(timeout=10) == b"hi"


def update(state: Any, version: Any = 1, **more: Any) -> dict[str, Any]:
    return device_params("hublamp", State=state, ShadowVersion=version, **more)


HUB_REFUSALS: list[tuple[str, str, Any, str]] = [
    ("unknown device", "DescribeDeviceShadow", device_params("nobody"), "ResourceNotFound.DeviceNotExist"),
    (
        "unknown device",
        "UpdateDeviceShadow",
        device_params("nobody", State="{}", ShadowVersion=0),
        "ResourceNotFound.DeviceNotExist",
    ),
    ("State not JSON", "UpdateDeviceShadow", update("{oops"), "InvalidParameterValue.InvalidJSON"),
    ("State an array", "UpdateDeviceShadow", update("[]"), "InvalidParameterValue.InvalidJSON"),
    (
        "State with reported",
        "UpdateDeviceShadow",
        update('{"reported": {"a": 1}}'),
        "InvalidParameterValue.JSONHasInvalidNode",
    ),
    ("State without desired", "UpdateDeviceShadow", update("{}"), "InvalidParameterValue.JSONHasInvalidNode"),
    (
        "desired not an object",
        "UpdateDeviceShadow",
        update('{"desired": 5}'),
        "InvalidParameterValue.JSONHasInvalidNode",
    ),
    (
        "desired null",
        "UpdateDeviceShadow",
        update('{"desired": {"a": null}}'),
        "InvalidParameterValue.JSONHasInvalidNode",
    ),
    (
        "State over 8 KB",
        "UpdateDeviceShadow",
        update(json.dumps({"desired": {"a": "x" * 9000}})),
        "InvalidParameterValue.JSONSizeExceedLimit",
    ),
    ("no State", "UpdateDeviceShadow", device_params("hublamp", ShadowVersion=1), "MissingParameter"),
    ("no ShadowVersion", "UpdateDeviceShadow", device_params("hublamp", State="{}"), "MissingParameter"),
    ("ShadowVersion a string", "UpdateDeviceShadow", update("{}", "1"), "InvalidParameter"),
    ("Prefix $template", "UpdateDeviceShadow", update("{}", Prefix="$template"), "UnsupportedOperation"),
    ("Prefix unknown", "UpdateDeviceShadow", update("{}", Prefix="$x"), "InvalidParameterValue"),
    (
        "bad topic",
        "PublishMessage",
        device_params("hublamp", Topic="x/y/z", Payload="x"),
        "FailedOperation.InvalidTopicName",
    ),
    ("an Explorer action", "DescribeDeviceData", device_params("hublamp"), "InvalidAction"),
]


@pytest.mark.broker
@pytest.mark.parametrize(
    ("action", "body", "code"), [c[1:] for c in HUB_REFUSALS], ids=[c[0] for c in HUB_REFUSALS]
)
def test_the_hub_refuses_bad_input_with_tencents_code(
    hub: LocalCloud, hub_lamp: Lamp, action: str, body: Any, code: str
) -> None:
    before = hub.get_shadow(f"{PID}.hublamp")
    assert code_of(post(hub, action, body, HUB)) == code
    assert hub.get_shadow(f"{PID}.hublamp") == before


# --- signatures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keyed() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="tencent-hub", port=0, http_port=0, app_key=KEY) as cloud:
        cloud.set_desired(f"{PID}.signed", PID, {"brightness": 1}, timeout=0)  # a known device
        yield cloud


def signed_post(
    cloud: LocalCloud,
    body: bytes,
    *,
    key: AppKey = KEY,
    timestamp: int | None = None,
    service: str = "iotcloud",
    sent_body: bytes | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    assert cloud.http_url is not None
    stamp = int(time.time()) if timestamp is None else timestamp
    host = cloud.http_url.removeprefix("http://")
    headers = {"content-type": "application/json", "host": host}
    authorization = sign_request(key, service, stamp, headers, body)
    more = {"Authorization": authorization, "X-TC-Timestamp": str(stamp), **(extra or {})}
    return post(cloud, "DescribeDeviceShadow", sent_body if sent_body is not None else body, HUB, more)


SIGNED_BODY = json.dumps(device_params("signed")).encode()


@pytest.mark.broker
def test_a_request_signed_with_the_app_key_is_answered(keyed: LocalCloud) -> None:
    answer = signed_post(keyed, SIGNED_BODY)
    assert "Error" not in answer and json.loads(answer["Data"])["type"] == "get"
    # four minutes off is still within Tencent's five
    assert "Error" not in signed_post(keyed, SIGNED_BODY, timestamp=int(time.time()) - 240)


@pytest.mark.broker
def test_an_unsigned_payload_is_accepted_when_the_client_says_so(keyed: LocalCloud) -> None:
    stamp = int(time.time())
    assert keyed.http_url is not None
    headers = {"content-type": "application/json", "host": keyed.http_url.removeprefix("http://")}
    canonical = tencent_tc3.canonical_request(
        "POST", "/", "", headers, ("content-type", "host"), tencent_tc3.hashed_payload(b"", unsigned=True)
    )
    date = tencent_tc3.credential_date(stamp)
    signature = tencent_tc3.signature(KEY.secret, date, "iotcloud", stamp, canonical)
    authorization = (
        f"TC3-HMAC-SHA256 Credential={KEY.id}/{date}/iotcloud/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )
    more = {
        "Authorization": authorization,
        "X-TC-Timestamp": str(stamp),
        "X-TC-Content-SHA256": "UNSIGNED-PAYLOAD",
    }
    assert "Error" not in post(keyed, "DescribeDeviceShadow", SIGNED_BODY, HUB, more)


@pytest.mark.broker
@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("wrong secret", "AuthFailure.SignatureFailure"),
        ("wrong secret id", "AuthFailure.SecretIdNotFound"),
        ("six minutes old", "AuthFailure.SignatureExpire"),
        ("six minutes ahead", "AuthFailure.SignatureExpire"),
        ("body changed after signing", "AuthFailure.SignatureFailure"),
        ("signed for another service", "AuthFailure.SignatureFailure"),
        ("no Authorization", "AuthFailure.InvalidAuthorization"),
        ("no timestamp", "MissingParameter"),
        ("timestamp not a number", "InvalidParameter"),
        ("a credential date not the timestamp's", "AuthFailure.SignatureFailure"),
    ],
)
def test_a_request_not_signed_by_the_app_key_is_refused(keyed: LocalCloud, case: str, code: str) -> None:
    now = int(time.time())
    if case == "wrong secret":
        answer = signed_post(keyed, SIGNED_BODY, key=AppKey(KEY.id, "not-the-secret"))
    elif case == "wrong secret id":
        answer = signed_post(keyed, SIGNED_BODY, key=AppKey("AKIDsomeoneelse", KEY.secret))
    elif case == "six minutes old":
        answer = signed_post(keyed, SIGNED_BODY, timestamp=now - 360)
    elif case == "six minutes ahead":
        answer = signed_post(keyed, SIGNED_BODY, timestamp=now + 360)
    elif case == "body changed after signing":
        answer = signed_post(keyed, SIGNED_BODY, sent_body=json.dumps(device_params("other")).encode())
    elif case == "signed for another service":
        answer = signed_post(keyed, SIGNED_BODY, service="iotexplorer")
    elif case == "no Authorization":
        answer = post(keyed, "DescribeDeviceShadow", SIGNED_BODY, HUB)
    elif case == "no timestamp":
        answer = signed_post(keyed, SIGNED_BODY, extra={"X-TC-Timestamp": ""})
    elif case == "timestamp not a number":
        answer = signed_post(keyed, SIGNED_BODY, extra={"X-TC-Timestamp": "soon"})
    else:
        authorization = sign_request(KEY, "iotcloud", now, {}, SIGNED_BODY)
        wrong = authorization.replace(f"/{tencent_tc3.credential_date(now)}/", "/2000-01-01/")
        answer = signed_post(keyed, SIGNED_BODY, extra={"Authorization": wrong})
    assert code_of(answer) == code
    assert "not-the-secret" not in answer["Error"]["Message"] and KEY.secret not in answer["Error"]["Message"]


@pytest.mark.broker
def test_the_secret_never_reaches_the_log(keyed: LocalCloud, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("DEBUG", logger="thingmodel"):
        signed_post(keyed, SIGNED_BODY, key=AppKey(KEY.id, "not-the-secret"))
        signed_post(keyed, SIGNED_BODY)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "AuthFailure.SignatureFailure" in text
    assert KEY.secret not in text and "not-the-secret" not in text
