"""Product models: every real file loads and builds a working class; check() finds each mistake."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thingmodel import ModelError, Property, Service, command
from thingmodel.product_model import ProductModel
from thingmodel.testing import FakeCloud
from thingmodel.types import Array, Boolean, Decimal, Enum, Integer, String, Struct, Timestamp

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models"
SHARED = ROOT.parent / "shared" / "models"
SMOKE_ZIP = SHIPPED / "huawei" / "smokeDetector_cb097d20d77b4240adf1f33d36b3c278_smokeDetector.zip"
V5 = ROOT / "tests" / "fixtures" / "models" / "v5_temperature.json"


def model_files(folder: Path) -> list[Path]:
    files = [
        p
        for p in folder.rglob("*")
        if p.suffix in (".json", ".zip")
        and "devicetype" not in p.name
        and "legacy_smoke_lwm2m" not in p.parts
    ]
    if (folder / "huawei" / "legacy_smoke_lwm2m").is_dir():
        files.append(folder / "huawei" / "legacy_smoke_lwm2m")
    return sorted(files)


ALL = model_files(SHIPPED) + (model_files(SHARED) if SHARED.is_dir() else []) + [V5]


class SmokeDetector(Service):
    service_id = "smokeDetector"
    alarm = Property(int, writeable=True, minimum=0, maximum=1)
    smoke_concentration = Property(float, name="smokeConcentration", minimum=0, maximum=100)
    temperature = Property(float)
    humidity = Property(int, default=0)

    def get_temperature(self) -> float:
        return 21.0

    def set_alarm(self, value: int) -> None:
        pass

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 10) -> dict[str, int]:
        return {"rang": duration}


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_model_file_loads_and_builds_a_working_class_for_each_service(path: Path) -> None:
    model = ProductModel.load(path)
    assert model.services
    for service_id, service in model.services.items():
        cls = model.service_class(service_id)
        assert cls.service_id == service_id
        assert model.check(cls) == []
        cloud = FakeCloud(cls())
        writeable = [p for p in service.properties if p.writeable and isinstance(p.type, (Integer, Boolean))]
        if writeable:
            prop = writeable[0]
            value = True if isinstance(prop.type, Boolean) else (prop.type.minimum or 0)
            assert cloud.desire({prop.name: value}).ok
            assert cloud.read()[prop.name] == value
        for cmd in service.commands:
            if cmd.params:
                bad = cloud.command(cmd.name, {cmd.params[0].name: [1, 2]})  # no model type is a list of ints
                assert bad.code != 0 and cmd.params[0].name in bad.paras["error"]


def test_the_shared_folder_holds_both_huawei_dialects_and_three_tencent_templates() -> None:
    if not SHARED.is_dir():
        pytest.skip("shared/models is not beside the project")
    dialects = [ProductModel.load(p).dialect for p in model_files(SHARED)]
    assert dialects.count("tencent data template") == 3
    assert "huawei console" in dialects
    assert ProductModel.load(V5).dialect == "huawei v5"


def test_the_smoke_detector_model_reads_as_the_reference_says() -> None:
    service = ProductModel.load(SMOKE_ZIP).services["smokeDetector"]
    alarm = service.property("alarm")
    assert alarm is not None and alarm.writeable and alarm.type == Integer(0, 1, name="int")
    assert service.property("smokeConcentration").type == Decimal(0.0, 100.0)  # type: ignore[union-attr]
    assert not service.property("humidity").writeable  # type: ignore[union-attr]
    (ring,) = service.commands
    assert ring.name == "ringAlarm" and ring.params[0].name == "duration" and not ring.params[0].required


def test_the_v5_dialect_reads_snake_case_with_commands_responses_and_events() -> None:
    service = ProductModel.load(V5).services["temperature"]
    assert service.property("temperature").type == Decimal(1.0, 100.0, 0.1)  # type: ignore[union-attr]
    assert service.property("temperature").unit == "centigrade"  # type: ignore[union-attr]
    (reboot,) = service.commands
    assert reboot.params[0].type == String(max_length=100) and reboot.responses[0].name == "result"
    assert service.events == ("reboot",)


def test_tencent_types_map_onto_value_types() -> None:
    light = ProductModel.load(SHIPPED / "tencent" / "light.json").services["U7D5MBSDYB"]
    assert light.property("power_switch").type == Boolean(name="bool")  # type: ignore[union-attr]
    color = light.property("color").type  # type: ignore[union-attr]
    assert isinstance(color, Enum) and color.choices == (0, 1, 2)
    assert isinstance(light.property("position").type, Struct)  # type: ignore[union-attr]
    arrays = ProductModel.load(SHIPPED / "tencent" / "struct_array.json").services
    (service,) = arrays.values()
    assert service.property("arrInt").type == Array(Integer(0, 100))  # type: ignore[union-attr]
    struct = service.property("struct").type  # type: ignore[union-attr]
    assert isinstance(struct, Struct) and struct.fields["time_param"] == Timestamp()


def test_a_tencent_action_becomes_a_command_with_checked_parameters() -> None:
    model = ProductModel.load(SHIPPED / "tencent" / "light.json")
    cls = model.service_class()
    cloud = FakeCloud(cls())
    missing = cloud.command("light_blink", {})
    assert missing.code != 0 and "required parameter is missing" in missing.paras["error"]


def test_the_hand_written_smoke_detector_passes_the_check() -> None:
    assert ProductModel.load(SMOKE_ZIP).check(SmokeDetector) == []


def test_a_class_built_from_the_model_passes_the_check_and_works() -> None:
    model = ProductModel.load(SMOKE_ZIP)
    cls = model.service_class("smokeDetector")
    assert model.check(cls) == []
    cloud = FakeCloud(cls())
    assert cloud.desire({"alarm": 1}).ok and cloud.reported["smokeDetector"]["alarm"] == 1
    assert not cloud.desire({"alarm": 2}).ok


def test_an_unimplemented_command_of_a_built_class_fails_with_a_hint_and_a_subclass_implements_it() -> None:
    base = ProductModel.load(SMOKE_ZIP).service_class("smokeDetector")
    answer = FakeCloud(base()).command("ringAlarm", {"duration": 3})
    assert answer.code != 0 and "has no implementation: subclass" in answer.paras["error"]

    class Mine(base):  # type: ignore[valid-type, misc]
        def ring_alarm(self, **paras: Any) -> dict[str, Any]:
            return {"rang": paras.get("duration", 10)}

    assert Mine.service_id == "smokeDetector"
    answer = FakeCloud(Mine()).command("ringAlarm", {"duration": 3})
    assert answer.ok and answer.paras == {"rang": 3}


def test_a_deliberately_wrong_class_yields_one_problem_per_mistake() -> None:
    class Wrong(Service):
        service_id = "smokeDetector"
        alarm = Property(int, minimum=0, maximum=5)  # TM004 (max 5 > 1) and TM005 (read-only)
        smoke_concentration = Property(str, name="smokeConcentration")  # TM003
        temperature = Property(float)
        volume = Property(int)  # TM002
        # humidity missing: TM001

        @command("ringAlarm")
        def ring_alarm(self, seconds: int) -> None:  # TM008 twice: duration missing, seconds extra
            pass

        @command("selfTest")
        def self_test(self) -> None:  # TM007
            pass

    problems = ProductModel.load(SMOKE_ZIP).check(Wrong)
    assert sorted(p.id for p in problems) == [
        "TM001",
        "TM002",
        "TM003",
        "TM004",
        "TM005",
        "TM007",
        "TM008",
        "TM008",
    ]
    assert all(p.message and p.hint for p in problems)


def test_a_missing_command_and_an_unknown_service_are_reported() -> None:
    class NoCommand(Service):
        service_id = "smokeDetector"
        alarm = Property(int, writeable=True)
        smoke_concentration = Property(float, name="smokeConcentration")
        temperature = Property(float)
        humidity = Property(int)

    class Elsewhere(Service):
        service_id = "fridge"

    model = ProductModel.load(SMOKE_ZIP)
    assert [p.id for p in model.check(NoCommand)] == ["TM006"]
    assert [p.id for p in model.check(Elsewhere)] == ["TM009"]


# -- broken files ----------------------------------------------------------------------------
def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_invalid_json_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", b'{"services": [\n  {"serviceType": }\n]}')
    with pytest.raises(ModelError, match=r"broken\.json, line 2 column 19: invalid JSON: Expecting value"):
        ProductModel.load(path)


def test_an_unknown_data_type_names_the_json_location(tmp_path: Path) -> None:
    data = json.loads((SHIPPED / "huawei" / "smokeDetector.servicetype-capability.json").read_text())
    data["services"][0]["properties"][2]["dataType"] = "quaternion"
    path = write(tmp_path, "bad.json", json.dumps(data).encode())
    with pytest.raises(
        ModelError,
        match=r"bad\.json, services\[0\]\.properties\[2\]\.dataType: unknown data "
        r"type 'quaternion'",
    ):
        ProductModel.load(path)


def test_a_non_numeric_bound_names_the_json_location(tmp_path: Path) -> None:
    data = json.loads((SHIPPED / "tencent" / "light.json").read_text())
    data["properties"][2]["define"]["max"] = "lots"
    with pytest.raises(ModelError, match=r"properties\[2\]\.define\.max: 'lots' is not a number"):
        ProductModel.load(write(tmp_path, "light.json", json.dumps(data).encode()))


def test_a_zip_without_a_service_file_and_an_empty_folder_are_clear_errors(tmp_path: Path) -> None:
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("profile/devicetype-capability.json", "{}")
    with pytest.raises(ModelError, match=r"empty\.zip: no servicetype-capability\.json in the archive"):
        ProductModel.load(archive)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ModelError, match=r"nothing: no servicetype-capability\.json inside"):
        ProductModel.load(tmp_path / "nothing")


def test_non_utf8_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not UTF-8"):
        ProductModel.load(write(tmp_path, "latin.json", b'{"services": "\xe9"}'))
    with pytest.raises(ModelError, match="cannot read it"):
        ProductModel.load(tmp_path / "absent.json")


SOURCES = [
    SHIPPED / "huawei" / "smokeDetector.servicetype-capability.json",
    SHIPPED / "tencent" / "light.json",
    SHIPPED / "tencent" / "struct_array.json",
    V5,
]


def mutate(node: Any, rng: Any, replacement: Any) -> Any:
    if isinstance(node, dict) and node:
        key = rng.choice(sorted(node))
        roll = rng.random()
        if roll < 0.25:
            return {k: v for k, v in node.items() if k != key}
        if roll < 0.5:
            return {**node, key: replacement}
        return {**node, key: mutate(node[key], rng, replacement)}
    if isinstance(node, list) and node:
        index = rng.randrange(len(node))
        return [mutate(v, rng, replacement) if i == index else v for i, v in enumerate(node)]
    return replacement


@given(
    source=st.sampled_from(SOURCES),
    rng=st.randoms(use_true_random=False),
    replacement=st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=5),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    ),
    cut=st.integers(min_value=0, max_value=4000),
)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_mutated_model_files_raise_model_error_or_load(
    tmp_path: Path, source: Path, rng: Any, replacement: Any, cut: int
) -> None:
    data = json.loads(source.read_text())
    raw = json.dumps(mutate(data, rng, replacement)).encode()
    for attempt, payload in enumerate((raw, raw[:cut])):
        path = tmp_path / f"mutant{attempt}.json"
        path.write_bytes(payload)
        try:
            model = ProductModel.load(path)
        except ModelError as exc:
            assert str(path) in str(exc)
            continue
        for service_id in model.services:
            try:
                model.service_class(service_id)
            except Exception as exc:  # a model that loads must build, or say why as a definition error
                assert type(exc).__name__ == "DefinitionError", repr(exc)
