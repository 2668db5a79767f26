"""Tencent's Python SDK (tencent-iot-device) as a device against our local cloud, both modes.

The SDK pins a broken dependency (pycrypto) and installs top-level packages named ``hub`` and
``explorer``, so it lives in its own venv (made here on first use, or given by
THINGMODEL_TENCENT_PYTHON) and runs in its own process.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thingmodel.brokers import Mosquitto
from thingmodel.cloud import LocalCloud

from ..integration.helpers import eventually

PEER = Path(__file__).parent / "peers" / "tencent_device.py"
VENV = Path(__file__).resolve().parents[2] / ".cache" / "venv-tencent"
PID, DEV = "ABCDEFGHIJ", "sdkdev"
DEVICE = f"{PID}.{DEV}"


@pytest.fixture(scope="session")
def tencent_python() -> str:
    given = os.environ.get("THINGMODEL_TENCENT_PYTHON")
    if given:
        return given
    python = VENV / "bin" / "python"
    if not python.exists():
        venv.create(VENV, with_pip=True)
        # a plain install fails: the SDK pins pycrypto 2.6.1, which no longer builds
        packages = ["tencent-iot-device==1.0.0", "paho-mqtt==1.5.1", "pycryptodome"]
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", *packages], check=True)
    return str(python)


class Peer:
    def __init__(self, python: str, mode: str, broker: Mosquitto, seconds: float) -> None:
        args = [python, str(PEER), mode, broker.host, str(broker.port), PID, DEV, str(seconds)]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert '"ready"' in line, line + (self.process.stderr.read() if self.process.stderr else "")

    def finish(self) -> list[dict[str, Any]]:
        out, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, err[-3000:]
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.fixture(params=["hub", "explorer"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def tencent_cloud(mode: str, mosquitto: Mosquitto) -> Iterator[LocalCloud]:
    with LocalCloud(vendor=f"tencent-{mode}", broker=mosquitto.url) as cloud:
        yield cloud


def reported(cloud: LocalCloud) -> dict[str, Any]:
    return dict(cloud.get_shadow(DEVICE).get(PID, {}).get("reported", {}))


def test_the_sdk_device_reports_and_follows_our_desired_values(
    mode: str,
    tencent_cloud: LocalCloud,
    mosquitto: Mosquitto,
    tencent_python: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    peer = Peer(tencent_python, mode, mosquitto, seconds=4)
    try:
        eventually(
            lambda: reported(tencent_cloud).get("alarm") == 0, what="the SDK's first report in the shadow"
        )
        with caplog.at_level(logging.INFO, logger="thingmodel.vendors.tencent"):
            outcome = tencent_cloud.set_desired(DEVICE, PID, {"alarm": 1}, timeout=10)
        assert outcome.ok, outcome
        eventually(
            lambda: reported(tencent_cloud).get("alarm") == 1, what="the SDK's report of the new value"
        )
        steps = peer.finish()
    finally:
        peer.process.kill()
    received = [s["payload"] for s in steps if s["step"] in ("property", "shadow")]
    if mode == "explorer":
        assert {"method": "control", "params": {"alarm": 1}}.items() <= next(
            p for p in received if p.get("method") == "control"
        ).items()
        assert any(p.get("method") == "get_status_reply" for p in received)
        # the SDK answers control without "method": accepted, and said so in the log
        assert any("control_reply without method" in r.getMessage() for r in caplog.records)
    else:
        deltas = [p for p in received if p.get("type") == "delta"]
        assert deltas and deltas[0]["payload"]["state"] == {"alarm": 1}
        assert any(p.get("type") == "get" and p.get("result") == 0 for p in received)
        # the SDK cleared desired after applying it, as Tencent devices do
        assert "alarm" not in tencent_cloud.get_shadow(DEVICE)[PID]["desired"]
