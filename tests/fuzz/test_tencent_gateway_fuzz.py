"""Fuzz the Tencent gateway decoders, hub and Explorer: the device half's replies and ``change``
pushes on ``$gateway/operation/result``, the platform half's requests on ``$gateway/operation``,
the bind signature check of what it decodes, and ``addressee``.

Payloads are hostile but structured: the documented messages (tencent-more.md 2) with fields
dropped, retyped or set to edge values, plus raw and non-UTF-8 bytes and oversized payloads.
Decoding never raises; it gives checked messages that go out again and come back the same, or
Malformed / DeviceMalformed with a reason. 5,000 derandomized cases per decoder
(``THINGMODEL_FUZZ_CASES`` overrides).
"""

from __future__ import annotations

import copy
import json
import os
import random
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from thingmodel.protocol import gateway as gw
from thingmodel.protocol import messages as ev
from thingmodel.vendors.tencent import (
    MAX_PAYLOAD,
    TencentExplorerDevice,
    TencentExplorerPlatform,
    TencentHubDevice,
    TencentHubPlatform,
    result_code,
    split_device_id,
)

CASES = int(os.environ.get("THINGMODEL_FUZZ_CASES", "5000"))
FUZZ = settings(
    max_examples=CASES,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # a case is one seed: nothing to shrink
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

GATEWAY = "ABCDEFGHIJ.gateway1"
UP, DOWN = "$gateway/operation/ABCDEFGHIJ/gateway1", "$gateway/operation/result/ABCDEFGHIJ/gateway1"
#: the request topic, and (a quarter of the cases) topics naming no gateway
UP_TOPICS = [UP] * 9 + ["$gateway/operation/AB.CD/gw", "$gateway/operation/ABCDEFGHIJ", f"{UP}/x"]
ONE = {"product_id": "CFCSQ5EAG7", "device_name": "onlinedev00"}
TWO = {"product_id": "XKFAQ3Z8LX", "device_name": "2OGDy7Ws8mGabcYUe"}
SIGNED = {
    **ONE,
    "signature": "fKQIwK20YhAvi5V2nVag0G/S+80=",
    "random": 121213,
    "timestamp": 1589786839,
    "signmethod": "hmacsha1",
    "authtype": "psk",
}

DOWN_SAMPLES: list[dict[str, Any]] = [
    {"type": kind, "payload": {"devices": [{**ONE, "result": 0}, {**TWO, "result": -1}]}}
    for kind in ("bind", "unbind", "online", "offline")
] + [
    {"type": "describe_sub_devices", "payload": {"devices": [ONE, TWO]}},
    {"type": "describe_sub_devices", "payload": {"devices": []}},
    {"type": "change", "payload": {"status": 1, "devices": [ONE, TWO]}},
    {"type": "change", "payload": {"status": 0, "devices": [ONE]}},
]
UP_SAMPLES: list[dict[str, Any]] = [
    {"type": "bind", "payload": {"devices": [SIGNED]}},
    {"type": "unbind", "payload": {"devices": [ONE, TWO]}},
    {"type": "online", "payload": {"devices": [ONE]}},
    {"type": "offline", "payload": {"devices": [ONE, TWO]}},
    {"type": "describe_sub_devices"},
    {"type": "change", "result": 0},
]
EDGES: list[Any] = [
    "",
    "0",
    "-1",
    "803",
    " 1",
    "ten",
    "A.B",
    "a/b",
    "a+b",
    "x" * 200,
    "CFCSQ5EAG7",
    "bind",
    "unbind",
    "online",
    "offline",
    "change",
    "describe_sub_devices",
    "hmacsha256",
    "md5",
    "certificate",
    "a;b",
    0,
    1,
    2,
    -1,
    -2,
    803,
    2**31,
    -(2**31) - 1,
    2**63,
    1.5,
    True,
    None,
    [],
    {},
    [ONE],
    [1, "a"],
    {"devices": []},
]
HUGE = [
    b"",
    b"null",
    b"[]",
    b"\xff\xfe{}",
    b'{"type": "online", "payload": {"devices": [{"result": 1e400}]}}',
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b"{" + b" " * (MAX_PAYLOAD + 1) + b"}",
]
seeds = st.integers(min_value=0, max_value=2**32)


def _any_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(7 if depth < 3 else 5)
    if pick == 0:
        return rng.choice(EDGES)
    if pick == 1:
        return rng.randint(-(2**70), 2**70)
    if pick == 2:
        return "".join(rng.choice("aZ09-_ ./;\u00e9\u4e2d\n") for _ in range(rng.randrange(12)))
    if pick == 3:
        return rng.choice([None, True, False, 0.5])
    if pick == 4:
        return rng.randrange(-3, 900)
    if pick == 5:
        return [_any_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {f"k{i}": _any_value(rng, depth + 1) for i in range(rng.randrange(3))}


def _slots(doc: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.append((doc, key))
            _slots(value, out)
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out.append((doc, index))
            _slots(value, out)
    return out


def _mutated(sample: dict[str, Any], rng: random.Random) -> bytes:
    doc = copy.deepcopy(sample)
    for _ in range(rng.randrange(4)):
        slots = _slots(doc, [])
        if not slots:
            break
        container, key = rng.choice(slots)
        action = rng.randrange(4)
        if action == 0:
            del container[key]
        elif action in (1, 2):
            container[key] = rng.choice(EDGES)
        else:
            container[key] = _any_value(rng)
    payload = json.dumps(doc).encode()
    corrupt = rng.randrange(10)
    if corrupt == 0:
        at = rng.randrange(len(payload) + 1)
        payload = payload[:at] + b"\xff\xfe" + payload[at:]
    elif corrupt == 1:
        payload = payload[: rng.randrange(len(payload))]
    return payload


def _payload(samples: list[dict[str, Any]], seed: int) -> bytes:
    rng = random.Random(seed)
    pick = rng.randrange(8)
    if pick < 5:
        return _mutated(rng.choice(samples), rng)
    if pick == 5:
        return rng.randbytes(rng.randrange(65))
    if pick == 6:
        return json.dumps(_any_value(rng)).encode()
    return rng.choice(HUGE)


def cases(samples: list[dict[str, Any]]) -> st.SearchStrategy[tuple[bool, bytes]]:
    """``(hub, payload)``, one draw per case."""
    return seeds.map(lambda seed: (seed % 2 == 0, _payload(samples, seed // 2)))


def _device(hub: bool) -> TencentHubDevice | TencentExplorerDevice:
    cls = TencentHubDevice if hub else TencentExplorerDevice
    return cls(GATEWAY, service_ids=["light"])


def _platform(hub: bool) -> TencentHubPlatform | TencentExplorerPlatform:
    return TencentHubPlatform() if hub else TencentExplorerPlatform()


def _valid(device_id: str) -> bool:
    split_device_id(device_id)  # raises for an id no topic may hold
    return "." not in device_id.partition(".")[0]


@given(case=cases(DOWN_SAMPLES))
@FUZZ
def test_the_gateway_downlink_decoder_gives_checked_answers_or_changes_or_malformed(
    case: tuple[bool, bytes],
) -> None:
    hub, payload = case
    events = _device(hub).decode(DOWN, payload)
    assert len(events) == 1
    [event] = events
    cloud = _platform(hub)
    if isinstance(event, gw.ChildrenAnswered):
        assert event.operation in ("add", "remove", "status") and event.request_id is None
        assert all(_valid(d) for d in (*event.done, *event.failed))
        for reason in event.failed.values():
            assert reason.endswith(")") and result_code(event.operation, reason) != 0
        # the platform's answer with these results is read back as the same answer
        kind = json.loads(payload)["type"]
        again = cloud.encode(
            gw.TellGateway(GATEWAY, gw.ChildrenAnswered(event.operation, kind, event.done, event.failed))
        )
        decoded = [e for out in again for e in _device(hub).decode(out.topic, out.payload)]
        assert {d for e in decoded for d in e.done} == set(event.done)  # type: ignore[union-attr]
        assert {d: r for e in decoded for d, r in e.failed.items()} == dict(event.failed)  # type: ignore[union-attr]
    elif isinstance(event, gw.ChildrenChanged):
        assert event.version is None
        assert all(_valid(c.device_id) and c.product_id == c.device_id.partition(".")[0] for c in event.added)
        assert all(_valid(d) for d in event.removed)
        assert not (event.complete and event.removed)
        again = cloud.encode(gw.TellGateway(GATEWAY, event))
        decoded = [e for out in again for e in _device(hub).decode(out.topic, out.payload)]
        assert {c.device_id for e in decoded for c in e.added} == {c.device_id for c in event.added}  # type: ignore[union-attr]
        assert {d for e in decoded for d in e.removed} == set(event.removed)  # type: ignore[union-attr]
    else:
        assert isinstance(event, ev.Malformed), event
        assert event.topic == DOWN and event.reason


@given(case=cases(UP_SAMPLES))
@FUZZ
def test_the_gateway_request_decoder_gives_a_checked_request_or_device_malformed(
    case: tuple[bool, bytes],
) -> None:
    hub, payload = case
    topic = UP_TOPICS[len(payload) % len(UP_TOPICS)]
    cloud = _platform(hub)
    events = cloud.decode(topic, payload)
    if topic != UP:
        [event] = events
        assert isinstance(event, ev.DeviceMalformed) and event.device_id is None
        return
    if not events:  # only the ack of a change push, with result 0
        assert json.loads(payload)["type"] == "change"
        return
    [event] = events
    if isinstance(event, ev.DeviceMalformed):
        assert (event.device_id, event.topic) == (GATEWAY, UP) and event.reason
        return
    assert isinstance(event, gw.GatewayAsked) and event.device_id == GATEWAY
    request = event.request
    if isinstance(request, gw.SyncChildren):
        assert request.request_id == "describe_sub_devices"
        return
    if isinstance(request, gw.AddChildren):
        ids = [c.device_id for c in request.children]
        for child in request.children:
            assert child.proof is not None and child.secret is None
            reason = cloud.check_proof(child, "c2VjcmV0")  # never raises: None, or why, with a code
            assert reason is None or result_code("add", reason) in (801, 803, 804, 805)
    elif isinstance(request, gw.RemoveChildren):
        ids = list(request.device_ids)
    else:
        assert isinstance(request, gw.ChildrenStatus)
        assert set(request.online.values()) == {request.request_id == "online"}
        ids = list(request.online)
    assert ids and all(_valid(d) for d in ids)
    # the cloud's answer to it goes out, and the gateway reads back which children it was done for
    operation = {gw.AddChildren: "add", gw.RemoveChildren: "remove"}.get(type(request), "status")
    answer = gw.ChildrenAnswered(operation, request.request_id, ids)  # type: ignore[arg-type]
    decoded = [
        e
        for out in cloud.encode(gw.TellGateway(GATEWAY, answer))
        for e in _device(hub).decode(out.topic, out.payload)
    ]
    assert [d for e in decoded for d in e.done] == ids  # type: ignore[union-attr]


@given(seed=seeds)
@FUZZ
def test_addressee_never_raises_and_names_a_device_other_than_the_gateway(seed: int) -> None:
    rng = random.Random(seed)
    levels = [
        "$thing",
        "down",
        "property",
        "$ota",
        "$gateway",
        "ABCDEFGHIJ",
        "gateway1",
        "CFCSQ5EAG7",
        "dev",
        "",
        "+",
        "#",
        "A.B",
        "\u4e2d",
        "$sys",
    ]
    topic = "/".join(rng.choice(levels) for _ in range(rng.randrange(7)))
    if rng.randrange(4) == 0:
        topic = rng.randbytes(rng.randrange(20)).decode("utf-8", "replace")
    found = _device(seed % 2 == 0).addressee(topic, rng.randbytes(rng.randrange(10)))
    if found is not None:
        pid, _, name = found.partition(".")
        assert found != GATEWAY and pid and name and pid in topic.split("/") and name in topic.split("/")
