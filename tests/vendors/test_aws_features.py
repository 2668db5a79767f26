"""AWS IoT device features: OTA over AWS IoT Jobs, device info (the ``device-info`` named shadow),
log shipping and its switch, messages down and custom topics -- both codec halves.

Golden fixtures: ``tests/fixtures/aws/features/NN-*.json``, in golden.py's format with these keys:
``event`` null (the device has nothing to do), ``action`` null (our device never sends it, AWS's
SDKs do), ``platform`` null (no neutral message makes or reads it) or a list (one uplink decodes
into several messages); a nested ``{"type": ...}`` is a message too, and ``ShipLogs.entries``
are LogEntry fields. They live in their own folder because tests/vendors/test_aws.py takes every
fixture of ``tests/fixtures/aws/`` through the cloud's ``AwsCloud`` and an ``AwsPlatform`` on the
wall clock, neither of which serves Jobs yet. Jobs downlinks are ``AwsPlatform``'s encoding of
``platform`` on the test clock; the device-info update is served by the shadow service
(``answer``), and the cloud reads it with :func:`device_info`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from thingmodel import CodecError, InvalidValue, Property, Service
from thingmodel.cloud.access import filter_within
from thingmodel.cloud.aws import AwsCloud
from thingmodel.cloud.aws_shadow import AwsShadowService
from thingmodel.engine.core import DeviceCore
from thingmodel.protocol import messages as ev
from thingmodel.protocol.topics import topic_matches
from thingmodel.vendors.aws import (
    FAILURE_STATUS,
    INFO_SHADOW,
    MAX_DETAIL,
    MAX_OPEN_JOBS,
    MAX_PAYLOAD,
    STATUS_FAILURE,
    AwsDevice,
    AwsPlatform,
    device_info,
    device_topics,
    job_document,
    parse_jobs_topic,
    read_job_document,
    topic_device,
)

from . import golden

THING = "dev1"
J = f"$aws/things/{THING}/jobs"
SHA = "5a31c0da59c65eda1976f12e6151fc9cfba7146cc2418d2bc2fa8fcedb4ed4bb"
MD5 = "07e56d48245743a60f36e40e0504c41a"
URL = "https://ota.example.com/packages/fw-1.1.bin"
DOC = {"operation": "ota", "version": "1.1", "url": URL, "size": 123456, "sha256": SHA, "kind": "firmware"}


class Light(Service):
    service_id = "light"
    power = Property(bool, writeable=True, default=False)


def wire(value: Any) -> bytes:
    return json.dumps(value).encode()


def body(out: ev.Outgoing) -> Any:
    return json.loads(out.payload)


def device(**options: Any) -> AwsDevice:
    return AwsDevice(
        THING, service_ids=["light"], new_id=golden.counter(), clock=golden.fixed_clock, **options
    )


def platform() -> AwsPlatform:
    return AwsPlatform(clock=golden.fixed_clock)


def execution(job: str = "job-1", document: Any = None, **changes: Any) -> dict[str, Any]:
    found = {
        "jobId": job,
        "thingName": THING,
        "jobDocument": DOC if document is None else document,
        "status": "QUEUED",
        "versionNumber": 1,
    }
    found.update(changes)
    return found


def notify(**changes: Any) -> bytes:
    return wire({"timestamp": 1, "execution": execution(**changes)})


def offer(version: str = "1.1", job: str = "job-1") -> ev.UpgradeOffer:
    return ev.UpgradeOffer(version, URL, 123456, SHA, None, None, job, "firmware")


# -- golden fixtures ------------------------------------------------------------------------------
FEATURES = sorted((golden.FIXTURES / "aws" / "features").glob("*.json"))
FIXTURES = {p: golden.load(p) for p in FEATURES}
DOWN = [p for p in FEATURES if FIXTURES[p]["direction"] == "down"]
UP = [p for p in FEATURES if FIXTURES[p]["direction"] == "up"]
ENCODED_DOWN = [p for p in DOWN if FIXTURES[p]["platform"] is not None]
SENT_UP = [p for p in UP if FIXTURES[p]["action"] is not None]
ids = golden.ids


def build(description: Any, payload: bytes = b"") -> Any:
    """The neutral message a description names (see golden.build), with AnswerJob's nested offer,
    ShipLogs' entries and lists of messages."""
    if description is None:
        return None
    if isinstance(description, list):
        return [build(item, payload) for item in description]
    fields: dict[str, Any] = {
        k: (payload if v == golden.WIRE_PAYLOAD else v) for k, v in description.items() if k != "type"
    }
    if description["type"] == "ShipLogs":
        fields["entries"] = tuple(ev.LogEntry(**entry) for entry in fields["entries"])
    if isinstance(fields.get("offer"), dict):
        fields["offer"] = build(fields["offer"])
    return getattr(ev, description["type"])(**fields)


def events_of(fixture: dict[str, Any]) -> list[Any]:
    event = fixture["event"]
    return [] if event is None else [build(event, golden.wire(fixture))]


def uplinks_of(fixture: dict[str, Any]) -> list[Any]:
    built = build(fixture["platform"], golden.wire(fixture))
    return built if isinstance(built, list) else [built]


def fixture_device(fixture: dict[str, Any]) -> AwsDevice:
    return AwsDevice(
        fixture["device_id"],
        service_ids=fixture["service_ids"],
        new_id=golden.counter(),
        clock=golden.fixed_clock,
    )


def test_there_is_a_fixture_per_new_message_and_direction_each_naming_its_source() -> None:
    assert len(FEATURES) >= 18
    for fixture in FIXTURES.values():
        assert len(fixture["source"]) > 40 and (
            "§" in fixture["source"] or "docs/vendors.md" in fixture["source"]
        )
    encoded = {FIXTURES[p]["platform"]["type"] for p in ENCODED_DOWN}
    assert {"OfferUpgrade", "AnswerJob", "AnswerJobUpdate", "ConfigureLog", "MessageDown"} <= encoded
    sent = {FIXTURES[p]["action"]["type"] for p in SENT_UP}
    assert {"ReportVersion", "UpgradeProgress", "ReportInfo", "ShipLogs"} <= sent


@pytest.mark.parametrize("path", DOWN, ids=ids(DOWN))
def test_device_decodes_a_documented_downlink(path: Path) -> None:
    fixture = FIXTURES[path]
    codec = fixture_device(fixture)
    assert any(topic_matches(f, fixture["topic"]) for f in codec.subscriptions())
    assert codec.decode(fixture["topic"], golden.wire(fixture)) == events_of(fixture)


@pytest.mark.parametrize("path", ENCODED_DOWN, ids=ids(ENCODED_DOWN))
def test_platform_encodes_the_documented_downlink(path: Path) -> None:
    fixture = FIXTURES[path]
    [out] = platform().encode(build(fixture["platform"], golden.wire(fixture)))
    if fixture["topic"].endswith("/messages/down"):
        assert (out.topic, out.payload) == (fixture["topic"], golden.wire(fixture))
    else:
        golden.assert_equivalent(out, fixture)


@pytest.mark.parametrize("path", ENCODED_DOWN, ids=ids(ENCODED_DOWN))
def test_what_the_platform_sends_the_device_decodes_into_the_same_event(path: Path) -> None:
    fixture = FIXTURES[path]
    [out] = platform().encode(build(fixture["platform"], golden.wire(fixture)))
    assert fixture_device(fixture).decode(out.topic, out.payload) == events_of(fixture)


@pytest.mark.parametrize("path", SENT_UP, ids=ids(SENT_UP))
def test_device_encodes_the_documented_uplink(path: Path) -> None:
    fixture = FIXTURES[path]
    publish, _ = device_topics(fixture["device_id"])
    [out] = fixture_device(fixture).encode(build(fixture["action"]))
    golden.assert_equivalent(out, fixture)
    assert any(topic_matches(f, out.topic) for f in publish)


@pytest.mark.parametrize("path", UP, ids=ids(UP))
def test_platform_reads_a_documented_uplink(path: Path) -> None:
    fixture = FIXTURES[path]
    if "answer" in fixture:  # the info shadow: served by the shadow service, read with device_info
        service = AwsShadowService(clock=golden.fixed_clock)
        [accepted, *_] = service.handle(fixture["topic"], golden.wire(fixture))
        golden.assert_equivalent(accepted, fixture["answer"])
        reported = fixture["payload"]["state"]["reported"]
        assert [device_info(fixture["device_id"], reported)] == uplinks_of(fixture)
        return
    codec = platform()
    assert any(topic_matches(f, fixture["topic"]) for f in codec.subscriptions())
    assert codec.decode(fixture["topic"], golden.wire(fixture)) == uplinks_of(fixture)


ROUND_TRIP_UP = [p for p in SENT_UP if "answer" not in FIXTURES[p]]


@pytest.mark.parametrize("path", ROUND_TRIP_UP, ids=ids(ROUND_TRIP_UP))
def test_what_the_device_sends_the_platform_decodes_into_the_same_message(path: Path) -> None:
    fixture = FIXTURES[path]
    [out] = fixture_device(fixture).encode(build(fixture["action"]))
    assert platform().decode(out.topic, out.payload) == uplinks_of(fixture)


# -- topics and access ----------------------------------------------------------------------------
def test_the_device_subscribes_to_the_jobs_replies_the_info_rejection_messages_and_log_config() -> None:
    topics = device().subscriptions()
    for expected in (
        f"{J}/notify-next",
        f"{J}/start-next/accepted",
        f"{J}/start-next/rejected",
        f"{J}/+/update/accepted",
        f"{J}/+/update/rejected",
        f"{J}/+/get/accepted",
        f"{J}/+/get/rejected",
        f"$aws/things/{THING}/shadow/name/device-info/update/rejected",
        f"things/{THING}/messages/down",
        f"things/{THING}/logs/config",
    ):
        assert expected in topics
    _, subscribe = device_topics(THING)
    assert all(any(filter_within(f, outer) for outer in subscribe) for f in topics)
    assert len(topics) == len(set(topics))


def test_jobs_false_leaves_the_jobs_topics_alone_and_refuses_a_version_report() -> None:
    codec = device(jobs=False)
    assert not any("/jobs/" in t for t in codec.subscriptions())
    with pytest.raises(CodecError, match="jobs=False"):
        codec.encode(ev.ReportVersion("1.0"))
    [event] = codec.decode(f"{J}/notify-next", notify())
    assert isinstance(event, ev.Malformed)


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        (f"{J}/notify-next", (THING, None, "notify-next")),
        (f"{J}/start-next", (THING, None, "start-next")),
        (f"{J}/start-next/rejected", (THING, None, "start-next/rejected")),
        (f"{J}/get/accepted", (THING, None, "get/accepted")),
        (f"{J}/j-1/get", (THING, "j-1", "get")),
        (f"{J}/$next/get/accepted", (THING, "$next", "get/accepted")),
        (f"{J}/get/get", (THING, "get", "get")),
        (f"{J}/j-1/update/accepted", (THING, "j-1", "update/accepted")),
        (f"{J}/j-1/update/other", None),
        (f"{J}/j-1/delete", None),
        (f"{J}/start-next/x/y", None),
        (f"{J}", None),
        (f"$aws/things/{THING}/shadow/update", None),
    ],
)
def test_the_jobs_topic_grammar(topic: str, parsed: tuple[str, str | None, str] | None) -> None:
    assert parse_jobs_topic(topic) == parsed


def test_a_custom_topic_is_in_the_things_own_namespace_within_its_access() -> None:
    codec = device()
    publish, subscribe = device_topics(THING)
    assert codec.custom_topic("alerts") == f"things/{THING}/alerts"
    assert codec.custom_topic("cfg/+/set") == f"things/{THING}/cfg/+/set"
    assert any(topic_matches(f, codec.custom_topic("a/b")) for f in publish)
    assert any(filter_within(codec.custom_topic("cfg/#"), outer) for outer in subscribe)
    assert topic_device(codec.custom_topic("alerts")) == THING


@pytest.mark.parametrize(
    "name", ["messages/down", "logs/config", "logs/up", "events/up", "logs/+", "#", "+/up"]
)
def test_a_custom_topic_that_is_or_takes_in_one_of_ours_is_refused(name: str) -> None:
    with pytest.raises(InvalidValue, match="thingmodel's own topic"):
        device().custom_topic(name)


def test_a_custom_topic_beyond_awss_topic_limits_is_refused() -> None:
    with pytest.raises(InvalidValue, match="7 slashes and 256 bytes"):
        device().custom_topic("a/b/c/d/e/f/g")
    with pytest.raises(InvalidValue, match="7 slashes and 256 bytes"):
        device().custom_topic("x" * 250)
    assert device().custom_topic("a/b/c/d/e/f").count("/") == 7


def test_the_platform_subscribes_to_the_jobs_requests_and_the_logs() -> None:
    topics = platform().subscriptions()
    for topic in (
        f"{J}/start-next",
        f"{J}/j-1/get",
        f"{J}/$next/get",
        f"{J}/j-1/update",
        f"things/{THING}/logs/up",
    ):
        assert any(topic_matches(f, topic) for f in topics), topic
    for topic in (f"{J}/j-1/update/accepted", f"{J}/start-next/accepted", f"{J}/notify-next"):
        assert not any(topic_matches(f, topic) for f in topics), topic


# -- OTA: the device half -------------------------------------------------------------------------
def test_each_version_report_asks_jobs_for_the_next_job_with_a_fresh_token() -> None:
    codec = device()
    first, second = codec.encode(ev.ReportVersion("1.0")), codec.encode(ev.ReportVersion(None, "2.0"))
    assert [(m.topic, body(m)) for m in first + second] == [
        (f"{J}/start-next", {"clientToken": "tok-1"}),
        (f"{J}/start-next", {"clientToken": "tok-2"}),
    ]


def test_an_offer_repeated_while_it_runs_is_ignored_and_offered_again_once_it_ended() -> None:
    codec = device()
    assert codec.decode(f"{J}/notify-next", notify()) == [offer()]
    start_next = wire({"clientToken": "tok-1", "timestamp": 1, "execution": execution(status="IN_PROGRESS")})
    assert codec.decode(f"{J}/start-next/accepted", start_next) == []
    assert codec.decode(f"{J}/job-1/get/accepted", notify()) == []
    codec.encode(ev.UpgradeProgress("1.1", "downloading", 10, "job-1"))
    assert codec.decode(f"{J}/notify-next", notify()) == []
    codec.encode(ev.UpgradeProgress("1.1", "failed", None, "job-1", "download", "connection reset"))
    assert codec.decode(f"{J}/start-next/accepted", start_next) == [offer()]


def test_the_device_remembers_a_bounded_number_of_open_jobs() -> None:
    codec = device()
    for number in range(MAX_OPEN_JOBS + 5):
        assert codec.decode(f"{J}/notify-next", notify(job=f"job-{number}"))
    assert len(codec.open_jobs) == MAX_OPEN_JOBS and "job-0" not in codec.open_jobs
    assert codec.decode(f"{J}/notify-next", notify(job="job-0")) == [offer(job="job-0")]


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED", "REMOVED"])
def test_an_execution_already_terminal_is_nothing_to_run(status: str) -> None:
    assert device().decode(f"{J}/job-1/get/accepted", notify(status=status)) == []


def test_the_next_job_may_be_described_as_next() -> None:
    assert device().decode(f"{J}/$next/get/accepted", notify(job="j-7")) == [offer(job="j-7")]


def test_a_software_package_with_an_md5_and_a_token_is_offered_as_such() -> None:
    document = {**DOC, "kind": "software", "md5": MD5.upper(), "sha256": SHA.upper(), "token": "t0k"}
    [event] = device().decode(f"{J}/notify-next", notify(document=document))
    assert event == ev.UpgradeOffer("1.1", URL, 123456, SHA, MD5, "t0k", "job-1", "software")


def _doc(**changes: Any) -> dict[str, Any]:
    return {k: v for k, v in {**DOC, **changes}.items() if v is not _DROP}


_DROP = object()


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("a text", "job document must be a JSON object, got str"),
        ({"afr_ota": {"files": []}}, "not a thingmodel OTA document (operation None, not 'ota')"),
        (_doc(operation="flash"), "operation 'flash', not 'ota'"),
        (_doc(version=_DROP), "missing field jobDocument.'version'"),
        (_doc(version=""), "'version' is empty"),
        (_doc(version=11), "'version' must be str, got int"),
        (_doc(url="ftp://x/fw.bin"), "must be an http(s) URL"),
        (_doc(url=_DROP), "missing field jobDocument.'url'"),
        (_doc(size=-1), "'size' is out of range"),
        (_doc(size=2**63), "'size' is out of range"),
        (_doc(size="12"), "'size' must be int, got str"),
        (_doc(size=True), "'size' must be int, got bool"),
        (_doc(sha256=_DROP), "missing field jobDocument.'sha256'"),
        (_doc(sha256="ab" * 31), "'sha256' must be 64 hex digits"),
        (_doc(sha256="zz" * 32), "'sha256' must be 64 hex digits"),
        (_doc(md5="00"), "'md5' must be 32 hex digits"),
        (_doc(kind="bootloader"), "'kind' must be 'firmware' or 'software'"),
        (_doc(token=5), "'token' must be str"),
    ],
)
def test_a_job_that_is_not_a_valid_ota_document_is_refused_by_its_job_id(document: Any, reason: str) -> None:
    [event] = device().decode(f"{J}/notify-next", notify(document=document))
    assert isinstance(event, ev.Malformed)
    assert (event.kind, event.request_id) == ("ota", "job-1")
    assert reason in event.reason and event.reason.startswith("job job-1: ")


def test_the_device_core_rejects_an_unreadable_job_and_jobs_hears_why() -> None:
    codec, emitted = device(), list[ev.Uplink]()
    core = DeviceCore([Light()], emit=emitted.append)
    for event in codec.decode(f"{J}/notify-next", notify(document=_doc(url="ftp://x"))):
        core.handle(event)
    [update] = [out for action in emitted for out in codec.encode(action)]
    assert update.topic == f"{J}/job-1/update"
    sent = body(update)
    assert sent["status"] == "REJECTED" and sent["statusDetails"]["failure"] == "unsupported"
    assert "must be an http(s) URL" in sent["statusDetails"]["reason"]
    assert "version" not in sent["statusDetails"]
    [reported] = platform().decode(update.topic, update.payload)
    assert isinstance(reported, ev.UpgradeReported)
    assert (reported.state, reported.failure, reported.task_id) == ("failed", "unsupported", "job-1")


def test_a_device_with_no_ota_rejects_a_valid_offer_as_unsupported() -> None:
    codec, emitted = device(), list[ev.Uplink]()
    core = DeviceCore([Light()], emit=emitted.append)  # and no Ota
    for event in codec.decode(f"{J}/notify-next", notify()):
        core.handle(event)
    [update] = [out for action in emitted for out in codec.encode(action)]
    assert body(update)["status"] == "REJECTED" and "job-1" not in codec.open_jobs


@pytest.mark.parametrize(
    ("topic", "payload", "request_id", "reason"),
    [
        (f"{J}/notify-next", b"{not json", None, "not valid JSON"),
        (f"{J}/notify-next", b"\xff\xfe", None, "UTF-8"),
        (f"{J}/notify-next", wire({"execution": []}), None, "'execution' must be dict"),
        (
            f"{J}/notify-next",
            wire({"execution": {"jobDocument": DOC}}),
            None,
            "missing field execution.'jobId'",
        ),
        (f"{J}/notify-next", notify(job="a/b"), None, "is not a job id"),
        (f"{J}/notify-next", notify(job="x" * 65), None, "is not a job id"),
        (f"{J}/notify-next", notify(status=3), "job-1", "'status' must be str"),
        (f"{J}/job-1/get/accepted", b"[]", "job-1", "must be a JSON object"),
        (f"{J}/$next/get/accepted", b"[]", None, "must be a JSON object"),
        (f"{J}/start-next/accepted", b"null", None, "must be a JSON object"),
    ],
)
def test_an_unreadable_offer_is_malformed_naming_the_job_where_it_can(
    topic: str, payload: bytes, request_id: str | None, reason: str
) -> None:
    [event] = device().decode(topic, payload)
    assert isinstance(event, ev.Malformed) and event.kind == "ota"
    assert event.request_id == request_id and reason in event.reason


def test_an_execution_of_another_thing_or_job_is_not_taken_for_ours() -> None:
    codec = device()
    [other_thing] = codec.decode(f"{J}/notify-next", notify(thingName="dev2"))
    [other_job] = codec.decode(f"{J}/job-2/get/accepted", notify())
    for event in (other_thing, other_job):
        assert isinstance(event, ev.Malformed) and event.request_id is None
    assert "for thing 'dev2'" in other_thing.reason  # type: ignore[union-attr]
    assert "on the topic of job 'job-2'" in other_job.reason  # type: ignore[union-attr]
    [foreign] = codec.decode("$aws/things/dev2/jobs/notify-next", notify())
    assert isinstance(foreign, ev.Malformed) and foreign.reason == "not a downlink topic of this thing"
    assert codec.open_jobs == {}


@pytest.mark.parametrize("reply", ["start-next/rejected", "job-1/update/rejected", "job-1/get/rejected"])
def test_a_jobs_rejection_reaches_the_device_with_awss_code_and_message(reply: str) -> None:
    error = {"code": "ResourceNotFound", "message": "No job execution", "clientToken": "c9", "timestamp": 1}
    assert device().decode(f"{J}/{reply}", wire(error)) == [
        ev.Rejected("c9", 400, "ResourceNotFound: No job execution")
    ]
    [bad] = device().decode(f"{J}/{reply}", wire({"message": "x"}))
    assert isinstance(bad, ev.Malformed) and bad.kind == "other" and "missing field 'code'" in bad.reason


def test_an_accepted_update_needs_nothing() -> None:
    assert device().decode(f"{J}/job-1/update/accepted", wire({"timestamp": 1})) == []


@pytest.mark.parametrize(
    ("progress", "status", "details"),
    [
        (
            ev.UpgradeProgress("1.1", "downloading", 0, "j"),
            "IN_PROGRESS",
            {"state": "downloading", "percent": "0"},
        ),
        (ev.UpgradeProgress("1.1", "downloading", None, "j"), "IN_PROGRESS", {"state": "downloading"}),
        (
            ev.UpgradeProgress("1.1", "installing", 100, "j"),
            "IN_PROGRESS",
            {"state": "installing", "percent": "100"},
        ),
        (
            ev.UpgradeProgress("1.1", "succeeded", 100, "j"),
            "SUCCEEDED",
            {"state": "succeeded", "percent": "100"},
        ),
        (
            ev.UpgradeProgress("1.1", "failed", None, "j", None, "why"),
            "FAILED",
            {"state": "failed", "reason": "why"},
        ),
        *[
            (
                ev.UpgradeProgress("1.1", "failed", None, "j", failure, "r", "1.0"),
                FAILURE_STATUS[failure],
                {"state": "failed", "failure": failure, "reason": "r", "current_version": "1.0"},
            )
            for failure in FAILURE_STATUS
            if FAILURE_STATUS[failure] is not None
        ],
    ],
)
def test_progress_is_a_job_update_with_its_status_and_string_details(
    progress: ev.UpgradeProgress, status: str, details: dict[str, str]
) -> None:
    [out] = device().encode(progress)
    assert out.topic == f"{J}/j/update"
    assert body(out) == {
        "status": status,
        "statusDetails": {"version": "1.1", **details},
        "clientToken": "tok-1",
    }


def test_the_failure_table_goes_both_ways() -> None:
    assert FAILURE_STATUS["unsupported"] == "REJECTED" and STATUS_FAILURE["REJECTED"] == "unsupported"
    assert set(FAILURE_STATUS) == {"busy", "download", "verify", "install", "unsupported", "current"}
    for failure, status in FAILURE_STATUS.items():
        out = device().encode(ev.UpgradeProgress("1.1", "failed", None, "j", failure, "r", "1.0"))
        if status is None:
            assert out == []
            continue
        [reported] = platform().decode(out[0].topic, out[0].payload)
        assert isinstance(reported, ev.UpgradeReported)
        assert (reported.failure, reported.code, reported.version) == (failure, status, "1.0")


def test_a_busy_refusal_leaves_the_job_queued_to_be_offered_again() -> None:
    codec = device()
    codec.decode(f"{J}/notify-next", notify(job="job-a"))
    codec.decode(f"{J}/job-b/get/accepted", notify(job="job-b"))
    assert set(codec.open_jobs) == {"job-a", "job-b"}
    assert codec.encode(ev.UpgradeProgress("1.1", "failed", None, "job-b", "busy", "job-a runs")) == []
    assert set(codec.open_jobs) == {"job-a"}
    assert codec.decode(f"{J}/notify-next", notify(job="job-b")) == [offer(job="job-b")]


def test_progress_details_are_cut_to_awss_1024_characters() -> None:
    [out] = device().encode(ev.UpgradeProgress("v" * 2000, "failed", None, "j", "install", "r" * 5000))
    details = body(out)["statusDetails"]
    assert len(details["reason"]) == MAX_DETAIL and len(details["version"]) == MAX_DETAIL


@pytest.mark.parametrize("task_id", [None, "", "a/b", "x" * 65, "$next", "a+b"])
def test_progress_without_a_job_id_that_fits_a_topic_is_a_codec_error(task_id: str | None) -> None:
    with pytest.raises(CodecError, match="progress per job"):
        device().encode(ev.UpgradeProgress("1.1", "downloading", 5, task_id))


# -- OTA: the platform half -----------------------------------------------------------------------
def test_a_start_next_or_describe_is_a_job_request() -> None:
    codec = platform()
    assert codec.decode(f"{J}/start-next", b"") == [ev.JobRequested(THING, None, None)]
    assert codec.decode(
        f"{J}/start-next", wire({"statusDetails": {"step": "a"}, "stepTimeoutInMinutes": 30})
    ) == [ev.JobRequested(THING, None, None)]
    assert codec.decode(f"{J}/$next/get", wire({"clientToken": "c"})) == [ev.JobRequested(THING, "c", None)]
    assert codec.decode(f"{J}/j-1/get", b"{}") == [ev.JobRequested(THING, None, "j-1")]


def update_payload(**changes: Any) -> bytes:
    found: dict[str, Any] = {
        "status": "IN_PROGRESS",
        "statusDetails": {"state": "downloading"},
        "clientToken": "c",
    }
    found.update(changes)
    return wire({k: v for k, v in found.items() if v is not _DROP})


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (update_payload(), ("downloading", None, None, None, "")),
        (update_payload(statusDetails=_DROP), ("downloading", None, None, None, "")),
        (
            update_payload(statusDetails={"state": "installing", "percent": "99"}),
            ("installing", 99, None, None, ""),
        ),
        (update_payload(statusDetails={"state": "succeeded"}), ("downloading", None, None, None, "")),
        (update_payload(statusDetails={"percent": "101"}), ("downloading", None, None, None, "")),
        (update_payload(statusDetails={"percent": "4x"}), ("downloading", None, None, None, "")),
        (update_payload(statusDetails={"progress": "100"}), ("downloading", None, None, None, "")),
        (
            update_payload(status="SUCCEEDED", statusDetails={"version": "2"}),
            ("succeeded", None, "2", None, ""),
        ),
        (update_payload(status="SUCCEEDED", statusDetails=_DROP), ("succeeded", None, None, None, "")),
        (update_payload(status="FAILED", statusDetails={"failure": "odd"}), ("failed", None, None, None, "")),
        (update_payload(status="FAILED", statusDetails={"reason": "r"}), ("failed", None, None, None, "r")),
        (update_payload(status="REJECTED", statusDetails={}), ("failed", None, None, "unsupported", "")),
        (
            update_payload(
                status="FAILED", statusDetails={"failure": "install", "version": "2", "current_version": "1"}
            ),
            ("failed", None, "1", "install", ""),
        ),
    ],
)
def test_a_job_update_is_the_upgrades_progress_whoever_sent_it(
    payload: bytes, expected: tuple[str, int | None, str | None, str | None, str]
) -> None:
    [reported] = platform().decode(f"{J}/j-1/update", payload)
    assert isinstance(reported, ev.UpgradeReported)
    assert (reported.state, reported.percent, reported.version, reported.failure, reported.reason) == expected
    assert (reported.device_id, reported.task_id, reported.request_id) == (THING, "j-1", "c")
    assert reported.code == json.loads(payload)["status"]


@pytest.mark.parametrize(
    ("topic", "payload", "device_id", "request_id", "reason"),
    [
        (f"{J}/j-1/update", update_payload(status=_DROP), THING, "c", "missing field 'status'"),
        (f"{J}/j-1/update", update_payload(status="QUEUED"), THING, "c", "not one a device sets"),
        (f"{J}/j-1/update", update_payload(status="TIMED_OUT"), THING, "c", "not one a device sets"),
        (f"{J}/j-1/update", update_payload(statusDetails={"percent": 40}), THING, "c", "must be a string"),
        (f"{J}/j-1/update", update_payload(statusDetails=["x"]), THING, "c", "'statusDetails' must be dict"),
        (f"{J}/j-1/update", update_payload(clientToken=7), THING, None, "'clientToken' must be str"),
        (f"{J}/j-1/update", b"\xff", THING, None, "UTF-8"),
        (f"{J}/j-1/update", b"", THING, None, "missing field 'status'"),
        (f"{J}/$next/update", update_payload(), THING, "c", "is not a job id"),
        (f"{J}/a.b/update", update_payload(), THING, "c", "is not a job id"),
        (f"{J}/a.b/get", wire({"clientToken": "c"}), THING, "c", "is not a job id"),
        (f"{J}/start-next", b"[1]", THING, None, "must be a JSON object"),
        (f"{J}/start-next", b"x" * (MAX_PAYLOAD + 1), THING, None, "exceeds the limit"),
        ("$aws/things/bad thing/jobs/start-next", b"{}", None, None, "thing name"),
    ],
)
def test_a_bad_job_request_is_device_malformed_naming_the_field(
    topic: str, payload: bytes, device_id: str | None, request_id: str | None, reason: str
) -> None:
    [event] = platform().decode(topic, payload)
    assert isinstance(event, ev.DeviceMalformed) and event.kind == "ota"
    assert (event.device_id, event.request_id) == (device_id, request_id) and reason in event.reason


def _offer(**changes: Any) -> ev.OfferUpgrade:
    fields: dict[str, Any] = {
        "device_id": THING,
        "version": "1.1",
        "url": URL,
        "size": 123456,
        "sha256": SHA,
        "md5": "",
        "task_id": "job-1",
    }
    fields.update(changes)
    return ev.OfferUpgrade(**fields)


def test_the_job_document_round_trips_and_leaves_out_what_is_unknown() -> None:
    document = job_document(_offer(sha256=SHA.upper(), token="t"))
    assert document == {**DOC, "sha256": SHA, "token": "t"} and "md5" not in document
    assert read_job_document(document, "job-1") == ev.UpgradeOffer(
        "1.1", URL, 123456, SHA, None, "t", "job-1"
    )


def test_an_offer_or_answer_without_a_usable_job_id_is_a_codec_error() -> None:
    for message in (
        _offer(task_id=None),
        _offer(task_id="a/b"),
        ev.AnswerJob(THING, "c", _offer(task_id=None)),
        ev.AnswerJob(THING, "c", _offer(), job_id="job-2"),
        ev.AnswerJob(THING, "c", None, job_id="a/b"),
        ev.AnswerJobUpdate(THING, "+", "c"),
    ):
        with pytest.raises(CodecError):
            platform().encode(message)
    with pytest.raises(InvalidValue, match="thing name"):
        platform().encode(_offer(device_id="a/b"))


def test_a_describe_of_next_is_answered_on_its_own_topic() -> None:
    [out] = platform().encode(ev.AnswerJob(THING, "c", _offer(), "QUEUED", 1, "$next"))
    assert out.topic == f"{J}/$next/get/accepted"
    assert device().decode(out.topic, out.payload) == [offer()]


def test_the_platform_answers_carry_no_client_token_when_the_request_had_none() -> None:
    [start] = platform().encode(ev.AnswerJob(THING, None, None))
    [update] = platform().encode(ev.AnswerJobUpdate(THING, "j-1", None, "ResourceNotFound", "gone"))
    assert body(start) == {"timestamp": 1700000000}
    assert body(update) == {"code": "ResourceNotFound", "message": "gone", "timestamp": 1700000000}
    assert update.topic == f"{J}/j-1/update/rejected"


# -- device info ----------------------------------------------------------------------------------
def test_device_info_leaves_out_what_is_unknown_and_sends_nothing_when_nothing_is_known() -> None:
    [out] = device().encode(ev.ReportInfo(fw_version="1.0"))
    assert out.topic == f"$aws/things/{THING}/shadow/name/{INFO_SHADOW}/update"
    assert body(out) == {"state": {"reported": {"fw_version": "1.0"}}, "clientToken": "tok-1"}
    assert device().encode(ev.ReportInfo()) == []


def test_device_info_extras_may_not_pose_as_its_fields() -> None:
    with pytest.raises(CodecError, match="extra 'fw_version' clashes"):
        device().encode(ev.ReportInfo(fw_version="1", extra={"fw_version": "2"}))


@pytest.mark.parametrize("shadows", [{"light": INFO_SHADOW}, {"light": None, "fan": INFO_SHADOW}])
def test_no_service_may_use_the_info_shadow(shadows: dict[str, str | None]) -> None:
    with pytest.raises(InvalidValue, match="cannot use the shadow 'device-info'"):
        AwsDevice(THING, service_ids=list(shadows), shadows=shadows)
    with pytest.raises(InvalidValue, match="cannot use the shadow 'device-info'"):
        AwsDevice(THING, service_ids=["device-info", "fan"])


def test_a_refused_info_update_reaches_the_device_and_other_info_topics_are_not_its_shadows() -> None:
    codec = device()
    refused = {"code": 413, "message": "The payload exceeds the maximum size allowed", "clientToken": "tok-1"}
    topic = f"$aws/things/{THING}/shadow/name/{INFO_SHADOW}"
    assert codec.decode(f"{topic}/update/rejected", wire(refused)) == [
        ev.Rejected("tok-1", 413, "update of device-info: The payload exceeds the maximum size allowed")
    ]
    [bad] = codec.decode(f"{topic}/update/rejected", b"[]")
    assert isinstance(bad, ev.Malformed)
    for other in ("update/delta", "get/accepted", "update/accepted"):
        [event] = codec.decode(f"{topic}/{other}", wire({"state": {"a": 1}, "version": 9}))
        assert isinstance(event, ev.Malformed), other
    assert codec.applied_version == {}


@pytest.mark.parametrize("service_ids", [["light"], ["light", "fan"]])
def test_the_info_shadow_leaves_the_services_shadow_sync_alone(service_ids: list[str]) -> None:
    """Through the real shadow service: what it publishes reaches the device only where the
    device subscribes (as on AWS, where shadow replies go to subscribers only)."""
    codec = AwsDevice(THING, service_ids=service_ids, new_id=golden.counter(), clock=golden.fixed_clock)
    service = AwsShadowService(clock=golden.fixed_clock)

    def serve(messages: list[ev.Outgoing]) -> list[ev.Downlink]:
        events: list[ev.Downlink] = []
        for request in messages:
            for out in service.handle(request.topic, request.payload):
                if any(topic_matches(f, out.topic) for f in codec.subscriptions()):
                    events += codec.decode(out.topic, out.payload)
        return events

    assert serve(codec.encode(ev.ReportProperties({"light": {"power": True}}))) == []
    assert serve(codec.encode(ev.ReportInfo(fw_version="1.0", sw_version="2"))) == []
    assert INFO_SHADOW in service.shadows(THING)
    [snapshot] = serve(codec.encode(ev.RequestShadow("r1")))
    assert isinstance(snapshot, ev.ShadowSnapshot) and snapshot.request_id == "r1"
    assert set(snapshot.services) <= set(service_ids) and snapshot.services["light"].reported == {
        "power": True
    }
    versions = dict(codec.applied_version)
    assert INFO_SHADOW not in versions
    light = codec.shadows["light"]
    desired = wire({"state": {"desired": {"power": False}}})
    deltas = [codec.decode(o.topic, o.payload) for o in service.handle(f"{_prefix(light)}/update", desired)]
    assert [ev.DesiredChange(None, {"light": {"power": False}}, 2)] in deltas
    assert serve(codec.encode(ev.ReportInfo(fw_version="1.1"))) == []
    assert service.get(THING, INFO_SHADOW)["state"]["reported"] == {"fw_version": "1.1", "sw_version": "2"}
    assert service.get(THING, light)["state"]["desired"] == {"power": False}


def _prefix(shadow: str | None) -> str:
    return f"$aws/things/{THING}/shadow" + ("" if shadow is None else f"/name/{shadow}")


def test_device_info_as_the_cloud_reads_it_drops_cleared_values() -> None:
    assert device_info(THING, {"fw_version": "1", "sw_version": None}) == ev.DeviceInfo(
        THING, {"fw_version": "1"}
    )


# -- logs -----------------------------------------------------------------------------------------
def entries(count: int, size: int) -> tuple[ev.LogEntry, ...]:
    return tuple(ev.LogEntry(1700000000000 + i, f"{i:05d}" + "x" * size) for i in range(count))


def test_logs_go_up_in_as_many_128_kb_messages_as_they_need_in_order() -> None:
    records = entries(300, 1000)
    out = device().encode(ev.ShipLogs(records))
    assert len(out) == 3 and all(len(m.payload) <= MAX_PAYLOAD for m in out)
    assert all(m.topic == f"things/{THING}/logs/up" for m in out)
    decoded = [log for m in out for log in platform().decode(m.topic, m.payload)]
    assert [d.params["content"] for d in decoded] == [r.content for r in records]  # type: ignore[union-attr]
    assert decoded[0] == ev.DeviceLog(
        THING, {"timestamp": 1700000000000, "type": "DEVICE_STATUS", "content": records[0].content}
    )
    assert device().encode(ev.ShipLogs(())) == []


def test_a_log_record_bigger_than_a_message_is_a_codec_error_and_nothing_goes() -> None:
    with pytest.raises(CodecError, match=r"log record 1 is \d+ bytes"):
        device().encode(ev.ShipLogs((*entries(1, 10), ev.LogEntry(1, "x" * MAX_PAYLOAD))))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{", "not valid JSON"),
        (wire({}), "missing field 'logs'"),
        (wire({"logs": {}}), "'logs' must be list"),
        (wire({"logs": [3]}), "logs[0] must be an object"),
        (
            wire({"logs": [{"timestamp": 1, "content": "a"}, {"content": "b"}]}),
            "missing field logs[1].'timestamp'",
        ),
        (wire({"logs": [{"timestamp": True, "content": "a"}]}), "logs[0].'timestamp' must be int"),
        (wire({"logs": [{"timestamp": 1, "content": 5}]}), "logs[0].'content' must be str"),
        (wire({"logs": [{"timestamp": 1, "content": "a", "type": []}]}), "logs[0].'type' must be str"),
    ],
)
def test_bad_logs_are_device_malformed_naming_the_record(payload: bytes, reason: str) -> None:
    [event] = platform().decode(f"things/{THING}/logs/up", payload)
    assert isinstance(event, ev.DeviceMalformed) and event.device_id == THING and reason in event.reason


def test_a_record_without_a_type_is_a_status_record() -> None:
    [event] = platform().decode(f"things/{THING}/logs/up", wire({"logs": [{"timestamp": 5, "content": "c"}]}))
    assert event == ev.DeviceLog(THING, {"timestamp": 5, "type": "DEVICE_STATUS", "content": "c"})


def test_the_clouds_aws_mode_hands_each_log_record_on() -> None:
    uplinks: list[ev.PlatformUplink] = []
    cloud = AwsCloud(lambda message: None, on_uplink=uplinks.append, clock=golden.fixed_clock)
    [out] = device().encode(ev.ShipLogs(entries(2, 3)))
    cloud.receive(out.topic, out.payload)
    assert [type(u) for u in uplinks] == [ev.DeviceLog, ev.DeviceLog]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (wire({"switch": "off"}), ev.LogConfig(False)),
        (wire({"switch": "on", "end_time": None}), ev.LogConfig(True)),
        (wire({"switch": "on", "end_time": 0}), ev.LogConfig(True, 0)),
    ],
)
def test_the_log_switch(payload: bytes, expected: ev.LogConfig) -> None:
    assert device().decode(f"things/{THING}/logs/config", payload) == [expected]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (wire({"switch": "ON"}), "must be 'on' or 'off'"),
        (wire({"switch": True}), "'switch' must be str"),
        (wire({}), "missing field 'switch'"),
        (wire({"switch": "on", "end_time": "20250101T000000Z"}), "'end_time' must be int"),
        (wire({"switch": "on", "end_time": -1}), "'end_time' is out of range"),
        (wire({"switch": "on", "end_time": 2**63}), "'end_time' is out of range"),
        (b"\x00", "not valid JSON"),
    ],
)
def test_a_bad_log_switch_is_malformed(payload: bytes, reason: str) -> None:
    [event] = device().decode(f"things/{THING}/logs/config", payload)
    assert isinstance(event, ev.Malformed) and reason in event.reason


# -- messages down --------------------------------------------------------------------------------
@pytest.mark.parametrize("payload", [b"", b"\x00\xff raw", b"x" * MAX_PAYLOAD])
def test_a_message_down_arrives_as_its_bytes(payload: bytes) -> None:
    [out] = platform().encode(ev.MessageDown(THING, payload))
    assert out.topic == f"things/{THING}/messages/down" and out.payload == payload
    assert device().decode(out.topic, out.payload) == [ev.CloudMessage(payload)]


def test_a_message_down_over_128_kb_is_refused_at_both_ends() -> None:
    with pytest.raises(CodecError, match="exceeds AWS IoT's limit"):
        platform().encode(ev.MessageDown(THING, b"x" * (MAX_PAYLOAD + 1)))
    with pytest.raises(CodecError, match="a message is bytes, not str"):
        platform().encode(ev.MessageDown(THING, "text"))  # type: ignore[arg-type]
    [event] = device().decode(f"things/{THING}/messages/down", b"x" * (MAX_PAYLOAD + 1))
    assert isinstance(event, ev.Malformed) and event.kind == "message"


def test_another_things_messages_and_log_switch_are_not_ours() -> None:
    for topic in ("things/dev2/messages/down", "things/dev2/logs/config", f"things/{THING}/messages/up"):
        [event] = device().decode(topic, wire({"switch": "on"}))
        assert isinstance(event, ev.Malformed)
