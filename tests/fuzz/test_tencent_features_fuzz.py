"""Fuzz the Tencent feature decoders, hub and Explorer: the device half's ``$ota/update`` and
messages down, the platform half's ``$ota/report``.

Payloads are hostile but structured: the documented messages with fields dropped, retyped or
set to edge values (empty, too long, huge or negative numbers, numbers as text), plus raw and
non-UTF-8 bytes and oversized payloads. Decoding never raises; it gives the right message with
every field checked, or Malformed / DeviceMalformed with a reason. 5,000 derandomized cases per
decoder (``THINGMODEL_FUZZ_CASES`` overrides).
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from thingmodel.protocol import messages as ev
from thingmodel.vendors.tencent import (
    CODE_FAILURES,
    MAX_PAYLOAD,
    MAX_VERSION,
    TencentExplorerDevice,
    TencentExplorerPlatform,
    TencentHubDevice,
    TencentHubPlatform,
)

CASES = int(os.environ.get("THINGMODEL_FUZZ_CASES", "5000"))
FUZZ = settings(
    max_examples=CASES,
    deadline=None,
    derandomize=True,
    # a case is one seed, so shrinking finds nothing smaller: generating only keeps this file fast
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PID, DEV = "ABCDEFGHIJ", "dev1"
DEVICE = f"{PID}.{DEV}"
OTA_UP, OTA_DOWN = f"$ota/report/{PID}/{DEV}", f"$ota/update/{PID}/{DEV}"
MD5 = "36eb5951179db14a631463a37a9322a2"
URL = "https://ota-1255858890.cos.ap-guangzhou.myqcloud.com"
_MD5 = re.compile(r"[0-9a-f]{32}")
_STATES = {"downloading", "installing", "succeeded", "failed"}
#: the uplink topic, and (a quarter of the cases, picked by payload length) topics naming no device
UP_TOPICS = [OTA_UP] * 9 + ["$ota/report/AB.CD/dev1", f"$ota/report/{PID}", f"$ota/report/{PID}/a/b"]

DOWN_SAMPLES: list[dict[str, Any]] = [
    {"file_size": 708482, "md5sum": MD5, "type": "update_firmware", "url": URL, "version": "0.2"},
    {
        "file_size": 708482,
        "md5sum": MD5,
        "type": "update_firmware",
        "url": URL,
        "version": "0.2",
        "task_id": 123456,
        "fw_type": "mcu",
    },
    {"result_code": 0, "result_msg": "success", "type": "report_version_rsp", "version": "1.0.0"},
    {
        "type": "report_version_rsp",
        "version": "2.0",
        "result_code": 0,
        "result_msg": "success",
        "fw_type": "mcu",
    },
]
UP_SAMPLES: list[dict[str, Any]] = [
    {"type": "report_version", "report": {"version": "0.1"}},
    {"type": "report_version", "report": {"fw_type": "mcu", "version": "0.1"}},
    {
        "type": "report_progress",
        "report": {
            "progress": {"state": "downloading", "percent": "10", "result_code": "0", "result_msg": ""},
            "version": "0.2",
            "fw_type": "mcu",
            "task_id": 123456,
        },
    },
    {
        "type": "report_progress",
        "report": {
            "progress": {"state": "fail", "result_code": "-1", "result_msg": "time_out"},
            "version": "0.2",
        },
    },
    {
        "type": "report_progress",
        "report": {"progress": {"state": "burning", "result_code": "0"}, "version": "0.2"},
    },
]

#: values at the edges of what each field allows
EDGES: list[Any] = [
    "",
    "0",
    "-1",
    "-5",
    "101",
    "ten",
    " 1",
    "x" * MAX_VERSION,
    "x" * (MAX_VERSION + 1),
    MD5.upper(),
    MD5[:-1],
    "g" * 32,
    "http://",
    "ftp://host/fw",
    "HTTPS://HOST/FW",
    "fail",
    "done",
    "updating",
    "paused",
    "update_firmware",
    "report_version_rsp",
    "report_progress",
    "report_version",
    0,
    -1,
    100,
    101,
    2**31,
    -(2**31) - 1,
    2**63 - 1,
    2**63,
    2**64,
    2**70,
    1.5,
    -0.0,
    True,
    None,
    [],
    {},
    [1, "a"],
    {"version": "1"},
]


def _any_value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value, nesting at most three levels."""
    pick = rng.randrange(8 if depth < 3 else 6)
    if pick == 0:
        return rng.choice(EDGES)
    if pick == 1:
        return rng.randint(-(2**70), 2**70)
    if pick == 2:
        return rng.uniform(-1e12, 1e12)
    if pick == 3:
        return "".join(rng.choice("aZ09-_ .\u00e9\u4e2d\n") for _ in range(rng.randrange(12)))
    if pick == 4:
        return rng.choice([None, True, False])
    if pick == 5:
        return rng.randrange(-10, 200)
    if pick == 6:
        return [_any_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {f"k{i}": _any_value(rng, depth + 1) for i in range(rng.randrange(3))}


def _slots(doc: Any, out: list[tuple[dict[str, Any], str]]) -> list[tuple[dict[str, Any], str]]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.append((doc, key))
            _slots(value, out)
    return out


def _mutated(sample: dict[str, Any], seed: int) -> bytes:
    """``sample`` with up to three fields dropped, retyped or set to an edge value, sometimes
    with its bytes cut or made non-UTF-8."""
    rng = random.Random(seed)
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


HUGE = [
    b"",
    b"null",
    b"[]",
    b"\xff\xfe{}",
    b'{"type": "update_firmware", "file_size": 1e400}',
    b'{"type": "report_progress", "report": {"progress": {"state": "fail", "result_code": 1'
    + b"9" * 30
    + b"}}}",
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b"{" + b" " * (MAX_PAYLOAD + 1) + b"}",
]
seeds = st.integers(min_value=0, max_value=2**32)


def _payload(samples: list[dict[str, Any]], seed: int) -> bytes:
    """Mostly a mutated sample; else random bytes, any JSON value or one of :data:`HUGE`."""
    rng = random.Random(seed)
    pick = rng.randrange(8)
    if pick < 5:
        return _mutated(rng.choice(samples), rng.getrandbits(32))
    if pick == 5:
        return rng.randbytes(rng.randrange(65))
    if pick == 6:
        return json.dumps(_any_value(rng)).encode()
    return rng.choice(HUGE)


def cases(samples: list[dict[str, Any]]) -> st.SearchStrategy[tuple[bool, bytes]]:
    """``(hub, payload)``. One draw per case (the seed decides the rest) keeps 5,000 cheap."""
    return seeds.map(lambda seed: (seed % 2 == 0, _payload(samples, seed // 2)))


def _message_payload(seed: int) -> bytes:
    rng = random.Random(seed)
    pick = rng.randrange(4)
    if pick == 0:
        return _payload(DOWN_SAMPLES, seed)
    if pick == 1:
        return b"\x00" * rng.randint(MAX_PAYLOAD - 2, MAX_PAYLOAD + 2)
    return rng.randbytes(rng.randrange(257))


def _task_of(payload: bytes) -> object:
    try:
        return json.loads(payload).get("task_id")
    except (ValueError, AttributeError):
        return None


@given(case=cases(DOWN_SAMPLES))
@FUZZ
def test_the_ota_downlink_decoder_gives_a_checked_offer_an_ack_or_malformed(case: tuple[bool, bytes]) -> None:
    hub, payload = case
    device_cls = TencentHubDevice if hub else TencentExplorerDevice
    events = device_cls(DEVICE, service_ids=["light"]).decode(OTA_DOWN, payload)
    assert len(events) == 1
    [event] = events
    if isinstance(event, ev.UpgradeOffer):
        assert 1 <= len(event.version) <= MAX_VERSION
        assert event.url.lower().startswith(("http://", "https://"))
        assert event.md5 is not None and _MD5.fullmatch(event.md5)
        assert isinstance(event.size, int) and 0 <= event.size < 2**63
        assert event.task_id is None or isinstance(event.task_id, str)
        assert (event.sha256, event.token, event.kind) == (None, None, "firmware")
        # what the platform half sends for this offer is read back as the same offer
        platform = TencentHubPlatform() if hub else TencentExplorerPlatform()
        offered = ev.OfferUpgrade(
            DEVICE, event.version, event.url, event.size, "0" * 64, event.md5, task_id=event.task_id
        )
        [out] = platform.encode(offered)
        assert device_cls(DEVICE, service_ids=["light"]).decode(out.topic, out.payload) == [event]
    elif isinstance(event, ev.UpgradeAcked):
        assert isinstance(event.code, int) and -(2**31) <= event.code < 2**31
        assert event.version is None or isinstance(event.version, str)
        assert isinstance(event.reason, str)
    else:
        assert isinstance(event, ev.Malformed), event
        assert event.topic == OTA_DOWN and event.reason and event.kind in ("ota", "other")
        if event.request_id is not None:
            assert event.kind == "ota" and str(_task_of(payload)) == event.request_id
            # the core answers it with a failed progress report for that task: it must encode
            answer = ev.UpgradeProgress("", "failed", None, event.request_id, "unsupported", event.reason)
            [report] = device_cls(DEVICE, service_ids=["light"]).encode(answer)
            assert json.loads(report.payload)["report"]["progress"]["state"] == "fail"


@given(seed=seeds)
@FUZZ
def test_the_message_down_decoder_gives_the_bytes_or_malformed_when_too_large(seed: int) -> None:
    hub, payload = seed % 2 == 0, _message_payload(seed)
    device = (TencentHubDevice if hub else TencentExplorerDevice)(DEVICE, service_ids=["light"])
    topic = f"{PID}/{DEV}/{'message' if hub else 'control'}"
    events = device.decode(topic, payload)
    if len(payload) <= MAX_PAYLOAD:
        assert events == [ev.CloudMessage(payload)]
    else:
        [event] = events
        assert isinstance(event, ev.Malformed) and event.kind == "message" and "exceeds" in event.reason


@given(case=cases(UP_SAMPLES))
@FUZZ
def test_the_ota_uplink_decoder_gives_a_checked_report_or_device_malformed(case: tuple[bool, bytes]) -> None:
    hub, payload = case
    topic = UP_TOPICS[len(payload) % len(UP_TOPICS)]
    platform = TencentHubPlatform() if hub else TencentExplorerPlatform()
    events = platform.decode(topic, payload)
    assert len(events) == 1
    [event] = events
    if topic != OTA_UP:
        assert isinstance(event, ev.DeviceMalformed) and event.device_id is None
        return
    if isinstance(event, ev.VersionReported):
        assert event.device_id == DEVICE and isinstance(event.fw_version, str) and event.fw_version
        assert event.sw_version is None
    elif isinstance(event, ev.UpgradeReported):
        assert event.device_id == DEVICE and event.state in _STATES
        assert event.version is None or (isinstance(event.version, str) and event.version)
        assert event.percent is None or (isinstance(event.percent, int) and 0 <= event.percent <= 100)
        assert event.task_id is None or isinstance(event.task_id, str)
        assert isinstance(event.reason, str) and event.request_id is None
        if event.failure is not None:
            assert event.state == "failed" and CODE_FAILURES[int(event.code)] == event.failure  # type: ignore[arg-type]
        assert event.code is None or isinstance(event.code, (int, str))
    else:
        assert isinstance(event, ev.DeviceMalformed), event
        assert (event.device_id, event.topic, event.kind, event.request_id) == (DEVICE, OTA_UP, "ota", None)
        assert event.reason
