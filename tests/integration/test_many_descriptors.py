"""A process with many open files: sockets numbered past 1023, where ``select()`` stops working."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator

import pytest

from thingmodel.brokers import Mosquitto
from thingmodel.cloud import LocalCloud
from thingmodel.device import Device
from thingmodel.transport import Backoff

from .helpers import Detector, eventually, fast_backoff

OPEN_FILES = 1100


@pytest.fixture
def many_open_files() -> Iterator[list[int]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < OPEN_FILES + 200:
        pytest.skip(f"the descriptor limit ({hard}) is too low for {OPEN_FILES} open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, OPEN_FILES + 200), hard))
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(OPEN_FILES)]
    try:
        yield fds
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _fill_holes(fds: list[int]) -> None:
    """Take every free descriptor below 1024 (a restarted broker's pipes leave some)."""
    while True:
        fd = os.open(os.devnull, os.O_RDONLY)
        if fd > 1023:
            os.close(fd)
            return
        fds.append(fd)


def _socket_number(device: Device) -> int:
    client = device.transport._client
    assert client is not None
    sock = client.socket()
    assert sock is not None
    return int(sock.fileno())


def test_device_connects_and_reconnects_with_descriptors_past_1023(
    mosquitto: Mosquitto, many_open_files: list[int]
) -> None:
    assert max(many_open_files) > 1023
    cloud = LocalCloud(broker=mosquitto.url).start()
    cloud.transport.backoff = fast_backoff()  # type: ignore[union-attr]
    detector = Detector()
    # waits of 1-2 s before a reconnect: time to take the descriptors the broker's restart frees
    backoff = Backoff(minimum=2.0, maximum=2.0)
    device = Device([detector], device_id="fd-1", broker=mosquitto.url, backoff=backoff)
    try:
        device.connect()
        assert _socket_number(device) > 1023
        assert cloud.set_desired("fd-1", "smokeDetector", {"alarm": 1}).ok
        mosquitto.stop()
        eventually(lambda: not device.connected, what="the device to see the broker go")
        mosquitto.start()
        _fill_holes(many_open_files)
        eventually(lambda: device.connected, timeout=20, what="the device to reconnect")
        assert _socket_number(device) > 1023
        eventually(
            lambda: cloud.set_desired("fd-1", "smokeDetector", {"alarm": 0}, timeout=2).ok,
            timeout=20,
            what="a desire after the reconnect",
        )
        assert detector.set_calls[0] == 1 and detector.set_calls[-1] == 0
    finally:
        device.disconnect()
        cloud.stop()
