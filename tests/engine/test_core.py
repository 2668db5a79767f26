"""The device core: atomic writes, reads through getters, commands, auto-report, bad input.

The core is driven directly with neutral events; ``emit`` collects the actions it produces and
``on_error`` the errors it surfaces. Time is a FakeClock.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import schedule

from thingmodel import DefinitionError, DeviceCore, DeviceError, Property, Service, command
from thingmodel.engine.scheduling import FakeClock
from thingmodel.engine.session import DeviceSession
from thingmodel.protocol import messages as ev
from thingmodel.vendors.huawei import HuaweiDevice

START = dt.datetime(2024, 1, 1)


class Detector(Service):
    service_id = "smokeDetector"
    alarm = Property(int, writeable=True, minimum=0, maximum=1, default=0)
    level = Property(float, writeable=True, minimum=0, maximum=100, default=50.0)
    label = Property(str, writeable=True, max_length=8, default="hall")
    temperature = Property(float)
    humidity = Property(int, default=40)

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.failing: set[str] = set()
        self.celsius = 21.5

    def get_temperature(self) -> float:
        self.calls.append(("get_temperature", None))
        if "get_temperature" in self.failing:
            raise OSError("sensor unplugged")
        return self.celsius

    def _set(self, name: str, value: Any) -> None:
        self.calls.append((name, value))
        if name in self.failing:
            raise RuntimeError(f"{name} hardware jammed")

    def set_alarm(self, value: int) -> None:
        self._set("alarm", value)

    def set_level(self, value: float) -> None:
        self._set("level", value)

    def set_label(self, value: str) -> None:
        self._set("label", value)

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 10) -> dict[str, int]:
        self.calls.append(("ringAlarm", duration))
        return {"rang": duration}

    @command("selfTest")
    def self_test(self) -> dict[str, Any]:
        self.calls.append(("selfTest", None))
        raise RuntimeError("self test exploded")

    @command("silence")
    def silence(self) -> None:
        self.calls.append(("silence", None))

    @command("listZones")
    def list_zones(self) -> list[str]:
        return ["hall"]


class Valve(Service):
    service_id = "valve"
    opening = Property(int, writeable=True, minimum=0, maximum=100, default=0)

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.jammed = False

    def set_opening(self, value: int) -> None:
        self.calls.append(("opening", value))
        if self.jammed:
            raise RuntimeError("valve jammed")


class Rig:
    def __init__(self, *services: Service) -> None:
        self.clock = FakeClock(START)
        self.emitted: list[Any] = []
        self.errors: list[DeviceError] = []
        self.core = DeviceCore(
            list(services), emit=self.emitted.append, clock=self.clock, on_error=self.errors.append
        )

    def write(self, values: dict[str, Any], service: str = "smokeDetector", request_id: str = "r1") -> None:
        self.core.handle(ev.DesiredChange(request_id, {service: values}))

    def advance(self, seconds: float) -> None:
        target = self.clock() + dt.timedelta(seconds=seconds)
        while self.core.scheduler.jobs and self.core.scheduler.next_run <= target:
            self.clock.set(max(self.clock(), self.core.scheduler.next_run))
            self.core.run_pending()
        self.clock.set(max(self.clock(), target))

    def of(self, kind: type) -> list[Any]:
        return [a for a in self.emitted if isinstance(a, kind)]


def values(detector: Detector) -> tuple[Any, ...]:
    return (detector.alarm, detector.level, detector.label, detector.humidity)


INITIAL = (0, 50.0, "hall", 40)


# -- writes ----------------------------------------------------------------------------------------
def test_a_valid_write_runs_the_setter_then_acks_and_reports_the_new_value() -> None:
    detector = Detector()
    rig = Rig(detector)
    rig.write({"alarm": 1})
    assert detector.calls == [("alarm", 1)]
    assert detector.alarm == 1
    assert rig.emitted == [ev.AckDesired("r1", {}), ev.ReportProperties({"smokeDetector": {"alarm": 1}})]


def test_a_write_converts_wire_numbers_to_the_property_type() -> None:
    detector = Detector()
    rig = Rig(detector)
    rig.write({"alarm": 1.0, "level": 70})
    assert detector.calls == [("alarm", 1), ("level", 70.0)]
    assert type(detector.alarm) is int and type(detector.level) is float


@pytest.mark.parametrize(
    ("request_values", "name", "words"),
    [
        ({"alarm": 2}, "alarm", "above the maximum 1"),
        ({"alarm": -1}, "alarm", "below the minimum 0"),
        ({"alarm": "1"}, "alarm", "expected an integer"),
        ({"alarm": True}, "alarm", "boolean"),
        ({"alarm": 0.5}, "alarm", "expected an integer"),
        ({"level": float("nan")}, "level", "finite"),
        ({"label": "far too long"}, "label", "max_length 8"),
        ({"temperature": 30.0}, "temperature", "read-only"),
        ({"humidity": 50}, "humidity", "read-only"),
        ({"colour": "red"}, "colour", "unknown property"),
    ],
    ids=[
        "above",
        "below",
        "string",
        "bool",
        "fraction",
        "nan",
        "too-long",
        "read-only",
        "no-setter",
        "unknown",
    ],
)
def test_a_bad_write_is_refused_with_its_reason_and_changes_nothing(
    request_values: dict[str, Any], name: str, words: str
) -> None:
    detector = Detector()
    rig = Rig(detector)
    rig.write(request_values)
    [ack] = rig.emitted
    assert isinstance(ack, ev.AckDesired) and not ack.ok
    assert list(ack.errors) == [name]
    assert words in ack.errors[name]
    assert [call for call in detector.calls if call[0] != "get_temperature"] == []
    assert values(detector) == INITIAL


def test_a_write_with_one_bad_value_applies_none_of_the_good_ones() -> None:
    detector = Detector()
    rig = Rig(detector)
    rig.write({"alarm": 1, "level": 200.0, "label": "kitchen"})
    assert detector.calls == []
    assert values(detector) == INITIAL
    [ack] = rig.emitted
    assert list(ack.errors) == ["level"] and "above the maximum" in ack.errors["level"]


def test_every_reason_of_a_refused_write_is_given_at_once() -> None:
    detector = Detector()
    rig = Rig(detector)
    rig.write({"alarm": 2, "temperature": 1.0, "colour": "red", "label": 5})
    [ack] = rig.emitted
    assert set(ack.errors) == {"alarm", "temperature", "colour", "label"}


def test_every_refused_property_is_surfaced_as_an_error() -> None:
    rig = Rig(Detector())
    rig.write({"alarm": 2, "colour": "red"})
    assert {(e.kind, e.service_id, e.name) for e in rig.errors} == {
        ("desired", "smokeDetector", "alarm"),
        ("desired", "smokeDetector", "colour"),
    }


def test_a_setter_that_raises_rolls_back_the_setters_already_called() -> None:
    detector = Detector()
    detector.failing.add("label")
    rig = Rig(detector)
    rig.write({"alarm": 1, "level": 70.0, "label": "kitchen"})
    assert detector.calls[:3] == [("alarm", 1), ("level", 70.0), ("label", "kitchen")]
    assert sorted(detector.calls[3:]) == [("alarm", 0), ("level", 50.0)]  # called again with the old values
    assert values(detector) == INITIAL
    [ack] = rig.emitted  # no report of values that were not kept
    assert list(ack.errors) == ["label"]
    assert "label hardware jammed" in ack.errors["label"]
    assert [(e.kind, e.name) for e in rig.errors if e.kind == "setter"] == [("setter", "label")]


class Labelled(Service):
    service_id = "labelled"
    labels = Property(dict, writeable=True, default={"room": "hall"})
    level = Property(int, writeable=True)

    def set_level(self, value: int) -> None:
        raise RuntimeError("stuck")


def test_a_rollback_restores_a_mutable_default_as_this_instance_s_own_copy() -> None:
    first = Labelled()
    rig = Rig(first)
    rig.write({"labels": {"room": "attic"}, "level": 3}, service="labelled")
    [ack] = rig.emitted
    assert list(ack.errors) == ["level"]
    assert first.labels == {"room": "hall"}  # rolled back to the default
    first.labels["floor"] = 2  # mutating this instance's value ...
    assert Labelled().labels == {"room": "hall"}  # ... never changes the class's default
    assert Labelled.labels.default == {"room": "hall"}


def test_a_rollback_spans_every_service_of_the_request() -> None:
    detector, valve = Detector(), Valve()
    valve.jammed = True
    rig = Rig(detector, valve)
    rig.core.handle(ev.DesiredChange("r1", {"smokeDetector": {"alarm": 1}, "valve": {"opening": 30}}))
    assert detector.calls == [("alarm", 1), ("alarm", 0)]
    assert detector.alarm == 0 and valve.opening == 0
    [ack] = rig.emitted
    assert list(ack.errors) == ["valve.opening"]


def test_a_write_across_services_is_applied_and_reported_together() -> None:
    detector, valve = Detector(), Valve()
    rig = Rig(detector, valve)
    rig.core.handle(ev.DesiredChange("r1", {"smokeDetector": {"alarm": 1}, "valve": {"opening": 30}}))
    assert (detector.alarm, valve.opening) == (1, 30)
    assert rig.emitted[0] == ev.AckDesired("r1", {})
    reported: dict[str, Any] = {}
    for report in rig.of(ev.ReportProperties):
        reported.update(report.services)
    assert reported == {"smokeDetector": {"alarm": 1}, "valve": {"opening": 30}}


def test_a_write_for_an_unknown_service_is_refused_not_reported_as_success() -> None:
    detector = Detector()
    rig = Rig(detector)
    rig.write({"alarm": 1}, service="fireAlarm")
    [ack] = rig.emitted
    assert not ack.ok
    assert "unknown service" in ack.errors["fireAlarm"]
    assert detector.calls == []


def test_a_write_naming_no_service_is_refused() -> None:
    rig = Rig(Detector())
    rig.core.handle(ev.DesiredChange("r1", {}))
    [ack] = rig.emitted
    assert not ack.ok


def test_a_refused_change_without_request_id_is_answered_by_reporting_the_actual_values() -> None:
    detector = Detector()
    rig = Rig(detector)
    rig.core.handle(ev.DesiredChange(None, {"smokeDetector": {"alarm": 7}}))
    assert rig.emitted == [
        ev.ReportProperties({"smokeDetector": {"alarm": 0}}),
        ev.SettleDesired({}, {"smokeDetector": {"alarm": "7 is above the maximum 1"}}),
    ]


def test_an_applied_change_without_request_id_is_reported_then_settled() -> None:
    rig = Rig(Detector())
    rig.core.handle(ev.DesiredChange(None, {"smokeDetector": {"alarm": 1}}))
    assert rig.emitted == [
        ev.ReportProperties({"smokeDetector": {"alarm": 1}}),
        ev.SettleDesired({"smokeDetector": {"alarm": 1}}, {}),
    ]


def test_a_valid_value_refused_with_an_invalid_one_is_named_as_blocked() -> None:
    rig = Rig(Detector())
    rig.core.handle(ev.DesiredChange(None, {"smokeDetector": {"alarm": 7, "level": 5.0}}))
    settle = rig.emitted[-1]
    assert isinstance(settle, ev.SettleDesired) and not settle.applied
    assert settle.refused["smokeDetector"]["alarm"] == "7 is above the maximum 1"
    assert "another value" in settle.refused["smokeDetector"]["level"]


def test_an_on_error_callback_that_raises_does_not_stop_the_device() -> None:
    def explode(error: DeviceError) -> None:
        raise RuntimeError("bad handler")

    emitted: list[Any] = []
    detector = Detector()
    core = DeviceCore([detector], emit=emitted.append, clock=FakeClock(START), on_error=explode)
    core.handle(ev.DesiredChange("r1", {"smokeDetector": {"alarm": 2}}))
    core.handle(ev.DesiredChange("r2", {"smokeDetector": {"alarm": 1}}))
    assert [a.request_id for a in emitted if isinstance(a, ev.AckDesired)] == ["r1", "r2"]
    assert detector.alarm == 1


def test_a_deeply_nested_value_is_refused_not_raised() -> None:
    class Config(Service):
        blob = Property(dict, writeable=True, default={})

    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(1000):  # as deep as a JSON parser with a 1024-level limit lets through
        inner["a"] = {}
        inner = inner["a"]
    rig = Rig(Config())
    rig.core.handle(ev.DesiredChange("r1", {"Config": {"blob": deep}}))
    acks = rig.of(ev.AckDesired)
    assert [a.request_id for a in acks] == ["r1"]


# -- reads -----------------------------------------------------------------------------------------
def test_a_read_goes_through_the_getter() -> None:
    detector = Detector()
    rig = Rig(detector)
    detector.celsius = 19.0
    rig.core.handle(ev.PropertyRead("g1", "smokeDetector"))
    assert rig.emitted == [
        ev.ReadResponse(
            "g1",
            {
                "smokeDetector": {
                    "alarm": 0,
                    "level": 50.0,
                    "label": "hall",
                    "temperature": 19.0,
                    "humidity": 40,
                }
            },
        )
    ]


def test_a_getter_that_raises_is_surfaced_as_an_error_and_the_rest_still_answered() -> None:
    detector = Detector()
    detector.failing.add("get_temperature")
    rig = Rig(detector)
    rig.core.handle(ev.PropertyRead("g1", "smokeDetector"))
    [response] = rig.emitted
    assert response.services == {
        "smokeDetector": {"alarm": 0, "level": 50.0, "label": "hall", "humidity": 40}
    }
    [error] = rig.errors
    assert (error.kind, error.service_id, error.name) == ("getter", "smokeDetector", "temperature")
    assert "sensor unplugged" in error.reason


def test_a_getter_returning_an_invalid_value_is_surfaced_as_an_error() -> None:
    detector = Detector()
    detector.celsius = "warm"  # type: ignore[assignment]
    rig = Rig(detector)
    rig.core.report(detector)
    [report] = rig.of(ev.ReportProperties)
    assert "temperature" not in report.services["smokeDetector"]
    [error] = rig.errors
    assert error.name == "temperature" and "invalid value" in error.reason


def test_a_read_of_all_services_answers_only_the_declared_services() -> None:
    rig = Rig(Detector(), Valve())
    rig.core.handle(ev.PropertyRead("g1", None))
    [response] = rig.emitted
    assert set(response.services) == {"smokeDetector", "valve"}


def test_a_property_without_a_value_is_left_out_of_a_report() -> None:
    class Sparse(Service):
        reading = Property(int)
        unit = Property(str, default="m3")

    rig = Rig(Sparse())
    rig.core.report_all()
    assert rig.emitted == [ev.ReportProperties({"Sparse": {"unit": "m3"}})]


def test_report_all_sends_every_service_in_one_message() -> None:
    rig = Rig(Detector(), Valve())
    rig.core.report_all()
    [report] = rig.emitted
    assert set(report.services) == {"smokeDetector", "valve"}


# -- commands --------------------------------------------------------------------------------------
def call(
    rig: Rig, name: str, params: Any = None, service: str | None = "smokeDetector"
) -> ev.CommandResponse:
    rig.core.handle(ev.CommandRequest("c1", service, name, params))
    [response] = rig.of(ev.CommandResponse)
    return response


def test_a_command_runs_with_checked_parameters_and_returns_its_result() -> None:
    detector = Detector()
    rig = Rig(detector)
    response = call(rig, "ringAlarm", {"duration": 3})
    assert response == ev.CommandResponse("c1", 0, {"rang": 3})
    assert detector.calls == [("ringAlarm", 3)]


def test_a_command_parameter_left_out_takes_the_method_default() -> None:
    detector = Detector()
    response = call(Rig(detector), "ringAlarm", {})
    assert response.params == {"rang": 10}


def test_an_unknown_command_fails_naming_it_and_the_known_ones() -> None:
    rig = Rig(Detector())
    response = call(rig, "launch")
    assert response.code != 0
    assert "unknown command" in response.params["error"] and "ringAlarm" in response.params["error"]
    assert [(e.kind, e.name) for e in rig.errors] == [("command", "launch")]


def test_a_command_for_an_unknown_service_gets_a_failure_response() -> None:
    response = call(Rig(Detector()), "ringAlarm", {}, service="fireAlarm")
    assert response.request_id == "c1"
    assert response.code != 0 and "unknown service" in response.params["error"]


def test_a_bad_parameter_fails_without_running_the_command() -> None:
    detector = Detector()
    response = call(Rig(detector), "ringAlarm", {"duration": "long", "volume": 3})
    assert response.code != 0
    assert "duration" in response.params["error"] and "volume" in response.params["error"]
    assert detector.calls == []


def test_an_exception_in_a_command_becomes_a_failure_response_naming_it() -> None:
    detector = Detector()
    rig = Rig(detector)
    response = call(rig, "selfTest")
    assert response.code != 0
    assert "self test exploded" in response.params["error"]
    assert [e.kind for e in rig.errors] == ["command"]


def test_the_device_keeps_serving_after_a_command_raised() -> None:
    detector = Detector()
    rig = Rig(detector)
    call(rig, "selfTest")
    rig.core.handle(ev.CommandRequest("c2", "smokeDetector", "ringAlarm", {"duration": 1}))
    assert rig.of(ev.CommandResponse)[-1] == ev.CommandResponse("c2", 0, {"rang": 1})


def test_a_command_returning_none_succeeds_with_empty_paras() -> None:
    detector = Detector()
    response = call(Rig(detector), "silence")
    assert response == ev.CommandResponse("c1", 0, {})
    assert detector.calls == [("silence", None)]


def test_a_command_returning_something_other_than_a_dict_fails() -> None:
    response = call(Rig(Detector()), "listZones")
    assert response.code != 0 and "returned list" in response.params["error"]


def test_a_command_without_service_id_goes_to_the_only_service() -> None:
    response = call(Rig(Detector()), "ringAlarm", {"duration": 2}, service=None)
    assert response.code == 0 and response.params == {"rang": 2}


def test_a_command_without_service_id_fails_when_the_device_has_several() -> None:
    response = call(Rig(Detector(), Valve()), "ringAlarm", {}, service=None)
    assert response.code != 0


# -- malformed messages ----------------------------------------------------------------------------
def test_a_malformed_write_request_gets_a_failure_ack() -> None:
    rig = Rig(Detector())
    rig.core.handle(ev.Malformed("t", "payload is not valid JSON", "desired", "r1"))
    [ack] = rig.emitted
    assert ack.request_id == "r1" and not ack.ok
    assert "not valid JSON" in "".join(ack.errors.values())


def test_a_malformed_command_gets_a_failure_response() -> None:
    rig = Rig(Detector())
    rig.core.handle(ev.Malformed("t", "missing field 'command_name'", "command", "c1"))
    [response] = rig.emitted
    assert response.request_id == "c1" and response.code != 0
    assert "command_name" in response.params["error"]


def test_a_malformed_read_gets_an_empty_answer() -> None:
    rig = Rig(Detector())
    rig.core.handle(ev.Malformed("t", "bad", "read", "g1"))
    assert rig.emitted == [ev.ReadResponse("g1", {})]


def test_a_malformed_message_without_request_id_is_only_surfaced_as_an_error() -> None:
    rig = Rig(Detector())
    rig.core.handle(ev.Malformed("t", "bad", "event", None))
    assert rig.emitted == []
    assert [e.kind for e in rig.errors] == ["malformed"]


def test_malformed_huawei_requests_are_answered_with_failures_and_the_device_keeps_serving() -> None:
    detector = Detector()
    published: list[ev.Outgoing] = []
    session = DeviceSession(
        [detector], HuaweiDevice("dev-1"), publish=published.append, clock=FakeClock(START)
    )
    prefix = "$oc/devices/dev-1/sys/"
    session.receive(prefix + "properties/set/request_id=bad-set", b'{"services": [')
    session.receive(prefix + "commands/request_id=bad-cmd", b'{"paras": {}}')
    answers = {m.topic: json.loads(m.payload) for m in published}
    assert answers[prefix + "properties/set/response/request_id=bad-set"]["result_code"] != 0
    assert answers[prefix + "commands/response/request_id=bad-cmd"]["result_code"] != 0
    assert detector.calls == []

    session.receive(
        prefix + "properties/set/request_id=good",
        b'{"services": [{"service_id": "smokeDetector", "properties": {"alarm": 1}}]}',
    )
    answers = {m.topic: json.loads(m.payload) for m in published}
    assert answers[prefix + "properties/set/response/request_id=good"]["result_code"] == 0
    assert detector.alarm == 1


# -- shadow ----------------------------------------------------------------------------------------
def shadow(desired: dict[str, Any], service: str = "smokeDetector") -> ev.ShadowSnapshot:
    return ev.ShadowSnapshot("s1", {service: ev.ShadowState(desired=desired)})


def test_a_shadow_value_the_device_does_not_hold_is_applied_and_reported() -> None:
    detector = Detector()
    rig = Rig(detector)
    rig.core.handle(shadow({"alarm": 1, "level": 50.0}))
    assert detector.calls == [("alarm", 1)]  # level already held: its setter is not called
    assert rig.emitted == [
        ev.ReportProperties({"smokeDetector": {"alarm": 1}}),
        ev.SettleDesired({"smokeDetector": {"alarm": 1}}, {}),
    ]


def test_a_shadow_the_device_already_matches_changes_nothing() -> None:
    detector = Detector()
    rig = Rig(detector)
    rig.core.handle(shadow({"alarm": 0}))
    assert detector.calls == []
    assert rig.emitted == []


def test_an_invalid_shadow_value_is_not_applied_and_the_actual_state_is_reported() -> None:
    detector = Detector()
    rig = Rig(detector)
    rig.core.handle(shadow({"alarm": 5}))
    assert [name for name, _ in detector.calls if name != "get_temperature"] == []
    assert [e.kind for e in rig.errors] == ["desired"]
    [report] = rig.of(ev.ReportProperties)
    assert report.services["smokeDetector"]["alarm"] == 0


def test_shadow_values_for_an_unknown_service_are_surfaced_as_an_error() -> None:
    rig = Rig(Detector())
    rig.core.handle(shadow({"x": 1}, service="ghost"))
    assert [(e.kind, e.service_id) for e in rig.errors] == [("desired", "ghost")]


def test_a_shadow_request_is_emitted_with_a_fresh_request_id() -> None:
    rig = Rig(Detector())
    rig.core.request_shadow()
    rig.core.request_shadow()
    first, second = rig.emitted
    assert isinstance(first, ev.RequestShadow) and first.request_id != second.request_id


# -- auto-report -----------------------------------------------------------------------------------
def test_auto_report_sends_every_property_each_period() -> None:
    detector = Detector()
    rig = Rig(detector)
    detector.enable_auto_report(5)
    rig.advance(15)
    reports = rig.of(ev.ReportProperties)
    assert len(reports) == 3
    assert all(r.services["smokeDetector"]["temperature"] == 21.5 for r in reports)
    assert set(reports[0].services["smokeDetector"]) == {"alarm", "level", "label", "temperature", "humidity"}


def test_enabling_auto_report_twice_does_not_duplicate_it() -> None:
    detector = Detector()
    rig = Rig(detector)
    detector.enable_auto_report(5)
    detector.enable_auto_report(5)
    rig.advance(10)
    assert len(rig.of(ev.ReportProperties)) == 2
    assert len(rig.core.scheduler.jobs) == 1


def test_enabling_auto_report_again_changes_the_period() -> None:
    detector = Detector()
    rig = Rig(detector)
    detector.enable_auto_report(5)
    detector.enable_auto_report(10)
    rig.advance(30)
    assert len(rig.of(ev.ReportProperties)) == 3


def test_disabling_auto_report_cancels_it() -> None:
    detector = Detector()
    rig = Rig(detector)
    detector.enable_auto_report(5)
    rig.advance(5)
    detector.disable_auto_report()
    rig.advance(60)
    assert len(rig.of(ev.ReportProperties)) == 1
    assert rig.core.scheduler.jobs == []


def test_auto_report_enabled_before_attaching_starts_when_attached() -> None:
    detector = Detector()
    detector.enable_auto_report(5)
    rig = Rig(detector)
    rig.advance(5)
    assert len(rig.of(ev.ReportProperties)) == 1


def test_each_service_auto_reports_on_its_own_period() -> None:
    detector, valve = Detector(), Valve()
    rig = Rig(detector, valve)
    detector.enable_auto_report(5)
    valve.enable_auto_report(10)
    rig.advance(20)
    services = [next(iter(r.services)) for r in rig.of(ev.ReportProperties)]
    assert services.count("smokeDetector") == 4 and services.count("valve") == 2


def test_auto_report_stays_on_a_fixed_rate_when_reads_are_slow() -> None:
    read_at: list[float] = []

    class Slow(Detector):
        def get_temperature(self) -> float:
            read_at.append((rig.clock() - START).total_seconds())
            rig.clock.advance(2)  # the sensor takes two seconds
            return 20.0

    slow = Slow()
    rig = Rig(slow)
    slow.enable_auto_report(5)
    rig.advance(15)
    assert read_at == [5, 10, 15]


def test_a_failing_getter_is_surfaced_on_every_auto_report_and_the_rest_still_reported() -> None:
    detector = Detector()
    detector.failing.add("get_temperature")
    rig = Rig(detector)
    detector.enable_auto_report(5)
    rig.advance(10)
    reports = rig.of(ev.ReportProperties)
    assert len(reports) == 2 and all("temperature" not in r.services["smokeDetector"] for r in reports)
    assert [(e.kind, e.name) for e in rig.errors] == [("getter", "temperature")] * 2


def test_detaching_stops_auto_report_and_frees_the_services() -> None:
    detector = Detector()
    rig = Rig(detector)
    detector.enable_auto_report(5)
    rig.core.detach()
    rig.advance(20)
    assert rig.of(ev.ReportProperties) == []
    Rig(detector)  # may join another device now


def test_auto_report_leaves_the_global_schedule_scheduler_alone() -> None:
    before = list(schedule.jobs)
    detector = Detector()
    Rig(detector)
    detector.enable_auto_report(5)
    assert schedule.jobs == before


# -- construction ----------------------------------------------------------------------------------
def test_two_services_with_one_service_id_are_refused() -> None:
    with pytest.raises(DefinitionError, match="smokeDetector"):
        DeviceCore([Detector(), Detector()])


def test_a_service_cannot_be_attached_to_two_devices() -> None:
    detector = Detector()
    DeviceCore([detector])
    with pytest.raises(DefinitionError, match="already attached"):
        DeviceCore([detector])


def test_a_device_needs_service_instances() -> None:
    with pytest.raises(ValueError):
        DeviceCore([])
    with pytest.raises(TypeError):
        DeviceCore([Detector])  # type: ignore[list-item]
