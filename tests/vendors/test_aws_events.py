"""AWS IoT events and free-form messages on our topics (docs/vendors.md): both codec halves, the
cloud's AWS mode keeping them (bounded) and logging bad ones (rate-limited), the access rules,
and ``FakeCloud``. The golden (topic, payload) pairs are tests/fixtures/aws/11-*, 12-*."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from thingmodel import CodecError, Event, Property, Service
from thingmodel.cloud.access import filter_within
from thingmodel.cloud.aws import AwsCloud
from thingmodel.protocol import messages as ev
from thingmodel.protocol.topics import topic_matches
from thingmodel.testing import FakeCloud
from thingmodel.types import Integer
from thingmodel.vendors import aws
from thingmodel.vendors.aws import (
    MAX_PAYLOAD,
    AwsDevice,
    AwsPlatform,
    device_topics,
    event_topic,
    message_topic,
    parse_uplink_topic,
    topic_device,
)

from . import golden

THING = "thermostat-1"
EVENTS = f"things/{THING}/events/up"
MESSAGES = f"things/{THING}/messages/up"


def device(**options: Any) -> AwsDevice:
    return AwsDevice(THING, service_ids=["smokeDetector"], clock=golden.fixed_clock, **options)


def event_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service": "smokeDetector",
        "event": "smoke_alarm",
        "kind": "alert",
        "params": {"level": 3},
        "timestamp": 1,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not _DROP}


_DROP = object()


def wire(value: Any) -> bytes:
    return json.dumps(value).encode()


# -- topics ---------------------------------------------------------------------------------------
def test_our_topics_are_outside_the_reserved_aws_prefix_and_name_the_thing() -> None:
    assert event_topic(THING) == EVENTS and message_topic(THING) == MESSAGES
    assert not EVENTS.startswith("$") and not MESSAGES.startswith("$")
    # AWS IoT allows at most 7 slashes in a topic
    assert EVENTS.count("/") <= 7 and MESSAGES.count("/") <= 7
    assert parse_uplink_topic(EVENTS) == (THING, "events")
    assert parse_uplink_topic(MESSAGES) == (THING, "messages")


@pytest.mark.parametrize(
    "topic",
    [
        f"things/{THING}/events",
        f"things/{THING}/events/down",
        f"things/{THING}/messages/up/x",
        f"things/{THING}/other/up",
        f"$aws/things/{THING}/events/up",
        "things",
        "",
    ],
)
def test_other_topics_are_not_taken_for_ours(topic: str) -> None:
    assert parse_uplink_topic(topic) is None


# -- the device half ------------------------------------------------------------------------------
def test_an_event_goes_on_the_things_events_topic_with_its_kind_and_a_timestamp_in_ms() -> None:
    [out] = device().encode(ev.EmitEvent("smokeDetector", "smoke_alarm", {"level": 3}, "alert"))
    assert out.topic == EVENTS and out.qos == 1 and not out.retain
    assert json.loads(out.payload) == {
        "service": "smokeDetector",
        "event": "smoke_alarm",
        "kind": "alert",
        "params": {"level": 3},
        "timestamp": 1700000000123,
    }


def test_an_event_of_any_service_of_a_several_service_thing_goes_on_the_same_topic() -> None:
    codec = AwsDevice(THING, service_ids=["heating", "fan"])
    [out] = codec.encode(ev.EmitEvent("fan", "stalled"))
    assert out.topic == EVENTS
    assert json.loads(out.payload)["service"] == "fan" and json.loads(out.payload)["kind"] == "info"


def test_an_event_over_128_kb_or_not_json_is_a_codec_error_not_a_crash() -> None:
    with pytest.raises(CodecError, match="exceeds AWS IoT's limit of 131072 bytes"):
        device().encode(ev.EmitEvent("smokeDetector", "big", {"blob": "x" * MAX_PAYLOAD}))
    with pytest.raises(CodecError, match="cannot encode a message for things/thermostat-1/events/up"):
        device().encode(ev.EmitEvent("smokeDetector", "odd", {"value": object()}))


@pytest.mark.parametrize("payload", [b"", b"hello", b"\x00\xff\xfe binary", bytes(range(256))])
def test_a_message_goes_up_as_its_bytes_unchanged(payload: bytes) -> None:
    [out] = device().encode(ev.SendMessage(payload))
    assert (out.topic, out.payload) == (MESSAGES, payload)


def test_a_message_of_exactly_128_kb_goes_and_one_byte_more_is_refused_naming_the_limit() -> None:
    [out] = device().encode(ev.SendMessage(b"x" * MAX_PAYLOAD))
    assert len(out.payload) == MAX_PAYLOAD
    with pytest.raises(CodecError, match="131073 bytes exceeds AWS IoT's limit of 131072 bytes"):
        device().encode(ev.SendMessage(b"x" * (MAX_PAYLOAD + 1)))


def test_a_message_that_is_not_bytes_is_refused() -> None:
    with pytest.raises(CodecError, match="a message is bytes, not str"):
        device().encode(ev.SendMessage("text"))  # type: ignore[arg-type]


def test_events_and_messages_leave_the_shadow_state_of_the_codec_alone() -> None:
    codec = device()
    codec.encode(ev.EmitEvent("smokeDetector", "smoke_alarm", {"level": 1}))
    codec.encode(ev.SendMessage(b"x"))
    assert codec.applied_version == {} and codec.subscriptions() == device().subscriptions()


# -- the platform half ----------------------------------------------------------------------------
def test_the_platform_subscribes_to_every_things_events_and_messages() -> None:
    subscriptions = AwsPlatform().subscriptions()
    assert "things/+/events/up" in subscriptions and "things/+/messages/up" in subscriptions
    assert any(topic_matches(f, EVENTS) for f in subscriptions)


def test_what_the_device_sends_decodes_into_the_same_event_and_message() -> None:
    platform, codec = AwsPlatform(), device()
    [event] = codec.encode(ev.EmitEvent("smokeDetector", "smoke_alarm", {"level": 3, "room": "hall"}))
    assert platform.decode(event.topic, event.payload) == [
        ev.EventUp(THING, "smokeDetector", "smoke_alarm", {"level": 3, "room": "hall"})
    ]
    [message] = codec.encode(ev.SendMessage(b"\x00\x01"))
    assert platform.decode(message.topic, message.payload) == [ev.MessageUp(THING, b"\x00\x01")]


def test_an_event_without_params_kind_or_timestamp_is_still_an_event() -> None:
    payload = wire({"service": "smokeDetector", "event": "tick"})
    assert AwsPlatform().decode(EVENTS, payload) == [ev.EventUp(THING, "smokeDetector", "tick", {})]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[1, 2]", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"", "not valid JSON"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "JSON"),
        (wire(event_body(service=_DROP)), "missing field 'service'"),
        (wire(event_body(event=_DROP)), "missing field 'event'"),
        (wire(event_body(service=7)), "'service' must be str"),
        (wire(event_body(event=["x"])), "'event' must be str"),
        (wire(event_body(params=[1])), "'params' must be dict"),
        (wire(event_body(kind=3)), "'kind' must be str"),
        (wire(event_body(timestamp="now")), "'timestamp' must be int"),
        (wire(event_body(timestamp=True)), "'timestamp' must be int"),
        (wire(event_body(service="a/b")), "service id 'a/b' contains a slash"),
        (wire(event_body(service="")), "service id must not be empty"),
        (wire(event_body(event="x\x07")), "control character"),
        (wire(event_body(params={"blob": "x" * MAX_PAYLOAD})), "exceeds the limit of 131072 bytes"),
    ],
)
def test_a_bad_event_is_device_malformed_naming_the_thing_and_the_reason(payload: bytes, reason: str) -> None:
    [event] = AwsPlatform().decode(EVENTS, payload)
    assert isinstance(event, ev.DeviceMalformed)
    assert (event.device_id, event.topic, event.kind, event.request_id) == (THING, EVENTS, "event", None)
    assert reason in event.reason


def test_a_message_over_128_kb_is_device_malformed_and_any_smaller_bytes_are_a_message() -> None:
    platform = AwsPlatform()
    [big] = platform.decode(MESSAGES, b"x" * (MAX_PAYLOAD + 1))
    assert isinstance(big, ev.DeviceMalformed) and big.kind == "message" and big.device_id == THING
    assert "131073 bytes exceeds AWS IoT's limit" in big.reason
    assert platform.decode(MESSAGES, b"") == [ev.MessageUp(THING, b"")]
    assert platform.decode(MESSAGES, b"\xff" * MAX_PAYLOAD) == [ev.MessageUp(THING, b"\xff" * MAX_PAYLOAD)]


@pytest.mark.parametrize("thing", ["", "sp ace", "x" * 129, "caf\u00e9"])
def test_a_topic_naming_no_valid_thing_is_malformed_with_no_device(thing: str) -> None:
    for topic in (f"things/{thing}/events/up", f"things/{thing}/messages/up"):
        [event] = AwsPlatform().decode(topic, wire(event_body()))
        assert isinstance(event, ev.DeviceMalformed) and event.device_id is None
        assert "thing name" in event.reason


# -- the cloud's AWS mode -------------------------------------------------------------------------
def cloud_with(uplinks: list[ev.PlatformUplink]) -> AwsCloud:
    return AwsCloud(lambda message: None, on_uplink=uplinks.append, clock=golden.fixed_clock)


def test_the_cloud_keeps_each_things_events_and_messages_with_their_arrival_time() -> None:
    uplinks: list[ev.PlatformUplink] = []
    cloud = cloud_with(uplinks)
    assert {"things/+/events/up", "things/+/messages/up"} <= set(cloud.subscriptions())
    cloud.receive(EVENTS, wire(event_body()))
    cloud.receive(MESSAGES, b"hello")
    cloud.receive("things/other-1/messages/up", b"not yours")
    mine = cloud.activity(THING)
    assert mine.events == (ev.EventUp(THING, "smokeDetector", "smoke_alarm", {"level": 3}),)
    assert mine.messages == (ev.MessageUp(THING, b"hello"),)
    assert mine.received["events"] == (golden.CLOCK,) and mine.received["messages"] == (golden.CLOCK,)
    assert cloud.activity("other-1").messages == (ev.MessageUp("other-1", b"not yours"),)
    assert cloud.activity("never-seen").events == ()
    assert uplinks == [*mine.events, *mine.messages, ev.MessageUp("other-1", b"not yours")]


def test_the_cloud_keeps_the_latest_100_events_of_a_thing() -> None:
    cloud = cloud_with([])
    for number in range(150):
        cloud.receive(EVENTS, wire(event_body(params={"n": number})))
    kept = cloud.activity(THING).events
    assert len(kept) == 100 and [e.params["n"] for e in kept] == list(range(50, 150))


def test_bad_input_is_logged_rate_limited_recorded_and_kept_nowhere(caplog: pytest.LogCaptureFixture) -> None:
    uplinks: list[ev.PlatformUplink] = []
    cloud = cloud_with(uplinks)
    with caplog.at_level(logging.WARNING, logger="thingmodel.cloud.aws"):
        for _ in range(50):
            cloud.receive(EVENTS, b"{not json")
        cloud.receive(MESSAGES, b"x" * (MAX_PAYLOAD + 1))
    assert cloud.activity(THING).events == () and cloud.activity(THING).messages == ()
    assert len(uplinks) == 51 and all(isinstance(u, ev.DeviceMalformed) for u in uplinks)
    assert len(cloud.book.problems) == 51
    lines = [r.getMessage() for r in caplog.records]
    assert 1 <= len([line for line in lines if "bad event from thing thermostat-1" in line]) <= 2
    assert any("bad message from thing thermostat-1" in line for line in lines)
    cloud.receive(EVENTS, wire(event_body()))  # the cloud keeps serving
    assert len(cloud.activity(THING).events) == 1


def test_an_on_uplink_that_raises_neither_stops_the_cloud_nor_loses_the_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(uplink: ev.PlatformUplink) -> None:
        raise RuntimeError("application bug")

    cloud = AwsCloud(lambda message: None, on_uplink=broken)
    with caplog.at_level(logging.ERROR, logger="thingmodel.cloud.aws"):
        cloud.receive(EVENTS, wire(event_body()))
    assert len(cloud.activity(THING).events) == 1
    assert any("on_uplink raised" in r.getMessage() for r in caplog.records)


# -- access rules ---------------------------------------------------------------------------------
def test_a_thing_may_publish_its_own_events_and_messages_and_no_other_things() -> None:
    publish, subscribe = device_topics(THING)
    codec = device()
    for message in (ev.EmitEvent("smokeDetector", "smoke_alarm"), ev.SendMessage(b"x")):
        [out] = codec.encode(message)
        assert any(topic_matches(f, out.topic) for f in publish), out.topic
    for topic in ("things/thermostat-2/events/up", "things/thermostat-2/messages/up"):
        assert not any(topic_matches(f, topic) for f in publish)
    for topic_filter in ("things/+/events/up", "things/#", "#", "things/thermostat-2/#"):
        assert not any(filter_within(topic_filter, outer) for outer in subscribe)
    assert any(filter_within(f"things/{THING}/#", outer) for outer in subscribe)


@pytest.mark.parametrize(
    ("topic", "thing"),
    [
        (EVENTS, THING),
        (MESSAGES, THING),
        (f"things/{THING}/anything/else", THING),
        ("things//events/up", None),
        ("things/x", None),
    ],
)
def test_our_topics_name_their_thing(topic: str, thing: str | None) -> None:
    assert topic_device(topic) == thing
    assert aws.topic_device(topic) == thing


# -- FakeCloud ------------------------------------------------------------------------------------
class Detector(Service):
    service_id = "smokeDetector"
    alarm = Property(int, default=0)
    smoke_alarm = Event({"level": Integer(minimum=0, maximum=5)}, optional={"room": str}, kind="alert")


def test_a_fake_aws_cloud_takes_a_service_with_events_and_sees_what_it_emits() -> None:
    detector = Detector()
    with FakeCloud(detector, vendor="aws", device_id=THING) as cloud:
        detector.smoke_alarm(level=2, room="hall")
        assert cloud.events == [
            ev.EventUp(THING, "smokeDetector", "smoke_alarm", {"level": 2, "room": "hall"})
        ]
        [body] = [p for t, p in cloud.messages if t == EVENTS]
        assert body["kind"] == "alert" and isinstance(body["timestamp"], int)
        assert isinstance(cloud.cloud, AwsCloud)
        assert cloud.cloud.activity(THING).events == tuple(cloud.events)
        assert cloud.errors == []


def test_a_fake_aws_device_sends_a_message_the_cloud_keeps() -> None:
    with FakeCloud(Detector(), vendor="aws", device_id=THING) as cloud:
        cloud.core.emit(ev.SendMessage(b"\x00raw"))
        assert isinstance(cloud.cloud, AwsCloud)
        assert cloud.cloud.activity(THING).messages == (ev.MessageUp(THING, b"\x00raw"),)


def test_an_oversized_message_is_a_device_error_and_nothing_is_sent() -> None:
    with FakeCloud(Detector(), vendor="aws", device_id=THING) as cloud:
        sent = len(cloud.broker.published)
        cloud.core.emit(ev.SendMessage(b"x" * (MAX_PAYLOAD + 1)))
        assert len(cloud.broker.published) == sent
        [error] = cloud.errors
        assert error.kind == "encode" and "exceeds AWS IoT's limit" in error.reason
