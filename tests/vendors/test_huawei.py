"""The Huawei IoTDA codec: golden fixtures from the IoTDA docs and SDK, malformed input, credentials.

Each ``tests/fixtures/huawei/NN-scenario.json`` holds one (topic, payload) pair taken from the
reference notes and the neutral event or action it stands for. Downlinks: the device half
decodes them into that event and the platform half encodes the equivalent request to the same
topic and an equivalent payload. Uplinks: the device half encodes the action to them and the
platform half decodes them into the equivalent event. Payloads are compared as parsed JSON; keys
listed in ``may_omit`` (``object_device_id``, ``event_time`` ...) may be left out by our encoders.
Where the platform half's message is not the plain counterpart of the device half's, the fixture
names it (``platform``: the answer it encodes to a downlink, or what it decodes an uplink into),
and a downlink that decodes into several events lists them (``events``). The platform half runs
on the golden clock.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thingmodel import CodecError, InvalidValue
from thingmodel.protocol import messages as ev
from thingmodel.protocol.topics import topic_matches
from thingmodel.vendors import device_codec, platform_codec
from thingmodel.vendors.huawei import (
    MAX_PAYLOAD,
    HuaweiDevice,
    HuaweiPlatform,
    client_id,
    password,
    timestamp,
)

from . import golden

DEVICE = "dev-1"
PREFIX = f"$oc/devices/{DEVICE}/sys/"

ALL = golden.fixture_paths("huawei")
DOWN = [p for p in ALL if golden.load(p)["direction"] == "down"]
UP = [p for p in ALL if golden.load(p)["direction"] == "up"]


def _device_id(topic: str) -> str:
    return topic.split("/")[2]


def _platform_action(event: Any, device_id: str) -> Any:
    """The platform request that a device event stands for."""
    if isinstance(event, ev.DesiredChange):
        return ev.PushDesired(device_id, event.request_id, event.services)
    if isinstance(event, ev.PropertyRead):
        return ev.AskRead(device_id, event.request_id, event.service_id)
    if isinstance(event, ev.CommandRequest):
        return ev.SendCommand(device_id, event.request_id, event.service_id, event.name, event.params)
    if isinstance(event, ev.ShadowSnapshot):
        return ev.AnswerShadow(device_id, event.request_id, event.services)
    raise LookupError(f"the platform half has no request for {event!r}")


def _events(fixture: dict[str, Any], wire: bytes) -> list[Any]:
    """What the device half decodes a downlink fixture into."""
    if "events" in fixture:
        return [golden.build(e, wire) for e in fixture["events"]]
    return [golden.build(fixture["event"], wire)]


def _platform_sends(fixture: dict[str, Any]) -> Any:
    """The platform message a downlink fixture stands for."""
    if "platform" in fixture:
        return golden.build(fixture["platform"])
    return _platform_action(
        golden.build(fixture["event"], golden.wire(fixture)), _device_id(fixture["topic"])
    )


def _platform_reads(fixture: dict[str, Any]) -> Any:
    """The platform event an uplink fixture stands for."""
    if "platform" in fixture:
        return golden.build(fixture["platform"])
    return _platform_event(
        golden.build(fixture["action"], golden.wire(fixture)), _device_id(fixture["topic"])
    )


def platform() -> HuaweiPlatform:
    return HuaweiPlatform(clock=golden.fixed_clock)


def _platform_event(action: Any, device_id: str) -> Any:
    """The platform event that a device action stands for."""
    if isinstance(action, ev.ReportProperties):
        return ev.Reported(device_id, action.services)
    if isinstance(action, ev.AckDesired):
        return ev.DesiredAcked(device_id, action.request_id, action.errors, 0 if action.ok else 1)
    if isinstance(action, ev.ReadResponse):
        return ev.ReadAnswered(device_id, action.request_id, action.services)
    if isinstance(action, ev.CommandResponse):
        return ev.CommandAnswered(device_id, action.request_id, action.code, action.params, action.name)
    if isinstance(action, ev.RequestShadow):
        return ev.ShadowRequested(device_id, action.request_id, action.service_id)
    if isinstance(action, ev.EmitEvent):
        return ev.EventUp(device_id, action.service_id, action.event_type, action.params)
    if isinstance(action, ev.SendMessage):
        return ev.MessageUp(device_id, action.payload)
    raise LookupError(f"no platform event for {action!r}")


# -- golden fixtures -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", DOWN, ids=golden.ids(DOWN))
def test_device_decodes_a_documented_downlink_into_its_event(path: Path) -> None:
    fixture = golden.load(path)
    device = HuaweiDevice(_device_id(fixture["topic"]))
    wire = golden.wire(fixture)
    assert device.decode(fixture["topic"], wire) == _events(fixture, wire)


PLATFORM_SENDS = [
    p
    for p in DOWN
    if "platform" in golden.load(p) or golden.load(p)["event"]["type"] not in ("CloudEvent", "CloudMessage")
]


@pytest.mark.parametrize("path", PLATFORM_SENDS, ids=golden.ids(PLATFORM_SENDS))
def test_platform_encodes_a_downlink_to_the_documented_topic_and_payload(path: Path) -> None:
    fixture = golden.load(path)
    [out] = platform().encode(_platform_sends(fixture))
    golden.assert_equivalent(out, fixture)


@pytest.mark.parametrize("path", PLATFORM_SENDS, ids=golden.ids(PLATFORM_SENDS))
def test_what_the_platform_sends_decodes_back_into_the_same_event(path: Path) -> None:
    fixture = golden.load(path)
    [out] = platform().encode(_platform_sends(fixture))
    decoded = HuaweiDevice(_device_id(fixture["topic"])).decode(out.topic, out.payload)
    assert decoded == _events(fixture, golden.wire(fixture))


@pytest.mark.parametrize("path", UP, ids=golden.ids(UP))
def test_device_encodes_an_action_to_the_documented_topic_and_payload(path: Path) -> None:
    fixture = golden.load(path)
    device = HuaweiDevice(_device_id(fixture["topic"]))
    [out] = device.encode(golden.build(fixture["action"], golden.wire(fixture)))
    golden.assert_equivalent(out, fixture)


@pytest.mark.parametrize("path", UP, ids=golden.ids(UP))
def test_platform_decodes_a_documented_uplink_into_the_equivalent_event(path: Path) -> None:
    fixture = golden.load(path)
    assert platform().decode(fixture["topic"], golden.wire(fixture)) == [_platform_reads(fixture)]


def test_the_codec_factories_give_the_huawei_halves() -> None:
    assert isinstance(device_codec("huawei", device_id=DEVICE), HuaweiDevice)
    assert isinstance(platform_codec("huawei"), HuaweiPlatform)
    with pytest.raises(ValueError, match="unknown vendor"):
        device_codec("acme", device_id=DEVICE)


# -- details of the wire format --------------------------------------------------------------------
def test_a_refused_write_is_answered_with_a_nonzero_result_code_naming_every_reason() -> None:
    errors = {"alarm": "2 is above the maximum 1", "temperature": "read-only property"}
    [out] = HuaweiDevice(DEVICE).encode(ev.AckDesired("r9", errors))
    body = json.loads(out.payload)
    assert out.topic == PREFIX + "properties/set/response/request_id=r9"
    assert body["result_code"] != 0
    assert "alarm" in body["result_desc"] and "2 is above the maximum 1" in body["result_desc"]
    assert "temperature" in body["result_desc"] and "read-only property" in body["result_desc"]


def test_the_platform_reads_back_every_reason_of_a_refused_write() -> None:
    errors = {"alarm": "2 is above the maximum 1", "colour": "unknown property of s (known: alarm)"}
    [out] = HuaweiDevice(DEVICE).encode(ev.AckDesired("r9", errors))
    [acked] = HuaweiPlatform().decode(out.topic, out.payload)
    assert isinstance(acked, ev.DesiredAcked)
    assert not acked.ok
    assert dict(acked.errors) == errors


def test_the_platform_reads_back_a_refused_name_that_contains_a_colon() -> None:
    errors = {"mode: eco": "unknown property of s (known: mode)"}
    [out] = HuaweiDevice(DEVICE).encode(ev.AckDesired("r9", errors))
    [acked] = HuaweiPlatform().decode(out.topic, out.payload)
    assert dict(acked.errors) == errors


def test_the_platform_sees_a_huawei_sdk_failure_response_as_a_refusal() -> None:
    body = {"result_code": -1, "result_desc": "property not found or not writeable: alarm"}
    [acked] = HuaweiPlatform().decode(
        PREFIX + "properties/set/response/request_id=r1", json.dumps(body).encode()
    )
    assert isinstance(acked, ev.DesiredAcked)
    assert not acked.ok and acked.code == -1
    assert "property not found or not writeable: alarm" in "\n".join(
        f"{k}: {v}" for k, v in acked.errors.items()
    )


def test_a_command_response_without_result_code_counts_as_success() -> None:
    [answered] = HuaweiPlatform().decode(PREFIX + "commands/response/request_id=r1", b'{"paras": {"x": 1}}')
    assert answered == ev.CommandAnswered(DEVICE, "r1", 0, {"x": 1}, "")


def test_a_command_without_service_id_or_paras_decodes_with_empty_params() -> None:
    [request] = HuaweiDevice(DEVICE).decode(PREFIX + "commands/request_id=r1", b'{"command_name": "reboot"}')
    assert request == ev.CommandRequest("r1", None, "reboot", {})


def test_a_property_get_without_service_id_asks_for_every_service() -> None:
    [read] = HuaweiDevice(DEVICE).decode(PREFIX + "properties/get/request_id=r1", b"{}")
    assert read == ev.PropertyRead("r1", None)


def test_a_shadow_request_for_all_services_has_an_empty_body() -> None:
    [out] = HuaweiDevice(DEVICE).encode(ev.RequestShadow("r1"))
    assert out.topic == PREFIX + "shadow/get/request_id=r1"
    assert json.loads(out.payload) == {}


def test_one_report_carries_several_services() -> None:
    [out] = HuaweiDevice(DEVICE).encode(ev.ReportProperties({"a": {"x": 1}, "b": {"y": "z"}}))
    assert json.loads(out.payload) == {
        "services": [
            {"service_id": "a", "properties": {"x": 1}},
            {"service_id": "b", "properties": {"y": "z"}},
        ]
    }


def test_the_device_subscribes_to_every_downlink_of_its_own_topics_only() -> None:
    filters = HuaweiDevice(DEVICE).subscriptions()
    assert all(f.startswith(PREFIX) for f in filters)
    for suffix in (
        "properties/set/request_id=1",
        "properties/get/request_id=1",
        "commands/request_id=1",
        "shadow/get/response/request_id=1",
        "messages/down",
        "events/down",
    ):
        assert any(topic_matches(f, PREFIX + suffix) for f in filters), suffix


def test_a_device_id_that_would_break_its_topics_is_refused() -> None:
    for bad in ("a/b", "a+b", "a#", ""):
        with pytest.raises(InvalidValue):
            HuaweiDevice(bad)
        with pytest.raises(InvalidValue):
            HuaweiPlatform().encode(ev.AskRead(bad, "r1"))


def test_a_downlink_for_another_device_is_malformed_not_obeyed() -> None:
    payload = b'{"services": [{"service_id": "s", "properties": {"a": 1}}]}'
    [event] = HuaweiDevice(DEVICE).decode("$oc/devices/other/sys/properties/set/request_id=r1", payload)
    assert isinstance(event, ev.Malformed)


@pytest.mark.parametrize(
    "suffix",
    [
        "properties/set",  # a request without a request id cannot be answered
        "properties/set/request_id=",
        "commands",
        "properties/report",  # an uplink topic
        "nonsense/request_id=1",
        "",
    ],
)
def test_a_downlink_on_an_unknown_topic_is_malformed(suffix: str) -> None:
    [event] = HuaweiDevice(DEVICE).decode(PREFIX + suffix, b"{}")
    assert isinstance(event, ev.Malformed)


def test_a_free_form_message_down_is_passed_on_as_raw_bytes() -> None:
    [event] = HuaweiDevice(DEVICE).decode(PREFIX + "messages/down", b"\x00\xffnot json")
    assert event == ev.CloudMessage(b"\x00\xffnot json")


# -- malformed downlinks ---------------------------------------------------------------------------
REQUEST_TOPICS = {
    "properties/set/request_id=r1": ("desired", "r1"),
    "properties/get/request_id=r1": ("read", "r1"),
    "commands/request_id=r1": ("command", "r1"),
    "shadow/get/response/request_id=r1": ("shadow", "r1"),
    "events/down": ("event", None),
}
BAD_PAYLOADS = {
    "invalid-json": b'{"services": [',
    "empty": b"",
    "array": b"[1, 2]",
    "string": b'"services"',
    "number": b"42",
    "null": b"null",
    "not-utf8": b'{"service_id": "\xff\xfe", "command_name": "x"}',
    "utf16": '{"service_id": "s"}'.encode("utf-16"),
    "oversized": b'{"services": []}' + b" " * MAX_PAYLOAD,
}


@pytest.mark.parametrize("suffix", list(REQUEST_TOPICS))
@pytest.mark.parametrize("payload", list(BAD_PAYLOADS.values()), ids=list(BAD_PAYLOADS))
def test_a_bad_payload_on_a_downlink_decodes_to_malformed_keeping_the_request_id(
    suffix: str, payload: bytes
) -> None:
    kind, request_id = REQUEST_TOPICS[suffix]
    events = HuaweiDevice(DEVICE).decode(PREFIX + suffix, payload)
    assert events == [ev.Malformed(PREFIX + suffix, events[0].reason, kind, request_id)]
    assert events[0].reason


BAD_FIELDS = {
    "properties/set/request_id=r1": [
        {},
        {"services": {"service_id": "s"}},
        {"services": [1]},
        {"services": [{"properties": {"a": 1}}]},
        {"services": [{"service_id": 7, "properties": {"a": 1}}]},
        {"services": [{"service_id": "s"}]},
        {"services": [{"service_id": "s", "properties": [1]}]},
    ],
    "properties/get/request_id=r1": [
        {"service_id": 5},
        {"service_id": ["smokeDetector"]},
    ],
    "commands/request_id=r1": [
        {},
        {"service_id": "s", "paras": {}},
        {"command_name": 5},
        {"command_name": "x", "paras": [1]},
        {"command_name": "x", "paras": "duration=3"},
        {"command_name": "x", "service_id": 3},
    ],
    "shadow/get/response/request_id=r1": [
        {},
        {"shadow": {"service_id": "s"}},
        {"shadow": [1]},
        {"shadow": [{"desired": {"properties": {}}}]},
        {"shadow": [{"service_id": "s", "desired": []}]},
        {"shadow": [{"service_id": "s", "desired": {"properties": [1]}}]},
        {"shadow": [{"service_id": "s", "version": "1"}]},
    ],
    "events/down": [
        {},
        {"services": [1]},
        {"services": [{"service_id": "$ota"}]},
        {"services": [{"service_id": "$ota", "event_type": 1}]},
        {"services": [{"service_id": "$ota", "event_type": "version_query", "paras": [1]}]},
    ],
}
FIELD_CASES = [(suffix, body) for suffix, bodies in BAD_FIELDS.items() for body in bodies]


@pytest.mark.parametrize(
    ("suffix", "body"), FIELD_CASES, ids=[f"{s}-{json.dumps(b)}" for s, b in FIELD_CASES]
)
def test_a_missing_or_mistyped_field_decodes_to_malformed_naming_it(
    suffix: str, body: dict[str, Any]
) -> None:
    kind, request_id = REQUEST_TOPICS[suffix]
    [event] = HuaweiDevice(DEVICE).decode(PREFIX + suffix, json.dumps(body).encode())
    assert isinstance(event, ev.Malformed)
    assert (event.kind, event.request_id) == (kind, request_id)


def test_a_payload_of_exactly_the_size_limit_is_still_decoded() -> None:
    body = b'{"service_id": "smokeDetector"}'
    payload = body + b" " * (MAX_PAYLOAD - len(body))
    assert len(payload) == MAX_PAYLOAD
    [event] = HuaweiDevice(DEVICE).decode(PREFIX + "properties/get/request_id=r1", payload)
    assert event == ev.PropertyRead("r1", "smokeDetector")


_DEEP = textwrap.dedent(
    """
    import json, sys
    from thingmodel.vendors.huawei import HuaweiDevice
    depth = 100_000
    nested = {"array": b"[" * depth + b"]" * depth, "object": b'{"a":' * depth + b"1" + b"}" * depth}
    payload = nested[sys.argv[1]]
    device = HuaweiDevice("dev-1")
    decoded = {}
    for suffix in sys.argv[2:]:
        events = device.decode("$oc/devices/dev-1/sys/" + suffix, payload)
        decoded[suffix] = [type(e).__name__ for e in events]
    print(json.dumps(decoded))
    """
)


@pytest.mark.parametrize("shape", ["array", "object"])
def test_deeply_nested_json_decodes_to_malformed_without_crashing_the_process(shape: str) -> None:
    # In a child process: a JSON parser without a depth limit overflows the C stack, which would
    # take the whole test run down with it. 100,000 levels fit well inside the 1 MiB limit.
    root = Path(__file__).parent.parent.parent
    child = subprocess.run(
        [sys.executable, "-c", _DEEP, shape, *REQUEST_TOPICS],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert child.returncode == 0, (
        f"decoding crashed the process (exit code {child.returncode}) {child.stderr}"
    )
    assert json.loads(child.stdout) == {suffix: ["Malformed"] for suffix in REQUEST_TOPICS}


DECODED = (ev.DesiredChange, ev.PropertyRead, ev.CommandRequest, ev.ShadowSnapshot, ev.CloudEvent)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(suffix=st.sampled_from([*REQUEST_TOPICS, "messages/down"]), payload=st.binary(max_size=200))
def test_decoding_arbitrary_bytes_never_raises(suffix: str, payload: bytes) -> None:
    events = HuaweiDevice(DEVICE).decode(PREFIX + suffix, payload)
    assert isinstance(events, list)  # {"services": []} is rightly nothing
    assert all(isinstance(e, (ev.Malformed, ev.CloudMessage, *DECODED)) for e in events)


# -- credentials -----------------------------------------------------------------------------------
def test_the_password_is_the_documented_hmac_of_the_secret_keyed_by_the_timestamp() -> None:
    assert (
        password("12345678", "2019122614")
        == "73e8623a1fe614ab2095280a91cb1e12f39560fb961555acc6d4a8838ba06cf5"
    )


def test_the_client_id_asks_for_the_timestamp_check_by_default() -> None:
    assert client_id("5f052ac562369102d42b0fb6", "2019122614") == "5f052ac562369102d42b0fb6_0_1_2019122614"


def test_the_client_id_can_skip_the_timestamp_check() -> None:
    assert (
        client_id("5f052ac562369102d42b0fb6", "2019122614", check_timestamp=False)
        == "5f052ac562369102d42b0fb6_0_0_2019122614"
    )


def test_the_timestamp_is_the_utc_hour_as_yyyymmddhh() -> None:
    # 2019-12-26 14:30:00 UTC
    assert timestamp(1577370600) == "2019122614"
    assert re.fullmatch(r"dev-1_0_1_\d{10}", client_id("dev-1", timestamp()))


def test_a_client_id_is_refused_for_a_device_id_that_breaks_topics() -> None:
    with pytest.raises(InvalidValue):
        client_id("a/b", "2019122614")


def test_the_platform_sends_a_message_down_that_the_device_decodes() -> None:
    [out] = HuaweiPlatform().encode(ev.MessageDown(DEVICE, b"hello \xff"))
    assert out.topic == f"$oc/devices/{DEVICE}/sys/messages/down"
    assert HuaweiDevice(DEVICE).decode(out.topic, out.payload) == [ev.CloudMessage(b"hello \xff")]


def test_the_platform_sends_an_event_down_that_the_device_decodes() -> None:
    [out] = HuaweiPlatform().encode(ev.EventDown(DEVICE, "smokeDetector", "selfTest", {"a": 1}))
    assert out.topic == f"$oc/devices/{DEVICE}/sys/events/down"
    assert HuaweiDevice(DEVICE).decode(out.topic, out.payload) == [
        ev.CloudEvent("smokeDetector", "selfTest", {"a": 1})
    ]


# -- the platform half's answers and system services ----------------------------------------------
def test_a_time_sync_request_without_its_send_time_is_malformed() -> None:
    body = {"services": [{"service_id": "$time_sync", "event_type": "time_sync_request", "paras": {}}]}
    [event] = platform().decode(PREFIX + "events/up", json.dumps(body).encode())
    assert isinstance(event, ev.DeviceMalformed) and "device_send_time" in event.reason


def test_a_thing_model_event_and_a_system_event_in_one_message_decode_to_their_own_messages() -> None:
    body = {
        "services": [
            {"service_id": "smokeDetector", "event_type": "alarm", "paras": {"level": 2}},
            {"service_id": "$file_manager", "event_type": "get_upload_url", "paras": {"file_name": "a"}},
            {
                "service_id": "$sub_device_manager",
                "event_type": "scan_result",
                "paras": {"version": 1},
            },
        ]
    }
    assert platform().decode(PREFIX + "events/up", json.dumps(body).encode()) == [
        ev.EventUp(DEVICE, "smokeDetector", "alarm", {"level": 2}),
        ev.FileUrlRequested(DEVICE, "upload", "a", {}),
        ev.SystemEventUp(DEVICE, "$sub_device_manager", "scan_result", {"version": 1}),
    ]


def test_only_a_shadow_get_has_an_answer_topic_for_an_error() -> None:
    with pytest.raises(CodecError, match="no answer to a device's 'report' uplink"):
        platform().encode(ev.AnswerRequest(DEVICE, "r1", "report", 400, "bad"))


def test_the_platform_half_states_its_shadow_limits() -> None:
    limits = HuaweiPlatform.shadow_limits
    assert limits.max_bytes == MAX_PAYLOAD and set(".$\0") <= set(limits.forbidden_in_names)
