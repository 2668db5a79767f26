"""AWS's own SDKs against our local cloud in AWS mode, on the default (embedded) broker and on
mosquitto.

Each SDK runs in its own process (awscrt and the v1 SDK keep process-wide state) and prints one
JSON line per step; the test reads them and checks what the SDK saw and what our side holds.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thingmodel.brokers import free_port, wait_listening
from thingmodel.cloud import LocalCloud
from thingmodel.device import Device
from thingmodel.vendors.aws import CLASSIC

from ..integration.helpers import Detector, eventually

PEERS = Path(__file__).parent / "peers"


def run_peer(script: str, *args: object, timeout: float = 90) -> dict[str, dict[str, Any]]:
    """Run a peer program; return its steps by name (the program's exit code must be 0)."""
    done = subprocess.run(
        [sys.executable, str(PEERS / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    steps = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, f"{script} failed: {steps}\n{done.stderr[-3000:]}"
    return {s["step"]: s for s in steps}


@pytest.fixture(params=["embedded", "mosquitto"])
def aws_cloud(request: pytest.FixtureRequest) -> Iterator[LocalCloud]:
    """The local cloud in AWS mode on the default (embedded) broker, and with mosquitto."""
    if request.param == "embedded":
        cloud = LocalCloud(vendor="aws", port=free_port())
    else:
        cloud = LocalCloud(vendor="aws", broker=request.getfixturevalue("mosquitto").url)
    with cloud:
        yield cloud


def broker_of(cloud: LocalCloud) -> tuple[str, int]:
    """Host and port of the broker the cloud serves on, for the SDK peers."""
    parts = urllib.parse.urlsplit(cloud.url)
    return str(parts.hostname), int(parts.port or 1883)


@pytest.fixture
def detector_device(aws_cloud: LocalCloud) -> Iterator[Detector]:
    detector = Detector()
    with Device([detector], device_id="sdk-thing", vendor="aws", broker=aws_cloud.url) as device:
        device.report()
        yield detector


def test_the_v2_sdk_as_an_application_drives_our_device(
    aws_cloud: LocalCloud, detector_device: Detector
) -> None:
    steps = run_peer("aws_v2_app.py", *broker_of(aws_cloud), "sdk-thing")
    assert steps["update_accepted"]["desired"] == {"alarm": 1}
    assert steps["applied"]["reported"]["alarm"] == 1 and not steps["applied"]["delta"]
    assert detector_device.alarm == 1
    # refused: the device keeps 1, reports it and clears the invalid desired value
    assert steps["refused"]["reported"]["alarm"] == 1 and "alarm" not in (steps["refused"]["desired"] or {})
    assert steps["rejected"]["code"] == 409 and steps["rejected"]["message"] == "Version conflict"
    assert steps["rejected"]["client_token"]  # echoed, or the future would not have resolved
    assert steps["named"]["reported"] == {"x": [1, 2]} and steps["named"]["get_after_delete"] == 404
    assert aws_cloud.get_shadow("sdk-thing")[CLASSIC]["reported"]["alarm"] == 1


def test_the_v1_sdk_as_an_application_drives_our_device(
    aws_cloud: LocalCloud, detector_device: Detector
) -> None:
    steps = run_peer("aws_v1_app.py", *broker_of(aws_cloud), "sdk-thing")
    assert steps["update"]["status"] == "accepted"
    assert steps["applied"]["reported"]["alarm"] == 1
    assert detector_device.alarm == 1


def test_the_v2_sdk_as_a_device_follows_our_clouds_deltas(aws_cloud: LocalCloud) -> None:
    host, port = broker_of(aws_cloud)
    peer = subprocess.Popen(
        [
            sys.executable,
            str(PEERS / "aws_v2_device.py"),
            host,
            str(port),
            "v2-device",
            "6",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert peer.stdout is not None
        first = json.loads(peer.stdout.readline() or "{}")
        assert first.get("step") == "ready", peer.stderr.read() if peer.stderr else ""
        eventually(lambda: bool(aws_cloud.get_shadow("v2-device")), what="the SDK device's first report")
        outcome = aws_cloud.set_desired("v2-device", CLASSIC, {"alarm": 1}, timeout=10)
        assert outcome.ok, outcome
        assert aws_cloud.get_shadow("v2-device")[CLASSIC]["reported"] == {"alarm": 1}
        out, err = peer.communicate(timeout=30)
    finally:
        peer.kill()
    deltas = [json.loads(line) for line in out.splitlines() if '"delta"' in line]
    assert deltas and deltas[0]["state"] == {"alarm": 1} and deltas[0]["version"] >= 2, err[-2000:]


def test_the_cli_cloud_in_aws_mode_serves_the_sdks_on_the_given_port() -> None:
    """``thingmodel cloud --vendor aws --port N``: the embedded broker and AWS's protocol on N."""
    port = free_port()
    cli = [
        sys.executable,
        "-m",
        "thingmodel.cli",
        "cloud",
        "--vendor",
        "aws",
        "--port",
        str(port),
        "--http-port",
        "0",
    ]
    process = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening("127.0.0.1", port, timeout=15)
        detector = Detector()
        with Device(
            [detector], device_id="cli-thing", vendor="aws", broker=f"mqtt://127.0.0.1:{port}"
        ) as device:
            device.report()
            steps = run_peer("aws_v1_app.py", "127.0.0.1", port, "cli-thing")
        assert steps["applied"]["reported"]["alarm"] == 1 and detector.alarm == 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
