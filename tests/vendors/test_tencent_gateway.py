"""Tencent gateways and sub-devices (``$gateway/operation/...``), hub and Explorer alike, both halves.

The golden fixtures (``tests/fixtures/tencent/60-*`` to ``74-*``) are round-tripped by
``test_tencent.py`` in the mode each names; here each also runs in the other mode (the gateway
protocol is the same on both), the bind is encoded with the fixture's ``sign`` (its secret,
random and timestamp), and the change ack comes from ``acknowledge`` (``acknowledges``: the
ChildrenChanged it answers). The rest checks what fixtures cannot show: a child's codec,
``addressee``, batching, the bind signature's check, result codes both ways, malformed input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from thingmodel import CodecError, InvalidValue
from thingmodel.cloud.access import filter_within
from thingmodel.cloud.gateways import GatewayBook
from thingmodel.protocol import gateway as gw
from thingmodel.protocol import messages as ev
from thingmodel.protocol.topics import topic_matches
from thingmodel.vendors import device_codec
from thingmodel.vendors.tencent import (
    BIND_SIGNATURE_TTL,
    GATEWAY_RESULTS,
    MAX_GATEWAY_DEVICES,
    MAX_PAYLOAD,
    TencentExplorerDevice,
    TencentExplorerPlatform,
    TencentHubDevice,
    TencentHubPlatform,
    bind_signature,
    device_topics,
    result_code,
    topic_device,
)

from . import golden

GATEWAY = "ABCDEFGHIJ.gateway1"
UP, DOWN = "$gateway/operation/ABCDEFGHIJ/gateway1", "$gateway/operation/result/ABCDEFGHIJ/gateway1"
CHILD = "CFCSQ5EAG7.onlinedev00"
SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0"
SIGNED_AT = 1589786839
MODES = ["hub", "explorer"]
Device = TencentHubDevice | TencentExplorerDevice
Platform = TencentHubPlatform | TencentExplorerPlatform

FIXTURES = [p for p in golden.fixture_paths("tencent") if 60 <= int(p.stem[:2]) <= 74]
FIXTURES_UP = [p for p in FIXTURES if golden.load(p)["direction"] == "up"]
FIXTURES_DOWN = [p for p in FIXTURES if golden.load(p)["direction"] == "down"]
ORDINARY = [p for p in golden.fixture_paths("tencent") if int(p.stem[:2]) < 60]


def wire(value: Any) -> bytes:
    return json.dumps(value).encode()


def body(out: ev.Outgoing) -> Any:
    return json.loads(out.payload)


def device(
    mode: str,
    device_id: str = GATEWAY,
    *,
    gateway_id: str | None = None,
    clock: float = golden.CLOCK,
    nonce: int = 121213,
) -> Device:
    cls = TencentExplorerDevice if mode == "explorer" else TencentHubDevice
    made: Device = cls(
        device_id,
        service_ids=["light"],
        new_id=golden.counter(),
        clock=lambda: clock,
        gateway_id=gateway_id,
        nonce=lambda: nonce,
    )
    return made


def platform(mode: str, clock: float = golden.CLOCK) -> Platform:
    cls = TencentExplorerPlatform if mode == "explorer" else TencentHubPlatform
    made: Platform = cls(clock=lambda: clock, new_id=golden.counter())
    return made


def events(fixture: dict[str, Any]) -> list[Any]:
    return [golden.build(fixture["event"])]


def platform_reads(fixture: dict[str, Any]) -> list[Any]:
    described = fixture["platform"]
    return [golden.build(d) for d in (described if isinstance(described, list) else [described])]


# -- the golden fixtures, in both modes -------------------------------------------------------------
def test_every_gateway_fixture_is_here_and_names_its_source() -> None:
    assert len(FIXTURES) == 15
    for path in FIXTURES:
        fixture = golden.load(path)
        assert fixture["source"] and fixture["device_id"] == GATEWAY, path.name


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", FIXTURES_DOWN, ids=golden.ids(FIXTURES_DOWN))
def test_a_gateway_downlink_decodes_and_encodes_the_same_in_either_mode(path: Path, mode: str) -> None:
    fixture = golden.load(path)
    gateway = device(mode)
    assert fixture["topic"] in gateway.gateway_subscriptions()
    assert gateway.decode(fixture["topic"], golden.wire(fixture)) == events(fixture)
    [out] = platform(mode).encode(golden.build(fixture["platform"]))
    golden.assert_equivalent(out, fixture)
    assert gateway.addressee(out.topic, out.payload) is None  # the gateway's own


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", FIXTURES_UP, ids=golden.ids(FIXTURES_UP))
def test_a_gateway_request_reaches_the_platform_as_the_fixtures_message_in_either_mode(
    path: Path, mode: str
) -> None:
    fixture = golden.load(path)
    cloud = platform(mode)
    assert any(topic_matches(f, fixture["topic"]) for f in cloud.subscriptions())
    assert cloud.decode(fixture["topic"], golden.wire(fixture)) == platform_reads(fixture)
    gateway = device(mode, clock=fixture.get("sign", {}).get("timestamp", golden.CLOCK))
    if "action" in fixture:
        [out] = gateway.encode(golden.build(fixture["action"]))
        golden.assert_equivalent(out, fixture)


@pytest.mark.parametrize("mode", MODES)
def test_the_bind_is_signed_with_the_childs_secret_as_both_sdks_sign_it(mode: str) -> None:
    [fixture] = [golden.load(p) for p in FIXTURES if p.stem.endswith("gateway-bind")]
    sign = fixture["sign"]
    gateway = device(mode, clock=sign["timestamp"] + 0.9, nonce=sign["random"])
    [out] = gateway.encode(golden.build(fixture["bind_action"]))
    golden.assert_equivalent(out, fixture)
    # the signature of the reference note's text, keyed by the secret's text (not base64-decoded)
    assert body(out)["payload"]["devices"][0]["signature"] == bind_signature(
        "CFCSQ5EAG7", "onlinedev00", SECRET, sign["random"], sign["timestamp"]
    )
    [asked] = platform(mode, clock=sign["timestamp"] + 5).decode(out.topic, out.payload)
    assert isinstance(asked, gw.GatewayAsked) and isinstance(asked.request, gw.AddChildren)
    assert platform(mode, sign["timestamp"] + 5).check_proof(asked.request.children[0], SECRET) is None


@pytest.mark.parametrize("mode", MODES)
def test_the_ack_of_a_change_push_is_what_the_doc_shows_and_a_describe_answer_wants_none(mode: str) -> None:
    [fixture] = [golden.load(p) for p in FIXTURES if p.stem.endswith("change-ack")]
    changed = golden.build(fixture["acknowledges"])
    [ack] = device(mode).acknowledge(changed)
    golden.assert_equivalent(ack, fixture)
    assert device(mode).acknowledge(gw.ChildrenChanged(complete=True)) == []
    assert device(mode, CHILD, gateway_id=GATEWAY).acknowledge(changed) == []


# -- a child's codec ----------------------------------------------------------------------------------
def _ordinary(fixture: dict[str, Any], gateway_id: str | None) -> Device:
    cls = TencentExplorerDevice if fixture["mode"] == "explorer" else TencentHubDevice
    made: Device = cls(
        fixture["device_id"],
        service_ids=fixture["service_ids"],
        new_id=golden.counter(),
        clock=golden.fixed_clock,
        gateway_id=gateway_id,
    )
    golden.run_before(made, fixture)
    return made


@pytest.mark.parametrize("path", ORDINARY, ids=golden.ids(ORDINARY))
def test_a_childs_codec_is_its_ordinary_codec_on_its_own_topics(path: Path) -> None:
    fixture = golden.load(path)
    child, alone = _ordinary(fixture, GATEWAY), _ordinary(fixture, None)
    assert child.subscriptions() == alone.subscriptions()
    if fixture["direction"] == "down":
        assert child.decode(fixture["topic"], golden.wire(fixture)) == alone.decode(
            fixture["topic"], golden.wire(fixture)
        )
        # the gateway's codec routes it to the child the topic names
        assert (
            device(fixture["mode"]).addressee(fixture["topic"], golden.wire(fixture)) == fixture["device_id"]
        )
    elif "action" in fixture:
        action = golden.build(fixture["action"], golden.wire(fixture))
        assert child.encode(action) == alone.encode(action)


@pytest.mark.parametrize("mode", MODES)
def test_a_child_knows_its_gateway_sends_no_gateway_requests_and_subscribes_no_gateway_topic(
    mode: str,
) -> None:
    child = device(mode, CHILD, gateway_id=GATEWAY)
    assert child.gateway_id == GATEWAY and child.device_id == CHILD
    assert child.gateway_subscriptions() == []
    assert not any(f.startswith("$gateway/") for f in child.subscriptions())
    for request in (
        gw.AddChildren("r", [gw.ChildInfo("CFCSQ5EAG7.x", secret=SECRET)]),
        gw.RemoveChildren("r", ["CFCSQ5EAG7.x"]),
        gw.ChildrenStatus("r", {"CFCSQ5EAG7.x": True}),
        gw.SyncChildren("r"),
    ):
        with pytest.raises(CodecError, match=f"{CHILD} is a child of {GATEWAY}"):
            child.encode(request)
    # a gateway's reply reaching the child's codec is no downlink of the child's
    [bad] = child.decode(f"$gateway/operation/result/{CHILD.replace('.', '/')}", wire({"type": "online"}))
    assert isinstance(bad, ev.Malformed)


@pytest.mark.parametrize("vendor", ["tencent-hub", "tencent-explorer"])
def test_the_registry_builds_a_childs_codec_with_gateway_id(vendor: str) -> None:
    codec = device_codec(vendor, device_id=CHILD, service_ids=["light"], gateway_id=GATEWAY)
    assert getattr(codec, "gateway_id", None) == GATEWAY


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("gateway_id", [CHILD, "no-dot", "ABCDEFGHIJ.a/b"])
def test_a_child_cannot_be_its_own_gateway_nor_name_a_gateway_that_is_no_device_id(
    mode: str, gateway_id: str
) -> None:
    with pytest.raises(InvalidValue):
        device(mode, CHILD, gateway_id=gateway_id)


# -- addressee ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("topic", "addressee"),
    [
        ("$thing/down/property/CFCSQ5EAG7/onlinedev00", CHILD),
        ("$thing/down/action/CFCSQ5EAG7/onlinedev00", CHILD),
        ("$shadow/operation/result/CFCSQ5EAG7/onlinedev00", CHILD),
        ("$ota/update/CFCSQ5EAG7/onlinedev00", CHILD),
        ("$sys/operation/result/CFCSQ5EAG7/onlinedev00", CHILD),
        ("CFCSQ5EAG7/onlinedev00/control", CHILD),
        ("CFCSQ5EAG7/onlinedev00/custom/deeper", CHILD),
        ("$thing/down/property/ABCDEFGHIJ/gateway1", None),
        ("ABCDEFGHIJ/gateway1/control", None),
        (DOWN, None),
        ("", None),
        ("just-one-level", None),
        ("$thing/down/property", None),
        ("$unknown/a/b/c", None),
        ("A.B/dev/control", None),
        ("//x", None),
    ],
)
def test_addressee_is_the_child_a_topic_names_and_none_for_the_gateways_own(
    mode: str, topic: str, addressee: str | None
) -> None:
    assert device(mode).addressee(topic, b"\xff not json") == addressee


# -- device half: what it sends ---------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_status_is_one_request_per_state_naming_the_children_in_it_in_order(mode: str) -> None:
    states = {"CFCSQ5EAG7.a": True, "CFCSQ5EAG7.b": False, "CFCSQ5EAG7.c": True}
    online, offline = device(mode).encode(gw.ChildrenStatus("r", states))
    assert (online.topic, offline.topic) == (UP, UP)
    assert body(online) == {
        "type": "online",
        "payload": {
            "devices": [
                {"product_id": "CFCSQ5EAG7", "device_name": "a"},
                {"product_id": "CFCSQ5EAG7", "device_name": "c"},
            ]
        },
    }
    assert body(offline) == {
        "type": "offline",
        "payload": {"devices": [{"product_id": "CFCSQ5EAG7", "device_name": "b"}]},
    }
    assert device(mode).encode(gw.ChildrenStatus("r", {})) == []


@pytest.mark.parametrize("mode", MODES)
def test_many_children_go_in_requests_of_at_most_fifty_each_within_the_size_limit(mode: str) -> None:
    names = [f"CFCSQ5EAG7.{'d' * 44}{i:04d}" for i in range(120)]  # 48-character names, the longest
    binds = device(mode).encode(gw.AddChildren("r", [gw.ChildInfo(n, secret=SECRET) for n in names]))
    statuses = device(mode).encode(gw.ChildrenStatus("r", dict.fromkeys(names, True)))
    unbinds = device(mode).encode(gw.RemoveChildren("r", names))
    for sent in (binds, statuses, unbinds):
        assert [len(body(o)["payload"]["devices"]) for o in sent] == [
            MAX_GATEWAY_DEVICES,
            MAX_GATEWAY_DEVICES,
            20,
        ]
        assert all(len(o.payload) <= MAX_PAYLOAD for o in sent)
        named = [f"{d['product_id']}.{d['device_name']}" for o in sent for d in body(o)["payload"]["devices"]]
        assert named == names


@pytest.mark.parametrize("mode", MODES)
def test_a_child_named_twice_is_bound_and_unbound_once(mode: str) -> None:
    child = gw.ChildInfo(CHILD, secret=SECRET)
    [bind] = device(mode).encode(gw.AddChildren("r", [child, child]))
    [unbind] = device(mode).encode(gw.RemoveChildren("r", [CHILD, CHILD]))
    assert len(body(bind)["payload"]["devices"]) == len(body(unbind)["payload"]["devices"]) == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_child_without_a_secret_cannot_be_bound_and_the_error_says_why(mode: str) -> None:
    with pytest.raises(CodecError, match=rf"child {CHILD} has no secret: Tencent's bind is signed"):
        device(mode).encode(gw.AddChildren("r", [gw.ChildInfo(CHILD)]))


@pytest.mark.parametrize("mode", MODES)
def test_a_child_whose_product_id_is_not_its_own_is_refused(mode: str) -> None:
    with pytest.raises(CodecError, match="product_id 'OTHERPID00' is not its ProductId"):
        device(mode).encode(
            gw.AddChildren("r", [gw.ChildInfo(CHILD, product_id="OTHERPID00", secret=SECRET)])
        )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bad", ["nodot", "A/B.c", "PID.a#b"])
def test_a_child_id_that_would_break_a_topic_is_refused(mode: str, bad: str) -> None:
    with pytest.raises(InvalidValue):
        device(mode).encode(gw.RemoveChildren("r", [bad]))


def test_the_secret_never_shows_in_a_childs_repr() -> None:
    info = gw.ChildInfo(CHILD, secret=SECRET, proof="psk;hmacsha1;1;2;c2ln")
    assert SECRET not in repr(info) and "c2ln" not in repr(info)


# -- device half: what it reads ---------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_each_childs_result_is_done_or_failed_with_tencents_meaning_and_code(mode: str) -> None:
    devices = [
        {"product_id": "CFCSQ5EAG7", "device_name": "ok", "result": 0},
        {"product_id": "CFCSQ5EAG7", "device_name": "text", "result": "0"},  # a number as text
        *[
            {"product_id": "CFCSQ5EAG7", "device_name": f"c{code}", "result": code}
            for code in GATEWAY_RESULTS
            if code
        ],
        {"product_id": "CFCSQ5EAG7", "device_name": "odd", "result": 42},
    ]
    [answer] = device(mode).decode(DOWN, wire({"type": "bind", "payload": {"devices": devices}}))
    assert isinstance(answer, gw.ChildrenAnswered)
    assert answer.operation == "add" and answer.request_id is None
    assert answer.done == ("CFCSQ5EAG7.ok", "CFCSQ5EAG7.text")
    assert answer.failed["CFCSQ5EAG7.c803"] == "signature check failed (code 803)"
    assert answer.failed["CFCSQ5EAG7.c-1"] == "the gateway is not bound to the sub-device (code -1)"
    assert answer.failed["CFCSQ5EAG7.odd"] == "undocumented result (code 42)"
    assert len(answer.failed) == len(GATEWAY_RESULTS)  # every documented failure, and the odd one
    # what the device half reads goes out again with the same code
    for device_id, reason in answer.failed.items():
        assert result_code("add", reason) == int(
            device_id.rpartition("c")[2] if "odd" not in device_id else 42
        )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (b"not json", "JSON"),
        (wire([]), "object"),
        (wire({"payload": {}}), "'type'"),
        (wire({"type": "reboot"}), "unknown type 'reboot'"),
        (wire({"type": "online"}), "'payload'"),
        (wire({"type": "online", "payload": {"devices": {}}}), "'devices'"),
        (wire({"type": "online", "payload": {"devices": [1]}}), "payload.devices[0] must be an object"),
        (wire({"type": "online", "payload": {"devices": [{"product_id": "P"}]}}), "'device_name'"),
        (
            wire({"type": "online", "payload": {"devices": [{"product_id": "A", "device_name": "b"}]}}),
            "result",
        ),
        (
            wire(
                {
                    "type": "online",
                    "payload": {"devices": [{"product_id": "A.B", "device_name": "c", "result": 0}]},
                }
            ),
            "contains '.'",
        ),
        (
            wire(
                {
                    "type": "online",
                    "payload": {"devices": [{"product_id": "A", "device_name": "b", "result": 1.5}]},
                }
            ),
            "result",
        ),
        (wire({"type": "change", "payload": {"status": 2, "devices": []}}), "0 unbound, 1 bound"),
        (wire({"type": "change", "payload": {"devices": []}}), "'status'"),
    ],
)
def test_a_malformed_gateway_downlink_is_named_by_its_field_and_changes_nothing(
    mode: str, payload: bytes, named: str
) -> None:
    [bad] = device(mode).decode(DOWN, payload)
    assert isinstance(bad, ev.Malformed) and named in bad.reason, bad


# -- platform half --------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("topic", "payload", "gateway", "named"),
    [
        (UP, b"{", GATEWAY, "JSON"),
        (UP, wire({"type": "bind", "payload": {"devices": []}}), GATEWAY, "names no sub-device"),
        (UP, wire({"type": "online", "payload": {}}), GATEWAY, "'devices'"),
        (UP, wire({"type": "teleport"}), GATEWAY, "unknown type"),
        (UP, wire({"type": "change", "result": 1}), GATEWAY, "answered the cloud's change with result 1"),
        (UP, wire({"type": "change"}), GATEWAY, "'result'"),
        (
            UP,
            wire({"type": "bind", "payload": {"devices": [{"product_id": "A", "device_name": "b"}]}}),
            GATEWAY,
            "'signature'",
        ),
        (
            UP,
            wire(
                {
                    "type": "bind",
                    "payload": {
                        "devices": [
                            {
                                "product_id": "A",
                                "device_name": "b",
                                "signature": "s",
                                "random": 1,
                                "timestamp": 2,
                                "signmethod": "a;b",
                            }
                        ]
                    },
                }
            ),
            GATEWAY,
            "'signmethod' is not a method name",
        ),
        (
            "$gateway/operation/ABCDEFGHIJ/gateway1/extra",
            wire({"type": "describe_sub_devices"}),
            None,
            "not a device",
        ),
        ("$gateway/operation/A.B/c", wire({"type": "describe_sub_devices"}), None, "contains '.'"),
    ],
)
def test_a_malformed_gateway_request_is_named_with_its_gateway(
    mode: str, topic: str, payload: bytes, gateway: str | None, named: str
) -> None:
    [bad] = platform(mode).decode(topic, payload)
    assert isinstance(bad, ev.DeviceMalformed) and bad.device_id == gateway and named in bad.reason, bad


def _proof(
    *, authtype: str = "psk", method: str = "hmacsha1", signature: str | None = None, nonce: int = 121213
) -> gw.ChildInfo:
    """A decoded bind's child, signed with SECRET at SIGNED_AT unless told otherwise."""
    signed = method if method in ("hmacsha1", "hmacsha256") else "hmacsha1"
    signature = signature or bind_signature("CFCSQ5EAG7", "onlinedev00", SECRET, nonce, SIGNED_AT, signed)
    return gw.ChildInfo(CHILD, proof=f"{authtype};{method};{nonce};{SIGNED_AT};{signature}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("child", "secret", "now", "code"),
    [
        (_proof(), SECRET, SIGNED_AT, None),
        (_proof(method="hmacsha256"), SECRET, SIGNED_AT + BIND_SIGNATURE_TTL, None),
        (_proof(), "b3RoZXI=", SIGNED_AT, 803),
        (_proof(signature="AAAA"), SECRET, SIGNED_AT, 803),
        (_proof(), SECRET, SIGNED_AT + BIND_SIGNATURE_TTL + 1, 805),
        (_proof(method="md5"), SECRET, SIGNED_AT, 804),
        (_proof(authtype="certificate"), SECRET, SIGNED_AT, 804),
        (gw.ChildInfo(CHILD), SECRET, SIGNED_AT, 801),
        (gw.ChildInfo(CHILD, proof="garbage"), SECRET, SIGNED_AT, 801),
        (gw.ChildInfo(CHILD, proof="psk;hmacsha1;x;y;z"), SECRET, SIGNED_AT, 801),
    ],
)
def test_the_platform_checks_a_bind_signature_against_the_registered_secret(
    mode: str, child: gw.ChildInfo, secret: str, now: int, code: int | None
) -> None:
    reason = platform(mode, clock=now).check_proof(child, secret)
    if code is None:
        assert reason is None
    else:
        assert reason is not None and reason.endswith(f"(code {code})") and SECRET not in reason
        assert result_code("add", reason) == code


def test_the_clouds_own_reasons_go_out_with_the_documented_codes() -> None:
    book = GatewayBook(max_children=1)
    book.add(GATEWAY, gw.ChildInfo(CHILD))
    reasons = {}
    for gateway_id, child_id in (
        ("ABCDEFGHIJ.other", CHILD),  # a child of another gateway already
        (GATEWAY, GATEWAY),  # its own child
        ("CFCSQ5EAG7.x", GATEWAY),  # a gateway as a child
        (GATEWAY, "CFCSQ5EAG7.more"),  # no room
    ):
        with pytest.raises(InvalidValue) as refused:
            book.add(gateway_id, gw.ChildInfo(child_id))
        reasons[child_id if child_id != GATEWAY else gateway_id] = str(refused.value)
    assert [result_code("add", r) for r in reasons.values()] == [806, 807, 807, 808]
    assert result_code("add", "device 'X.y' is not registered") == 802
    assert result_code("status", "X.y is not a child of gateway G") == -1
    assert result_code("status", "something else") == -2
    assert result_code("remove", "something else") == 808


@pytest.mark.parametrize("mode", MODES)
def test_status_answers_say_online_or_offline_as_the_request_did(mode: str) -> None:
    cloud = platform(mode)
    for state in ("online", "offline"):
        [out] = cloud.encode(gw.TellGateway(GATEWAY, gw.ChildrenAnswered("status", state, [CHILD])))
        assert body(out)["type"] == state
    with pytest.raises(CodecError, match="'online' or 'offline'"):
        cloud.encode(gw.TellGateway(GATEWAY, gw.ChildrenAnswered("status", "r-17", [CHILD])))
    with pytest.raises(CodecError, match="describe_sub_devices with the list"):
        cloud.encode(gw.TellGateway(GATEWAY, gw.ChildrenAnswered("sync", "describe_sub_devices")))
    assert cloud.encode(gw.TellGateway(GATEWAY, gw.ChildrenAnswered("add", "bind"))) == []


@pytest.mark.parametrize("mode", MODES)
def test_a_change_of_both_kinds_is_two_pushes_and_each_decodes_back(mode: str) -> None:
    change = gw.ChildrenChanged(added=[gw.ChildInfo("CFCSQ5EAG7.a")], removed=["CFCSQ5EAG7.b"])
    bound, unbound = platform(mode).encode(gw.TellGateway(GATEWAY, change))
    assert (body(bound)["payload"]["status"], body(unbound)["payload"]["status"]) == (1, 0)
    gateway = device(mode)
    assert gateway.decode(bound.topic, bound.payload) == [
        gw.ChildrenChanged(added=[gw.ChildInfo("CFCSQ5EAG7.a", product_id="CFCSQ5EAG7")])
    ]
    assert gateway.decode(unbound.topic, unbound.payload) == [gw.ChildrenChanged(removed=["CFCSQ5EAG7.b"])]


@pytest.mark.parametrize("mode", MODES)
def test_a_full_list_too_long_for_one_reply_is_refused_not_cut(mode: str) -> None:
    many = [gw.ChildInfo(f"CFCSQ5EAG7.{'d' * 44}{i:04d}") for i in range(400)]
    with pytest.raises(CodecError, match="exceeds Tencent IoT's limit"):
        platform(mode).encode(gw.TellGateway(GATEWAY, gw.ChildrenChanged(added=many, complete=True)))


@pytest.mark.parametrize("mode", MODES)
def test_the_platforms_parent_of_defaults_to_no_gateway(mode: str) -> None:
    assert platform(mode).parent_of(CHILD) is None


def test_a_device_may_use_its_gateway_topics_and_they_name_the_gateway() -> None:
    publish, subscribe = device_topics(GATEWAY)
    assert any(topic_matches(f, UP) for f in publish) and not any(topic_matches(f, DOWN) for f in publish)
    assert any(filter_within(DOWN, f) for f in subscribe) and not any(filter_within(UP, f) for f in subscribe)
    for f in device("hub").gateway_subscriptions():
        assert any(filter_within(f, outer) for outer in subscribe)
    assert topic_device(UP) == topic_device(DOWN) == GATEWAY
    assert not any(topic_matches(f, DOWN) for f in platform("hub").subscriptions())
