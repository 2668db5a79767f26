"""The vendors: one module per platform, each holding both ends of its protocol (device half and
platform half), its MQTT credentials and its ``Device`` factory.

Vendor modules are imported on first use: importing :mod:`thingmodel` loads none of them, and a
device loads only the one it speaks. A new vendor is a module here plus a row of :data:`VENDORS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import attrs

from ..protocol.codec import DeviceCodec, PlatformCodec
from ..protocol.messages import PlatformDownlink, Uplink


@attrs.frozen
class Vendor:
    """One vendor protocol: where its codec halves live."""

    name: str
    title: str
    module: str
    device: str
    platform: str


_TABLE = (
    Vendor("huawei", "Huawei IoTDA", "huawei", "HuaweiDevice", "HuaweiPlatform"),
    Vendor("aws", "AWS IoT", "aws", "AwsDevice", "AwsPlatform"),
    Vendor("tencent-hub", "Tencent IoT Hub", "tencent", "TencentHubDevice", "TencentHubPlatform"),
    Vendor(
        "tencent-explorer",
        "Tencent IoT Explorer",
        "tencent",
        "TencentExplorerDevice",
        "TencentExplorerPlatform",
    ),
)
BY_NAME = {v.name: v for v in _TABLE}
VENDORS = tuple(BY_NAME)


def vendor(name: str) -> Vendor:
    """The vendor called ``name``; ValueError naming the known ones otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown vendor {name!r} (known: {', '.join(VENDORS)})") from None


def vendor_module(name: str) -> ModuleType:
    """The module holding ``name``'s protocol (imported now if it was not yet)."""
    return importlib.import_module(f"{__name__}.{vendor(name).module}")


def device_codec(
    name: str, *, device_id: str, service_ids: Sequence[str] = (), **options: Any
) -> DeviceCodec:
    """The device half of ``name``'s protocol for one device with these services."""
    kind = getattr(vendor_module(name), vendor(name).device)
    codec: DeviceCodec = kind(device_id, service_ids=service_ids, **options)
    return codec


def platform_codec(name: str, **options: Any) -> PlatformCodec:
    """The platform half of ``name``'s protocol."""
    codec: PlatformCodec = getattr(vendor_module(name), vendor(name).platform)(**options)
    return codec


def shadow_key(codec: DeviceCodec, service_id: str) -> str:
    """The key the platform side files ``service_id``'s shadow under (AWS: its shadow's name)."""
    return codec.shadow_key(service_id)


def support_table() -> str:
    """What each vendor's codecs can send, as the Markdown table in docs/vendors.md."""
    from ..protocol import messages as ms

    rows: list[tuple[str, type]] = [("device sends", kind) for kind in _members(Uplink)]
    rows += [("cloud sends", kind) for kind in _members(PlatformDownlink)]
    device = {v.name: getattr(vendor_module(v.name), v.device).encoders.kinds for v in _TABLE}
    platform = {v.name: getattr(vendor_module(v.name), v.platform).encoders.kinds for v in _TABLE}
    # AWS shadows are served by the shadow service; its platform codec covers commands only.
    platform["aws"] = platform["aws"] | {ms.PushDesired, ms.AnswerShadow}
    lines = ["| | message | " + " | ".join(v.title for v in _TABLE) + " |"]
    lines.append("|---|---|" + "---|" * len(_TABLE))
    for side, kind in rows:
        table = device if side == "device sends" else platform
        marks = " | ".join("yes" if kind in table[v.name] else "—" for v in _TABLE)
        lines.append(f"| {side} | `{kind.__name__}` | {marks} |")
    return "\n".join(lines)


def _members(union: Any) -> list[type]:
    return list(getattr(union, "__args__", (union,)))


__all__ = [
    "VENDORS",
    "DeviceCodec",
    "PlatformCodec",
    "Vendor",
    "device_codec",
    "platform_codec",
    "shadow_key",
    "support_table",
    "vendor",
    "vendor_module",
]
