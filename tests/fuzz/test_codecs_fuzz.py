"""Fuzz every decoder: hostile payloads on every topic each codec subscribes to.

For each codec, device half and platform half: decoding never raises; the device core keeps
serving; service state changes only through a write the device acknowledged as applied; and a
request the protocol can answer (it carried a request id) is answered.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thingmodel import Property, Service, command
from thingmodel.cloud.aws_shadow import AwsShadowService
from thingmodel.cloud.platforms import make_cloud
from thingmodel.engine.core import DeviceCore
from thingmodel.protocol import messages as ev
from thingmodel.vendors import aws, huawei, tencent

# 2,000 derandomized cases per test keep the suite under its 10-minute budget; raise it for a soak
CASES = int(os.environ.get("THINGMODEL_FUZZ_CASES", "2000"))
FUZZ = settings(
    max_examples=CASES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Detector(Service):
    service_id = "smokeDetector"
    alarm = Property(int, writeable=True, minimum=0, maximum=1, default=0)
    level = Property(float, writeable=True, minimum=0, maximum=100, default=5.0)
    label = Property(str, writeable=True, max_length=8, default="a")
    temperature = Property(float, default=20.0)

    def get_temperature(self) -> float:
        return 20.0

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 10) -> dict[str, int]:
        return {"rang": duration}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@attrs.frozen
class CodecCase:
    name: str
    device: Any
    platform: Any
    #: valid payloads per device-downlink topic suffix, mutated by the fuzzer
    samples: dict[str, dict[str, Any]]


def huawei_case() -> CodecCase:
    return CodecCase(
        "huawei",
        huawei.HuaweiDevice("dev-1"),
        huawei.HuaweiPlatform(),
        {
            "properties/set": {"services": [{"service_id": "smokeDetector", "properties": {"alarm": 1}}]},
            "properties/get": {"service_id": "smokeDetector"},
            "commands": {
                "service_id": "smokeDetector",
                "command_name": "ringAlarm",
                "paras": {"duration": 3},
            },
            "shadow/get/response": {
                "shadow": [
                    {"service_id": "smokeDetector", "version": 1, "desired": {"properties": {"alarm": 1}}}
                ]
            },
            "events/down": {"services": [{"service_id": "$ota", "event_type": "version_query", "paras": {}}]},
            "properties/report": {"services": [{"service_id": "smokeDetector", "properties": {"alarm": 1}}]},
            "properties/set/response": {"result_code": 0, "result_desc": "success"},
            "commands/response": {"result_code": 0, "response_name": "", "paras": {}},
            "time_sync_response": {
                "services": [
                    {
                        "service_id": "$time_sync",
                        "event_type": "time_sync_response",
                        "paras": {"device_send_time": 1, "server_recv_time": 2, "server_send_time": 3},
                    }
                ]
            },
            "time_sync_request": {
                "services": [
                    {
                        "service_id": "$time_sync",
                        "event_type": "time_sync_request",
                        "paras": {"device_send_time": 1},
                    }
                ]
            },
        },
    )


def aws_case() -> CodecCase:
    return CodecCase(
        "aws",
        aws.AwsDevice("dev-1", service_ids=["smokeDetector"]),
        aws.AwsPlatform(),
        {
            "update/delta": {"state": {"alarm": 1, "level": 3.5}, "version": 5, "timestamp": 1},
            "get/accepted": {
                "state": {"desired": {"alarm": 1}, "reported": {"alarm": 0}, "delta": {"alarm": 1}},
                "version": 3,
                "clientToken": "r:0",
            },
            "update/rejected": {"code": 400, "message": "Invalid JSON", "clientToken": "t"},
            "request/json": {"command": "ringAlarm", "params": {"duration": 3}},
            "response/json": {"status": "SUCCEEDED", "result": {"rang": {"s": "3"}}},
            "events/up": {
                "service": "smokeDetector",
                "event": "smoke_alarm",
                "kind": "alert",
                "params": {"level": 3},
                "timestamp": 1,
            },
        },
    )


def tencent_hub_case() -> CodecCase:
    return CodecCase(
        "tencent-hub",
        tencent.TencentHubDevice("ABCDEFGHIJ.dev1", service_ids=["smokeDetector"]),
        tencent.TencentHubPlatform(),
        {
            "delta": {"type": "delta", "payload": {"state": {"alarm": 1}, "version": 7}},
            "get": {
                "type": "get",
                "result": 0,
                "clientToken": "g",
                "payload": {"state": {"desired": {"alarm": 1}, "reported": {"alarm": 0}}, "version": 4},
            },
            "update": {"type": "update", "state": {"reported": {"alarm": 1}, "desired": {"alarm": None}}},
            "action": {
                "method": "action",
                "clientToken": "c",
                "actionId": "ringAlarm",
                "params": {"duration": 2},
            },
            "action_reply": {
                "method": "action_reply",
                "clientToken": "c",
                "code": 0,
                "response": {"rang": 2},
            },
            "time": {"type": "get", "time": 1603334906, "ntptime1": 1603334906594, "ntptime2": 1603334906594},
            "time_request": {"type": "get", "resource": ["time"]},
        },
    )


def tencent_explorer_case() -> CodecCase:
    return CodecCase(
        "tencent-explorer",
        tencent.TencentExplorerDevice("ABCDEFGHIJ.dev1", service_ids=["smokeDetector"]),
        tencent.TencentExplorerPlatform(),
        {
            "control": {"method": "control", "clientToken": "c1", "params": {"alarm": 1}},
            "get_status_reply": {
                "method": "get_status_reply",
                "clientToken": "g",
                "code": 0,
                "data": {"reported": {"alarm": 0}, "control": {"alarm": 1}},
            },
            "action": {
                "method": "action",
                "clientToken": "a",
                "actionId": "ringAlarm",
                "params": {"duration": 2},
            },
            "report_reply": {"method": "report_reply", "clientToken": "r", "code": 0},
            "report": {"method": "report", "clientToken": "r", "params": {"alarm": 1}},
            "control_reply": {"method": "control_reply", "clientToken": "c1", "code": 1, "status": "x"},
            "events": {
                "method": "event_post",
                "clientToken": "e",
                "events": [{"eventId": "x", "params": {}}],
            },
            "time": {"type": "get", "time": 1603334906, "ntptime1": 1603334906594, "ntptime2": 1603334906594},
            "time_request": {"type": "get", "resource": ["time"]},
        },
    )


CASES_BY_NAME: dict[str, Callable[[], CodecCase]] = {
    "huawei": huawei_case,
    "aws": aws_case,
    "tencent-hub": tencent_hub_case,
    "tencent-explorer": tencent_explorer_case,
}


def concrete(topic_filter: str, rng: random.Random) -> str:
    """A topic matching the filter: '+' becomes a request id or a device id."""
    levels = topic_filter.split("/")
    out = []
    for index, level in enumerate(levels):
        if level == "+":
            last = index == len(levels) - 1
            token = f"{rng.getrandbits(32):x}"
            out.append(f"request_id={token}" if last else f"dev-{token}")
        elif level == "#":
            out.append("x")
        else:
            out.append(level)
    return "/".join(out)


def mutate(sample: Any, rng: random.Random, replacement: Any) -> Any:
    """Replace one randomly chosen node of a JSON document (or drop one key)."""
    if isinstance(sample, dict) and sample:
        key = rng.choice(sorted(sample))
        choice = rng.random()
        if choice < 0.2:
            return {k: v for k, v in sample.items() if k != key}
        if choice < 0.5:
            return {**sample, key: replacement}
        return {**sample, key: mutate(sample[key], rng, replacement)}
    if isinstance(sample, list) and sample:
        index = rng.randrange(len(sample))
        copy = list(sample)
        copy[index] = mutate(sample[index], rng, replacement) if rng.random() < 0.7 else replacement
        return copy
    return replacement


HOSTILE = [
    b'{"services": 1e400}',
    b'{"result_code": 99999999999999999999999999}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b"{" + b" " * (2 * 1024 * 1024) + b"}",
    b"\xff\xfe{}",
    b"",
    b"null",
]
_STRATEGIES: dict[str, st.SearchStrategy[bytes]] = {}


def payloads(case: CodecCase) -> st.SearchStrategy[bytes]:
    if case.name not in _STRATEGIES:
        _STRATEGIES[case.name] = _payloads(case)
    return _STRATEGIES[case.name]


def _payloads(case: CodecCase) -> st.SearchStrategy[bytes]:
    samples = list(case.samples.values())
    raw = st.binary(max_size=64)
    any_json = json_values.map(lambda v: json.dumps(v).encode())
    mutated = st.tuples(st.sampled_from(samples), st.randoms(use_true_random=False), json_values).map(
        lambda t: json.dumps(mutate(t[0], t[1], t[2])).encode()
    )
    huge = st.sampled_from(
        [
            b'{"services": 1e400}',
            b'{"result_code": 99999999999999999999999999}',
            b"[" * 100_000 + b"]" * 100_000,
            b'{"a":' * 5000 + b"1" + b"}" * 5000,
            b"{" + b" " * (2 * 1024 * 1024) + b"}",
            b"\xff\xfe{}",
            b"",
            b"null",
        ]
    )
    return st.one_of(raw, any_json, mutated, mutated, huge)


def state_of(service: Detector) -> dict[str, Any]:
    return {p.attr: service.__dict__.get(p.attr, p.prop.default) for p in service.spec.properties}


def device_half_survives(case: CodecCase, topic: str, payload: bytes) -> None:
    detector = Detector()
    emitted: list[ev.Uplink] = []
    core = DeviceCore([detector], emit=emitted.append)
    before = state_of(detector)
    events = case.device.decode(topic, payload)
    assert isinstance(events, list)
    for event in events:
        core.handle(event)
        for action in emitted:
            case.device.encode(action)  # whatever the device answers must be encodable
    changed = state_of(detector) != before
    applied = [a for a in emitted if isinstance(a, ev.AckDesired) and a.ok]
    shadow_applied = any(isinstance(e, ev.ShadowSnapshot) for e in events)
    delta_applied = any(isinstance(e, ev.DesiredChange) and e.request_id is None for e in events)
    assert not changed or applied or shadow_applied or delta_applied, (topic, payload[:200])
    for event in events:
        if (
            isinstance(event, ev.Malformed)
            and event.request_id
            and event.kind in ("desired", "command", "read")
        ):
            answered = {getattr(a, "request_id", None) for a in emitted}
            assert event.request_id in answered, f"malformed {event.kind} on {topic} was not answered"
    core.detach()


@pytest.mark.parametrize("name", CASES_BY_NAME)
@given(data=st.data())
@FUZZ
def test_device_half_survives_hostile_downlinks(name: str, data: st.DataObject) -> None:
    case = CASES_BY_NAME[name]()
    rng = data.draw(st.randoms(use_true_random=False))
    topic = concrete(data.draw(st.sampled_from(case.device.subscriptions())), rng)
    device_half_survives(case, topic, data.draw(payloads(case)))


@pytest.mark.parametrize("name", CASES_BY_NAME)
@given(data=st.data())
@FUZZ
def test_platform_half_survives_hostile_uplinks(name: str, data: st.DataObject) -> None:
    case = CASES_BY_NAME[name]()
    rng = data.draw(st.randoms(use_true_random=False))
    topic = concrete(data.draw(st.sampled_from(case.platform.subscriptions())), rng)
    events = case.platform.decode(topic, data.draw(payloads(case)))
    assert isinstance(events, list)  # may be empty: {"services": []} carries nothing
    assert all(isinstance(e, ev.PlatformUplink) for e in events)  # the platform half's events only


#: the decoders of AWS events and messages and Tencent messages, each fuzzed on its own (the test
#: above spreads its cases over every topic a platform half subscribes to): (vendor, topic filter)
KEPT_UPLINKS = [
    ("aws", "things/+/events/up"),
    ("aws", "things/+/messages/up"),
    ("tencent-hub", "+/+/data"),
    ("tencent-explorer", "+/+/data"),
]


class _Errors(logging.Handler):
    """Counts the ERROR lines the cloud writes (it logs a bug it caught rather than raising)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@pytest.mark.parametrize(("name", "topic_filter"), KEPT_UPLINKS)
@given(data=st.data())
@FUZZ
def test_event_and_message_decoders_survive_hostile_uplinks_and_the_cloud_keeps_serving(
    name: str, topic_filter: str, data: st.DataObject
) -> None:
    case = CASES_BY_NAME[name]()
    assert topic_filter in case.platform.subscriptions()
    topic = concrete(topic_filter, data.draw(st.randoms(use_true_random=False)))
    payload = data.draw(payloads(case))
    events = case.platform.decode(topic, payload)
    assert events
    assert all(isinstance(e, (ev.EventUp, ev.MessageUp, ev.DeviceMalformed)) for e in events)
    uplinks: list[ev.PlatformUplink] = []
    cloud = make_cloud(name, lambda message: None, on_uplink=uplinks.append)
    errors, logger = _Errors(), logging.getLogger("thingmodel.cloud")
    logger.addHandler(errors)
    try:
        cloud.receive(topic, payload)
    finally:
        logger.removeHandler(errors)
    assert errors.count == 0, "the cloud caught a bug handling the uplink"
    assert uplinks == events
    kept = [e for e in events if isinstance(e, (ev.EventUp, ev.MessageUp))]
    if kept:
        activity = getattr(cloud, "activity")(kept[0].device_id)  # noqa: B009
        assert [*activity.events, *activity.messages] == kept


@pytest.mark.parametrize("name", CASES_BY_NAME)
@given(topic=st.text(max_size=60), payload=st.binary(max_size=32))
@FUZZ
def test_decoders_survive_any_topic(name: str, topic: str, payload: bytes) -> None:
    case = CASES_BY_NAME[name]()
    # a random topic is none of the device's downlinks, nor an uplink the platform knows
    assert all(isinstance(e, ev.Malformed) for e in case.device.decode(topic, payload))
    assert all(isinstance(e, ev.DeviceMalformed) for e in case.platform.decode(topic, payload))


@given(data=st.data())
@FUZZ
def test_the_aws_shadow_service_answers_hostile_requests_and_keeps_its_state(data: st.DataObject) -> None:
    service = AwsShadowService(clock=lambda: 1.0)
    service.update("dev-1", None, {"state": {"desired": {"alarm": 1}, "reported": {"alarm": 0}}})
    before = service.get("dev-1", None)
    op = data.draw(st.sampled_from(["update", "get", "delete"]))
    shadow = data.draw(st.sampled_from(["", "/name/cfg"]))
    topic = f"$aws/things/dev-1/shadow{shadow}/{op}"
    samples = {"update": {"state": {"desired": {"alarm": 0}}, "clientToken": "t", "version": 1}}
    payload = data.draw(payloads(CodecCase("aws-service", None, None, samples)))
    out = service.handle(topic, payload)
    assert len(out) >= 1 and all(m.topic.startswith(topic + "/") or "/update/" in m.topic for m in out)
    if any(m.topic.endswith("/rejected") for m in out):
        assert service.get("dev-1", None)["state"] == before["state"]  # a rejection changes nothing
