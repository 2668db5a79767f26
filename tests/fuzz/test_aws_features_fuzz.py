"""Fuzz the AWS feature decoders, one test each: the device half's Jobs downlinks (offers and
replies) and its own topics (log switch, messages down); the platform half's Jobs requests
(start-next, describe, update) and logs.

Each decoder gets 5,000 derandomized cases of hostile but structured payloads on its topics:
the right envelope with one node swapped for a wrong type or value, a key dropped, huge numbers,
deep nesting, bytes that are not UTF-8, oversized payloads. Decoding never raises and gives
either the right message, checked field by field, or Malformed / DeviceMalformed. Device-half
results also go through a real ``DeviceCore``, whose answers must be encodable.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from thingmodel import Property, Service
from thingmodel.engine.core import DeviceCore
from thingmodel.protocol import messages as ev
from thingmodel.vendors.aws import MAX_PAYLOAD, AwsDevice, AwsPlatform

CASES = int(os.environ.get("THINGMODEL_AWS_FEATURES_FUZZ_CASES", "5000"))
FUZZ = settings(
    max_examples=CASES,
    deadline=None,
    derandomize=True,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

THING = "dev-1"
J = f"$aws/things/{THING}/jobs"
SHA = "ab" * 32
JOB_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
FAILURES = {"busy", "download", "verify", "install", "unsupported", "current"}
DOCUMENT = {
    "operation": "ota",
    "version": "1.1",
    "url": "https://h/fw.bin",
    "size": 10,
    "sha256": SHA,
    "md5": "cd" * 16,
    "kind": "firmware",
}
EXECUTION = {
    "jobId": "job-1",
    "thingName": THING,
    "jobDocument": DOCUMENT,
    "status": "QUEUED",
    "queuedAt": 1,
    "lastUpdatedAt": 1,
    "versionNumber": 1,
    "executionNumber": 1,
}
ERROR = {"code": "InvalidStateTransition", "message": "no", "clientToken": "c", "timestamp": 1}
UPDATE = {
    "status": "FAILED",
    "statusDetails": {
        "state": "failed",
        "percent": "40",
        "version": "1.1",
        "current_version": "1.0",
        "failure": "verify",
        "reason": "r",
    },
    "clientToken": "c",
}
LOGS = {"logs": [{"timestamp": 1, "type": "DEVICE_STATUS", "content": "a"}, {"timestamp": 2, "content": "b"}]}


class Light(Service):
    service_id = "light"
    power = Property(bool, writeable=True, default=False)


# -- hostile payloads -----------------------------------------------------------------------------
# Hypothesis draws one seed; the payload is built from it with a seeded Random (much cheaper per
# case than drawing every node through Hypothesis, so 5,000 cases per decoder stay fast).
ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, -0.0, 1e308, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30,
    "", "x" * 2000, "ota", "QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED", "$next",
    "a/b", "job+1", "on", "off", "installing", "succeeded", "100", "101", "-5", "\u0000", "\ud800x",
    "https://h/x", "ftp://h/x", "AB" * 32, "ab" * 31, [], [1, "a"], {}, {"a": 1}, {"percent": 4},
]  # fmt: skip


def odd_value(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(ODD_VALUES)
    if roll < 0.75:
        return rng.randint(-(2**70), 2**70)
    if roll < 0.9:
        return "".join(chr(rng.randint(0, 0x2FF)) for _ in range(rng.randint(0, 8)))
    return [odd_value(rng) for _ in range(rng.randint(0, 3))]


def mutated(sample: Any, rng: random.Random) -> Any:
    """``sample`` with one node, reached by a random walk down from the top, dropped (a key) or
    replaced by an odd value."""
    if isinstance(sample, dict) and sample:
        key = rng.choice(list(sample))
        child = sample[key]
        if isinstance(child, (dict, list)) and child and rng.random() < 0.7:
            return {**sample, key: mutated(child, rng)}
        if rng.random() < 0.3:
            return {k: v for k, v in sample.items() if k != key}
        return {**sample, key: odd_value(rng)}
    if isinstance(sample, list) and sample:
        index = rng.randrange(len(sample))
        items = list(sample)
        child = items[index]
        deeper = isinstance(child, (dict, list)) and child and rng.random() < 0.7
        items[index] = mutated(child, rng) if deeper else odd_value(rng)
        return items
    return odd_value(rng)


def garbled(text: bytes, rng: random.Random) -> bytes:
    """Valid JSON made not UTF-8, or cut short."""
    at = rng.randrange(len(text) + 1)
    return (
        text[:at] + rng.choice([b"\xc3\x28", b"\xff", b"\xed\xa0\x80"]) + text[at:]
        if rng.random() < 0.5
        else text[:at]
    )


FIXED = [
    b"",
    b"null",
    b"[]",
    b'{"execution": 1e400}',
    b'{"execution": {"jobId": "job-1", "jobDocument": {"operation": "ota", "size": 1' + b"0" * 400 + b"}}}",
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b"[" * 50_000 + b"]" * 50_000,
    b'{"logs": [' + b",".join([b'{"timestamp": 1, "content": "x"}'] * 3000) + b"]}",
    b"{" + b" " * (MAX_PAYLOAD + 1) + b"}",
    b"\xef\xbb\xbf{}",
]


def cases(*groups: tuple[list[str], list[Any]]) -> st.SearchStrategy[tuple[str, bytes]]:
    """``(topic, payload)``: a topic of one of the groups ``(topics, samples)``, with a payload
    made from that group's samples."""
    pairs = [(topic, tuple(samples)) for topics, samples in groups for topic in topics]
    return st.integers(0, 2**40).map(
        lambda seed: (pairs[seed % len(pairs)][0], payload(seed >> 5, pairs[seed % len(pairs)][1]))
    )


def payload(seed: int, samples: tuple[Any, ...]) -> bytes:
    rng = random.Random(seed)
    shape = seed % 10
    sample = rng.choice(samples)
    if shape < 5:
        return json.dumps(mutated(sample, rng)).encode()
    if shape < 7:
        return json.dumps(mutated(mutated(sample, rng), rng)).encode()
    if shape == 7:
        return garbled(json.dumps(sample).encode(), rng)
    if shape == 8:
        return rng.randbytes(rng.randint(0, 40))
    return rng.choice(FIXED)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    """The device core logs every refusal; 35,000 of them through pytest's capture cost more than
    the decoding."""
    logger = logging.getLogger("thingmodel")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def answered_by_the_core(codec: AwsDevice, events: list[ev.Downlink]) -> list[ev.Outgoing]:
    """What a device with no Ota answers to ``events``: each answer must encode."""
    emitted: list[ev.Uplink] = []
    core = DeviceCore([Light()], emit=emitted.append)
    for event in events:
        core.handle(event)
    out = [message for action in emitted for message in codec.encode(action)]
    core.detach()
    return out


# -- the device half: Jobs (offers and replies) ----------------------------------------------------
OFFER_TOPICS = [
    f"{J}/notify-next",
    f"{J}/start-next/accepted",
    f"{J}/job-1/get/accepted",
    f"{J}/$next/get/accepted",
]
REPLY_TOPICS = [f"{J}/start-next/rejected", f"{J}/job-1/update/rejected", f"{J}/job-1/get/rejected"]
OFFERS = [{"timestamp": 1, "execution": EXECUTION}]


def check_offer(codec: AwsDevice, events: list[ev.Downlink]) -> None:
    assert len(events) <= 1
    for event in events:
        if isinstance(event, ev.UpgradeOffer):
            assert event.task_id is not None and JOB_ID.fullmatch(event.task_id)
            assert event.version and event.url.startswith(("http://", "https://"))
            assert event.sha256 is not None and re.fullmatch("[0-9a-f]{64}", event.sha256)
            assert event.md5 is None or re.fullmatch("[0-9a-f]{32}", event.md5)
            assert event.size is None or 0 <= event.size < 2**63
            assert event.kind in ("firmware", "software")
            assert event.task_id in codec.open_jobs
        else:
            assert isinstance(event, ev.Malformed) and event.reason
            assert event.request_id is None or (event.kind == "ota" and JOB_ID.fullmatch(event.request_id))
    answers = answered_by_the_core(codec, events)
    named = [
        e for e in events if isinstance(e, ev.UpgradeOffer) or (isinstance(e, ev.Malformed) and e.request_id)
    ]
    if named:  # an offer, or an unreadable offer naming its job: the job is refused and forgotten
        [answer] = answers
        assert json.loads(answer.payload)["status"] == "REJECTED" and codec.open_jobs == {}
    else:
        assert answers == []


def check_reply(topic: str, events: list[ev.Downlink]) -> None:
    if topic.endswith("update/accepted") and events == []:
        return
    [event] = events
    if isinstance(event, ev.Rejected):
        assert topic.endswith("/rejected") and event.code == 400 and ":" in event.reason
        assert event.request_id is None or isinstance(event.request_id, str)
    else:
        assert isinstance(event, ev.Malformed) and event.kind == "other" and event.request_id is None


@given(
    case=cases(
        (OFFER_TOPICS * 3, OFFERS),
        (REPLY_TOPICS, [ERROR]),
        ([f"{J}/job-1/update/accepted"], [{"clientToken": "c", "timestamp": 1}]),
    )
)
@FUZZ
def test_jobs_downlinks_decode_into_an_offer_a_rejection_nothing_or_malformed(
    case: tuple[str, bytes],
) -> None:
    """Offers (three quarters of the cases) and replies; what the device core answers encodes."""
    topic, payload = case
    codec = AwsDevice(THING, service_ids=["light"])
    events = codec.decode(topic, payload)
    if topic in OFFER_TOPICS:
        check_offer(codec, events)
    else:
        check_reply(topic, events)
        assert answered_by_the_core(codec, events) == []


# -- the device half: our own topics (log switch, messages down) --------------------------------
@given(
    case=cases(
        ([f"things/{THING}/logs/config"], [{"switch": "on", "end_time": 1700000000000}, {"switch": "off"}]),
        ([f"things/{THING}/messages/down"], [{"note": "x"}, [1, 2], "text"]),
    )
)
@FUZZ
def test_the_log_switch_and_messages_down_decode_into_their_message_or_malformed(
    case: tuple[str, bytes],
) -> None:
    topic, payload = case
    codec = AwsDevice(THING, service_ids=["light"])
    [event] = codec.decode(topic, payload)
    if topic.endswith("messages/down"):
        if len(payload) <= MAX_PAYLOAD:
            assert event == ev.CloudMessage(payload)
        else:
            assert isinstance(event, ev.Malformed) and event.kind == "message"
        return
    if isinstance(event, ev.LogConfig):
        assert event.until_ms is None or (isinstance(event.until_ms, int) and 0 <= event.until_ms < 2**63)
        assert json.loads(payload)["switch"] == ("on" if event.enabled else "off")
    else:
        assert isinstance(event, ev.Malformed) and event.reason and event.request_id is None
    assert answered_by_the_core(codec, [event]) == []


# -- the platform half: Jobs requests and updates -------------------------------------------------
REQUESTS = [
    {"clientToken": "c"},
    {"statusDetails": {"step": "1"}, "stepTimeoutInMinutes": 30, "clientToken": "c"},
    {"executionNumber": 1, "includeJobDocument": True, "clientToken": "c"},
]
UPDATES = [UPDATE, {"status": "IN_PROGRESS", "statusDetails": {"state": "installing", "percent": "99"}}]


def check_request(topic: str, event: ev.PlatformUplink) -> None:
    if isinstance(event, ev.JobRequested):
        assert event.device_id == THING
        assert event.job_id == ("job-1" if "/job-1/" in topic else None)
        assert event.request_id is None or isinstance(event.request_id, str)
    else:
        assert isinstance(event, ev.DeviceMalformed) and event.kind == "ota" and event.reason


def check_update(payload: bytes, event: ev.PlatformUplink) -> None:
    if not isinstance(event, ev.UpgradeReported):
        assert isinstance(event, ev.DeviceMalformed) and event.kind == "ota" and event.reason
        assert event.request_id is None or isinstance(event.request_id, str)
        return
    assert event.task_id == "job-1" and event.device_id == THING
    sent = json.loads(payload)
    assert event.code == sent["status"] in ("IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED")
    assert event.state in ("downloading", "installing", "succeeded", "failed")
    assert (event.state == "failed") == (event.code in ("FAILED", "REJECTED"))
    assert event.percent is None or 0 <= event.percent <= 100
    assert event.failure is None or (event.state == "failed" and event.failure in FAILURES)
    assert event.version is None or isinstance(event.version, str)
    assert isinstance(event.reason, str)


@given(
    case=cases(
        ([f"{J}/start-next", f"{J}/job-1/get", f"{J}/$next/get", f"{J}/a.b/get"], REQUESTS),
        ([f"{J}/job-1/update", f"{J}/job-1/update", f"{J}/job-1/update", f"{J}/$next/update"], UPDATES),
    )
)
@FUZZ
def test_jobs_requests_decode_into_a_request_progress_or_device_malformed(case: tuple[str, bytes]) -> None:
    topic, payload = case
    [event] = AwsPlatform().decode(topic, payload)
    if topic.endswith("/update"):
        check_update(payload, event)
    else:
        check_request(topic, event)


# -- the platform half: logs ----------------------------------------------------------------------
@given(case=cases(([f"things/{THING}/logs/up"], [LOGS])))
@FUZZ
def test_logs_decode_into_one_device_log_per_record_or_device_malformed(case: tuple[str, bytes]) -> None:
    topic, payload = case
    events = AwsPlatform().decode(topic, payload)
    if len(events) == 1 and isinstance(events[0], ev.DeviceMalformed):
        assert events[0].device_id == THING and events[0].reason
        return
    assert len(events) == len(json.loads(payload)["logs"])
    for event in events:
        assert isinstance(event, ev.DeviceLog) and event.device_id == THING
        assert set(event.params) == {"timestamp", "type", "content"}
        assert isinstance(event.params["timestamp"], int) and not isinstance(event.params["timestamp"], bool)
        assert isinstance(event.params["type"], str) and isinstance(event.params["content"], str)


@pytest.mark.parametrize("payload", FIXED)
def test_the_fixed_hostile_payloads_are_refused_on_every_new_topic(payload: bytes) -> None:
    codec, platform = AwsDevice(THING, service_ids=["light"]), AwsPlatform()
    for topic in [*OFFER_TOPICS, f"{J}/job-1/update/rejected", f"things/{THING}/logs/config"]:
        assert all(isinstance(e, ev.Malformed) for e in codec.decode(topic, payload)), topic
    for topic in (f"{J}/start-next", f"{J}/job-1/update", f"things/{THING}/logs/up"):
        events = platform.decode(topic, payload)
        if payload == FIXED[7]:  # 3,000 well-formed records: a valid batch
            assert len(events) == (3000 if topic.endswith("logs/up") else 1)
            continue
        if payload == b"" and topic.endswith("start-next"):
            assert events == [ev.JobRequested(THING, None, None)]
            continue
        assert all(isinstance(e, ev.DeviceMalformed) for e in events), topic
