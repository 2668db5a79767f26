"""``Service``: declarations checked once at class definition, inheritance, and the instance API."""

from __future__ import annotations

import pytest

from thingmodel import DefinitionError, NotAttached, Property, Service, ValidationError, command
from thingmodel.testing import FakeCloud


class SmokeDetector(Service):
    service_id = "smokeDetector"
    alarm = Property(int, writeable=True, minimum=0, maximum=1, default=0)
    smoke_concentration = Property(float, name="smokeConcentration", minimum=0, maximum=100)
    temperature = Property(float)
    humidity = Property(int, default=0)

    def __init__(self) -> None:
        self.alarms: list[int] = []

    def get_temperature(self) -> float:
        return 21.5

    def set_alarm(self, value: int) -> None:
        self.alarms.append(value)

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 10) -> dict[str, int]:
        return {"rang": duration}


# -- class and instance access ---------------------------------------------------------------------
def test_the_class_attribute_gives_the_property() -> None:
    assert isinstance(SmokeDetector.alarm, Property)
    assert SmokeDetector.smoke_concentration.name == "smokeConcentration"


def test_the_instance_attribute_gives_the_value() -> None:
    detector = SmokeDetector()
    assert detector.alarm == 0
    detector.alarm = 1
    assert detector.alarm == 1


def test_the_spec_lists_properties_in_declaration_order_with_their_accessors() -> None:
    spec = SmokeDetector.spec
    assert spec.service_id == "smokeDetector"
    assert [p.name for p in spec.properties] == ["alarm", "smokeConcentration", "temperature", "humidity"]
    assert spec.by_name["temperature"].getter is SmokeDetector.get_temperature
    assert spec.by_name["alarm"].setter is SmokeDetector.set_alarm
    assert spec.by_name["humidity"].getter is None
    assert list(spec.commands) == ["ringAlarm"]


def test_service_id_defaults_to_the_class_name() -> None:
    class Battery(Service):
        level = Property(int)

    assert Battery.service_id == "Battery"


def test_the_base_class_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError):
        Service()


def test_a_subclass_init_need_not_call_super() -> None:
    detector = SmokeDetector()  # its __init__ does not call Service.__init__
    assert FakeCloud(detector).desire({"alarm": 1}).ok
    assert detector.alarms == [1]


# -- errors at class definition --------------------------------------------------------------------
def test_a_getter_for_an_undeclared_property_fails_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match=r"get_temprature.*undeclared property 'temprature'"):

        class Typo(Service):
            temperature = Property(float)

            def get_temprature(self) -> float:
                return 1.0


def test_a_setter_for_an_undeclared_property_fails_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match="undeclared property 'volume'"):

        class Speaker(Service):
            level = Property(int, writeable=True)

            def set_volume(self, value: int) -> None: ...


def test_an_accessor_must_use_the_attribute_name_not_the_wire_name() -> None:
    with pytest.raises(DefinitionError, match="smokeConcentration"):

        class Detector(Service):
            smoke_concentration = Property(float, name="smokeConcentration")

            def get_smokeConcentration(self) -> float:
                return 1.0


def test_two_properties_with_one_wire_name_fail_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match=r"wire name 'level'"):

        class Tank(Service):
            level = Property(int)
            fill = Property(int, name="level")


def test_a_setter_for_a_read_only_property_fails_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match="read-only property 'humidity'"):

        class Sensor(Service):
            humidity = Property(int)

            def set_humidity(self, value: int) -> None: ...


def test_a_default_outside_its_range_fails_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match="default 5"):

        class Switch(Service):
            state = Property(int, minimum=0, maximum=1, default=5)


def test_a_default_of_the_wrong_type_fails_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match="default"):

        class Label(Service):
            text = Property(str, default=3)


@pytest.mark.parametrize("bad_id", ["a/b", "smoke+", "#", "", "x" * 129, "nul\0"])
def test_a_service_id_that_would_break_a_topic_fails_at_class_definition(bad_id: str) -> None:
    with pytest.raises(DefinitionError):

        class Bad(Service):
            service_id = bad_id
            level = Property(int)


def test_a_service_id_that_is_not_a_string_fails_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match="string"):

        class Numbered(Service):
            service_id = 7  # type: ignore[assignment]


def test_two_methods_declaring_one_command_fail_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match="'reboot'"):

        class Board(Service):
            @command("reboot")
            def reboot(self) -> None: ...

            @command("reboot")
            def restart(self) -> None: ...


def test_a_definition_error_is_a_type_error() -> None:
    assert issubclass(DefinitionError, TypeError)


# -- inheritance -----------------------------------------------------------------------------------
class Base(Service):
    service_id = "meter"
    reading = Property(int, writeable=True, default=0)

    def __init__(self) -> None:
        self.written: list[tuple[str, int]] = []

    def set_reading(self, value: int) -> None:
        self.written.append(("base", value))

    @command("reset")
    def reset(self) -> dict[str, str]:
        return {"by": "base"}


class Child(Base):
    unit = Property(str, default="m3")


class Override(Base):
    def set_reading(self, value: int) -> None:
        self.written.append(("override", value))

    @command("reset")
    def reset(self) -> dict[str, str]:
        return {"by": "override"}


def test_a_subclass_inherits_properties_accessors_commands_and_service_id() -> None:
    assert Child.service_id == "meter"
    assert [p.name for p in Child.spec.properties] == ["reading", "unit"]
    child = Child()
    cloud = FakeCloud(child)
    assert cloud.desire({"reading": 5}).ok
    assert child.written == [("base", 5)]
    assert cloud.command("reset").params == {"by": "base"}


def test_a_subclass_overrides_a_setter_and_a_command() -> None:
    meter = Override()
    cloud = FakeCloud(meter)
    assert cloud.desire({"reading": 5}).ok
    assert meter.written == [("override", 5)]
    assert cloud.command("reset").params == {"by": "override"}


def test_a_subclass_may_write_an_accessor_for_an_inherited_property() -> None:
    class Derived(Base):
        def get_reading(self) -> int:
            return 42

    assert Derived.spec.by_name["reading"].getter is Derived.get_reading


def test_a_subclass_redeclaring_a_property_uses_the_new_constraints() -> None:
    class Narrow(Base):
        reading = Property(int, writeable=True, minimum=0, maximum=9, default=0)

    meter = Narrow()
    ack = FakeCloud(meter).desire({"reading": 10})
    assert not ack.ok and "maximum 9" in ack.errors["reading"]


def test_a_subclass_replacing_a_property_with_a_plain_attribute_removes_it() -> None:
    class Plain(Child):
        unit = "litre"  # type: ignore[assignment]

    assert [p.name for p in Plain.spec.properties] == ["reading"]


def test_a_subclass_without_explicit_service_id_of_an_unnamed_service_uses_its_own_name() -> None:
    class Lamp(Service):
        on = Property(bool, writeable=True, default=False)

    class DimmableLamp(Lamp):
        brightness = Property(int, default=0)

    assert DimmableLamp.service_id == "DimmableLamp"


# -- instance API ----------------------------------------------------------------------------------
def test_update_assigns_several_properties_at_once() -> None:
    detector = SmokeDetector()
    detector.update(alarm=1, humidity=40)
    assert (detector.alarm, detector.humidity) == (1, 40)


def test_update_with_any_bad_value_assigns_nothing_and_names_every_problem() -> None:
    detector = SmokeDetector()
    with pytest.raises(ValidationError) as info:
        detector.update(alarm=1, humidity="wet", colour="red")
    assert set(info.value.errors) == {"humidity", "colour"}
    assert (detector.alarm, detector.humidity) == (0, 0)


def test_report_before_attaching_raises_not_attached() -> None:
    with pytest.raises(NotAttached):
        SmokeDetector().report()


def test_report_sends_the_named_properties_by_attribute_or_wire_name() -> None:
    detector = SmokeDetector()
    cloud = FakeCloud(detector)
    detector.smoke_concentration = 12.5
    detector.report("smoke_concentration", "alarm")
    detector.report("smokeConcentration")
    assert cloud.reports == [
        {"smokeDetector": {"smokeConcentration": 12.5, "alarm": 0}},
        {"smokeDetector": {"smokeConcentration": 12.5}},
    ]


def test_report_of_an_unknown_property_raises_key_error() -> None:
    detector = SmokeDetector()
    FakeCloud(detector)
    with pytest.raises(KeyError, match="colour"):
        detector.report("colour")


@pytest.mark.parametrize("period", [0, -5])
def test_a_non_positive_auto_report_period_is_refused(period: float) -> None:
    with pytest.raises(ValueError):
        SmokeDetector().enable_auto_report(period)


def test_auto_report_interval_shows_the_current_period() -> None:
    detector = SmokeDetector()
    assert detector.auto_report_interval is None
    detector.enable_auto_report(5)
    assert detector.auto_report_interval == 5.0
    detector.disable_auto_report()
    assert detector.auto_report_interval is None
