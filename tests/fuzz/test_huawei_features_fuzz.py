"""Fuzz the Huawei feature decoders: hostile but well-formed-looking ``events/down|up`` payloads.

One test per decoder (``$ota`` offers and version queries, ``$log`` ``log_config`` and the
``$file_manager`` URL answers on the device half; ``$ota`` ``version_report`` and
``upgrade_progress_report`` and the ``$file_manager`` requests and results on the platform
half), 5,000 derandomized cases each: 1,000 Hypothesis examples, each checking the 5 cases built
from the seed it draws (Hypothesis spends 1-2 ms on an example here, which would put 35,000 of
them far past this file's 30 s budget; a failure names its seed and case). A case starts from a
valid entry of the right envelope and
drops keys or gives them wrong types and values (huge numbers, empty and hostile strings,
non-hex signs, bad times and URLs); some cases nest it next to another entry, make ``paras`` a
non-object, or corrupt the bytes (not UTF-8, cut short, NaN). Decoding never raises; it gives
the right message, with its invariants, or a Malformed / DeviceMalformed whose reason names one
of the keys the case touched. On the device half, whatever the core answers must encode.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thingmodel import Property, Service
from thingmodel.engine.core import DeviceCore
from thingmodel.protocol import messages as ev
from thingmodel.vendors.huawei import CODE_FAILURES, HuaweiDevice, HuaweiPlatform

CASES = int(os.environ.get("THINGMODEL_HUAWEI_FEATURE_FUZZ_CASES", "5000"))
PER_EXAMPLE = 5
FUZZ = settings(
    max_examples=max(1, CASES // PER_EXAMPLE),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DEVICE = "dev-1"
DOWN = f"$oc/devices/{DEVICE}/sys/events/down"
UP = f"$oc/devices/{DEVICE}/sys/events/up"
SHA = "595124473f866b033dfa1f7e831c8c99a12f6143f392dfa996a819010842c99d"
_LOWER_HEX = re.compile(r"[0-9a-f]{64}")
#: the cases of one example are built from the one seed it draws
SEEDS = st.integers(min_value=0, max_value=2**64 - 1)

TRICKY: list[Any] = [
    None,
    True,
    False,
    -1,
    0,
    1,
    3,
    7,
    99,
    100,
    101,
    255,
    2**31,
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    2**70,
    -(2**63),
    -(2**70),
    0.5,
    -0.0,
    1e300,
    "",
    " ",
    "on",
    "off",
    "ON",
    "installing",
    SHA,
    SHA.upper(),
    SHA[:-1],
    SHA + "0",
    "z" * 64,
    "d41d8cd98f00b204e9800998ecf8427e",
    "http://",
    "http://h/p",
    "https://h/a/b.bin?x=1",
    "ftp://h/p",
    "javascript:alert(1)",
    "20151212T131212Z",
    "2015-12-12T13:12:12Z",
    "2015-12-12T13:12:12.123Z",
    "20151312T131212Z",
    "20150230T000000Z",
    "99999999T999999Z",
    "\u0662\u0660\u0661\u0665\u0661\u0662\u0661\u0662T\u0661\u0663\u0661\u0662\u0661\u0662Z",
    "\x00",
    "\U0001f525",
    "x" * 5000,
    "1700000000123",
    [],
    [1, "a"],
    {},
    {"a": 1},
    {"url": "http://h/p"},
]
_ALPHABET = 'aZ09 _-./:T\u00e9\u4e2d\U0001f525\x00\n"'
SHAPES = ["plain"] * 6 + ["two-entries", "paras-not-object", "not-utf8", "cut-short", "nan"]


def hostile(rng: random.Random) -> Any:
    """A wrong value: a tricky constant, or a random number or string."""
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(TRICKY)
    if roll < 0.75:
        return rng.randint(-(2**70), 2**70) if rng.random() < 0.5 else rng.randint(-5, 300)
    if roll < 0.85:
        return rng.uniform(-1e6, 1e6)
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 12)))


@attrs.frozen
class Decoder:
    """One decoder under fuzz: the service, a valid paras per event type, the message it gives."""

    half: str
    service_id: str
    samples: dict[str, dict[str, Any]]
    expected: tuple[type, ...]
    check: Callable[[str, Any], None]
    extra_keys: tuple[str, ...] = ("custom_info", "zz")


@attrs.frozen
class Case:
    event_type: str
    paras: Any
    touched: frozenset[str]
    shape: str
    payload: bytes


def make_case(decoder: Decoder, rng: random.Random) -> Case:
    """A valid entry of ``decoder``'s envelope, then up to three keys dropped or made wrong, and
    maybe the shape of the message or its bytes broken."""
    event_type = rng.choice(sorted(decoder.samples))
    paras = dict(decoder.samples[event_type])
    keys = sorted({*paras, *decoder.extra_keys})
    touched = set()
    for _ in range(rng.randint(0, 3)):
        key = rng.choice(keys)
        touched.add(key)
        if key in paras and rng.random() < 0.4:
            del paras[key]
        else:
            paras[key] = hostile(rng)
    shape = rng.choice(SHAPES)
    entry: dict[str, Any] = {"service_id": decoder.service_id, "event_type": event_type, "paras": paras}
    if shape == "paras-not-object":
        entry["paras"] = rng.choice([[], "x", 3, True])
    entries = [entry]
    if shape == "two-entries":
        entries.append({"service_id": "smokeDetector", "event_type": "alarm", "paras": {"level": 1}})
    payload = json.dumps({"object_device_id": DEVICE, "services": entries}).encode()
    if shape == "not-utf8":
        at = rng.randint(0, len(payload))
        payload = payload[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80"]) + payload[at:]
    elif shape == "cut-short":
        payload = payload[: rng.randint(0, len(payload) - 1)]
    elif shape == "nan":
        payload = payload[:-3] + b',"x":NaN}]}'  # JSON holds no NaN (the stdlib parser takes it)
    return Case(event_type, entry["paras"], frozenset(touched), shape, payload)


# -- invariants of what each decoder gives ----------------------------------------------------------
def _offer(event_type: str, offer: ev.UpgradeOffer) -> None:
    assert offer.version and isinstance(offer.version, str)
    assert offer.url.lower().startswith(("http://", "https://"))
    assert offer.size is None or 0 <= offer.size < 2**63
    assert offer.sha256 is None or _LOWER_HEX.fullmatch(offer.sha256)
    assert offer.md5 is None
    assert offer.kind == ("software" if event_type.startswith("software") else "firmware")
    if event_type.endswith("_v2"):
        assert offer.token is None
    else:
        assert offer.size is not None and offer.sha256 is not None


def check_ota_down(event_type: str, message: Any) -> None:
    if event_type == "version_query":
        assert message == ev.VersionQuery()
    else:
        _offer(event_type, message)


def check_log_config(event_type: str, config: ev.LogConfig) -> None:
    assert isinstance(config.enabled, bool)
    assert config.until_ms is None or (config.until_ms >= 0 and config.until_ms % 1000 == 0)


def check_file_url(event_type: str, url: ev.FileUrl) -> None:
    assert url.direction == ("upload" if "upload" in event_type else "download")
    assert url.file_name and url.url.lower().startswith(("http://", "https://"))
    assert url.expires is None or 0 <= url.expires < 2**63


def check_version_reported(event_type: str, reported: ev.VersionReported) -> None:
    for version in (reported.fw_version, reported.sw_version):
        assert version is None or (isinstance(version, str) and version)


def check_upgrade_reported(event_type: str, reported: ev.UpgradeReported) -> None:
    assert isinstance(reported.code, int) and -(2**63) <= reported.code < 2**63
    assert reported.percent is None or 0 <= reported.percent <= 100
    if reported.code != 0:
        assert reported.state == "failed" and reported.failure == CODE_FAILURES.get(reported.code)
    else:
        assert reported.state != "failed" and reported.failure is None
        assert (reported.state == "succeeded") == (reported.percent == 100)


def check_file_requested(event_type: str, requested: ev.FileUrlRequested) -> None:
    assert requested.direction == ("upload" if "upload" in event_type else "download")
    assert requested.file_name and isinstance(requested.attributes, dict)


def check_file_reported(event_type: str, reported: ev.FileReported) -> None:
    assert reported.direction == ("upload" if "upload" in event_type else "download")
    assert reported.file_name and isinstance(reported.code, int)
    assert reported.status_code is None or isinstance(reported.status_code, int)


OFFER = {
    "version": "1.1",
    "url": "https://10.1.1.1:8943/iodm/inner/v1.3.0/firmwarefiles/pkg",
    "file_size": 81362928,
    "file_name": "pkg",
    "access_token": "595124473f866b033dfa1f",
    "expires": 86400,
    "sign": SHA,
    "task_id": "task-1",
}
URL_ANSWER = {
    "url": "https://bucket.obs.example.com/a.bin?Signature=x",
    "bucket_name": "thingmodel",
    "object_name": "a.bin",
    "expire": 3600,
    "file_attributes": {"size": 3},
}
DECODERS: dict[str, Decoder] = {
    "ota-offers-and-queries": Decoder(
        "device",
        "$ota",
        {
            "version_query": {"task_id": "task-1"},
            **{f"{k}_upgrade{v2}": dict(OFFER) for k in ("firmware", "software") for v2 in ("", "_v2")},
        },
        (ev.UpgradeOffer, ev.VersionQuery),
        check_ota_down,
    ),
    "log-config": Decoder(
        "device",
        "$log",
        {"log_config": {"switch": "on", "end_time": "20151212T131212Z"}},
        (ev.LogConfig,),
        check_log_config,
    ),
    "file-url-answers": Decoder(
        "device",
        "$file_manager",
        {"get_upload_url_response": URL_ANSWER, "get_download_url_response": URL_ANSWER},
        (ev.FileUrl,),
        check_file_url,
    ),
    "version-report": Decoder(
        "platform",
        "$ota",
        {"version_report": {"fw_version": "1.0", "sw_version": "sw-1"}},
        (ev.VersionReported,),
        check_version_reported,
    ),
    "upgrade-progress": Decoder(
        "platform",
        "$ota",
        {"upgrade_progress_report": {"result_code": 0, "progress": 50, "version": "1.0", "description": "x"}},
        (ev.UpgradeReported,),
        check_upgrade_reported,
    ),
    "file-url-requests": Decoder(
        "platform",
        "$file_manager",
        {
            "get_upload_url": {"file_name": "a.bin", "file_attributes": {"hash_code": SHA, "size": 3}},
            "get_download_url": {"file_name": "a.bin"},
        },
        (ev.FileUrlRequested,),
        check_file_requested,
    ),
    "file-results": Decoder(
        "platform",
        "$file_manager",
        {
            kind: {"object_name": "a.bin", "result_code": 0, "status_code": 200, "status_description": "ok"}
            for kind in ("upload_result_report", "download_result_report")
        },
        (ev.FileReported,),
        check_file_reported,
    ),
}


class Detector(Service):
    service_id = "smokeDetector"
    alarm = Property(int, writeable=True, minimum=0, maximum=1, default=0)


_DEVICE = HuaweiDevice(DEVICE)
_PLATFORM = HuaweiPlatform()


def _names_a_touched_key(reason: str, case: Case) -> bool:
    return any(repr(key) in reason for key in case.touched)


def check_device_case(decoder: Decoder, case: Case) -> None:
    decoded = _DEVICE.decode(DOWN, case.payload)
    assert isinstance(decoded, list) and decoded
    if case.shape == "nan":
        assert all(isinstance(e, (ev.Malformed, *decoder.expected)) for e in decoded)
        return
    if case.shape in ("not-utf8", "cut-short", "paras-not-object"):
        [event] = decoded
        assert isinstance(event, ev.Malformed) and event.kind == "event" and event.request_id is None
        assert event.reason and len(event.reason) < 400
        return
    ours = decoded[0]
    if case.shape == "two-entries":
        assert decoded[1:] == [ev.CloudEvent("smokeDetector", "alarm", {"level": 1})]
    else:
        assert len(decoded) == 1
    if isinstance(ours, ev.Malformed):
        assert ours.topic == DOWN and len(ours.reason) < 400
        assert _names_a_touched_key(ours.reason, case), (ours.reason, case.touched)
        if decoder.service_id == "$ota":
            task = case.paras.get("task_id")
            assert ours.kind == "ota"
            assert ours.request_id == (task if isinstance(task, str) and task else None)
        else:
            assert (ours.kind, ours.request_id) == ("event", None)
    else:
        assert isinstance(ours, decoder.expected), ours
        decoder.check(case.event_type, ours)
    # a device without OTA answers an offer (or an unreadable one naming its task): it must encode
    sent: list[ev.Uplink] = []
    core = DeviceCore([Detector()], emit=sent.append)
    try:
        for event in decoded:
            core.handle(event)
        for action in sent:
            for out in _DEVICE.encode(action):
                assert out.topic == f"$oc/devices/{DEVICE}/sys/events/up"
    finally:
        core.detach()


def check_platform_case(decoder: Decoder, case: Case) -> None:
    decoded = _PLATFORM.decode(UP, case.payload)
    assert isinstance(decoded, list) and decoded
    if case.shape == "nan":
        assert all(isinstance(e, (ev.DeviceMalformed, *decoder.expected)) for e in decoded)
        return
    if case.shape in ("not-utf8", "cut-short", "paras-not-object"):
        [event] = decoded
        assert isinstance(event, ev.DeviceMalformed) and event.device_id == DEVICE
        assert event.kind == "event" and event.reason and len(event.reason) < 400
        return
    ours = decoded[0]
    if case.shape == "two-entries":
        assert decoded[1:] == [ev.EventUp(DEVICE, "smokeDetector", "alarm", {"level": 1})]
    else:
        assert len(decoded) == 1
    if isinstance(ours, ev.DeviceMalformed):
        assert (ours.device_id, ours.topic, ours.request_id) == (DEVICE, UP, None)
        assert ours.kind == ("ota" if decoder.service_id == "$ota" else "event")
        assert len(ours.reason) < 400
        assert _names_a_touched_key(ours.reason, case), (ours.reason, case.touched)
    else:
        assert isinstance(ours, decoder.expected), ours
        assert ours.device_id == DEVICE
        decoder.check(case.event_type, ours)


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
def test_a_device_feature_decoder_never_raises_and_names_what_it_cannot_read(name: str, seed: int) -> None:
    run_cases(DECODERS[name], seed, check_device_case)


@pytest.mark.parametrize("name", [n for n, d in DECODERS.items() if d.half == "platform"])
@given(seed=SEEDS)
@FUZZ
def test_a_platform_feature_decoder_never_raises_and_names_what_it_cannot_read(name: str, seed: int) -> None:
    run_cases(DECODERS[name], seed, check_platform_case)
