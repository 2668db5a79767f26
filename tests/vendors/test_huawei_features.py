"""Huawei IoTDA device features, both halves: ``$ota``, ``$log``, ``$file_manager``, ``$sdk_info``
and custom topics.

The golden fixtures (``tests/fixtures/huawei/11``, ``12`` and ``20``-``34``) are checked in both
directions here with their own loader: a downlink decodes into its event on the device half and
the platform half encodes its request to the same topic and payload (which decodes back into the
event); an uplink is what the device half encodes its action to, and the platform half decodes it
(and what the device half sends) into its platform message. Then the details of each message,
the failure tables both ways, malformed input naming the field, and Huawei's own Python SDK
(``../shared/peers/huawei``) reading what our platform half sends and sending what it reads.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from thingmodel import CodecError, Property, Service
from thingmodel.protocol import messages as ev
from thingmodel.protocol.topics import topic_matches
from thingmodel.vendors import huawei
from thingmodel.vendors.huawei import (
    CODE_FAILURES,
    FAILURE_CODES,
    MAX_PAYLOAD,
    RESULT_INTERNAL,
    HuaweiDevice,
    HuaweiPlatform,
    device_topics,
)

from . import golden

DEVICE = "dev-1"
PREFIX = f"$oc/devices/{DEVICE}/sys/"
DOWN = PREFIX + "events/down"
UP = PREFIX + "events/up"
SHA = hashlib.sha256(b"package").hexdigest()
URL = "http://127.0.0.1:8080/ota/pkg-1.1.bin"
ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT.parent / "shared" / "peers" / "huawei"


def _feature_fixtures() -> list[Path]:
    return [
        p
        for p in golden.fixture_paths("huawei")
        if 20 <= int(p.stem[:2]) < 40 or p.stem in ("11-event-down", "12-event-up")
    ]


FIXTURES = _feature_fixtures()
FIXTURES_DOWN = [p for p in FIXTURES if golden.load(p)["direction"] == "down"]
FIXTURES_UP = [p for p in FIXTURES if golden.load(p)["direction"] == "up"]


def device_of(fixture: dict[str, Any]) -> HuaweiDevice:
    return HuaweiDevice(fixture["topic"].split("/")[2])


def events(*entries: tuple[str, str, dict[str, Any]]) -> bytes:
    """An ``events/up|down`` body with these (service_id, event_type, paras) entries."""
    return json.dumps(
        {"services": [{"service_id": s, "event_type": t, "paras": p} for s, t, p in entries]}
    ).encode()


def paras_of(out: ev.Outgoing) -> list[dict[str, Any]]:
    return [item["paras"] for item in json.loads(out.payload)["services"]]


def decode_down(service_id: str, event_type: str, paras: dict[str, Any]) -> ev.Downlink:
    [event] = HuaweiDevice(DEVICE).decode(DOWN, events((service_id, event_type, paras)))
    return event


def decode_up(service_id: str, event_type: str, paras: dict[str, Any]) -> ev.PlatformUplink:
    [event] = HuaweiPlatform().decode(UP, events((service_id, event_type, paras)))
    return event


# -- golden fixtures, both halves -------------------------------------------------------------------
def test_the_feature_fixtures_are_all_there() -> None:
    assert len(FIXTURES) == 17 and len(FIXTURES_DOWN) == 6 and len(FIXTURES_UP) == 11


@pytest.mark.parametrize("path", FIXTURES, ids=golden.ids(FIXTURES))
def test_a_fixture_names_its_source(path: Path) -> None:
    source = golden.load(path)["source"]
    assert any(ref in source for ref in ("huawei-iotda.md", "aws-more.md", "https://", "ours")), source


@pytest.mark.parametrize("path", FIXTURES_DOWN, ids=golden.ids(FIXTURES_DOWN))
def test_the_device_decodes_a_documented_downlink_and_the_platform_sends_it(path: Path) -> None:
    fixture = golden.load(path)
    event = golden.build(fixture["event"])
    device = device_of(fixture)
    assert device.decode(fixture["topic"], golden.wire(fixture)) == [event]
    [out] = HuaweiPlatform().encode(golden.build(fixture["platform"]))
    golden.assert_equivalent(out, fixture)
    assert out.qos == 1 and not out.retain
    assert device.decode(out.topic, out.payload) == [event]


@pytest.mark.parametrize("path", FIXTURES_UP, ids=golden.ids(FIXTURES_UP))
def test_the_device_sends_a_documented_uplink_and_the_platform_reads_it(path: Path) -> None:
    fixture = golden.load(path)
    platform_event = golden.build(fixture["platform"])
    [out] = device_of(fixture).encode(golden.build(fixture["action"]))
    golden.assert_equivalent(out, fixture)
    assert HuaweiPlatform().decode(fixture["topic"], golden.wire(fixture)) == [platform_event]
    assert HuaweiPlatform().decode(out.topic, out.payload) == [platform_event]


# -- $ota: offers and version queries (device half) --------------------------------------------------
OFFER = {
    "version": "1.1",
    "url": URL,
    "file_size": 7,
    "file_name": "pkg-1.1.bin",
    "access_token": "tok",
    "expires": 86400,
    "sign": SHA,
}


def test_a_version_query_with_a_gateway_task_is_still_a_version_query() -> None:
    assert decode_down("$ota", "version_query", {"task_id": "t1", "sub_device_count": 2}) == ev.VersionQuery()


def test_a_software_upgrade_offer_is_of_kind_software_and_an_uppercase_sign_is_lowercased() -> None:
    offer = decode_down("$ota", "software_upgrade", {**OFFER, "sign": SHA.upper(), "task_id": "t9"})
    assert offer == ev.UpgradeOffer("1.1", URL, 7, SHA, None, "tok", "t9", "software")


def test_an_offer_without_a_token_downloads_without_one() -> None:
    offer = decode_down("$ota", "firmware_upgrade", {k: v for k, v in OFFER.items() if k != "access_token"})
    assert isinstance(offer, ev.UpgradeOffer) and offer.token is None


@pytest.mark.parametrize("event_type", ["firmware_upgrade_v2", "software_upgrade_v2"])
def test_a_v2_offer_from_obs_has_no_token_and_may_leave_out_size_and_sign(event_type: str) -> None:
    obs = "https://bucket.obs.cn-north-4.myhuaweicloud.com/pkg-1.1.bin?Signature=x"
    full = decode_down("$ota", event_type, {**OFFER, "url": obs})
    kind = "software" if event_type.startswith("software") else "firmware"
    assert full == ev.UpgradeOffer("1.1", obs, 7, SHA, None, None, None, kind)
    bare = decode_down("$ota", event_type, {"version": "1.1", "url": obs, "expires": 3600})
    assert bare == ev.UpgradeOffer("1.1", obs, None, None, None, None, None, kind)


BAD_OFFERS = [
    ("version", None, "'version'"),
    ("version", "", "'version'"),
    ("version", 11, "'version'"),
    ("url", None, "'url'"),
    ("url", "ftp://host/pkg.bin", "'url'"),
    ("url", ["http://a/b"], "'url'"),
    ("file_size", None, "'file_size'"),
    ("file_size", -1, "'file_size'"),
    ("file_size", "7", "'file_size'"),
    ("file_size", True, "'file_size'"),
    ("file_size", 2**63, "'file_size'"),
    ("sign", None, "'sign'"),
    ("sign", "abc", "'sign'"),
    ("sign", "g" * 64, "'sign'"),
    ("sign", hashlib.md5(b"package").hexdigest(), "'sign'"),
    ("access_token", 5, "'access_token'"),
    ("task_id", 5, "'task_id'"),
]


@pytest.mark.parametrize(
    ("key", "value", "named"), BAD_OFFERS, ids=[f"{k}={v!r}"[:40] for k, v, _ in BAD_OFFERS]
)
def test_an_offer_that_cannot_be_read_is_malformed_ota_naming_the_field_and_its_task(
    key: str, value: Any, named: str
) -> None:
    paras = {**OFFER, "task_id": "task-7"} if key != "task_id" else dict(OFFER)
    if value is None:
        del paras[key]
    else:
        paras[key] = value
    event = decode_down("$ota", "firmware_upgrade", paras)
    assert isinstance(event, ev.Malformed), event
    assert (event.topic, event.kind) == (DOWN, "ota")
    assert event.request_id == (None if key == "task_id" else "task-7")
    assert named in event.reason and "$ota firmware_upgrade" in event.reason
    assert len(event.reason) < 200


def test_a_malformed_offer_next_to_a_good_entry_leaves_the_good_one_decoded() -> None:
    body = events(("$ota", "firmware_upgrade", {"version": "1"}), ("$log", "log_config", {"switch": "off"}))
    malformed, config = HuaweiDevice(DEVICE).decode(DOWN, body)
    assert isinstance(malformed, ev.Malformed) and malformed.kind == "ota" and "'url'" in malformed.reason
    assert config == ev.LogConfig(False, None)


def test_the_core_answers_a_malformed_offer_with_a_failed_progress_the_codec_can_send() -> None:
    from thingmodel.engine.core import DeviceCore

    class Detector(Service):
        service_id = "smokeDetector"
        alarm = Property(int, writeable=True, default=0)

    sent: list[ev.Uplink] = []
    core = DeviceCore([Detector()], emit=sent.append)
    [event] = HuaweiDevice(DEVICE).decode(DOWN, events(("$ota", "firmware_upgrade", {"task_id": "t1"})))
    core.handle(event)
    [progress] = sent
    assert isinstance(progress, ev.UpgradeProgress) and progress.failure == "unsupported"
    [out] = HuaweiDevice(DEVICE).encode(progress)
    [paras] = paras_of(out)
    assert paras["result_code"] == FAILURE_CODES["unsupported"] == 8 and "'version'" in paras["description"]
    core.detach()


def test_other_ota_events_and_other_system_services_stay_cloud_events() -> None:
    assert decode_down("$ota", "something_new", {"a": 1}) == ev.CloudEvent("$ota", "something_new", {"a": 1})
    assert decode_down("$sub_device_manager", "start_scan", {}) == ev.CloudEvent(
        "$sub_device_manager", "start_scan", {}
    )


# -- $ota: reports (device half) and their mirror (platform half) -----------------------------------
def progress_paras(progress: ev.UpgradeProgress) -> dict[str, Any]:
    [out] = HuaweiDevice(DEVICE).encode(progress)
    assert out.topic == UP
    [item] = json.loads(out.payload)["services"]
    assert (item["service_id"], item["event_type"]) == ("$ota", "upgrade_progress_report")
    return item["paras"]  # type: ignore[no-any-return]


def test_a_version_report_leaves_out_what_the_device_does_not_know() -> None:
    [out] = HuaweiDevice(DEVICE).encode(ev.ReportVersion("2.0"))
    assert paras_of(out) == [{"fw_version": "2.0"}]
    assert HuaweiPlatform().decode(out.topic, out.payload) == [ev.VersionReported(DEVICE, "2.0", None)]
    [out] = HuaweiDevice(DEVICE).encode(ev.ReportVersion(None, "sw-3"))
    assert paras_of(out) == [{"sw_version": "sw-3"}]


def test_progress_states_go_on_the_wire_as_the_brief_says() -> None:
    assert progress_paras(ev.UpgradeProgress("1.1", "downloading", 40, current_version="1.0")) == {
        "result_code": 0,
        "progress": 40,
        "version": "1.0",
    }
    assert progress_paras(ev.UpgradeProgress("1.1", "downloading")) == {"result_code": 0, "version": "1.1"}
    assert progress_paras(ev.UpgradeProgress("1.1", "installing", current_version="1.0")) == {
        "result_code": 0,
        "progress": 99,
        "version": "1.0",
        "description": "installing",
    }
    assert progress_paras(ev.UpgradeProgress("1.1", "succeeded", 100, current_version="1.0")) == {
        "result_code": 0,
        "progress": 100,
        "version": "1.1",
    }
    failed = ev.UpgradeProgress("1.1", "failed", 30, "t1", "download", "HTTP 404", current_version="1.0")
    assert progress_paras(failed) == {"result_code": 6, "version": "1.0", "description": "HTTP 404"}
    no_current = ev.UpgradeProgress("1.1", "failed", failure="busy", reason="another upgrade runs")
    assert progress_paras(no_current)["version"] == "1.1"


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        ("busy", 1),
        ("current", 3),
        ("download", 6),
        ("verify", 7),
        ("unsupported", 8),
        ("install", 10),
        (None, 255),
    ],
)
def test_each_failure_has_its_result_code_and_reads_back_as_itself(failure: Any, code: int) -> None:
    progress = ev.UpgradeProgress("1.1", "failed", failure=failure, reason="why", current_version="1.0")
    assert progress_paras(progress)["result_code"] == code
    [out] = HuaweiDevice(DEVICE).encode(progress)
    [reported] = HuaweiPlatform().decode(out.topic, out.payload)
    assert reported == ev.UpgradeReported(DEVICE, "1.0", "failed", failure=failure, reason="why", code=code)


def test_the_failure_tables_are_each_others_inverse_and_cover_every_documented_code() -> None:
    assert all(CODE_FAILURES[code] == failure for failure, code in FAILURE_CODES.items())
    assert set(CODE_FAILURES) == {*range(1, 11), RESULT_INTERNAL}
    assert set(FAILURE_CODES) == set(ev.UpgradeFailure.__args__)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("code", "failure"),
    [(2, "download"), (4, "busy"), (5, "download"), (9, "install"), (42, None), (-1, None)],
)
def test_codes_we_never_send_read_as_the_nearest_failure_or_none(code: int, failure: Any) -> None:
    reported = decode_up("$ota", "upgrade_progress_report", {"result_code": code, "version": "1.0"})
    assert reported == ev.UpgradeReported(DEVICE, "1.0", "failed", failure=failure, code=code)


@pytest.mark.parametrize(
    ("paras", "state"),
    [
        ({"result_code": 0, "version": "1.0"}, "downloading"),
        ({"result_code": 0, "progress": 0, "version": "1.0"}, "downloading"),
        ({"result_code": 0, "progress": 99, "version": "1.0", "description": "installing"}, "installing"),
        ({"result_code": 0, "progress": 100, "version": "1.1"}, "succeeded"),
        ({"result_code": 3, "progress": 100, "version": "1.1"}, "failed"),
    ],
)
def test_the_platform_reads_the_state_of_a_progress_report(paras: dict[str, Any], state: str) -> None:
    reported = decode_up("$ota", "upgrade_progress_report", paras)
    assert isinstance(reported, ev.UpgradeReported) and reported.state == state


@pytest.mark.parametrize(
    ("paras", "named"),
    [
        ({"version": "1.0"}, "'result_code'"),
        ({"result_code": "0", "version": "1.0"}, "'result_code'"),
        ({"result_code": 0, "progress": 101, "version": "1.0"}, "'progress'"),
        ({"result_code": 0, "progress": -1, "version": "1.0"}, "'progress'"),
        ({"result_code": 0, "progress": 50.5, "version": "1.0"}, "'progress'"),
        ({"result_code": 0, "version": 1}, "'version'"),
        ({"result_code": 0, "version": "1", "description": ["x"]}, "'description'"),
    ],
)
def test_a_progress_report_that_cannot_be_read_is_malformed_ota_naming_the_field(
    paras: dict[str, Any], named: str
) -> None:
    event = decode_up("$ota", "upgrade_progress_report", paras)
    assert isinstance(event, ev.DeviceMalformed) and event.kind == "ota" and event.device_id == DEVICE
    assert named in event.reason


def test_a_progress_percent_outside_0_to_100_is_refused_at_encoding() -> None:
    for percent in (-1, 101):
        with pytest.raises(CodecError, match=r"percent must be 0\.\.100"):
            HuaweiDevice(DEVICE).encode(ev.UpgradeProgress("1.1", "downloading", percent))


def test_a_version_report_with_wrong_types_is_malformed_naming_the_field() -> None:
    event = decode_up("$ota", "version_report", {"fw_version": 2})
    assert isinstance(event, ev.DeviceMalformed) and "'fw_version'" in event.reason


def test_the_platform_offers_a_package_the_way_iotda_does() -> None:
    offer = ev.OfferUpgrade(DEVICE, "1.1", URL + "?x=1", 7, SHA.upper(), "md5", "tok", "job-1", "software")
    [out] = HuaweiPlatform().encode(offer)
    assert out.topic == DOWN
    [item] = json.loads(out.payload)["services"]
    assert (item["service_id"], item["event_type"]) == ("$ota", "software_upgrade")
    assert item["paras"] == {
        "version": "1.1",
        "url": URL + "?x=1",
        "file_size": 7,
        "file_name": "pkg-1.1.bin",
        "expires": 86400,
        "sign": SHA,
        "access_token": "tok",
        "task_id": "job-1",
    }
    untokened = ev.OfferUpgrade(DEVICE, "1.1", "http://h/", 7, SHA, "md5")
    [out] = HuaweiPlatform().encode(untokened)
    [paras] = paras_of(out)
    assert "access_token" not in paras and "task_id" not in paras and paras["file_name"] == "package"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"sha256": "abc"}, "sha256 must be 64 hex digits"),
        ({"size": -1}, "size must be a byte count"),
        ({"url": "file:///etc/passwd"}, "url must be an http"),
        ({"version": ""}, "version must be a non-empty string"),
        ({"kind": "bootloader"}, "kind must be 'firmware' or 'software'"),
    ],
)
def test_an_offer_the_device_could_not_read_is_refused_at_encoding(
    change: dict[str, Any], match: str
) -> None:
    fields: dict[str, Any] = {
        "device_id": DEVICE,
        "version": "1.1",
        "url": URL,
        "size": 7,
        "sha256": SHA,
        "md5": "x",
        **change,
    }
    with pytest.raises(CodecError, match=match):
        HuaweiPlatform().encode(ev.OfferUpgrade(**fields))


def test_the_platform_asks_for_the_version_with_empty_paras() -> None:
    [out] = HuaweiPlatform().encode(ev.QueryVersion(DEVICE))
    assert out.topic == DOWN
    assert json.loads(out.payload) == {
        "services": [{"service_id": "$ota", "event_type": "version_query", "paras": {}}]
    }


FULLWIDTH = {ord(d): ord(d) + 0xFEE0 for d in "0123456789"}  # Unicode digits, which r"\d" takes


# -- $log ---------------------------------------------------------------------------------------------
def test_log_config_switches_on_and_off_with_or_without_an_end() -> None:
    assert decode_down("$log", "log_config", {"switch": "off"}) == ev.LogConfig(False, None)
    assert decode_down("$log", "log_config", {"switch": "on", "end_time": ""}) == ev.LogConfig(True, None)
    expected = calendar.timegm((2024, 2, 29, 23, 59, 58, 0, 0, 0)) * 1000
    for end in ("20240229T235958Z", "2024-02-29T23:59:58Z", "2024-02-29T23:59:58.123Z"):
        assert decode_down("$log", "log_config", {"switch": "on", "end_time": end}) == ev.LogConfig(
            True, expected
        )


@pytest.mark.parametrize(
    ("paras", "named"),
    [
        ({}, "'switch'"),
        ({"switch": "ON"}, "'switch'"),
        ({"switch": True}, "'switch'"),
        ({"switch": "on", "end_time": 1700000000}, "'end_time'"),
        ({"switch": "on", "end_time": "20231301T000000Z"}, "'end_time'"),
        ({"switch": "on", "end_time": "2023-11-14 22:13:20"}, "'end_time'"),
        (
            {
                "switch": "on",
                "end_time": "20231114T221320Z".translate(FULLWIDTH),
            },
            "'end_time'",
        ),
    ],
)
def test_a_log_config_that_cannot_be_read_is_malformed_naming_the_field(
    paras: dict[str, Any], named: str
) -> None:
    event = decode_down("$log", "log_config", paras)
    assert isinstance(event, ev.Malformed) and event.kind == "event" and event.request_id is None
    assert named in event.reason


def test_configure_log_sends_the_end_as_iotda_s_utc_time_and_reads_back() -> None:
    until = calendar.timegm((2031, 5, 6, 7, 8, 9, 0, 0, 0)) * 1000 + 999
    [out] = HuaweiPlatform().encode(ev.ConfigureLog(DEVICE, True, until))
    assert paras_of(out) == [{"switch": "on", "end_time": "20310506T070809Z"}]
    assert HuaweiDevice(DEVICE).decode(out.topic, out.payload) == [ev.LogConfig(True, until - 999)]
    [out] = HuaweiPlatform().encode(ev.ConfigureLog(DEVICE, False))
    assert paras_of(out) == [{"switch": "off"}]
    for bad in (-1, 10**20):
        with pytest.raises(CodecError, match="until_ms"):
            HuaweiPlatform().encode(ev.ConfigureLog(DEVICE, True, bad))


def test_ship_logs_sends_one_entry_per_record_and_the_platform_keeps_one_log_each() -> None:
    entries = (
        ev.LogEntry(1700000000123, "connect complete"),
        ev.LogEntry(1700000000456, "alarm set to 1", "DEVICE_PROPERTY"),
    )
    [out] = HuaweiDevice(DEVICE).encode(ev.ShipLogs(entries))
    assert paras_of(out) == [
        {"timestamp": "1700000000123", "type": "DEVICE_STATUS", "content": "connect complete"},
        {"timestamp": "1700000000456", "type": "DEVICE_PROPERTY", "content": "alarm set to 1"},
    ]
    assert HuaweiPlatform().decode(out.topic, out.payload) == [ev.DeviceLog(DEVICE, p) for p in paras_of(out)]
    assert HuaweiDevice(DEVICE).encode(ev.ShipLogs(())) == []


def test_logs_beyond_one_message_are_split_into_messages_within_iotda_s_limit() -> None:
    entries = tuple(ev.LogEntry(i, f"{i:06d}" + "x" * 100_000) for i in range(25))
    outs = HuaweiDevice(DEVICE).encode(ev.ShipLogs(entries))
    assert len(outs) > 1 and all(len(o.payload) <= MAX_PAYLOAD for o in outs)
    read = [e for o in outs for e in HuaweiPlatform().decode(o.topic, o.payload)]
    assert [int(e.params["timestamp"]) for e in read if isinstance(e, ev.DeviceLog)] == list(range(25))
    with pytest.raises(CodecError, match="exceeds IoTDA's limit"):
        HuaweiDevice(DEVICE).encode(ev.ShipLogs((ev.LogEntry(1, "x" * MAX_PAYLOAD),)))


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (ev.LogEntry(1, "x", "DEBUG"), r"entries\[1\] type 'DEBUG' is not one of"),
        (ev.LogEntry(-1, "x"), r"entries\[1\] timestamp_ms must be"),
        (ev.LogEntry(1, "\ud800"), "cannot encode log entry 1"),
    ],
)
def test_a_log_entry_iotda_cannot_take_is_refused_naming_it(entry: ev.LogEntry, match: str) -> None:
    with pytest.raises(CodecError, match=match):
        HuaweiDevice(DEVICE).encode(ev.ShipLogs((ev.LogEntry(0, "fine"), entry)))


# -- $sdk_info ------------------------------------------------------------------------------------------
def test_report_info_sends_what_is_known_and_the_extra_facts() -> None:
    info = ev.ReportInfo(fw_version="1.0", sdk_version="thingmodel 0.1", extra={"board": "rev-b"})
    [out] = HuaweiDevice(DEVICE).encode(info)
    [item] = json.loads(out.payload)["services"]
    assert (item["service_id"], item["event_type"]) == ("$sdk_info", "sdk_info_report")
    params = {"device_sdk_version": "thingmodel 0.1", "fw_version": "1.0", "board": "rev-b"}
    assert item["paras"] == params
    assert HuaweiPlatform().decode(out.topic, out.payload) == [ev.DeviceInfo(DEVICE, params)]
    with pytest.raises(CodecError, match="extra key 'sw_version'"):
        HuaweiDevice(DEVICE).encode(ev.ReportInfo(extra={"sw_version": "x"}))


# -- $file_manager ----------------------------------------------------------------------------------------
def test_file_url_requests_and_results_read_back_on_the_platform() -> None:
    device, platform = HuaweiDevice(DEVICE), HuaweiPlatform()
    [out] = device.encode(ev.AskFileUrl("download", "logs.tar", {"size": 3}))
    assert paras_of(out) == [{"file_name": "logs.tar", "file_attributes": {"size": 3}}]
    assert platform.decode(out.topic, out.payload) == [
        ev.FileUrlRequested(DEVICE, "download", "logs.tar", {"size": 3})
    ]
    [out] = device.encode(ev.FileResult("upload", "logs.tar", 0))
    assert paras_of(out) == [{"object_name": "logs.tar", "result_code": 0}]
    assert platform.decode(out.topic, out.payload) == [ev.FileReported(DEVICE, "upload", "logs.tar", 0)]


def test_file_requests_iotda_cannot_take_are_refused() -> None:
    device = HuaweiDevice(DEVICE)
    with pytest.raises(CodecError, match="file_name must not be empty"):
        device.encode(ev.AskFileUrl("upload", ""))
    with pytest.raises(CodecError, match=r"NaN|nan"):
        device.encode(ev.AskFileUrl("upload", "a", {"size": float("nan")}))
    with pytest.raises(CodecError, match="direction must be"):
        device.encode(ev.FileResult("sideways", "a", 0))  # type: ignore[arg-type]
    with pytest.raises(CodecError, match="url must be an http"):
        HuaweiPlatform().encode(ev.AnswerFileUrl(DEVICE, "upload", "a", "ftp://x/a"))


@pytest.mark.parametrize(
    ("event_type", "paras", "named"),
    [
        ("get_upload_url_response", {"object_name": "a"}, "'url'"),
        ("get_upload_url_response", {"url": "http://h/a"}, "'object_name'"),
        ("get_download_url_response", {"url": "http://h/a", "object_name": 3}, "'object_name'"),
        ("get_download_url_response", {"url": "http://h/a", "object_name": "a", "expire": -5}, "'expire'"),
        ("get_download_url_response", {"url": "http://h/a", "object_name": "a", "expire": "60"}, "'expire'"),
    ],
)
def test_a_file_url_answer_that_cannot_be_read_is_malformed_naming_the_field(
    event_type: str, paras: dict[str, Any], named: str
) -> None:
    event = decode_down("$file_manager", event_type, paras)
    assert isinstance(event, ev.Malformed) and named in event.reason


@pytest.mark.parametrize(
    ("event_type", "paras", "named"),
    [
        ("get_upload_url", {}, "'file_name'"),
        ("get_upload_url", {"file_name": "a", "file_attributes": "big"}, "'file_attributes'"),
        ("upload_result_report", {"object_name": "a"}, "'result_code'"),
        ("download_result_report", {"result_code": 0}, "'object_name'"),
        (
            "download_result_report",
            {"object_name": "a", "result_code": 0, "status_code": "200"},
            "'status_code'",
        ),
    ],
)
def test_a_file_request_or_result_that_cannot_be_read_is_malformed_naming_the_field(
    event_type: str, paras: dict[str, Any], named: str
) -> None:
    event = decode_up("$file_manager", event_type, paras)
    assert isinstance(event, ev.DeviceMalformed) and event.kind == "event" and named in event.reason


# -- the platform half's other system services ----------------------------------------------------
def test_services_the_platform_does_not_serve_stay_system_events_next_to_the_ones_it_does() -> None:
    body = events(
        ("$sub_device_manager", "scan_result", {"version": 1}),
        ("smokeDetector", "alarm", {"level": 2}),
        ("$ota", "upgrade_progress_report", {"version": "1.0"}),
        ("$ota", "version_report", {"fw_version": "1.0"}),
    )
    first, second, third, fourth = HuaweiPlatform().decode(UP, body)
    assert first == ev.SystemEventUp(DEVICE, "$sub_device_manager", "scan_result", {"version": 1})
    assert second == ev.EventUp(DEVICE, "smokeDetector", "alarm", {"level": 2})
    assert isinstance(third, ev.DeviceMalformed) and third.kind == "ota"
    assert fourth == ev.VersionReported(DEVICE, "1.0", None)


def test_what_the_codecs_can_send() -> None:
    assert set(ev.Uplink.__args__) <= HuaweiDevice.encoders.kinds  # type: ignore[attr-defined]
    sends = HuaweiPlatform.encoders.kinds
    assert {ev.QueryVersion, ev.OfferUpgrade, ev.ConfigureLog, ev.AnswerFileUrl} <= sends
    for other in (
        ev.AnswerVersion(DEVICE, "1"),
        ev.AnswerJob(DEVICE, "t", None),
        ev.AnswerJobUpdate(DEVICE, "job", "t"),
    ):
        with pytest.raises(CodecError, match=f"huawei has no way to send {type(other).__name__}"):
            HuaweiPlatform().encode(other)


# -- custom topics -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["alerts", "cfg/v1/set", "cfg/+/set", "logs/#"])
def test_a_custom_topic_is_under_the_device_s_user_root_and_the_broker_lets_it_use_it(name: str) -> None:
    topic = HuaweiDevice(DEVICE).custom_topic(name)
    assert topic == f"$oc/devices/{DEVICE}/user/{name}"
    publish, subscribe = device_topics(DEVICE)
    concrete = topic.replace("+", "x").replace("#", "y/z")
    assert any(topic_matches(f, concrete) for f in publish)
    assert any(topic_matches(f, concrete) for f in subscribe)
    assert not any(topic_matches(f, f"$oc/devices/other/user/{name}") for f in publish + subscribe)
    assert huawei.topic_device(concrete) == DEVICE


def test_the_new_downlinks_and_uplinks_are_on_topics_both_halves_subscribe_to() -> None:
    assert any(topic_matches(f, DOWN) for f in HuaweiDevice(DEVICE).subscriptions())
    assert any(topic_matches(f, UP) for f in HuaweiPlatform().subscriptions())


# -- Huawei's own SDK reads what our platform half sends, and sends what it reads --------------------
@pytest.fixture(scope="module")
def sdk() -> SimpleNamespace:
    if not (SDK / "iot_device_sdk_python").is_dir():
        pytest.skip("../shared/peers/huawei (Huawei's SDK) is absent")
    sys.path.insert(0, str(SDK))
    try:
        from iot_device_sdk_python.client.request.device_events import DeviceEvents
        from iot_device_sdk_python.devicelog.device_log_service import DeviceLogService
        from iot_device_sdk_python.filemanager.file_manager_listener import FileManagerListener
        from iot_device_sdk_python.filemanager.file_manager_service import FileManagerService
        from iot_device_sdk_python.ota.ota_listener import OTAListener
        from iot_device_sdk_python.ota.ota_service import OTAService
    finally:
        sys.path.remove(str(SDK))
    return SimpleNamespace(
        DeviceEvents=DeviceEvents,
        DeviceLogService=DeviceLogService,
        FileManagerListener=FileManagerListener,
        FileManagerService=FileManagerService,
        OTAListener=OTAListener,
        OTAService=OTAService,
    )


class _Client:
    """What an SDK service calls to publish: keeps each event."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def report_event(self, device_event: Any, listener: Any = None) -> None:
        self.sent.append(device_event)


class _Device:
    def __init__(self) -> None:
        self.client = _Client()

    def get_client(self) -> _Client:
        return self.client


def sdk_service(sdk: SimpleNamespace, kind: str, service_id: str) -> Any:
    service = getattr(sdk, kind)()
    service.service_id = service_id
    service.set_iot_device(_Device())
    return service


def sdk_receives(sdk: SimpleNamespace, service: Any, out: ev.Outgoing) -> None:
    """What the SDK's DeviceClient and AbstractDevice do with an ``events/down`` publish."""
    assert "/sys/events/down" in out.topic
    events = sdk.DeviceEvents()
    events.convert_from_dict(json.loads(out.payload))
    assert not events.device_id  # a direct device's events carry no other device's id
    for event in events.services:
        assert event.service_id == service.service_id
        service.on_event(event)


def sdk_sent(sdk: SimpleNamespace, service: Any) -> list[ev.PlatformUplink]:
    """The events the SDK service published, put in DeviceClient.report_event's envelope and
    read by our platform half."""
    decoded: list[ev.PlatformUplink] = []
    for event in service.get_iot_device().client.sent:
        envelope = sdk.DeviceEvents()
        envelope.device_id = DEVICE
        envelope.services = [event]
        decoded += HuaweiPlatform().decode(UP, json.dumps(envelope.to_dict()).encode())
    return decoded


def test_the_sdk_reads_our_upgrade_offer_and_version_query(sdk: SimpleNamespace) -> None:
    seen: list[Any] = []

    class Listener(sdk.OTAListener):  # type: ignore[misc, name-defined]
        def on_query_version(self, query: Any) -> None:
            seen.append(("query", query.to_dict()))

        def on_receive_package_info(self, pkg: Any) -> None:
            seen.append(("package", pkg))

    service = sdk_service(sdk, "OTAService", "$ota")
    service.set_ota_listener(Listener())
    platform = HuaweiPlatform()
    sdk_receives(sdk, service, *platform.encode(ev.QueryVersion(DEVICE)))
    offer = ev.OfferUpgrade(DEVICE, "1.1", URL, 7, SHA, "md5", "tok-9", "task-3")
    sdk_receives(sdk, service, *platform.encode(offer))
    assert seen[0] == ("query", {})
    package = seen[1][1]
    # what the SDK's OTA sample uses: the Bearer token, the URL, and sign compared with sha256
    assert (package.version, package.url, package.file_size) == ("1.1", URL, 7)
    assert (package.access_token, package.sign, package.task_id) == ("tok-9", SHA, "task-3")
    assert (package.file_name, package.expires) == ("pkg-1.1.bin", 86400)


def test_what_the_sdk_reports_about_an_upgrade_reads_as_its_messages(sdk: SimpleNamespace) -> None:
    service = sdk_service(sdk, "OTAService", "$ota")
    service.report_version("fw-1", "sw-1")
    service.report_ota_status(service.OTA_CODE_SUCCESS, "1.1", 100, "upgrade success")
    service.report_ota_status(service.OTA_CODE_CHECK_FAIL, "1.0", description="bad sign")
    service.report_ota_status(service.OTA_CODE_LOW_POWER, "1.0")
    assert sdk_sent(sdk, service) == [
        ev.VersionReported(DEVICE, "fw-1", "sw-1"),
        ev.UpgradeReported(DEVICE, "1.1", "succeeded", 100, reason="upgrade success", code=0),
        ev.UpgradeReported(DEVICE, "1.0", "failed", failure="verify", reason="bad sign", code=7),
        ev.UpgradeReported(DEVICE, "1.0", "failed", failure="busy", code=4),
    ]


def test_the_sdk_obeys_our_log_config_and_its_log_reports_read_as_device_logs(sdk: SimpleNamespace) -> None:
    service = sdk_service(sdk, "DeviceLogService", "$log")
    until = calendar.timegm((2031, 5, 6, 7, 8, 9, 0, 0, 0)) * 1000
    sdk_receives(sdk, service, *HuaweiPlatform().encode(ev.ConfigureLog(DEVICE, False, until)))
    assert (service.log_switch, service.end_time) == (False, "20310506T070809Z")
    sdk_receives(sdk, service, *HuaweiPlatform().encode(ev.ConfigureLog(DEVICE, True)))
    assert service.log_switch is True and service.can_report_log()
    service.report_device_log("1700000000123", "DEVICE_STATUS", "connect complete")
    assert sdk_sent(sdk, service) == [
        ev.DeviceLog(
            DEVICE, {"timestamp": "1700000000123", "type": "DEVICE_STATUS", "content": "connect complete"}
        )
    ]


def test_the_sdk_reads_our_file_urls_and_its_file_events_read_as_their_messages(
    sdk: SimpleNamespace, tmp_path: Path
) -> None:
    urls: list[Any] = []

    class Listener(sdk.FileManagerListener):  # type: ignore[misc, name-defined]
        def on_upload_url(self, url_info: Any) -> None:
            urls.append(("upload", url_info.to_dict()))

        def on_download_url(self, url_info: Any) -> None:
            urls.append(("download", url_info.to_dict()))

    service = sdk_service(sdk, "FileManagerService", "$file_manager")
    service.set_listener(Listener())
    local = tmp_path / "report.txt"
    local.write_bytes(b"hello")
    service.upload_file("report.txt", str(local))
    service.get_download_file_url("report.txt")
    service.report_upload_result("report.txt", 0, 200)
    service.report_download_result("report.txt", 1, 404, "not found")
    assert sdk_sent(sdk, service) == [
        ev.FileUrlRequested(
            DEVICE, "upload", "report.txt", {"hash_code": hashlib.sha256(b"hello").hexdigest(), "size": 5}
        ),
        ev.FileUrlRequested(DEVICE, "download", "report.txt"),
        ev.FileReported(DEVICE, "upload", "report.txt", 0, 200),
        ev.FileReported(DEVICE, "download", "report.txt", 1, 404, "not found"),
    ]
    platform = HuaweiPlatform()
    put = "http://127.0.0.1:9/files/report.txt?token=t"
    sdk_receives(sdk, service, *platform.encode(ev.AnswerFileUrl(DEVICE, "upload", "report.txt", put, 600)))
    sdk_receives(sdk, service, *platform.encode(ev.AnswerFileUrl(DEVICE, "download", "report.txt", put)))
    # the SDK's file sample looks the local path up by object_name: it must be the file's name
    assert urls == [
        (
            "upload",
            {
                "url": put,
                "bucket_name": "thingmodel",
                "object_name": "report.txt",
                "expire": 600,
                "file_attributes": {},
            },
        ),
        (
            "download",
            {
                "url": put,
                "bucket_name": "thingmodel",
                "object_name": "report.txt",
                "expire": 3600,
                "file_attributes": {},
            },
        ),
    ]
    assert "report.txt" in service.upload_file_dict
