"""The AWS IoT device codec: shadow topics and payloads as the AWS docs give them, versions, commands.

Golden fixtures: each ``tests/fixtures/aws/NN-scenario.json`` holds one (topic, payload) pair taken
from shared/reference/aws-shadow.md (commands, events and messages: our own formats of
docs/vendors.md) and the neutral
messages it stands for (see ``golden.py``). The cloud's half of a shadow is the shadow service
(``AwsShadowService``), which answers requests rather than encoding neutral messages: a shadow
downlink says which requests make it publish the message (``cloud_before``, then
``cloud_request``), and an update uplink what the service answers (``answer``). Command downlinks
are ``AwsPlatform``'s encoding of ``platform``. Every uplink is decoded by the local cloud's AWS
mode (``AwsCloud``: the shadow service and ``AwsPlatform``) into ``platform``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from thingmodel import InvalidValue
from thingmodel.cloud.aws import AwsCloud
from thingmodel.cloud.aws_shadow import AwsShadowService
from thingmodel.protocol import messages as ev
from thingmodel.vendors import device_codec
from thingmodel.vendors.aws import (
    CLASSIC,
    AwsDevice,
    AwsPlatform,
    parse_command_topic,
    parse_shadow_topic,
    result_from_wire,
    result_to_wire,
)

from . import golden

THING = "thermostat-1"
P = f"$aws/things/{THING}/shadow"


def body(message: ev.Outgoing) -> Any:
    return json.loads(message.payload)


def wire(value: Any) -> bytes:
    return json.dumps(value).encode()


# -- golden fixtures ------------------------------------------------------------------------------
GOLDEN = golden.fixture_paths("aws")
DOWN = [p for p in GOLDEN if golden.load(p)["direction"] == "down"]
UP = [p for p in GOLDEN if golden.load(p)["direction"] == "up"]
SHADOW_DOWN = [p for p in DOWN if "cloud_request" in golden.load(p)]
COMMAND_DOWN = [p for p in DOWN if p not in SHADOW_DOWN]
ANSWERED = [p for p in UP if "answer" in golden.load(p)]


def _device(fixture: dict[str, Any]) -> AwsDevice:
    """The fixture's device half, with a counter for clientTokens and the test clock for
    timestamps, taken through ``before``."""
    device = AwsDevice(
        fixture["device_id"],
        service_ids=fixture["service_ids"],
        new_id=golden.counter(),
        clock=golden.fixed_clock,
    )
    golden.run_before(device, fixture)
    return device


def _service(fixture: dict[str, Any]) -> AwsShadowService:
    """A shadow service on the test clock that has served the fixture's ``cloud_before``."""
    service = AwsShadowService(clock=golden.fixed_clock)
    for request in fixture.get("cloud_before", []):
        service.handle(request["topic"], golden.wire(request))
    return service


def _only(messages: list[ev.Outgoing], topic: str) -> ev.Outgoing:
    [message] = [m for m in messages if m.topic == topic]
    return message


def _cloud_sends(fixture: dict[str, Any]) -> ev.Outgoing:
    """What the cloud's half publishes for a downlink fixture."""
    if "cloud_request" in fixture:
        request = fixture["cloud_request"]
        return _only(_service(fixture).handle(request["topic"], golden.wire(request)), fixture["topic"])
    [out] = AwsPlatform().encode(golden.build(fixture["platform"]))
    return out


@pytest.mark.parametrize("path", DOWN, ids=golden.ids(DOWN))
def test_device_decodes_a_documented_downlink_into_its_event(path: Path) -> None:
    fixture = golden.load(path)
    events = _device(fixture).decode(fixture["topic"], golden.wire(fixture))
    assert events == [golden.build(fixture["event"])]


@pytest.mark.parametrize("path", SHADOW_DOWN, ids=golden.ids(SHADOW_DOWN))
def test_the_shadow_service_publishes_a_downlink_to_the_documented_topic_and_payload(path: Path) -> None:
    fixture = golden.load(path)
    golden.assert_equivalent(_cloud_sends(fixture), fixture)


@pytest.mark.parametrize("path", COMMAND_DOWN, ids=golden.ids(COMMAND_DOWN))
def test_platform_encodes_a_command_to_the_documented_topic_and_payload(path: Path) -> None:
    fixture = golden.load(path)
    golden.assert_equivalent(_cloud_sends(fixture), fixture)


@pytest.mark.parametrize("path", DOWN, ids=golden.ids(DOWN))
def test_what_the_cloud_sends_decodes_back_into_the_same_event(path: Path) -> None:
    fixture = golden.load(path)
    out = _cloud_sends(fixture)
    assert _device(fixture).decode(out.topic, out.payload) == [golden.build(fixture["event"])]


@pytest.mark.parametrize("path", UP, ids=golden.ids(UP))
def test_device_encodes_an_action_to_the_documented_topic_and_payload(path: Path) -> None:
    fixture = golden.load(path)
    [out] = _device(fixture).encode(golden.build(fixture["action"], golden.wire(fixture)))
    golden.assert_equivalent(out, fixture)


@pytest.mark.parametrize("path", UP, ids=golden.ids(UP))
def test_platform_decodes_a_documented_uplink_into_the_equivalent_event(path: Path) -> None:
    fixture = golden.load(path)
    events: list[ev.PlatformUplink] = []
    cloud = AwsCloud(lambda message: None, on_uplink=events.append, clock=golden.fixed_clock)
    for request in fixture.get("cloud_before", []):
        cloud.receive(request["topic"], golden.wire(request))
    events.clear()
    cloud.receive(fixture["topic"], golden.wire(fixture))
    assert events == [golden.build(fixture["platform"], golden.wire(fixture))]


@pytest.mark.parametrize("path", ANSWERED, ids=golden.ids(ANSWERED))
def test_the_shadow_service_answers_a_documented_update_with_the_documented_accepted(path: Path) -> None:
    fixture = golden.load(path)
    answers = _service(fixture).handle(fixture["topic"], golden.wire(fixture))
    golden.assert_equivalent(_only(answers, fixture["answer"]["topic"]), fixture["answer"])


# -- mapping --------------------------------------------------------------------------------------
def test_one_service_uses_the_classic_shadow() -> None:
    codec = AwsDevice(THING, service_ids=["smokeDetector"])
    assert codec.shadows == {"smokeDetector": None}
    assert codec.shadow_key("smokeDetector") == CLASSIC
    assert f"{P}/update/delta" in codec.subscriptions()
    assert f"{P}/get/accepted" in codec.subscriptions()


def test_several_services_use_one_named_shadow_each() -> None:
    codec = AwsDevice(THING, service_ids=["heating", "fan"])
    assert codec.shadows == {"heating": "heating", "fan": "fan"}
    assert f"{P}/name/heating/update/delta" in codec.subscriptions()
    assert f"{P}/name/fan/get/rejected" in codec.subscriptions()


def test_the_shadow_mapping_can_be_chosen() -> None:
    codec = AwsDevice(THING, service_ids=["heating", "fan"], shadows={"heating": None, "fan": "fan-cfg"})
    [update] = codec.encode(ev.ReportProperties({"fan": {"speed": 2}}))
    assert update.topic == f"{P}/name/fan-cfg/update"


def test_two_services_on_one_shadow_are_refused() -> None:
    with pytest.raises(InvalidValue, match="same shadow"):
        AwsDevice(THING, service_ids=["a", "b"], shadows={"a": None, "b": None})


@pytest.mark.parametrize("name", ["", "a/b", "a+b", "a#", "x" * 129, "dev\0", "sp ace"])
def test_thing_names_that_would_break_a_topic_are_refused(name: str) -> None:
    with pytest.raises(InvalidValue, match="thing name"):
        AwsDevice(name, service_ids=["s"])


def test_the_registry_builds_the_aws_codec_with_the_device_services() -> None:
    codec = device_codec("aws", device_id=THING, service_ids=["smokeDetector"])
    assert isinstance(codec, AwsDevice) and codec.shadows == {"smokeDetector": None}


def test_topic_grammar_reads_classic_and_named_shadows_and_commands() -> None:
    assert parse_shadow_topic(f"{P}/update/delta") == (THING, None, "update/delta")
    assert parse_shadow_topic(f"{P}/name/cfg/get/accepted") == (THING, "cfg", "get/accepted")
    assert parse_shadow_topic("$aws/things/x") is None
    topic = f"$aws/commands/things/{THING}/executions/e-1/request/json"
    assert parse_command_topic(topic) == (THING, "e-1", "request")
    assert parse_command_topic(f"$aws/commands/things/{THING}/executions/e-1/request/cbor") is None


# -- reports and deltas ---------------------------------------------------------------------------
def test_a_report_is_an_update_of_reported_with_a_client_token() -> None:
    codec = AwsDevice(THING, service_ids=["smokeDetector"], new_id=golden.counter())
    [update] = codec.encode(ev.ReportProperties({"smokeDetector": {"alarm": 1, "temperature": 21.5}}))
    assert update.topic == f"{P}/update"
    assert body(update) == {"state": {"reported": {"alarm": 1, "temperature": 21.5}}, "clientToken": "tok-1"}


def test_the_default_client_token_fits_awss_64_byte_limit() -> None:
    [update] = AwsDevice(THING, service_ids=["s"]).encode(ev.ReportProperties({"s": {"a": 1}}))
    assert 0 < len(body(update)["clientToken"].encode()) <= 64


def test_the_reference_delta_document_becomes_a_desired_change() -> None:
    codec = AwsDevice(THING, service_ids=["thermostat"])
    delta = {  # aws-shadow reference 1.4
        "version": 12,
        "timestamp": 1591987920,
        "state": {"color": "red", "cfg": {"b": 3}},
        "metadata": {"color": {"timestamp": 1591987920}, "cfg": {"b": {"timestamp": 1591987920}}},
        "clientToken": "token-of-the-update-if-any",
    }
    [change] = codec.decode(f"{P}/update/delta", wire(delta))
    assert change == ev.DesiredChange(None, {"thermostat": {"color": "red", "cfg": {"b": 3}}}, 12)


def test_a_delta_not_newer_than_the_last_applied_one_is_ignored() -> None:
    codec = AwsDevice(THING, service_ids=["s"])
    assert codec.decode(f"{P}/update/delta", wire({"state": {"a": 1}, "version": 5}))
    assert codec.decode(f"{P}/update/delta", wire({"state": {"a": 1}, "version": 5})) == []
    assert codec.decode(f"{P}/update/delta", wire({"state": {"a": 0}, "version": 4})) == []
    assert codec.decode(f"{P}/update/delta", wire({"state": {"a": 2}, "version": 7}))


def test_a_delta_caused_by_the_devices_own_desired_update_still_arrives() -> None:
    """aws-iot-device-sdk-python #94/#156: the v1 SDK drops it because update/accepted carried
    the same version first. We never compare deltas with versions of accepted updates."""
    codec = AwsDevice(THING, service_ids=["s"])
    codec.decode(f"{P}/update/delta", wire({"state": {"a": 9, "b": 1}, "version": 3}))
    codec.encode(ev.SettleDesired({}, {"s": {"a": "too big"}}))  # the device's own update -> v5
    [change] = codec.decode(f"{P}/update/delta", wire({"state": {"b": 1}, "version": 5}))
    assert change.services == {"s": {"b": 1}}  # type: ignore[union-attr]


def test_a_get_sets_the_version_that_later_deltas_must_beat() -> None:
    codec = AwsDevice(THING, service_ids=["s"])
    codec.decode(f"{P}/get/accepted", wire({"state": {"desired": {"a": 1}}, "version": 10}))
    assert codec.decode(f"{P}/update/delta", wire({"state": {"a": 1}, "version": 10})) == []
    assert codec.decode(f"{P}/update/delta", wire({"state": {"a": 2}, "version": 11}))


def test_a_refused_value_is_cleared_from_desired_and_an_applied_one_is_left() -> None:
    codec = AwsDevice(THING, service_ids=["s"])
    out = codec.encode(ev.SettleDesired({"s": {"b": 1}}, {"s": {"a": "7 is above the maximum 1"}}))
    assert [(m.topic, body(m)["state"]) for m in out] == [(f"{P}/update", {"desired": {"a": None}})]
    assert codec.encode(ev.SettleDesired({"s": {"b": 1}}, {})) == []


# -- the shadow after a connect -------------------------------------------------------------------
def test_a_shadow_request_gets_every_shadow_and_answers_once_all_have_come() -> None:
    codec = AwsDevice(THING, service_ids=["heating", "fan"])
    gets = codec.encode(ev.RequestShadow("r1"))
    assert sorted(m.topic for m in gets) == [f"{P}/name/fan/get", f"{P}/name/heating/get"]
    tokens = {m.topic: body(m)["clientToken"] for m in gets}
    fan = wire({"state": {"desired": {"speed": 3}, "reported": {"speed": 1}}, "version": 4,
                "clientToken": tokens[f"{P}/name/fan/get"]})  # fmt: skip
    assert codec.decode(f"{P}/name/fan/get/accepted", fan) == []
    missing = wire({"code": 404, "message": "No shadow exists with name: 'heating'",
                    "clientToken": tokens[f"{P}/name/heating/get"]})  # fmt: skip
    [snapshot] = codec.decode(f"{P}/name/heating/get/rejected", missing)
    assert snapshot == ev.ShadowSnapshot(
        "r1", {"fan": ev.ShadowState(desired={"speed": 3}, reported={"speed": 1}, version=4)}
    )


def test_the_reference_get_document_becomes_a_snapshot() -> None:
    codec = AwsDevice(THING, service_ids=["light"])
    [get] = codec.encode(ev.RequestShadow("r9"))
    doc = {  # aws-shadow reference 1.5
        "state": {
            "desired": {"color": "RED", "sequence": ["RED", "GREEN", "BLUE"]},
            "reported": {"color": "GREEN"},
            "delta": {"color": "RED", "sequence": ["RED", "GREEN", "BLUE"]},
        },
        "metadata": {"desired": {"color": {"timestamp": 12345}}, "reported": {"color": {"timestamp": 12345}}},
        "version": 10,
        "timestamp": 123456789,
        "clientToken": body(get)["clientToken"],
    }
    [snapshot] = codec.decode(f"{P}/get/accepted", wire(doc))
    assert snapshot == ev.ShadowSnapshot(
        "r9",
        {
            "light": ev.ShadowState(
                desired={"color": "RED", "sequence": ["RED", "GREEN", "BLUE"]},
                reported={"color": "GREEN"},
                version=10,
            )
        },
    )


def test_a_rejected_update_is_surfaced_with_aws_code_and_message() -> None:
    codec = AwsDevice(THING, service_ids=["s"])
    error = {"code": 413, "message": "The payload exceeds the maximum size allowed", "timestamp": 1,
             "clientToken": "t-1"}  # fmt: skip
    assert codec.decode(f"{P}/update/rejected", wire(error)) == [
        ev.Rejected("t-1", 413, "update of the classic shadow: The payload exceeds the maximum size allowed")
    ]


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"state": 3, "version": 1}',
        b'{"state": {}}',
        b"\xff\xfe",
        b'{"state": {}, "version": "7"}',
    ],
)
def test_a_malformed_delta_is_reported_not_raised(payload: bytes) -> None:
    codec = AwsDevice(THING, service_ids=["s"])
    [event] = codec.decode(f"{P}/update/delta", payload)
    assert isinstance(event, ev.Malformed) and event.reason


def test_a_topic_of_another_thing_is_not_taken_for_ours() -> None:
    codec = AwsDevice(THING, service_ids=["s"])
    [event] = codec.decode("$aws/things/other/shadow/update/delta", wire({"state": {}, "version": 1}))
    assert isinstance(event, ev.Malformed)


# -- commands -------------------------------------------------------------------------------------
def test_a_command_execution_request_becomes_a_command_request() -> None:
    codec = AwsDevice(THING, service_ids=["smokeDetector"])
    topic = f"$aws/commands/things/{THING}/executions/exec-1/request/json"
    payload = wire({"command": "ringAlarm", "params": {"duration": 3}})
    assert codec.decode(topic, payload) == [ev.CommandRequest("exec-1", None, "ringAlarm", {"duration": 3})]


def test_a_command_response_is_an_aws_execution_update() -> None:
    codec = AwsDevice(THING, service_ids=["smokeDetector"])
    [ok] = codec.encode(ev.CommandResponse("exec-1", 0, {"rang": 3, "note": "done", "loud": True}))
    assert ok.topic == f"$aws/commands/things/{THING}/executions/exec-1/response/json"
    assert body(ok) == {
        "status": "SUCCEEDED",
        "result": {"rang": {"s": "3"}, "note": {"s": "done"}, "loud": {"b": True}},
    }
    [failed] = codec.encode(ev.CommandResponse("exec-2", 1, {"error": "duration: expected an integer"}))
    assert body(failed) == {
        "status": "FAILED",
        "statusReason": {
            "reasonCode": "COMMAND_FAILED",
            "reasonDescription": "duration: expected an integer",
        },
    }


def test_a_malformed_command_is_answered_so_the_execution_does_not_hang() -> None:
    codec = AwsDevice(THING, service_ids=["smokeDetector"])
    topic = f"$aws/commands/things/{THING}/executions/exec-3/request/json"
    [event] = codec.decode(topic, b'{"params": {}}')
    assert isinstance(event, ev.Malformed) and event.kind == "command" and event.request_id == "exec-3"


def test_the_platform_sends_executions_and_reads_their_responses() -> None:
    platform = AwsPlatform()
    [request] = platform.encode(
        ev.SendCommand(THING, "exec-9", "smokeDetector", "ringAlarm", {"duration": 2})
    )
    assert request.topic == f"$aws/commands/things/{THING}/executions/exec-9/request/json"
    assert body(request) == {"command": "ringAlarm", "params": {"duration": 2}, "service": "smokeDetector"}
    response = wire({"status": "SUCCEEDED", "result": {"rang": {"s": "2"}}})
    topic = f"$aws/commands/things/{THING}/executions/exec-9/response/json"
    assert platform.decode(topic, response) == [ev.CommandAnswered(THING, "exec-9", 0, {"rang": "2"})]
    failed = wire({"status": "FAILED", "statusReason": {"reasonCode": "X", "reasonDescription": "jammed"}})
    [answer] = platform.decode(topic, failed)
    assert isinstance(answer, ev.CommandAnswered) and answer.code == 1 and answer.params["error"] == "jammed"


def test_result_values_round_trip_as_aws_typed_values() -> None:
    assert result_from_wire(result_to_wire({"a": "x", "b": False})) == {"a": "x", "b": False}
    with pytest.raises(Exception, match="unknown kind"):
        result_from_wire({"a": {"n": 1}})


def test_actions_aws_cannot_carry_are_refused_by_name() -> None:
    codec = AwsDevice(THING, service_ids=["s"])
    with pytest.raises(Exception, match="AckDesired"):
        codec.encode(ev.AckDesired("r1"))
