"""``thingmodel simulate``: every input mistake is one line and exit 2, before anything connects."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from thingmodel.cli import load_target, main
from thingmodel.cli.simulate import service_factory
from thingmodel.errors import InvalidValue

SERVICES = """
from thingmodel import Property, Service


class Lamp(Service):
    service_id = "lamp"
    level = Property(int, minimum=0, maximum=3)


class Fan(Service):
    service_id = "fan"
    speed = Property(int, minimum=0, maximum=3)


class NeedsArgs(Service):
    service_id = "needs"

    def __init__(self, pin: int) -> None:
        self.pin = pin


BOTH = [Lamp, Fan]
NUMBER = 3


def make_device():
    return [Lamp(), Fan()]


def make_nothing():
    return 42
"""


@pytest.fixture
def module(tmp_path: Path) -> str:
    path = tmp_path / "fleet_services.py"
    path.write_text(SERVICES)
    return str(path)


def one_line_error(capsys: pytest.CaptureFixture[str], argv: Sequence[str]) -> str:
    code = main(["simulate", *argv])
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith("thingmodel: ")
    return lines[0].removeprefix("thingmodel: ")


def test_a_target_that_is_not_module_colon_class_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert one_line_error(capsys, ["nothing-here", "--devices", "2"]) == "'nothing-here' is not MODULE:CLASS"


def test_a_module_that_does_not_import_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    message = one_line_error(capsys, ["no_such_module_anywhere:Lamp", "--devices", "2"])
    assert message.startswith("cannot import no_such_module_anywhere: ModuleNotFoundError")


def test_a_missing_class_is_one_line(capsys: pytest.CaptureFixture[str], module: str) -> None:
    assert one_line_error(capsys, [f"{module}:Nope", "--devices", "2"]).endswith("has no 'Nope'")


def test_a_target_that_is_no_service_is_one_line(capsys: pytest.CaptureFixture[str], module: str) -> None:
    message = one_line_error(capsys, [f"{module}:NUMBER", "--devices", "2"])
    assert (
        message
        == f"{module}:NUMBER is not a Service subclass, a list of them, or a function returning services"
    )


def test_a_service_that_cannot_be_made_is_one_line(capsys: pytest.CaptureFixture[str], module: str) -> None:
    message = one_line_error(capsys, [f"{module}:NeedsArgs", "--devices", "2"])
    assert message.startswith(f"cannot make a device's services from {module}:NeedsArgs: TypeError")


@pytest.mark.parametrize("count", ["0", "-3"])
def test_devices_below_one_is_one_line(capsys: pytest.CaptureFixture[str], module: str, count: str) -> None:
    message = one_line_error(capsys, [f"{module}:Lamp", "--devices", count])
    assert message == f"--devices {count}: must be at least 1"


def test_a_shard_past_the_last_is_one_line(capsys: pytest.CaptureFixture[str], module: str) -> None:
    message = one_line_error(capsys, [f"{module}:Lamp", "--devices", "9", "--shard", "3/3"])
    assert message == "--shard 3/3: i must be 0..2 (shards are numbered from 0)"


def test_an_unknown_property_in_value_is_one_line(capsys: pytest.CaptureFixture[str], module: str) -> None:
    message = one_line_error(capsys, [f"{module}:Lamp", "--devices", "2", "--value", "speed=const:1"])
    assert message == "--value speed=const:1: no property 'speed' (lamp: level)"


def test_a_value_without_a_generator_is_one_line(capsys: pytest.CaptureFixture[str], module: str) -> None:
    message = one_line_error(capsys, [f"{module}:Lamp", "--devices", "2", "--value", "level"])
    assert message == "--value level: expected NAME=GEN, like temperature=walk:20:30"


def test_a_generator_out_of_range_is_one_line(capsys: pytest.CaptureFixture[str], module: str) -> None:
    message = one_line_error(capsys, [f"{module}:Lamp", "--devices", "2", "--value", "level=walk:0:7"])
    assert message == "--value level=walk:0:7: 7 is above the maximum 3"


def test_a_period_of_zero_is_one_line(capsys: pytest.CaptureFixture[str], module: str) -> None:
    message = one_line_error(capsys, [f"{module}:Lamp", "--devices", "2", "--report-every", "0"])
    assert message == "--report-every 0: must be above 0"


def test_tencent_ids_without_a_product_are_one_line(capsys: pytest.CaptureFixture[str], module: str) -> None:
    message = one_line_error(capsys, [f"{module}:Lamp", "--devices", "2", "--vendor", "tencent-hub"])
    assert message.startswith("tencent-hub device 'sim-0': a Tencent device id is ProductId.DeviceName")


def test_a_cloud_that_does_not_answer_is_one_line_and_exit_3(
    capsys: pytest.CaptureFixture[str], module: str
) -> None:
    code = main(["simulate", f"{module}:Lamp", "--devices", "2", "--cloud", "http://127.0.0.1:1"])
    captured = capsys.readouterr()
    assert code == 3
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err


def test_a_list_of_classes_gives_each_device_new_instances_of_each(module: str) -> None:
    make, classes = service_factory([f"{module}:BOTH"], load_target)
    assert [c.__name__ for c in classes] == ["Lamp", "Fan"]
    first, second = make(), make()
    assert [type(s).__name__ for s in first] == ["Lamp", "Fan"]
    assert all(a is not b for a, b in zip(first, second, strict=True))


def test_a_factory_is_called_for_each_device(module: str) -> None:
    make, classes = service_factory([f"{module}:make_device"], load_target)
    assert [c.service_id for c in classes] == ["lamp", "fan"]
    assert make()[0] is not make()[0]


def test_a_factory_that_returns_no_service_is_refused(module: str) -> None:
    with pytest.raises(InvalidValue, match="make_nothing returned 42, not a Service or a list of them"):
        service_factory([f"{module}:make_nothing"], load_target)


def test_two_targets_with_one_service_id_are_refused(module: str) -> None:
    with pytest.raises(InvalidValue, match="two services share the service_id 'lamp'"):
        service_factory([f"{module}:Lamp", f"{module}:Lamp"], load_target)
