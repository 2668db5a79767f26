"""``ShadowCloud`` without a broker: the answers it owes devices, the shadow state it refuses to
store, and how it logs bad input. Uplinks are fed to ``receive`` as a device puts them on the
wire; what the cloud publishes is collected and read back as JSON.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from thingmodel import InvalidValue
from thingmodel.cloud import MemoryStore, ShadowCloud
from thingmodel.protocol import messages as ev
from thingmodel.vendors import platform_codec

PID = "ABCDEFGHIJ"
TENCENT = f"{PID}.dev1"
HUAWEI = "dev-1"
HW = f"$oc/devices/{HUAWEI}/sys/"
PROP_UP, PROP_DOWN = f"$thing/up/property/{PID}/dev1", f"$thing/down/property/{PID}/dev1"
EVENT_UP, EVENT_DOWN = f"$thing/up/event/{PID}/dev1", f"$thing/down/event/{PID}/dev1"
HUB_UP, HUB_DOWN = f"$shadow/operation/{PID}/dev1", f"$shadow/operation/result/{PID}/dev1"


class Clock:
    """Seconds that move only when a test says so."""

    def __init__(self, now: float = 1700000000.25) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Rig:
    """A ShadowCloud of one vendor and everything it published."""

    def __init__(self, vendor: str, store: MemoryStore | None = None) -> None:
        self.clock = Clock()
        self.published: list[ev.Outgoing] = []
        codec = platform_codec(vendor, clock=self.clock)
        self.cloud = ShadowCloud(codec, self.published.append, store, clock=self.clock, new_id=_ids())

    def send(self, topic: str, body: Any) -> list[tuple[str, Any]]:
        """Receive one uplink; what the cloud published in answer, as (topic, JSON)."""
        start = len(self.published)
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.cloud.receive(topic, payload)
        return [(m.topic, json.loads(m.payload)) for m in self.published[start:]]

    def answer(self, topic: str, body: Any) -> dict[str, Any]:
        """The one message the cloud published in answer to an uplink."""
        [(_, answer)] = self.send(topic, body)
        assert isinstance(answer, dict)
        return answer


def _ids() -> Any:
    numbers = iter(range(1, 1_000_000))
    return lambda: f"rid-{next(numbers)}"


def nested(depth: int) -> Any:
    """A value that makes a section ``depth`` levels deep."""
    value: Any = 1
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def report(params: dict[str, Any], token: str = "r-1") -> dict[str, Any]:
    return {"method": "report", "clientToken": token, "params": params}


def huawei_report(services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"services": [{"service_id": sid, "properties": props} for sid, props in services.items()]}


# -- every answer a device's request is owed --------------------------------------------------------
def test_an_explorer_report_gets_a_report_reply_with_its_token() -> None:
    rig = Rig("tencent-explorer")
    topic, reply = rig.send(PROP_UP, report({"power_switch": 1}, "ABCDEFGHIJ-0"))[0]
    assert topic == PROP_DOWN
    assert reply == {"method": "report_reply", "clientToken": "ABCDEFGHIJ-0", "code": 0, "status": "success"}


def test_an_event_post_and_an_events_post_each_get_one_event_reply() -> None:
    rig = Rig("tencent-explorer")
    one = {"method": "event_post", "clientToken": "e-1", "eventId": "alarm", "type": "alert", "params": {}}
    two = {
        "method": "events_post",
        "clientToken": "e-2",
        "events": [{"eventId": "a", "params": {}}, {"eventId": "b", "params": {"x": 1}}],
    }
    replies = rig.send(EVENT_UP, one) + rig.send(EVENT_UP, two)
    assert [(t, r["method"], r["clientToken"], r["code"]) for t, r in replies] == [
        (EVENT_DOWN, "event_reply", "e-1", 0),
        (EVENT_DOWN, "event_reply", "e-2", 0),
    ]
    assert [e.event_type for e in rig.cloud.activity(TENCENT).events] == ["alarm", "a", "b"]


def test_report_info_gets_its_reply_and_the_info_is_kept_for_the_application() -> None:
    rig = Rig("tencent-explorer")
    info = {"method": "report_info", "clientToken": "i-1", "params": {"fw_ver": "1.0.0"}}
    assert rig.answer(PROP_UP, info) == {
        "method": "report_info_reply",
        "clientToken": "i-1",
        "code": 0,
        "status": "success",
    }
    assert [i.params for i in rig.cloud.activity(TENCENT).info] == [{"fw_ver": "1.0.0"}]


def test_clear_control_gets_its_reply_and_clears_desired() -> None:
    rig = Rig("tencent-explorer")
    rig.send(PROP_UP, report({"power_switch": 0}))
    rig.cloud.desire(TENCENT, {"light": {"power_switch": 1}})
    reply = rig.answer(PROP_UP, {"method": "clear_control", "clientToken": "c-1"})
    assert (reply["method"], reply["clientToken"], reply["code"]) == ("clear_control_reply", "c-1", 0)
    assert rig.cloud.shadow(TENCENT)[PID].desired == {}


def test_a_hub_update_gets_one_result_carrying_the_new_version() -> None:
    rig = Rig("tencent-hub")
    rig.send(HUB_UP, {"type": "update", "state": {"reported": {"a": 1}}, "clientToken": "u-1"})
    both = {"type": "update", "state": {"reported": {"a": 2}, "desired": None}, "clientToken": "u-2"}
    [(topic, result)] = rig.send(HUB_UP, both)
    assert topic == HUB_DOWN
    assert (result["type"], result["result"], result["clientToken"]) == ("update", 0, "u-2")
    assert result["payload"]["version"] == rig.cloud.shadow(TENCENT)[PID].version == 2


def test_huawei_time_sync_is_answered_with_the_clock_of_the_platform_half() -> None:
    rig = Rig("huawei")
    request = {
        "services": [
            {
                "service_id": "$time_sync",
                "event_type": "time_sync_request",
                "paras": {"device_send_time": 1699999999000},
            }
        ]
    }
    topic, answer = rig.send(HW + "events/up", request)[0]
    assert topic == HW + "events/down"
    assert answer["services"] == [
        {
            "service_id": "$time_sync",
            "event_type": "time_sync_response",
            "paras": {
                "device_send_time": 1699999999000,
                "server_recv_time": 1700000000250,
                "server_send_time": 1700000000250,
            },
        }
    ]


def test_huawei_device_info_logs_and_messages_up_are_kept_per_device() -> None:
    rig = Rig("huawei")
    for service_id, event_type in (("$sdk_info", "sdk_info_report"), ("$log", "log_report")):
        body = {"services": [{"service_id": service_id, "event_type": event_type, "paras": {"v": 1}}]}
        assert rig.send(HW + "events/up", body) == []
    rig.send(HW + "messages/up", b"hello")
    kept = rig.cloud.activity(HUAWEI)
    assert [i.params for i in kept.info] == [{"v": 1}] and [g.params for g in kept.logs] == [{"v": 1}]
    assert [m.payload for m in kept.messages] == [b"hello"]
    assert rig.cloud.activity("another") == rig.cloud.activity("nobody")


def test_a_platform_service_not_served_yet_is_kept_and_logged_once_per_device(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig("huawei")
    body = {
        "services": [
            {
                "service_id": "$sub_device_manager",
                "event_type": "scan_result",
                "paras": {"version": 1},
            }
        ]
    }
    with caplog.at_level(logging.INFO, logger="thingmodel.cloud"):
        for _ in range(3):
            rig.send(HW + "events/up", body)
        rig.send("$oc/devices/dev-2/sys/events/up", json.dumps(body).encode())
    lines = [r.getMessage() for r in caplog.records if "$sub_device_manager" in r.getMessage()]
    assert len(lines) == 2 and "does not serve it yet" in lines[0]
    assert [e.event_type for e in rig.cloud.activity(HUAWEI).system] == ["scan_result"] * 3


# -- malformed requests get the vendor's error answer -----------------------------------------------
def test_a_malformed_explorer_report_gets_a_report_reply_with_an_error_code_and_the_reason() -> None:
    rig = Rig("tencent-explorer")
    reply = rig.answer(PROP_UP, {"method": "report", "clientToken": "bad-1", "params": "not an object"})
    assert (reply["method"], reply["clientToken"], reply["code"]) == ("report_reply", "bad-1", 400)
    assert "params" in reply["status"]
    assert rig.cloud.devices() == []


def test_a_malformed_hub_update_gets_a_result_with_an_error_code_and_the_reason() -> None:
    rig = Rig("tencent-hub")
    result = rig.answer(HUB_UP, {"type": "update", "state": "not an object", "clientToken": "bad-1"})
    assert (result["type"], result["clientToken"], result["result"]) == ("update", "bad-1", 400)
    assert "state" in result["status"]


def test_a_malformed_huawei_shadow_get_is_answered_on_its_response_topic() -> None:
    rig = Rig("huawei")
    [(topic, answer)] = rig.send(HW + "shadow/get/request_id=g1", b"{not json")
    assert topic == HW + "shadow/get/response/request_id=g1"
    assert answer["result_code"] == 400 and "JSON" in answer["result_desc"] and answer["shadow"] == []


def test_a_malformed_report_without_an_answer_topic_is_only_logged() -> None:
    rig = Rig("huawei")
    assert rig.send(HW + "properties/report", b"[]") == []
    assert rig.cloud.devices() == []


def test_sixty_thousand_malformed_messages_from_one_device_log_one_line_and_count_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig("huawei")
    with caplog.at_level(logging.INFO, logger="thingmodel.cloud"):
        for _ in range(60_000):
            rig.cloud.receive(HW + "properties/report", b"[]")
        assert len(caplog.records) == 1
        rig.clock.now += 2
        rig.cloud.receive(HW + "properties/report", b"[]")
    assert len(caplog.records) == 2
    assert "59999 more like it held back" in caplog.records[1].getMessage()


def test_sixty_thousand_malformed_messages_from_as_many_devices_log_a_handful_of_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig("tencent-explorer")
    with caplog.at_level(logging.INFO, logger="thingmodel.cloud"):
        for n in range(60_000):
            rig.cloud.receive(f"$thing/up/property/{PID}/d{n}", b"[]")
        lines = len(caplog.records)
        rig.cloud.close()
    assert lines <= 10
    assert caplog.records[-1].getMessage().startswith(f"{60_000 - lines} more lines")


# -- no poisoned state ------------------------------------------------------------------------------
@pytest.mark.parametrize(("vendor", "depth"), [("tencent-explorer", 6), ("tencent-hub", 6), ("huawei", 65)])
def test_a_report_nested_deeper_than_the_vendor_allows_is_refused_and_nothing_is_stored(
    vendor: str, depth: int
) -> None:
    rig = Rig(vendor)
    value = nested(depth)
    if vendor == "huawei":
        rig.send(HW + "properties/report", huawei_report({"s": {"v": value}}))
        assert rig.cloud.devices() == []
        rig.send(HW + "properties/report", huawei_report({"s": {"v": nested(depth - 1)}}))
        assert rig.cloud.devices() == [HUAWEI]
        return
    if vendor == "tencent-hub":
        refused = rig.answer(
            HUB_UP, {"type": "update", "state": {"reported": {"v": value}}, "clientToken": "t"}
        )
        assert refused["result"] == ev.CODE_TOO_LARGE and "deeper than 5" in refused["status"]
    else:
        refused = rig.answer(PROP_UP, report({"v": value}))
        assert refused["code"] == ev.CODE_TOO_LARGE and "deeper than 5" in refused["status"]
    assert rig.cloud.devices() == []


@pytest.mark.parametrize("vendor", ["tencent-explorer", "tencent-hub"])
def test_reports_whose_merged_shadow_exceeds_16_kb_are_refused_and_every_get_is_still_answered(
    vendor: str,
) -> None:
    rig = Rig(vendor)
    codes = []
    for n in range(3):  # three reports of six 900-byte values: the third would make 16.4 KB
        params = {f"p{n}{i}": "x" * 900 for i in range(6)}
        if vendor == "tencent-hub":
            body = {"type": "update", "state": {"reported": params}, "clientToken": f"t{n}"}
            codes.append(rig.answer(HUB_UP, body)["result"])
            got = rig.answer(HUB_UP, {"type": "get", "clientToken": f"g{n}"})
            assert got["result"] == 0 and len(got["payload"]["state"]["reported"]) == 6 * min(n + 1, 2)
        else:
            codes.append(rig.answer(PROP_UP, report(params, f"t{n}"))["code"])
            got = rig.answer(PROP_UP, {"method": "get_status", "clientToken": f"g{n}"})
            assert got["code"] == 0 and len(got["data"]["reported"]) == 6 * min(n + 1, 2)
    assert codes[:2] == [0, 0] and codes[2] == ev.CODE_TOO_LARGE
    assert "p20" not in rig.cloud.shadow(TENCENT)[PID].reported


def test_huawei_reports_whose_merged_shadow_exceeds_1_mb_are_refused_and_gets_are_still_answered() -> None:
    rig = Rig("huawei")
    for n in range(3):
        rig.send(HW + "properties/report", huawei_report({f"s{n}": {"blob": "x" * 400_000}}))
    assert sorted(rig.cloud.shadow(HUAWEI)) == ["s0", "s1"]
    [(_, answer)] = rig.send(HW + "shadow/get/request_id=g1", {})
    assert [s["service_id"] for s in answer["shadow"]] == ["s0", "s1"]


def test_more_than_20_properties_are_refused_on_tencent() -> None:
    rig = Rig("tencent-explorer")
    assert rig.answer(PROP_UP, report({f"p{i}": i for i in range(20)}, "t1"))["code"] == 0
    refused = rig.answer(PROP_UP, report({"p20": 20}, "t2"))
    assert refused["code"] == ev.CODE_TOO_LARGE and "21 properties" in refused["status"]
    assert len(rig.cloud.shadow(TENCENT)[PID].reported) == 20


def test_a_property_name_huawei_shadows_cannot_hold_is_refused() -> None:
    rig = Rig("huawei")
    rig.send(HW + "properties/report", huawei_report({"s": {"a.b": 1}}))
    assert rig.cloud.devices() == []


def test_a_refused_part_of_a_hub_update_stops_the_rest_of_it() -> None:
    rig = Rig("tencent-hub")
    rig.send(HUB_UP, {"type": "update", "state": {"reported": {"a": 1}}, "clientToken": "t1"})
    rig.cloud.desire(TENCENT, {"light": {"a": 2}})
    both = {"type": "update", "state": {"reported": {"v": nested(6)}, "desired": None}, "clientToken": "t2"}
    assert rig.answer(HUB_UP, both)["result"] == ev.CODE_TOO_LARGE
    assert rig.cloud.shadow(TENCENT)[PID].desired == {"a": 2}


BAD_IDS = {"empty": "", "topic-wildcards": "a/b#+", "100000-chars": "x" * 100_000, "control": "dev\x07ice"}


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_a_desire_with_a_bad_device_or_service_id_is_refused_and_nothing_is_stored(bad: str) -> None:
    rig = Rig("huawei")
    with pytest.raises(InvalidValue):
        rig.cloud.desire(bad, {"s": {"x": 1}})
    with pytest.raises(InvalidValue):
        rig.cloud.desire(HUAWEI, {bad: {"x": 1}})
    assert rig.cloud.devices() == [] and rig.published == []


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_a_report_from_a_bad_device_id_or_for_a_bad_service_id_stores_nothing(bad: str) -> None:
    rig = Rig("huawei")
    rig.send(f"$oc/devices/{bad}/sys/properties/report", huawei_report({"s": {"x": 1}}))
    rig.send(HW + "properties/report", huawei_report({bad: {"x": 1}}))
    assert rig.cloud.devices() == []


def test_two_tencent_devices_never_share_a_shadow() -> None:
    rig = Rig("tencent-explorer")
    rig.send(f"$thing/up/property/{PID}.a/b", report({"who": "X.Y/Z"}))  # names no device
    rig.send(f"$thing/up/property/{PID}/a.b", report({"who": "X/Y.Z"}))
    assert rig.cloud.devices() == [f"{PID}.a.b"]
    assert rig.cloud.shadow(f"{PID}.a.b")[PID].reported == {"who": "X/Y.Z"}


def test_a_desire_the_device_refuses_leaves_no_device_in_the_store() -> None:
    rig = Rig("huawei")
    rid = rig.cloud.desire(HUAWEI, {"smokeDetectr": {"alarm": 1}})  # a typo of the service id
    assert rig.cloud.shadow(HUAWEI)["smokeDetectr"].desired == {"alarm": 1}  # waiting for the answer
    refusal = {"result_code": 1, "result_desc": '"smokeDetectr": unknown service'}
    rig.send(f"{HW}properties/set/response/request_id={rid}", refusal)
    assert rig.cloud.devices() == [] and rig.cloud.shadow(HUAWEI) == {}


def test_a_desire_for_an_offline_device_is_stored_at_once_and_pushed_when_it_reports() -> None:
    rig = Rig("huawei")
    rig.cloud.desire(HUAWEI, {"smokeDetector": {"alarm": 1}})
    assert rig.cloud.store.load(HUAWEI)["smokeDetector"].desired == {"alarm": 1}
    answer = rig.send(HW + "properties/report", huawei_report({"smokeDetector": {"alarm": 0}}))
    stored = rig.cloud.store.load(HUAWEI)["smokeDetector"]
    assert (stored.desired, stored.reported) == ({"alarm": 1}, {"alarm": 0})
    pushes = [m.topic for m in rig.published if "/properties/set/" in m.topic]
    assert len(pushes) == 1 and answer == []  # pushed when desired; never twice in a row


def test_a_desire_for_a_device_that_is_not_registered_is_refused_and_creates_nothing() -> None:
    rig = Rig("huawei")
    rig.cloud.known = {HUAWEI}.__contains__
    with pytest.raises(InvalidValue, match="'dev-2' is not registered"):
        rig.cloud.desire("dev-2", {"smokeDetector": {"alarm": 1}})
    assert rig.cloud.devices() == [] and rig.published == []
    rig.cloud.desire(HUAWEI, {"smokeDetector": {"alarm": 1}})
    assert rig.cloud.devices() == [HUAWEI]


def test_a_desire_over_the_vendor_limits_is_refused_and_leaves_no_device_in_the_store() -> None:
    rig = Rig("tencent-explorer")
    with pytest.raises(InvalidValue, match="deeper than 5"):
        rig.cloud.desire(TENCENT, {"light": {"cfg": nested(6)}})
    with pytest.raises(InvalidValue):
        rig.cloud.desire(TENCENT, {"light": {"level": float("nan")}})
    assert rig.cloud.devices() == [] and rig.cloud.shadow(TENCENT) == {} and rig.published == []


def test_a_shadow_that_cannot_be_encoded_is_answered_with_an_error_not_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()  # as an older cloud may have left it: more than one message can carry
    store.save(TENCENT, PID, ev.ShadowState(reported={"blob": "x" * 17_000}, version=1))
    rig = Rig("tencent-explorer", store)
    with caplog.at_level(logging.WARNING, logger="thingmodel.cloud"):
        reply = rig.answer(PROP_UP, {"method": "get_status", "clientToken": "g1"})
    assert (reply["method"], reply["clientToken"], reply["code"]) == ("get_status_reply", "g1", 500)
    assert "16384" in reply["status"] and any("16384" in r.getMessage() for r in caplog.records)


def test_a_hub_update_that_changes_nothing_is_answered_and_stores_nothing() -> None:
    rig = Rig("tencent-hub")
    result = rig.answer(HUB_UP, {"type": "update", "state": {}, "clientToken": "u-9"})
    assert (result["result"], result["clientToken"]) == (0, "u-9")
    assert rig.cloud.devices() == []
