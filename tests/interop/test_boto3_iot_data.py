"""boto3's ``iot-data`` client as an application against ``thingmodel cloud --vendor aws`` (the
command, in its own process), with a thingmodel device connected over MQTT.

boto3 runs in its own venv (made here on first use, or given by THINGMODEL_BOTO3_PYTHON) and its
own process (peers/boto3_app.py), and prints what each call returned or raised; the test asserts
those answers, what the device did (its setter ran, its report is in the shadow boto3 reads, its
command method ran and its result reached boto3), and what an MQTT subscriber received from
boto3's publish. Commands are not in the data plane: they go through AWS IoT's commands calls
(``iot`` create_command / get_command_execution, ``iot-jobs-data`` start_command_execution).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from thingmodel import Property, Service
from thingmodel.cloud.http import AppKey
from thingmodel.cloud.http.aws_sigv4 import SIGNATURE_MISMATCH, UNKNOWN_KEY
from thingmodel.device import Device

from ..integration.helpers import Detector, eventually
from .cloud_process import CloudProcess

PEER = Path(__file__).parent / "peers" / "boto3_app.py"
VENV = Path(__file__).resolve().parents[2] / ".cache" / "venv-boto3"
KEY = AppKey("AKIDLOCALBOTO3", "boto3-local-secret")
THING = "boto3-thing"
WAIT = 10.0

pytestmark = pytest.mark.broker


class Lamp(Service):
    service_id = "lamp"
    level = Property(int, writeable=True, minimum=0, maximum=10, default=3)


class Thermometer(Service):
    service_id = "thermometer"
    celsius = Property(float, default=21.5)


@pytest.fixture(scope="session")
def boto3_python() -> str:
    given = os.environ.get("THINGMODEL_BOTO3_PYTHON")
    if given:
        return given
    python = VENV / "bin" / "python"
    if not python.exists():
        venv.create(VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "boto3==1.44.8"], check=True)
    return str(python)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[CloudProcess]:
    with CloudProcess("aws", KEY, tmp_path / "state") as running:
        yield running


@pytest.fixture
def detector(cloud: CloudProcess) -> Iterator[Detector]:
    """A thingmodel device of three services (one named shadow each), connected and reported."""
    detector = Detector()
    with Device([detector, Lamp(), Thermometer()], device_id=THING, vendor="aws", broker=cloud.url) as device:
        device.report()
        eventually(
            lambda: set(cloud.get_shadow(THING)) == {"smokeDetector", "lamp", "thermometer"},
            what="the device's first reports",
        )
        yield detector


@pytest.fixture
def subscriber(cloud: CloudProcess) -> Iterator[queue.Queue[mqtt.MQTTMessage]]:
    """What an MQTT client subscribed to ``app/#`` receives."""
    messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscribed: queue.Queue[bool] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="boto3-test-subscriber")
    client.on_message = lambda _c, _u, message: messages.put(message)
    client.on_subscribe = lambda *_: subscribed.put(True)
    client.connect(cloud.host, cloud.port)
    client.loop_start()
    try:
        client.subscribe("app/#", qos=1)
        subscribed.get(timeout=WAIT)
        yield messages
    finally:
        client.disconnect()
        client.loop_stop()


def run_peer(python: str, cloud: CloudProcess) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        [python, str(PEER), cloud.http_url, THING, KEY.id, KEY.secret],
        capture_output=True,
        text=True,
        timeout=90,
    )
    steps = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    trouble = f"\npeer steps: {steps}\npeer stderr: {done.stderr[-3000:]}"
    assert done.returncode == 0 and steps and steps[-1]["step"] == "done", trouble
    return {s["step"]: s for s in steps}


def refused(step: dict[str, Any]) -> tuple[str, str, int, str]:
    """(exception class, error code, HTTP status, message) of a call boto3 raised on."""
    assert "error" in step, step
    return step["error"], step["code"], step["status"], step["message"]


def test_boto3_drives_our_device_through_the_data_plane_and_gets_awss_errors(
    boto3_python: str,
    cloud: CloudProcess,
    detector: Detector,
    subscriber: queue.Queue[mqtt.MQTTMessage],
) -> None:
    steps = run_peer(boto3_python, cloud)

    # the device's report is the shadow boto3 reads
    got = steps["get"]["result"]["payload"]
    assert got["state"]["reported"]["alarm"] == 0 and "desired" not in got["state"]
    assert set(got) == {"state", "metadata", "version", "timestamp"}

    # boto3's desired value: accepted as AWS answers, applied by the device's setter, reported
    accepted = steps["update"]["result"]["payload"]
    assert accepted["state"] == {"desired": {"alarm": 1}} and accepted["clientToken"] == "boto3-1"
    assert accepted["version"] == got["version"] + 1
    applied = steps["applied"]["result"]
    assert applied["state"]["reported"]["alarm"] == 1 and "delta" not in applied["state"], steps["applied"]
    assert detector.set_calls == [1]
    assert cloud.get_shadow(THING)["smokeDetector"]["reported"]["alarm"] == 1

    # pageSize=1 pages through every named shadow once, the last page without a nextToken
    pages = steps["pages"]["result"]
    assert [p["results"] for p in pages] == [["lamp"], ["smokeDetector"], ["thermometer"]]
    assert all(isinstance(p["nextToken"], str) for p in pages[:-1]) and pages[-1]["nextToken"] is None

    # boto3's publish reaches an MQTT subscriber
    assert steps["publish"]["result"] == {}
    message = subscriber.get(timeout=WAIT)
    assert (message.topic, message.payload, message.qos) == ("app/boto3", b"hello from boto3", 1)

    # delete answers the version it deleted at; the shadow is gone afterwards
    assert steps["scratch"]["result"]["payload"]["version"] == 1
    assert set(steps["deleted"]["result"]["payload"]) == {"version", "timestamp"}
    assert refused(steps["after_delete"]) == (
        "ResourceNotFoundException",
        "ResourceNotFoundException",
        404,
        "No shadow exists with name: 'scratch'",
    )

    # AWS's errors, raised by boto3 as its own exception classes
    assert refused(steps["not_found"]) == (
        "ResourceNotFoundException",
        "ResourceNotFoundException",
        404,
        "No shadow exists with name: 'no-such-thing'",
    )
    assert refused(steps["conflict"]) == ("ConflictException", "ConflictException", 409, "Version conflict")
    assert refused(steps["malformed"]) == (
        "InvalidRequestException",
        "InvalidRequestException",
        400,
        "Invalid JSON",
    )
    assert refused(steps["too_large"])[:3] == (
        "RequestEntityTooLargeException",
        "RequestEntityTooLargeException",
        413,
    )

    # the app key: a wrong secret or a key id the cloud does not know is refused as AWS refuses
    assert refused(steps["wrong_secret"]) == (
        "ForbiddenException",
        "ForbiddenException",
        403,
        SIGNATURE_MISMATCH,
    )
    assert refused(steps["unknown_key"]) == ("ForbiddenException", "ForbiddenException", 403, UNKNOWN_KEY)
    # ... and the refused calls changed nothing
    assert cloud.get_shadow(THING)["smokeDetector"]["desired"] == {"alarm": 1}

    # a command through AWS IoT's commands calls: the device's method ran, its result came back
    arn = steps["command_created"]["result"]["commandArn"]
    assert arn.endswith(":command/ringAlarm")
    execution_id = steps["command_started"]["result"]["executionId"]
    done = steps["command_done"]["result"]
    assert detector.commands == [5]
    assert (done["executionId"], done["commandArn"], done["status"]) == (execution_id, arn, "SUCCEEDED")
    assert done["result"] == {"rang": {"S": "5"}}
    assert refused(steps["command_unknown"])[:3] == (
        "ResourceNotFoundException",
        "ResourceNotFoundException",
        404,
    )
