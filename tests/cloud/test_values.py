"""Typed text: KEY=VALUE and the console's fields read by the property's type."""

from __future__ import annotations

from pathlib import Path

import pytest

from thingmodel.cloud.values import model_json, parse_text, typed
from thingmodel.errors import InvalidValue
from thingmodel.model.product import ProductModel
from thingmodel.types import Boolean, Decimal, Enum, Integer, String

MODELS = Path(__file__).resolve().parents[2] / "models"


def test_a_string_property_takes_digits_as_text() -> None:
    assert parse_text("123", String()) == "123"
    assert parse_text("123", None, example="hall") == "123"


def test_numbers_and_booleans_read_by_their_type() -> None:
    assert parse_text("3", Integer()) == 3
    assert parse_text("2.5", Decimal()) == 2.5
    assert parse_text("4", None, example=1.5) == 4.0
    assert [parse_text(t, Boolean()) for t in ("yes", "off", "1", "false")] == [True, False, True, False]


def test_an_enum_takes_its_value_or_its_label() -> None:
    colors = Enum((0, 1, 2), base=Integer(), labels={0: "Red", 1: "Green", 2: "Blue"})
    assert parse_text("Green", colors) == 1
    assert parse_text("2", colors) == 2
    with pytest.raises(InvalidValue, match="not one of"):
        parse_text("7", colors)


def test_without_a_type_text_is_json_when_it_parses() -> None:
    assert parse_text("[1, 2]") == [1, 2]
    assert parse_text('"123"') == "123"
    assert parse_text("hello") == "hello"


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [("x", Integer(), "'x' is not an integer"), ("maybe", Boolean(), "'maybe' is not a boolean")],
)
def test_text_that_does_not_read_as_its_type_is_an_error_naming_it(
    text: str, kind: object, reason: str
) -> None:
    with pytest.raises(InvalidValue, match=reason):
        parse_text(text, kind)  # type: ignore[arg-type]


def test_typed_names_the_field_that_does_not_read() -> None:
    with pytest.raises(InvalidValue, match=r"^alarm: 'x' is not an integer"):
        typed(None, "s", {"alarm": "x"}, {"alarm": 0})


def test_the_model_of_a_file_keeps_ranges_labels_and_units() -> None:
    model = ProductModel.load(MODELS / "tencent" / "light.json")
    described = model_json(model)
    props = {p["name"]: p for p in described["services"][0]["properties"]}
    assert props["brightness"]["min"] == 0 and props["brightness"]["max"] == 100
    assert props["brightness"]["unit"] == "%"
    assert props["color"]["enum"][0] == {"value": 0, "label": "Red"}
    commands = described["services"][0]["commands"]
    assert commands[0]["name"] == "light_blink" and commands[0]["params"][0]["name"] == "time"


def test_without_a_model_the_types_come_from_the_values_seen() -> None:
    described = model_json(None, {"s": {"reported": {"n": 1, "name": "x", "on": True}, "desired": {}}})
    types = {p["name"]: p["type"] for p in described["services"][0]["properties"]}
    assert described["source"] == "seen values" and types == {
        "n": "integer",
        "name": "string",
        "on": "boolean",
    }
