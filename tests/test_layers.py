"""The layers stay apart: importing the package, the engine or the device loads no vendor module,
and the engine loads no I/O (each vendor module is imported when a device or cloud speaks it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def loaded_after(statement: str) -> list[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return [m for m in json.loads(out) if m.startswith(("thingmodel", "paho"))]


@pytest.mark.parametrize("module", ["thingmodel", "thingmodel.engine.core", "thingmodel.engine.session"])
def test_importing_the_package_or_the_engine_loads_no_vendor_and_no_transport(module: str) -> None:
    loaded = loaded_after(f"import {module}")
    assert [m for m in loaded if m.startswith("thingmodel.vendors.")] == []
    assert [m for m in loaded if m.startswith(("thingmodel.transport", "paho", "thingmodel.cloud"))] == []


def test_a_device_loads_only_the_vendor_it_speaks() -> None:
    loaded = loaded_after(
        "from thingmodel.device import Device; from thingmodel.demo_device import SmokeDetector; "
        "Device([SmokeDetector()], device_id='d1', vendor='aws')"
    )
    assert [m for m in loaded if m.startswith("thingmodel.vendors.")] == ["thingmodel.vendors.aws"]


def test_every_exception_thingmodel_raises_is_a_thingmodel_error() -> None:
    from thingmodel import errors

    exceptions = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, BaseException)]
    assert len(exceptions) >= 12
    assert all(issubclass(e, errors.ThingModelError) for e in exceptions)
    from thingmodel.brokers import BrokerError
    from thingmodel.cloud.aws_shadow import ShadowError
    from thingmodel.transport import AuthenticationError, ConnectError

    assert {BrokerError, ShadowError, AuthenticationError, ConnectError} <= set(exceptions)
