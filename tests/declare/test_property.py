"""``Property``: the descriptor a service declares, its class/instance access and assignment checks."""

from __future__ import annotations

import pytest

from thingmodel import InvalidValue, Property, Service
from thingmodel.testing import FakeCloud
from thingmodel.types import Decimal, Integer


class Thermostat(Service):
    service_id = "thermostat"
    target = Property(float, writeable=True, minimum=5, maximum=30, default=20.0)
    mode = Property(str, enum=["heat", "cool"], default="heat", writeable=True)
    room_temperature = Property(float, name="roomTemperature")
    level = Property(int, minimum=0, maximum=10, default=0, report_on_change=True)


def test_on_the_class_the_attribute_is_the_property() -> None:
    prop = Thermostat.target
    assert isinstance(prop, Property)
    assert prop.name == "target" and prop.attr == "target"
    assert prop.writeable
    assert prop.type == Decimal(minimum=5.0, maximum=30.0)


def test_on_an_instance_the_attribute_is_the_value() -> None:
    assert Thermostat().target == 20.0


def test_the_wire_name_defaults_to_the_attribute_name_and_can_be_set() -> None:
    assert Thermostat.room_temperature.name == "roomTemperature"
    assert Thermostat.room_temperature.attr == "room_temperature"
    assert Thermostat.level.name == "level"


def test_a_property_is_read_only_unless_declared_writeable() -> None:
    assert not Thermostat.room_temperature.writeable


def test_a_property_without_default_reads_as_none() -> None:
    assert Thermostat().room_temperature is None


def test_an_assignment_is_checked_against_the_type_and_names_the_property() -> None:
    thermostat = Thermostat()
    with pytest.raises(InvalidValue, match=r"Thermostat\.target: .*above the maximum"):
        thermostat.target = 31
    assert thermostat.target == 20.0


def test_an_assignment_of_the_wrong_type_is_refused() -> None:
    thermostat = Thermostat()
    with pytest.raises(InvalidValue, match="expected a number"):
        thermostat.target = "warm"  # type: ignore[assignment]
    with pytest.raises(InvalidValue, match="is not one of"):
        thermostat.mode = "dry"


def test_an_assignment_is_converted_to_the_property_type() -> None:
    thermostat = Thermostat()
    thermostat.target = 22
    assert thermostat.target == 22.0 and type(thermostat.target) is float


def test_device_code_may_assign_a_read_only_property() -> None:
    thermostat = Thermostat()
    thermostat.room_temperature = 21.5
    assert thermostat.room_temperature == 21.5


def test_instances_keep_their_own_values() -> None:
    first, second = Thermostat(), Thermostat()
    first.target = 25.0
    assert second.target == 20.0


def test_a_mutable_default_is_never_shared_between_instances() -> None:
    try:

        class Tagged(Service):
            tags = Property(list, writeable=True, default=[])

    except (TypeError, ValueError):
        return  # refusing a mutable default at declaration also prevents sharing it
    first, second = Tagged(), Tagged()
    first.tags.append("kitchen")
    assert second.tags == []


def test_invalid_value_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Thermostat().level = 11


def test_constraints_that_do_not_fit_the_type_fail_at_declaration() -> None:
    with pytest.raises(TypeError, match="max_length"):
        Property(int, max_length=3)
    with pytest.raises(TypeError, match="unknown property type"):
        Property("colour")


def test_a_value_type_can_be_given_directly() -> None:
    prop: Property[int] = Property(Integer(minimum=1, name="long"))
    assert prop.type == Integer(minimum=1, name="long")


def test_a_report_on_change_property_is_reported_when_an_assignment_changes_it() -> None:
    thermostat = Thermostat()
    cloud = FakeCloud(thermostat)
    thermostat.level = 3
    assert cloud.reports == [{"thermostat": {"level": 3}}]
    assert cloud.reported["thermostat"]["level"] == 3


def test_assigning_the_same_value_again_sends_no_report() -> None:
    thermostat = Thermostat()
    cloud = FakeCloud(thermostat)
    thermostat.level = 3
    thermostat.level = 3
    assert len(cloud.reports) == 1


def test_a_property_without_report_on_change_is_not_reported_on_assignment() -> None:
    thermostat = Thermostat()
    cloud = FakeCloud(thermostat)
    thermostat.target = 25.0
    assert cloud.reports == []


def test_a_report_on_change_property_needs_no_device_to_be_assigned() -> None:
    thermostat = Thermostat()
    thermostat.level = 4
    assert thermostat.level == 4
