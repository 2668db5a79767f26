"""Fuzz the Huawei ``$device_rule`` decoders, and the device's rule parser behind them.

Three decoders, 5,000 derandomized cases each (1,000 Hypothesis examples of 5 cases built from
the seed each draws, as tests/fuzz/test_huawei_features_fuzz.py does, to stay in this file's
30 s): a ``properties/set`` carrying rule versions (device half), the
``device_rule_config_response`` carrying rules (device half: and every rule it delivers goes
through the real core's rule runner), and the ``device_rule_config_request`` (platform half).
A case starts from a valid message and breaks up to three things in it (keys dropped, wrong
types and values, huge numbers, hostile strings, a rule mutated at any depth), or its bytes
(not UTF-8, cut short, NaN). Decoding never raises; it gives the right messages with their
invariants, or a Malformed / DeviceMalformed naming what was wrong; what the core then sends
always encodes, and a refused rule is one line naming it.
"""

from __future__ import annotations

import copy
import json
import os
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thingmodel import Property, Service, command
from thingmodel.engine.core import DeviceCore, DeviceError
from thingmodel.engine.features import RuleRunner
from thingmodel.protocol import messages as ev
from thingmodel.vendors.huawei import HuaweiDevice, HuaweiPlatform

CASES = int(os.environ.get("THINGMODEL_HUAWEI_RULES_FUZZ_CASES", "5000"))
PER_EXAMPLE = 5
FUZZ = settings(
    max_examples=max(1, CASES // PER_EXAMPLE),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SEEDS = st.integers(min_value=0, max_value=2**64 - 1)
DEVICE = "dev-1"
SET = f"$oc/devices/{DEVICE}/sys/properties/set/request_id=r1"
DOWN = f"$oc/devices/{DEVICE}/sys/events/down"
UP = f"$oc/devices/{DEVICE}/sys/events/up"
NOW = 1714546800.0  # 2024-05-01 07:00 UTC

TRICKY: list[Any] = [
    None,
    True,
    False,
    -2,
    -1,
    0,
    1,
    59,
    2**31,
    2**63 - 1,
    2**63,
    2**70,
    -(2**70),
    0.5,
    -0.0,
    1e308,
    "",
    " ",
    "and",
    "or",
    "xor",
    "active",
    "inactive",
    "enable",
    "DEVICE_DATA",
    "DAILY_TIMER",
    "SIMPLE_TIMER",
    "DEVICE_CMD",
    "=",
    ">",
    "between",
    "in",
    "20",
    "1,30",
    "30,1",
    "a,b",
    "24:00",
    "23:59",
    "7:5",
    "1,2,3,4,5,6,7",
    "0,8",
    "2024-05-01 08:00:00",
    "2024-02-30 08:00:00",
    "9999-12-31 23:59:59",
    "20240501T080000Z",
    "svc/prop",
    "/",
    "a/b/c",
    "dev-1",
    "other",
    "a/b",
    "+",
    "\x00",
    "\U0001f525",
    "x" * 3000,
    [],
    [1, "a"],
    [{}],
    {},
    {"a": 1},
    {"x": float("inf")},
]
_ALPHABET = 'aZ09 _-./:,T\u00e9\u4e2d\U0001f525\x00\n"'
SHAPES = ["plain"] * 7 + ["not-utf8", "cut-short", "nan"]


def hostile(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.6:
        return copy.deepcopy(rng.choice(TRICKY))
    if roll < 0.75:
        return rng.randint(-(2**70), 2**70) if rng.random() < 0.5 else rng.randint(-5, 100)
    if roll < 0.85:
        return rng.uniform(-1e6, 1e6)
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 12)))


def valid_rule(rng: random.Random, index: int) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = [
        {
            "type": "DEVICE_DATA",
            "operator": rng.choice([">", "<", "=", ">=", "<="]),
            "value": str(rng.randint(0, 50)),
            "deviceInfo": {"deviceId": DEVICE, "path": "climate/temperature"},
        }
    ]
    if rng.random() < 0.4:
        conditions.append({"type": "DAILY_TIMER", "time": "07:30", "daysOfWeek": "1,2,3,4,5,6,7"})
    if rng.random() < 0.3:
        conditions.append(
            {
                "type": "SIMPLE_TIMER",
                "startTime": "2024-05-01 07:05:00",
                "repeatInterval": 60,
                "repeatCount": 3,
            }
        )
    return {
        "ruleId": f"rule{index}",
        "ruleName": "fuzz",
        "logic": "or",
        "status": "active",
        "timeRange": {"startTime": "00:00", "endTime": "23:59", "daysOfWeek": "1,2,3,4,5,6,7"},
        "conditions": conditions,
        "actions": [
            {
                "type": "DEVICE_CMD",
                "status": "enable",
                "deviceId": DEVICE,
                "command": {"serviceId": "climate", "commandName": "cool", "commandBody": {"level": 1}},
            }
        ],
        "ruleVersionInShadow": rng.randint(0, 5),
    }


def mutate(value: Any, rng: random.Random) -> Any:
    """``value`` with one spot somewhere inside it dropped, replaced or added to."""
    if not isinstance(value, (dict, list)) or not value or rng.random() < 0.15:
        return hostile(rng)
    if isinstance(value, dict):
        key = rng.choice(sorted(value))
        roll = rng.random()
        if roll < 0.25:
            del value[key]
        elif roll < 0.35:
            value[rng.choice(["zz", "ruleId", "type", "value"])] = hostile(rng)
        else:
            value[key] = mutate(value[key], rng)
    else:
        index = rng.randrange(len(value))
        value[index] = mutate(value[index], rng)
        if rng.random() < 0.2:
            value.append(hostile(rng))
    return value


def broken_bytes(body: Any, rng: random.Random) -> bytes:
    payload = json.dumps(body).encode()
    shape = rng.choice(SHAPES)
    if shape == "not-utf8":
        at = rng.randint(0, len(payload))
        payload = payload[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80"]) + payload[at:]
    elif shape == "cut-short":
        payload = payload[: rng.randint(0, len(payload) - 1)]
    elif shape == "nan":
        payload = payload[:-2] + b',"x":NaN}'
    return payload


def events_body(event_type: str, paras: Any) -> dict[str, Any]:
    return {"services": [{"service_id": "$device_rule", "event_type": event_type, "paras": paras}]}


class Climate(Service):
    service_id = "climate"
    temperature = Property(float, default=25.0)

    @command("cool")
    def cool(self, level: int = 1) -> dict[str, Any]:
        return {"level": level}


def device_core() -> tuple[DeviceCore, list[ev.Uplink], list[DeviceError]]:
    sent: list[ev.Uplink] = []
    errors: list[DeviceError] = []
    core = DeviceCore([Climate()], emit=sent.append, on_error=errors.append)
    core.wall_clock = lambda: NOW
    runner = RuleRunner(core, DEVICE)
    core.feature_handlers.update({ev.RulesChanged: runner.changed, ev.RulesDelivered: runner.delivered})
    core.on_reported.append(runner.reported)
    return core, sent, errors


def encodes(codec: HuaweiDevice, sent: list[ev.Uplink]) -> None:
    for uplink in sent:
        codec.encode(uplink)  # raises if the core sends what the wire cannot carry


# -- the rule versions of a properties/set (device half) -------------------------------------------
def versions_case(rng: random.Random) -> bytes:
    properties: Any = {f"rule{i}": {"version": rng.randint(-1, 9)} for i in range(rng.randint(0, 4))}
    services: list[Any] = [{"service_id": "$device_rule", "properties": properties}]
    if rng.random() < 0.3:
        services.append({"service_id": "climate", "properties": {"temperature": 21}})
    body: dict[str, Any] = {"object_device_id": DEVICE, "services": services}
    for _ in range(rng.randint(0, 3)):
        mutate(properties if rng.random() < 0.8 else body, rng)
    return broken_bytes(body, rng)


@FUZZ
@given(SEEDS)
def test_rule_versions_in_a_property_set_decode_or_are_malformed_and_always_answered(seed: int) -> None:
    rng = random.Random(seed)
    codec = HuaweiDevice(DEVICE)
    for case in range(PER_EXAMPLE):
        payload = versions_case(rng)
        decoded = codec.decode(SET, payload)
        where = f"seed {seed} case {case}: {payload[:200]!r} -> {decoded}"
        core, sent, _ = device_core()
        for message in decoded:
            if isinstance(message, ev.RulesChanged):
                assert all(isinstance(k, str) and k for k in message.versions), where
                assert all(type(v) is int and v >= -1 for v in message.versions.values()), where
            elif isinstance(message, ev.Malformed):
                assert message.reason and len(message.reason) < 400, where
            else:
                assert isinstance(message, ev.DesiredChange) and message.request_id == "r1", where
            core.handle(message)
        answers = [m for m in sent if isinstance(m, ev.AckDesired)]
        assert len(answers) == 1 and answers[0].request_id == "r1", where  # the write is answered once
        encodes(codec, sent)
        core.detach()


# -- the rules of a device_rule_config_response (device half, and the rule parser) -----------------
def rules_case(rng: random.Random) -> bytes:
    rules: list[Any] = [valid_rule(rng, i) for i in range(rng.randint(0, 4))]
    paras: dict[str, Any] = {"rulesInfos": rules}
    body = {"object_device_id": DEVICE, **events_body("device_rule_config_response", paras)}
    for _ in range(rng.randint(0, 3)):
        target: Any = rng.choice(rules) if rules and rng.random() < 0.8 else paras
        mutate(target, rng)
    return broken_bytes(body, rng)


@FUZZ
@given(SEEDS)
def test_delivered_rules_decode_and_each_is_taken_or_refused_in_one_line(seed: int) -> None:
    rng = random.Random(seed)
    codec = HuaweiDevice(DEVICE)
    for case in range(PER_EXAMPLE):
        payload = rules_case(rng)
        decoded = codec.decode(DOWN, payload)
        where = f"seed {seed} case {case}: {payload[:200]!r}"
        core, sent, errors = device_core()
        for message in decoded:
            if isinstance(message, ev.RulesDelivered):
                assert all(isinstance(rule, dict) for rule in message.rules), where
            else:
                assert isinstance(message, ev.Malformed) and message.kind == "event", where
                assert (
                    "'rulesInfos'" in message.reason
                    or "payload" in message.reason
                    or "services" in message.reason
                ), (
                    where,
                    message,
                )
            core.handle(message)
        core.report_all()  # the rules taken are evaluated; their actions run
        for error in errors:
            assert error.kind in ("rule", "malformed", "command"), (where, error)
            assert "\n" not in str(error) and len(str(error)) < 400, (where, error)
        encodes(codec, sent)
        core.detach()


# -- the device's ask (platform half) --------------------------------------------------------------
def ask_case(rng: random.Random) -> bytes:
    paras: dict[str, Any] = {"ruleIds": [f"rule{i}" for i in range(rng.randint(0, 4))], "delIds": ["old"]}
    body = {"object_device_id": DEVICE, **events_body("device_rule_config_request", paras)}
    for _ in range(rng.randint(0, 3)):
        mutate(paras if rng.random() < 0.85 else body, rng)
    return broken_bytes(body, rng)


@FUZZ
@given(SEEDS)
def test_a_rules_ask_decodes_into_ids_or_is_malformed_naming_the_key(seed: int) -> None:
    rng = random.Random(seed)
    platform = HuaweiPlatform()
    for case in range(PER_EXAMPLE):
        payload = ask_case(rng)
        decoded = platform.decode(UP, payload)
        where = f"seed {seed} case {case}: {payload[:200]!r} -> {decoded}"
        for message in decoded:
            if isinstance(message, ev.RulesAsked):
                assert message.device_id == DEVICE, where
                ids = (*message.rule_ids, *message.deleted_ids)
                assert all(isinstance(i, str) and i and "/" not in i and "\0" not in i for i in ids), where
            elif isinstance(message, ev.DeviceMalformed):
                assert message.reason and len(message.reason) < 400, where
            else:  # a mutation renamed the event or the service
                assert isinstance(message, (ev.SystemEventUp, ev.EventUp)), where
