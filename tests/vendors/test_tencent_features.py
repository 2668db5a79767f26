"""Tencent device features, hub and Explorer alike: OTA (``$ota/report`` / ``$ota/update``),
messages down, the device's own custom topics and (Explorer) ``report_info``; both halves.

The golden fixtures of these messages (``tests/fixtures/tencent/34-*`` to ``49-*``) are
round-tripped by ``test_tencent.py`` with the rest; here each uplink also goes the whole way
(device half -> wire -> platform half) with the QoS its fixture names (``qos``: Tencent's SDKs
send download progress with QoS 0). The rest checks what the fixtures cannot show: refusals,
the failure tables both ways, malformed input named by its field, and the broker ACL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from thingmodel import CodecError, InvalidValue, Property, Service
from thingmodel.cloud.access import filter_within
from thingmodel.protocol import messages as ev
from thingmodel.protocol.topics import topic_matches
from thingmodel.testing import FakeCloud
from thingmodel.vendors.tencent import (
    CODE_FAILURES,
    FAILURE_CODES,
    MAX_PAYLOAD,
    MAX_RESULT_MSG,
    TencentExplorerDevice,
    TencentExplorerPlatform,
    TencentHubDevice,
    TencentHubPlatform,
    device_topics,
    topic_device,
)

from . import golden

PID, DEV = "ABCDEFGHIJ", "dev1"
DEVICE = f"{PID}.{DEV}"
OTA_UP, OTA_DOWN = f"$ota/report/{PID}/{DEV}", f"$ota/update/{PID}/{DEV}"
URL = "https://ota.example.com/fw-0.2.bin"
MD5 = "36eb5951179db14a631463a37a9322a2"
SHA = "a" * 64
HALVES = [
    pytest.param(TencentHubDevice, TencentHubPlatform, id="hub"),
    pytest.param(TencentExplorerDevice, TencentExplorerPlatform, id="explorer"),
]
Device = TencentHubDevice | TencentExplorerDevice
Platform = TencentHubPlatform | TencentExplorerPlatform


def wire(value: Any) -> bytes:
    return json.dumps(value).encode()


def body(out: ev.Outgoing) -> Any:
    return json.loads(out.payload)


def make(device_cls: Any) -> Device:
    device: Device = device_cls(DEVICE, service_ids=["light"], new_id=golden.counter())
    return device


def offer(**fields: Any) -> bytes:
    base = {"type": "update_firmware", "version": "0.2", "url": URL, "md5sum": MD5, "file_size": 10}
    return wire({k: v for k, v in {**base, **fields}.items() if v is not ...})


# -- the feature fixtures, the whole way ------------------------------------------------------------
FEATURES = [p for p in golden.fixture_paths("tencent") if 34 <= int(p.stem[:2]) <= 49]
FEATURES_UP = [p for p in FEATURES if golden.load(p)["direction"] == "up"]
FEATURES_DOWN = [p for p in FEATURES if golden.load(p)["direction"] == "down"]


def _halves(fixture: dict[str, Any]) -> tuple[Device, Platform]:
    explorer = fixture["mode"] == "explorer"
    device: Device
    if explorer:
        device = TencentExplorerDevice(
            fixture["device_id"],
            service_ids=fixture["service_ids"],
            clock=golden.fixed_clock,
            new_id=golden.counter(),
        )
    else:
        device = TencentHubDevice(
            fixture["device_id"], service_ids=fixture["service_ids"], new_id=golden.counter()
        )
    platform_cls = TencentExplorerPlatform if explorer else TencentHubPlatform
    return device, platform_cls(clock=golden.fixed_clock, new_id=golden.counter())


def test_every_feature_fixture_is_here_and_names_its_source() -> None:
    assert len(FEATURES) == 16
    for path in FEATURES:
        assert golden.load(path)["source"], path.name


@pytest.mark.parametrize("path", FEATURES_UP, ids=golden.ids(FEATURES_UP))
def test_what_the_device_sends_reaches_the_platform_as_the_fixtures_message_with_its_qos(path: Path) -> None:
    fixture = golden.load(path)
    device, platform = _halves(fixture)
    assert any(topic_matches(f, fixture["topic"]) for f in platform.subscriptions())
    [out] = device.encode(golden.build(fixture["action"]))
    assert out.qos == fixture["qos"]
    assert platform.decode(out.topic, out.payload) == [golden.build(fixture["platform"])]


@pytest.mark.parametrize("path", FEATURES_DOWN, ids=golden.ids(FEATURES_DOWN))
def test_the_device_subscribes_to_each_downlink_and_the_platform_sends_it_with_qos_1(path: Path) -> None:
    fixture = golden.load(path)
    device, platform = _halves(fixture)
    assert any(topic_matches(f, fixture["topic"]) for f in device.subscriptions())
    [out] = platform.encode(golden.build(fixture["platform"], golden.wire(fixture)))
    assert out.qos == 1 and not out.retain


# -- OTA down: update_firmware and report_version_rsp -----------------------------------------------
@pytest.mark.parametrize(("device_cls", "platform_cls"), HALVES)
def test_an_offer_is_read_with_its_md5_in_lowercase_and_its_task_id_as_text(
    device_cls: Any, platform_cls: Any
) -> None:
    [event] = make(device_cls).decode(OTA_DOWN, offer(md5sum=MD5.upper(), task_id="job-7", fw_type="mcu"))
    assert event == ev.UpgradeOffer("0.2", URL, 10, md5=MD5, task_id="job-7")


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"md5sum": ...}, "missing field 'md5sum'"),
        ({"md5sum": "36eb"}, "'md5sum' must be 32 hex digits"),
        ({"md5sum": "z" * 32}, "'md5sum' must be 32 hex digits"),
        ({"file_size": "708482"}, "'file_size' must be int"),
        ({"file_size": -1}, "'file_size' must be a size in bytes"),
        ({"file_size": 2**63}, "'file_size' must be a size in bytes"),
        ({"file_size": True}, "'file_size' must be int"),
        ({"version": "x" * 33}, "'version' must be 1 to 32 characters"),
        ({"version": ""}, "'version' must be 1 to 32 characters"),
        ({"version": 2}, "'version' must be 1 to 32 characters"),
        ({"url": "ftp://ota.example.com/fw"}, "'url' must be an http(s) URL"),
        ({"url": ...}, "missing field 'url'"),
    ],
)
def test_a_bad_offer_naming_a_task_is_malformed_ota_with_the_task_id(
    fields: dict[str, Any], named: str
) -> None:
    for device_cls in (TencentHubDevice, TencentExplorerDevice):
        [event] = make(device_cls).decode(OTA_DOWN, offer(task_id=77, **fields))
        assert isinstance(event, ev.Malformed) and named in event.reason
        assert (event.topic, event.kind, event.request_id) == (OTA_DOWN, "ota", "77")
        [untasked] = make(device_cls).decode(OTA_DOWN, offer(**fields))
        assert isinstance(untasked, ev.Malformed) and (untasked.kind, untasked.request_id) == ("ota", None)


@pytest.mark.parametrize("task_id", [True, -1, 2**64, "", "x" * 65, 1.5, [1]])
def test_a_task_id_that_is_none_is_named_and_answers_nothing(task_id: Any) -> None:
    [event] = make(TencentExplorerDevice).decode(OTA_DOWN, offer(task_id=task_id))
    assert isinstance(event, ev.Malformed) and "'task_id' must be a task number" in event.reason
    assert (event.kind, event.request_id) == ("ota", None)


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (wire({"type": "update_config", "x": 1}), "unknown type 'update_config'"),
        (wire({"version": "0.2"}), "missing field 'type'"),
        (wire({"type": "report_version_rsp", "version": "1.0"}), "missing field 'result_code'"),
        (wire({"type": "report_version_rsp", "result_code": "ok"}), "'result_code' must be a 32-bit integer"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[1]", "must be a JSON object"),
        (b"x" * (MAX_PAYLOAD + 1), "exceeds the limit"),
    ],
)
def test_other_ota_downlinks_are_malformed_naming_what_is_wrong(payload: bytes, named: str) -> None:
    [event] = make(TencentHubDevice).decode(OTA_DOWN, payload)
    assert isinstance(event, ev.Malformed) and named in event.reason
    assert (event.kind, event.request_id) == ("other", None)


def test_a_refused_version_report_is_acked_with_its_code_sent_as_number_or_text() -> None:
    device = make(TencentExplorerDevice)
    for code in (-1, "-1"):
        rsp = {
            "type": "report_version_rsp",
            "result_code": code,
            "result_msg": "bad version",
            "version": "0.1",
        }
        assert device.decode(OTA_DOWN, wire(rsp)) == [ev.UpgradeAcked("0.1", -1, "bad version")]
    assert device.decode(OTA_DOWN, wire({"type": "report_version_rsp", "result_code": 0})) == [
        ev.UpgradeAcked(None, 0, "")
    ]


# -- OTA up: report_version and report_progress -----------------------------------------------------
@pytest.mark.parametrize(("device_cls", "platform_cls"), HALVES)
def test_a_software_only_version_is_reported_and_no_version_is_refused(
    device_cls: Any, platform_cls: Any
) -> None:
    device = make(device_cls)
    [out] = device.encode(ev.ReportVersion(None, "sw-3.1"))
    assert (out.topic, body(out), out.qos) == (
        OTA_UP,
        {"type": "report_version", "report": {"version": "sw-3.1"}},
        1,
    )
    assert platform_cls().decode(out.topic, out.payload) == [ev.VersionReported(DEVICE, "sw-3.1")]
    with pytest.raises(CodecError, match="needs fw_version or sw_version"):
        device.encode(ev.ReportVersion(None, None))


def test_the_failure_tables_map_each_failure_to_a_code_that_maps_back_to_a_failure() -> None:
    assert set(FAILURE_CODES) == {"busy", "download", "verify", "install", "unsupported", "current"}
    assert set(FAILURE_CODES.values()) <= set(CODE_FAILURES)
    assert CODE_FAILURES == {-1: "download", -2: "download", -3: "download", -4: "verify", -5: "install"}
    assert all(FAILURE_CODES[CODE_FAILURES[code]] == code for code in (-1, -4, -5))


@pytest.mark.parametrize(("device_cls", "platform_cls"), HALVES)
@pytest.mark.parametrize("failure", sorted(FAILURE_CODES))
def test_each_failure_goes_up_as_its_code_and_comes_back_as_the_tables_failure(
    device_cls: Any, platform_cls: Any, failure: Any
) -> None:
    progress = ev.UpgradeProgress("0.2", "failed", 40, "9", failure, "it broke", current_version="0.1")
    [out] = make(device_cls).encode(progress)
    sent = body(out)["report"]
    code = str(FAILURE_CODES[failure])
    assert sent == {
        "progress": {"state": "fail", "result_code": code, "result_msg": "it broke"},
        "version": "0.2",  # Tencent's failure report names the offered version
        "task_id": 9,
    }
    [read] = platform_cls().decode(out.topic, out.payload)
    assert read == ev.UpgradeReported(
        DEVICE, "0.2", "failed", None, "9", CODE_FAILURES[int(code)], "it broke", code
    )


def test_a_failure_without_a_cause_is_sent_as_an_update_failure() -> None:
    [out] = make(TencentHubDevice).encode(ev.UpgradeProgress("0.2", "failed", reason="?"))
    assert body(out)["report"]["progress"]["result_code"] == "-5"


def test_what_the_core_answers_a_malformed_offer_with_is_sent_for_its_task() -> None:
    # the core does not know the offered version then: it sends ""
    answer = ev.UpgradeProgress(
        "", "failed", None, "77", "unsupported", "field 'md5sum' must be 32 hex digits"
    )
    [out] = make(TencentExplorerDevice).encode(answer)
    assert body(out)["report"]["task_id"] == 77 and body(out)["report"]["version"] == ""
    [read] = TencentExplorerPlatform().decode(out.topic, out.payload)
    assert isinstance(read, ev.UpgradeReported)
    assert (read.version, read.state, read.task_id, read.failure, read.code) == (
        None,
        "failed",
        "77",
        "install",
        "-5",
    )


def test_percent_goes_only_with_downloading_and_must_be_a_percentage() -> None:
    device = make(TencentHubDevice)
    for state in ("installing", "succeeded"):
        [out] = device.encode(ev.UpgradeProgress("0.2", state, 100))  # type: ignore[arg-type]
        assert "percent" not in body(out)["report"]["progress"] and out.qos == 1
    [out] = device.encode(ev.UpgradeProgress("0.2", "downloading", 0))
    assert body(out)["report"]["progress"]["percent"] == "0" and out.qos == 0
    for percent in (-1, 101):
        with pytest.raises(CodecError, match="percent must be 0 to 100"):
            device.encode(ev.UpgradeProgress("0.2", "downloading", percent))
    with pytest.raises(CodecError, match="unknown upgrade state 'paused'"):
        device.encode(ev.UpgradeProgress("0.2", "paused"))  # type: ignore[arg-type]


def test_a_long_reason_is_cut_so_that_the_failure_is_still_reported() -> None:
    [out] = make(TencentHubDevice).encode(
        ev.UpgradeProgress("0.2", "failed", failure="install", reason="x" * 20_000)
    )
    assert body(out)["report"]["progress"]["result_msg"] == "x" * MAX_RESULT_MSG


@pytest.mark.parametrize(
    ("task_id", "on_wire"), [("123456", 123456), ("0", 0), ("007", "007"), ("job-7", "job-7")]
)
def test_a_task_id_is_a_number_on_the_wire_when_it_is_one_and_reads_back_the_same(
    task_id: str, on_wire: Any
) -> None:
    [out] = make(TencentExplorerDevice).encode(ev.UpgradeProgress("0.2", "downloading", 5, task_id))
    assert body(out)["report"]["task_id"] == on_wire
    [read] = TencentExplorerPlatform().decode(out.topic, out.payload)
    assert isinstance(read, ev.UpgradeReported) and read.task_id == task_id


def report(progress: dict[str, Any], **more: Any) -> bytes:
    return wire({"type": "report_progress", "report": {"progress": progress, "version": "0.2", **more}})


@pytest.mark.parametrize("platform_cls", [TencentHubPlatform, TencentExplorerPlatform])
def test_the_platform_reads_explorers_updating_state_and_numbers_sent_as_numbers(platform_cls: Any) -> None:
    platform = platform_cls()
    [read] = platform.decode(OTA_UP, report({"state": "updating", "result_code": "0", "result_msg": ""}))
    assert read == ev.UpgradeReported(DEVICE, "0.2", "installing", code="0")
    [read] = platform.decode(OTA_UP, report({"state": "downloading", "percent": 55, "result_code": 0}))
    assert read == ev.UpgradeReported(DEVICE, "0.2", "downloading", 55, code=0)
    [read] = platform.decode(OTA_UP, report({"state": "fail", "result_code": "-9", "result_msg": "odd"}))
    assert read == ev.UpgradeReported(
        DEVICE, "0.2", "failed", None, None, None, "odd", "-9"
    )  # no failure for -9
    [read] = platform.decode(OTA_UP, report({"state": "done"}))
    assert read == ev.UpgradeReported(DEVICE, "0.2", "succeeded")


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (report({"state": "paused"}), "field report.progress.'state' is 'paused'"),
        (report({"state": 3}), "report.progress.'state' must be str"),
        (report({"state": "downloading", "percent": "101"}), "'percent' must be 0 to 100"),
        (
            report({"state": "downloading", "percent": "ten"}),
            "report.progress.'percent' must be a 32-bit integer",
        ),
        (report({"state": "fail", "result_code": 1.5}), "'result_code' must be a 32-bit integer"),
        (report({"state": "fail", "result_code": 2**40}), "'result_code' must be a 32-bit integer"),
        (report({"state": "done"}, task_id=False), "report.'task_id' must be a task number"),
        (
            wire({"type": "report_progress", "report": {"progress": {"state": "done"}}}),
            "missing field report.'version'",
        ),
        (wire({"type": "report_progress", "report": {"version": "1"}}), "missing field report.'progress'"),
        (wire({"type": "report_version", "report": {"version": ""}}), "report.'version' is empty"),
        (wire({"type": "report_version", "report": "0.1"}), "field 'report' must be dict"),
        (wire({"type": "report_info", "report": {}}), "unknown type 'report_info'"),
        (b"\x00\xff", "UTF-8"),
    ],
)
def test_a_bad_ota_uplink_is_malformed_ota_naming_the_field(payload: bytes, named: str) -> None:
    for platform in (TencentHubPlatform(), TencentExplorerPlatform()):
        [event] = platform.decode(OTA_UP, payload)
        assert isinstance(event, ev.DeviceMalformed) and named in event.reason
        assert (event.device_id, event.topic, event.kind, event.request_id) == (DEVICE, OTA_UP, "ota", None)


@pytest.mark.parametrize(
    "topic", ["$ota/report/AB.CD/dev1", "$ota/report/ABCDEFGHIJ", f"$ota/update/{PID}/{DEV}"]
)
def test_an_ota_topic_naming_no_device_uplink_is_malformed_without_a_device(topic: str) -> None:
    payload = wire({"type": "report_version", "report": {"version": "1"}})
    for platform in (TencentHubPlatform(), TencentExplorerPlatform()):
        [event] = platform.decode(topic, payload)
        assert isinstance(event, ev.DeviceMalformed) and event.device_id is None


# -- OTA platform encoders --------------------------------------------------------------------------
@pytest.mark.parametrize(("device_cls", "platform_cls"), HALVES)
def test_an_offer_the_platform_sends_is_the_offer_the_device_reads(
    device_cls: Any, platform_cls: Any
) -> None:
    [out] = platform_cls().encode(ev.OfferUpgrade(DEVICE, "1.2.3", URL, 4096, SHA, MD5.upper(), task_id="5"))
    assert body(out) == {
        "type": "update_firmware",
        "version": "1.2.3",
        "url": URL,
        "md5sum": MD5,
        "file_size": 4096,
        "task_id": 5,
    }
    assert make(device_cls).decode(out.topic, out.payload) == [
        ev.UpgradeOffer("1.2.3", URL, 4096, md5=MD5, task_id="5")
    ]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"token": "secret-token"}, "no field for a download token: sign the URL instead"),
        ({"md5": "abc"}, "MD5 as 32 hex digits"),
        ({"size": -5}, "size in bytes"),
        ({"version": "v" * 33}, "'version' must be 1 to 32 characters"),
        ({"url": "file:///etc/passwd"}, r"URL must be http\(s\)"),
    ],
)
def test_an_offer_tencent_cannot_carry_is_refused_naming_why(fields: dict[str, Any], named: str) -> None:
    good = {"device_id": DEVICE, "version": "1.0", "url": URL, "size": 1, "sha256": SHA, "md5": MD5}
    for platform in (TencentHubPlatform(), TencentExplorerPlatform()):
        with pytest.raises(CodecError, match=named):
            platform.encode(ev.OfferUpgrade(**{**good, **fields}))


@pytest.mark.parametrize(("device_cls", "platform_cls"), HALVES)
def test_a_version_answer_reaches_the_device_with_its_code(device_cls: Any, platform_cls: Any) -> None:
    [out] = platform_cls().encode(ev.AnswerVersion(DEVICE, None, 5, "version unknown"))
    assert body(out) == {"type": "report_version_rsp", "result_code": 5, "result_msg": "version unknown"}
    assert out.topic == OTA_DOWN
    assert make(device_cls).decode(out.topic, out.payload) == [ev.UpgradeAcked(None, 5, "version unknown")]


# -- messages down ----------------------------------------------------------------------------------
MESSAGE_TOPICS = {TencentHubDevice: f"{PID}/{DEV}/message", TencentExplorerDevice: f"{PID}/{DEV}/control"}


@pytest.mark.parametrize(("device_cls", "platform_cls"), HALVES)
@pytest.mark.parametrize("payload", [b"", b"reboot at noon", b"\x00\xff binary", b"x" * MAX_PAYLOAD])
def test_a_message_down_arrives_as_its_bytes(device_cls: Any, platform_cls: Any, payload: bytes) -> None:
    [out] = platform_cls().encode(ev.MessageDown(DEVICE, payload))
    assert (out.topic, out.payload) == (MESSAGE_TOPICS[device_cls], payload)
    device = make(device_cls)
    assert out.topic in device.subscriptions()
    assert device.decode(out.topic, out.payload) == [ev.CloudMessage(payload)]


@pytest.mark.parametrize(("device_cls", "platform_cls"), HALVES)
def test_a_message_tencent_cannot_carry_is_refused_and_one_too_large_is_malformed(
    device_cls: Any, platform_cls: Any
) -> None:
    with pytest.raises(CodecError, match="16385 bytes exceeds Tencent IoT's limit of 16384 bytes"):
        platform_cls().encode(ev.MessageDown(DEVICE, b"x" * (MAX_PAYLOAD + 1)))
    with pytest.raises(CodecError, match="a message is bytes, not str"):
        platform_cls().encode(ev.MessageDown(DEVICE, "text"))  # type: ignore[arg-type]
    [event] = make(device_cls).decode(MESSAGE_TOPICS[device_cls], b"x" * (MAX_PAYLOAD + 1))
    assert isinstance(event, ev.Malformed) and event.kind == "message" and "exceeds" in event.reason


def test_the_hubs_control_topic_still_carries_commands_not_messages() -> None:
    action = {"method": "action", "clientToken": "c1", "actionId": "blink", "params": {}}
    assert make(TencentHubDevice).decode(f"{PID}/{DEV}/control", wire(action)) == [
        ev.CommandRequest("c1", "light", "blink", {})
    ]


class Lamp(Service):
    service_id = "light"
    brightness = Property(int, writeable=True, default=0)


@pytest.mark.parametrize("vendor", ["tencent-hub", "tencent-explorer"])
def test_a_fake_clouds_message_reaches_the_devices_handler(vendor: str) -> None:
    with FakeCloud(Lamp(), vendor=vendor, device_id=DEVICE) as cloud:
        seen: list[object] = []
        cloud.core.on_message = seen.append
        cloud.send_message(b"\x00reboot at noon")
        assert seen == [ev.CloudMessage(b"\x00reboot at noon")]
        assert cloud.errors == []


@pytest.mark.parametrize("vendor", ["tencent-hub", "tencent-explorer"])
def test_a_fake_tencent_device_reports_its_version_and_progress_to_the_cloud(vendor: str) -> None:
    with FakeCloud(Lamp(), vendor=vendor, device_id=DEVICE) as cloud:
        cloud.core.emit(ev.ReportVersion("1.0"))
        cloud.core.emit(ev.UpgradeProgress("1.1", "downloading", 30, "12"))
        ota = [u for u in cloud.uplinks if isinstance(u, (ev.VersionReported, ev.UpgradeReported))]
        assert ota == [
            ev.VersionReported(DEVICE, "1.0"),
            ev.UpgradeReported(DEVICE, "1.1", "downloading", 30, "12", code="0"),
        ]


# -- report_info (Explorer) -------------------------------------------------------------------------
def test_explorer_reports_device_info_as_report_info_and_the_hub_cannot() -> None:
    device = TencentExplorerDevice(DEVICE, service_ids=["light"], new_id=golden.counter())
    [out] = device.encode(ev.ReportInfo(sw_version="2.0"))
    assert body(out) == {
        "method": "report_info",
        "clientToken": "tok-1",
        "params": {"module_softinfo": "2.0"},
    }
    [info] = TencentExplorerPlatform().decode(out.topic, out.payload)
    assert info == ev.DeviceInfo(DEVICE, {"module_softinfo": "2.0"}, "tok-1")
    with pytest.raises(CodecError, match="device info 'n' must be a string naming a string"):
        device.encode(ev.ReportInfo(extra={"n": 3}))  # type: ignore[dict-item]
    with pytest.raises(CodecError, match="Tencent IoT Hub has no way to send ReportInfo"):
        make(TencentHubDevice).encode(ev.ReportInfo(fw_version="1"))


@pytest.mark.parametrize(("device_cls", "platform_cls"), HALVES)
def test_logs_and_files_are_not_sent_on_tencent(device_cls: Any, platform_cls: Any) -> None:
    device = make(device_cls)
    for message in (
        ev.ShipLogs((ev.LogEntry(1, "x"),)),
        ev.AskFileUrl("upload", "a.txt"),
        ev.FileResult("upload", "a.txt", 0),
    ):
        with pytest.raises(CodecError, match=f"has no way to send {type(message).__name__}"):
            device.encode(message)
    for down in (
        ev.ConfigureLog(DEVICE, True),
        ev.AnswerFileUrl(DEVICE, "upload", "a.txt", URL),
        ev.QueryVersion(DEVICE),
    ):
        with pytest.raises(CodecError, match=f"has no way to send {type(down).__name__}"):
            platform_cls().encode(down)


# -- custom topics and the broker ACL ---------------------------------------------------------------
@pytest.mark.parametrize(("device_cls", "platform_cls"), HALVES)
@pytest.mark.parametrize("name", ["alerts", "cfg/+/set", "logs/#", "data"])
def test_a_custom_topic_is_under_the_device_and_the_acl_lets_it_publish_and_subscribe(
    device_cls: Any, platform_cls: Any, name: str
) -> None:
    topic = make(device_cls).custom_topic(name)
    assert topic == f"{PID}/{DEV}/{name}"
    publish, subscribe = device_topics(DEVICE)
    assert any(filter_within(topic, outer) for outer in subscribe)
    assert any(filter_within(topic, outer) for outer in publish)
    assert topic_device(topic) == DEVICE


@pytest.mark.parametrize(
    ("device_cls", "name"),
    [
        (TencentHubDevice, "control"),
        (TencentHubDevice, "event"),
        (TencentHubDevice, "message"),
        (TencentExplorerDevice, "control"),
    ],
)
def test_a_custom_topic_thingmodel_uses_itself_is_refused_naming_it(device_cls: Any, name: str) -> None:
    with pytest.raises(InvalidValue, match=f"custom topic '{name}' carries thingmodel's"):
        make(device_cls).custom_topic(name)


@pytest.mark.parametrize(("device_cls", "platform_cls"), HALVES)
def test_the_acl_lets_a_device_use_its_ota_and_message_topics_and_no_others(
    device_cls: Any, platform_cls: Any
) -> None:
    publish, subscribe = device_topics(DEVICE)
    device = make(device_cls)
    assert all(any(filter_within(f, outer) for outer in subscribe) for f in device.subscriptions())
    for message in (ev.ReportVersion("1"), ev.UpgradeProgress("1", "downloading", 1)):
        for out in device.encode(message):
            assert any(topic_matches(f, out.topic) for f in publish), out.topic
    assert not any(topic_matches(f, OTA_DOWN) for f in publish)  # a device may not offer itself upgrades
    assert not any(topic_matches(f, f"$ota/report/{PID}/dev2") for f in publish)
    assert not any(filter_within(f"$ota/update/{PID}/+", outer) for outer in subscribe)
    assert topic_device(OTA_UP) == topic_device(OTA_DOWN) == DEVICE
