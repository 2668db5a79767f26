"""The OTA example, run as a user runs it, on each vendor: 1.1 installed, the broken 1.2 refused."""

from __future__ import annotations

import json
from pathlib import Path

import ota_device
import pytest

pytestmark = pytest.mark.broker


@pytest.mark.parametrize("vendor", ["huawei", "aws", "tencent-explorer", "tencent-hub"])
def test_the_example_upgrades_to_1_1_and_keeps_it_when_1_2_fails_to_install(
    vendor: str, tmp_path: Path
) -> None:
    assert ota_device.main(["--vendor", vendor, "--firmware-dir", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "version.json").read_text()) == {"version": "1.1"}
    assert (tmp_path / "firmware.bin").read_bytes().startswith(b"FW")
