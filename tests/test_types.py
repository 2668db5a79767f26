"""Value types: conversion of wire values, constraint checks and the reasons given for refusals."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thingmodel import InvalidValue
from thingmodel.types import (
    Array,
    Boolean,
    DateTime,
    Decimal,
    Enum,
    Integer,
    JsonObject,
    String,
    StringList,
    Struct,
    Timestamp,
    ValueType,
    resolve_type,
)

UTC = dt.timezone.utc


def refusal(value_type: ValueType, raw: Any) -> str:
    with pytest.raises(InvalidValue) as info:
        value_type.from_wire(raw)
    return str(info.value)


# -- Integer ---------------------------------------------------------------------------------------
def test_an_integer_accepts_whole_numbers_and_whole_floats() -> None:
    assert Integer().from_wire(7) == 7
    converted = Integer().from_wire(7.0)
    assert converted == 7 and type(converted) is int


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (True, "boolean"),
        ("1", "string"),
        (None, "null"),
        (1.5, "1.5"),
        ([1], "array"),
    ],
)
def test_an_integer_refuses_other_kinds_naming_what_it_got(raw: Any, words: str) -> None:
    reason = refusal(Integer(), raw)
    assert "expected an integer" in reason and words in reason


def test_an_integer_refuses_values_outside_its_range_naming_the_bound() -> None:
    assert refusal(Integer(minimum=0, maximum=1), 2) == "2 is above the maximum 1"
    assert refusal(Integer(minimum=0, maximum=1), -1) == "-1 is below the minimum 0"
    assert Integer(minimum=0, maximum=1).from_wire(1) == 1


def test_an_int_is_32_bit_and_a_long_64_bit() -> None:
    assert "does not fit" in refusal(Integer(), 2**31)
    assert Integer(name="long").from_wire(2**31) == 2**31
    assert "does not fit" in refusal(Integer(name="long"), 2**63)


def test_an_integer_step_counts_from_the_minimum() -> None:
    stepped = Integer(minimum=1, step=2)
    assert stepped.from_wire(5) == 5
    assert "step 2" in refusal(stepped, 4)


# -- Decimal ---------------------------------------------------------------------------------------
def test_a_decimal_accepts_integers_as_floats() -> None:
    value = Decimal().from_wire(25)
    assert value == 25.0 and type(value) is float


@pytest.mark.parametrize("raw", [float("nan"), float("inf"), float("-inf")])
def test_a_decimal_refuses_what_json_cannot_hold(raw: float) -> None:
    assert "finite" in refusal(Decimal(), raw)


@pytest.mark.parametrize("raw", [True, "1.5", None, {}])
def test_a_decimal_refuses_non_numbers(raw: Any) -> None:
    assert "expected a number" in refusal(Decimal(), raw)


def test_a_decimal_checks_its_range() -> None:
    assert refusal(Decimal(minimum=0, maximum=100), 100.5) == "100.5 is above the maximum 100"


def test_a_decimal_step_tolerates_binary_rounding() -> None:
    assert Decimal(step=0.1).from_wire(0.3) == pytest.approx(0.3)
    assert "step" in refusal(Decimal(step=0.5), 0.3)


# -- String, Boolean, Enum -------------------------------------------------------------------------
def test_a_string_longer_than_max_length_is_refused() -> None:
    assert String(max_length=3).from_wire("abc") == "abc"
    assert "longer than max_length 3" in refusal(String(max_length=3), "abcd")


def test_a_string_refuses_numbers() -> None:
    assert "expected a string" in refusal(String(), 5)


def test_a_boolean_accepts_true_false_and_0_1_only() -> None:
    assert Boolean().from_wire(True) is True
    assert Boolean().from_wire(0) is False
    assert Boolean().from_wire(1) is True
    assert "expected a boolean" in refusal(Boolean(), 2)
    assert "expected a boolean" in refusal(Boolean(), "true")


def test_an_enum_lists_the_allowed_values_when_refusing() -> None:
    colours = resolve_type(str, enum=["red", "green"])
    assert colours.from_wire("red") == "red"
    reason = refusal(colours, "blue")
    assert "'blue'" in reason and "'red'" in reason and "'green'" in reason


def test_an_enum_checks_the_type_of_its_base_first() -> None:
    levels = resolve_type(int, enum=[1, 2, 3])
    assert isinstance(levels, Enum)
    assert "expected an integer" in refusal(levels, "1")


# -- DateTime, Timestamp, JsonObject, StringList ---------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("20151212T121212Z", dt.datetime(2015, 12, 12, 12, 12, 12, tzinfo=UTC)),
        ("2015-12-12T12:12:12.500Z", dt.datetime(2015, 12, 12, 12, 12, 12, 500000, tzinfo=UTC)),
        ("2015-12-12T12:12:12Z", dt.datetime(2015, 12, 12, 12, 12, 12, tzinfo=UTC)),
    ],
)
def test_a_datetime_reads_the_huawei_utc_formats(raw: str, expected: dt.datetime) -> None:
    assert DateTime().from_wire(raw) == expected


def test_a_datetime_refuses_a_time_without_utc_marker() -> None:
    assert "20151212T121212Z" in refusal(DateTime(), "2015-12-12 12:12:12")


def test_a_datetime_is_written_in_utc_whatever_its_timezone() -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    assert DateTime().to_wire(dt.datetime(2015, 12, 12, 20, 12, 12, tzinfo=beijing)) == "20151212T121212Z"


def test_a_naive_datetime_is_refused_as_ambiguous() -> None:
    with pytest.raises(InvalidValue, match="naive"):
        DateTime().check(dt.datetime(2015, 12, 12, 12, 12, 12))


def test_a_timestamp_is_a_non_negative_whole_number() -> None:
    assert Timestamp().from_wire(1_700_000_000) == 1_700_000_000
    assert "not a valid timestamp" in refusal(Timestamp(), -1)
    assert "whole number" in refusal(Timestamp(), 1.5)


def test_a_json_object_accepts_any_object_and_nothing_else() -> None:
    assert JsonObject().from_wire({"color": "red", "size": 1}) == {"color": "red", "size": 1}
    assert "expected a JSON object" in refusal(JsonObject(), [1])


def test_a_string_list_names_every_bad_item_by_index() -> None:
    reason = refusal(StringList(max_length=2), ["ok", "long", 3])
    assert "[1]" in reason and "[2]" in reason
    assert "[0]" not in reason


# -- Struct and Array (Tencent) --------------------------------------------------------------------
def test_a_struct_reports_every_bad_and_unknown_member() -> None:
    point = Struct({"x": Integer(maximum=10), "y": Integer()})
    assert point.from_wire({"x": 1}) == {"x": 1}  # members may be left out
    reason = refusal(point, {"x": 11, "z": 0})
    assert "x: 11 is above the maximum 10" in reason
    assert "z: unknown member" in reason


def test_a_struct_writes_its_members_wire_forms() -> None:
    stamped = Struct({"at": DateTime()})
    when = dt.datetime(2015, 12, 12, tzinfo=UTC)
    assert stamped.to_wire({"at": when}) == {"at": "20151212T000000Z"}


def test_an_array_checks_its_length_and_each_item() -> None:
    numbers = Array(Integer(), max_items=2)
    assert numbers.from_wire([1, 2]) == [1, 2]
    assert "longer than 2" in refusal(numbers, [1, 2, 3])
    assert "[1]: expected an integer" in refusal(Array(Integer()), [1, "x"])


# -- resolve_type ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (int, Integer()),
        (float, Decimal()),
        (str, String()),
        (bool, Boolean()),
        (dict, JsonObject()),
        (list, StringList()),
        (dt.datetime, DateTime()),
        ("long", Integer(name="long")),
        ("decimal", Decimal()),
        ("string list", StringList()),
        ("jsonObject", JsonObject()),
        ("DateTime", DateTime()),
    ],
)
def test_python_types_and_vendor_names_resolve_to_value_types(spec: Any, expected: ValueType) -> None:
    assert resolve_type(spec) == expected


def test_constraints_are_carried_into_the_type() -> None:
    assert resolve_type(int, minimum=0, maximum=1) == Integer(minimum=0, maximum=1)
    assert resolve_type(str, max_length=8) == String(max_length=8)


@pytest.mark.parametrize(
    ("spec", "constraints"),
    [
        (int, {"max_length": 3}),
        (str, {"minimum": 1}),
        (bool, {"maximum": 1}),
        ("nonsense", {}),
        (bytes, {}),
        ("enum", {}),
        (int, {"enum": []}),
        (int, {"step": 0.5}),
        (Integer(), {"minimum": 0}),
    ],
)
def test_a_type_that_cannot_work_is_refused_when_declared(spec: Any, constraints: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        resolve_type(spec, **constraints)


def test_an_enum_whose_choices_do_not_fit_its_type_is_refused_when_declared() -> None:
    with pytest.raises((TypeError, ValueError)):
        resolve_type(int, enum=["a"])


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_every_int32_survives_the_wire(value: int) -> None:
    assert Integer().from_wire(Integer().to_wire(value)) == value


@given(st.integers(min_value=-100, max_value=100))
def test_a_ranged_integer_accepts_exactly_its_range(value: int) -> None:
    ranged = Integer(minimum=-10, maximum=10)
    if -10 <= value <= 10:
        assert ranged.from_wire(value) == value
    else:
        with pytest.raises(InvalidValue):
            ranged.from_wire(value)
