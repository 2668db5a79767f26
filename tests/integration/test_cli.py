"""The ``thingmodel`` command, run as a user would, in subprocesses that always end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from thingmodel.brokers import free_port, wait_listening

from .helpers import Detector

CLI = [sys.executable, "-m", "thingmodel.cli"]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_demo_shows_a_report_an_applied_write_and_a_command_and_exits_0() -> None:
    result = run("demo", "--interval", "0.5", timeout=30)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "report from demo-smoke-1/smokeDetector" in out
    assert "write acknowledged by demo-smoke-1: applied" in out
    assert "command response from demo-smoke-1: code 0, rang=3" in out
    assert "refused as expected (alarm: 5 is above the maximum 1)" in out


def test_demo_on_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("demo", "--port", str(port))
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr


@pytest.fixture
def cloud_process() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "cloud", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_listening("127.0.0.1", port, timeout=15)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""


def test_shadow_and_command_subcommands_talk_to_a_running_cloud(cloud_process: str) -> None:
    from thingmodel.device import Device

    detector = Detector()
    with Device([detector], device_id="cli-dev", broker=cloud_process):
        desire = run("shadow", "desire", "cli-dev", "smokeDetector", "alarm=1", "--broker", cloud_process)
        assert desire.returncode == 0, desire.stderr
        assert json.loads(desire.stdout) == {"ok": True, "errors": {}, "pending": False}
        refused = run("shadow", "desire", "cli-dev", "smokeDetector", "alarm=9", "--broker", cloud_process)
        assert refused.returncode == 1
        assert "above the maximum 1" in json.loads(refused.stdout)["errors"]["alarm"]
        command = run(
            "command", "cli-dev", "smokeDetector", "ringAlarm", "duration=2", "--broker", cloud_process
        )
        assert command.returncode == 0, command.stderr
        assert json.loads(command.stdout)["paras"] == {"rang": 2}
        shadow = run("shadow", "get", "cli-dev", "--broker", cloud_process)
    assert shadow.returncode == 0
    assert json.loads(shadow.stdout)["smokeDetector"]["reported"]["alarm"] == 1
    assert detector.set_calls == [1] and detector.commands == [2]


def test_app_subcommands_without_a_cloud_exit_3() -> None:
    result = run("shadow", "get", "nobody", "--broker", f"mqtt://127.0.0.1:{free_port()}")
    assert result.returncode == 3
    assert "could not connect" in result.stderr


def test_run_serves_a_service_class_from_a_file(cloud_process: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from thingmodel.cloud.client import CloudClient

    module = tmp_path / "lamp.py"
    module.write_text(
        "from thingmodel import Service, Property\n"
        "class Lamp(Service):\n"
        "    on = Property(bool, writeable=True, default=False)\n"
    )
    env = {**os.environ, "THINGMODEL_DEVICE_ID": "lamp-1", "THINGMODEL_BROKER": cloud_process}
    process = subprocess.Popen(
        [*CLI, "run", f"{module}:Lamp", "--auto-report", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "device lamp-1 connected (Lamp)" in process.stdout.readline()
        with CloudClient(cloud_process) as client:
            result = client.call(
                "set_desired", device_id="lamp-1", service_id="Lamp", properties={"on": True}
            )
        assert result["ok"] is True
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    assert process.returncode == 0


def test_every_command_has_help() -> None:
    for args in (
        ["--help"],
        ["demo", "--help"],
        ["cloud", "--help"],
        ["shadow", "get", "--help"],
        ["shadow", "desire", "--help"],
        ["command", "--help"],
        ["run", "--help"],
        ["model", "show", "--help"],
        ["model", "check", "--help"],
    ):
        result = run(*args)
        assert result.returncode == 0 and "usage: thingmodel" in result.stdout, args


ROOT = Path(__file__).resolve().parents[2]
MODEL = str(ROOT / "models/huawei/smokeDetector_cb097d20d77b4240adf1f33d36b3c278_smokeDetector.zip")


def test_model_show_describes_the_smoke_detector() -> None:
    result = run("model", "show", MODEL)
    assert result.returncode == 0, result.stderr
    assert "RW alarm: int in [0, 1]" in result.stdout
    assert "command ringAlarm(duration: int in [0, 65535]?)" in result.stdout


def test_model_check_passes_the_example_and_fails_a_wrong_class(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ok = run("model", "check", MODEL, f"{ROOT / 'examples/smoke_detector.py'}:SmokeDetector")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "SmokeDetector: OK" in ok.stdout
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        "from thingmodel import Service, Property\n"
        "class Wrong(Service):\n"
        "    service_id = 'smokeDetector'\n"
        "    alarm = Property(int)\n"
    )
    bad = run("model", "check", MODEL, f"{wrong}:Wrong")
    assert bad.returncode == 1
    assert "TM005" in bad.stdout and "TM001" in bad.stdout and "TM006" in bad.stdout


def test_a_broken_model_file_is_a_usage_error_naming_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    result = run("model", "show", str(broken))
    assert result.returncode == 2
    assert "broken.json, line 1 column 2: invalid JSON" in result.stderr


def test_version_prints_the_package_version() -> None:
    from thingmodel import __version__

    shown = run("--version")
    assert shown.returncode == 0 and shown.stdout.strip() == f"thingmodel {__version__}"


def test_cloud_on_port_0_picks_a_free_port_and_prints_it() -> None:
    cloud = subprocess.Popen([*CLI, "cloud", "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert cloud.stdout is not None
        line = cloud.stdout.readline()
    finally:
        cloud.terminate()
        cloud.wait(timeout=30)
    url = line.split("serving on ", 1)[1].split()[0]
    port = int(url.rsplit(":", 1)[1])
    assert url.startswith("mqtt://127.0.0.1:") and 0 < port < 65536 and port != 1883, line


def test_a_store_that_cannot_be_opened_is_one_line_naming_it_and_exit_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "missing-folder" / "shadows.sqlite3"
    refused = run("cloud", "--port", "0", "--store", str(store))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"thingmodel: cannot open the shadow store {store}: unable to open database file"
    ]
