"""The Tencent light, built from the real data template, through the Explorer protocol."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tencent_light import MODEL, PRODUCT_ID, Light

from thingmodel.testing import FakeCloud


def cloud_for(light: Light) -> FakeCloud:
    return FakeCloud(light, vendor="tencent-explorer", device_id=f"{PRODUCT_ID}.light-1")


def test_the_class_agrees_with_its_data_template() -> None:
    assert MODEL.check(Light) == []


def test_control_runs_the_setters_and_bool_goes_on_the_wire_as_0_or_1() -> None:
    light = Light()
    cloud = cloud_for(light)
    assert cloud.desire({"power_switch": 1, "brightness": 80}).ok
    assert light.switched == [True] and light.brightness == 80
    [report] = [
        p for t, p in cloud.messages if t.startswith("$thing/up/property") and p.get("method") == "report"
    ]
    assert report["params"] == {"power_switch": 1, "brightness": 80}


def test_values_outside_the_template_are_refused() -> None:
    light = Light()
    cloud = cloud_for(light)
    ack = cloud.desire({"brightness": 170, "color": 9})
    assert not ack.ok and set(ack.errors) == {"brightness", "color"} and light.switched == []


def test_the_templates_action_is_a_command() -> None:
    light = Light()
    cloud = cloud_for(light)
    answer = cloud.command("light_on", {"is_on": 1})
    assert answer.ok and answer.params == {"err_code": 0} and light.power_switch is True


def test_the_example_runs_against_the_local_cloud() -> None:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "tencent_light.py"), "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "brightness=80 -> applied" in done.stderr and "light_on(is_on=0) -> code 0" in done.stderr
