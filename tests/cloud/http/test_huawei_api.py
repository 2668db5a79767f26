"""IoTDA's v5 application API (the Huawei dialect of the local cloud's HTTP side), with plain
urllib requests: each route's answer, each error's status and body, paging, and the AK/SK
signature (the algorithm pinned by vectors that huaweicloudsdkcore's own signer made)."""

from __future__ import annotations

import calendar
import itertools
import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from thingmodel.cloud import LocalCloud
from thingmodel.cloud.http import AppKey
from thingmodel.cloud.http import huawei as hw
from thingmodel.cloud.http import huawei_aksk as aksk
from thingmodel.device import Device
from thingmodel.transport import BrokerAddress

from ...integration.helpers import Detector, eventually

P = "/v5/iot/0123456789abcdef0123456789abcdef"
SERVICE = "smokeDetector"
KEY = AppKey("AK-LOCAL-TEST", "sk-local-test-secret")
TIMEOUT_DETAIL = "Command request timed out. Check whether the device returns a response"
_ids = itertools.count()

Reply = tuple[int, Any, dict[str, str]]


# --- helpers ---------------------------------------------------------------------------------------
def call(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    key: AppKey | None = None,
    date: str | None = None,
    tamper: bytes | None = None,
) -> Reply:
    """One request; with ``key`` signed as huaweicloudsdkcore signs (``tamper``: the body sent
    instead of the signed one)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    url = urllib.parse.urlsplit(base + path)
    headers = {"content-type": "application/json", "host": url.netloc}
    if key is not None:
        headers["x-sdk-date"] = date or aksk.sdk_date(time.time())
        headers["authorization"] = aksk.authorization(key, method, url.path, url.query, headers, data)
    request = urllib.request.Request(
        base + path, data=tamper if tamper is not None else (data or None), method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return (
                response.status,
                json.loads(response.read()),
                {k.lower(): v for k, v in response.headers.items()},
            )
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), {k.lower(): v for k, v in exc.headers.items()}


def refused(reply: Reply, status: int, code: str) -> str:
    """The error message of an IoTDA error answer with this status and code."""
    got_status, body, headers = reply
    assert (got_status, body.get("error_code")) == (status, code), body
    assert set(body) == {"error_code", "error_msg"} and body["error_msg"]
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    return str(body["error_msg"])


def fresh_id(prefix: str = "dev") -> str:
    return f"{prefix}-{next(_ids)}"


class Silent:
    """A raw MQTT client connected as a Huawei device that never answers anything; it records
    what reaches its own topics."""

    def __init__(self, url: str, device_id: str) -> None:
        address = BrokerAddress.parse(url)
        self.device_id = device_id
        self.received: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id)
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, bytes(m.payload)))
        self.client.connect(address.host, address.port)
        self.client.subscribe(f"$oc/devices/{device_id}/user/#", qos=1)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="huawei", port=0, http_port=0) as local:
        yield local


@pytest.fixture(scope="module")
def base(cloud: LocalCloud) -> str:
    assert cloud.http_url is not None
    return cloud.http_url


@pytest.fixture
def device(cloud: LocalCloud) -> Iterator[tuple[str, Detector, list[bytes]]]:
    """A connected thingmodel device of its own (id, service, messages it received)."""
    device_id, detector, messages = fresh_id(), Detector(), []
    with Device(
        [detector], device_id=device_id, broker=cloud.url, on_message=lambda m: messages.append(m.payload)
    ) as dev:
        dev.report()
        eventually(lambda: bool(cloud.get_shadow(device_id)), what="the first report")
        yield device_id, detector, messages


@pytest.fixture
def silent(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Silent]:
    monkeypatch.setattr(hw, "SYNC_TIMEOUT", 0.5)
    device_id = fresh_id("silent")
    peer = Silent(cloud.url, device_id)
    eventually(lambda: cloud.presence.is_online(device_id) is True, what="the silent device online")
    yield peer
    peer.close()


@pytest.fixture(scope="module")
def gone(cloud: LocalCloud) -> str:
    """A device that connected, reported and left."""
    device_id = "gone-1"
    with Device([Detector()], device_id=device_id, broker=cloud.url) as dev:
        dev.report()
        eventually(lambda: bool(cloud.get_shadow(device_id)), what="the first report")
    eventually(lambda: cloud.presence.is_online(device_id) is False, what="the device gone")
    return device_id


pytestmark = pytest.mark.broker


# --- shadow ----------------------------------------------------------------------------------------
def test_show_device_shadow_lists_each_service_with_desired_reported_and_version(
    base: str, device: tuple[str, Detector, list[bytes]], cloud: LocalCloud
) -> None:
    device_id = device[0]
    status, body, headers = call(base, "GET", f"{P}/devices/{device_id}/shadow")
    assert status == 200 and re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    version = cloud.get_shadow(device_id)[SERVICE]["version"]
    assert body == {
        "device_id": device_id,
        "shadow": [
            {
                "service_id": SERVICE,
                "desired": {"properties": {}},
                "reported": {"properties": {"alarm": 0, "temperature": 20.0, "counter": 0}},
                "version": version,
            }
        ],
    }


def test_update_desired_stores_answers_at_once_and_the_online_device_applies_it(
    base: str, device: tuple[str, Detector, list[bytes]], cloud: LocalCloud
) -> None:
    device_id, detector, _ = device
    shadow = [{"service_id": SERVICE, "desired": {"alarm": 1}}]
    status, body, _ = call(base, "PUT", f"{P}/devices/{device_id}/shadow", {"shadow": shadow})
    assert status == 200 and body["device_id"] == device_id
    assert body["shadow"][0]["desired"] == {"properties": {"alarm": 1}}
    eventually(lambda: cloud.get_shadow(device_id)[SERVICE]["reported"]["alarm"] == 1, what="applied")
    assert detector.set_calls == [1]


def test_a_desire_with_the_current_version_is_taken_and_a_stale_one_is_refused_storing_nothing(
    base: str, device: tuple[str, Detector, list[bytes]], cloud: LocalCloud
) -> None:
    device_id, detector, _ = device
    version = cloud.get_shadow(device_id)[SERVICE]["version"]
    stale = {"shadow": [{"service_id": SERVICE, "desired": {"alarm": 1}, "version": version + 5}]}
    message = refused(call(base, "PUT", f"{P}/devices/{device_id}/shadow", stale), 400, "IOTDA.000006")
    assert f"is {version}, the request gives {version + 5}" in message
    assert cloud.get_shadow(device_id)[SERVICE]["desired"] == {} and detector.set_calls == []
    current = {"shadow": [{"service_id": SERVICE, "desired": {"alarm": 1}, "version": version}]}
    status, body, _ = call(base, "PUT", f"{P}/devices/{device_id}/shadow", current)
    assert status == 200 and body["shadow"][0]["desired"]["properties"] == {"alarm": 1}


def test_a_desire_for_an_offline_device_is_stored_for_later(base: str, gone: str, cloud: LocalCloud) -> None:
    shadow = {"shadow": [{"service_id": SERVICE, "desired": {"counter": 4}}]}
    status, body, _ = call(base, "PUT", f"{P}/devices/{gone}/shadow", shadow)
    assert status == 200 and body["shadow"][0]["desired"]["properties"]["counter"] == 4
    assert cloud.get_shadow(gone)[SERVICE]["desired"]["counter"] == 4


# --- synchronous calls -----------------------------------------------------------------------------
def test_update_properties_answers_with_the_devices_set_response(
    base: str, device: tuple[str, Detector, list[bytes]], cloud: LocalCloud
) -> None:
    device_id, detector, _ = device
    services = {"services": [{"service_id": SERVICE, "properties": {"alarm": 1}}]}
    status, body, _ = call(base, "PUT", f"{P}/devices/{device_id}/properties", services)
    assert status == 200 and body["response"] == {"result_code": 0, "result_desc": "success"}
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    assert detector.set_calls == [1]
    eventually(lambda: cloud.get_shadow(device_id)[SERVICE]["reported"]["alarm"] == 1, what="reported")


def test_update_properties_with_a_value_the_device_refuses_answers_its_refusal(
    base: str, device: tuple[str, Detector, list[bytes]]
) -> None:
    device_id, detector, _ = device
    services = {"services": [{"service_id": SERVICE, "properties": {"alarm": 7}}]}
    status, body, _ = call(base, "PUT", f"{P}/devices/{device_id}/properties", services)
    assert status == 200 and body["response"]["result_code"] == 1
    assert "alarm" in body["response"]["result_desc"] and detector.set_calls == []


def test_list_properties_reads_the_current_values_from_the_device(
    base: str, device: tuple[str, Detector, list[bytes]]
) -> None:
    device_id, detector, _ = device
    detector.counter = 9
    status, body, _ = call(base, "GET", f"{P}/devices/{device_id}/properties?service_id={SERVICE}")
    assert status == 200
    assert body["response"]["services"] == [
        {
            "service_id": SERVICE,
            "properties": {"alarm": 0, "temperature": 20.0, "counter": 9},
            "event_time": None,
        }
    ]


def test_create_command_answers_with_the_methods_result(
    base: str, device: tuple[str, Detector, list[bytes]]
) -> None:
    device_id, detector, _ = device
    command = {"service_id": SERVICE, "command_name": "ringAlarm", "paras": {"duration": 3}}
    status, body, _ = call(base, "POST", f"{P}/devices/{device_id}/commands", command)
    assert status == 200 and re.fullmatch(r"[0-9a-f]{32}", body["command_id"])
    assert body["response"] == {"result_code": 0, "response_name": "", "paras": {"rang": 3}}
    assert detector.commands == [3]


def test_calls_a_silent_device_leaves_unanswered_are_200_with_iotdas_timeout_code(
    base: str, silent: Silent
) -> None:
    device_id = silent.device_id
    command = {"service_id": SERVICE, "command_name": "ringAlarm", "paras": {}}
    status, body, _ = call(base, "POST", f"{P}/devices/{device_id}/commands", command)
    assert status == 200 and body["error_code"] == "IOTDA.014111" and body["response"] is None
    assert body["error_msg"].startswith(TIMEOUT_DETAIL) and body["command_id"]
    services = {"services": [{"service_id": SERVICE, "properties": {"alarm": 1}}]}
    status, body, _ = call(base, "PUT", f"{P}/devices/{device_id}/properties", services)
    assert status == 200 and body["error_code"] == "IOTDA.014111" and body["request_id"]
    status, body, _ = call(base, "GET", f"{P}/devices/{device_id}/properties?service_id={SERVICE}")
    assert status == 200 and body["error_code"] == "IOTDA.014111" and body["response"] is None


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("POST", "commands", {"command_name": "ringAlarm", "paras": {}}),
        ("PUT", "properties", {"services": [{"service_id": SERVICE, "properties": {"alarm": 1}}]}),
        ("GET", f"properties?service_id={SERVICE}", None),
        ("POST", "messages", {"message": "hi"}),
    ],
)
def test_calls_that_need_an_offline_device_are_403_device_not_online(
    base: str, gone: str, method: str, suffix: str, body: Any, cloud: LocalCloud
) -> None:
    before = cloud.get_shadow(gone)
    message = refused(call(base, method, f"{P}/devices/{gone}/{suffix}", body), 403, "IOTDA.014016")
    assert message == "Operation not allowed. The device is not online."
    assert cloud.get_shadow(gone) == before


# --- messages --------------------------------------------------------------------------------------
def test_create_message_is_201_and_reaches_the_device_in_the_standard_format(
    base: str, device: tuple[str, Detector, list[bytes]]
) -> None:
    device_id, _, messages = device
    sent = {"message_id": "m-1", "name": "greeting", "message": {"text": "hello"}}
    status, body, _ = call(base, "POST", f"{P}/devices/{device_id}/messages", sent)
    assert status == 201 and body["message_id"] == "m-1"
    assert body["result"]["status"] == "DELIVERED"
    assert re.fullmatch(r"\d{8}T\d{6}Z", body["result"]["created_time"])
    eventually(lambda: bool(messages), what="the message down")
    assert json.loads(messages[0]) == {
        "object_device_id": device_id,
        "name": "greeting",
        "id": "m-1",
        "content": {"text": "hello"},
    }


def test_a_raw_base64_message_on_a_custom_topic_arrives_decoded(base: str, silent: Silent) -> None:
    device_id = silent.device_id
    sent = {"message": "AAEC/w==", "encoding": "base64", "topic": "down/bytes"}
    status, body, _ = call(base, "POST", f"{P}/devices/{device_id}/messages", sent)
    assert status == 201 and re.fullmatch(r"[0-9a-f]{32}", body["message_id"])
    eventually(lambda: bool(silent.received), what="the message on the custom topic")
    assert silent.received == [(f"$oc/devices/{device_id}/user/down/bytes", b"\x00\x01\x02\xff")]


# --- devices ---------------------------------------------------------------------------------------
def test_show_device_describes_an_online_device(base: str, device: tuple[str, Detector, list[bytes]]) -> None:
    device_id = device[0]
    status, body, _ = call(base, "GET", f"{P}/devices/{device_id}")
    assert status == 200
    assert {
        k: body[k] for k in ("device_id", "node_id", "gateway_id", "device_name", "node_type", "status")
    } == {
        "device_id": device_id,
        "node_id": device_id,
        "gateway_id": device_id,
        "device_name": device_id,
        "node_type": "GATEWAY",
        "status": "ONLINE",
    }
    assert body["product_id"] is None and body["tags"] == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["connection_status_update_time"])


def test_list_devices_pages_by_marker_and_offset_newest_record_first(base: str, cloud: LocalCloud) -> None:
    ids = [f"pg_{i}" for i in range(7)]
    with cloud.turn():
        for device_id in ids:
            cloud.platform.desire(device_id, {SERVICE: {"alarm": 0}})
    seen: list[dict[str, Any]] = []
    marker = None
    for _ in range(5):
        query = "product_id=pg&limit=3" + (f"&marker={marker}" if marker else "")
        status, body, _ = call(base, "GET", f"{P}/devices?{query}")
        assert status == 200 and body["page"]["count"] == 7
        seen += body["devices"]
        if len(body["devices"]) < 3:
            break
        marker = body["page"]["marker"]
        assert marker == hw.record_id(body["devices"][-1]["device_id"])
    assert sorted(d["device_id"] for d in seen) == ids
    records = [hw.record_id(d["device_id"]) for d in seen]
    assert records == sorted(records, reverse=True)
    assert {(d["product_id"], d["status"]) for d in seen} == {("pg", "INACTIVE")}
    assert {d["node_id"] for d in seen} == {str(i) for i in range(7)}
    _, skipped, _ = call(base, "GET", f"{P}/devices?product_id=pg&offset=2&limit=2")
    assert [d["device_id"] for d in skipped["devices"]] == [d["device_id"] for d in seen[2:4]]


def test_list_devices_says_online_and_offline(
    base: str, device: tuple[str, Detector, list[bytes]], gone: str
) -> None:
    _, body, _ = call(base, "GET", f"{P}/devices?limit=50")
    status = {d["device_id"]: d["status"] for d in body["devices"]}
    assert status[device[0]] == "ONLINE" and status[gone] == "OFFLINE"
    _, one, _ = call(base, "GET", f"{P}/devices?node_id={gone}")
    assert [d["device_id"] for d in one["devices"]] == [gone] and one["page"]["count"] == 1


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "IOTDA.000017"),
        ("limit=51", "IOTDA.000017"),
        ("limit=ten", "IOTDA.000017"),
        ("offset=501", "IOTDA.000006"),
        ("marker=xyz", "IOTDA.000006"),
        ("start_time=yesterday", "IOTDA.000009"),
    ],
)
def test_list_devices_refuses_bad_paging(base: str, query: str, code: str) -> None:
    refused(call(base, "GET", f"{P}/devices?{query}"), 400, code)


# --- refusals --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("GET", "shadow", None),
        ("PUT", "shadow", {"shadow": [{"service_id": SERVICE, "desired": {"alarm": 1}}]}),
        ("PUT", "properties", {"services": [{"service_id": SERVICE, "properties": {"alarm": 1}}]}),
        ("GET", f"properties?service_id={SERVICE}", None),
        ("POST", "commands", {"command_name": "ringAlarm", "paras": {}}),
        ("POST", "messages", {"message": "hi"}),
    ],
)
def test_an_unknown_device_is_404_and_gets_no_shadow(
    base: str, cloud: LocalCloud, method: str, suffix: str, body: Any
) -> None:
    path = f"{P}/devices/never-seen" + (f"/{suffix}" if suffix else "")
    assert refused(call(base, method, path, body), 404, "IOTDA.014000") == "The device does not exist."
    assert cloud.get_shadow("never-seen") == {}


@pytest.mark.parametrize(
    ("suffix", "raw", "code", "says"),
    [
        ("shadow", b"{not json", "IOTDA.000008", "not JSON"),
        ("shadow", b"[1, 2]", "IOTDA.000008", "JSON object"),
        ("shadow", b"", "IOTDA.000008", "empty"),
        ("shadow", b"[" * 5000 + b"]" * 5000, "IOTDA.000008", "not JSON"),
        ("shadow", b'{"shadow": []}', "IOTDA.000006", "shadow must be a list"),
        (
            "shadow",
            b'{"shadow": [{"service_id": "smokeDetector", "desired": [1]}]}',
            "IOTDA.000006",
            "desired",
        ),
        (
            "shadow",
            b'{"shadow": [{"service_id": "smokeDetector", "desired": {}}]}',
            "IOTDA.000006",
            "no property",
        ),
        (
            "shadow",
            b'{"shadow": [{"service_id": "smokeDetector", "desired": {"alarm": null}}]}',
            "IOTDA.000006",
            "null",
        ),
        (
            "shadow",
            b'{"shadow": [{"service_id": "a/b", "desired": {"alarm": 1}}]}',
            "IOTDA.000006",
            "service_id",
        ),
        ("shadow", b'{"shadow": [{"service_id": 5, "desired": {"alarm": 1}}]}', "IOTDA.000006", "service_id"),
        (
            "shadow",
            b'{"shadow": [{"service_id": "smokeDetector", "desired": {"a": 1}, "version": "1"}]}',
            "IOTDA.000006",
            "version",
        ),
        (
            "shadow",
            b'{"shadow": [{"service_id": "smokeDetector", "desired": {"a": 1}, "version": true}]}',
            "IOTDA.000006",
            "version",
        ),
        (
            "shadow",
            b'{"shadow": [{"service_id": "smokeDetector", "desired": {"a.b": 1}}]}',
            "IOTDA.000006",
            "a.b",
        ),
        ("properties", b'{"services": {"service_id": "smokeDetector"}}', "IOTDA.000006", "services"),
        ("commands", b'{"paras": {}}', "IOTDA.000006", "command_name"),
        ("commands", b'{"command_name": "ringAlarm", "paras": "x"}', "IOTDA.000006", "paras"),
        ("messages", b'{"name": "no message"}', "IOTDA.000006", "message"),
        ("messages", b'{"message": "x", "ttl": 7}', "IOTDA.000006", "ttl"),
        ("messages", b'{"message": "x", "encoding": "gzip"}', "IOTDA.000006", "encoding"),
        ("messages", b'{"message": "%%%", "encoding": "base64"}', "IOTDA.000006", "base64"),
        ("messages", b'{"message": "x", "topic": "a/#"}', "IOTDA.000006", "topic"),
    ],
)
def test_bad_input_is_iotdas_400_naming_the_field_and_changes_nothing(
    base: str,
    device: tuple[str, Detector, list[bytes]],
    cloud: LocalCloud,
    suffix: str,
    raw: bytes,
    code: str,
    says: str,
) -> None:
    device_id, detector, messages = device
    method = {"shadow": "PUT", "properties": "PUT"}.get(suffix, "POST")
    before = cloud.get_shadow(device_id)
    message = refused(call(base, method, f"{P}/devices/{device_id}/{suffix}", raw=raw), 400, code)
    assert says in message
    assert cloud.get_shadow(device_id) == before
    assert detector.set_calls == [] and detector.commands == [] and messages == []


@pytest.mark.parametrize("device_id", ["a.b", "x" * 129, "sp%20ace"])
def test_a_device_id_iotda_could_not_have_is_400(base: str, device_id: str) -> None:
    message = refused(call(base, "GET", f"{P}/devices/{device_id}/shadow"), 400, "IOTDA.000006")
    assert "device_id" in message


def test_a_body_over_the_limit_is_413_from_the_gateway(
    base: str, device: tuple[str, Detector, list[bytes]], cloud: LocalCloud
) -> None:
    device_id = device[0]
    big = {"shadow": [{"service_id": SERVICE, "desired": {"blob": "x" * (hw.MAX_BODY + 1)}}]}
    message = refused(call(base, "PUT", f"{P}/devices/{device_id}/shadow", big), 413, "APIGW.0201")
    assert message == "Request entity too large."
    assert cloud.get_shadow(device_id)[SERVICE]["desired"] == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", f"{P}/nothing"), ("DELETE", f"{P}/devices/x/shadow"), ("POST", f"{P}/devices")],
)
def test_a_path_or_method_that_is_no_api_is_the_gateways_404(base: str, method: str, path: str) -> None:
    refused(call(base, method, path, {} if method == "POST" else None), 404, "APIGW.0101")


# --- the signature ---------------------------------------------------------------------------------
#: made by huaweicloudsdkcore 3.1.219's Signer (AK-VECTOR / sk-vector-secret, X-Sdk-Date below)
VECTOR_DATE = "20261202T101500Z"
VECTOR_KEY = AppKey("AK-VECTOR", "sk-vector-secret")
VECTOR_HEADERS = {
    "content-type": "application/json",
    "x-sdk-date": VECTOR_DATE,
    "x-project-id": "proj",
    "user-agent": "huaweicloud-usdk-python/3.0",
    "host": "127.0.0.1:8080",
}
VECTORS = [
    (
        "GET",
        "/v5/iot/proj/devices/dev-1/shadow",
        "",
        b"",
        "c3cc9d68f88dd0a7aa1b60a9c11573cc869392ace3e2c974a616e1e36e795c78",
    ),
    (
        "PUT",
        "/v5/iot/proj/devices/dev-1/shadow",
        "",
        b'{"shadow": [{"service_id": "s", "desired": {"a": 1}}]}',
        "f85a58f6adfc718b5d587a1f03f93bc0ea769f005e907b61402f39fffa10d924",
    ),
    (
        "GET",
        "/v5/iot/proj/devices",
        "limit=5&marker=ffffffffffffffffffffffff&node_id=a%20b~c",
        b"",
        "982588227c70883db13dfb2b3daae4bb50d54671a10b1158ba84b1a6f3fbb109",
    ),
]
VECTOR_NOW = float(calendar.timegm(time.strptime(VECTOR_DATE, "%Y%m%dT%H%M%SZ")))


def _vector_authorization(sig: str) -> str:
    names = "content-type;host;user-agent;x-project-id;x-sdk-date"
    return f"SDK-HMAC-SHA256 Access=AK-VECTOR, SignedHeaders={names}, Signature={sig}"


@pytest.mark.parametrize(("method", "path", "query", "body", "sig"), VECTORS)
def test_the_sdks_own_signatures_verify_and_are_reproduced(
    method: str, path: str, query: str, body: bytes, sig: str
) -> None:
    headers = {**VECTOR_HEADERS, "authorization": _vector_authorization(sig)}
    assert aksk.verify(VECTOR_KEY, method, path, query, headers, body, VECTOR_NOW) is None
    assert aksk.authorization(VECTOR_KEY, method, path, query, VECTOR_HEADERS, body) == _vector_authorization(
        sig
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"key": AppKey("AK-VECTOR", "another-secret")}, "verify aksk signature fail"),
        ({"key": AppKey("AK-OTHER", "sk-vector-secret")}, "ak AK-VECTOR not exist"),
        ({"body": b'{"shadow": []}'}, "verify aksk signature fail"),
        ({"query": "limit=6&marker=ffffffffffffffffffffffff&node_id=a%20b~c"}, "verify aksk signature fail"),
        ({"now": VECTOR_NOW + 16 * 60}, "more than 15 minutes off"),
        ({"drop": "host"}, "a signed header is missing"),
        ({"drop": "authorization"}, "x-auth-token not found"),
        ({"authorization": "SDK-HMAC-SHA256 Access=AK-VECTOR"}, "verify aksk signature fail"),
        ({"authorization": "V11-HMAC-SHA256 Credential=AK-VECTOR/x, SignedHeaders=a, Signature=b"}, "verify"),
    ],
)
def test_verify_refuses_every_change_to_a_signed_request(change: dict[str, Any], reason: str) -> None:
    method, path, query, body, sig = VECTORS[2] if "query" in change else VECTORS[1]
    headers = {**VECTOR_HEADERS, "authorization": _vector_authorization(sig)}
    if "drop" in change:
        del headers[change["drop"]]
    if "authorization" in change:
        headers["authorization"] = change["authorization"]
    why = aksk.verify(
        change.get("key", VECTOR_KEY),
        method,
        path,
        change.get("query", query),
        headers,
        change.get("body", body),
        change.get("now", VECTOR_NOW),
    )
    assert why is not None and reason in why


@pytest.fixture(scope="module")
def signed_cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="huawei", port=0, http_port=0, app_key=KEY) as local:
        with local.turn():
            local.platform.desire("keyed-1", {SERVICE: {"alarm": 0}})
        yield local


def test_a_cloud_with_a_key_serves_requests_signed_with_it(signed_cloud: LocalCloud) -> None:
    assert signed_cloud.http_url is not None
    status, body, _ = call(signed_cloud.http_url, "GET", f"{P}/devices/keyed-1/shadow", key=KEY)
    assert status == 200 and body["shadow"][0]["desired"]["properties"] == {"alarm": 0}
    status, body, _ = call(signed_cloud.http_url, "GET", f"{P}/devices?limit=1&offset=0", key=KEY)
    assert status == 200 and body["page"]["count"] == 1


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({}, "x-auth-token not found"),
        ({"key": AppKey(KEY.id, "not-the-secret")}, "verify aksk signature fail"),
        ({"key": AppKey("AK-STRANGER", KEY.secret)}, "ak AK-STRANGER not exist"),
        ({"key": KEY, "date": aksk.sdk_date(time.time() - 20 * 60)}, "more than 15 minutes off"),
        (
            {"key": KEY, "tamper": b'{"shadow": [{"service_id": "smokeDetector", "desired": {"alarm": 1}}]}'},
            "fail",
        ),
    ],
)
def test_requests_without_a_valid_signature_are_the_gateways_401_and_change_nothing(
    signed_cloud: LocalCloud, options: dict[str, Any], says: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert signed_cloud.http_url is not None
    caplog.set_level(logging.DEBUG)
    body = {"shadow": [{"service_id": SERVICE, "desired": {"alarm": 0, "counter": 1}}]}
    reply = call(signed_cloud.http_url, "PUT", f"{P}/devices/keyed-1/shadow", body, **options)
    message = refused(reply, 401, "APIGW.0301")
    assert message.startswith("Incorrect IAM authentication information:") and says in message
    assert signed_cloud.get_shadow("keyed-1")[SERVICE]["desired"] == {"alarm": 0}
    assert KEY.secret not in caplog.text
