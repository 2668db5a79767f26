"""The AWS IoT data plane dialect of the local cloud, over real HTTP, answer by answer.

Plain urllib requests pin each route's answer and each error's status, ``x-amzn-ErrorType`` and
body; signed requests are signed by botocore's own SigV4 signer, so the verification is checked
against the signatures AWS's SDK makes. An MQTT subscriber checks what the devices are sent.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import logging
import queue
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import paho.mqtt.client as mqtt
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from thingmodel.cloud import LocalCloud
from thingmodel.cloud.http import AppKey
from thingmodel.cloud.http.aws import MAX_BODY, page_token
from thingmodel.cloud.http.aws_sigv4 import (
    SIGNATURE_MISMATCH,
    UNKNOWN_KEY,
    canonical_request,
    signature_problem,
)
from thingmodel.protocol import jsonwire

KEY = AppKey("AKIDLOCALTEST", "local-secret/with+odd=chars")
WAIT = 5.0


# --- helpers -------------------------------------------------------------------------------------
class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    def error(self) -> tuple[int, str, str]:
        """(status, x-amzn-ErrorType, message) of an error answer, checking its shape."""
        body = self.json()
        assert set(body) == {"message", "traceId"}, body
        assert body["traceId"] == self.headers["x-amzn-requestid"]
        assert self.headers["content-type"] == "application/json"
        return self.status, self.headers["x-amzn-errortype"], body["message"]


def http(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    headers: dict[str, str] | None = None,
    sign: Credentials | None = None,
    service: str = "iotdata",
    when: datetime.datetime | None = None,
) -> Answer:
    """One request; ``sign`` signs it with botocore's SigV4 signer (at ``when``, default now)."""
    url = base + path
    sent = dict(headers or {})
    if sign is not None:
        aws = AWSRequest(method=method, url=url, data=body or b"", headers=sent)
        if when is None:
            SigV4Auth(sign, service, "eu-west-1").add_auth(aws)
        else:
            with mock.patch("botocore.auth.get_current_datetime", return_value=when):
                SigV4Auth(sign, service, "eu-west-1").add_auth(aws)
        sent = dict(aws.headers.items())
    request = urllib.request.Request(url, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return Answer(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as error:
        return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def update(base: str, thing: str, document: Any, shadow: str | None = None) -> Answer:
    query = "" if shadow is None else f"?name={shadow}"
    return http(base, "POST", f"/things/{thing}/shadow{query}", json.dumps(document).encode())


class Subscriber:
    """A paho client on the cloud's broker that keeps what it receives."""

    def __init__(self, cloud: LocalCloud, *filters: str) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        subscribed: queue.Queue[object] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:12]}")
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)
        self.client.on_subscribe = lambda *_: subscribed.put(True)
        self.client.connect(cloud.host, cloud.port)
        self.client.loop_start()
        self.client.subscribe([(f, 1) for f in filters])
        subscribed.get(timeout=WAIT)

    def next(self) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=WAIT)

    def topics(self, count: int) -> dict[str, Any]:
        """The next ``count`` messages: {topic: decoded JSON payload}."""
        out = {}
        for _ in range(count):
            message = self.next()
            out[message.topic] = json.loads(message.payload)
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="aws", port=0, http_port=0) as local:
        yield local


@pytest.fixture(scope="module")
def signed_cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="aws", port=0, http_port=0, app_key=KEY) as local:
        yield local


@pytest.fixture
def base(cloud: LocalCloud) -> str:
    assert cloud.http_url is not None
    return cloud.http_url


@pytest.fixture
def signed_base(signed_cloud: LocalCloud) -> str:
    assert signed_cloud.http_url is not None
    return signed_cloud.http_url


RIGHT = Credentials(KEY.id, KEY.secret)


# --- shadows -------------------------------------------------------------------------------------
@pytest.mark.broker
def test_get_of_a_shadow_that_does_not_exist_is_404_with_aws_text(base: str) -> None:
    assert http(base, "GET", "/things/ghost/shadow").error() == (
        404,
        "ResourceNotFoundException",
        "No shadow exists with name: 'ghost'",
    )
    assert (
        http(base, "GET", "/things/ghost/shadow?name=cfg").error()[2] == "No shadow exists with name: 'cfg'"
    )


@pytest.mark.broker
def test_update_answers_the_accepted_document_and_get_the_whole_shadow(base: str) -> None:
    accepted = update(base, "lamp-1", {"state": {"desired": {"on": True}}, "clientToken": "tok-1"}, "light")
    assert accepted.status == 200 and accepted.headers["content-type"] == "application/json"
    doc = accepted.json()
    assert doc["state"] == {"desired": {"on": True}}
    assert doc["metadata"] == {"desired": {"on": {"timestamp": doc["timestamp"]}}}
    assert doc["version"] == 1 and doc["clientToken"] == "tok-1"

    update(base, "lamp-1", {"state": {"reported": {"on": False, "level": 3}}}, "light")
    got = http(base, "GET", "/things/lamp-1/shadow?name=light")
    assert got.status == 200
    shadow = got.json()
    assert set(shadow) == {"state", "metadata", "version", "timestamp"}
    assert shadow["state"] == {
        "desired": {"on": True},
        "reported": {"on": False, "level": 3},
        "delta": {"on": True},
    }
    assert set(shadow["metadata"]["reported"]) == {"on", "level"} and shadow["version"] == 2
    # the classic shadow of the same thing is another document
    assert http(base, "GET", "/things/lamp-1/shadow").status == 404


@pytest.mark.broker
def test_an_update_over_http_reaches_the_devices_as_accepted_documents_and_delta(
    base: str, cloud: LocalCloud
) -> None:
    subscriber = Subscriber(cloud, "$aws/things/lamp-2/shadow/update/#")
    try:
        update(base, "lamp-2", {"state": {"reported": {"on": False}}})
        assert set(subscriber.topics(2)) == {
            "$aws/things/lamp-2/shadow/update/accepted",
            "$aws/things/lamp-2/shadow/update/documents",
        }
        update(base, "lamp-2", {"state": {"desired": {"on": True}}})
        got = subscriber.topics(3)
        assert got["$aws/things/lamp-2/shadow/update/delta"]["state"] == {"on": True}
        assert got["$aws/things/lamp-2/shadow/update/delta"]["version"] == 2
        assert got["$aws/things/lamp-2/shadow/update/documents"]["current"]["version"] == 2
    finally:
        subscriber.close()


@pytest.mark.broker
def test_a_stale_version_is_409_conflict_and_the_current_one_is_accepted(base: str) -> None:
    update(base, "lamp-3", {"state": {"reported": {"on": False}}})
    stale = update(base, "lamp-3", {"state": {"desired": {"on": True}}, "version": 7})
    assert stale.error() == (409, "ConflictException", "Version conflict")
    current = update(base, "lamp-3", {"state": {"desired": {"on": True}}, "version": 1})
    assert current.status == 200 and current.json()["version"] == 2
    assert http(base, "GET", "/things/lamp-3/shadow").json()["state"]["desired"] == {"on": True}


@pytest.mark.parametrize(
    ("body", "status", "kind", "message"),
    [
        (b"{not json", 400, "InvalidRequestException", "Invalid JSON"),
        (b"[1, 2]", 400, "InvalidRequestException", "Invalid JSON"),
        (b"", 400, "InvalidRequestException", "Invalid JSON"),
        (b'{"nostate": 1}', 400, "InvalidRequestException", "Missing required node: state"),
        (b'{"state": 3}', 400, "InvalidRequestException", "State node must be an object"),
        (
            b'{"state": {"delta": {}}}',
            400,
            "InvalidRequestException",
            "State contains an invalid node: 'delta'",
        ),
        (b'{"state": {"desired": 1}}', 400, "InvalidRequestException", "Desired node must be an object"),
        (b'{"state": {}, "version": "7"}', 400, "InvalidRequestException", "Invalid version"),
        (b'{"state": {}, "clientToken": 5}', 400, "InvalidRequestException", "Invalid clientToken"),
        (
            b'{"state": {"desired": {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}}}',
            400,
            "InvalidRequestException",
            "JSON contains too many levels of nesting; maximum is 6",
        ),
        (
            b"\xff\xfe{}",
            415,
            "UnsupportedDocumentEncodingException",
            "Unsupported documented encoding; supported encoding is UTF-8",
        ),
    ],
)
@pytest.mark.broker
def test_a_bad_update_document_gets_aws_error_and_stores_nothing(
    base: str, body: bytes, status: int, kind: str, message: str
) -> None:
    answer = http(base, "POST", "/things/bad-docs/shadow", body)
    assert answer.error() == (status, kind, message)
    assert http(base, "GET", "/things/bad-docs/shadow").status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/things/two%20words/shadow",
        "/things/" + "x" * 129 + "/shadow",
        "/things/ok/shadow?name=no%20spaces",
        "/things/ok/shadow?name=" + "s" * 65,
        "/things/ok/shadow?name=",
    ],
)
@pytest.mark.broker
def test_a_bad_thing_or_shadow_name_is_400_naming_it(base: str, path: str) -> None:
    status, kind, message = http(base, "GET", path).error()
    assert (status, kind) == (400, "InvalidRequestException")
    assert "AWS thing name" in message or "AWS shadow name" in message


@pytest.mark.broker
def test_a_body_over_128_kb_is_413_before_it_is_parsed_and_the_state_limit_is_413_too(base: str) -> None:
    # not JSON at all: refused for its size, so it was never parsed
    over = http(base, "POST", "/things/big/shadow", b"{" * (MAX_BODY + 1))
    assert over.error() == (
        413,
        "RequestEntityTooLargeException",
        "The payload exceeds the maximum size allowed",
    )
    # valid JSON under 128 KB whose state is over the shadow's 8 KB
    big = {"state": {"reported": {"blob": "x" * 9000}}}
    assert update(base, "big", big).error()[:2] == (413, "RequestEntityTooLargeException")
    assert http(base, "GET", "/things/big/shadow").status == 404
    # a publish is bounded the same way
    assert http(base, "POST", "/topics/big", b"x" * (MAX_BODY + 1)).status == 413


@pytest.mark.broker
def test_delete_answers_version_and_timestamp_and_the_version_sequence_continues(
    base: str, cloud: LocalCloud
) -> None:
    update(base, "lamp-4", {"state": {"reported": {"on": True}}}, "cfg")
    subscriber = Subscriber(cloud, "$aws/things/lamp-4/shadow/name/cfg/delete/accepted")
    try:
        deleted = http(base, "DELETE", "/things/lamp-4/shadow?name=cfg")
        assert deleted.status == 200
        assert set(deleted.json()) == {"version", "timestamp"} and deleted.json()["version"] == 2
        assert json.loads(subscriber.next().payload)["version"] == 2
    finally:
        subscriber.close()
    assert http(base, "GET", "/things/lamp-4/shadow?name=cfg").status == 404
    again = http(base, "DELETE", "/things/lamp-4/shadow?name=cfg")
    assert again.error() == (404, "ResourceNotFoundException", "No shadow exists with name: 'cfg'")
    assert update(base, "lamp-4", {"state": {"reported": {"on": True}}}, "cfg").json()["version"] == 3


@pytest.mark.broker
def test_a_method_the_route_does_not_have_is_405(base: str) -> None:
    assert http(base, "PUT", "/things/t/shadow", b"{}").error()[:2] == (405, "MethodNotAllowedException")
    assert http(base, "GET", "/topics/a").error()[:2] == (405, "MethodNotAllowedException")


# --- named shadows -------------------------------------------------------------------------------
@pytest.mark.broker
def test_list_named_shadows_pages_through_every_name_once(base: str) -> None:
    names = ["a-one", "b-two", "c-three", "d-four", "e-five"]
    update(base, "multi", {"state": {"reported": {"x": 1}}})  # the classic shadow is not listed
    for name in reversed(names):
        update(base, "multi", {"state": {"reported": {"x": 1}}}, name)
    seen, pages, token = [], [], None
    while True:
        query = "?pageSize=2" + ("" if token is None else f"&nextToken={urllib.parse.quote(token)}")
        answer = http(base, "GET", f"/api/things/shadow/ListNamedShadowsForThing/multi{query}")
        assert answer.status == 200
        page = answer.json()
        assert isinstance(page["timestamp"], int)
        pages.append(page["results"])
        seen += page["results"]
        token = page.get("nextToken")
        if token is None:
            break
    assert pages == [names[:2], names[2:4], names[4:]]
    assert seen == names
    everything = http(base, "GET", "/api/things/shadow/ListNamedShadowsForThing/multi").json()
    assert everything["results"] == names and "nextToken" not in everything


@pytest.mark.broker
def test_a_thing_without_named_shadows_lists_none(base: str) -> None:
    answer = http(base, "GET", "/api/things/shadow/ListNamedShadowsForThing/nobody")
    assert answer.status == 200 and answer.json()["results"] == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("pageSize=0", "pageSize argument must be between 1 and 100"),
        ("pageSize=101", "pageSize argument must be between 1 and 100"),
        ("pageSize=two", "pageSize argument must be between 1 and 100"),
        ("nextToken=garbage!", "Invalid nextToken argument"),
        (f"nextToken={page_token('someone-else', 'a')}", "Invalid nextToken argument"),
    ],
)
@pytest.mark.broker
def test_bad_paging_arguments_are_400(base: str, query: str, message: str) -> None:
    answer = http(base, "GET", f"/api/things/shadow/ListNamedShadowsForThing/multi2?{query}")
    assert answer.error() == (400, "InvalidRequestException", message)


# --- publish -------------------------------------------------------------------------------------
@pytest.mark.broker
def test_publish_reaches_mqtt_subscribers_with_its_payload_and_qos(base: str, cloud: LocalCloud) -> None:
    subscriber = Subscriber(cloud, "app/#")
    try:
        answer = http(base, "POST", "/topics/app%2Fnews?qos=1", b"\x00binary\xff")
        assert answer.status == 200
        assert answer.json() == {"message": "OK", "traceId": answer.headers["x-amzn-requestid"]}
        message = subscriber.next()
        assert (message.topic, message.payload, message.qos) == ("app/news", b"\x00binary\xff", 1)
        assert http(base, "POST", "/topics/app%2Fwith%20space", b"").status == 200
        assert subscriber.next().topic == "app/with space"
    finally:
        subscriber.close()


@pytest.mark.broker
def test_a_publish_on_a_shadow_request_topic_is_served_by_the_shadow_service(base: str) -> None:
    topic = urllib.parse.quote("$aws/things/via-mqtt/shadow/update", safe="")
    body = json.dumps({"state": {"reported": {"on": True}}}).encode()
    assert http(base, "POST", f"/topics/{topic}?qos=1", body).status == 200
    for _ in range(100):
        got = http(base, "GET", "/things/via-mqtt/shadow")
        if got.status == 200:
            break
        time.sleep(0.05)
    assert got.json()["state"]["reported"] == {"on": True}


@pytest.mark.parametrize(
    ("topic", "status", "kind"),
    [
        ("a/+/b", 400, "InvalidRequestException"),
        ("a/#", 400, "InvalidRequestException"),
        ("", 400, "InvalidRequestException"),
        ("t" * 257, 400, "InvalidRequestException"),
        ("/".join("abcdefghi"), 400, "InvalidRequestException"),  # 8 slashes
        ("nul\x00here", 400, "InvalidRequestException"),
        ("$aws/things/x/shadow/update/accepted", 403, "ForbiddenException"),
        ("$aws/events/presence/connected/x", 403, "ForbiddenException"),
        ("$SYS/broker", 403, "ForbiddenException"),
    ],
)
@pytest.mark.broker
def test_publish_refuses_what_is_not_a_topic_a_client_may_publish_to(
    base: str, topic: str, status: int, kind: str
) -> None:
    answer = http(base, "POST", "/topics/" + urllib.parse.quote(topic, safe=""), b"x")
    assert answer.error()[:2] == (status, kind)


@pytest.mark.broker
def test_publish_checks_qos_retain_and_utf8(base: str) -> None:
    assert http(base, "POST", "/topics/a?qos=2", b"").error() == (
        400,
        "InvalidRequestException",
        "qos must be 0 or 1",
    )
    assert http(base, "POST", "/topics/a?retain=maybe", b"").error()[0] == 400
    assert http(base, "POST", "/topics/bad%FFutf8", b"").error() == (
        400,
        "InvalidRequestException",
        "The topic name is not UTF-8",
    )
    basic_ingest = urllib.parse.quote("$aws/rules/my_rule/a/b/c/d/e/f/g", safe="")
    assert http(base, "POST", f"/topics/{basic_ingest}", b"{}").status == 200


# --- signatures ----------------------------------------------------------------------------------
@pytest.mark.broker
def test_a_request_signed_with_the_key_is_served(signed_base: str) -> None:
    body = json.dumps({"state": {"reported": {"on": True}}}).encode()
    assert http(signed_base, "POST", "/things/th:1/shadow?name=s-1", body, sign=RIGHT).status == 200
    got = http(signed_base, "GET", "/things/th:1/shadow?name=s-1", sign=RIGHT)
    assert got.status == 200 and got.json()["state"]["reported"] == {"on": True}
    listed = http(
        signed_base, "GET", "/api/things/shadow/ListNamedShadowsForThing/th:1?pageSize=1", sign=RIGHT
    )
    assert listed.json()["results"] == ["s-1"]
    topic = urllib.parse.quote("app/a b/c", safe="")
    assert http(signed_base, "POST", f"/topics/{topic}?qos=1&retain=false", b"hi", sign=RIGHT).status == 200
    # AWS's guide names the service iotdevicegateway; that scope is accepted too
    assert (
        http(
            signed_base, "GET", "/things/th:1/shadow?name=s-1", sign=RIGHT, service="iotdevicegateway"
        ).status
        == 200
    )


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        (None, "Missing Authentication Token"),
        (Credentials(KEY.id, "wrong-secret"), SIGNATURE_MISMATCH),
        (Credentials("AKIDSOMEONEELSE", KEY.secret), UNKNOWN_KEY),
    ],
)
@pytest.mark.broker
def test_a_request_without_the_right_signature_is_403_forbidden(
    signed_base: str, credentials: Credentials | None, message: str
) -> None:
    answer = http(signed_base, "GET", "/things/th:1/shadow", sign=credentials)
    assert answer.error() == (403, "ForbiddenException", message)


@pytest.mark.broker
def test_a_body_changed_after_signing_or_a_wrong_service_scope_is_refused(signed_base: str) -> None:
    aws = AWSRequest(method="POST", url=signed_base + "/topics/a", data=b"signed")
    SigV4Auth(RIGHT, "iotdata", "us-east-1").add_auth(aws)
    request = urllib.request.Request(
        signed_base + "/topics/a", data=b"changed", headers=dict(aws.headers.items())
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=WAIT)
    assert refused.value.code == 403 and json.loads(refused.value.read())["message"] == SIGNATURE_MISMATCH
    scoped = http(signed_base, "GET", "/things/th:1/shadow", sign=RIGHT, service="iot")
    assert scoped.error() == (
        403,
        "ForbiddenException",
        "Credential should be scoped to correct service: 'iotdata'.",
    )


@pytest.mark.broker
def test_the_clock_may_be_off_by_15_minutes_and_no_more(signed_base: str) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    path = "/api/things/shadow/ListNamedShadowsForThing/th:1"
    for minutes in (-14, 14):
        assert (
            http(signed_base, "GET", path, sign=RIGHT, when=now + datetime.timedelta(minutes=minutes)).status
            == 200
        )
    old = http(signed_base, "GET", path, sign=RIGHT, when=now - datetime.timedelta(minutes=16)).error()
    assert old[:2] == (403, "ForbiddenException") and old[2].startswith("Signature expired: ")
    assert old[2].endswith(" - 15 min.)")
    future = http(signed_base, "GET", path, sign=RIGHT, when=now + datetime.timedelta(minutes=16)).error()
    assert future[2].startswith("Signature not yet current: ") and future[2].endswith(" + 15 min.)")


@pytest.mark.broker
def test_an_oversized_body_is_413_even_before_the_signature_is_checked(signed_base: str) -> None:
    assert http(signed_base, "POST", "/topics/a", b"x" * (MAX_BODY + 1)).status == 413


# --- commands (AWS IoT's commands feature: iot and iot-jobs-data calls) -----------------------------
def create_command(base: str, command_id: str, payload: Any, **extra: Any) -> Answer:
    content = base64.b64encode(json.dumps(payload).encode()).decode()
    body = {
        "namespace": "AWS-IoT",
        "payload": {"content": content, "contentType": "application/json"},
        **extra,
    }
    return http(base, "PUT", f"/commands/{command_id}", json.dumps(body).encode())


def start(base: str, thing: str, command_arn: str, **extra: Any) -> Answer:
    body = {
        "targetArn": f"arn:aws:iot:eu-west-1:123456789012:thing/{thing}",
        "commandArn": command_arn,
        **extra,
    }
    return http(base, "POST", "/command-executions", json.dumps(body).encode())


def execution(base: str, thing: str, execution_id: str, *, settled: bool = True) -> dict[str, Any]:
    """GetCommandExecution's answer, polled until the execution left CREATED (if ``settled``)."""
    target = urllib.parse.quote(f"arn:aws:iot:eu-west-1:123456789012:thing/{thing}", safe="")
    for _ in range(200):
        answer = http(base, "GET", f"/command-executions/{execution_id}?targetArn={target}")
        assert answer.status == 200, answer.body
        got: dict[str, Any] = answer.json()
        if not settled or got["status"] != "CREATED":
            return got
        time.sleep(0.02)
    raise AssertionError(f"execution {execution_id} stayed CREATED: {got}")


class CommandDevice:
    """A paho client in a thing's place on the commands topics: it records each request and
    answers it with ``answer`` (or not at all, when that is None)."""

    def __init__(self, cloud: LocalCloud, thing: str, answer: dict[str, Any] | None) -> None:
        self.requests: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.subscriber = Subscriber(cloud, f"$aws/commands/things/{thing}/executions/+/request/#")
        self.subscriber.client.on_message = self._on_message
        self.answer, self.thing = answer, thing

    def _on_message(self, client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        execution_id = message.topic.split("/")[5]
        self.requests.put((execution_id, json.loads(message.payload)))
        if self.answer is not None:
            topic = f"$aws/commands/things/{self.thing}/executions/{execution_id}/response/json"
            client.publish(topic, json.dumps(self.answer), qos=1)

    def close(self) -> None:
        self.subscriber.close()


@pytest.mark.broker
def test_a_command_reaches_the_device_with_its_parameters_and_its_result_comes_back(
    base: str, cloud: LocalCloud
) -> None:
    payload = {"service": "smokeDetector", "command": "ringAlarm", "params": {"duration": 3, "loud": True}}
    created = create_command(base, "ring", payload, displayName="Ring")
    assert created.status == 200
    arn = created.json()["commandArn"]
    assert created.json() == {"commandId": "ring", "commandArn": arn} and arn.endswith(":command/ring")
    got = http(base, "GET", "/commands/ring").json()
    assert base64.b64decode(got["payload"]["content"]) == json.dumps(payload).encode()
    assert got["displayName"] == "Ring" and got["namespace"] == "AWS-IoT"

    device = CommandDevice(
        cloud, "cmd-1", {"status": "SUCCEEDED", "result": {"rang": {"s": "5"}, "ok": {"b": True}}}
    )
    try:
        started = start(base, "cmd-1", arn, parameters={"duration": {"L": 5}})
        assert started.status == 200
        execution_id = started.json()["executionId"]
        seen_id, request = device.requests.get(timeout=WAIT)
        assert seen_id == execution_id
        assert request == {
            "service": "smokeDetector",
            "command": "ringAlarm",
            "params": {"duration": 5, "loud": True},
        }
        done = execution(base, "cmd-1", execution_id)
    finally:
        device.close()
    assert done["status"] == "SUCCEEDED" and done["result"] == {"rang": {"S": "5"}, "ok": {"B": True}}
    assert done["parameters"] == {"duration": {"L": 5}} and done["executionTimeoutSeconds"] == 10
    assert done["commandArn"] == arn and done["targetArn"].endswith(":thing/cmd-1")
    assert done["completedAt"] >= done["createdAt"]
    # the same clientToken starts nothing new; with other parameters it is a conflict
    again = [start(base, "cmd-1", arn, clientToken="tok-9").json()["executionId"] for _ in range(2)]
    assert again[0] == again[1]
    other = start(base, "cmd-1", arn, clientToken="tok-9", parameters={"duration": {"L": 1}})
    assert other.error()[:2] == (409, "ConflictException")


@pytest.mark.broker
def test_a_failed_command_and_a_silent_device_are_failed_and_timed_out(base: str, cloud: LocalCloud) -> None:
    arn = create_command(base, "reboot", {"command": "reboot"}).json()["commandArn"]
    failing = {"status": "FAILED", "statusReason": {"reasonCode": "BUSY", "reasonDescription": "not now"}}
    device = CommandDevice(cloud, "cmd-2", failing)
    try:
        failed = execution(base, "cmd-2", start(base, "cmd-2", arn).json()["executionId"])
    finally:
        device.close()
    assert failed["status"] == "FAILED" and "result" not in failed
    assert failed["statusReason"] == {"reasonCode": "COMMAND_FAILED", "reasonDescription": "not now"}

    silent = start(base, "cmd-nobody", arn, executionTimeoutSeconds=2).json()["executionId"]
    assert execution(base, "cmd-nobody", silent, settled=False)["status"] == "CREATED"
    time.sleep(2.1)
    timed_out = execution(base, "cmd-nobody", silent)
    assert timed_out["status"] == "TIMED_OUT"
    assert timed_out["statusReason"]["reasonCode"] == "$NO_RESPONSE_FROM_DEVICE"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "kind"),
    [
        ("GET", "/commands/missing", None, 404, "ResourceNotFoundException"),
        ("DELETE", "/commands/missing", None, 404, "ResourceNotFoundException"),
        ("PUT", "/commands/bad%20id", {"payload": {"content": "e30="}}, 400, "ValidationException"),
        ("PUT", "/commands/no-payload", {}, 400, "ValidationException"),
        ("PUT", "/commands/not-ours", {"payload": {"content": "e30="}}, 400, "ValidationException"),
        ("PUT", "/commands/not-b64", {"payload": {"content": "!!"}}, 400, "ValidationException"),
        ("PUT", "/commands/fleetwise", {"namespace": "AWS-IoT-FleetWise"}, 400, "ValidationException"),
        ("POST", "/command-executions", {"targetArn": "arn:aws:iot:r:1:thing/t"}, 400, "ValidationException"),
        (
            "POST",
            "/command-executions",
            {"targetArn": "arn:aws:iot:r:1:client/c", "commandArn": "arn:aws:iot:r:1:command/x"},
            400,
            "ValidationException",
        ),
        (
            "POST",
            "/command-executions",
            {"targetArn": "arn:aws:iot:r:1:thing/t", "commandArn": "arn:aws:iot:r:1:command/missing"},
            404,
            "ResourceNotFoundException",
        ),
        (
            "GET",
            "/command-executions/missing?targetArn=arn:aws:iot:r:1:thing/t",
            None,
            404,
            "ResourceNotFoundException",
        ),
        ("PUT", "/command-executions/x", None, 405, "MethodNotAllowedException"),
    ],
)
@pytest.mark.broker
def test_bad_commands_calls_get_aws_iot_errors(
    base: str, method: str, path: str, body: Any, status: int, kind: str
) -> None:
    data = None if body is None else json.dumps(body).encode()
    assert http(base, method, path, data).error()[:2] == (status, kind)


@pytest.mark.broker
def test_a_command_id_is_created_once_and_can_be_deleted(base: str) -> None:
    assert create_command(base, "once", {"command": "x"}).status == 200
    assert create_command(base, "once", {"command": "x"}).error()[:2] == (409, "ConflictException")
    assert http(base, "DELETE", "/commands/once").status == 200
    assert http(base, "GET", "/commands/once").status == 404


@pytest.mark.broker
def test_commands_calls_are_signed_for_iot_and_iot_jobs_data(signed_base: str) -> None:
    content = base64.b64encode(b'{"command": "x"}').decode()
    body = json.dumps({"payload": {"content": content}}).encode()
    assert http(signed_base, "PUT", "/commands/signed", body, sign=RIGHT, service="iot").status == 200
    assert http(signed_base, "GET", "/commands/signed", sign=RIGHT, service="iot").status == 200
    wrong = http(signed_base, "GET", "/commands/signed", sign=RIGHT, service="iotdata").error()
    assert wrong == (
        403,
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'iot'.",
    )
    stranger = http(signed_base, "GET", "/commands/signed", sign=Credentials("AKIDOTHER", "x"), service="iot")
    assert stranger.error() == (403, "UnrecognizedClientException", UNKNOWN_KEY)
    assert http(signed_base, "GET", "/commands/signed").error()[:2] == (
        403,
        "MissingAuthenticationTokenException",
    )
    run = json.dumps({"targetArn": "arn:aws:iot:r:1:thing/t", "commandArn": "arn:aws:iot:r:1:command/signed"})
    assert (
        http(
            signed_base, "POST", "/command-executions", run.encode(), sign=RIGHT, service="iot-jobs-data"
        ).status
        == 200
    )


# --- hostile input: AWS's error every time, never a 500 ------------------------------------------
HOSTILE = [
    ("POST", "/things/t/shadow", b'{"state": {"reported": {"a": NaN}}}'),
    ("POST", "/things/t/shadow", b'{"state": {"reported": {"a": 1e999}}}'),
    ("POST", "/things/t/shadow", b'{"state": {"reported": {"\\ud800": 1}}}'),
    ("POST", "/things/t/shadow", b"[" * 100_000),
    ("POST", "/things/t/shadow", b'{"state": {"reported": {"a": 1}}, "clientToken": "' + b"x" * 100 + b'"}'),
    ("GET", "/things/t/shadow?name=%ZZ", None),
    ("GET", "/things/t/shadow?name=%00", None),
    ("GET", "/api/things/shadow/ListNamedShadowsForThing/t?pageSize=%00&nextToken=%FF", None),
    ("GET", "/api/things/shadow/ListNamedShadowsForThing/t?nextToken=" + "A" * 5000, None),
    (
        "GET",
        "/api/things/shadow/ListNamedShadowsForThing/t?nextToken=" + base64.b64encode(b"[" * 3000).decode(),
        None,
    ),
    ("GET", "/api/things/shadow/ListNamedShadowsForThing/t?pageSize=" + "9" * 40, None),
    ("POST", "/topics/%ED%A0%80", b""),
    ("POST", "/topics/" + "%2F" * 300, b""),
    ("POST", "/command-executions", b"[]"),
    ("POST", "/command-executions", b'{"targetArn": 5}'),
    ("PUT", "/commands/c1", b'{"payload": {"content": "eyJjb21tYW5kIjoiYSIsInBhcmFtcyI6WzFdfQ=="}}'),
    ("PUT", "/commands/c2", b'{"payload": {"content": "eyJjb21tYW5kIjoiYSJ9", "contentType": 5}}'),
    ("PUT", "/commands/c3", b'{"payload": {"content": "eyJjb21tYW5kIjoiYSJ9"}, "displayName": []}'),
    ("GET", "/command-executions/x", None),
]


@pytest.mark.parametrize("parser", ["default", "stdlib"])
@pytest.mark.parametrize(("method", "path", "body"), HOSTILE)
@pytest.mark.broker
def test_hostile_input_gets_an_aws_error_and_no_traceback(
    base: str,
    method: str,
    path: str,
    body: bytes | None,
    parser: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if parser == "stdlib":  # the standard library's JSON parser takes NaN and lone surrogates
        monkeypatch.setattr(jsonwire, "_orjson", None)
    with caplog.at_level(logging.ERROR):
        status, kind, message = http(base, method, path, body).error()
    assert 400 <= status < 500 and kind.endswith("Exception") and "Traceback" not in message
    assert not caplog.records


@given(st.text(max_size=300), st.text(max_size=40), st.binary(max_size=64))
@settings(max_examples=300, deadline=None)
def test_signature_checks_never_raise_whatever_the_headers(
    authorization: str, date: str, body: bytes
) -> None:
    headers = [("Authorization", authorization), ("X-Amz-Date", date), ("Date", date), ("Host", "h")]
    found = signature_problem(
        KEY, method="POST", raw_path="/a%2Fb", query="x=%ZZ&&", headers=headers, body=body, now=0
    )
    assert isinstance(found, str) and KEY.secret not in found


# --- SigV4, as pure functions, against botocore's signer -----------------------------------------
NOW = datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.timezone.utc)


def botocore_signed(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    credentials: Credentials = RIGHT,
    service: str = "iotdata",
    region: str = "ap-southeast-1",
    headers: dict[str, str] | None = None,
) -> tuple[AWSRequest, str]:
    """A request botocore signed at NOW, and botocore's own canonical request for it."""
    aws = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    signer = SigV4Auth(credentials, service, region)
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        signer.add_auth(aws)
    signed = aws.headers["Authorization"]
    del aws.headers["Authorization"]  # what botocore signed did not hold it yet
    canonical = signer.canonical_request(aws)
    aws.headers["Authorization"] = signed
    return aws, canonical


def problem(aws: AWSRequest, *, now: datetime.datetime = NOW, body: bytes | None = None) -> str | None:
    parts = urllib.parse.urlsplit(aws.url)
    headers = [(name, value) for name, value in aws.headers.items()]
    headers.append(("Host", parts.netloc))  # the HTTP client adds it
    return signature_problem(
        KEY,
        method=aws.method,
        raw_path=parts.path,
        query=parts.query,
        headers=headers,
        body=(aws.body or b"") if body is None else body,
        now=now.timestamp(),
    )


SIGNED_REQUESTS = [
    ("GET", "http://127.0.0.1:8080/things/t1/shadow", b""),
    ("GET", "http://127.0.0.1:8080/things/t:1_x-y/shadow?name=cfg", b""),
    ("POST", "http://127.0.0.1:8080/things/t1/shadow?name=s1", b'{"state":{"desired":{"a":1}}}'),
    ("DELETE", "http://localhost/things/t1/shadow", b""),
    ("POST", "http://127.0.0.1:8080/topics/a%2Fb%20c%2F%24x?qos=1&retain=true", b"\x00\x01 payload"),
    ("POST", "http://127.0.0.1:8080/topics/%24aws%2Fthings%2Ft%2Fshadow%2Fupdate", b"{}"),
    (
        "GET",
        "http://127.0.0.1:8080/api/things/shadow/ListNamedShadowsForThing/t1?pageSize=5&nextToken=ab%2Bc%3D%3D",
        b"",
    ),
]


@pytest.mark.parametrize(("method", "url", "body"), SIGNED_REQUESTS)
def test_canonical_request_is_the_one_botocore_signs(method: str, url: str, body: bytes) -> None:
    aws, theirs = botocore_signed(method, url, body)
    parts = urllib.parse.urlsplit(url)
    headers = list(aws.headers.items())
    signed = [name.lower() for name in ["host", *aws.headers.keys()] if name.lower() != "authorization"]
    ours = canonical_request(
        method,
        parts.path,
        parts.query,
        [*headers, ("host", parts.netloc)],
        sorted(set(signed)),
        hashlib.sha256(body).hexdigest(),
    )
    assert ours == theirs


@pytest.mark.parametrize(("method", "url", "body"), SIGNED_REQUESTS)
def test_every_request_botocore_signs_with_the_key_is_accepted(method: str, url: str, body: bytes) -> None:
    aws, _ = botocore_signed(method, url, body)
    assert problem(aws) is None
    assert (
        problem(botocore_signed(method, url, body, region="cn-north-1", service="iotdevicegateway")[0])
        is None
    )


def test_a_changed_method_path_query_header_or_body_breaks_the_signature() -> None:
    url = "http://127.0.0.1:8080/things/t1/shadow?name=s1"
    aws, _ = botocore_signed("POST", url, b"{}", headers={"X-Custom": "one"})
    assert problem(aws) is None
    assert problem(aws, body=b"{ }") == SIGNATURE_MISMATCH
    for field, value in (
        ("method", "PUT"),
        ("url", url.replace("s1", "s2")),
        ("url", url.replace("t1", "t2")),
    ):
        changed = AWSRequest(method=aws.method, url=aws.url, data=aws.body, headers=dict(aws.headers.items()))
        setattr(changed, field, value)
        assert problem(changed) == SIGNATURE_MISMATCH, field
    aws.headers.replace_header("X-Custom", "two")
    assert problem(aws) == SIGNATURE_MISMATCH


def test_a_date_header_signs_as_well_as_x_amz_date() -> None:
    date = "Wed, 04 Mar 2026 05:06:07 GMT"
    aws, _ = botocore_signed("GET", "http://127.0.0.1:8080/things/t1/shadow", headers={"Date": date})
    assert "X-Amz-Date" not in aws.headers and problem(aws) is None


def test_the_declared_payload_hash_must_be_the_bodys_or_unsigned() -> None:
    url = "http://127.0.0.1:8080/topics/a"
    declared = {"X-Amz-Content-SHA256": hashlib.sha256(b"body").hexdigest()}
    assert problem(botocore_signed("POST", url, b"body", headers=declared)[0]) is None
    unsigned = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    assert problem(botocore_signed("POST", url, b"anything", headers=unsigned)[0]) is None
    lying, _ = botocore_signed("POST", url, b"body", headers=declared)
    assert problem(lying, body=b"other") == (
        "The provided 'x-amz-content-sha256' header does not match what was computed."
    )


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        ("Basic dXNlcjpwYXNz", "Unsupported signing algorithm 'Basic': only AWS4-HMAC-SHA256 is accepted"),
        (
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + "0" * 64,
            "Authorization header requires 'Credential' parameter.",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY.id}/20260304/r/iotdata/aws4_request, Signature=" + "0" * 64,
            "Authorization header requires 'SignedHeaders' parameter.",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY.id}/20260304/r/iotdata/aws4_request, SignedHeaders=host, "
            "Signature=xyz",
            "Signature must be 64 lowercase hex digits",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY.id}/20260304/iotdata/aws4_request, SignedHeaders=host, "
            "Signature=" + "0" * 64,
            "Credential must be KEY-ID/YYYYMMDD/REGION/SERVICE/aws4_request, "
            "not '20260304/iotdata/aws4_request'",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY.id}/20260304/r/iotdata/aws5_request, SignedHeaders=host, "
            "Signature=" + "0" * 64,
            "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'.",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY.id}/20260304/r/iotdata/aws4_request, "
            "SignedHeaders=x-amz-date, Signature=" + "0" * 64,
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY.id}/20260305/r/iotdata/aws4_request, SignedHeaders=host, "
            "Signature=" + "0" * 64,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            "'20260305' != '20260304', from '20260304T050607Z'.",
        ),
    ],
)
def test_a_malformed_authorization_header_is_refused_with_the_reason(
    authorization: str, message: str
) -> None:
    headers = [("Authorization", authorization), ("X-Amz-Date", "20260304T050607Z"), ("Host", "h")]
    found = signature_problem(
        KEY, method="GET", raw_path="/", query="", headers=headers, body=b"", now=NOW.timestamp()
    )
    assert found == message


def test_a_signed_request_without_a_date_is_refused() -> None:
    auth = f"AWS4-HMAC-SHA256 Credential={KEY.id}/20260304/r/iotdata/aws4_request, SignedHeaders=host, "
    headers = [("Authorization", auth + "Signature=" + "0" * 64), ("Host", "h")]
    found = signature_problem(
        KEY, method="GET", raw_path="/", query="", headers=headers, body=b"", now=NOW.timestamp()
    )
    assert found == "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."


def test_the_secret_is_never_in_a_refusal() -> None:
    aws, _ = botocore_signed("GET", "http://h/things/t/shadow", credentials=Credentials(KEY.id, "other"))
    for now in (NOW, NOW + datetime.timedelta(hours=1)):
        found = problem(aws, now=now)
        assert found is not None and KEY.secret not in found and "other" not in found
