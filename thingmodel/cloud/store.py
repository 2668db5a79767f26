"""Where the local cloud keeps its shadows."""

from __future__ import annotations

import threading
from typing import Protocol

from ..events import ShadowState


class ShadowStore(Protocol):
    """Per-device, per-service shadow states (desired, reported, version)."""

    def load(self, device_id: str) -> dict[str, ShadowState]: ...

    def save(self, device_id: str, service_id: str, state: ShadowState) -> None: ...

    def devices(self) -> list[str]: ...


class MemoryStore:
    """Shadows in a dict: for tests and the fake cloud; lost when the process ends."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, ShadowState]] = {}
        self._lock = threading.Lock()

    def load(self, device_id: str) -> dict[str, ShadowState]:
        with self._lock:
            return dict(self._data.get(device_id, {}))

    def save(self, device_id: str, service_id: str, state: ShadowState) -> None:
        with self._lock:
            self._data.setdefault(device_id, {})[service_id] = state

    def devices(self) -> list[str]:
        with self._lock:
            return sorted(self._data)
