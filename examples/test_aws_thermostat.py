"""The AWS thermostat's services, tested in memory on the AWS protocol (named shadows), then live."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aws_thermostat import Fan, Heating

from thingmodel.testing import FakeCloud


def test_each_service_lives_in_its_own_named_shadow() -> None:
    heating, fan = Heating(seed=1), Fan()
    cloud = FakeCloud(heating, fan, vendor="aws", device_id="thermostat-1")
    heating.report()
    fan.report()
    topics = {topic for topic, _ in cloud.messages}
    assert "$aws/things/thermostat-1/shadow/name/heating/update" in topics
    assert "$aws/things/thermostat-1/shadow/name/fan/update" in topics
    assert cloud.reported["fan"] == {"speed": 1}


def test_a_desired_target_is_applied_and_an_invalid_mode_is_refused() -> None:
    heating, fan = Heating(seed=1), Fan()
    cloud = FakeCloud(heating, fan, vendor="aws", device_id="thermostat-1")
    assert cloud.desire({"target": 22.5}, service="heating").ok
    assert heating.target == 22.5 and cloud.reported["heating"]["target"] == 22.5
    ack = cloud.desire({"mode": "turbo"}, service="heating")
    assert not ack.ok and "mode" in ack.errors and heating.mode == "heat"
    assert "mode" not in cloud.desired["heating"]  # the device cleared what it refused


def test_boost_is_a_command_over_aws_iot_commands_topics() -> None:
    heating, fan = Heating(seed=1), Fan()
    cloud = FakeCloud(heating, fan, vendor="aws", device_id="thermostat-1")
    answer = cloud.command("boost", {"minutes": 5}, service="heating")
    assert answer.ok and heating.boosts == [5] and ":" in answer.params["until"]


def test_the_example_runs_against_the_local_cloud() -> None:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "aws_thermostat.py"), "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "target = 22.5 -> applied" in done.stderr
    assert "boost -> code 0" in done.stderr
