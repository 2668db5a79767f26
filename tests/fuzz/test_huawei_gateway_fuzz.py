"""Fuzz the Huawei gateway decoders: hostile but well-formed-looking gateway messages.

One test per decoder, 5,000 derandomized cases each (1,000 Hypothesis examples of 5 cases built
from the seed each draws, as test_huawei_features_fuzz.py does; a failure names its seed and
case). Device half: the ``$sub_device_manager`` notifies and answers on ``events/down``, and
who a downlink is for (``addressee``, then the child's codec). Platform half: the gateway's add,
delete, status and sync requests on ``events/up``, and the batch report of its children. A case
starts from a valid message and drops keys or gives them wrong values, at the top of ``paras``
and inside the entries of its list (huge numbers, empty, hostile and over-long strings, ids with
slashes, wildcards or control characters); some cases put another entry beside it, make a list
a non-list, or break the bytes (not UTF-8, cut short, NaN). Decoding never raises; what it gives
holds the invariants of its message, or is a Malformed / DeviceMalformed with a short reason
naming something the case touched; and what the platform answers a request with always encodes
and decodes back on the gateway's side with the request's id.
"""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thingmodel.ids import validate_id
from thingmodel.protocol import gateway as gw
from thingmodel.protocol import messages as ev
from thingmodel.vendors.huawei import (
    MAX_ADD,
    MAX_BATCH,
    MAX_PAYLOAD,
    MAX_STATUS,
    HuaweiDevice,
    HuaweiPlatform,
)

CASES = int(os.environ.get("THINGMODEL_HUAWEI_GATEWAY_FUZZ_CASES", "5000"))
PER_EXAMPLE = 5
FUZZ = settings(
    max_examples=max(1, CASES // PER_EXAMPLE),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SEEDS = st.integers(min_value=0, max_value=2**64 - 1)
GATEWAY, CHILD, OTHER = "gw-1", "child-1", "child-2"
PREFIX = f"$oc/devices/{GATEWAY}/sys/"
DOWN, UP, BATCH = (
    PREFIX + "events/down",
    PREFIX + "events/up",
    PREFIX + "gateway/sub_devices/properties/report",
)
SUB = "$sub_device_manager"

TRICKY: list[Any] = [
    None,
    True,
    False,
    -1,
    0,
    1,
    2**63 - 1,
    2**63,
    2**70,
    -(2**70),
    0.5,
    1e300,
    "",
    " ",
    "ONLINE",
    "OFFLINE",
    "online",
    GATEWAY,
    CHILD,
    OTHER,
    "stranger",
    "a/b",
    "+",
    "#",
    "\x00",
    "\x07bell",
    "\U0001f525",
    "x" * 129,
    "x" * 5000,
    [],
    [CHILD],
    [1, "a"],
    {},
    {"device_id": CHILD},
    {"a": 1},
]
_ALPHABET = 'aZ09 _-./:+#\u00e9\u4e2d\U0001f525\x00\n"'
SHAPES = ["plain"] * 6 + ["two-entries", "list-not-list", "not-utf8", "cut-short", "nan"]


def hostile(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.6:
        value = rng.choice(TRICKY)
        return copy.deepcopy(value) if isinstance(value, (dict, list)) else value
    if roll < 0.75:
        return rng.randint(-(2**70), 2**70) if rng.random() < 0.5 else rng.randint(-5, 300)
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 12)))


def spoil(target: dict[str, Any], keys: list[str], rng: random.Random, touched: set[str]) -> None:
    """Drop up to two of ``keys`` from ``target`` or give them hostile values."""
    for _ in range(rng.randint(0, 2)):
        key = rng.choice(keys)
        touched.add(key)
        if key in target and rng.random() < 0.4:
            del target[key]
        else:
            target[key] = hostile(rng)


@attrs.frozen
class Decoder:
    """One decoder under fuzz: its half, a valid paras per event type, the list in paras whose
    entries are spoiled too (and their keys), and what a decoded message must hold."""

    half: str
    samples: dict[str, dict[str, Any]]
    entries: str
    entry_keys: tuple[str, ...]
    check: Callable[[str, Any], None]


@attrs.frozen
class Case:
    event_type: str
    touched: frozenset[str]
    shape: str
    payload: bytes


def make_case(decoder: Decoder, rng: random.Random) -> Case:
    event_type = rng.choice(sorted(decoder.samples))
    paras = json.loads(json.dumps(decoder.samples[event_type]))
    touched: set[str] = set()
    spoil(paras, sorted({*paras, "zz"}), rng, touched)
    items = paras.get(decoder.entries)
    if isinstance(items, list) and items and rng.random() < 0.7:
        index = rng.randrange(len(items))
        if isinstance(items[index], dict):
            spoil(items[index], [*decoder.entry_keys, "zz"], rng, touched)
        else:
            items[index] = hostile(rng)
            touched.add(decoder.entries)
    shape = rng.choice(SHAPES)
    if shape == "list-not-list" and decoder.entries in paras:
        paras[decoder.entries] = rng.choice(["x", 3, {"a": 1}, True])
        touched.add(decoder.entries)
    item: dict[str, Any] = {"service_id": SUB, "event_type": event_type, "paras": paras}
    if rng.random() < 0.8:
        item["event_id"] = rng.choice(["req-1", "req-1", "", None, 5, "a/b", "x" * 200])
        touched.add("event_id")
    items_out = [item]
    if shape == "two-entries":
        items_out.append({"service_id": "smokeDetector", "event_type": "alarm", "paras": {"level": 1}})
    payload = json.dumps({"object_device_id": GATEWAY, "services": items_out}).encode()
    return Case(event_type, frozenset(touched), shape, _break(payload, shape, rng))


def _break(payload: bytes, shape: str, rng: random.Random) -> bytes:
    if shape == "not-utf8":
        at = rng.randint(0, len(payload))
        return payload[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80"]) + payload[at:]
    if shape == "cut-short":
        return payload[: rng.randint(0, len(payload) - 1)]
    if shape == "nan":
        return payload[:-3] + b',"x":NaN}]}'
    return payload


def _is_id(value: object) -> bool:
    try:
        validate_id("id", value)
    except Exception:
        return False
    return True


def _names_something_touched(reason: str, case: Case) -> bool:
    lists = ("'devices'", "'device_statuses'", "'successful_devices'", "'failed_devices'", "services[")
    return any(repr(key) in reason for key in case.touched) or any(word in reason for word in lists)


# -- invariants ----------------------------------------------------------------------------------
def check_changed(event_type: str, changed: gw.ChildrenChanged) -> None:
    assert changed.version is None or 0 <= changed.version < 2**63
    assert not changed.complete
    assert all(_is_id(c.device_id) for c in changed.added)
    assert all(_is_id(d) for d in changed.removed)
    assert (changed.added == ()) if event_type.startswith("delete") else (changed.removed == ())


def check_answered(event_type: str, answered: gw.ChildrenAnswered) -> None:
    operation = {"add": "add_sub", "remove": "delete_sub", "status": "sub_device_update"}[answered.operation]
    assert event_type.startswith(operation)
    assert answered.request_id is None or (isinstance(answered.request_id, str) and answered.request_id)
    assert all(_is_id(d) for d in answered.done)
    assert all(_is_id(d) and isinstance(r, str) and r for d, r in answered.failed.items())


def check_asked(event_type: str, asked: gw.GatewayAsked) -> None:
    assert asked.device_id == GATEWAY
    request = asked.request
    assert _is_id(request.request_id)
    if isinstance(request, gw.AddChildren):
        assert event_type == "add_sub_device_request" and len(request.children) <= MAX_ADD
        for child in request.children:
            assert _is_id(child.device_id) and _is_id(child.node_id) and _is_id(child.product_id)
    elif isinstance(request, gw.RemoveChildren):
        assert event_type == "delete_sub_device_request" and all(_is_id(d) for d in request.device_ids)
    elif isinstance(request, gw.ChildrenStatus):
        assert event_type == "sub_device_update_status" and len(request.online) <= MAX_STATUS
        assert all(_is_id(d) and isinstance(on, bool) for d, on in request.online.items())
    else:
        assert isinstance(request, gw.SyncChildren) and event_type == "sub_device_sync_request"
        assert request.version is None or 0 <= request.version < 2**63


INFO = {"parent_device_id": GATEWAY, "node_id": "n-1", "device_id": CHILD, "name": "one", "product_id": "p"}
FAILED = {"node_id": "n-2", "product_id": "p", "device_id": OTHER, "error_code": "E", "error_msg": "no"}
DECODERS: dict[str, Decoder] = {
    "notifies": Decoder(
        "device",
        {
            "add_sub_device_notify": {"version": 3, "devices": [INFO, {**INFO, "device_id": OTHER}]},
            "delete_sub_device_notify": {
                "version": 4,
                "devices": [{"parent_device_id": GATEWAY, "device_id": CHILD}],
            },
        },
        "devices",
        ("device_id", "node_id", "product_id", "name", "parent_device_id"),
        check_changed,
    ),
    "answers": Decoder(
        "device",
        {
            "add_sub_device_response": {"successful_devices": [INFO], "failed_devices": [FAILED]},
            "delete_sub_device_response": {"successful_devices": [CHILD], "failed_devices": [FAILED]},
            "sub_device_update_status_response": {
                "successful_devices": [{"device_id": CHILD, "status": "ONLINE"}],
                "failed_devices": [FAILED],
            },
        },
        "failed_devices",
        ("device_id", "node_id", "error_code", "error_msg"),
        check_answered,
    ),
    "add-requests": Decoder(
        "platform",
        {
            "add_sub_device_request": {
                "devices": [
                    {"node_id": "n-1", "product_id": "p", "device_id": CHILD, "name": "one"},
                    {"node_id": "n-2", "product_id": "p", "extension_info": {"room": "2"}},
                ]
            }
        },
        "devices",
        ("node_id", "product_id", "device_id", "name", "parent_device_id", "extension_info"),
        check_asked,
    ),
    "delete-and-sync-requests": Decoder(
        "platform",
        {"delete_sub_device_request": {"devices": [CHILD, OTHER]}, "sub_device_sync_request": {"version": 2}},
        "devices",
        (),
        check_asked,
    ),
    "status-requests": Decoder(
        "platform",
        {
            "sub_device_update_status": {
                "device_statuses": [
                    {"device_id": CHILD, "status": "ONLINE"},
                    {"device_id": OTHER, "status": "OFFLINE"},
                ]
            }
        },
        "device_statuses",
        ("device_id", "status"),
        check_asked,
    ),
}


def fresh_platform() -> HuaweiPlatform:
    platform = HuaweiPlatform()
    platform.parent_of = lambda device_id: GATEWAY if device_id in (CHILD, OTHER) else None
    return platform


def check_device_case(decoder: Decoder, case: Case) -> None:
    decoded = HuaweiDevice(GATEWAY).decode(DOWN, case.payload)
    assert isinstance(decoded, list) and decoded
    for event in decoded:
        if isinstance(event, ev.Malformed):
            assert event.topic == DOWN and event.kind == "event" and event.request_id is None
            assert 0 < len(event.reason) < 400
        elif isinstance(event, ev.CloudEvent):
            assert case.shape == "two-entries" and event.service_id == "smokeDetector"
        else:
            assert isinstance(event, (gw.ChildrenChanged, gw.ChildrenAnswered)), event
            decoder.check(case.event_type, event)
    if case.shape == "plain":
        for event in decoded:
            if isinstance(event, ev.Malformed):
                assert _names_something_touched(event.reason, case), (event.reason, case.touched)


def check_platform_case(decoder: Decoder, case: Case) -> None:
    platform = fresh_platform()
    decoded = platform.decode(UP, case.payload)
    assert isinstance(decoded, list) and decoded
    for event in decoded:
        if isinstance(event, ev.DeviceMalformed):
            assert event.device_id == GATEWAY and event.topic == UP and len(event.reason) < 400
            if case.shape == "plain":
                assert _names_something_touched(event.reason, case), (event.reason, case.touched)
        elif isinstance(event, ev.EventUp):
            assert case.shape == "two-entries"
        else:
            assert isinstance(event, gw.GatewayAsked), event
            decoder.check(case.event_type, event)
            answer_round_trip(platform, event)


def answer_round_trip(platform: HuaweiPlatform, asked: gw.GatewayAsked) -> None:
    """What the cloud answers the request with encodes, and the gateway reads it back."""
    request = asked.request
    message: gw.GatewayDownlink
    if isinstance(request, gw.SyncChildren):
        message = gw.ChildrenChanged(added=[gw.ChildInfo(CHILD, "p")], version=7, complete=True)
    else:
        ids = (
            [c.device_id for c in request.children]
            if isinstance(request, gw.AddChildren)
            else list(request.device_ids)
            if isinstance(request, gw.RemoveChildren)
            else list(request.online)
        )
        operation: gw.ChildOperation = (
            "add"
            if isinstance(request, gw.AddChildren)
            else "remove"
            if isinstance(request, gw.RemoveChildren)
            else "status"
        )
        message = gw.ChildrenAnswered(operation, request.request_id, ids[:1], {i: "refused" for i in ids[1:]})
    [out] = platform.encode(gw.TellGateway(GATEWAY, message))
    assert len(out.payload) <= MAX_PAYLOAD
    decoded = HuaweiDevice(GATEWAY).decode(out.topic, out.payload)
    assert not any(isinstance(e, ev.Malformed) for e in decoded), decoded
    if isinstance(message, gw.ChildrenAnswered):
        [answered] = decoded
        assert isinstance(answered, gw.ChildrenAnswered)
        assert answered.request_id == request.request_id and answered.done == message.done


def run_cases(decoder: Decoder, seed: int, check: Callable[[Decoder, Case], None]) -> None:
    rng = random.Random(seed)
    for index in range(PER_EXAMPLE):
        case = make_case(decoder, rng)
        try:
            check(decoder, case)
        except AssertionError as exc:
            raise AssertionError(f"case {index} of seed {seed}: {case!r}: {exc}") from exc


@pytest.mark.parametrize("name", [n for n, d in DECODERS.items() if d.half == "device"])
@given(seed=SEEDS)
@FUZZ
def test_a_gateway_s_decoder_never_raises_and_names_what_it_cannot_read(name: str, seed: int) -> None:
    run_cases(DECODERS[name], seed, check_device_case)


@pytest.mark.parametrize("name", [n for n, d in DECODERS.items() if d.half == "platform"])
@given(seed=SEEDS)
@FUZZ
def test_a_platform_decoder_of_gateway_requests_never_raises_and_its_answers_encode(
    name: str, seed: int
) -> None:
    run_cases(DECODERS[name], seed, check_platform_case)


# -- the batch report -------------------------------------------------------------------------------
def batch_case(rng: random.Random) -> tuple[bytes, int, frozenset[str], str]:
    devices: list[Any] = [
        {
            "device_id": rng.choice([CHILD, OTHER, GATEWAY]),
            "services": [{"service_id": "s", "properties": {"v": i}}],
        }
        for i in range(rng.randint(1, 4))
    ]
    touched: set[str] = set()
    for _ in range(rng.randint(0, 3)):
        index = rng.randrange(len(devices))
        roll = rng.random()
        if roll < 0.15:
            devices[index] = hostile(rng)
        elif roll < 0.6 and isinstance(devices[index], dict):
            spoil(devices[index], ["device_id", "services", "zz"], rng, touched)
        elif isinstance(devices[index], dict):
            services = devices[index].get("services")
            if isinstance(services, list) and services and isinstance(services[0], dict):
                spoil(services[0], ["service_id", "properties"], rng, touched)
    shape = rng.choice(["plain"] * 6 + ["too-many", "list-not-list", "not-utf8", "cut-short", "nan"])
    body: dict[str, Any] = {"devices": devices}
    if shape == "too-many":
        body["devices"] = devices * (MAX_BATCH // len(devices) + 1)
    elif shape == "list-not-list":
        body["devices"] = rng.choice(["x", 3, {"a": 1}])
    payload = json.dumps(body).encode()
    if shape == "nan":  # JSON holds no NaN (the stdlib parser takes it)
        payload = (
            payload[:-2]
            + b',{"device_id":"child-1","services":[{"service_id":"s","properties":{"v":NaN}}]}]}'
        )
    else:
        payload = _break(payload, shape, rng)
    return (
        payload,
        len(body["devices"]) if isinstance(body["devices"], list) else 0,
        frozenset(touched),
        shape,
    )


def check_batch_case(payload: bytes, entries: int, shape: str) -> None:
    decoded = fresh_platform().decode(BATCH, payload)
    assert isinstance(decoded, list) and decoded
    for event in decoded:
        if isinstance(event, ev.Reported):
            assert event.device_id in (CHILD, OTHER, GATEWAY)
            assert all(isinstance(sid, str) and isinstance(v, dict) for sid, v in event.services.items())
        else:
            assert isinstance(event, ev.DeviceMalformed), event
            assert event.device_id == GATEWAY and event.kind == "report" and 0 < len(event.reason) < 400
            assert "devices" in event.reason or shape != "plain", event.reason
    if shape == "plain":  # one event per entry, in order
        assert len(decoded) == entries


@given(seed=SEEDS)
@FUZZ
def test_the_batch_report_decoder_never_raises_and_each_entry_lands_or_is_named(seed: int) -> None:
    rng = random.Random(seed)
    for index in range(PER_EXAMPLE):
        payload, entries, _touched, shape = batch_case(rng)
        try:
            check_batch_case(payload, entries, shape)
        except AssertionError as exc:
            raise AssertionError(f"case {index} of seed {seed}: {payload[:300]!r}: {exc}") from exc


# -- who a downlink is for ----------------------------------------------------------------------------
def addressee_case(rng: random.Random) -> tuple[str, bytes]:
    path = rng.choice(
        [
            "commands/request_id=c1",
            "properties/set/request_id=p1",
            "properties/get/request_id=g1",
            "messages/down",
            "events/down",
        ]
    )
    body: dict[str, Any] = {
        "object_device_id": rng.choice([CHILD, OTHER, GATEWAY, "", None, hostile(rng)]),
        "command_name": "x",
        "services": [],
        "content": rng.choice(["text", hostile(rng)]),
    }
    if rng.random() < 0.3:
        del body["object_device_id"]
    payload = json.dumps(body).encode()
    shape = rng.choice(["plain"] * 6 + ["not-utf8", "cut-short", "nan"])
    return PREFIX + path, _break(payload, shape, rng)


@given(seed=SEEDS)
@FUZZ
def test_addressee_never_raises_and_what_it_routes_to_a_child_the_child_reads(seed: int) -> None:
    rng = random.Random(seed)
    gateway = HuaweiDevice(GATEWAY)
    for index in range(PER_EXAMPLE):
        topic, payload = addressee_case(rng)
        try:
            whom = gateway.addressee(topic, payload)
            own = gateway.decode(topic, payload)
            if whom is None:  # the gateway's own (or unreadable): never refused as another's
                assert not any(isinstance(e, ev.Malformed) and "a downlink for" in e.reason for e in own)
                continue
            assert isinstance(whom, str) and whom and whom != GATEWAY
            [refused] = own  # the gateway's own codec never takes a child's downlink
            assert isinstance(refused, ev.Malformed) and "a downlink for device" in refused.reason
            if _is_id(whom):  # a child the gateway could have: its codec reads it as its own
                decoded = HuaweiDevice(whom, gateway_id=GATEWAY).decode(topic, payload)
                assert not any(isinstance(e, ev.Malformed) and "not for its" in e.reason for e in decoded)
        except AssertionError as exc:
            raise AssertionError(f"case {index} of seed {seed}: {topic} {payload[:200]!r}: {exc}") from exc
