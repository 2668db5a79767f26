"""Huawei's own Python device SDK (1.2.0, from ../shared/peers/huawei) as a device against
`thingmodel cloud --vendor huawei` on the DEFAULT (embedded) broker.

The SDK never subscribes to its system topics (IoTDA subscribes its devices implicitly), so every
downlink it handles here proves the cloud's broker does that for it. Each assertion is on what the
SDK *received* (its callbacks print one JSON line each) and what the cloud got back. The SDK is not
on PyPI: it runs in its own venv with its own pinned requirements, made on first use.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thingmodel.brokers import free_port
from thingmodel.cloud import LocalCloud

from ..integration.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT.parent / "shared" / "peers" / "huawei"
PEER = Path(__file__).parent / "peers" / "huawei_device.py"
VENV = ROOT / ".cache" / "venv-huawei"
DEVICE, SECRET = "hw-sdk-dev", "secret-of-the-sdk"

pytestmark = pytest.mark.skipif(
    not (SDK / "iot_device_sdk_python").is_dir(), reason="../shared/peers/huawei (Huawei's SDK) is absent"
)


@pytest.fixture(scope="session")
def huawei_python() -> str:
    python = VENV / "bin" / "python"
    if not python.exists():
        venv.create(VENV, with_pip=True)
        requirements = SDK / "requirements.txt"
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True)
    return str(python)


class Peer:
    """The SDK device in its own process; ``steps`` are its callbacks, as they came."""

    def __init__(self, python: str, port: int, seconds: float) -> None:
        args = [python, str(PEER), "127.0.0.1", str(port), DEVICE, SECRET, str(seconds)]
        env = {**os.environ, "PYTHONPATH": str(SDK)}
        self.process = subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.steps: list[dict[str, Any]] = []
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert '"ready"' in line, line + (self.process.stderr.read() if self.process.stderr else "")

    def finish(self) -> list[dict[str, Any]]:
        out, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, err[-3000:]
        self.steps = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return self.steps


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="huawei", port=free_port()) as cloud:  # the embedded broker
        yield cloud


def test_huawei_s_sdk_works_against_the_local_cloud_on_the_default_broker(
    cloud: LocalCloud, huawei_python: str
) -> None:
    started = time.time() * 1000
    peer = Peer(huawei_python, cloud.port, seconds=4)
    try:
        eventually(
            lambda: cloud.get_shadow(DEVICE).get("smokeDetector", {}).get("reported", {}).get("alarm") == 0,
            what="the SDK's report in the shadow",
        )
        written = cloud.set_desired(DEVICE, "smokeDetector", {"alarm": 1}, timeout=10)
        read = cloud.read_properties(DEVICE, "smokeDetector", timeout=10)
        answered = cloud.send_command(DEVICE, "smokeDetector", "ringAlarm", {"duration": 3}, timeout=10)
        steps = peer.finish()
    finally:
        peer.process.kill()
    by_step: dict[str, list[dict[str, Any]]] = {}
    for s in steps:
        by_step.setdefault(s["step"], []).append(s)

    # a property set reached its listener, and its answer reached the cloud
    assert by_step["property_set"][0]["services"] == {"smokeDetector": {"alarm": 1}}
    assert written.ok, written
    assert cloud.get_shadow(DEVICE)["smokeDetector"]["reported"]["alarm"] == 1
    # a property read reached its listener, and the values it answered came back
    assert by_step["property_get"][0]["service_id"] == "smokeDetector"
    assert read["smokeDetector"]["alarm"] == 1
    # a command reached its listener, and its response came back
    assert by_step["command"][0]["name"] == "ringAlarm" and by_step["command"][0]["paras"] == {"duration": 3}
    assert answered.ok and answered.params == {"rang": 3}
    # its shadow get was answered
    [shadow] = by_step["shadow"]
    assert shadow["request_id"] == "sdk-shadow-1"
    assert shadow["shadow"][0]["service_id"] == "smokeDetector"
    # its time-sync request was answered with the cloud's clock (ms since the epoch)
    [sync] = by_step["time_sync"]
    assert started <= sync["server_recv_time"] <= sync["server_send_time"] <= sync["device_recv_time"] + 1
    # its message up was kept for the application side
    kept = cloud.platform.activity(DEVICE)
    assert any(b"hello from the Huawei SDK" in m.payload for m in kept.messages)
