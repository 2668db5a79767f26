"""Where the local cloud keeps its shadows."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from typing import Protocol

from ..protocol.messages import ShadowState


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


class SqliteStore:
    """Shadows in a SQLite file, so nothing is lost across a restart of the local cloud.

    Every save is one committed transaction (WAL journal, synchronous=NORMAL: durable across a
    process kill, which is what a local cloud needs).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS shadows (device_id TEXT NOT NULL, service_id TEXT NOT NULL,"
                " desired TEXT NOT NULL, reported TEXT NOT NULL, version INTEGER NOT NULL,"
                " PRIMARY KEY (device_id, service_id))"
            )
        except sqlite3.Error as exc:
            raise OSError(f"cannot open the shadow store {self.path}: {exc}") from exc

    def load(self, device_id: str) -> dict[str, ShadowState]:
        with self._lock:
            rows = self._db.execute(
                "SELECT service_id, desired, reported, version FROM shadows WHERE device_id = ?", (device_id,)
            ).fetchall()
        return {sid: ShadowState(json.loads(d), json.loads(r), v) for sid, d, r, v in rows}

    def save(self, device_id: str, service_id: str, state: ShadowState) -> None:
        row = (
            device_id,
            service_id,
            json.dumps(dict(state.desired)),
            json.dumps(dict(state.reported)),
            state.version,
        )
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO shadows VALUES (?, ?, ?, ?, ?)", row)

    def devices(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT device_id FROM shadows ORDER BY device_id").fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
