"""``thingmodel simulate`` run as a user runs it: a subprocess against a real cloud and broker.

The acceptance run: 2,000 devices for 20 s against a local cloud on mosquitto (the recipe of
docs/simulate.md, scaled down), exit 0, and every device's shadow in the cloud afterwards.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thingmodel.brokers import Mosquitto
from thingmodel.cloud import LocalCloud

pytestmark = pytest.mark.broker

CLI = [sys.executable, "-m", "thingmodel.cli"]
SERVICES = Path(__file__).parent / "helpers.py"
FLEET = 2000
OPEN_FILES = 3 * FLEET  # the simulator's sockets, mosquitto's, and room to spare


def simulate(*args: str, timeout: float = 120) -> tuple[int, dict[str, Any], str]:
    """Run ``thingmodel simulate ... --json``: (exit code, the summary, stderr)."""
    result = subprocess.run(
        [*CLI, "simulate", f"{SERVICES}:Detector", "--json", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


@pytest.fixture
def open_files() -> Iterator[None]:
    """Enough descriptors for a fleet (inherited by mosquitto and the simulator)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < OPEN_FILES:
        pytest.skip(f"the descriptor limit ({hard}) is too low for {FLEET} devices")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, OPEN_FILES), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def fleet_cloud(open_files: None, mosquitto: Mosquitto) -> Iterator[LocalCloud]:
    with LocalCloud(broker=mosquitto.url, http_port=0) as cloud:
        yield cloud


def test_a_small_fleet_on_its_own_cloud_reports_and_exits_0() -> None:
    code, summary, stderr = simulate(
        "--devices", "20", "--seconds", "2", "--report-every", "0.5", "--seed", "3"
    )
    assert code == 0, stderr
    assert summary["connected"] == summary["devices"] == 20
    assert summary["sent"] == summary["received"] >= 20
    assert (summary["lost"], summary["dropped"], summary["missing_shadows"]) == (0, 0, 0)
    assert summary["errors"] == {} and summary["seed"] == 3
    assert "simulating 20 huawei devices (all of 20)" in stderr


def test_two_shards_share_a_running_cloud_and_run_each_device_once(fleet_cloud: LocalCloud) -> None:
    url = fleet_cloud.http_url
    assert url is not None
    common = [
        "--devices",
        "10",
        "--seconds",
        "1",
        "--report-every",
        "0.5",
        "--cloud",
        url,
        "--prefix",
        "shard-",
    ]
    shards = [
        subprocess.Popen(
            [*CLI, "simulate", f"{SERVICES}:Detector", "--json", *common, "--shard", f"{i}/2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    summaries = []
    for shard in shards:
        out, err = shard.communicate(timeout=60)
        assert shard.returncode == 0, err
        summaries.append(json.loads(out))
    assert [s["devices"] for s in summaries] == [5, 5]
    assert [s["shard"] for s in summaries] == ["0/2", "1/2"]
    assert sorted(fleet_cloud.devices()) == sorted(f"shard-{i}" for i in range(10))


def test_two_thousand_devices_for_20_s_all_connect_all_report_and_all_have_a_shadow(
    fleet_cloud: LocalCloud,
) -> None:
    url = fleet_cloud.http_url
    assert url is not None
    code, summary, stderr = simulate(
        "--devices", str(FLEET), "--seconds", "20", "--report-every", "2", "--cloud", url, timeout=240
    )
    assert code == 0, stderr
    assert summary["connected"] == FLEET
    assert summary["sent"] == summary["received"] >= FLEET
    assert (summary["lost"], summary["dropped"], summary["missing_shadows"]) == (0, 0, 0)
    ids = [f"sim-{i}" for i in range(FLEET)]
    assert set(ids) <= set(fleet_cloud.devices())
    assert all(fleet_cloud.get_shadow(i)["smokeDetector"]["reported"] for i in ids)
