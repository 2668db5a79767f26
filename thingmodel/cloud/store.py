"""Where the local cloud keeps its shadows.

Stores group writes with ``transaction()``: everything saved inside becomes durable at once,
when the outermost transaction commits (a nested one is a savepoint: an exception rolls back
only its own writes). The local cloud handles device uplinks in batches, one transaction each,
and acknowledges them only after the commit.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..protocol.messages import ShadowState


class ShadowStore(Protocol):
    """Per-device, per-service shadow states (desired, reported, version)."""

    def load(self, device_id: str) -> dict[str, ShadowState]: ...

    def save(self, device_id: str, service_id: str, state: ShadowState) -> None: ...

    def delete(self, device_id: str, service_id: str) -> None:
        """Forget one service's shadow (a device with none left is no longer listed)."""
        ...

    def devices(self) -> list[str]: ...

    def transaction(self) -> AbstractContextManager[None]:
        """Saves made inside become durable together, at the end; an exception undoes them."""
        ...


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

    def delete(self, device_id: str, service_id: str) -> None:
        with self._lock:
            services = self._data.get(device_id, {})
            services.pop(service_id, None)
            if not services:
                self._data.pop(device_id, None)

    def devices(self) -> list[str]:
        with self._lock:
            return sorted(self._data)

    def transaction(self) -> AbstractContextManager[None]:
        """A no-op: nothing here is durable, so every save counts at once and nothing rolls back."""
        return contextlib.nullcontext()


class SqliteFile:
    """One SQLite connection shared by threads, with explicit, nestable transactions.

    WAL journal, synchronous=NORMAL: a commit survives a kill of the process (not a power cut),
    which is what a local cloud needs. Outside a transaction each statement commits by itself.
    One thread at a time holds a transaction; statements other threads run meanwhile share the
    connection, so they join it (committed, or rolled back, with it). They are never blocked by
    it: a thread that holds a lock of its own while saving cannot deadlock against the holder.
    """

    def __init__(self, path: str | os.PathLike[str], schema: str, what: str = "store") -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()  # one statement at a time on the connection
        self._holder = threading.RLock()  # one thread's transaction at a time
        self._depth = 0  # open transactions (1 + savepoints) of the holder
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(schema)
        except sqlite3.Error as exc:
            raise OSError(f"cannot open the {what} {self.path}: {exc}") from exc

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit everything saved inside at once; roll it back if the block raises.

        Nested use is a savepoint: an exception leaving the inner block undoes only its writes.
        A failed commit is rolled back and raised as OSError.
        """
        with self._holder:
            depth = self._depth
            with self._lock:
                self._db.execute("BEGIN" if depth == 0 else f"SAVEPOINT tm{depth}")
            self._depth = depth + 1
            try:
                yield
            except BaseException:
                self._depth = depth
                with self._lock:
                    if self._db.in_transaction:  # some errors end the transaction themselves
                        self._db.execute("ROLLBACK" if depth == 0 else f"ROLLBACK TO tm{depth}")
                        if depth:
                            self._db.execute(f"RELEASE tm{depth}")
                raise
            self._depth = depth
            with self._lock:
                try:
                    self._db.execute("COMMIT" if depth == 0 else f"RELEASE tm{depth}")
                except sqlite3.Error as exc:
                    if depth == 0 and self._db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            self._db.execute("ROLLBACK")
                    raise OSError(f"cannot commit to {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SqliteStore(SqliteFile):
    """Shadows in a SQLite file, so nothing is lost across a restart of the local cloud.

    A save outside a transaction is committed by itself; inside one, at its commit.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(
            path,
            "CREATE TABLE IF NOT EXISTS shadows (device_id TEXT NOT NULL, service_id TEXT NOT NULL,"
            " desired TEXT NOT NULL, reported TEXT NOT NULL, version INTEGER NOT NULL,"
            " PRIMARY KEY (device_id, service_id))",
            "shadow store",
        )

    def load(self, device_id: str) -> dict[str, ShadowState]:
        rows = self._run(
            "SELECT service_id, desired, reported, version FROM shadows WHERE device_id = ?", (device_id,)
        )
        return {sid: ShadowState(json.loads(d), json.loads(r), v) for sid, d, r, v in rows}

    def save(self, device_id: str, service_id: str, state: ShadowState) -> None:
        row = (
            device_id,
            service_id,
            json.dumps(dict(state.desired)),
            json.dumps(dict(state.reported)),
            state.version,
        )
        self._run("INSERT OR REPLACE INTO shadows VALUES (?, ?, ?, ?, ?)", row)

    def delete(self, device_id: str, service_id: str) -> None:
        self._run("DELETE FROM shadows WHERE device_id = ? AND service_id = ?", (device_id, service_id))

    def devices(self) -> list[str]:
        return [r[0] for r in self._run("SELECT DISTINCT device_id FROM shadows ORDER BY device_id")]
