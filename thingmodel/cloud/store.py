"""Where the local cloud keeps its shadows.

Stores group writes with ``transaction()``: everything saved inside becomes durable at once,
when the outermost transaction commits (a nested one is a savepoint: an exception rolls back
only its own writes). The local cloud handles device uplinks in batches, one transaction each,
and acknowledges them only after the commit.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..protocol.jsonwire import dumps
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
            self._db.executescript(schema)
        except sqlite3.Error as exc:
            raise OSError(f"cannot open the {what} {self.path}: {exc}") from exc

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def transaction(self) -> AbstractContextManager[None]:
        """Commit everything saved inside at once; roll it back if the block raises.

        Nested use is a savepoint: an exception leaving the inner block undoes only its writes.
        A failed commit is rolled back and raised as OSError.
        """
        return self._transaction()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
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

    A save outside a transaction is committed by itself; inside one, at its commit. Inside a
    transaction nothing touches the file until the outermost commit: saves and deletes wait in
    memory (a nested transaction that raises takes its own back) and are written then, many
    rows to a statement (an upsert). A device's shadows, once loaded, are kept in memory
    (up to :attr:`cached_devices` devices); the cache is dropped whenever another connection
    has written the file. Values are stored as the codecs' JSON (:func:`~..protocol.jsonwire.dumps`).

    The WAL is checkpointed into the file by a thread of its own, at most every
    :data:`CHECKPOINT_INTERVAL` seconds after a commit, instead of by whichever commit SQLite
    picks (that commit then waited, fsync included, tens of milliseconds).
    """

    #: devices whose shadows are kept in memory (beyond that the oldest loaded is forgotten)
    cached_devices = 20_000

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(
            path,
            "CREATE TABLE IF NOT EXISTS shadows (device_id TEXT NOT NULL, service_id TEXT NOT NULL,"
            " desired TEXT NOT NULL, reported TEXT NOT NULL, version INTEGER NOT NULL,"
            " PRIMARY KEY (device_id, service_id))",
            "shadow store",
        )
        # All guarded by _lock. _cache holds what loads answer, the writes of an open transaction
        # included; _pending the rows its commit writes (None: delete); _undo what each of its
        # writes replaced, for a nested transaction that raises.
        self._cache: dict[str, dict[str, ShadowState]] = {}
        self._pending: dict[tuple[str, str], tuple[str, str, str, str, int] | None] = {}
        self._undo: list[tuple[str, str, ShadowState | None, Any]] = []
        self._version = self._data_version()
        self._db.execute("PRAGMA wal_autocheckpoint=0")  # see _Checkpoints
        self._checkpoints: _Checkpoints | None = None
        self._checkpoints_failed = False

    def transaction(self) -> AbstractContextManager[None]:
        return _StoreTransaction(self)

    def load(self, device_id: str) -> dict[str, ShadowState]:
        with self._lock:
            if not self._depth:
                self._check_cache()
            return dict(self._services(device_id))

    def save(self, device_id: str, service_id: str, state: ShadowState) -> None:
        row = (device_id, service_id, _json(state.desired), _json(state.reported), state.version)
        with self._lock:
            if not self._depth:
                self._check_cache()
            services = self._services(device_id)
            if self._depth:
                self._remember(device_id, service_id, services, row)
            else:
                self._db.execute(_UPSERT, row)
                self._written()
            services[service_id] = state

    def delete(self, device_id: str, service_id: str) -> None:
        with self._lock:
            if not self._depth:
                self._check_cache()
            services = self._services(device_id)
            if self._depth:
                self._remember(device_id, service_id, services, None)
            else:
                self._db.execute(_DELETE, (device_id, service_id))
                self._written()
            services.pop(service_id, None)

    def devices(self) -> list[str]:
        with self._lock:
            stored = {r[0] for r in self._db.execute("SELECT DISTINCT device_id FROM shadows")}
            for device_id in {device_id for device_id, _ in self._pending}:  # not written yet
                if self._cache[device_id]:
                    stored.add(device_id)
                else:
                    stored.discard(device_id)
        return sorted(stored)

    # -- under _lock -----------------------------------------------------------------------------
    def _data_version(self) -> int:
        version: int = self._db.execute("PRAGMA data_version").fetchone()[0]
        return version

    def _check_cache(self) -> None:
        """Forget the cache if another connection has committed since it was filled."""
        version = self._data_version()
        if version != self._version:
            self._version = version
            self._cache.clear()

    def _services(self, device_id: str) -> dict[str, ShadowState]:
        services = self._cache.get(device_id)
        if services is None:
            rows = self._db.execute(
                "SELECT service_id, desired, reported, version FROM shadows WHERE device_id = ?",
                (device_id,),
            ).fetchall()
            services = {sid: ShadowState(json.loads(d), json.loads(r), v) for sid, d, r, v in rows}
            self._trim()
            self._cache[device_id] = services
        return services

    def _trim(self) -> None:
        """Past the limit, forget the oldest quarter (never in a transaction with writes)."""
        if len(self._cache) >= self.cached_devices and not self._pending:
            for oldest in list(itertools.islice(self._cache, len(self._cache) // 4 or 1)):
                del self._cache[oldest]

    def _remember(
        self,
        device_id: str,
        service_id: str,
        services: dict[str, ShadowState],
        row: tuple[str, str, str, str, int] | None,
    ) -> None:
        key = (device_id, service_id)
        self._undo.append((device_id, service_id, services.get(service_id), self._pending.get(key, _NO_ROW)))
        self._pending[key] = row

    def _undo_to(self, mark: int) -> None:
        while len(self._undo) > mark:
            device_id, service_id, state, row = self._undo.pop()
            services = self._cache[device_id]
            if state is None:
                services.pop(service_id, None)
            else:
                services[service_id] = state
            if row is _NO_ROW:
                del self._pending[(device_id, service_id)]
            else:
                self._pending[(device_id, service_id)] = row

    def _commit(self) -> None:
        pending, self._pending = self._pending, {}
        try:
            if pending:
                rows = [row for row in pending.values() if row is not None]
                gone = [key for key, row in pending.items() if row is None]
                self._db.execute("BEGIN")
                if gone:
                    self._db.executemany(_DELETE, gone)
                for size, values in _chunks(rows):
                    self._db.execute(_upsert(size), values)
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            self._pending = pending
            self._undo_to(0)  # the cache forgets what was not stored
            raise OSError(f"cannot commit to {self.path}: {exc}") from exc
        finally:
            self._undo.clear()
        if pending:
            self._written()
        self._trim()

    def _written(self) -> None:
        """A commit wrote the WAL: have it checkpointed soon."""
        if self._checkpoints is None:
            if self._checkpoints_failed:
                return
            try:
                self._checkpoints = _Checkpoints(self.path, self)
            except sqlite3.Error:  # no second connection: SQLite checkpoints at commits again
                self._checkpoints_failed = True
                self._db.execute("PRAGMA wal_autocheckpoint=1000")
                return
        self._checkpoints.due.set()

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.stop()
        super().close()


#: seconds the checkpoint thread lets commits gather before it checkpoints them
CHECKPOINT_INTERVAL = 0.5


class _Checkpoints:
    """A thread with its own connection that runs passive WAL checkpoints (they never block the
    writer) after commits. It ends with the store: on close(), or once the store is gone."""

    def __init__(self, path: str, store: SqliteStore) -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.due = threading.Event()
        self._store = weakref.ref(store)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shadow-store-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.due.set()
        if self._thread is not threading.current_thread():
            self._thread.join(10)

    def _over(self) -> bool:
        return self._stopping.is_set() or self._store() is None

    def _run(self) -> None:
        db = self._db
        try:
            while not self._over():
                if not self.due.wait(1.0) or self._over():
                    continue
                if self._stopping.wait(CHECKPOINT_INTERVAL):  # let commits gather
                    break
                self.due.clear()
                with contextlib.suppress(sqlite3.Error):  # busy now: the next commit asks again
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()


_UPSERT = (  # in place where the row exists: cheaper than INSERT OR REPLACE (a delete and an insert)
    "INSERT INTO shadows VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, service_id) DO UPDATE"
    " SET desired = excluded.desired, reported = excluded.reported, version = excluded.version"
)
_CHUNK = 128  # rows per statement at a commit (5 parameters each; SQLite allows 32766)


@functools.cache
def _upsert(rows: int) -> str:
    """_UPSERT for that many rows at once: one statement, so one step (and one release of the
    GIL) instead of one per row, and about half the time per row."""
    return _UPSERT.replace("(?, ?, ?, ?, ?)", ", ".join(["(?, ?, ?, ?, ?)"] * rows), 1)


def _chunks(rows: list[tuple[Any, ...]]) -> Iterator[tuple[int, list[Any]]]:
    """``(size, flattened parameters)``: _CHUNK rows at a time, then the rest in powers of two
    (so that few statement texts exist, and each stays in sqlite3's statement cache)."""
    at = 0
    while len(rows) - at >= _CHUNK:
        yield _CHUNK, [value for row in rows[at : at + _CHUNK] for value in row]
        at += _CHUNK
    size = _CHUNK
    while at < len(rows):
        size //= 2
        if len(rows) - at >= size:
            yield size, [value for row in rows[at : at + size] for value in row]
            at += size


_DELETE = "DELETE FROM shadows WHERE device_id = ? AND service_id = ?"
_NO_ROW: Any = object()  # in an undo entry: the key had no pending row


def _json(values: Mapping[str, Any]) -> str:
    try:
        return dumps(values).decode()
    except ValueError:  # what the codecs never send (non-string keys, huge integers): as before
        return json.dumps(dict(values))


class _StoreTransaction:
    """One (possibly nested) transaction of a SqliteStore: see SqliteFile.transaction."""

    __slots__ = ("_depth", "_mark", "_store")

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._depth = 0
        self._mark = 0

    def __enter__(self) -> None:
        store = self._store
        store._holder.acquire()
        with store._lock:
            self._depth = depth = store._depth
            if depth == 0:
                store._check_cache()
            self._mark = len(store._undo)
            store._depth = depth + 1

    def __exit__(self, kind: object, exc: object, traceback: object) -> None:
        store = self._store
        try:
            with store._lock:
                store._depth = self._depth
                if kind is not None:
                    store._undo_to(self._mark)
                    if self._depth == 0:
                        store._pending.clear()
                        store._undo.clear()
                elif self._depth == 0:
                    store._commit()
        finally:
            store._holder.release()
