"""File transfer: the device asks its cloud where to put or get a file, then moves it over HTTP(S).

Huawei ``$file_manager`` only (``get_upload_url``/``get_download_url``, then ``PUT``/``GET`` on the
URL the cloud answers with, then ``upload_result_report``/``download_result_report``). Tencent and
AWS offer no file service over MQTT: there :meth:`Device.upload_file` is a
:class:`~thingmodel.errors.NotSupported` naming the vendor (AWS users sign S3 URLs themselves).

:class:`UrlRequests` matches the cloud's answers to the callers waiting for them: the answer
names the file and the direction, not a request id.
"""

from __future__ import annotations

import threading
from typing import Literal

from ..protocol.messages import FileUrl

__all__ = ["UrlRequests"]

Direction = Literal["upload", "download"]


class UrlRequests:
    """Callers waiting for a file URL, by ``(direction, file name)``; at most ``limit`` at once."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._waiting: dict[tuple[str, str], tuple[threading.Event, list[FileUrl]]] = {}

    def expect(self, direction: Direction, file_name: str) -> tuple[threading.Event, list[FileUrl]]:
        """Register a wait; ValueError when the same file is already being asked for."""
        key = (direction, file_name)
        with self._lock:
            if key in self._waiting:
                raise ValueError(f"a {direction} of {file_name!r} is already waiting for its URL")
            if len(self._waiting) >= self.limit:
                raise ValueError(f"{self.limit} file transfers are already waiting for URLs")
            slot: tuple[threading.Event, list[FileUrl]] = (threading.Event(), [])
            self._waiting[key] = slot
            return slot

    def forget(self, direction: Direction, file_name: str) -> None:
        with self._lock:
            self._waiting.pop((direction, file_name), None)

    def resolve(self, answer: FileUrl) -> bool:
        """Hand ``answer`` to its caller; False when nobody waits for it."""
        with self._lock:
            slot = self._waiting.get((answer.direction, answer.file_name))
        if slot is None:
            return False
        slot[1].append(answer)
        slot[0].set()
        return True
