"""``@command``: parameters taken from the signature, checked all at once, errors at definition."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from thingmodel import DefinitionError, Property, Service, ValidationError, command
from thingmodel.declare.command import CommandSpec
from thingmodel.types import Integer, String


class Buzzer(Service):
    service_id = "buzzer"
    volume = Property(int, default=0)

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 10) -> dict[str, int]:
        """Ring for ``duration`` seconds."""
        return {"rang": duration}

    @command
    def beep(self, times: int, tone: str = "A") -> None: ...

    @command("configure", params={"level": Integer(minimum=0, maximum=3)})
    def configure(self, level: int, label: Optional[str] = None) -> None:  # noqa: UP045 - the old spelling is supported
        ...

    @command("set", params={"mode": String(max_length=4)})
    def set_any(self, **options: Any) -> dict[str, Any]:
        return options

    @command("modern")
    def modern(self, name: str | None = None, tags: list[str] = []) -> None: ...  # noqa: B006


def spec(name: str) -> CommandSpec:
    return Buzzer.spec.commands[name]


def errors_of(name: str, params: object) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        spec(name).parse(params)
    return info.value.errors


def test_the_wire_name_is_given_or_the_method_name() -> None:
    assert set(Buzzer.spec.commands) == {"ringAlarm", "beep", "configure", "set", "modern"}
    assert spec("ringAlarm").attr == "ring_alarm"
    assert spec("beep").attr == "beep"


def test_the_description_defaults_to_the_docstring() -> None:
    assert spec("ringAlarm").description == "Ring for ``duration`` seconds."


def test_parameters_come_from_the_signature() -> None:
    ring = spec("ringAlarm").params["duration"]
    assert ring.type == Integer() and not ring.required and ring.default == 10
    assert spec("beep").params["times"].required
    assert spec("beep").params["tone"].type == String()


def test_a_missing_optional_parameter_is_left_to_the_method_default() -> None:
    assert spec("ringAlarm").parse({}) == {}
    assert spec("ringAlarm").parse(None) == {}


def test_parameters_are_converted_to_their_types() -> None:
    assert spec("ringAlarm").parse({"duration": 3.0}) == {"duration": 3}


def test_a_missing_required_parameter_is_refused() -> None:
    assert errors_of("beep", {}) == {"times": "required parameter is missing"}


def test_every_bad_parameter_is_reported_at_once() -> None:
    errors = errors_of("beep", {"times": "twice", "tone": 5, "colour": "red"})
    assert set(errors) == {"times", "tone", "colour"}
    assert "expected an integer" in errors["times"]
    assert "unknown parameter" in errors["colour"]


def test_a_parameter_called_self_is_an_unknown_parameter() -> None:
    assert "unknown parameter" in errors_of("ringAlarm", {"self": 1})["self"]


def test_params_add_constraints_to_a_parameter() -> None:
    assert spec("configure").parse({"level": 3}) == {"level": 3}
    assert "maximum 3" in errors_of("configure", {"level": 4})["level"]


def test_an_optional_annotation_gives_the_inner_type() -> None:
    assert spec("configure").parse({"level": 1, "label": "x"}) == {"level": 1, "label": "x"}
    assert "expected a string" in errors_of("configure", {"level": 1, "label": 7})["label"]
    assert "expected a string" in errors_of("modern", {"name": 7})["name"]
    assert "[0]" in errors_of("modern", {"tags": [1]})["tags"]


def test_an_optional_list_parameter_is_a_list_of_strings() -> None:
    class Tagger(Service):
        @command
        def tag(self, tags: Optional[list[str]] = None) -> None:  # noqa: UP045
            ...

    assert Tagger.spec.commands["tag"].parse({"tags": ["a", "b"]}) == {"tags": ["a", "b"]}


def test_a_parameterised_dict_annotation_is_a_json_object() -> None:
    class Store(Service):
        @command
        def save(self, data: dict[str, Any]) -> None: ...

    assert Store.spec.commands["save"].parse({"data": {"k": 1}}) == {"data": {"k": 1}}


def test_keyword_arguments_accept_extra_parameters_and_still_check_declared_ones() -> None:
    assert spec("set").parse({"mode": "eco", "anything": [1]}) == {"mode": "eco", "anything": [1]}
    assert "longer than max_length 4" in errors_of("set", {"mode": "turbo"})["mode"]


def test_parameters_that_are_not_an_object_are_refused() -> None:
    assert "expected an object" in errors_of("ringAlarm", [10])["paras"]


def test_an_unannotated_parameter_fails_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match="'duration' has no type"):

        class Loose(Service):
            @command
            def ring(self, duration=10):  # type: ignore[no-untyped-def]
                ...


def test_a_default_that_breaks_its_own_constraint_fails_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match="default of 'level'"):

        class Bad(Service):
            @command(params={"level": Integer(maximum=3)})
            def dim(self, level: int = 5) -> None: ...


def test_params_naming_a_missing_parameter_fail_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match="'speed'"):

        class Bad(Service):
            @command(params={"speed": Integer()})
            def go(self, distance: int) -> None: ...


def test_positional_only_and_star_args_fail_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match="passable by name"):

        class Positional(Service):
            @command
            def go(self, distance: int, /) -> None: ...

    with pytest.raises(DefinitionError, match="passable by name"):

        class Star(Service):
            @command
            def go(self, *distances: int) -> None: ...


def test_an_unsupported_parameter_type_fails_at_class_definition() -> None:
    with pytest.raises(DefinitionError, match="'data'"):

        class Bad(Service):
            @command
            def upload(self, data: bytes) -> None: ...
