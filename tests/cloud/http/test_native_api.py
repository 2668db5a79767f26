"""thingmodel's own application API (/thingmodel/v1) on a live local cloud: what the CLI and the
console call."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from thingmodel.cloud import LocalCloud
from thingmodel.cloud.client import ApiError, CloudClient
from thingmodel.cloud.http import AppKey
from thingmodel.device import Device

from ...integration.helpers import Detector, eventually

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="huawei", port=0, http_port=0) as local:
        yield local


@pytest.fixture(scope="module")
def device(cloud: LocalCloud) -> Iterator[Detector]:
    detector = Detector()
    with Device([detector], device_id="api-1", broker=cloud.url):
        detector.report()
        eventually(lambda: bool(cloud.get_shadow("api-1")), what="the first report")
        yield detector


@pytest.fixture
def api(cloud: LocalCloud) -> CloudClient:
    assert cloud.http_url is not None
    return CloudClient(cloud.http_url)


def raw(cloud: LocalCloud, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(f"{cloud.http_url}/thingmodel/v1{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_info_names_the_vendor_and_both_urls(cloud: LocalCloud, api: CloudClient) -> None:
    info = api.get("/info")
    assert (info["vendor"], info["mqtt_url"], info["http_url"]) == ("huawei", cloud.url, cloud.http_url)
    assert info["authenticated"] is False


def test_a_connected_device_is_listed_online_with_its_shadow_and_delta(
    api: CloudClient, device: Detector
) -> None:
    listed = {d["device_id"]: d for d in api.get("/devices")["devices"]}
    assert listed["api-1"]["online"] is True and listed["api-1"]["last_seen"] is not None
    shown = api.get("/devices/api-1")
    service = shown["services"]["smokeDetector"]
    assert service["reported"]["alarm"] == 0 and service["delta"] == {}


def test_a_desire_by_text_is_typed_applied_and_answered(api: CloudClient, device: Detector) -> None:
    answer = api.post(
        "/devices/api-1/desired", {"service_id": "smokeDetector", "text": {"alarm": "1"}}, wait=5
    )
    assert answer["ok"] is True and answer["properties"] == {"alarm": 1}
    assert device.set_calls[-1] == 1


def test_a_refused_desire_is_200_with_the_reason(api: CloudClient, device: Detector) -> None:
    answer = api.post("/devices/api-1/desired", {"service_id": "smokeDetector", "properties": {"alarm": 7}})
    assert answer["ok"] is False and "above the maximum 1" in answer["errors"]["alarm"]


def test_a_command_returns_the_methods_result(api: CloudClient, device: Detector) -> None:
    answer = api.post(
        "/devices/api-1/commands",
        {"service_id": "smokeDetector", "name": "ringAlarm", "text": {"duration": "4"}},
    )
    assert (answer["ok"], answer["params"]) == (True, {"rang": 4})
    assert device.commands[-1] == 4


def test_a_read_returns_the_getters_values(api: CloudClient, device: Detector) -> None:
    answer = api.post("/devices/api-1/read", {"service_id": "smokeDetector"})
    assert answer["services"]["smokeDetector"]["temperature"] == 20.0


def test_an_unknown_device_is_404_naming_it(cloud: LocalCloud) -> None:
    status, body = raw(cloud, "GET", "/devices/nobody")
    assert (
        status == 404 and body["error"]["code"] == "UnknownDevice" and "'nobody'" in body["error"]["message"]
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "the request body is not JSON"),
        (b"[]", "the request body must be a JSON object"),
        (b'{"properties": {"alarm": 1}}', "service_id must be a non-empty string"),
        (b'{"service_id": "s", "properties": 3}', "properties must be a JSON object"),
        (b'{"service_id": "s", "properties": {"a": 1}, "timeout": "soon"}', "timeout must be a number"),
        (b'{"service_id": "s", "properties": {}}', "name at least one property"),
    ],
)
def test_a_bad_request_is_400_naming_the_field(
    cloud: LocalCloud, device: Detector, body: bytes, reason: str
) -> None:
    status, answer = raw(cloud, "POST", "/devices/api-1/desired", body)
    assert status == 400 and answer["error"]["code"] == "InvalidValue"
    assert answer["error"]["message"].startswith(reason)


def test_an_oversized_body_is_413(cloud: LocalCloud) -> None:
    status, answer = raw(cloud, "POST", "/devices/api-1/desired", b" " * (1024 * 1024 + 1))
    assert status == 413 and answer["error"]["code"] == "TooLarge"


def test_the_stream_tells_of_each_uplink_and_the_trace_keeps_it(
    cloud: LocalCloud, api: CloudClient, device: Detector
) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    got = threading.Event()

    def listen() -> None:
        for event, entry in api.stream("/stream", device_id="api-1"):
            seen.append((event, entry))
            if event == "up":
                got.set()
                return

    threading.Thread(target=listen, daemon=True).start()
    eventually(lambda: cloud.feed.watching > 0, what="the stream watching")
    device.counter = device.counter + 1
    device.report()
    assert got.wait(10)
    up = next(entry for event, entry in seen if event == "up")
    assert up["topic"] == "$oc/devices/api-1/sys/properties/report" and '"counter"' in up["payload"]
    trace = api.get("/trace", device_id="api-1")["entries"]
    assert any(e["seq"] == up["seq"] for e in trace)


def test_a_shadow_delete_removes_it_and_names_what_went(cloud: LocalCloud, api: CloudClient) -> None:
    cloud.set_desired("offline-1", "svc", {"x": 1}, timeout=0)
    assert api.delete("/devices/offline-1/shadow") == {"deleted": ["svc"]}
    with pytest.raises(ApiError) as gone:  # nothing is left of a device that never connected
        api.get("/devices/offline-1")
    assert gone.value.status == 404


def test_with_an_app_key_every_call_needs_it() -> None:
    key = AppKey("ops", "s3cret")
    with LocalCloud(vendor="huawei", port=0, http_port=0, app_key=key) as local:
        assert local.http_url is not None
        assert CloudClient(local.http_url, app_key=key).get("/info")["authenticated"] is True
        for client in (
            CloudClient(local.http_url),
            CloudClient(local.http_url, app_key=AppKey("ops", "guess")),
        ):
            with pytest.raises(ApiError) as refused:
                client.get("/devices")
            assert refused.value.status == 401 and refused.value.code == "Unauthorized"


def test_without_an_app_key_the_http_side_listens_on_loopback_only() -> None:
    with LocalCloud(vendor="huawei", host="0.0.0.0", port=0, http_port=0) as local:
        assert local.http is not None and local.http.host == "127.0.0.1"


def test_a_request_for_another_host_is_refused_so_dns_rebinding_gets_nothing(cloud: LocalCloud) -> None:
    request = urllib.request.Request(
        f"{cloud.http_url}/thingmodel/v1/devices", headers={"Host": "evil.example"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert b"host 'evil.example' is not this machine" in refused.value.read()


def test_a_browsers_write_from_another_site_is_refused(cloud: LocalCloud, device: Detector) -> None:
    body = json.dumps({"service_id": "smokeDetector", "properties": {"alarm": 1}}).encode()
    request = urllib.request.Request(
        f"{cloud.http_url}/thingmodel/v1/devices/api-1/desired",
        data=body,
        method="POST",
        headers={"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
    )
    calls = len(device.set_calls)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403 and len(device.set_calls) == calls
    same = urllib.request.Request(
        request.full_url, data=body, method="POST", headers={"Sec-Fetch-Site": "same-origin"}
    )
    with urllib.request.urlopen(same, timeout=10) as answer:
        assert json.loads(answer.read())["ok"] is True


def test_activity_lists_the_devices_messages_with_their_arrival_time(
    cloud: LocalCloud, api: CloudClient, device: Detector
) -> None:
    with cloud.turn():  # as the worker would hand it over from the broker
        cloud.platform.receive("$oc/devices/api-1/sys/messages/up", b'{"content": "hello"}')
    messages = api.get("/devices/api-1/activity")["messages"]
    assert '"hello"' in messages[-1]["payload"] and isinstance(messages[-1]["time"], float)
