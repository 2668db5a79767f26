"""Vendor codecs: one module per platform, each holding the device half and the platform half.

A device codec turns downlink (topic, payload) pairs into device events and device actions into
:class:`~thingmodel.events.Outgoing` publishes; a platform codec does the same for the other end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ..events import DeviceAction, DeviceEvent, Outgoing, PlatformAction, PlatformEvent
from .huawei import HuaweiDevice, HuaweiPlatform


class DeviceCodec(Protocol):
    vendor: str

    def subscriptions(self) -> list[str]: ...

    def decode(self, topic: str, payload: bytes) -> list[DeviceEvent]: ...

    def encode(self, action: DeviceAction) -> list[Outgoing]: ...


class PlatformCodec(Protocol):
    vendor: str

    def subscriptions(self) -> list[str]: ...

    def decode(self, topic: str, payload: bytes) -> list[PlatformEvent]: ...

    def encode(self, action: PlatformAction) -> list[Outgoing]: ...


VENDORS = ("huawei", "aws", "tencent-hub", "tencent-explorer")


def device_codec(
    vendor: str, *, device_id: str, service_ids: Sequence[str] = (), **options: Any
) -> DeviceCodec:
    """The device half of ``vendor``'s protocol for one device with these services."""
    if vendor == "huawei":
        return HuaweiDevice(device_id, **options)
    # other vendors' modules are imported when used: a device speaks one protocol
    if vendor == "aws":
        from .aws import AwsDevice

        return AwsDevice(device_id, service_ids=service_ids, **options)
    if vendor in ("tencent-hub", "tencent-explorer"):
        from . import tencent

        kind = tencent.TencentHubDevice if vendor == "tencent-hub" else tencent.TencentExplorerDevice
        return kind(device_id, service_ids=service_ids, **options)
    raise ValueError(f"unknown vendor {vendor!r} (known: {', '.join(VENDORS)})")


def platform_codec(vendor: str, **options: Any) -> PlatformCodec:
    """The platform half of ``vendor``'s protocol."""
    if vendor == "huawei":
        return HuaweiPlatform(**options)
    if vendor == "aws":
        from .aws import AwsPlatform

        return AwsPlatform(**options)
    if vendor in ("tencent-hub", "tencent-explorer"):
        from . import tencent

        return tencent.TencentHubPlatform() if vendor == "tencent-hub" else tencent.TencentExplorerPlatform()
    raise ValueError(f"unknown vendor {vendor!r} (known: {', '.join(VENDORS)})")


def cloud_key(codec: DeviceCodec, service_id: str) -> str:
    """The key the platform side files ``service_id``'s shadow under (AWS: its shadow's name)."""
    key = getattr(codec, "cloud_key", None)
    return service_id if key is None else str(key(service_id))


__all__ = ["VENDORS", "DeviceCodec", "PlatformCodec", "device_codec", "platform_codec"]
