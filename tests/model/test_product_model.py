"""Product models: every real file loads and builds a working class; check() finds each mistake;
a broken file raises ModelError naming the place."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thingmodel import Event, ModelError, Property, Service, command
from thingmodel.errors import InvalidValue, ValidationError
from thingmodel.model import EventModel, ProductModel, ServiceModel, build
from thingmodel.model.checks import (
    check_commands,
    check_events,
    check_properties,
    check_service,
    type_expression,
)
from thingmodel.protocol import messages as ev
from thingmodel.testing import FakeCloud
from thingmodel.types import (
    Array,
    Boolean,
    DateTime,
    Decimal,
    Enum,
    IntBoolean,
    Integer,
    JsonObject,
    String,
    StringList,
    Struct,
    Timestamp,
    ValueType,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "models"
SMOKE_ZIP = SHIPPED / "huawei" / "smokeDetector_cb097d20d77b4240adf1f33d36b3c278_smokeDetector.zip"
SMOKE_JSON = SHIPPED / "huawei" / "smokeDetector.servicetype-capability.json"
LIGHT = SHIPPED / "tencent" / "light.json"
STRUCT_ARRAY = SHIPPED / "tencent" / "struct_array.json"
V5 = ROOT / "tests" / "fixtures" / "models" / "v5_temperature.json"
DOOR = ROOT / "tests" / "fixtures" / "models" / "doorSensor.servicetype-capability.json"
LEGACY = SHARED / "huawei" / "legacy_smoke_lwm2m"


def model_paths(folder: Path) -> list[Path]:
    """Every model file in a folder, and every folder holding an extracted Huawei export."""
    if not folder.is_dir():
        return []
    files = [p for p in folder.rglob("*") if p.suffix in (".json", ".zip")]
    layouts = [p.parent.parent for p in folder.rglob("profile/devicetype-capability.json")]
    return sorted(files + layouts)


ALL_MODELS = [*model_paths(SHIPPED), *model_paths(SHARED), V5, DOOR]


def label(path: Path) -> str:
    return str(path.relative_to(path.parents[1]))


def sample(value_type: ValueType) -> Any:
    """A wire value the type accepts."""
    if isinstance(value_type, Enum):
        return value_type.choices[-1]
    if isinstance(value_type, (Integer, Decimal)):
        return value_type.maximum if value_type.maximum is not None else 7
    if isinstance(value_type, String):
        return "ok"[: value_type.max_length]
    if isinstance(value_type, Struct):
        return {name: sample(member) for name, member in value_type.fields.items()}
    if isinstance(value_type, Array):
        return [sample(value_type.item)]
    simple: dict[type, Any] = {
        Boolean: True,
        IntBoolean: 1,
        DateTime: "20240102T030405Z",
        Timestamp: 1_700_000_000,
        JsonObject: {"a": 1},
        StringList: ["ok"],
    }
    return simple[type(value_type)]


def refused(value_type: ValueType) -> Any:
    """A wire value the type refuses."""
    for candidate in ("not this", 12345):
        try:
            value_type.from_wire(candidate)
        except InvalidValue:
            return candidate
    raise AssertionError(f"{value_type} accepts everything")


def as_read(value_type: ValueType, wire: Any) -> Any:
    return value_type.to_wire(value_type.from_wire(wire))


class SmokeDetector(Service):
    """The README's hand-written class."""

    service_id = "smokeDetector"
    alarm = Property(int, writeable=True, minimum=0, maximum=1)
    smoke_concentration = Property(float, name="smokeConcentration", minimum=0, maximum=100)
    temperature = Property(float)
    humidity = Property(int, default=0)

    def get_temperature(self) -> float:
        return 21.5

    def set_alarm(self, value: int) -> None:
        self.rang = value

    @command("ringAlarm")
    def ring_alarm(self, duration: int = 10) -> dict[str, int]:
        return {"rang": duration}


class DoorBase(Service):
    """The door sensor fixture's properties and command, hand-written, without its events."""

    service_id = "doorSensor"
    door_state = Property(str, name="doorState", enum=["OPEN", "CLOSED"], default="CLOSED")
    open_count = Property("long", name="openCount", minimum=0, maximum=1_000_000, default=0)

    @command("resetCounter")
    def reset_counter(self) -> None:
        self.open_count = 0


class DoorSensor(DoorBase):
    """The door sensor with the fixture's two events, as a user writes them."""

    door_forced = Event(
        {"force": Decimal(minimum=0, maximum=100)},
        optional={"zone": String(max_length=32)},
        name="doorForced",
    )
    battery_low = Event({"level": Integer(minimum=0, maximum=100)}, name="batteryLow")


# -- every real model ------------------------------------------------------------------------
@pytest.mark.parametrize("path", ALL_MODELS, ids=label)
def test_every_model_loads_and_each_service_builds_a_class_that_passes_its_own_check(path: Path) -> None:
    model = ProductModel.load(path)
    assert model.services
    for service_id in model.services:
        cls = model.service_class(service_id)
        assert cls.service_id == service_id
        assert model.check(cls) == []


@pytest.mark.parametrize("path", ALL_MODELS, ids=label)
def test_every_built_class_reads_writes_checks_commands_and_emits_events_through_fake_cloud(
    path: Path,
) -> None:
    model = ProductModel.load(path)
    for service_id, service in model.services.items():
        instance = model.service_class(service_id)()
        cloud = FakeCloud(instance)
        readonly = [p for p in service.properties if not p.writeable]
        for prop in readonly:
            setattr(instance, type(instance).spec.by_name[prop.name].attr, sample(prop.type))
        writeable = {p.name: sample(p.type) for p in service.properties if p.writeable}
        if writeable:
            ack = cloud.desire(writeable)
            assert ack.ok, ack.errors
        expected = {p.name: as_read(p.type, sample(p.type)) for p in service.properties}
        assert cloud.read() == expected
        for cmd in service.commands:
            answer = cloud.command(cmd.name, {p.name: sample(p.type) for p in cmd.params})
            assert answer.code != 0 and "is not implemented" in answer.params["error"]
            if cmd.params:
                bad = cloud.command(cmd.name, {cmd.params[0].name: refused(cmd.params[0].type)})
                assert bad.code != 0 and f"{cmd.params[0].name}: " in bad.params["error"]
        for event in service.events:
            emit = getattr(instance, type(instance).spec.events[event.name].attr)
            emit(**{p.name: sample(p.type) for p in event.params})
            params = {p.name: as_read(p.type, sample(p.type)) for p in event.params}
            assert cloud.events[-1] == ev.EventUp(cloud.device_id, service_id, event.name, params)


def test_the_shared_folder_holds_huawei_console_exports_and_three_tencent_templates() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    dialects = [ProductModel.load(p).dialect for p in model_paths(SHARED)]
    assert dialects.count("tencent data template") == 3
    assert dialects.count("huawei console") == len(dialects) - 3
    assert len(ProductModel.load(LEGACY).services) == 8


# -- reading Huawei --------------------------------------------------------------------------
def test_the_smoke_detector_model_reads_as_the_reference_describes_it() -> None:
    service = ProductModel.load(SMOKE_ZIP).services["smokeDetector"]
    alarm, smoke, temperature, humidity = service.properties
    assert (alarm.name, alarm.type, alarm.writeable, alarm.required) == ("alarm", Integer(0, 1), True, True)
    assert (smoke.type, smoke.writeable) == (Decimal(0.0, 100.0), False)
    assert temperature.type == Decimal(-30.0, 100.0)
    assert humidity.type == Integer(0, 65535) and not humidity.writeable
    (ring,) = service.commands
    assert ring.name == "ringAlarm" and [(p.name, p.type, p.required) for p in ring.params] == [
        ("duration", Integer(0, 65535), False)
    ]


def test_the_zip_its_extracted_folder_and_its_json_files_hold_the_same_model(tmp_path: Path) -> None:
    with zipfile.ZipFile(SMOKE_ZIP) as archive:
        archive.extractall(tmp_path / "export")
    nested = tmp_path / "export" / SMOKE_ZIP.stem
    device_file = SHIPPED / "huawei" / "smokeDetector.devicetype-capability.json"
    loaded = [ProductModel.load(p).services for p in (SMOKE_ZIP, tmp_path / "export", nested, device_file)]
    assert all(services == loaded[0] for services in loaded)
    assert ProductModel.load(SMOKE_JSON).services == loaded[0]


def test_the_devicetype_file_gives_each_service_type_its_service_id(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED / "huawei", tmp_path / "h")
    device_file = tmp_path / "h" / "smokeDetector.devicetype-capability.json"
    data = json.loads(device_file.read_text())
    data["devices"][0]["serviceTypeCapabilities"] = [
        {"serviceId": "kitchen", "serviceType": "smokeDetector"},
        {"serviceId": "hall", "serviceType": "smokeDetector"},
    ]
    device_file.write_text(json.dumps(data))
    model = ProductModel.load(device_file)
    assert sorted(model.services) == ["hall", "kitchen"]
    assert model.services["hall"].service_type == "smokeDetector"
    assert model.service_class("hall").service_id == "hall"


@pytest.mark.skipif(not LEGACY.is_dir(), reason="shared/models is absent")
def test_legacy_methods_set_readable_and_writeable_and_string_bounds_are_lengths() -> None:
    model = ProductModel.load(LEGACY)
    level = model.services["battery"].property("level")
    assert level is not None and level.writeable and not level.readable  # method "WE"
    sw_version = model.services["DM"].property("swVersion")  # min "0", max "0", maxLength 256
    assert sw_version is not None and sw_version.type == String(max_length=256)
    assert len(model.services["DM"].commands) == 18


def test_the_v5_dialect_reads_snake_case_responses_and_events() -> None:
    model = ProductModel.load(V5)
    service = model.services["temperature"]
    temperature = service.property("temperature")
    assert model.dialect == "huawei v5"
    assert temperature is not None and temperature.type == Decimal(1.0, 100.0, 0.1)
    assert (temperature.unit, temperature.writeable) == ("centigrade", True)
    (reboot,) = service.commands
    assert reboot.params[0].type == String(max_length=100)  # a string's min/max are not bounds
    assert [p.name for p in reboot.responses] == ["result"]
    assert service.events == (EventModel("reboot"),)


def huawei(*properties: dict[str, Any], commands: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    filled = [{"method": "RW", **p} for p in properties]
    return {"services": [{"serviceType": "thing", "properties": filled, "commands": commands or []}]}


def test_huawei_data_types_map_onto_value_types() -> None:
    model = ProductModel.from_json(
        huawei(
            {"propertyName": "a", "dataType": "long", "min": "-5", "max": "5", "step": 0.0},
            {"propertyName": "b", "dataType": "enum", "enumList": ["ON", "OFF"]},
            {"propertyName": "c", "dataType": "DateTime"},
            {"propertyName": "d", "dataType": "jsonObject"},
            {"propertyName": "e", "dataType": "string list", "maxLength": 8},
            {"propertyName": "f", "dataType": "boolean"},
            {"propertyName": "g", "dataType": "string", "maxLength": 0, "min": "x"},
            {"propertyName": "h", "dataType": "int", "enumList": ["1", "3"]},
        )
    )
    types = [p.type for p in model.services["thing"].properties]
    assert types == [
        Integer(-5, 5, name="long"),
        Enum(["ON", "OFF"], base=String()),
        DateTime(),
        JsonObject(),
        StringList(max_length=8),
        Boolean(),
        String(),
        Enum([1, 3], base=Integer()),
    ]


def test_a_huawei_step_is_enforced_and_a_tencent_step_is_not() -> None:
    stepped = huawei({"propertyName": "level", "dataType": "decimal", "min": "0", "max": "10", "step": 0.5})
    cloud = FakeCloud(ProductModel.from_json(stepped).service_class()())
    assert cloud.desire({"level": 2.5}).ok
    refusal = cloud.desire({"level": 2.3})
    assert not refusal.ok and "step 0.5" in refusal.errors["level"]
    light = FakeCloud(ProductModel.load(STRUCT_ARRAY).service_class()())
    assert light.desire({"color_temp": 15}).ok  # the template says step "10"


# -- reading Tencent -------------------------------------------------------------------------
def test_tencent_data_types_map_onto_value_types() -> None:
    model = ProductModel.load(LIGHT)
    service = model.services["U7D5MBSDYB"]  # profile.ProductId
    types = {p.name: p.type for p in service.properties}
    assert types["power_switch"] == IntBoolean()  # true/false in Python, 0/1 on the wire
    color = types["color"]
    assert color == Enum([0, 1, 2], base=Integer())
    assert isinstance(color, Enum) and color.labels == {0: "Red", 1: "Green", 2: "Blue"}
    assert types["brightness"] == Integer(0, 100)
    assert types["name"] == String(max_length=64)
    assert types["position"] == Struct({"longitude": Integer(-180, 180), "latitude": Integer(-90, 90)})
    arrays = {p.name: p.type for p in ProductModel.load(STRUCT_ARRAY).service().properties}
    assert arrays["arrInt"] == Array(Integer(0, 100))
    assert arrays["arrFloat"] == Array(Decimal(0.0, 100.0, name="float"))
    assert isinstance(arrays["struct"], Struct) and arrays["struct"].fields["time_param"] == Timestamp()
    assert isinstance(arrays["arrStruct"], Array) and isinstance(arrays["arrStruct"].item, Struct)


def test_a_tencent_stringenum_and_a_template_without_profile_use_string_keys_and_the_file_stem(
    tmp_path: Path,
) -> None:
    template = {
        "properties": [
            {"id": "mode", "mode": "rw", "define": {"type": "stringenum", "mapping": {"eco": "Eco"}}}
        ]
    }
    path = tmp_path / "heater.json"
    path.write_text(json.dumps(template))
    service = ProductModel.load(path).services["heater"]
    assert service.properties[0].type == Enum(["eco"], base=String(), name="stringenum")


def test_tencent_events_and_actions_are_read_with_their_parameters() -> None:
    service = ProductModel.load(LIGHT).service()
    assert [(e.name, e.type) for e in service.events] == [
        ("status_report", "info"),
        ("low_voltage", "alert"),
        ("hardware_fault", "fault"),
    ]
    (blink,) = service.commands
    assert [p.name for p in blink.params] == ["time", "color", "total_time"]
    assert all(p.required for p in blink.params) and [p.name for p in blink.responses] == ["err_code"]


def test_a_missing_required_action_parameter_is_refused_by_name() -> None:
    cloud = FakeCloud(ProductModel.load(LIGHT).service_class()())
    answer = cloud.command("light_blink", {"time": 3, "color": 1})
    assert answer.code != 0 and "total_time: required parameter is missing" in answer.params["error"]


# -- building classes ------------------------------------------------------------------------
def test_built_attribute_names_are_snake_case_and_avoid_keywords_clashes_and_accessors() -> None:
    model = ProductModel.from_json(
        huawei(
            {"propertyName": "smokeConcentration", "dataType": "int"},
            {"propertyName": "class", "dataType": "int"},
            {"propertyName": "report", "dataType": "int"},
            {"propertyName": "2fast", "dataType": "int"},
            {"propertyName": "service_id", "dataType": "int"},
            commands=[{"commandName": "getStatus", "paras": []}, {"commandName": "smoke-concentration"}],
        )
    )
    cls = model.service_class()
    assert [p.attr for p in cls.spec.properties] == [
        "smoke_concentration",
        "p_class",
        "report_2",
        "p_2fast",
        "service_id_2",
    ]
    assert cls.service_id == "thing" and cls.__name__ == "Thing"
    assert sorted(c.attr for c in cls.spec.commands.values()) == [
        "get_status_command",
        "smoke_concentration_2",
    ]


def test_an_unimplemented_command_fails_saying_to_subclass_and_a_subclass_implements_it() -> None:
    base: Any = ProductModel.load(SMOKE_ZIP).service_class("smokeDetector")
    answer = FakeCloud(base()).command("ringAlarm", {"duration": 3})
    assert answer.code != 0
    assert (
        "'ringAlarm' is not implemented: subclass SmokeDetector and override ring_alarm"
        in answer.params["error"]
    )

    class Detector(base):  # type: ignore[misc]
        def get_temperature(self) -> float:
            return 19.5

        def set_alarm(self, value: int) -> None:
            self.alarm_written = value

        def ring_alarm(self, duration: int = 10) -> dict[str, int]:
            return {"rang": duration}

    detector = Detector()
    cloud = FakeCloud(detector)
    assert cloud.command("ringAlarm", {"duration": 3}).params == {"rang": 3}
    assert cloud.command("ringAlarm", {}).params == {"rang": 10}
    assert cloud.desire({"alarm": 1}).ok and detector.alarm_written == 1
    assert cloud.read()["temperature"] == 19.5
    assert not cloud.desire({"alarm": 2}).ok


def test_a_required_huawei_parameter_is_reported_missing() -> None:
    para = {"paraName": "level", "dataType": "int", "required": True}
    model = ProductModel.from_json(huawei(commands=[{"commandName": "set", "paras": [para]}]))
    answer = FakeCloud(model.service_class()()).command("set", {})
    assert answer.code != 0 and "level: required parameter is missing" in answer.params["error"]


def test_service_class_of_an_unknown_service_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"no service 'fridge'.*it has: smokeDetector"):
        ProductModel.load(SMOKE_ZIP).service_class("fridge")


def event_specs(cls: type[Service]) -> dict[str, tuple[str, str, dict[str, tuple[ValueType, bool]]]]:
    """wire name -> (attribute, kind, {parameter: (type, required)}) of each event of ``cls``."""
    return {
        name: (e.attr, e.kind, {p.name: (p.type, p.required) for p in e.params.values()})
        for name, e in cls.spec.events.items()
    }


def test_a_class_built_from_the_tencent_light_has_its_three_events_with_their_params_and_kinds() -> None:
    cls: Any = ProductModel.load(LIGHT).service_class()
    assert event_specs(cls) == {
        "status_report": (
            "status_report",
            "info",
            {"status": (IntBoolean(), True), "message": (String(max_length=64), True)},
        ),
        "low_voltage": ("low_voltage", "alert", {"voltage": (Decimal(0.0, 24.0, name="float"), True)}),
        "hardware_fault": (
            "hardware_fault",
            "fault",
            {"name": (String(max_length=64), True), "error_code": (Integer(0, 2000), True)},
        ),
    }
    assert isinstance(cls.low_voltage, Event) and cls.low_voltage.kind == "alert"


def test_a_built_tencent_event_goes_on_the_wire_as_an_event_post_with_its_kind() -> None:
    light: Any = ProductModel.load(LIGHT).service_class()()
    cloud = FakeCloud(light, vendor="tencent-explorer", device_id="U7D5MBSDYB.dev1")
    light.low_voltage(voltage=3.5)
    light.status_report(status=True, message="ok")
    posts = [p for t, p in cloud.messages if t == "$thing/up/event/U7D5MBSDYB/dev1"]
    assert [(p["method"], p["eventId"], p["type"], p["params"]) for p in posts] == [
        ("event_post", "low_voltage", "alert", {"voltage": 3.5}),
        ("event_post", "status_report", "info", {"status": 1, "message": "ok"}),  # a bool is 0/1
    ]
    assert cloud.events == [
        ev.EventUp("U7D5MBSDYB.dev1", "U7D5MBSDYB", "low_voltage", {"voltage": 3.5}, posts[0]["clientToken"]),
        ev.EventUp(
            "U7D5MBSDYB.dev1",
            "U7D5MBSDYB",
            "status_report",
            {"status": 1, "message": "ok"},
            posts[1]["clientToken"],
        ),
    ]
    with pytest.raises(ValidationError) as info:
        light.hardware_fault(name="x" * 65)
    assert "name: string of length 65 is longer than max_length 64" in str(info.value)
    assert "error_code: required parameter is missing" in str(info.value)
    assert len(cloud.events) == 2  # nothing sent


def test_a_built_huawei_event_goes_on_the_wire_as_events_up_keeping_optional_parameters() -> None:
    cls: Any = ProductModel.load(DOOR).service_class()
    assert event_specs(cls) == {
        "doorForced": (
            "door_forced",
            "info",
            {"force": (Decimal(0.0, 100.0), True), "zone": (String(max_length=32), False)},
        ),
        "batteryLow": ("battery_low", "info", {"level": (Integer(0, 100), True)}),
    }
    door = cls()
    cloud = FakeCloud(door)
    door.door_forced(force=12.5)
    door.door_forced(force=80, zone="back")
    door.battery_low(level=7)
    bodies = [p for t, p in cloud.messages if t == "$oc/devices/fake-device/sys/events/up"]
    assert bodies == [
        {"services": [{"service_id": "doorSensor", "event_type": "doorForced", "paras": {"force": 12.5}}]},
        {
            "services": [
                {
                    "service_id": "doorSensor",
                    "event_type": "doorForced",
                    "paras": {"force": 80.0, "zone": "back"},
                }
            ]
        },
        {"services": [{"service_id": "doorSensor", "event_type": "batteryLow", "paras": {"level": 7}}]},
    ]
    assert [(e.service_id, e.event_type, dict(e.params)) for e in cloud.events] == [
        ("doorSensor", "doorForced", {"force": 12.5}),
        ("doorSensor", "doorForced", {"force": 80.0, "zone": "back"}),
        ("doorSensor", "batteryLow", {"level": 7}),
    ]
    with pytest.raises(ValidationError, match="level: 101 is above the maximum 100"):
        door.battery_low(level=101)
    assert len(cloud.events) == 3


def test_an_event_named_like_a_command_gets_a_suffixed_attribute() -> None:
    cls = ProductModel.load(V5).service_class()  # command reboot and event reboot
    assert cls.spec.commands["reboot"].attr == "reboot"
    assert cls.spec.events["reboot"].attr == "reboot_2" and cls.spec.events["reboot"].params == {}


# -- checking classes ------------------------------------------------------------------------
def test_the_hand_written_smoke_detector_passes_the_check() -> None:
    assert ProductModel.load(SMOKE_ZIP).check(SmokeDetector) == []


def test_a_class_with_five_mistakes_gets_exactly_one_problem_for_each() -> None:
    class Wrong(Service):
        service_id = "smokeDetector"
        alarm = Property(int, minimum=0, maximum=1)  # read-only: TM005
        smoke_concentration = Property(str, name="smokeConcentration")  # TM003
        temperature = Property(float, maximum=150)  # TM004: above the model's 100
        volume = Property(int)  # TM002; humidity is missing: TM001

        @command("ringAlarm")
        def ring_alarm(self, duration: str = "10") -> None:  # TM008: a string, not an int
            pass

        @command("selfTest")
        def self_test(self) -> None:  # TM007
            pass

    problems = ProductModel.load(SMOKE_ZIP).check(Wrong)
    assert [p.id for p in problems] == ["TM005", "TM003", "TM004", "TM001", "TM002", "TM008", "TM007"]
    assert all(p.message and p.hint and p.obj is not None for p in problems)
    assert "maximum 150.0 is above the model's 100.0" in problems[2].message
    assert problems[3].hint == "declare it: Property(int, minimum=0, maximum=65535, name='humidity')"


def test_a_missing_command_and_an_unknown_service_are_reported() -> None:
    class NoCommand(Service):
        service_id = "smokeDetector"
        alarm = Property(int, writeable=True)
        smoke_concentration = Property(float, name="smokeConcentration")
        temperature = Property(float)
        humidity = Property(int)

    class Elsewhere(Service):
        service_id = "fridge"
        door = Property(int)

    model = ProductModel.load(SMOKE_ZIP)
    assert [p.id for p in model.check(NoCommand)] == ["TM006"]
    (unknown,) = model.check(Elsewhere)
    assert unknown.id == "TM009" and unknown.hint == "set service_id to one of: smokeDetector"


def with_alarm(**bounds: Any) -> type[Service]:
    """The smoke detector with its alarm (model: int 0..1, writeable) declared with ``bounds``."""
    return type("Alarm", (SmokeDetector,), {"alarm": Property(int, writeable=True, **bounds)})


@pytest.mark.parametrize(
    ("bounds", "messages"),
    [
        ({}, []),  # no bound: the class relies on the model's
        ({"minimum": 0, "maximum": 1}, []),
        ({"maximum": 5}, ["maximum 5 is above the model's 1, so it allows values the model forbids"]),
        ({"minimum": -1}, ["minimum -1 is below the model's 0, so it allows values the model forbids"]),
        ({"maximum": 0}, ["maximum 0 is below the model's (1), so it refuses values the cloud may write"]),
        ({"enum": [0]}, ["the class refuses [1], values the cloud may write"]),
        ({"enum": [0, 1, 2]}, ["the class allows [2], which the model forbids"]),
        ({"enum": [0, 1]}, []),
    ],
)
def test_a_declared_bound_of_a_writeable_property_must_match_the_model(
    bounds: dict[str, Any], messages: list[str]
) -> None:
    problems = ProductModel.load(SMOKE_ZIP).check(with_alarm(**bounds))
    assert [p.id for p in problems] == ["TM004"] * len(messages)
    assert all(m in p.message for m, p in zip(messages, problems, strict=True))


def test_a_read_only_property_may_be_stricter_than_the_model_but_not_looser() -> None:
    class Strict(SmokeDetector):
        humidity = Property(int, minimum=10, maximum=90)  # model: 0..65535, read-only

    class Loose(SmokeDetector):
        humidity = Property(int, minimum=-1)

    model = ProductModel.load(SMOKE_ZIP)
    assert model.check(Strict) == []
    assert [p.id for p in model.check(Loose)] == ["TM004"]


def ring_required(self: Any, duration: int) -> None: ...
def ring_float(self: Any, duration: float = 1.0) -> None: ...
def ring_nothing(self: Any) -> None: ...
def ring_extra(self: Any, duration: int = 10, loud: bool = False) -> None: ...


@pytest.mark.parametrize(
    ("method", "message"),
    [
        (ring_required, "'duration' is required by the class, optional in the model"),
        (ring_float, "'duration' is decimal in the class, int in [0, 65535] in the model"),
        (ring_nothing, "'duration' is missing"),
        (ring_extra, "'loud' is not in the model"),
    ],
)
def test_each_command_parameter_mismatch_is_one_tm008(method: Any, message: str) -> None:
    cls = type("Ring", (SmokeDetector,), {"ring_alarm": command("ringAlarm")(method)})
    (problem,) = ProductModel.load(SMOKE_ZIP).check(cls)
    assert problem.id == "TM008" and message in problem.message


def test_a_parameter_bounded_more_narrowly_than_the_model_is_tm008() -> None:
    class Narrow(SmokeDetector):
        @command("ringAlarm", params={"duration": Integer(minimum=0, maximum=60)})
        def ring_alarm(self, duration: int = 10) -> dict[str, int]:
            return {}

    (problem,) = ProductModel.load(SMOKE_ZIP).check(Narrow)
    assert problem.id == "TM008" and "maximum 60 is below the model's (65535)" in problem.message


def test_a_tencent_template_checks_a_class_whatever_its_service_id() -> None:
    class Light(Service):
        service_id = "light"
        power_switch = Property("bool", writeable=True)

    problems = ProductModel.load(LIGHT).check(Light)
    assert "TM009" not in [p.id for p in problems]
    assert [p.id for p in problems].count("TM001") == 4  # color, brightness, name, position


def test_a_command_named_like_a_model_event_is_tm010() -> None:
    model = ProductModel.load(LIGHT)
    base: Any = model.service_class()

    class Light(base):  # type: ignore[misc]
        @command("low_voltage")
        def report_voltage(self, voltage: float) -> None:
            pass

    problems = model.check(Light)
    assert [p.id for p in problems] == ["TM007", "TM010"]
    event = problems[1]
    assert event.message == "U7D5MBSDYB: command 'low_voltage' (report_voltage) is an event in the model"
    assert event.hint.startswith("events are sent by the device, not written or called by the cloud")
    assert event.obj is Light.spec.commands["low_voltage"]


def test_a_property_named_like_a_model_event_is_tm010() -> None:
    model = ProductModel.load(LIGHT)
    base: Any = model.service_class()

    class Light(base):  # type: ignore[misc]
        fault = Property(int, name="hardware_fault", writeable=True)

    problems = model.check(Light)
    assert [p.id for p in problems] == ["TM002", "TM010"]
    event = problems[1]
    assert event.message == "U7D5MBSDYB: property 'hardware_fault' (fault) is an event in the model"
    assert "sent by the device" in event.hint and event.obj is Light.spec.by_name["hardware_fault"].prop


def test_a_class_that_leaves_the_model_events_out_gets_one_tm011_for_each() -> None:
    class Light(Service):
        service_id = "light"
        power_switch = Property("bool", writeable=True)

    model = ProductModel.load(LIGHT)
    service = model.service()
    problems = check_events(service, Light)
    assert [(p.id, p.obj) for p in problems] == [("TM011", e) for e in service.events]
    assert problems[1].message == (
        "U7D5MBSDYB: model event 'low_voltage' (voltage: float in [0.0, 24.0]) is missing from Light"
    )
    assert problems[1].hint == (
        "declare it: low_voltage = Event({'voltage': Decimal(minimum=0.0, maximum=24.0)}, kind='alert')"
    )
    assert "TM010" not in [p.id for p in model.check(Light)]
    assert check_events(service, model.service_class()) == []


def test_a_model_event_declared_only_as_a_command_is_tm010_not_tm011() -> None:
    class Door(DoorBase):
        door_forced = Event({"force": float}, optional={"zone": str}, name="doorForced")

        @command("batteryLow")
        def report_battery(self, level: int) -> None:
            pass

    problems = check_events(ProductModel.load(DOOR).service(), Door)
    assert [p.id for p in problems] == ["TM010"]
    assert problems[0].hint.startswith("events are sent by the device, not written or called by the cloud")
    assert "declare it as an Event" in problems[0].hint


def test_an_event_that_is_also_a_model_command_or_property_is_not_tm010() -> None:
    model = ProductModel.from_json(
        {
            "services": [
                {
                    "serviceType": "thing",
                    "properties": [{"propertyName": "fault", "dataType": "int", "method": "R"}],
                    "commands": [{"commandName": "reboot"}],
                    "events": [{"eventType": "reboot"}, {"eventType": "fault"}],
                }
            ]
        }
    )
    assert model.check(model.service_class()) == []


def test_the_hand_written_door_sensor_with_its_events_passes_the_check() -> None:
    assert ProductModel.load(DOOR).check(DoorSensor) == []


def door(**events: Any) -> type[Service]:
    """The door sensor with some of its events replaced (None drops one)."""
    return type("Door", (DoorSensor,), events)


@pytest.mark.parametrize(
    ("events", "problem", "message"),
    [
        (
            {"battery_low": None},
            "TM011",
            "model event 'batteryLow' (level: int in [0, 100]) is missing from Door",
        ),
        ({"tamper": Event(name="tamper")}, "TM012", "event 'tamper' (tamper) is not in the model"),
        (
            {"count": Event({"n": int}, name="openCount")},
            "TM012",
            "event 'openCount' (count) is not in the model (the model has it as a property)",
        ),
        (
            {"door_forced": Event(optional={"zone": str}, name="doorForced")},
            "TM013",
            "doorSensor.doorForced: parameter 'force' is missing",
        ),
        (
            {"battery_low": Event({"level": int, "volts": float}, name="batteryLow")},
            "TM013",
            "parameter 'volts' is not in the model",
        ),
        (
            {"battery_low": Event({"level": str}, name="batteryLow")},
            "TM013",
            "parameter 'level' is string in the class, int in [0, 100] in the model",
        ),
        (
            {"battery_low": Event(optional={"level": int}, name="batteryLow")},
            "TM013",
            "parameter 'level' is optional in the class, required by the model",
        ),
        (
            {"battery_low": Event({"level": Integer(minimum=0, maximum=200)}, name="batteryLow")},
            "TM013",
            "parameter 'level': the class's maximum 200 is above the model's 100",
        ),
    ],
)
def test_each_event_mistake_is_one_problem(events: dict[str, Any], problem: str, message: str) -> None:
    (found,) = ProductModel.load(DOOR).check(door(**events))
    assert found.id == problem and message in found.message and found.hint and found.obj is not None


@pytest.mark.parametrize(
    "events",
    [
        {"battery_low": Event({"level": int}, name="batteryLow")},  # relies on the model's bounds
        {"battery_low": Event({"level": Integer(minimum=10, maximum=20)}, name="batteryLow")},  # narrower
        {"door_forced": Event({"force": float, "zone": str}, name="doorForced")},  # always sends zone
        {"battery_low": Event({"level": int}, name="batteryLow", kind="alert")},  # Huawei has no type
    ],
)
def test_what_the_device_may_send_narrower_than_the_model_is_no_problem(events: dict[str, Any]) -> None:
    assert ProductModel.load(DOOR).check(door(**events)) == []


def test_an_event_of_another_kind_than_the_tencent_type_is_tm014() -> None:
    model = ProductModel.load(LIGHT)
    base: Any = model.service_class()

    class Light(base):  # type: ignore[misc]
        low_voltage = Event({"voltage": float})  # the template says alert

    (problem,) = model.check(Light)
    assert problem.id == "TM014"
    assert problem.message == "U7D5MBSDYB.low_voltage: the class declares kind 'info', the model type 'alert'"
    assert problem.hint == "declare it with kind='alert'" and problem.obj is Light.spec.events["low_voltage"]


@pytest.mark.parametrize("path", [p for p in ALL_MODELS if p.suffix == ".json"], ids=label)
def test_each_tm011_hint_is_a_declaration_that_passes_the_check(path: Path) -> None:
    from thingmodel import types

    model = ProductModel.load(path)
    for service in model.services.values():
        bare = build.service_class(attrs.evolve(service, events=()))
        problems = check_events(service, bare)
        assert [p.id for p in problems] == ["TM011"] * len(service.events)
        namespace: dict[str, Any] = {}
        for p in problems:
            exec(p.hint.removeprefix("declare it: "), {"Event": Event, **vars(types)}, namespace)
        assert check_service(service, type("Fixed", (bare,), namespace)) == []


def test_type_expression_spells_plain_types_as_python_types_and_the_rest_as_constructors() -> None:
    assert [type_expression(t) for t in (Integer(), Decimal(name="float"), String(), Boolean())] == [
        "int",
        "Decimal()",
        "str",
        "bool",
    ]
    assert type_expression(Integer(0, 5, name="long")) == "Integer(minimum=0, maximum=5, name='long')"
    assert type_expression(Enum(["a"], base=String())) == "Enum(['a'])"
    assert type_expression(Array(Struct({"x": Integer()}))) == "Array(Struct({'x': Integer()}))"


def test_check_service_runs_the_property_command_and_event_checks_in_order() -> None:
    class Wrong(SmokeDetector):
        humidity = Property(str)

        @command("selfTest")
        def self_test(self) -> None:
            pass

    service = ProductModel.load(SMOKE_ZIP).service()
    parts = [check(service, Wrong) for check in (check_properties, check_commands, check_events)]
    assert [[p.id for p in part] for part in parts] == [["TM003"], ["TM007"], []]
    assert check_service(service, Wrong) == [*parts[0], *parts[1], *parts[2]]


def test_a_value_type_accepts_what_from_wire_takes() -> None:
    assert Integer(0, 1).accepts(1) and Integer(0, 1).accepts(1.0)
    assert not Integer(0, 1).accepts(2) and not Integer(0, 1).accepts("1")
    assert Enum(["ON"], base=String()).accepts("ON") and not Enum(["ON"], base=String()).accepts("OFF")


# -- describing ------------------------------------------------------------------------------
def test_describe_lists_services_properties_commands_and_events() -> None:
    text = ProductModel.load(SMOKE_ZIP).describe().splitlines()
    assert text[1:] == [
        "service smokeDetector",
        "  RW alarm: int in [0, 1]",
        "  R  smokeConcentration: decimal in [0.0, 100.0]",
        "  R  temperature: decimal in [-30.0, 100.0]",
        "  R  humidity: int in [0, 65535]",
        "  command ringAlarm(duration: int in [0, 65535]?)",
    ]
    light = ProductModel.load(LIGHT).describe()
    assert "  command light_blink(time: int in [0, 10], color: boolean, total_time: int in [0, 100])" in light
    assert "-> (err_code: enum of 0, 1)" in light
    assert "  event low_voltage(voltage: float in [0.0, 24.0]) [alert]" in light


# -- broken files ----------------------------------------------------------------------------
def write(tmp_path: Path, name: str, data: bytes | str | dict[str, Any]) -> Path:
    path = tmp_path / name
    if isinstance(data, dict):
        data = json.dumps(data)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def smoke() -> Any:
    return json.loads(SMOKE_JSON.read_text())


def edited(data: Any, path: str, value: Any) -> Any:
    """``data`` with the item at a dotted path (``services.0.properties.2.dataType``) replaced,
    or deleted when ``value`` is ``...``."""
    *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
    node = data
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "services.0.properties.2.dataType",
            "quaternion",
            r"properties\[2\]\.dataType: unknown data type 'quaternion'",
        ),
        ("services.0.properties.1.min", "low", r"properties\[1\]\.min: 'low' is not a number"),
        ("services.0.properties.1.max", "NaN", r"properties\[1\]\.max: 'NaN' is not a number"),
        ("services.0.properties.0.min", "5", r"properties\[0\]: min 5 is greater than max 1"),
        ("services.0.properties.1.step", -1, r"properties\[1\]\.step: -1 is negative"),
        ("services.0.properties.0.propertyName", ..., r"properties\[0\]: missing 'propertyName'"),
        ("services.0.properties.0.method", "RX", r"properties\[0\]\.method: 'RX' is not a combination"),
        ("services.0.properties", "many", r"services\[0\]\.properties: must be an array, got a string"),
        ("services.0.properties.3", 7, r"services\[0\]\.properties\[3\]: must be an object, got a number"),
        (
            "services.0.properties.3.propertyName",
            "alarm",
            r"properties\[3\]: property 'alarm' is declared twice",
        ),
        ("services.0.serviceType", "a/b", r"services\[0\]: service id 'a/b' contains a slash"),
        ("services.0.commands.0.paras.0.required", "yes", r"paras\[0\]\.required: must be a boolean"),
        ("services", [], r"services: the model declares no service"),
    ],
)
def test_a_broken_huawei_file_names_the_json_path_and_the_reason(
    tmp_path: Path, path: str, value: Any, message: str
) -> None:
    broken = write(tmp_path, "broken.json", edited(smoke(), path, value))
    with pytest.raises(ModelError, match=message) as info:
        ProductModel.load(broken)
    assert str(info.value).startswith(f"{broken}, ")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("properties.2.define.max", "lots", r"properties\[2\]\.define\.max: 'lots' is not a number"),
        ("properties.1.define.type", "colour", r"properties\[1\]\.define\.type: unknown data type 'colour'"),
        ("properties.0.mode", "w", r"properties\[0\]\.mode: 'w' is neither 'r' nor 'rw'"),
        ("properties.1.define.mapping", {"one": "Red"}, r"mapping\.one: an enum key must be a 32-bit whole"),
        ("properties.4.define.specs.0.dataType", ..., r"specs\[0\]: missing 'dataType' or 'define'"),
        ("profile.ProductId", "a+b", r"profile\.ProductId: service id 'a\+b' contains an MQTT wildcard"),
    ],
)
def test_a_broken_tencent_template_names_the_json_path_and_the_reason(
    tmp_path: Path, path: str, value: Any, message: str
) -> None:
    broken = write(tmp_path, "light.json", edited(json.loads(LIGHT.read_text()), path, value))
    with pytest.raises(ModelError, match=message):
        ProductModel.load(broken)


@pytest.mark.parametrize(
    ("source", "path"),
    [
        (LIGHT, "events.1.id"),
        (DOOR, "services.0.events.0.eventType"),
        (V5, "service_capabilities.0.events.0.event_type"),
    ],
)
def test_an_event_name_no_event_can_have_is_a_model_error_naming_the_service(
    tmp_path: Path, source: Path, path: str
) -> None:
    broken = write(tmp_path, source.name, edited(json.loads(source.read_text()), path, "a/b"))
    with pytest.raises(
        ModelError, match=rf"^{re.escape(str(broken))}, service '\w+': event name 'a/b' contains"
    ):
        ProductModel.load(broken)


def test_a_model_error_carries_the_file_and_the_place_separately(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.json", edited(smoke(), "services.0.properties.2.dataType", 3))
    with pytest.raises(ModelError) as info:
        ProductModel.load(broken)
    assert (info.value.source, info.value.location) == (str(broken), "services[0].properties[2].dataType")


def test_invalid_json_names_the_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", '{"services": [\n  {"serviceType": }\n]}')
    with pytest.raises(ModelError, match=r"broken\.json, line 2 column 19: invalid JSON: Expecting value"):
        ProductModel.load(path)


def test_json_that_is_no_product_model_says_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"not a product model: expected 'services'"):
        ProductModel.load(write(tmp_path, "other.json", {"hello": 1}))
    with pytest.raises(ModelError, match="expected a JSON object, got an array"):
        ProductModel.load(write(tmp_path, "list.json", "[]"))


def test_non_utf8_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"latin\.json: not UTF-8 text"):
        ProductModel.load(write(tmp_path, "latin.json", b'{"services": "\xe9"}'))
    with pytest.raises(ModelError, match=r"absent\.json: cannot read it"):
        ProductModel.load(tmp_path / "absent.json")


def test_an_archive_or_folder_without_a_service_file_is_a_clear_error(tmp_path: Path) -> None:
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("profile/devicetype-capability.json", "{}")
    with pytest.raises(ModelError, match=r"empty\.zip: nothing to load: no servicetype-capability\.json"):
        ProductModel.load(archive)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ModelError, match=r"nothing: nothing to load"):
        ProductModel.load(tmp_path / "nothing")


def test_a_broken_zip_member_is_named_and_a_truncated_zip_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("service/x/profile/servicetype-capability.json", '{"services": [{"serviceType": 1}]}')
    with pytest.raises(
        ModelError, match=r"model\.zip \(member service/x/profile/servicetype-capability\.json\), "
    ):
        ProductModel.load(archive)
    truncated = write(tmp_path, "cut.zip", SMOKE_ZIP.read_bytes()[:1000])
    with pytest.raises(ModelError, match=r"cut\.zip: not a readable zip archive"):
        ProductModel.load(truncated)


def test_an_oversized_zip_member_is_refused_without_inflating_it(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("service/x/profile/servicetype-capability.json", b" " * (17 * 2**20))
    with pytest.raises(
        ModelError, match=r"\(member service/x/profile/servicetype-capability\.json\): \d+ bytes"
    ):
        ProductModel.load(archive)


def test_a_service_type_listed_without_its_definition_is_named(tmp_path: Path) -> None:
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(SMOKE_ZIP) as source, zipfile.ZipFile(archive, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name.endswith("devicetype-capability.json"):
                data = data.replace(b'"serviceType":"smokeDetector"', b'"serviceType":"fogDetector"')
            target.writestr(name, data)
    with pytest.raises(ModelError, match=r"serviceTypeCapabilities\[0\]: service type 'fogDetector' has no"):
        ProductModel.load(archive)


# -- nothing but ModelError escapes ----------------------------------------------------------
JSON_SOURCES = [SMOKE_JSON, LIGHT, STRUCT_ARRAY, V5, DOOR]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=6),
    st.lists(st.one_of(st.integers(), st.text(max_size=3)), max_size=2),
    st.dictionaries(st.text(max_size=3), st.one_of(st.integers(), st.text(max_size=3)), max_size=2),
)


def mutate(node: Any, rng: Any, replacement: Any) -> Any:
    """Drop a key, replace a value, or go one level deeper, at a random place."""
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


def load_or_model_error(path: Path) -> None:
    """Loading either fails with a ModelError naming the path, or every service builds a class
    that instantiates and passes its own check."""
    try:
        model = ProductModel.load(path)
    except ModelError as exc:
        assert str(path) in str(exc)
        return
    for service_id in model.services:
        cls = model.service_class(service_id)
        cls()
        assert model.check(cls) == []


@given(
    source=st.sampled_from(JSON_SOURCES),
    rng=st.randoms(use_true_random=False),
    replacement=VALUES,
    cut=st.integers(min_value=0, max_value=5000),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_mutated_json_models_load_or_raise_model_error(
    tmp_path: Path, source: Path, rng: Any, replacement: Any, cut: int
) -> None:
    raw = json.dumps(mutate(json.loads(source.read_text()), rng, replacement)).encode()
    for attempt, payload in enumerate((raw, raw[:cut])):
        load_or_model_error(write(tmp_path, f"mutant{attempt}.json", payload))


@given(cut=st.integers(min_value=0, max_value=4000), flip=st.integers(min_value=0, max_value=4000))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_truncated_and_corrupted_zips_load_or_raise_model_error(tmp_path: Path, cut: int, flip: int) -> None:
    data = bytearray(SMOKE_ZIP.read_bytes())
    load_or_model_error(write(tmp_path, "cut.zip", bytes(data[:cut])))
    data[flip % len(data)] ^= 0xFF
    load_or_model_error(write(tmp_path, "flipped.zip", bytes(data)))


@pytest.mark.skipif(not LEGACY.is_dir(), reason="shared/models is absent")
@given(rng=st.randoms(use_true_random=False), replacement=VALUES)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_mutated_file_in_an_extracted_folder_loads_or_raises_model_error(
    tmp_path: Path, rng: Any, replacement: Any
) -> None:
    folder = tmp_path / "legacy"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(LEGACY, folder)
    target = rng.choice(sorted(folder.rglob("*.json")))
    target.write_text(json.dumps(mutate(json.loads(target.read_text()), rng, replacement)))
    load_or_model_error(folder)


def test_service_models_are_frozen_values() -> None:
    service = ProductModel.load(SMOKE_ZIP).service()
    assert isinstance(service, ServiceModel) and service == ProductModel.load(SMOKE_JSON).service()
    with pytest.raises(AttributeError):
        service.service_id = "other"  # type: ignore[misc]
