"""The Tencent IoT codecs: hub shadow and Explorer data template, both halves, and the sign-in.

Golden fixtures: each ``tests/fixtures/tencent/NN-scenario.json`` holds one (topic, payload) pair
taken from shared/reference/tencent.md (or, where the hub has nothing, our own format of
docs/vendors.md), the ``mode`` it belongs to (``"explorer"`` or ``"hub"``) and the neutral messages
it stands for on both halves (see ``golden.py``). Downlinks: the device half decodes them into
``event`` and the platform half encodes ``platform`` to the same topic and payload. Uplinks: the
device half encodes ``action`` to them and the platform half decodes them into ``platform``.
Codecs run on a fixed clock and a counter id, so payloads are compared in full. A downlink the
device half takes silently (a reply with code 0) has ``"event": null``; one it decodes into several
events lists them (``events``). An uplink our device half never sends (``report_info``,
``events_post``) has no ``action``; one the platform half decodes into several events lists them
as ``platform``.

Elsewhere, payloads marked "reference" are the examples and captured traffic of tencent.md.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from thingmodel import CodecError, InvalidValue
from thingmodel.protocol import messages as ev
from thingmodel.vendors import device_codec, platform_codec
from thingmodel.vendors.tencent import (
    TencentExplorerDevice,
    TencentExplorerPlatform,
    TencentHubDevice,
    TencentHubPlatform,
    client_id,
    password,
    split_device_id,
    username,
)

from . import golden

PID, DEV = "ABCDEFGHIJ", "dev1"
DEVICE = f"{PID}.{DEV}"
HUB_DOWN = f"$shadow/operation/result/{PID}/{DEV}"
HUB_UP = f"$shadow/operation/{PID}/{DEV}"


def wire(value: Any) -> bytes:
    return json.dumps(value).encode()


def body(message: ev.Outgoing) -> Any:
    return json.loads(message.payload)


# -- golden fixtures --------------------------------------------------------------------------------
GOLDEN = golden.fixture_paths("tencent")
DOWN = [p for p in GOLDEN if golden.load(p)["direction"] == "down"]
UP = [p for p in GOLDEN if golden.load(p)["direction"] == "up"]


def _device(fixture: dict[str, Any]) -> TencentHubDevice | TencentExplorerDevice:
    """The fixture's device half, on the test clock and counter, taken through ``before``."""
    device: TencentHubDevice | TencentExplorerDevice
    if fixture["mode"] == "explorer":
        device = TencentExplorerDevice(
            fixture["device_id"],
            service_ids=fixture["service_ids"],
            clock=golden.fixed_clock,
            new_id=golden.counter(),
        )
    elif fixture["mode"] == "hub":
        device = TencentHubDevice(
            fixture["device_id"], service_ids=fixture["service_ids"], new_id=golden.counter()
        )
    else:
        raise ValueError(f"unknown mode {fixture['mode']!r} (known: explorer, hub)")
    golden.run_before(device, fixture)
    return device


def _platform(fixture: dict[str, Any]) -> TencentHubPlatform | TencentExplorerPlatform:
    cls = {"explorer": TencentExplorerPlatform, "hub": TencentHubPlatform}[fixture["mode"]]
    return cls(clock=golden.fixed_clock, new_id=golden.counter())


def _events(fixture: dict[str, Any]) -> list[Any]:
    """What the device half decodes a downlink fixture into."""
    wire = golden.wire(fixture)  # a free-form message's event holds the wire payload
    if "events" in fixture:
        return [golden.build(e, wire) for e in fixture["events"]]
    return [] if fixture["event"] is None else [golden.build(fixture["event"], wire)]


def _platform_reads(fixture: dict[str, Any]) -> list[Any]:
    """What the platform half decodes an uplink fixture into."""
    described = fixture["platform"]
    return [golden.build(d) for d in (described if isinstance(described, list) else [described])]


SENT_BY_OUR_DEVICE = [p for p in UP if "action" in golden.load(p)]


@pytest.mark.parametrize("path", DOWN, ids=golden.ids(DOWN))
def test_device_decodes_a_documented_downlink_into_its_event(path: Path) -> None:
    fixture = golden.load(path)
    events = _device(fixture).decode(fixture["topic"], golden.wire(fixture))
    assert events == _events(fixture)


@pytest.mark.parametrize("path", DOWN, ids=golden.ids(DOWN))
def test_platform_encodes_a_downlink_to_the_documented_topic_and_payload(path: Path) -> None:
    fixture = golden.load(path)
    [out] = _platform(fixture).encode(golden.build(fixture["platform"], golden.wire(fixture)))
    golden.assert_equivalent(out, fixture)


@pytest.mark.parametrize("path", DOWN, ids=golden.ids(DOWN))
def test_what_the_platform_sends_decodes_back_into_the_same_event(path: Path) -> None:
    fixture = golden.load(path)
    [out] = _platform(fixture).encode(golden.build(fixture["platform"], golden.wire(fixture)))
    assert _device(fixture).decode(out.topic, out.payload) == _events(fixture)


@pytest.mark.parametrize("path", SENT_BY_OUR_DEVICE, ids=golden.ids(SENT_BY_OUR_DEVICE))
def test_device_encodes_an_action_to_the_documented_topic_and_payload(path: Path) -> None:
    fixture = golden.load(path)
    [out] = _device(fixture).encode(golden.build(fixture["action"]))
    golden.assert_equivalent(out, fixture)


@pytest.mark.parametrize("path", UP, ids=golden.ids(UP))
def test_platform_decodes_a_documented_uplink_into_the_equivalent_event(path: Path) -> None:
    fixture = golden.load(path)
    events = _platform(fixture).decode(fixture["topic"], golden.wire(fixture))
    assert events == _platform_reads(fixture)


# -- sign-in ----------------------------------------------------------------------------------------
def test_the_reference_signing_vector() -> None:
    user = "ABCDEFGHIJdev1;21010406;LpIPH;1795462442412"
    assert password("c2VjcmV0c2VjcmV0c2VjcmV0", user, algorithm="hmacsha1") == (
        "605391c0418b5734413773eed2ee5d55311336d7;hmacsha1"
    )
    assert password("c2VjcmV0c2VjcmV0c2VjcmV0", user).endswith(";hmacsha256")


def test_username_and_client_id_follow_tencents_format() -> None:
    assert client_id(PID, DEV) == "ABCDEFGHIJdev1"
    assert username(PID, DEV, connid="LpIPH", expiry=1795462442) == "ABCDEFGHIJdev1;21010406;LpIPH;1795462442"


def test_a_secret_that_is_not_base64_is_refused_without_echoing_it() -> None:
    with pytest.raises(InvalidValue, match="not valid base64") as error:
        password("not base64 at all!!", "user")
    assert "not base64 at all" not in str(error.value)


@pytest.mark.parametrize("device_id", ["nodot", ".dev", "PID.", "PID/x.dev", "A+B.dev", "A.d#v", "A.d\0"])
def test_device_ids_that_would_break_a_topic_are_refused(device_id: str) -> None:
    with pytest.raises(InvalidValue):
        split_device_id(device_id)


def test_the_registry_builds_both_tencent_codecs() -> None:
    assert isinstance(device_codec("tencent-hub", device_id=DEVICE, service_ids=["s"]), TencentHubDevice)
    assert isinstance(
        device_codec("tencent-explorer", device_id=DEVICE, service_ids=["s"]), TencentExplorerDevice
    )
    assert isinstance(platform_codec("tencent-hub"), TencentHubPlatform)
    assert isinstance(platform_codec("tencent-explorer"), TencentExplorerPlatform)


# -- hub: device half -------------------------------------------------------------------------------
def hub(*sids: str) -> TencentHubDevice:
    return TencentHubDevice(DEVICE, service_ids=list(sids or ["light"]), new_id=golden.counter())


def test_the_reference_get_reply_becomes_a_snapshot() -> None:
    reply = {  # reference 1.1, zh doc 2024
        "clientToken": "8480",
        "payload": {
            "state": {
                "delta": {"alarmvalue": "50"},
                "desired": {"alarmvalue": "50"},
                "reported": {"temperature": 32},
            },
            "timestamp": 1678783950012,
            "version": 14,
        },
        "result": 0,
        "timestamp": 1678783991,
        "type": "get",
    }
    [snapshot] = hub().decode(HUB_DOWN, wire(reply))
    assert snapshot == ev.ShadowSnapshot(
        "8480", {"light": ev.ShadowState({"alarmvalue": "50"}, {"temperature": 32}, 14)}
    )


def test_the_reference_delta_push_becomes_a_desired_change() -> None:
    codec = hub()
    push = {"type": "delta", "payload": {"state": {"updateCount": 9}, "version": 7}}  # reference 5
    assert codec.decode(HUB_DOWN, wire(push)) == [ev.DesiredChange(None, {"light": {"updateCount": 9}}, 7)]
    assert codec.decode(HUB_DOWN, wire(push)) == []  # the same version again: already applied
    newer = {"type": "delta", "payload": {"state": {"updateCount": 10}, "version": 9}}
    assert codec.decode(HUB_DOWN, wire(newer))


def test_a_get_answer_resets_the_version_a_restarted_cloud_counts_from() -> None:
    codec = hub()
    codec.decode(HUB_DOWN, wire({"type": "delta", "payload": {"state": {"a": 1}, "version": 50}}))
    codec.decode(HUB_DOWN, wire({"type": "get", "result": 0, "clientToken": "g", "payload": {"version": 3}}))
    assert codec.decode(HUB_DOWN, wire({"type": "delta", "payload": {"state": {"a": 2}, "version": 4}}))


def test_a_report_is_an_update_of_reported_as_the_sdk_sends_it() -> None:
    [update] = hub().encode(ev.ReportProperties({"light": {"updateCount": 5}}))
    assert update.topic == HUB_UP
    assert body(update) == {
        "type": "update",
        "state": {"reported": {"updateCount": 5}},
        "clientToken": "tok-1",
    }


def test_handled_desired_values_are_cleared_key_by_key() -> None:
    [update] = hub().encode(ev.SettleDesired({"light": {"a": 1}}, {"light": {"b": "too big"}}))
    assert body(update) == {
        "type": "update",
        "state": {"desired": {"a": None, "b": None}},
        "clientToken": "tok-1",
    }


def test_several_services_nest_by_service_id() -> None:
    codec = hub("heating", "fan")
    [update] = codec.encode(ev.ReportProperties({"fan": {"speed": 2}}))
    assert body(update)["state"] == {"reported": {"fan": {"speed": 2}}}
    push = {"type": "delta", "payload": {"state": {"fan": {"speed": 3}}, "version": 2}}
    assert codec.decode(HUB_DOWN, wire(push)) == [ev.DesiredChange(None, {"fan": {"speed": 3}}, 2)]
    [clear] = codec.encode(ev.SettleDesired({"fan": {"speed": 3}}, {}))
    assert body(clear)["state"] == {"desired": {"fan": {"speed": None}}}


def test_a_refused_update_is_surfaced_with_tencents_result_code() -> None:
    reply = {"type": "update", "result": 5005, "clientToken": "t-1"}
    assert hub().decode(HUB_DOWN, wire(reply)) == [ev.Rejected("t-1", 5005, "shadow update refused")]


def test_hub_commands_use_the_default_custom_topics_in_explorer_action_format() -> None:
    codec = hub()
    down = {"method": "action", "clientToken": "c1", "actionId": "blink", "params": {"times": 2}}
    assert codec.decode(f"{PID}/{DEV}/control", wire(down)) == [
        ev.CommandRequest("c1", "light", "blink", {"times": 2})
    ]
    [reply] = codec.encode(ev.CommandResponse("c1", 0, {"done": True}))
    assert reply.topic == f"{PID}/{DEV}/event"
    assert body(reply) == {
        "method": "action_reply",
        "clientToken": "c1",
        "code": 0,
        "status": "ok",
        "response": {"done": True},
    }


@pytest.mark.parametrize(
    "payload", [b"x", b"[]", b'{"type": "delta"}', b'{"type": "get"}', b'{"type": "nope", "result": 0}']
)
def test_malformed_hub_downlinks_are_reported_not_raised(payload: bytes) -> None:
    [event] = hub().decode(HUB_DOWN, payload)
    assert isinstance(event, ev.Malformed) and event.reason


# -- hub: platform half -----------------------------------------------------------------------------
def test_the_platform_reads_reports_and_clears_as_the_sdk_sends_them() -> None:
    platform = TencentHubPlatform()
    report = {
        "type": "update",
        "state": {"reported": {"updateCount": 5}},
        "clientToken": "ABCDEFGHIJ-1",
    }  # reference 5
    assert platform.decode(HUB_UP, wire(report)) == [
        ev.Reported(DEVICE, {PID: {"updateCount": 5}}, "ABCDEFGHIJ-1")
    ]
    clear = {"type": "update", "state": {"desired": None}, "clientToken": "ABCDEFGHIJ-2"}  # reference 5
    assert platform.decode(HUB_UP, wire(clear)) == [ev.DesiredCleared(DEVICE, {PID: None}, "ABCDEFGHIJ-2")]
    both = {"type": "update", "state": {"reported": {"a": 1}, "desired": {"a": None}}}
    assert platform.decode(HUB_UP, wire(both)) == [
        ev.Reported(DEVICE, {PID: {"a": 1}}),
        ev.DesiredCleared(DEVICE, {PID: ("a",)}),
    ]
    get = {"type": "get", "clientToken": "ABCDEFGHIJ-0"}
    assert platform.decode(HUB_UP, wire(get)) == [ev.ShadowRequested(DEVICE, "ABCDEFGHIJ-0")]


def test_the_platform_pushes_deltas_and_answers_gets_in_tencents_shapes() -> None:
    platform = TencentHubPlatform(clock=golden.fixed_clock)
    [push] = platform.encode(ev.PushDesired(DEVICE, "r1", {PID: {"power_switch": 0}}, 8))
    assert push.topic == HUB_DOWN and body(push) == {
        "type": "delta",
        "payload": {"state": {"power_switch": 0}, "version": 8},
    }
    shadow = {PID: ev.ShadowState({"a": 2}, {"a": 1, "b": 0}, 5)}
    [answer] = platform.encode(ev.AnswerShadow(DEVICE, "g1", shadow))
    assert body(answer) == {
        "type": "get",
        "result": 0,
        "clientToken": "g1",
        "timestamp": 1700000000,
        "payload": {
            "state": {"reported": {"a": 1, "b": 0}, "desired": {"a": 2}, "delta": {"a": 2}},
            "version": 5,
            "timestamp": 1700000000123,
        },
    }


def test_what_tencent_hub_cannot_carry_is_refused_by_name() -> None:
    with pytest.raises(Exception, match="AskRead"):
        TencentHubPlatform().encode(ev.AskRead(DEVICE, "r", None))


# -- explorer ---------------------------------------------------------------------------------------
PROP_DOWN, PROP_UP = f"$thing/down/property/{PID}/{DEV}", f"$thing/up/property/{PID}/{DEV}"


def explorer() -> TencentExplorerDevice:
    return TencentExplorerDevice(
        DEVICE, service_ids=["light"], clock=golden.fixed_clock, new_id=golden.counter()
    )


def test_an_explorer_device_has_exactly_one_service() -> None:
    with pytest.raises(InvalidValue, match="one service"):
        TencentExplorerDevice(DEVICE, service_ids=["a", "b"])


def test_the_reference_control_becomes_a_desired_change_answered_by_control_reply() -> None:
    codec = explorer()
    control = {
        "method": "control",
        "clientToken": "123",
        "params": {"power_switch": 1, "color": 1, "brightness": 66},
    }
    assert codec.decode(PROP_DOWN, wire(control)) == [
        ev.DesiredChange("123", {"light": {"power_switch": 1, "color": 1, "brightness": 66}})
    ]
    [ok] = codec.encode(ev.AckDesired("123"))
    assert ok.topic == PROP_UP and body(ok) == {
        "method": "control_reply",
        "clientToken": "123",
        "code": 0,
        "status": "",
    }
    [refused] = codec.encode(ev.AckDesired("124", {"brightness": "120 is above the maximum 100"}))
    assert body(refused)["code"] == 1 and "brightness" in body(refused)["status"]


def test_the_reference_get_status_reply_with_pending_control_is_applied_then_cleared() -> None:
    codec = explorer()
    [ask] = codec.encode(ev.RequestShadow("0WUKPUCOTC-1"))
    assert body(ask)["method"] == "get_status"
    reply = {  # reference 2: data.reported as in real captures, plus a pending control
        "method": "get_status_reply",
        "clientToken": "0WUKPUCOTC-1",
        "code": 0,
        "status": "success",
        "data": {"reported": {"power_switch": 0, "brightness": 0}, "control": {"power_switch": 1}},
    }
    assert codec.decode(PROP_DOWN, wire(reply)) == [
        ev.ShadowSnapshot(
            "0WUKPUCOTC-1",
            {"light": ev.ShadowState({"power_switch": 1}, {"power_switch": 0, "brightness": 0})},
        )
    ]
    [clear] = codec.encode(ev.SettleDesired({"light": {"power_switch": 1}}, {}))
    assert body(clear) == {"method": "clear_control", "clientToken": "0WUKPUCOTC-1"}
    assert codec.encode(ev.SettleDesired({"light": {"power_switch": 1}}, {})) == []  # once


def test_actions_are_commands_and_their_reply_carries_the_response() -> None:
    codec = explorer()
    action = {  # reference 2
        "method": "action",
        "clientToken": "20a4ccfd-d308-11e9-86c6-5254008a4f10",
        "actionId": "openDoor",
        "timestamp": 1212121221,
        "params": {"userid": "323343"},
    }
    [request] = codec.decode(f"$thing/down/action/{PID}/{DEV}", wire(action))
    assert request == ev.CommandRequest(action["clientToken"], "light", "openDoor", {"userid": "323343"})
    [reply] = codec.encode(ev.CommandResponse(action["clientToken"], 0, {"Code": 0}))
    assert reply.topic == f"$thing/up/action/{PID}/{DEV}" and body(reply)["response"] == {"Code": 0}


def test_events_are_posted_as_event_post() -> None:
    [post] = explorer().encode(ev.EmitEvent("light", "status_report", {"status": 0, "message": ""}))
    assert post.topic == f"$thing/up/event/{PID}/{DEV}"
    assert body(post) == {
        "method": "event_post",
        "clientToken": "tok-1",
        "eventId": "status_report",
        "type": "info",
        "timestamp": 1700000000123,
        "params": {"status": 0, "message": ""},
    }


def test_a_malformed_control_with_a_token_is_answered_with_an_error_code() -> None:
    [event] = explorer().decode(PROP_DOWN, wire({"method": "control", "clientToken": "9", "params": 3}))
    assert isinstance(event, ev.Malformed) and event.kind == "desired" and event.request_id == "9"


def test_the_platform_accepts_the_python_sdks_control_reply_without_method_visibly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    platform = TencentExplorerPlatform()
    quirk = {"code": 0, "clientToken": "clientToken-abc", "status": "ok"}  # reference 5, captured
    with caplog.at_level(logging.INFO, logger="thingmodel.vendors.tencent"):
        assert platform.decode(PROP_UP, wire(quirk)) == [ev.DesiredAcked(DEVICE, "clientToken-abc", {}, 0)]
        platform.decode(PROP_UP, wire(quirk))
    assert [r.getMessage() for r in caplog.records].count(
        f"{DEVICE}: control_reply without method (tencent-iot-device 1.0.0 quirk) accepted"
    ) == 1


def test_the_platform_reads_the_sdks_uplinks() -> None:
    platform = TencentExplorerPlatform()
    report = {
        "method": "report",
        "clientToken": "ABCDEFGHIJ-0",
        "params": {"power_switch": 1, "brightness": 10},
    }
    assert platform.decode(PROP_UP, wire(report)) == [
        ev.Reported(DEVICE, {PID: {"power_switch": 1, "brightness": 10}}, "ABCDEFGHIJ-0")
    ]
    assert platform.decode(PROP_UP, wire({"method": "get_status", "clientToken": "ABCDEFGHIJ-1"})) == [
        ev.ShadowRequested(DEVICE, "ABCDEFGHIJ-1")
    ]
    assert platform.decode(PROP_UP, wire({"method": "clear_control", "clientToken": "ABCDEFGHIJ-1"})) == [
        ev.DesiredCleared(DEVICE, {PID: None}, "ABCDEFGHIJ-1")
    ]
    wrapped = {  # the Python SDK wraps a single event_post in "events"
        "method": "event_post",
        "clientToken": "ABCDEFGHIJ-2",
        "events": [
            {
                "eventId": "status_report",
                "type": "info",
                "timestamp": 1,
                "params": {"status": 0, "message": ""},
            }
        ],
    }
    assert platform.decode(f"$thing/up/event/{PID}/{DEV}", wire(wrapped)) == [
        ev.EventUp(DEVICE, PID, "status_report", {"status": 0, "message": ""}, "ABCDEFGHIJ-2")
    ]
    reply = {
        "method": "action_reply",
        "code": 0,
        "clientToken": "act-1",
        "status": "done",
        "response": {"err_code": 0},
    }
    assert platform.decode(f"$thing/up/action/{PID}/{DEV}", wire(reply)) == [
        ev.CommandAnswered(DEVICE, "act-1", 0, {"err_code": 0})
    ]


def test_a_refused_control_reply_gives_the_reasons_back_per_property() -> None:
    device, platform = explorer(), TencentExplorerPlatform()
    [reply] = device.encode(ev.AckDesired("7", {"brightness": "120 is above the maximum 100"}))
    [acked] = platform.decode(reply.topic, reply.payload)
    assert acked == ev.DesiredAcked(DEVICE, "7", {"brightness": "120 is above the maximum 100"}, 1)


def test_the_platform_sends_control_and_get_status_reply_with_pending_control() -> None:
    platform = TencentExplorerPlatform()
    [control] = platform.encode(ev.PushDesired(DEVICE, "r1", {PID: {"power_switch": 1}}))
    assert control.topic == PROP_DOWN and body(control) == {
        "method": "control",
        "clientToken": "r1",
        "params": {"power_switch": 1},
    }
    [reply] = platform.encode(
        ev.AnswerShadow(DEVICE, "g", {PID: ev.ShadowState({"power_switch": 1}, {"power_switch": 0})})
    )
    assert body(reply)["data"] == {"reported": {"power_switch": 0}, "control": {"power_switch": 1}}


def test_oversized_messages_are_refused_before_publishing_naming_the_limit() -> None:
    with pytest.raises(Exception, match="16384"):
        explorer().encode(ev.ReportProperties({"light": {"name": "x" * 17000}}))


# -- answers to the device's own requests -----------------------------------------------------------
def test_a_product_id_holding_a_dot_names_no_device_so_two_devices_never_share_one() -> None:
    explorer_platform, hub_platform = TencentExplorerPlatform(), TencentHubPlatform()
    body = wire({"method": "report", "clientToken": "t", "params": {"a": 1}})
    [refused] = explorer_platform.decode(f"$thing/up/property/{PID}.X/Y", body)
    assert isinstance(refused, ev.DeviceMalformed) and refused.device_id is None and "'.'" in refused.reason
    [taken] = explorer_platform.decode(f"$thing/up/property/{PID}/X.Y", body)
    assert taken == ev.Reported(f"{PID}.X.Y", {PID: {"a": 1}}, "t")
    update = wire({"type": "update", "state": {"reported": {"a": 1}}, "clientToken": "t"})
    [refused] = hub_platform.decode(f"$shadow/operation/{PID}.X/Y", update)
    assert isinstance(refused, ev.DeviceMalformed) and refused.device_id is None


@pytest.mark.parametrize(
    ("topic", "body", "kind"),
    [
        (PROP_UP, {"method": "report", "clientToken": "t", "params": 1}, "report"),
        (PROP_UP, {"method": "report_info", "clientToken": "t", "params": []}, "info"),
        (PROP_UP, {"method": "control_reply", "clientToken": "t"}, "desired"),
        (PROP_UP, {"code": "0", "clientToken": "t"}, "desired"),
        (PROP_UP, {"method": "reboot", "clientToken": "t"}, "other"),
        (f"$thing/up/event/{PID}/{DEV}", {"method": "event_post", "clientToken": "t"}, "event"),
        (
            f"$thing/up/event/{PID}/{DEV}",
            {"method": "events_post", "clientToken": "t", "events": []},
            "event",
        ),
        (HUB_UP, {"type": "update", "state": 1, "clientToken": "t"}, "report"),
        (HUB_UP, {"type": "delete", "clientToken": "t"}, "other"),
    ],
)
def test_a_malformed_request_says_which_reply_it_is_owed_and_keeps_its_token(
    topic: str, body: dict[str, Any], kind: str
) -> None:
    platform = TencentHubPlatform() if topic == HUB_UP else TencentExplorerPlatform()
    [event] = platform.decode(topic, wire(body))
    assert isinstance(event, ev.DeviceMalformed)
    assert (event.kind, event.device_id, event.request_id) == (kind, DEVICE, "t")


def test_a_refused_event_post_reaches_the_device_as_a_rejection() -> None:
    [reply] = TencentExplorerPlatform().encode(
        ev.AnswerRequest(DEVICE, "e-1", "event", 406, "Param count not match")
    )
    assert reply.topic == f"$thing/down/event/{PID}/{DEV}"
    assert explorer().decode(reply.topic, reply.payload) == [
        ev.Rejected("e-1", 406, "event_reply: Param count not match")
    ]


def test_a_hub_clear_of_desired_is_answered_as_the_update_it_is() -> None:
    [result] = TencentHubPlatform(clock=golden.fixed_clock).encode(
        ev.AnswerRequest(DEVICE, "c-1", "clear", version=4)
    )
    assert body(result) == {
        "type": "update",
        "result": 0,
        "clientToken": "c-1",
        "timestamp": 1700000000123,
        "payload": {"timestamp": 1700000000123, "version": 4},
    }
    assert hub().decode(result.topic, result.payload) == []


@pytest.mark.parametrize(
    "platform", [TencentHubPlatform(), TencentExplorerPlatform()], ids=["hub", "explorer"]
)
def test_an_answer_to_what_is_not_a_request_is_refused_by_name(platform: Any) -> None:
    with pytest.raises(CodecError, match=r"no (answer|reply) to a device's 'command' uplink"):
        platform.encode(ev.AnswerRequest(DEVICE, "x", "command"))


def test_each_tencent_platform_half_states_the_documented_shadow_limits() -> None:
    for platform in (TencentHubPlatform(), TencentExplorerPlatform()):
        limits = platform.shadow_limits
        assert (limits.max_depth, limits.max_bytes, limits.max_properties) == (5, 16 * 1024, 20)


def test_a_hub_update_that_changes_nothing_still_stands_for_a_request_to_answer() -> None:
    empty = {"type": "update", "state": {}, "clientToken": "u-9"}
    assert TencentHubPlatform().decode(HUB_UP, wire(empty)) == [ev.Reported(DEVICE, {}, "u-9")]
