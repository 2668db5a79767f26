"""The ``thingmodel`` command, run as a user would, in subprocesses that always end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from thingmodel.brokers import free_port
from thingmodel.device import Device

from .helpers import Detector, ctrl_c_reaches_it, eventually

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


@attrs.frozen
class Cloud:
    """A `thingmodel cloud` process: where it listens, and the environment that finds it."""

    mqtt: str
    http: str
    env: dict[str, str]
    process: subprocess.Popen[str]

    def cli(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=self.env)


def start_cloud(tmp_path: Path, *extra: str) -> Cloud:
    env = {**os.environ, "THINGMODEL_STATE_DIR": str(tmp_path / "state")}
    env.pop("THINGMODEL_CLOUD", None)
    process = subprocess.Popen(
        [*CLI, "cloud", "--port", "0", "--http-port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    lines = [process.stdout.readline() for _ in range(3)]
    if "serving on" not in first:
        process.kill()
        raise AssertionError(first + (process.stderr.read() if process.stderr else ""))
    mqtt = first.split("serving on ", 1)[1].split()[0].rstrip(";")
    http = lines[0].split("console:", 1)[1].strip().rstrip("/")
    return Cloud(mqtt, http, env, process)


def stop_cloud(cloud: Cloud) -> str:
    cloud.process.send_signal(signal.SIGTERM)
    try:
        _, err = cloud.process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        cloud.process.kill()
        _, err = cloud.process.communicate(timeout=10)
    assert cloud.process.returncode == 0, err
    return err


@pytest.fixture
def cloud_process(tmp_path: Path) -> Iterator[Cloud]:
    cloud = start_cloud(tmp_path)
    try:
        yield cloud
    finally:
        stop_cloud(cloud)


def test_the_cloud_start_up_lines_name_every_url_and_say_the_api_is_unauthenticated(
    cloud_process: Cloud,
) -> None:
    assert cloud_process.mqtt.startswith("mqtt://127.0.0.1:")
    info = json.loads(urllib.request.urlopen(cloud_process.http + "/thingmodel/v1/info", timeout=5).read())
    assert info["vendor"] == "huawei" and info["mqtt_url"] == cloud_process.mqtt
    assert info["authenticated"] is False


def test_shadow_desire_command_and_get_print_tables_and_exit_by_the_outcome(cloud_process: Cloud) -> None:
    detector = Detector()
    with Device([detector], device_id="cli-dev", broker=cloud_process.mqtt):
        desire = cloud_process.cli("shadow", "desire", "cli-dev", "smokeDetector", "alarm=1")
        assert desire.returncode == 0, desire.stderr
        assert desire.stdout.splitlines()[0] == "cli-dev/smokeDetector: applied alarm=1"
        refused = cloud_process.cli("shadow", "desire", "cli-dev", "smokeDetector", "alarm=9")
        assert refused.returncode == 1
        assert refused.stdout.splitlines()[0] == (
            "cli-dev/smokeDetector: refused (alarm: 9 is above the maximum 1)"
        )
        command = cloud_process.cli("command", "cli-dev", "smokeDetector", "ringAlarm", "duration=2")
        assert command.returncode == 0, command.stderr
        assert command.stdout.splitlines()[0] == "cli-dev: command ringAlarm ok: rang=2"
        shadow = cloud_process.cli("shadow", "get", "cli-dev")
        as_json = cloud_process.cli("shadow", "get", "cli-dev", "--json")
    assert shadow.returncode == 0, shadow.stderr
    lines = shadow.stdout.splitlines()
    assert lines[0].startswith("device cli-dev (huawei): online, last seen ")
    assert lines[2].startswith("service smokeDetector (version ")
    assert lines[3].split() == ["PROPERTY", "REPORTED", "DESIRED", "DELTA"]
    assert ["alarm", "1", "1"] in [line.split() for line in lines[4:]]
    assert json.loads(as_json.stdout)["services"]["smokeDetector"]["reported"]["alarm"] == 1
    assert detector.set_calls == [1] and detector.commands == [2]


def test_devices_lists_each_device_with_its_state_and_shadow_delete_removes_the_shadow(
    cloud_process: Cloud,
) -> None:
    detector = Detector()
    with Device([detector], device_id="listed-1", broker=cloud_process.mqtt):
        detector.report()
        eventually(lambda: "listed-1" in cloud_process.cli("shadow", "get", "listed-1").stdout, what="shadow")
        listed = cloud_process.cli("devices")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert header.split() == ["DEVICE", "VENDOR", "STATE", "LAST", "SEEN"]
    assert row.split()[:3] == ["listed-1", "huawei", "online"]
    eventually(lambda: "offline" in cloud_process.cli("devices").stdout, what="the device shown offline")
    deleted = cloud_process.cli("shadow", "delete", "listed-1")
    assert (
        deleted.returncode == 0 and deleted.stdout.strip() == "deleted the shadow of listed-1: smokeDetector"
    )
    again = cloud_process.cli("shadow", "delete", "listed-1")
    assert again.returncode == 1 and again.stdout.strip() == "listed-1 has no shadow to delete"


def test_an_unknown_device_is_an_error_naming_it_with_exit_1(cloud_process: Cloud) -> None:
    result = cloud_process.cli("shadow", "get", "nobody-here")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == (
        "thingmodel: device 'nobody-here' is not known to this cloud (no shadow, never connected)"
    )


def test_a_command_to_an_offline_device_fails_at_once_saying_so(cloud_process: Cloud) -> None:
    with Device([Detector()], device_id="gone-1", broker=cloud_process.mqtt):
        pass
    eventually(lambda: "offline" in cloud_process.cli("devices").stdout, what="the device gone")
    result = cloud_process.cli("command", "gone-1", "smokeDetector", "ringAlarm", "--timeout", "30")
    assert result.returncode == 1 and result.stderr.strip() == "thingmodel: device 'gone-1' is offline"


def test_watch_prints_each_message_as_a_readable_line(cloud_process: Cloud) -> None:
    watcher = subprocess.Popen(
        [*CLI, "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cloud_process.env,
        preexec_fn=ctrl_c_reaches_it,
    )
    try:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().startswith(f"watching {cloud_process.http}")
        detector = Detector()
        with Device([detector], device_id="watched-1", broker=cloud_process.mqtt):
            detector.report()
            lines = [watcher.stdout.readline()]
            while "properties/report" not in lines[-1] and len(lines) < 10:
                lines.append(watcher.stdout.readline())
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(10)
    assert "+ watched-1 connected" in lines[0], lines
    # the device asks for its shadow on connecting, and the cloud answers
    assert any("↑ watched-1  $oc/devices/watched-1/sys/shadow/get/request_id=" in line for line in lines)
    assert any(
        "↓ watched-1  $oc/devices/watched-1/sys/shadow/get/response/request_id=" in line for line in lines
    )
    assert "↑ watched-1  $oc/devices/watched-1/sys/properties/report  {" in lines[-1], lines
    assert watcher.returncode == 0


def test_a_string_property_takes_digits_as_text(cloud_process: Cloud, tmp_path: Path) -> None:
    from thingmodel import Property, Service

    class Label(Service):
        name = Property(str, writeable=True, default="hall")

    label = Label()
    with Device([label], device_id="label-1", broker=cloud_process.mqtt):
        label.report()
        eventually(lambda: "hall" in cloud_process.cli("shadow", "get", "label-1").stdout, what="report")
        result = cloud_process.cli("shadow", "desire", "label-1", "Label", "name=123")
    assert result.returncode == 0, result.stdout + result.stderr
    assert label.name == "123"


def test_run_finds_the_running_cloud_and_a_vendor_mismatch_is_one_line(
    cloud_process: Cloud, tmp_path: Path
) -> None:
    module = tmp_path / "lamp.py"
    module.write_text(
        "from thingmodel import Service, Property\n"
        "class Lamp(Service):\n"
        "    on = Property(bool, writeable=True, default=False)\n"
    )
    mismatch = cloud_process.cli("run", f"{module}:Lamp", "--device-id", "lamp-1", "--vendor", "aws")
    assert mismatch.returncode == 2
    assert mismatch.stderr.strip() == (
        f"thingmodel: the local cloud on {cloud_process.mqtt} speaks huawei, not aws: "
        "run with --vendor huawei, or start the cloud with --vendor aws"
    )
    env = {**cloud_process.env, "THINGMODEL_DEVICE_ID": "lamp-1"}
    process = subprocess.Popen(
        [*CLI, "run", f"{module}:Lamp", "--auto-report", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(
            f"device lamp-1 connected (Lamp) to {cloud_process.mqtt} as huawei"
        )
        result = cloud_process.cli("shadow", "desire", "lamp-1", "Lamp", "on=true")
        assert result.returncode == 0 and "applied on=true" in result.stdout, result.stdout + result.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    assert process.returncode == 0


def test_the_cloud_logs_connections_writes_and_commands_at_v(tmp_path: Path) -> None:
    cloud = start_cloud(tmp_path, "-v")
    try:
        with Device([Detector()], device_id="logged-1", broker=cloud.mqtt):
            assert cloud.cli("shadow", "desire", "logged-1", "smokeDetector", "alarm=1").returncode == 0
            assert cloud.cli("command", "logged-1", "smokeDetector", "ringAlarm").returncode == 0
        eventually(lambda: "offline" in cloud.cli("devices").stdout, what="the device gone")
    finally:
        log = stop_cloud(cloud)
    assert "device logged-1 connected" in log
    assert "desired logged-1/smokeDetector {'alarm': 1}" in log
    assert "command ringAlarm to logged-1/smokeDetector" in log
    assert "device logged-1 disconnected" in log


def test_app_commands_without_a_cloud_fail_fast_with_the_reason_and_exit_3() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run("shadow", "get", "nobody", "--cloud", url)
    took = time.monotonic() - started
    assert result.returncode == 3
    assert result.stderr.strip() == (
        f"thingmodel: no local cloud at {url}: connection refused "
        "(is `thingmodel cloud` running? it says where it listens)"
    )
    assert took < 10, f"took {took:.1f} s"  # it used to wait out a 10 s MQTT connect


COMMANDS = (
    [],
    ["demo"],
    ["cloud"],
    ["devices"],
    ["shadow"],
    ["shadow", "get"],
    ["shadow", "desire"],
    ["shadow", "delete"],
    ["command"],
    ["watch"],
    ["run"],
    ["registry", "add"],
    ["registry", "remove"],
    ["registry", "list"],
    ["model", "show"],
    ["model", "check"],
)


def test_every_command_and_option_has_help_text() -> None:
    from thingmodel.cli import build_parser

    for args in COMMANDS:
        result = run(*args, "--help")
        assert result.returncode == 0 and "usage: thingmodel" in result.stdout, args
    parser = build_parser()
    stack = [parser]
    while stack:
        current = stack.pop()
        for action in current._actions:
            if action.choices and isinstance(action.choices, dict):
                stack.extend(action.choices.values())  # subcommands
            elif action.dest != "help":
                assert action.help, f"{current.prog}: {action.option_strings or action.dest} has no help"


def test_an_option_with_a_default_shows_it_in_its_help() -> None:
    help_text = " ".join(run("cloud", "--help").stdout.split())
    assert "MQTT port of the embedded broker (0: a free one) (default: 1883)" in help_text
    assert "(0: a free one) (default: 8780)" in help_text


def test_verbose_and_log_level_are_accepted_before_and_after_the_command() -> None:
    for args in (
        ["-v", "model", "show", MODEL],
        ["model", "show", MODEL, "-v"],
        ["model", "show", MODEL, "--log-level", "debug"],
    ):
        result = run(*args)
        assert result.returncode == 0, (args, result.stderr)


def test_a_module_that_cannot_be_imported_is_one_line_and_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_here\n")
    result = run("run", f"{broken}:Lamp", "--device-id", "x")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"thingmodel: cannot import {broken}: ModuleNotFoundError: No module named 'no_such_module_here'"
    )
    missing = run("run", "no.such.package:Lamp", "--device-id", "x")
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        == "thingmodel: cannot import no.such.package: ModuleNotFoundError: No module named 'no'"
    )


def test_a_ca_file_that_is_missing_or_not_pem_is_one_line_and_exit_2(tmp_path: Path) -> None:
    module = tmp_path / "lamp.py"
    module.write_text("from thingmodel import Service\nclass Lamp(Service):\n    pass\n")
    missing = run("run", f"{module}:Lamp", "--device-id", "x", "--ca-file", str(tmp_path / "nope.pem"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"thingmodel: CA file {tmp_path / 'nope.pem'}: No such file or directory"
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    bad = run("run", f"{module}:Lamp", "--device-id", "x", "--ca-file", str(junk))
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"thingmodel: CA file {junk} is not PEM (no BEGIN CERTIFICATE line)"


def test_a_taken_port_says_how_to_get_a_free_one(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        mqtt = run("cloud", "--port", str(port), "--http-port", "0")
        http = run("cloud", "--port", "0", "--http-port", str(port))
    assert mqtt.returncode == 2 and mqtt.stderr.strip() == (
        f"thingmodel: port {port} on 127.0.0.1 is already in use (another `thingmodel cloud` or broker?); "
        "choose another with --port, or give --port 0 for a free one"
    )
    assert http.returncode == 2 and http.stderr.strip() == (
        f"thingmodel: HTTP port {port} on 127.0.0.1 is taken (another `thingmodel cloud`?): "
        "stop it, or give --http-port 0 for a free port"
    )


ROOT = Path(__file__).resolve().parents[2]
MODEL = str(ROOT / "models/huawei/smokeDetector_cb097d20d77b4240adf1f33d36b3c278_smokeDetector.zip")


def test_model_show_is_a_table_with_ranges_and_explains_the_question_mark() -> None:
    result = run("model", "show", MODEL)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert ["PROPERTY", "ACCESS", "TYPE", "VALUES", "UNIT", "DESCRIPTION"] in rows
    assert ["alarm", "RW", "int", "0..1"] in rows
    assert ["duration?", "int", "0..65535"] in rows
    assert (
        result.stdout.splitlines()[-1] == "a name ending in ? is optional: the command may be sent without it"
    )


def test_model_show_keeps_enum_labels_units_and_descriptions() -> None:
    result = run("model", "show", str(ROOT / "models/tencent/light.json"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    color = next(line for line in lines if line.split()[:1] == ["color"])
    assert "one of 0=Red, 1=Green, 2=Blue" in color and "灯光颜色" in color
    brightness = next(line for line in lines if line.split()[:1] == ["brightness"])
    assert brightness.split()[:5] == ["brightness", "RW", "int", "0..100", "%"]


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


def test_demo_with_console_serves_the_console_and_runs_until_interrupted(tmp_path: Path) -> None:
    env = {**os.environ, "THINGMODEL_STATE_DIR": str(tmp_path / "state")}
    demo = subprocess.Popen(
        [*CLI, "demo", "--console", "--http-port", "0", "--interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=ctrl_c_reaches_it,
    )
    try:
        assert demo.stdout is not None
        lines = [demo.stdout.readline() for _ in range(2)]
        url = lines[1].split("web console on ", 1)[1].split()[0].rstrip("/")
        while "running until Ctrl-C" not in demo.stdout.readline():
            pass
        page = urllib.request.urlopen(url + "/", timeout=5).read().decode()
        listed = subprocess.run([*CLI, "devices"], capture_output=True, text=True, env=env, timeout=30)
    finally:
        demo.send_signal(signal.SIGINT)
        _, err = demo.communicate(timeout=15)
    assert "demo-smoke-1" in page
    assert listed.stdout.splitlines()[1].split()[:3] == ["demo-smoke-1", "huawei", "online"]
    assert demo.returncode == 0 and "Traceback" not in err
