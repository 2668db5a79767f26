"""``thingmodel ota`` run as a user would, against a ``thingmodel cloud`` process, upgrading a
thingmodel device connected to it: progress lines as they come, exit 0 on success, exit 1 with
the device's reason in one line on failure."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from thingmodel.device import Device

from .helpers import ctrl_c_reaches_it, eventually
from .test_cli import CLI, Cloud, start_cloud, stop_cloud
from .test_ota_cloud import Firmware, Status

pytestmark = pytest.mark.broker


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    process = start_cloud(tmp_path)
    try:
        yield process
    finally:
        stop_cloud(process)


@pytest.fixture
def firmware(cloud: Cloud, tmp_path: Path) -> Iterator[Firmware]:
    root = tmp_path / "device"
    root.mkdir()
    firmware = Firmware(root)
    with Device([Status()], device_id="cli-ota-1", broker=cloud.mqtt, ota=firmware):
        eventually(lambda: "online" in cloud.cli("devices").stdout, what="the device listed online")
        yield firmware


def test_ota_prints_progress_as_it_comes_and_exits_0_when_the_device_runs_the_new_version(
    cloud: Cloud, firmware: Firmware, tmp_path: Path
) -> None:
    image = tmp_path / "fw 2.0.bin"
    image.write_bytes(b"FW" + b"\x01" * 2_000_000)
    result = cloud.cli("ota", "cli-ota-1", str(image), "--version", "2.0", "--timeout", "30")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[0].startswith("upgrade ")
        and " of cli-ota-1 to 2.0 (firmware): package fw_2.0.bin, 2000002 bytes" in lines[0]
    )
    assert lines[1] == "cli-ota-1: pending"
    assert any(line.startswith("cli-ota-1: downloading ") for line in lines)
    assert lines[-1] == "cli-ota-1: succeeded: now runs 2.0"
    assert firmware.version() == "2.0" and result.stderr == ""
    shown = cloud.cli("shadow", "get", "cli-ota-1")
    assert shown.stdout.splitlines()[1] == "runs firmware 2.0"
    listed = json.loads(cloud.cli("devices", "--json").stdout)["devices"]
    [me] = [d for d in listed if d["device_id"] == "cli-ota-1"]
    assert me["fw_version"] == "2.0" and me["upgrade"]["state"] == "succeeded"


def test_a_failed_install_exits_1_with_the_devices_reason_in_one_line(
    cloud: Cloud, firmware: Firmware, tmp_path: Path
) -> None:
    image = tmp_path / "broken.bin"
    image.write_bytes(b"not firmware at all")
    result = cloud.cli("ota", "cli-ota-1", str(image), "--version", "3.0", "--kind", "firmware")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "thingmodel: upgrade of cli-ota-1 to 3.0 failed (install): install() raised "
        "ValueError('not a firmware image')"
    ]
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("cli-ota-1: failed (install)")
    assert firmware.version() == "1.0"


def test_user_mistakes_are_one_line_each(cloud: Cloud, firmware: Firmware, tmp_path: Path) -> None:
    image = tmp_path / "fw.bin"
    image.write_bytes(b"FW1")
    missing = cloud.cli("ota", "cli-ota-1", str(tmp_path / "nope.bin"), "--version", "2")
    assert (missing.returncode, missing.stderr.strip()) == (
        2,
        f"thingmodel: {tmp_path / 'nope.bin'}: no such file",
    )
    unknown = cloud.cli("ota", "nobody-here", str(image), "--version", "2")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == (
        "thingmodel: device 'nobody-here' is not known to this cloud (no shadow, never connected)"
    )
    bad = cloud.cli("ota", "cli-ota-1", str(image), "--version", " 2")
    assert bad.returncode == 2 and "without leading or trailing spaces" in bad.stderr
    no_version = cloud.cli("ota", "cli-ota-1", str(image))
    assert no_version.returncode == 2 and "--version" in no_version.stderr


def test_an_upgrade_that_does_not_end_in_time_exits_1_saying_it_goes_on(cloud: Cloud, tmp_path: Path) -> None:
    image = tmp_path / "fw.bin"
    image.write_bytes(b"FW silent")
    port = int(cloud.mqtt.rsplit(":", 1)[1])  # a device that connects and never answers
    silent = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cli-silent-1")
    silent.connect("127.0.0.1", port)
    silent.loop_start()
    try:
        eventually(lambda: "cli-silent-1" in cloud.cli("devices").stdout, what="the silent device listed")
        result = cloud.cli("ota", "cli-silent-1", str(image), "--version", "2", "--timeout", "1")
    finally:
        silent.disconnect()
        silent.loop_stop()
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert (
        line.startswith("thingmodel: upgrade ")
        and "did not end within 1 s (it is pending; it goes on)" in line
    )


def test_watch_prints_each_change_of_an_upgrade(cloud: Cloud, firmware: Firmware, tmp_path: Path) -> None:
    image = tmp_path / "fw.bin"
    image.write_bytes(b"FW" + b"\x02" * 1000)
    watcher = subprocess.Popen(
        [*CLI, "watch", "cli-ota-1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cloud.env,
        preexec_fn=ctrl_c_reaches_it,
    )
    try:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().startswith("watching cli-ota-1 on ")
        result = cloud.cli("ota", "cli-ota-1", str(image), "--version", "2.5")
        assert result.returncode == 0, result.stderr
        seen: list[str] = []
        while not any("succeeded: now runs 2.5" in line for line in seen):
            seen.append(watcher.stdout.readline())
    finally:
        watcher.send_signal(signal.SIGINT)
        _, err = watcher.communicate(timeout=10)
    upgrades = [line for line in seen if "⇅ cli-ota-1  upgrade " in line]
    assert upgrades[0].rstrip().endswith("to 2.5: pending") and "succeeded" in upgrades[-1]
    assert watcher.returncode == 0 and "Traceback" not in err
