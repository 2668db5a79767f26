"""Time sync of a real Device against the local cloud, on loopback."""

from __future__ import annotations

import pytest

from thingmodel import CodecError, Property, Service
from thingmodel.cloud import LocalCloud
from thingmodel.device import Device

from .helpers import fast_backoff

pytestmark = pytest.mark.broker


class Detector(Service):
    service_id = "smokeDetector"
    alarm = Property(int, writeable=True, default=0)


@pytest.mark.parametrize("vendor", ["huawei", "tencent-hub", "tencent-explorer"])
def test_a_device_measures_the_local_clouds_clock_within_5_ms(vendor: str) -> None:
    seen: list[float] = []
    with (
        LocalCloud(vendor=vendor, port=0) as cloud,
        Device(
            [Detector()],
            device_id="ABCDEFGHIJ.time1",
            vendor=vendor,
            broker=cloud.url,
            backoff=fast_backoff(),
            on_time_sync=seen.append,
        ) as device,
    ):
        offset = device.time_sync(timeout=5)
        assert abs(offset) < 0.005
        assert device.time_offset == offset
        assert seen == [offset]


def test_aws_gives_the_documented_error() -> None:
    with LocalCloud(vendor="aws", port=0) as cloud:
        device = Device([Detector()], device_id="time-aws", vendor="aws", broker=cloud.url)
        with pytest.raises(CodecError, match="AWS IoT has no time service"):
            device.time_sync()
        with pytest.raises(CodecError, match="NTP"):
            device.enable_time_sync(10)
