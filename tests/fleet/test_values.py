"""Value generators: parsing ``--value NAME=GEN``, the defaults by type, and what they produce."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest

from thingmodel import Property, Service
from thingmodel.errors import InvalidValue
from thingmodel.fleet.values import (
    Choice,
    Const,
    DeviceValues,
    Flip,
    Keep,
    Now,
    Numbers,
    default_gen,
    device_rng,
    parse_gen,
    plan_values,
)
from thingmodel.types import Boolean, DateTime, Decimal, Enum, Integer, String, Timestamp


class Thermostat(Service):
    service_id = "thermostat"
    temperature = Property(float, minimum=-10, maximum=40)
    level = Property(int, minimum=0, maximum=10, step=2)
    on = Property(bool)
    mode = Property(str, enum=["auto", "eco", "off"])
    label = Property(str, max_length=3)
    since = Property("datetime")
    measured = Property(float, name="measuredValue")
    read = Property(float)

    def get_read(self) -> float:
        return 1.0


class Fan(Service):
    service_id = "fan"
    level = Property(int, minimum=0, maximum=3)


def take(gen: object, count: int = 200, seed: int = 1) -> list[object]:
    stream = gen.stream(random.Random(seed))  # type: ignore[attr-defined]
    assert stream is not None
    return list(itertools.islice(stream, count))


def test_walk_stays_within_its_bounds_and_moves() -> None:
    values = take(parse_gen("walk:20:30", Decimal(minimum=-10, maximum=40)))
    assert all(20 <= v <= 30 for v in values)  # type: ignore[operator]
    assert len(set(values)) > 100


def test_walk_of_an_integer_with_a_step_gives_multiples_of_the_step_from_the_minimum() -> None:
    values = take(parse_gen("walk:1:9", Integer(minimum=1, maximum=11, step=2)))
    assert set(values) <= {1, 3, 5, 7, 9}
    assert all(isinstance(v, int) for v in values)
    assert len(set(values)) > 2


def test_uniform_draws_within_its_bounds() -> None:
    values = take(parse_gen("uniform:0:1", Decimal()))
    assert all(0 <= v <= 1 for v in values)  # type: ignore[operator]


def test_choice_reads_each_value_by_the_property_type() -> None:
    assert parse_gen("choice:auto,eco", Enum(("auto", "eco", "off"))) == Choice(("auto", "eco"))
    assert parse_gen("choice:1,2", Integer()) == Choice((1, 2))
    assert set(take(parse_gen("choice:1,2", Integer()))) == {1, 2}


def test_const_is_read_by_the_property_type() -> None:
    assert parse_gen("const:3", Integer()) == Const(3)
    assert parse_gen("const:3", String()) == Const("3")
    assert parse_gen("const:yes", Boolean()) == Const(True)
    assert take(Const(3), 3) == [3, 3, 3]


def test_flip_alternates_and_a_probability_flips_some_of_the_time() -> None:
    values = take(parse_gen("flip", Boolean()), 10)
    assert all(a != b for a, b in itertools.pairwise(values))
    rare = take(parse_gen("flip:0.1", Boolean()), 1000)
    flips = sum(a != b for a, b in itertools.pairwise(rare))
    assert 0 < flips < 500


def test_now_gives_an_aware_datetime_or_whole_seconds() -> None:
    (when,) = take(parse_gen("now", DateTime()), 1)
    assert isinstance(when, dt.datetime) and when.tzinfo is not None
    (seconds,) = take(parse_gen("now", Timestamp()), 1)
    assert isinstance(seconds, int)


def test_keep_makes_no_stream() -> None:
    assert parse_gen("keep", Integer()) == Keep()
    assert Keep().stream(random.Random(1)) is None


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [
        ("walk:20:300", Decimal(minimum=0, maximum=100), "300.0 is above the maximum 100"),
        ("walk:30:20", Decimal(), "LOW 30 is above HIGH 20"),
        ("walk:a:2", Decimal(), "a bound 'a' is not a number"),
        ("walk:1", Decimal(), "walk takes two bounds: walk:LOW:HIGH"),
        ("walk:1:2", String(), "walk is for numbers, not string"),
        ("walk:1:1", Integer(minimum=0, step=5), "no multiple of the step 5 lies in [1, 1]"),
        ("choice:auto,cool", Enum(("auto", "eco")), "'cool' is not one of 'auto', 'eco'"),
        ("choice:", Integer(), "choice needs values"),
        ("const:x", Integer(), "'x' is not an integer"),
        ("flip", Integer(), "flip is for booleans"),
        ("flip:2", Boolean(), "the probability '2' must be in (0, 1]"),
        ("now", Integer(), "now is for DateTime and timestamp properties"),
        ("gauss:1:2", Decimal(), "'gauss:1:2' is not a generator"),
    ],
)
def test_a_generator_that_does_not_fit_the_property_is_refused_naming_why(
    text: str, kind: object, reason: str
) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_gen(text, kind)  # type: ignore[arg-type]
    assert reason in str(caught.value)


def spec(name: str) -> object:
    return Thermostat.spec.by_name[name]


def test_defaults_follow_the_declared_type_and_range() -> None:
    assert default_gen(spec("temperature")) == Numbers(-10.0, 40.0, origin=-10.0)  # type: ignore[arg-type]
    level = default_gen(spec("level"))  # type: ignore[arg-type]
    assert set(take(level)) <= {0, 2, 4, 6, 8, 10}
    assert default_gen(spec("on")) == Flip()  # type: ignore[arg-type]
    assert default_gen(spec("mode")) == Choice(("auto", "eco", "off"))  # type: ignore[arg-type]
    assert all(len(v) <= 3 for v in take(default_gen(spec("label"))))  # type: ignore[arg-type]
    assert default_gen(spec("since")) == Now()  # type: ignore[arg-type]
    assert default_gen(spec("measuredValue")) == Numbers(0.0, 100.0)  # type: ignore[arg-type]


def test_a_property_with_a_getter_is_left_to_its_getter() -> None:
    assert default_gen(spec("read")) == Keep()  # type: ignore[arg-type]


def test_every_default_value_passes_the_property_check() -> None:
    (plan,) = plan_values([Thermostat], {})
    values = DeviceValues([plan], device_rng(7, 0))
    for _ in range(100):
        Thermostat().update(**values.next(0))  # raises ValidationError on a value out of range


def test_overrides_replace_the_default_by_wire_or_attribute_name() -> None:
    (plan,) = plan_values([Thermostat], {"measuredValue": "const:1.5", "mode": "choice:eco"})
    gens = dict(plan.gens)
    assert gens["measured"] == Const(1.5)
    assert gens["mode"] == Choice(("eco",))
    (plan,) = plan_values([Thermostat], {"measured": "keep"})
    assert "measured" not in dict(plan.gens)


def test_an_unknown_property_in_value_is_one_error_naming_the_argument_and_the_known_ones() -> None:
    with pytest.raises(InvalidValue) as caught:
        plan_values([Fan], {"speed": "const:1"})
    assert str(caught.value) == "--value speed=const:1: no property 'speed' (fan: level)"


def test_a_bad_generator_names_the_argument() -> None:
    with pytest.raises(InvalidValue) as caught:
        plan_values([Fan], {"level": "walk:0:9"})
    assert str(caught.value) == "--value level=walk:0:9: 9 is above the maximum 3"


def test_a_name_in_two_services_needs_the_service_and_then_works() -> None:
    with pytest.raises(InvalidValue) as caught:
        plan_values([Thermostat, Fan], {"level": "const:1"})
    assert "in several services (thermostat, fan): write SERVICE.level" in str(caught.value)
    _, fan = plan_values([Thermostat, Fan], {"fan.level": "const:1"})
    assert dict(fan.gens)["level"] == Const(1)


def test_the_same_seed_and_index_give_the_same_values_and_another_index_others() -> None:
    plans = plan_values([Thermostat], {})

    def run(seed: int, index: int) -> list[dict[str, object]]:
        values = DeviceValues(plans, device_rng(seed, index))
        return [{k: v for k, v in values.next(0).items() if k != "since"} for _ in range(5)]

    assert run(3, 10) == run(3, 10)
    assert run(3, 10) != run(3, 11)
    assert run(3, 10) != run(4, 10)
