"""Tencent free-form messages up: on the device's default custom topic ``{ProductId}/{DeviceName}/data``
(Tencent creates it for every device with publish and subscribe rights), for IoT Hub and IoT
Explorer devices, read by both platform halves; and the hub still has no events."""

from __future__ import annotations

from typing import Any

import pytest

from thingmodel import CodecError, DefinitionError, Event, Property, Service
from thingmodel.cloud.shadows import ShadowCloud
from thingmodel.protocol import messages as ev
from thingmodel.protocol.topics import topic_matches
from thingmodel.testing import FakeCloud
from thingmodel.vendors.tencent import (
    MAX_PAYLOAD,
    TencentExplorerDevice,
    TencentExplorerPlatform,
    TencentHubDevice,
    TencentHubPlatform,
    data_topic,
    device_topics,
    topic_device,
)

DEVICE = "ABCDEFGHIJ.dev1"
DATA = "ABCDEFGHIJ/dev1/data"
HALVES = [
    pytest.param(TencentHubDevice, TencentHubPlatform, id="hub"),
    pytest.param(TencentExplorerDevice, TencentExplorerPlatform, id="explorer"),
]


def test_the_data_topic_is_tencents_default_custom_topic() -> None:
    assert data_topic("ABCDEFGHIJ", "dev1") == DATA
    assert topic_device(DATA) == DEVICE
    publish, _ = device_topics(DEVICE)
    assert any(topic_matches(f, DATA) for f in publish)
    assert not any(topic_matches(f, "ABCDEFGHIJ/dev2/data") for f in publish)


@pytest.mark.parametrize(("device", "platform"), HALVES)
@pytest.mark.parametrize("payload", [b"", b"hello", b"\x00\xff binary", b"x" * MAX_PAYLOAD])
def test_a_message_goes_up_on_the_data_topic_as_its_bytes_and_is_read_back(
    device: Any, platform: Any, payload: bytes
) -> None:
    [out] = device(DEVICE, service_ids=["smokeDetector"]).encode(ev.SendMessage(payload))
    assert (out.topic, out.payload) == (DATA, payload)
    cloud = platform()
    assert any(topic_matches(f, DATA) for f in cloud.subscriptions())
    assert cloud.decode(out.topic, out.payload) == [ev.MessageUp(DEVICE, payload)]


@pytest.mark.parametrize(("device", "platform"), HALVES)
def test_a_message_over_16_kb_is_refused_by_the_device_and_malformed_at_the_cloud(
    device: Any, platform: Any
) -> None:
    with pytest.raises(CodecError, match="16385 bytes exceeds Tencent IoT's limit of 16384 bytes"):
        device(DEVICE, service_ids=["smokeDetector"]).encode(ev.SendMessage(b"x" * (MAX_PAYLOAD + 1)))
    with pytest.raises(CodecError, match="a message is bytes, not str"):
        device(DEVICE, service_ids=["smokeDetector"]).encode(ev.SendMessage("text"))  # type: ignore[arg-type]
    [event] = platform().decode(DATA, b"x" * (MAX_PAYLOAD + 1))
    assert isinstance(event, ev.DeviceMalformed)
    assert (event.device_id, event.kind) == (DEVICE, "message") and "exceeds" in event.reason


@pytest.mark.parametrize(("device", "platform"), HALVES)
@pytest.mark.parametrize("topic", ["AB.CD/dev1/data", "ABCDEFGHIJ//data"])
def test_a_data_topic_naming_no_device_is_malformed(device: Any, platform: Any, topic: str) -> None:
    [event] = platform().decode(topic, b"hello")
    assert isinstance(event, ev.DeviceMalformed) and event.device_id is None


@pytest.mark.parametrize("vendor", ["tencent-hub", "tencent-explorer"])
def test_the_local_clouds_tencent_modes_keep_the_message(vendor: str) -> None:
    platform = TencentHubPlatform() if vendor == "tencent-hub" else TencentExplorerPlatform()
    uplinks: list[ev.PlatformUplink] = []
    cloud = ShadowCloud(platform, lambda message: None, on_uplink=uplinks.append)
    cloud.receive(DATA, b"filter needs cleaning")
    assert cloud.activity(DEVICE).messages == (ev.MessageUp(DEVICE, b"filter needs cleaning"),)
    assert uplinks == [ev.MessageUp(DEVICE, b"filter needs cleaning")]


class Plain(Service):
    service_id = "smokeDetector"
    alarm = Property(int, default=0)


@pytest.mark.parametrize("vendor", ["tencent-hub", "tencent-explorer"])
def test_a_fake_tencent_device_sends_a_message_the_cloud_keeps(vendor: str) -> None:
    with FakeCloud(Plain(), vendor=vendor, device_id=DEVICE) as cloud:
        cloud.core.emit(ev.SendMessage(b"\x00raw"))
        assert isinstance(cloud.cloud, ShadowCloud)
        assert cloud.cloud.activity(DEVICE).messages == (ev.MessageUp(DEVICE, b"\x00raw"),)
        assert cloud.errors == []


def test_the_hub_has_no_events_so_a_service_declaring_them_is_refused() -> None:
    assert ev.EmitEvent not in TencentHubDevice.encoders.kinds

    class Door(Service):
        service_id = "door"
        opened = Event({"angle": int})

    with pytest.raises(DefinitionError, match="tencent-hub has no events"):
        FakeCloud(Door(), vendor="tencent-hub", device_id=DEVICE)
