"""``Event``: parameters checked at class definition, every value checked at each emit, nothing
sent for a bad one, wire conversion, and vendors without events refusing such a service."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import pytest

from thingmodel import DefinitionError, Event, NotAttached, Property, Service, ValidationError
from thingmodel.testing import FakeCloud
from thingmodel.types import DateTime, IntBoolean, Integer, String

TENCENT = "ABCDEFGHIJ.dev1"


class Door(Service):
    service_id = "door"
    open = Property(bool, default=False)
    opened = Event({"angle": Integer(minimum=0, maximum=180)}, optional={"by": str}, kind="alert")
    jammed = Event({"at": DateTime()}, name="doorJammed", kind="fault", description="The lock is stuck.")


class Lock(Service):
    service_id = "lock"
    locked = Property(IntBoolean(), default=False)
    changed = Event({"locked": IntBoolean(), "at": DateTime()})


def sent_events(cloud: FakeCloud) -> list[tuple[str, Any]]:
    return [(t, p) for t, p in cloud.messages if "/events/up" in t or t.startswith("$thing/up/event/")]


def emit_errors(call: Any, **params: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        call(**params)
    return info.value.errors


# -- the declaration -------------------------------------------------------------------------------
def test_the_class_attribute_gives_the_event() -> None:
    assert isinstance(Door.opened, Event)
    assert Door.opened is Door.__dict__["opened"]
    assert (Door.opened.name, Door.opened.kind) == ("opened", "alert")
    assert (Door.jammed.name, Door.jammed.attr) == ("doorJammed", "jammed")
    assert repr(Door.jammed) == "Event('doorJammed', kind='fault')"


def test_the_spec_lists_events_by_wire_name_with_their_parameters() -> None:
    events = Door.spec.events
    assert list(events) == ["opened", "doorJammed"]
    opened = events["opened"]
    assert (opened.attr, opened.kind) == ("opened", "alert")
    assert opened.params["angle"].type == Integer(minimum=0, maximum=180) and opened.params["angle"].required
    assert opened.params["by"].type == String() and not opened.params["by"].required
    assert events["doorJammed"].description == "The lock is stuck."
    assert Door.spec.events["doorJammed"].kind == "fault"


def test_the_kind_is_info_by_default() -> None:
    assert Lock.spec.events["changed"].kind == "info"


def test_the_instance_attribute_is_a_callable_bound_to_the_service() -> None:
    door = Door()
    assert callable(door.opened)
    assert repr(door.opened) == "<event 'opened' of Door>"


@pytest.mark.parametrize("wire", ["door/opened", "door+", "#", "x" * 129])
def test_a_bad_wire_name_fails_at_class_definition(wire: str) -> None:
    with pytest.raises(DefinitionError, match=r"Bad\.opened .*event name"):

        class Bad(Service):
            opened = Event(name=wire)


def test_a_bad_kind_fails_at_class_definition_naming_the_kinds() -> None:
    with pytest.raises(DefinitionError, match="kind must be one of info, alert, fault, not 'warning'"):

        class Bad(Service):
            opened = Event(kind="warning")


@pytest.mark.parametrize("spec", [bytes, "no such type", object()])
def test_a_parameter_type_that_cannot_be_resolved_fails_at_class_definition(spec: object) -> None:
    with pytest.raises(DefinitionError, match=r"Bad\.opened \(event 'opened'\): parameter 'blob'"):

        class Bad(Service):
            opened = Event({"blob": spec})


def test_an_optional_parameter_type_is_checked_too() -> None:
    with pytest.raises(DefinitionError, match="parameter 'blob'"):

        class Bad(Service):
            opened = Event(optional={"blob": bytes})


def test_a_parameter_name_that_is_not_a_string_fails_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match="parameter names must be non-empty strings"):

        class Bad(Service):
            opened = Event({1: int})  # type: ignore[dict-item]


def test_a_name_both_required_and_optional_fails_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match="'angle' is both required and optional"):

        class Bad(Service):
            opened = Event({"angle": int}, optional={"angle": int})


def test_two_attributes_declaring_one_wire_name_fail_at_class_definition() -> None:
    with pytest.raises(
        DefinitionError, match="attributes 'opened' and 'opened_again' both declare event 'opened'"
    ):

        class Bad(Service):
            opened = Event()
            opened_again = Event(name="opened")


# -- inheritance -----------------------------------------------------------------------------------
class SmartDoor(Door):
    opened = Event({"angle": int, "by": str}, kind="info")  # overrides Door.opened


def test_a_subclass_inherits_events_and_may_override_one() -> None:
    assert list(SmartDoor.spec.events) == ["opened", "doorJammed"]
    opened = SmartDoor.spec.events["opened"]
    assert opened.kind == "info" and opened.params["by"].required
    assert Door.spec.events["opened"].kind == "alert" and not Door.spec.events["opened"].params["by"].required


def test_an_override_under_another_wire_name_replaces_the_parents_event() -> None:
    class Renamed(Door):
        opened = Event({"angle": int}, name="doorOpened")

    assert sorted(Renamed.spec.events) == ["doorJammed", "doorOpened"]


def test_a_subclass_may_take_an_event_away() -> None:
    class Quiet(Door):
        jammed = None

    assert list(Quiet.spec.events) == ["opened"]


def test_an_overriding_event_checks_its_own_parameters() -> None:
    door = SmartDoor()
    with FakeCloud(door) as cloud:
        assert set(emit_errors(door.opened, angle=10)) == {"by"}
        door.opened(angle=500, by="alice")  # no range on the override
        assert [(e.event_type, dict(e.params)) for e in cloud.events] == [
            ("opened", {"angle": 500, "by": "alice"})
        ]


# -- emitting --------------------------------------------------------------------------------------
def test_an_emitted_event_reaches_the_cloud_with_its_parameters() -> None:
    door = Door()
    with FakeCloud(door) as cloud:
        door.opened(angle=90, by="alice")
        [event] = cloud.events
        assert (event.service_id, event.event_type, dict(event.params)) == (
            "door",
            "opened",
            {"angle": 90, "by": "alice"},
        )


def test_every_bad_missing_and_unknown_parameter_is_named_at_once_and_nothing_is_sent() -> None:
    door = Door()
    with FakeCloud(door) as cloud:
        before = len(cloud.messages)
        with pytest.raises(ValidationError, match="invalid event 'opened'") as info:
            door.opened(by=7, colour="red")
        errors = info.value.errors
        assert set(errors) == {"by", "colour", "angle"}
        assert "expected a string" in errors["by"]
        assert errors["colour"] == "unknown parameter (known: angle, by)"
        assert errors["angle"] == "required parameter is missing"
        assert "above the maximum 180" in emit_errors(door.opened, angle=181)["angle"]
        assert cloud.events == [] and len(cloud.messages) == before


def test_an_optional_parameter_may_be_left_out() -> None:
    door = Door()
    with FakeCloud(door) as cloud:
        door.opened(angle=45)
        assert [dict(e.params) for e in cloud.events] == [{"angle": 45}]


def test_a_value_is_converted_to_its_type_before_it_is_sent() -> None:
    door = Door()
    with FakeCloud(door) as cloud:
        door.opened(angle=45.0)
        [(_, payload)] = sent_events(cloud)
        assert payload["services"][0]["paras"] == {"angle": 45}
        assert type(payload["services"][0]["paras"]["angle"]) is int


def test_a_huawei_datetime_goes_out_in_wire_form() -> None:
    door = Door()
    at = _dt.datetime(2026, 12, 2, 17, 30, 45, tzinfo=_dt.timezone(_dt.timedelta(hours=1)))
    with FakeCloud(door) as cloud:
        door.jammed(at=at)
        [(topic, payload)] = sent_events(cloud)
        assert topic == "$oc/devices/fake-device/sys/events/up"
        assert payload == {
            "services": [
                {"service_id": "door", "event_type": "doorJammed", "paras": {"at": "20261202T163045Z"}}
            ]
        }
        assert cloud.events[0].params == {"at": "20261202T163045Z"}


def test_a_tencent_bool_and_a_datetime_go_out_in_wire_form() -> None:
    lock = Lock()
    at = _dt.datetime(2026, 12, 2, 16, 30, 45, tzinfo=_dt.timezone.utc)
    with FakeCloud(lock, vendor="tencent-explorer", device_id=TENCENT) as cloud:
        lock.changed(locked=True, at=at)
        lock.changed(locked=0, at="20261202T163046Z")
        posts = [p for _, p in sent_events(cloud)]
        assert [p["params"] for p in posts] == [
            {"locked": 1, "at": "20261202T163045Z"},
            {"locked": 0, "at": "20261202T163046Z"},
        ]
        assert "expected a boolean" in emit_errors(lock.changed, locked=2, at=at)["locked"]
        assert "naive datetime" in emit_errors(lock.changed, locked=True, at=at.replace(tzinfo=None))["at"]
        assert len(sent_events(cloud)) == 2


def test_emitting_on_a_service_not_attached_to_a_device_raises_not_attached() -> None:
    door = Door()
    with pytest.raises(NotAttached, match="Door is not attached to a device; cannot emit 'opened'"):
        door.opened(angle=10)


def test_emitting_after_the_device_let_the_service_go_raises_not_attached() -> None:
    door = Door()
    with FakeCloud(door) as cloud:
        door.opened(angle=10)
    with pytest.raises(NotAttached):
        door.opened(angle=20)
    assert len(cloud.events) == 1


def test_a_bad_value_on_an_unattached_service_is_still_a_validation_error() -> None:
    assert set(emit_errors(Door().opened, angle="wide")) == {"angle"}


# -- vendors without events ------------------------------------------------------------------------
def test_a_tencent_hub_fake_cloud_refuses_a_service_with_events_naming_them_and_the_vendor() -> None:
    door = Door()
    with pytest.raises(DefinitionError) as info:
        FakeCloud(door, vendor="tencent-hub", device_id=TENCENT)
    message = str(info.value)
    assert "Door declares events (opened, doorJammed)" in message
    assert "tencent-hub has no events" in message
    with FakeCloud(door) as cloud:  # the refusal left the service free
        door.opened(angle=1)
        assert len(cloud.events) == 1


def test_a_service_without_events_is_fine_on_tencent_hub() -> None:
    class Plain(Service):
        level = Property(int, default=0)

    with FakeCloud(Plain(), vendor="tencent-hub", device_id=TENCENT) as cloud:
        assert cloud.events == []
