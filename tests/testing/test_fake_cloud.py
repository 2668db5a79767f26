"""``thingmodel.testing``: the FakeCloud harness and its in-memory broker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from thingmodel import Property, Service, command
from thingmodel.protocol import messages as ev
from thingmodel.testing import FakeCloud, InMemoryBroker, pytest_plugin

fake_cloud = pytest_plugin.fake_cloud  # the fixture the plugin registers when thingmodel is installed

DEVICE = "fake-device"
PREFIX = f"$oc/devices/{DEVICE}/sys/"


class Detector(Service):
    service_id = "smokeDetector"
    alarm = Property(int, writeable=True, minimum=0, maximum=1, default=0)
    temperature = Property(float)
    counter = Property(int, default=0)
    settings = Property(dict, writeable=True, default={})

    def __init__(self) -> None:
        self.alarm_writes: list[int] = []
        self.rings: list[int] = []
        self.reads = 0
        self.broken_sensor = False

    def get_temperature(self) -> float:
        if self.broken_sensor:
            raise OSError("sensor unplugged")
        return 21.5

    def get_counter(self) -> int:
        self.reads += 1
        return self.reads

    def set_alarm(self, value: int) -> None:
        self.alarm_writes.append(value)

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 10) -> dict[str, int]:
        self.rings.append(duration)
        return {"rang": duration}

    @command("serialNumber")
    def serial_number(self) -> dict[str, int]:
        return {"serial": 2**70}  # a 128-bit style serial, as Python ints allow

    @command("store")
    def store(self, data: dict) -> None: ...  # type: ignore[type-arg]


class Valve(Service):
    service_id = "valve"
    opening = Property(int, writeable=True, minimum=0, maximum=100, default=0)


def topics(cloud: FakeCloud, suffix: str) -> list[Any]:
    return [payload for topic, payload in cloud.messages if topic.endswith(suffix)]


def answer(cloud: FakeCloud, topic: str) -> Any:
    """The decoded payload of the one message published on ``topic``."""
    [payload] = [m.payload for m in cloud.broker.published if m.topic == topic]
    return json.loads(payload)


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# -- FakeCloud: what the application does ----------------------------------------------------------
def test_desire_returns_the_device_ack_and_updates_both_sides_of_the_shadow() -> None:
    detector = Detector()
    cloud = FakeCloud(detector)
    ack = cloud.desire({"alarm": 1})
    assert ack.ok and not ack.pending
    assert detector.alarm_writes == [1]
    assert cloud.desired == {"smokeDetector": {"alarm": 1}}
    assert cloud.reported == {"smokeDetector": {"alarm": 1}}


def test_a_refused_desire_is_taken_back_out_of_the_shadow() -> None:
    cloud = FakeCloud(Detector())
    assert cloud.desire({"alarm": 1}).ok
    assert not cloud.desire({"alarm": 9}).ok
    assert cloud.desired == {"smokeDetector": {"alarm": 1}}


def test_command_returns_the_device_response() -> None:
    detector = Detector()
    cloud = FakeCloud(detector)
    result = cloud.command("ringAlarm", {"duration": 4})
    assert result.ok and result.code == 0 and result.params == {"rang": 4}
    assert detector.rings == [4]


def test_a_failed_command_is_not_ok_and_says_why() -> None:
    cloud = FakeCloud(Detector())
    result = cloud.command("launch")
    assert not result.ok and "unknown command" in result.params["error"]


def test_read_answers_through_the_getters() -> None:
    cloud = FakeCloud(Detector())
    assert cloud.read() == {"alarm": 0, "temperature": 21.5, "counter": 1, "settings": {}}


def test_a_failing_getter_shows_up_in_cloud_errors() -> None:
    detector = Detector()
    detector.broken_sensor = True
    cloud = FakeCloud(detector)
    values = cloud.read()
    assert "temperature" not in values and values["alarm"] == 0
    assert [(e.kind, e.name) for e in cloud.errors] == [("getter", "temperature")]
    assert "sensor unplugged" in cloud.errors[0].reason


def test_messages_lists_every_topic_and_decoded_payload_that_crossed_the_wire() -> None:
    cloud = FakeCloud(Detector())
    ack = cloud.desire({"alarm": 1})
    set_topic = f"{PREFIX}properties/set/request_id={ack.request_id}"
    assert (
        set_topic,
        {"services": [{"service_id": "smokeDetector", "properties": {"alarm": 1}}]},
    ) in cloud.messages
    assert answer(cloud, f"{PREFIX}properties/set/response/request_id={ack.request_id}")["result_code"] == 0
    assert topics(cloud, "/properties/report") == [
        {"services": [{"service_id": "smokeDetector", "properties": {"alarm": 1}}]}
    ]


def test_a_device_with_several_services_needs_the_service_named() -> None:
    cloud = FakeCloud(Detector(), Valve())
    with pytest.raises(ValueError, match="service="):
        cloud.desire({"opening": 10})
    assert cloud.desire({"opening": 10}, service="valve").ok
    assert cloud.reported["valve"] == {"opening": 10}


def test_a_desire_for_a_service_the_device_lacks_is_refused() -> None:
    ack = FakeCloud(Detector()).desire({"x": 1}, service="ghost")
    assert not ack.ok and "unknown service" in ack.errors["ghost"]


def test_advance_without_auto_report_only_moves_the_clock() -> None:
    cloud = FakeCloud(Detector())
    before = cloud.clock()
    cloud.advance(60)
    assert (cloud.clock() - before).total_seconds() == 60
    assert cloud.reports == []


def test_closing_frees_the_services_for_another_cloud() -> None:
    detector = Detector()
    with FakeCloud(detector) as first:
        detector.enable_auto_report(5)
    first.advance(10)
    assert first.reports == []
    second = FakeCloud(detector)
    second.advance(5)
    assert len(second.reports) == 1


def test_the_fake_cloud_fixture_builds_clouds_around_services(fake_cloud: Any) -> None:
    detector = Detector()
    cloud = fake_cloud(detector, device_id="dev-7")
    assert isinstance(cloud, FakeCloud)
    assert cloud.desire({"alarm": 1}).ok
    assert all(topic.startswith("$oc/devices/dev-7/") for topic, _ in cloud.messages)


# -- FakeCloud: malformed requests -----------------------------------------------------------------
def test_a_malformed_set_request_gets_a_failure_response_and_the_device_keeps_serving() -> None:
    detector = Detector()
    cloud = FakeCloud(detector)
    cloud.broker.publish(ev.Outgoing(PREFIX + "properties/set/request_id=bad-1", b'{"services": [{'))
    response = answer(cloud, PREFIX + "properties/set/response/request_id=bad-1")
    assert response["result_code"] != 0 and response["result_desc"]
    assert detector.alarm_writes == []
    assert [e.kind for e in cloud.errors] == ["malformed"]
    assert cloud.desire({"alarm": 1}).ok
    assert detector.alarm_writes == [1]


def test_a_malformed_command_gets_a_failure_response_and_the_device_keeps_serving() -> None:
    detector = Detector()
    cloud = FakeCloud(detector)
    cloud.broker.publish(ev.Outgoing(PREFIX + "commands/request_id=bad-2", b'{"paras": {"duration": 1}}'))
    response = answer(cloud, PREFIX + "commands/response/request_id=bad-2")
    assert response["result_code"] != 0 and "command_name" in response["paras"]["error"]
    assert detector.rings == []
    assert cloud.command("ringAlarm", {"duration": 1}).ok


def test_a_set_request_with_a_deeply_nested_value_is_answered_and_the_device_keeps_serving() -> None:
    cloud = FakeCloud(Detector())
    settings = nested(3000)
    body = f'{{"services": [{{"service_id": "smokeDetector", "properties": {{"settings": {settings}}}}}]}}'
    cloud.broker.publish(ev.Outgoing(PREFIX + "properties/set/request_id=deep-1", body.encode()))
    assert answer(cloud, PREFIX + "properties/set/response/request_id=deep-1")["result_code"] != 0
    assert cloud.desire({"alarm": 1}).ok


def test_a_command_with_a_deeply_nested_parameter_is_answered_and_the_device_keeps_serving() -> None:
    cloud = FakeCloud(Detector())
    data = nested(3000)
    body = f'{{"command_name": "store", "paras": {{"data": {data}}}}}'
    cloud.broker.publish(ev.Outgoing(PREFIX + "commands/request_id=deep-2", body.encode()))
    assert answer(cloud, PREFIX + "commands/response/request_id=deep-2")["result_code"] != 0
    assert cloud.command("ringAlarm").ok


def test_messages_still_lists_a_payload_too_deeply_nested_to_decode() -> None:
    cloud = FakeCloud(Detector())
    payload = nested(3000).encode()
    cloud.broker.publish(ev.Outgoing(PREFIX + "messages/down", payload))
    assert (PREFIX + "messages/down", payload) in cloud.messages


def test_a_refused_write_and_a_failed_command_use_the_same_result_code() -> None:
    cloud = FakeCloud(Detector())
    refused = cloud.desire({"alarm": 5})
    failed = cloud.command("launch")
    set_response = answer(cloud, f"{PREFIX}properties/set/response/request_id={refused.request_id}")
    command_response = answer(cloud, f"{PREFIX}commands/response/request_id={failed.request_id}")
    assert set_response["result_code"] == command_response["result_code"] != 0


def test_a_command_whose_result_cannot_be_sent_still_gets_a_response() -> None:
    cloud = FakeCloud(Detector())
    result = cloud.command("serialNumber")
    assert cloud.cloud.result(result.request_id) is not None, "the device never answered the command"
    assert result.ok == (result.params == {"serial": 2**70})


# -- FakeCloud: offline ----------------------------------------------------------------------------
def test_a_desire_made_offline_is_pending_and_applied_through_the_shadow_on_reconnect() -> None:
    detector = Detector()
    cloud = FakeCloud(detector)
    cloud.disconnect()
    ack = cloud.desire({"alarm": 1})
    assert ack.pending and not ack.ok
    assert detector.alarm_writes == [] and detector.alarm == 0
    assert cloud.desired == {"smokeDetector": {"alarm": 1}}

    sent_before = len(cloud.messages)
    cloud.connect()
    after = [topic for topic, _ in cloud.messages[sent_before:]]
    assert any(t.startswith(PREFIX + "shadow/get/request_id=") for t in after)
    assert any(t.startswith(PREFIX + "shadow/get/response/request_id=") for t in after)
    assert detector.alarm_writes == [1] and detector.alarm == 1
    assert cloud.reported["smokeDetector"]["alarm"] == 1
    settled = cloud.cloud.result(ack.request_id)
    assert isinstance(settled, ev.DesiredAcked) and settled.ok


def test_reports_made_offline_arrive_after_reconnect_in_order() -> None:
    detector = Detector()
    cloud = FakeCloud(detector)
    detector.enable_auto_report(5)
    cloud.disconnect()
    cloud.advance(15)
    assert cloud.reports == []  # nothing reached the cloud while offline
    cloud.connect()
    counters = [r["smokeDetector"]["counter"] for r in cloud.reports]
    assert counters == [1, 2, 3]
    assert cloud.reported["smokeDetector"]["counter"] == 3


def test_the_latest_value_wins_when_offline_reports_and_an_offline_desire_meet() -> None:
    detector = Detector()
    cloud = FakeCloud(detector)
    cloud.disconnect()
    detector.report("alarm")  # alarm=0, queued
    cloud.desire({"alarm": 1})
    cloud.connect()
    assert cloud.reported["smokeDetector"]["alarm"] == 1
    assert detector.alarm == 1


def test_a_command_sent_offline_fails_and_does_not_run_later() -> None:
    detector = Detector()
    cloud = FakeCloud(detector)
    cloud.disconnect()
    result = cloud.command("ringAlarm", {"duration": 2})
    assert not result.ok
    cloud.connect()
    assert detector.rings == []


def test_a_read_while_offline_raises() -> None:
    cloud = FakeCloud(Detector())
    cloud.disconnect()
    with pytest.raises(RuntimeError):
        cloud.read()


# -- InMemoryBroker --------------------------------------------------------------------------------
def msg(topic: str, payload: bytes = b"{}") -> ev.Outgoing:
    return ev.Outgoing(topic, payload)


def test_the_broker_delivers_to_every_matching_subscription_in_order() -> None:
    broker = InMemoryBroker()
    seen: list[tuple[str, str, bytes]] = []
    broker.subscribe("a/+", lambda t, p: seen.append(("plus", t, p)))
    broker.subscribe("a/#", lambda t, p: seen.append(("hash", t, p)))
    broker.subscribe("b/#", lambda t, p: seen.append(("b", t, p)))
    broker.publish(msg("a/1", b"1"))
    broker.publish(msg("a/1/2", b"2"))
    assert seen == [("plus", "a/1", b"1"), ("hash", "a/1", b"1"), ("hash", "a/1/2", b"2")]


def test_a_publish_made_during_a_delivery_is_delivered_after_it() -> None:
    broker = InMemoryBroker()
    seen: list[str] = []

    def first(topic: str, payload: bytes) -> None:
        seen.append(f"first {topic}")
        if topic == "req":
            broker.publish(msg("resp"))
            seen.append("first done")

    broker.subscribe("#", first)
    broker.subscribe("req", lambda t, p: seen.append(f"second {t}"))
    broker.publish(msg("req"))
    assert seen == ["first req", "first done", "second req", "first resp"]


def test_the_broker_records_every_publish_in_order() -> None:
    broker = InMemoryBroker()
    broker.publish(msg("x/1"))
    broker.publish(msg("x/2"))
    assert [m.topic for m in broker.published] == ["x/1", "x/2"]


def test_a_dollar_topic_reaches_only_filters_that_name_its_first_level() -> None:
    broker = InMemoryBroker()
    seen: list[str] = []
    broker.subscribe("#", lambda t, p: seen.append("#"))
    broker.subscribe("+/devices/#", lambda t, p: seen.append("+/devices/#"))
    broker.subscribe("$oc/#", lambda t, p: seen.append("$oc/#"))
    broker.subscribe("$oc/devices/+/sys/properties/report", lambda t, p: seen.append("report"))
    broker.publish(msg("$oc/devices/d1/sys/properties/report"))
    assert seen == ["$oc/#", "report"]


def test_publishing_to_a_wildcard_topic_is_refused() -> None:
    broker = InMemoryBroker()
    with pytest.raises(ValueError):
        broker.publish(msg("a/+"))
    with pytest.raises(ValueError):
        broker.publish(msg("a/#"))
    assert broker.published == []


def test_subscribing_with_a_broken_filter_is_refused() -> None:
    with pytest.raises(ValueError):
        InMemoryBroker().subscribe("a/#/b", lambda t, p: None)


def test_an_unsubscribed_handler_gets_nothing_more() -> None:
    broker = InMemoryBroker()
    seen: list[str] = []

    def handler(topic: str, payload: bytes) -> None:
        seen.append(topic)

    broker.subscribe("#", handler)
    broker.publish(msg("a"))
    broker.unsubscribe(handler)
    broker.publish(msg("b"))
    assert seen == ["a"]


def test_the_fake_cloud_speaks_the_real_huawei_protocol() -> None:
    cloud = FakeCloud(Detector())
    cloud.command("ringAlarm", {"duration": 1})
    [(topic, payload)] = [(t, p) for t, p in cloud.messages if "/commands/request_id=" in t]
    assert topic.startswith(PREFIX + "commands/request_id=")
    assert payload == {"service_id": "smokeDetector", "command_name": "ringAlarm", "paras": {"duration": 1}}
    assert json.dumps(payload)  # decoded JSON, not bytes


def test_messages_and_events_from_the_cloud_reach_the_device_handlers() -> None:
    from thingmodel.protocol.messages import CloudEvent, CloudMessage

    cloud = FakeCloud(Detector())
    seen: list[object] = []
    cloud.core.on_message = seen.append
    cloud.core.on_event = seen.append
    cloud.send_message(b"reboot at noon")
    cloud.send_event("$sub_device_manager", "start_scan", {"force": True})
    assert seen == [
        CloudMessage(b"reboot at noon"),
        CloudEvent("$sub_device_manager", "start_scan", {"force": True}),
    ]


def test_a_message_handler_that_raises_is_reported_and_the_device_carries_on() -> None:
    cloud = FakeCloud(Detector())

    def broken(event: object) -> None:
        raise RuntimeError("boom")

    cloud.core.on_message = broken
    cloud.send_message(b"x")
    assert any("on_message raised RuntimeError('boom')" in e.reason for e in cloud.errors)
    assert cloud.desire({"alarm": 1}).ok
