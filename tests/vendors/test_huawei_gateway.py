"""Huawei IoTDA gateways and their children, both halves of the codec.

The golden fixtures are ``tests/fixtures/huawei/gateway/NN-*.json`` (numbered from 60; in a
folder of their own because most need a gateway's context that the generic fixture tests of
test_huawei.py do not give). Besides the generic keys (golden.py), each names ``gateway`` (the
gateway's id), ``child`` (when the message is a child's: the device half is the codec made for
that child, and the gateway's ``addressee`` must name it), ``children`` (the gateway's children
as the platform half's ``parent_of`` sees them) and ``platform_before`` (what the platform half
decodes or encodes first: a request whose answer the fixture is). ``batch`` lists the reports
of several children that the gateway's ``batch`` merges into the fixture's one message;
``platforms`` lists what the platform half decodes an uplink into. A description's ``payload``
given as text is that text's UTF-8 bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from thingmodel import CodecError, InvalidValue
from thingmodel.errors import NotSupported
from thingmodel.protocol import gateway as gw
from thingmodel.protocol import messages as ev
from thingmodel.vendors import device_codec, huawei, platform_codec
from thingmodel.vendors.huawei import (
    MAX_ADD,
    MAX_BATCH,
    MAX_PAYLOAD,
    MAX_STATUS,
    HuaweiDevice,
    HuaweiPlatform,
)

from . import golden

FIXTURES = sorted((golden.FIXTURES / "huawei" / "gateway").glob("*.json"))
DOWN = [p for p in FIXTURES if golden.load(p)["direction"] == "down"]
UP = [p for p in FIXTURES if golden.load(p)["direction"] == "up"]
GATEWAY, CHILD, OTHER = "gw-1", "child-1", "child-2"
G = f"$oc/devices/{GATEWAY}/sys/"


def build(description: dict[str, Any]) -> Any:
    """golden.build, with a text ``payload`` as its bytes."""
    fields = dict(description)
    if isinstance(fields.get("payload"), str):
        fields["payload"] = fields["payload"].encode()
    return golden.build(fields)


def platform_for(fixture: dict[str, Any]) -> HuaweiPlatform:
    """The platform half as the fixture's cloud has it: its children and its earlier steps."""
    platform = HuaweiPlatform(clock=golden.fixed_clock, new_id=golden.counter())
    children = set(fixture.get("children", []))
    platform.parent_of = lambda device_id: fixture["gateway"] if device_id in children else None
    for step in fixture.get("platform_before", []):
        if "decode" in step:
            platform.decode(step["decode"]["topic"], golden.wire(step["decode"]))
        else:
            platform.encode(build(step["encode"]))
    return platform


def device_for(fixture: dict[str, Any]) -> HuaweiDevice:
    """The device half that reads or sends the fixture: the child's codec, or the gateway's."""
    if "child" in fixture:
        return HuaweiDevice(fixture["child"], gateway_id=fixture["gateway"])
    return HuaweiDevice(fixture["gateway"])


def events_of(fixture: dict[str, Any]) -> list[Any]:
    return [build(e) for e in fixture.get("events", [fixture.get("event")])]


def platform_reads(fixture: dict[str, Any]) -> list[Any]:
    return [build(e) for e in fixture.get("platforms", [fixture.get("platform")])]


def parent(*children: str) -> Any:
    return lambda device_id: GATEWAY if device_id in children else None


def platform_with(*children: str) -> HuaweiPlatform:
    platform = HuaweiPlatform(clock=golden.fixed_clock, new_id=golden.counter("new-"))
    platform.parent_of = parent(*children)
    return platform


def body(out: ev.Outgoing) -> Any:
    return json.loads(out.payload)


def entry(service_id: str, event_type: str, paras: Any, **more: Any) -> dict[str, Any]:
    return {"service_id": service_id, "event_type": event_type, "paras": paras, **more}


def events_up(*entries: dict[str, Any], object_device_id: str | None = None) -> bytes:
    envelope: dict[str, Any] = {"services": list(entries)}
    if object_device_id is not None:
        envelope["object_device_id"] = object_device_id
    return json.dumps(envelope).encode()


# -- golden fixtures -------------------------------------------------------------------------------
def test_the_gateway_fixtures_are_numbered_from_60_and_name_their_sources() -> None:
    assert len(FIXTURES) >= 20
    numbers = [int(p.stem[:2]) for p in FIXTURES]
    assert min(numbers) == 60 and len(set(numbers)) == len(numbers)
    for path in FIXTURES:
        assert "md" in golden.load(path)["source"] or "iot_06" in golden.load(path)["source"], path


@pytest.mark.parametrize("path", DOWN, ids=golden.ids(DOWN))
def test_the_gateway_routes_a_documented_downlink_to_the_device_it_names(path: Path) -> None:
    fixture = golden.load(path)
    addressee = HuaweiDevice(fixture["gateway"]).addressee(fixture["topic"], golden.wire(fixture))
    assert addressee == fixture.get("child")


@pytest.mark.parametrize("path", DOWN, ids=golden.ids(DOWN))
def test_the_device_half_decodes_a_documented_gateway_downlink(path: Path) -> None:
    fixture = golden.load(path)
    assert device_for(fixture).decode(fixture["topic"], golden.wire(fixture)) == events_of(fixture)


@pytest.mark.parametrize("path", DOWN, ids=golden.ids(DOWN))
def test_the_platform_sends_a_gateway_downlink_to_the_documented_topic_and_payload(path: Path) -> None:
    fixture = golden.load(path)
    [out] = platform_for(fixture).encode(build(fixture["platform"]))
    golden.assert_equivalent(out, fixture)
    assert device_for(fixture).decode(out.topic, out.payload) == events_of(fixture)


@pytest.mark.parametrize("path", UP, ids=golden.ids(UP))
def test_the_device_half_sends_a_documented_gateway_uplink(path: Path) -> None:
    fixture = golden.load(path)
    if "batch" in fixture:
        sent = [
            out
            for part in fixture["batch"]
            for out in HuaweiDevice(part["child"], gateway_id=fixture["gateway"]).encode(
                build(part["action"])
            )
        ]
        [out] = HuaweiDevice(fixture["gateway"]).batch(sent)
    else:
        [out] = device_for(fixture).encode(build(fixture["action"]))
    golden.assert_equivalent(out, fixture)


@pytest.mark.parametrize("path", UP, ids=golden.ids(UP))
def test_the_platform_reads_a_documented_gateway_uplink_as_the_device_s_own(path: Path) -> None:
    fixture = golden.load(path)
    decoded = platform_for(fixture).decode(fixture["topic"], golden.wire(fixture))
    assert decoded == platform_reads(fixture)


# -- the device half: who a downlink is for ---------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("properties/set/request_id=r1", {"object_device_id": "someone", "services": []}),
        ("properties/get/request_id=r1", {"object_device_id": "someone"}),
        ("commands/request_id=r1", {"object_device_id": "someone", "command_name": "x"}),
        ("shadow/get/response/request_id=r1", {"object_device_id": "someone", "shadow": []}),
        ("events/down", {"object_device_id": "someone", "services": []}),
        ("messages/down", {"object_device_id": "someone", "content": "x"}),
    ],
)
def test_a_device_that_is_no_gateway_refuses_a_downlink_naming_another_device(
    path: str, payload: dict[str, Any]
) -> None:
    [event] = HuaweiDevice(GATEWAY).decode(G + path, json.dumps(payload).encode())
    assert isinstance(event, ev.Malformed)
    assert "'someone'" in event.reason and GATEWAY in event.reason
    assert event.request_id == ("r1" if "request_id" in path else None)


def test_a_device_s_own_downlinks_decode_whether_they_name_it_or_not() -> None:
    device = HuaweiDevice(GATEWAY)
    for named in ({}, {"object_device_id": GATEWAY}, {"object_device_id": ""}):
        payload = json.dumps({**named, "command_name": "ring", "paras": {"n": 1}}).encode()
        assert device.decode(G + "commands/request_id=c1", payload) == [
            ev.CommandRequest("c1", None, "ring", {"n": 1})
        ]
        assert device.addressee(G + "commands/request_id=c1", payload) is None
    raw = b'{"object_device_id": "gw-1", "content": "hi"}'
    assert device.decode(G + "messages/down", raw) == [ev.CloudMessage(raw)]  # its own: as it came
    assert device.decode(G + "messages/down", b"\xff\x00 binary") == [ev.CloudMessage(b"\xff\x00 binary")]


def test_a_child_refuses_its_gateway_s_downlinks_and_its_siblings() -> None:
    child = HuaweiDevice(CHILD, gateway_id=GATEWAY)
    for named, whom in ((None, f"gateway {GATEWAY}"), (GATEWAY, f"gateway {GATEWAY}"), (OTHER, f"'{OTHER}'")):
        payload = json.dumps({"command_name": "x", **({} if named is None else {"object_device_id": named})})
        [event] = child.decode(G + "commands/request_id=c1", payload.encode())
        assert isinstance(event, ev.Malformed) and whom in event.reason and CHILD in event.reason
    [event] = child.decode(G + "messages/down", b"free-form")
    assert isinstance(event, ev.Malformed) and event.kind == "message"
    [event] = child.decode(f"$oc/devices/{CHILD}/sys/commands/request_id=c1", b"{}")
    assert isinstance(event, ev.Malformed) and GATEWAY in event.reason


def test_a_child_has_no_subscriptions_nor_topics_of_its_own() -> None:
    child = device_codec("huawei", device_id=CHILD, gateway_id=GATEWAY)
    assert child.subscriptions() == []
    assert HuaweiDevice(GATEWAY).subscriptions()
    with pytest.raises(NotSupported, match=GATEWAY):
        child.custom_topic("alerts")
    with pytest.raises(InvalidValue, match="own gateway"):
        HuaweiDevice(GATEWAY, gateway_id=GATEWAY)


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (G + "commands/request_id=c1", b'{"object_device_id": 5}'),
        (G + "commands/request_id=c1", b'{"object_device_id": "child-1"'),  # cut short
        (G + "commands/request_id=c1", b"\xff\xfe"),
        (G + "commands/request_id=c1", b'["object_device_id"]'),
        ("$oc/devices/other/sys/commands/request_id=c1", b'{"object_device_id": "child-1"}'),
        ("not/a/topic", b'{"object_device_id": "child-1"}'),
        (G + "messages/down", b'{"object_device_id": ""}'),
        (G + "messages/down", b"x" * (MAX_PAYLOAD + 1) + b'"object_device_id"'),
    ],
)
def test_addressee_says_none_for_what_is_not_a_child_s_and_never_raises(topic: str, payload: bytes) -> None:
    assert HuaweiDevice(GATEWAY).addressee(topic, payload) is None


def test_a_child_s_message_is_the_content_of_the_system_format() -> None:
    child = HuaweiDevice(CHILD, gateway_id=GATEWAY)
    [event] = child.decode(G + "messages/down", json.dumps({"object_device_id": CHILD}).encode())
    assert event == ev.CloudMessage(b"")
    payload = json.dumps({"object_device_id": CHILD, "content": {"a": [1]}}).encode()
    assert child.decode(G + "messages/down", payload) == [ev.CloudMessage(b'{"a":[1]}')]
    with pytest.raises(CodecError, match="UTF-8"):
        child.encode(ev.SendMessage(b"\xff"))


def test_a_child_cannot_speak_for_children_of_its_own() -> None:
    child = HuaweiDevice(CHILD, gateway_id=GATEWAY)
    for message in (
        gw.AddChildren("r", [gw.ChildInfo("x", "p")]),
        gw.RemoveChildren("r", ["x"]),
        gw.ChildrenStatus("r", {"x": True}),
        gw.SyncChildren("r"),
    ):
        with pytest.raises(CodecError, match="nested"):
            child.encode(message)
    notify = entry("$sub_device_manager", "add_sub_device_notify", {"version": 1, "devices": []})
    payload = json.dumps({"object_device_id": CHILD, "services": [notify]}).encode()
    [event] = child.decode(G + "events/down", payload)
    assert isinstance(event, ev.Malformed) and "nested" in event.reason


# -- the device half: what a gateway says ---------------------------------------------------------
def test_a_child_is_added_with_its_node_id_defaulting_to_its_device_id() -> None:
    [out] = HuaweiDevice(GATEWAY).encode(gw.AddChildren("r1", [gw.ChildInfo(CHILD, "prod-1")]))
    [item] = body(out)["services"]
    assert item["event_id"] == "r1"
    assert item["paras"] == {"devices": [{"node_id": CHILD, "product_id": "prod-1", "device_id": CHILD}]}


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (gw.AddChildren("r", [gw.ChildInfo(CHILD)]), f"product_id of child {CHILD}"),
        (gw.AddChildren("r", [gw.ChildInfo(f"c{i}", "p") for i in range(MAX_ADD + 1)]), f"at most {MAX_ADD}"),
        (gw.AddChildren("r", []), "names no child"),
        (gw.AddChildren("r", [gw.ChildInfo("a/b", "p")]), "slash"),
        (gw.ChildrenStatus("r", {f"c{i}": True for i in range(MAX_STATUS + 1)}), f"at most {MAX_STATUS}"),
        (gw.ChildrenStatus("r", {}), "names no child"),
        (gw.ChildrenStatus("r", {CHILD: "yes"}), "True or False"),  # type: ignore[dict-item]
        (gw.RemoveChildren("r", []), "names no child"),
        (gw.SyncChildren("r", -1), "version"),
        (gw.SyncChildren("bad/id"), "request_id"),
    ],
)
def test_a_gateway_request_iotda_would_refuse_is_a_codec_error_naming_why(message: Any, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        HuaweiDevice(GATEWAY).encode(message)


def test_a_sync_without_a_version_asks_for_everything() -> None:
    [out] = HuaweiDevice(GATEWAY).encode(gw.SyncChildren("s1"))
    assert body(out)["services"][0]["paras"] == {}


def test_an_answer_names_a_failed_child_by_node_id_where_iotda_gives_no_device_id() -> None:
    paras = {
        "successful_devices": [],
        "failed_devices": [{"node_id": "n-9", "product_id": "p", "error_code": "E1", "error_msg": "quota"}],
    }
    payload = events_up(entry("$sub_device_manager", "add_sub_device_response", paras, event_id="r1"))
    assert HuaweiDevice(GATEWAY).decode(G + "events/down", payload) == [
        gw.ChildrenAnswered("add", "r1", (), {"n-9": "quota (E1)"})
    ]


def test_an_unreadable_entry_of_a_notify_is_malformed_alone() -> None:
    paras = {"version": 4, "devices": [{"device_id": CHILD}, {"node_id": "no-device-id"}, "x"]}
    payload = events_up(entry("$sub_device_manager", "add_sub_device_notify", paras))
    changed, *problems = HuaweiDevice(GATEWAY).decode(G + "events/down", payload)
    assert changed == gw.ChildrenChanged(added=[gw.ChildInfo(CHILD)], version=4)
    assert [p.reason for p in problems if isinstance(p, ev.Malformed)] == [
        "missing field $sub_device_manager add_sub_device_notify paras.'devices'[1].'device_id'",
        "field $sub_device_manager add_sub_device_notify paras.'devices'[2] must be an object, got str",
    ]


def test_other_sub_device_manager_events_stay_cloud_events() -> None:
    payload = events_up(entry("$sub_device_manager", "start_scan", {"protocol": "zigbee"}))
    assert HuaweiDevice(GATEWAY).decode(G + "events/down", payload) == [
        ev.CloudEvent("$sub_device_manager", "start_scan", {"protocol": "zigbee"})
    ]


# -- the device half: batches -----------------------------------------------------------------------
def report_of(device_id: str, value: Any) -> ev.Outgoing:
    [out] = HuaweiDevice(device_id, gateway_id=GATEWAY).encode(ev.ReportProperties({"s": {"v": value}}))
    return out


def test_reports_of_more_children_than_a_batch_holds_go_in_several_batches() -> None:
    reports = [report_of(f"c{i}", i) for i in range(2 * MAX_BATCH + 5)]
    batches = HuaweiDevice(GATEWAY).batch(reports)
    assert [len(body(b)["devices"]) for b in batches] == [MAX_BATCH, MAX_BATCH, 5]
    ids = [d["device_id"] for b in batches for d in body(b)["devices"]]
    assert ids == [f"c{i}" for i in range(2 * MAX_BATCH + 5)]


def test_a_batch_goes_where_its_first_report_was_and_the_rest_pass_in_order() -> None:
    ack = HuaweiDevice(CHILD, gateway_id=GATEWAY).encode(ev.AckDesired("r1"))[0]
    message = HuaweiDevice(OTHER, gateway_id=GATEWAY).encode(ev.SendMessage(b"m"))[0]
    own = HuaweiDevice(GATEWAY).encode(ev.ReportProperties({"s": {"v": 0}}))[0]
    out = HuaweiDevice(GATEWAY).batch([ack, report_of(CHILD, 1), message, report_of(CHILD, 2), own])
    assert out[0] == ack and out[2] == message and out[3] == own
    assert body(out[1]) == {
        "devices": [  # the same child twice: two entries, in order
            {"device_id": CHILD, "services": [{"service_id": "s", "properties": {"v": 1}}]},
            {"device_id": CHILD, "services": [{"service_id": "s", "properties": {"v": 2}}]},
        ]
    }


def test_a_batch_never_exceeds_iotda_s_message_limit() -> None:
    big = "x" * (MAX_PAYLOAD // 3)
    batches = HuaweiDevice(GATEWAY).batch([report_of(f"c{i}", big) for i in range(4)])
    assert len(batches) == 2
    assert all(len(b.payload) <= MAX_PAYLOAD for b in batches)
    assert sum(len(body(b)["devices"]) for b in batches) == 4


def test_a_batch_leaves_what_it_cannot_read_as_it_is() -> None:
    odd = ev.Outgoing(G + "gateway/sub_devices/properties/report", b"not json")
    assert HuaweiDevice(GATEWAY).batch([odd]) == [odd]
    assert HuaweiDevice(GATEWAY).batch([]) == []


# -- the platform half: a gateway's uplinks -------------------------------------------------------
BATCH = G + "gateway/sub_devices/properties/report"


def test_a_batch_report_lands_in_each_child_and_a_bad_entry_is_malformed_alone() -> None:
    devices = [
        {"device_id": CHILD, "services": [{"service_id": "s", "properties": {"v": 1}}]},
        {"device_id": "stranger", "services": [{"service_id": "s", "properties": {"v": 2}}]},
        {"device_id": OTHER, "services": [{"service_id": "s"}]},
        7,
        {"device_id": GATEWAY, "services": [{"service_id": "s", "properties": {"v": 3}}]},
        {"device_id": OTHER, "services": [{"service_id": "s", "properties": {"v": 4}}]},
    ]
    decoded = platform_with(CHILD, OTHER).decode(BATCH, json.dumps({"devices": devices}).encode())
    assert [e for e in decoded if isinstance(e, ev.Reported)] == [
        ev.Reported(CHILD, {"s": {"v": 1}}),
        ev.Reported(GATEWAY, {"s": {"v": 3}}),
        ev.Reported(OTHER, {"s": {"v": 4}}),
    ]
    reasons = [e.reason for e in decoded if isinstance(e, ev.DeviceMalformed)]
    assert reasons == [
        f"devices[1].device_id: device 'stranger' is not a child of gateway {GATEWAY}",
        "devices[2]: missing field services[0].'properties'",
        "devices[3] must be an object, got int",
    ]
    assert all(e.device_id == GATEWAY for e in decoded if isinstance(e, ev.DeviceMalformed))


@pytest.mark.parametrize("count", [0, MAX_BATCH + 1])
def test_a_batch_report_of_no_child_or_too_many_is_refused_whole(count: int) -> None:
    devices = [{"device_id": CHILD, "services": []}] * count
    [event] = platform_with(CHILD).decode(BATCH, json.dumps({"devices": devices}).encode())
    assert isinstance(event, ev.DeviceMalformed) and f"1..{MAX_BATCH}" in event.reason


@pytest.mark.parametrize(
    ("path", "payload", "kind"),
    [
        ("events/up", {"object_device_id": "stranger", "services": []}, "event"),
        ("shadow/get/request_id=s1", {"object_device_id": "stranger"}, "shadow"),
        ("properties/report", {"object_device_id": "stranger", "services": []}, "report"),
        ("messages/up", {"object_device_id": "stranger", "content": "x"}, "message"),
        ("commands/response/request_id=c1", {"object_device_id": "stranger", "result_code": 0}, "command"),
    ],
)
def test_a_gateway_naming_a_device_that_is_not_its_child_is_refused(
    path: str, payload: dict[str, Any], kind: str
) -> None:
    [event] = platform_with(CHILD).decode(G + path, json.dumps(payload).encode())
    assert isinstance(event, ev.DeviceMalformed)
    assert event.device_id == GATEWAY and event.kind == kind
    assert f"'stranger' is not a child of gateway {GATEWAY}" in event.reason


def test_a_child_of_another_gateway_is_no_child_of_this_one() -> None:
    platform = HuaweiPlatform()
    platform.parent_of = lambda device_id: "gw-2" if device_id == CHILD else None
    payload = json.dumps({"object_device_id": CHILD, "service_id": "s"}).encode()
    [event] = platform.decode(G + "shadow/get/request_id=s1", payload)
    assert isinstance(event, ev.DeviceMalformed) and "not a child" in event.reason


def test_the_answers_to_requests_sent_to_a_child_are_the_child_s() -> None:
    platform = platform_with(CHILD)
    [out] = platform.encode(ev.SendCommand(CHILD, "c1", "s", "ring"))
    assert out.topic == G + "commands/request_id=c1"
    answer = G + "commands/response/request_id=c1"
    assert platform.decode(answer, b'{"result_code": 0}') == [ev.CommandAnswered(CHILD, "c1", 0)]
    # answered once: the same id again is the gateway's own
    assert platform.decode(answer, b'{"result_code": 0}') == [ev.CommandAnswered(GATEWAY, "c1", 0)]


def test_an_answer_on_another_gateway_s_topics_is_not_the_child_s() -> None:
    platform = platform_with(CHILD)
    platform.encode(ev.AskRead(CHILD, "r1"))
    [event] = platform.decode(
        "$oc/devices/gw-2/sys/properties/get/response/request_id=r1", b'{"services": []}'
    )
    assert event == ev.ReadAnswered("gw-2", "r1", {})
    assert platform.decode(G + "properties/get/response/request_id=r1", b'{"services": []}') == [
        ev.ReadAnswered(CHILD, "r1", {})
    ]


def test_a_malformed_answer_of_a_child_names_the_child() -> None:
    platform = platform_with(CHILD)
    platform.encode(ev.PushDesired(CHILD, "d1", {"s": {"v": 1}}))
    [event] = platform.decode(G + "properties/set/response/request_id=d1", b"not json")
    assert isinstance(event, ev.DeviceMalformed)
    assert (event.device_id, event.kind, event.request_id) == (CHILD, "desired", "d1")


def test_the_requests_remembered_for_children_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(huawei, "MAX_REMEMBERED", 3)
    platform = platform_with(CHILD)
    for index in range(4):
        platform.encode(ev.SendCommand(CHILD, f"c{index}", None, "ring"))
    first = platform.decode(G + "commands/response/request_id=c0", b"{}")
    last = platform.decode(G + "commands/response/request_id=c3", b"{}")
    assert [e.device_id for e in first + last] == [GATEWAY, CHILD]


def test_the_sdk_s_add_request_gets_iotda_s_defaults() -> None:
    """Huawei's SDK sends every field of AddedSubDeviceInfo, empty when unset, and no event_id."""
    device = {
        "parent_device_id": "",
        "node_id": "n-1",
        "device_id": "",
        "name": "",
        "description": "",
        "product_id": "prod",
        "extension_info": "",
    }
    item = entry("$sub_device_manager", "add_sub_device_request", {"devices": [device]}, event_id="")
    [asked] = platform_with().decode(G + "events/up", events_up(item, object_device_id=GATEWAY))
    assert asked == gw.GatewayAsked(
        GATEWAY, gw.AddChildren("new-1", [gw.ChildInfo("prod_n-1", "prod", "n-1")])
    )


def test_an_add_request_s_bad_entry_is_malformed_and_answered_as_failed() -> None:
    devices = [
        {"node_id": "n-1", "product_id": "prod", "device_id": CHILD},
        {"node_id": "n-2"},
        {"node_id": "n-3", "product_id": "prod", "parent_device_id": "elsewhere"},
        {"node_id": "n-4", "product_id": "prod", "extension_info": {"x": "y" * 2000}},
    ]
    platform = platform_with()
    item = entry("$sub_device_manager", "add_sub_device_request", {"devices": devices}, event_id="a1")
    asked, *problems = platform.decode(G + "events/up", events_up(item))
    assert asked == gw.GatewayAsked(GATEWAY, gw.AddChildren("a1", [gw.ChildInfo(CHILD, "prod", "n-1")]))
    reasons = [p.reason for p in problems if isinstance(p, ev.DeviceMalformed)]
    assert len(reasons) == 3
    assert "[1].'product_id'" in reasons[0] and "elsewhere" in reasons[1] and "1024" in reasons[2]
    [out] = platform.encode(gw.TellGateway(GATEWAY, gw.ChildrenAnswered("add", "a1", [CHILD])))
    paras = body(out)["services"][0]["paras"]
    assert [d["device_id"] for d in paras["successful_devices"]] == [CHILD]
    assert [f.get("node_id") for f in paras["failed_devices"]] == ["n-2", "n-3", "n-4"]
    assert all(f["error_code"] == "400" and f["error_msg"] for f in paras["failed_devices"])


@pytest.mark.parametrize(
    ("event_type", "paras", "reason"),
    [
        (
            "add_sub_device_request",
            {"devices": [{"node_id": "n", "product_id": "p"}] * (MAX_ADD + 1)},
            "1..50",
        ),
        ("add_sub_device_request", {"devices": []}, "1..50"),
        ("sub_device_update_status", {"device_statuses": []}, "1..100"),
        ("delete_sub_device_request", {"devices": "c1"}, "must be list"),
        ("sub_device_sync_request", {"version": -1}, "'version'"),
    ],
)
def test_a_gateway_request_iotda_refuses_whole_is_malformed(event_type: str, paras: Any, reason: str) -> None:
    [event] = platform_with().decode(
        G + "events/up", events_up(entry("$sub_device_manager", event_type, paras))
    )
    assert isinstance(event, ev.DeviceMalformed) and reason in event.reason


def test_a_status_entry_that_is_neither_online_nor_offline_is_malformed() -> None:
    statuses = [{"device_id": CHILD, "status": "ONLINE"}, {"device_id": OTHER, "status": "ASLEEP"}]
    item = entry(
        "$sub_device_manager", "sub_device_update_status", {"device_statuses": statuses}, event_id="s1"
    )
    platform = platform_with(CHILD, OTHER)
    asked, problem = platform.decode(G + "events/up", events_up(item))
    assert asked == gw.GatewayAsked(GATEWAY, gw.ChildrenStatus("s1", {CHILD: True}))
    assert isinstance(problem, ev.DeviceMalformed) and "'ASLEEP'" in problem.reason
    [out] = platform.encode(gw.TellGateway(GATEWAY, gw.ChildrenAnswered("status", "s1", [CHILD])))
    assert body(out)["services"][0]["paras"] == {
        "successful_devices": [{"device_id": CHILD, "status": "ONLINE"}],
        "failed_devices": [{"device_id": OTHER, "error_msg": problem.reason, "error_code": "400"}],
    }


def test_a_child_cannot_ask_for_children_of_its_own() -> None:
    item = entry("$sub_device_manager", "sub_device_sync_request", {})
    [event] = platform_with(CHILD).decode(G + "events/up", events_up(item, object_device_id=CHILD))
    assert isinstance(event, ev.DeviceMalformed) and event.device_id == CHILD and "nested" in event.reason


def test_a_child_s_system_events_are_its_own() -> None:
    report = entry("$ota", "version_report", {"fw_version": "2.0"})
    assert platform_with(CHILD).decode(G + "events/up", events_up(report, object_device_id=CHILD)) == [
        ev.VersionReported(CHILD, "2.0")
    ]


# -- the platform half: downlinks to a child --------------------------------------------------------
def test_everything_sent_to_a_child_goes_on_its_gateway_s_topics_naming_it() -> None:
    platform = platform_with(CHILD)
    messages = [
        ev.PushDesired(CHILD, "d1", {"s": {"v": 1}}),
        ev.AskRead(CHILD, "r1"),
        ev.SendCommand(CHILD, "c1", None, "ring"),
        ev.AnswerShadow(CHILD, "s1", {}),
        ev.AnswerRequest(CHILD, "s2", "shadow", 400, "no"),
        ev.EventDown(CHILD, "s", "alarm"),
        ev.MessageDown(CHILD, b"text"),
        ev.QueryVersion(CHILD),
        ev.ConfigureLog(CHILD, True),
        ev.AnswerTimeSync(CHILD, 1, 2),
        ev.PushRules(CHILD, {"rule-1": 1}, "p1"),
    ]
    for message in messages:
        [out] = platform.encode(message)
        assert out.topic.startswith(G), message
        assert body(out)["object_device_id"] == CHILD, message
        assert HuaweiDevice(GATEWAY).addressee(out.topic, out.payload) == CHILD
    with pytest.raises(CodecError, match="UTF-8"):
        platform.encode(ev.MessageDown(CHILD, b"\xff"))


def test_a_device_that_is_no_child_is_sent_to_as_before() -> None:
    [out] = platform_with(CHILD).encode(ev.SendCommand(OTHER, "c1", None, "ring"))
    assert out.topic == f"$oc/devices/{OTHER}/sys/commands/request_id=c1"
    assert "object_device_id" not in body(out)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (gw.TellGateway(CHILD, gw.ChildrenChanged(added=[], version=1)), "nested"),
        (gw.TellGateway(GATEWAY, gw.ChildrenChanged(added=[])), "version"),
        (gw.TellGateway(GATEWAY, gw.ChildrenAnswered("sync", "s1")), "notifies"),
        (gw.TellGateway(GATEWAY, gw.ChildrenAnswered("add", None)), "request_id"),
    ],
)
def test_what_iotda_cannot_tell_a_gateway_is_a_codec_error(message: Any, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        platform_with(CHILD).encode(message)


def test_an_empty_sync_answer_is_an_empty_add_notify_with_the_version() -> None:
    [out] = platform_with().encode(gw.TellGateway(GATEWAY, gw.ChildrenChanged(version=0, complete=True)))
    assert body(out)["services"] == [
        {
            "service_id": "$sub_device_manager",
            "event_type": "add_sub_device_notify",
            "paras": {"version": 0, "devices": []},
        }
    ]


def test_a_registry_cloud_takes_no_registered_device_as_a_child() -> None:
    platform = platform_codec("huawei")
    assert platform.check_child(gw.ChildInfo(CHILD), None) is None  # type: ignore[attr-defined]
    reason = platform.check_child(gw.ChildInfo(CHILD), "its-secret")  # type: ignore[attr-defined]
    assert reason is not None and CHILD in reason and "its-secret" not in reason
