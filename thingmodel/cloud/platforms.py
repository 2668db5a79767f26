"""One cloud per vendor protocol, behind the same application API.

Huawei IoTDA and Tencent IoT keep per-service shadows (:class:`~.shadows.ShadowCloud` with the
vendor's platform codec); AWS IoT keeps shadow documents with its own semantics
(:class:`~.aws.AwsCloud`). The local cloud and the fake cloud use whichever ``make_cloud`` returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..protocol import messages as ev
from ..vendors import platform_codec
from .app import Result
from .shadows import ShadowCloud


class VendorCloud(Protocol):
    """What the local and fake clouds need from a vendor's cloud side."""

    @property
    def vendor(self) -> str: ...

    def subscriptions(self) -> list[str]: ...
    def open_store(self, path: str) -> None: ...
    def close(self) -> None: ...
    def shadow(self, device_id: str) -> dict[str, ev.ShadowState]: ...
    def devices(self) -> list[str]: ...
    def desire(self, device_id: str, services: Mapping[str, Mapping[str, Any]]) -> str: ...
    def command(
        self, device_id: str, service_id: str | None, name: str, params: Mapping[str, Any] | None = None
    ) -> str: ...
    def read(self, device_id: str, service_id: str | None = None) -> str: ...
    def delete_shadow(self, device_id: str, service_id: str | None = None) -> list[str]: ...
    def send_message(self, device_id: str, payload: bytes) -> None: ...
    def send_event(
        self, device_id: str, service_id: str, event_type: str, params: Mapping[str, Any] | None = None
    ) -> None: ...
    def result(self, request_id: str) -> Result | None: ...
    def take_result(self, request_id: str) -> Result | None: ...
    def forget(self, request_id: str) -> None: ...
    def receive(self, topic: str, payload: bytes) -> None: ...


def make_cloud(
    vendor: str,
    publish: Callable[[ev.Outgoing], None],
    *,
    on_result: Callable[[str, Result], None] | None = None,
    on_uplink: Callable[[ev.PlatformUplink], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> VendorCloud:
    """The cloud side of ``vendor``'s protocol, publishing through ``publish``; ``clock`` (Unix
    seconds) is what its platform codec stamps answers with (time-sync answers, timestamps)."""
    if vendor == "aws":
        from .aws import AwsCloud  # imported when used: it pulls in the shadow service

        return AwsCloud(publish, on_result=on_result, on_uplink=on_uplink)
    codec = platform_codec(vendor, clock=clock)
    return ShadowCloud(codec, publish, on_result=on_result, on_uplink=on_uplink)
